//! What the scanner says about one stored object, and the census of a scan.
//!
//! These types are the contract between [`crate::scan`] and
//! [`crate::report`]: a reporter sees nothing else. They carry names, states
//! and counts, never plaintext or key material. The JSON field names are the
//! documented schema (`docs/json-schema.md`); change them only with a
//! schema version bump.

use std::collections::{BTreeMap, HashMap};

use compact_str::CompactString;

use serde::Serialize;

/// How a stored value is kept at rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Carries a known `k8s:enc:` prefix (whether or not it was decrypted).
    Encrypted,
    /// No `k8s:enc:` prefix: stored as plaintext.
    Plaintext,
    /// Carries a `k8s:enc:` prefix that atrest does not know.
    UnknownPrefix,
    /// The source could not decode this record (a damaged page or record).
    Unreadable,
}

impl State {
    /// Every state, in declaration order (`state as usize` indexes it).
    pub const ALL: [State; 4] =
        [Self::Encrypted, Self::Plaintext, Self::UnknownPrefix, Self::Unreadable];

    /// The kebab-case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Encrypted => "encrypted",
            Self::Plaintext => "plaintext",
            Self::UnknownPrefix => "unknown-prefix",
            Self::Unreadable => "unreadable",
        }
    }
}

/// Whether the value was proven readable with the config's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", content = "reason", rename_all = "kebab-case")]
pub enum Verification {
    /// No config was given, or the value is plaintext.
    NotAttempted,
    /// Decrypted with a configured key, and the plaintext is a plausible object.
    Verified,
    /// Could not be checked (e.g. the KMS plugin is unreachable); not a failure.
    Unverified(String),
    /// No configured key reads the value (wrong key, tampered, pruned key).
    Failed(String),
}

/// A problem class; the `--fail-on` classes of `atrest scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Problem {
    /// Plaintext where the config (or, without one, policy) requires encryption.
    Plaintext,
    /// Encrypted, but no configured key can read it.
    Undecryptable,
    /// Readable, but not with the first provider/key: rewritten on the next
    /// update, and it blocks pruning the key that reads it.
    Stale,
    /// A `k8s:enc:` prefix atrest does not know, or a record the source
    /// could not decode.
    Unknown,
    /// An older revision still in the file holds plaintext of an object that
    /// is encrypted now.
    HistoryLeak,
}

impl Problem {
    /// Every class, in the order reports list them.
    pub const ALL: [Problem; 5] =
        [Self::Plaintext, Self::Undecryptable, Self::Stale, Self::Unknown, Self::HistoryLeak];

    /// The kebab-case name used on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Undecryptable => "undecryptable",
            Self::Stale => "stale",
            Self::Unknown => "unknown",
            Self::HistoryLeak => "history-leak",
        }
    }

    /// Parses a `--fail-on` name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// One line of advice for an operator who sees this problem.
    pub fn advice(self) -> &'static str {
        match self {
            Self::Plaintext => {
                "cover the resource with an encrypting provider listed first, restart every \
                 kube-apiserver, then rewrite the objects (kubectl get <resource> -A -o json | \
                 kubectl replace -f -)"
            }
            Self::Undecryptable => {
                "restore the key that wrote it (check retired keys and backups) or delete the \
                 object from etcd; kube-apiserver cannot read it either"
            }
            Self::Stale => {
                "rewrite the objects (kubectl get <resource> -A -o json | kubectl replace -f -) \
                 before pruning the key that still reads them"
            }
            Self::Unknown => "find out which provider wrote this value before changing the config",
            Self::HistoryLeak => {
                "compact and defragment etcd, then take a new snapshot; older snapshots keep \
                 the plaintext until they are destroyed"
            }
        }
    }
}

/// One stored object (one revision of one etcd key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The etcd key (lossy UTF-8).
    pub key: String,
    /// The resource as the encryption config names it (`secrets`, `deployments.apps`).
    pub resource: Option<CompactString>,
    /// Namespace of a namespaced object.
    pub namespace: Option<CompactString>,
    /// Object name.
    pub name: Option<CompactString>,
    /// The revision of this value (etcd `mod_revision`).
    pub revision: i64,
    /// True for an older revision (with `--all-revisions`), false for the current value.
    pub history: bool,
    /// Stored size in bytes.
    pub size: usize,
    /// How the value is stored.
    pub state: State,
    /// Provider that wrote it: `aescbc`, `aesgcm`, `secretbox`, `kms-v1`, `kms-v2`.
    pub provider: Option<&'static str>,
    /// Key name, or KMS provider name.
    pub key_name: Option<CompactString>,
    /// KMS v2 key ID.
    pub kms_key_id: Option<CompactString>,
    /// Encoding of the (decrypted or plain) object: `protobuf`, `json`, `cbor`, `unknown`.
    pub encoding: Option<&'static str>,
    /// `apiVersion` of the object, when it could be read.
    pub api_version: Option<CompactString>,
    /// `kind` of the object, when it could be read.
    pub kind: Option<CompactString>,
    /// Whether the config's keys read it.
    pub verification: Verification,
    /// Read by anything but the first provider/key of its resource.
    pub stale: bool,
    /// Problems found with this object (empty when clean).
    pub problems: Vec<Problem>,
}

impl Finding {
    /// A finding for `key` in `state` with nothing else known yet (fill the
    /// rest with struct update syntax).
    pub fn new(key: String, state: State) -> Self {
        Finding {
            key,
            resource: None,
            namespace: None,
            name: None,
            revision: 0,
            history: false,
            size: 0,
            state,
            provider: None,
            key_name: None,
            kms_key_id: None,
            encoding: None,
            api_version: None,
            kind: None,
            verification: Verification::NotAttempted,
            stale: false,
            problems: Vec::new(),
        }
    }

    /// The resource for census rows and per-resource reports: its config
    /// name, or `(not an API object)` for a key that names none.
    pub fn resource_label(&self) -> &str {
        self.resource.as_deref().unwrap_or("(not an API object)")
    }

    /// `provider/key` for census rows: `aesgcm/key1`, `kms-v2/vault`, `plaintext`.
    pub fn key_label(&self) -> String {
        self.with_key_label(str::to_string)
    }

    /// Calls `f` with [`Self::key_label`], built on the stack when short
    /// (the census asks once per object).
    fn with_key_label<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match (self.provider, self.key_name.as_deref()) {
            (Some(p), Some(k)) => {
                let mut buf = [0u8; 128];
                let n = p.len() + 1 + k.len();
                match buf.get_mut(..n) {
                    Some(out) => {
                        let (head, tail) = out.split_at_mut(p.len());
                        head.copy_from_slice(p.as_bytes());
                        tail[0] = b'/';
                        tail[1..].copy_from_slice(k.as_bytes());
                        // Two strings and a '/': valid UTF-8.
                        f(std::str::from_utf8(out).unwrap_or_default())
                    }
                    None => f(&format!("{p}/{k}")),
                }
            }
            (Some(p), None) => f(p),
            _ => f(self.state.as_str()),
        }
    }
}

/// Counts of a scan, per the dimensions a rotation needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Census {
    /// Current objects examined.
    pub objects: u64,
    /// Older revisions examined (with `--all-revisions`).
    pub history_revisions: u64,
    /// Current objects per state.
    pub by_state: BTreeMap<String, u64>,
    /// Current objects per resource and state.
    pub by_resource: BTreeMap<String, BTreeMap<String, u64>>,
    /// Current objects per namespace (cluster-scoped objects under `""`).
    pub by_namespace: BTreeMap<String, u64>,
    /// Current objects per `provider/key` (`aesgcm/key1: 1200`, `plaintext: 3`).
    pub by_key: BTreeMap<String, u64>,
    /// Findings per problem class (history included).
    pub problems: BTreeMap<String, u64>,
}

impl Census {
    /// Counts one finding (to count many, a [`Tally`] is cheaper).
    pub fn add(&mut self, f: &Finding) {
        let mut tally = Tally::default();
        tally.add(f);
        self.merge(tally.into_census());
    }

    /// Adds the counts of `other` (a census of other findings).
    pub fn merge(&mut self, other: Census) {
        self.objects += other.objects;
        self.history_revisions += other.history_revisions;
        for (map, theirs) in [
            (&mut self.by_state, other.by_state),
            (&mut self.by_namespace, other.by_namespace),
            (&mut self.by_key, other.by_key),
            (&mut self.problems, other.problems),
        ] {
            add_counts(map, theirs);
        }
        for (resource, by_state) in other.by_resource {
            add_counts(self.by_resource.entry(resource).or_default(), by_state);
        }
    }

    /// Number of findings of a problem class.
    pub fn count(&self, p: Problem) -> u64 {
        self.problems.get(p.as_str()).copied().unwrap_or(0)
    }
}

/// Counts findings into a [`Census`], with less work per finding than
/// [`Census::add`]'s five ordered-map lookups.
///
/// States and problems are counted in arrays; resources, namespaces and key
/// labels in hash maps whose short keys live inline (a snapshot yields
/// objects in revision order, so names do not come in runs). The ordered
/// census is built once, in [`Tally::into_census`].
#[derive(Debug, Default)]
pub struct Tally {
    objects: u64,
    history_revisions: u64,
    states: [u64; State::ALL.len()],
    problems: [u64; Problem::ALL.len()],
    by_resource: HashMap<CompactString, [u64; State::ALL.len()], FastHash>,
    by_namespace: HashMap<CompactString, u64, FastHash>,
    by_key: HashMap<CompactString, u64, FastHash>,
}

type FastHash = foldhash::fast::RandomState;

/// Applies `count` to the counts of `name` in `map`, made on first sight.
fn count_in<C: Default>(
    map: &mut HashMap<CompactString, C, FastHash>,
    name: &str,
    count: impl FnOnce(&mut C),
) {
    match map.get_mut(name) {
        Some(c) => count(c),
        None => {
            let mut c = C::default();
            count(&mut c);
            map.insert(name.into(), c);
        }
    }
}

impl Tally {
    /// Counts one finding.
    pub fn add(&mut self, f: &Finding) {
        for p in &f.problems {
            self.problems[*p as usize] += 1;
        }
        if f.history {
            self.history_revisions += 1;
            return;
        }
        self.objects += 1;
        self.states[f.state as usize] += 1;
        let state = f.state as usize;
        count_in(&mut self.by_resource, f.resource_label(), |c| c[state] += 1);
        let namespace = f.namespace.as_deref().unwrap_or_default();
        count_in(&mut self.by_namespace, namespace, |n| *n += 1);
        f.with_key_label(|label| count_in(&mut self.by_key, label, |n| *n += 1));
    }

    /// The census of every finding added.
    pub fn into_census(self) -> Census {
        let mut census = Census {
            objects: self.objects,
            history_revisions: self.history_revisions,
            ..Census::default()
        };
        for (state, n) in State::ALL.iter().zip(self.states) {
            add_count(&mut census.by_state, state.as_str(), n);
        }
        for (problem, n) in Problem::ALL.iter().zip(self.problems) {
            add_count(&mut census.problems, problem.as_str(), n);
        }
        for (resource, counts) in self.by_resource {
            let by_state = census.by_resource.entry(resource.into()).or_default();
            for (state, n) in State::ALL.iter().zip(counts) {
                add_count(by_state, state.as_str(), n);
            }
        }
        for (namespace, n) in self.by_namespace {
            add_count(&mut census.by_namespace, &namespace, n);
        }
        for (key, n) in self.by_key {
            add_count(&mut census.by_key, &key, n);
        }
        census
    }
}

/// Adds `n` to `map[name]`; a zero count adds no entry.
fn add_count(map: &mut BTreeMap<String, u64>, name: &str, n: u64) {
    if n == 0 {
        return;
    }
    match map.get_mut(name) {
        Some(count) => *count += n,
        None => {
            map.insert(name.to_string(), n);
        }
    }
}

/// Adds every count of `theirs` to `ours`.
fn add_counts(ours: &mut BTreeMap<String, u64>, theirs: BTreeMap<String, u64>) {
    for (name, n) in theirs {
        *ours.entry(name).or_default() += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(resource: &str, ns: &str, state: State, key: Option<&str>) -> Finding {
        Finding {
            resource: Some(resource.into()),
            namespace: Some(ns.into()),
            provider: key.map(|_| "aesgcm"),
            key_name: key.map(Into::into),
            problems: if state == State::Plaintext { vec![Problem::Plaintext] } else { vec![] },
            ..Finding::new(format!("/registry/{resource}/{ns}/x"), state)
        }
    }

    #[test]
    fn key_labels_short_long_and_without_a_key() {
        let long = "k".repeat(300);
        assert_eq!(finding("secrets", "a", State::Encrypted, Some("k1")).key_label(), "aesgcm/k1");
        let f = finding("secrets", "a", State::Encrypted, Some(&long));
        assert_eq!(f.key_label(), format!("aesgcm/{long}"));
        let mut census = Census::default();
        census.add(&f);
        assert_eq!(census.by_key.get(&format!("aesgcm/{long}")), Some(&1));
        let no_key = Finding { key_name: None, ..f };
        assert_eq!(no_key.key_label(), "aesgcm");
        assert_eq!(finding("secrets", "a", State::Plaintext, None).key_label(), "plaintext");
    }

    #[test]
    fn merged_census_equals_counting_everything_at_once() {
        let all = [
            finding("secrets", "a", State::Encrypted, Some("k1")),
            finding("secrets", "b", State::Plaintext, None),
            finding("configmaps", "a", State::Plaintext, None),
            finding("secrets", "a", State::Encrypted, Some("k2")),
            Finding { history: true, ..finding("secrets", "a", State::Plaintext, None) },
        ];
        let mut whole = Census::default();
        all.iter().for_each(|f| whole.add(f));
        for split in 0..=all.len() {
            let (mut left, mut right) = (Census::default(), Census::default());
            all[..split].iter().for_each(|f| left.add(f));
            all[split..].iter().for_each(|f| right.add(f));
            left.merge(right);
            assert_eq!(left, whole, "split at {split}");
        }
        assert_eq!(whole.by_key["aesgcm/k1"], 1);
        assert_eq!(whole.by_resource["secrets"]["encrypted"], 2);
        assert_eq!(whole.count(Problem::Plaintext), 3);
        assert_eq!(whole.history_revisions, 1);
    }

    /// The census as counted one finding at a time into plain maps.
    fn reference(findings: &[Finding]) -> Census {
        fn bump(map: &mut BTreeMap<String, u64>, name: &str) {
            *map.entry(name.to_string()).or_default() += 1;
        }
        let mut c = Census::default();
        for f in findings {
            f.problems.iter().for_each(|p| bump(&mut c.problems, p.as_str()));
            if f.history {
                c.history_revisions += 1;
                continue;
            }
            c.objects += 1;
            bump(&mut c.by_state, f.state.as_str());
            let resource = f.resource.as_deref().unwrap_or("(not an API object)");
            bump(c.by_resource.entry(resource.to_string()).or_default(), f.state.as_str());
            bump(&mut c.by_namespace, f.namespace.as_deref().unwrap_or_default());
            bump(&mut c.by_key, &f.key_label());
        }
        c
    }

    #[test]
    fn enum_tables_are_in_declaration_order() {
        for (i, s) in State::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
        for (i, p) in Problem::ALL.iter().enumerate() {
            assert_eq!(*p as usize, i);
        }
    }

    #[test]
    fn tally_counts_like_the_reference() {
        // Runs of one resource/namespace/key, names coming back after
        // others, the empty namespace, findings without a resource, history.
        let mut all = Vec::new();
        for i in 0..200u32 {
            let resource = ["secrets", "configmaps", "secrets", "leases.coordination.k8s.io"]
                [(i / 7 % 4) as usize];
            let ns = ["a", "", "b", "a"][(i / 3 % 4) as usize];
            let (state, key) = match i % 5 {
                0 => (State::Plaintext, None),
                1 => (State::UnknownPrefix, None),
                _ => (State::Encrypted, Some(["k1", "k2"][(i / 11 % 2) as usize])),
            };
            let mut f = finding(resource, ns, state, key);
            if i % 13 == 0 {
                f.resource = None;
            }
            if i % 17 == 0 {
                f.history = true;
            }
            if i % 19 == 0 {
                f.problems.push(Problem::Stale);
            }
            all.push(f);
        }
        for len in [0, 1, 2, 50, all.len()] {
            let mut tally = Tally::default();
            all[..len].iter().for_each(|f| tally.add(f));
            assert_eq!(tally.into_census(), reference(&all[..len]), "first {len} findings");
        }
        let mut one_by_one = Census::default();
        all.iter().for_each(|f| one_by_one.add(f));
        assert_eq!(one_by_one, reference(&all));
    }
}
