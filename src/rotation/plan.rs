//! Planning a step: which entries change, the edited text, and a redacted diff.
//!
//! A step is first a set of structural operations per entry (add a key,
//! add a provider, swap the first two keys or providers, remove keys or
//! providers). They are applied to the user's text line by line, so comments
//! and key order survive; when a touched item is not line-editable (flow
//! style such as `keys: [{...}]`), the whole document is re-emitted in a
//! canonical form and the plan says so. Every planned text is parsed again,
//! checked, and its derived stage compared with the intended one before it
//! can be written. No I/O happens here.

use std::fmt::Write as _;

use base64::Engine as _;
use zeroize::Zeroizing;

use super::doc::{self, ConfigDoc, EmitProvider, KmsDoc, ProviderKind};
use super::evidence::Evidence;
use super::stage::{self, EntryStage, Slot, Stage};
use super::{Clock, Entropy, RotationError, timestamp};
use crate::config::GroupResource;
use crate::secret::SecretBytes;

/// A rotation step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Add B as a read-only provider/key in second position.
    Prepare,
    /// Move B first, keep A second.
    Promote,
    /// Remove A once evidence shows nothing stored under it.
    Prune,
}

impl Step {
    /// The subcommand name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prepare => "prepare",
            Self::Promote => "promote",
            Self::Prune => "prune",
        }
    }
}

/// What `prepare` adds.
#[derive(Debug, Clone, Default)]
pub struct PrepareSpec {
    /// `aescbc`, `aesgcm`, `secretbox`, `kms` (always v2) or `identity`;
    /// default: the type of the current writer (a key rotation).
    pub provider: Option<String>,
    /// Key name (default `key-<UTC timestamp>` from the clock).
    pub key_name: Option<String>,
    /// KMS v2 provider name (default `kms-<UTC timestamp>`).
    pub kms_name: Option<String>,
    /// KMS v2 endpoint (`unix:///...`), required for `kms`.
    pub kms_endpoint: Option<String>,
}

/// A planning request.
#[derive(Default)]
pub struct Request<'a> {
    /// Resources selecting entries (as written, e.g. `secrets`, `*.*`);
    /// empty: every entry (for prepare: every entry that encrypts, or every
    /// entry when none does).
    pub resources: Vec<String>,
    /// B named explicitly (`--to aescbc/key2`, `identity`), overriding inference.
    pub target: Option<String>,
    /// For prepare.
    pub prepare: PrepareSpec,
    /// For prune.
    pub evidence: Option<&'a Evidence>,
    /// For prune: go ahead without (or against) evidence.
    pub force: bool,
}

/// A key that prune removes (for the key archive).
pub struct RetiredKey {
    /// `aescbc`, `aesgcm`, `secretbox`.
    pub provider: String,
    /// The key name.
    pub name: String,
    /// The decoded key bytes.
    pub secret: SecretBytes,
}

/// A planned change.
pub struct Plan {
    /// The step.
    pub step: Step,
    /// Entries that change.
    pub entries: Vec<usize>,
    /// The full new file text.
    pub new_text: Zeroizing<String>,
    /// A unified diff of old and new text with every secret redacted.
    pub diff: String,
    /// Remarks for the operator (including "re-emitted").
    pub notes: Vec<String>,
    /// Loud warnings (`--force`).
    pub warnings: Vec<String>,
    /// True when the document was re-emitted (comments lost).
    pub reemitted: bool,
    /// Local keys removed by prune.
    pub retired: Vec<RetiredKey>,
}

/// The result of planning.
pub enum Outcome {
    /// Something to write.
    Change(Plan),
    /// The step is already done; nothing to write.
    NoOp(String),
    /// The step does not follow from the current stage; what to do instead.
    Refused(String),
}

enum NewProv {
    Local { ty: String, name: String, secret_b64: SecretBytes },
    Kms(KmsDoc),
    Identity,
}

enum Op {
    AddKey { provider: usize, name: String, secret_b64: SecretBytes },
    AddProvider(NewProv),
    SwapKeys { provider: usize },
    SwapProviders,
    RemoveKey { provider: usize, key: usize },
    RemoveProvider { provider: usize },
}

enum EntryResult {
    Change(Vec<Op>),
    NoOp(String),
    Refused(String),
    Untouched,
}

fn select(doc: &ConfigDoc, req: &Request<'_>, step: Step) -> Result<Vec<usize>, String> {
    if !req.resources.is_empty() {
        let mut out = Vec::new();
        for r in &req.resources {
            let want = GroupResource::parse(r);
            let hits: Vec<usize> = doc
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| {
                    e.resources.iter().any(|x| x == r || GroupResource::parse(x) == want)
                })
                .map(|(i, _)| i)
                .collect();
            if hits.is_empty() {
                return Err(format!(
                    "resource {r:?} is not listed in any entry of the config; add an entry for it first \
                     (specific resources before wildcards)"
                ));
            }
            out.extend(hits);
        }
        out.sort_unstable();
        out.dedup();
        return Ok(out);
    }
    let all: Vec<usize> = (0..doc.entries.len()).collect();
    if step != Step::Prepare {
        return Ok(all);
    }
    let encrypting: Vec<usize> = doc
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.providers.first().map(|p| p.type_name() != "identity").unwrap_or(false))
        .map(|(i, _)| i)
        .collect();
    Ok(if encrypting.is_empty() { all } else { encrypting })
}

/// Plans `step` on `doc`. `clock` names new keys; `rng` makes them.
pub fn plan(
    doc: &ConfigDoc,
    step: Step,
    req: &Request<'_>,
    clock: &dyn Clock,
    rng: &mut dyn Entropy,
) -> Result<Outcome, RotationError> {
    let selected = match select(doc, req, step) {
        Ok(s) => s,
        Err(m) => return Ok(Outcome::Refused(m)),
    };
    let mut results: Vec<(usize, EntryResult)> = Vec::new();
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let mut retired = Vec::new();
    // One new key per provider type for every selected entry of this run
    // (never the same bytes under two algorithms).
    let mut new_secret: std::collections::BTreeMap<String, SecretBytes> = Default::default();
    for &i in &selected {
        let entry = &doc.entries[i];
        let st = stage::derive_entry(i, entry, req.target.as_deref());
        let what = describe(&st);
        let r = match step {
            Step::Prepare => prepare_entry(doc, i, &st, req, clock, rng, &mut new_secret)?,
            Step::Promote => promote_entry(&st, &what),
            Step::Prune => {
                prune_entry(doc, i, &st, req, &what, &mut warnings, &mut notes, &mut retired)
            }
        };
        results.push((i, r));
    }
    let refusals: Vec<String> = results
        .iter()
        .filter_map(|(i, r)| match r {
            EntryResult::Refused(m) => {
                Some(format!("entry {i} ({}): {m}", doc.entries[*i].resources.join(", ")))
            }
            _ => None,
        })
        .collect();
    if !refusals.is_empty() {
        return Ok(Outcome::Refused(refusals.join("\n")));
    }
    let noops: Vec<String> = results
        .iter()
        .filter_map(|(i, r)| match r {
            EntryResult::NoOp(m) => {
                Some(format!("entry {i} ({}): {m}", doc.entries[*i].resources.join(", ")))
            }
            _ => None,
        })
        .collect();
    let changes: Vec<(usize, Vec<Op>)> = results
        .into_iter()
        .filter_map(|(i, r)| match r {
            EntryResult::Change(ops) => Some((i, ops)),
            _ => None,
        })
        .collect();
    // KMS v2 provider names are unique across the whole config.
    let new_kms: Vec<(usize, &str)> = changes
        .iter()
        .flat_map(|(i, ops)| ops.iter().map(move |op| (*i, op)))
        .filter_map(|(i, op)| match op {
            Op::AddProvider(NewProv::Kms(k)) => Some((i, k.name.as_str())),
            _ => None,
        })
        .collect();
    if new_kms.len() > 1 {
        return Ok(Outcome::Refused(format!(
            "KMS provider names must be unique across the config, and {} entries would get {:?}: \
             run prepare once per entry with --resources and a distinct --kms-name (the same \
             --kms-endpoint may be reused)",
            new_kms.len(),
            new_kms[0].1
        )));
    }
    if let Some((_, name)) = new_kms.first() {
        for (j, e) in doc.entries.iter().enumerate() {
            if e.providers
                .iter()
                .any(|p| matches!(&p.kind, ProviderKind::Kms(k) if k.name == *name))
            {
                return Ok(Outcome::Refused(format!(
                    "a KMS provider named {name:?} already exists in entry {j}; KMS provider names must be \
                     unique across the config: choose another --kms-name"
                )));
            }
        }
    }
    if changes.is_empty() {
        if noops.is_empty() {
            return Ok(Outcome::Refused(match step {
                Step::Promote => "nothing is prepared: run `atrest rotate prepare` first".into(),
                _ => "no entry is in a stage this step applies to".into(),
            }));
        }
        return Ok(Outcome::NoOp(noops.join("\n")));
    }
    notes.extend(noops.into_iter().map(|n| format!("unchanged: {n}")));

    let (new_text, reemitted) = match text_edit(doc, &changes) {
        Some(t) => (t, false),
        None => (reemit(doc, &changes), true),
    };
    if reemitted {
        notes.push(
            "an item to edit is in flow style ([...] or {...}) or uses YAML anchors/aliases/merge keys, so \
             the file was RE-EMITTED in canonical block style (aliases expanded): comments and \
             formatting of the original are NOT preserved"
                .into(),
        );
    } else {
        notes.push("text edit: comments and key order of the file are preserved".into());
    }
    // Self-check: the new text parses, passes the checks, and is at the intended stage.
    let new_doc = doc::parse(&new_text).map_err(|e| RotationError::Invalid(e.to_string()))?;
    let problems = doc::check(&new_doc);
    if let Some(p) = problems.first() {
        return Err(RotationError::Invalid(p.to_string()));
    }
    // The config module's loader (kube-apiserver's rules) must accept the new
    // file whenever it accepted the old one.
    match crate::config::load_str(&doc.text) {
        Ok(_) => {
            if let Err(e) = crate::config::load_str(&new_text) {
                return Err(RotationError::Invalid(e.to_string()));
            }
        }
        Err(e) => notes.push(format!(
            "the current file does not load with atrest's validator, so neither need the planned one: {e}"
        )),
    }
    let entries: Vec<usize> = changes.iter().map(|(i, _)| *i).collect();
    for &i in &entries {
        let Some(e) = new_doc.entries.get(i) else {
            return Err(RotationError::Invalid(format!("entry {i} vanished")));
        };
        let old = stage::derive_entry(i, &doc.entries[i], req.target.as_deref());
        let target = match step {
            Step::Prepare => new_target_label(doc, i, req, &new_doc),
            _ => old.to.clone(),
        };
        let now = stage::derive_entry(i, e, target.as_deref());
        let want = match step {
            Step::Prepare => Stage::Prepared,
            Step::Promote => Stage::Promoted,
            Step::Prune => Stage::Steady,
        };
        if now.stage != want {
            return Err(RotationError::Invalid(format!(
                "entry {i} would be {} instead of {} after {}",
                now.stage.as_str(),
                want.as_str(),
                step.as_str()
            )));
        }
        if step == Step::Prepare && req.target.is_none() {
            let inferred = stage::derive_entry(i, e, None);
            if inferred.to != now.to {
                notes.push(format!(
                    "entry {i}: the config alone does not show that {} is the new target (it looks like {}); \
                     pass `--to {}` to status, promote and prune",
                    now.to.clone().unwrap_or_default(),
                    describe(&inferred),
                    now.to.clone().unwrap_or_default()
                ));
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    warnings.retain(|w| seen.insert(w.clone()));
    let secrets: Vec<&[u8]> = secrets_of(doc).chain(secrets_of(&new_doc)).collect();
    let diff = redacted_diff(&doc.text, &new_text, &secrets);
    Ok(Outcome::Change(Plan { step, entries, new_text, diff, notes, warnings, reemitted, retired }))
}

fn new_target_label(
    old: &ConfigDoc,
    i: usize,
    req: &Request<'_>,
    new: &ConfigDoc,
) -> Option<String> {
    if let Some(t) = &req.target {
        return Some(t.clone());
    }
    let before: Vec<String> = stage::slots(&old.entries[i]).into_iter().map(|s| s.label).collect();
    stage::slots(&new.entries[i]).into_iter().map(|s| s.label).find(|l| !before.contains(l))
}

/// One line: `steady (writes aescbc/key1)`, `prepared aescbc/key1 -> aescbc/key2`, ...
pub fn describe(st: &EntryStage) -> String {
    match st.stage {
        Stage::Steady => format!("steady (writes {})", st.write),
        Stage::Prepared => format!(
            "prepared {} -> {} (B reads, A still writes)",
            st.from.join(", "),
            st.to.clone().unwrap_or_default()
        ),
        Stage::Promoted => format!(
            "promoted {} -> {} (B writes, A kept to read old data)",
            st.from.join(", "),
            st.to.clone().unwrap_or_default()
        ),
        Stage::Irregular => format!("irregular: {}", st.note.clone().unwrap_or_default()),
    }
}

fn valid_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.contains(':') || name.chars().any(char::is_whitespace) {
        return Err(format!(
            "key name {name:?} must be non-empty, without ':' or spaces (it becomes part of the stored prefix)"
        ));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn prepare_entry(
    doc: &ConfigDoc,
    i: usize,
    st_target: &EntryStage,
    req: &Request<'_>,
    clock: &dyn Clock,
    rng: &mut dyn Entropy,
    new_secret: &mut std::collections::BTreeMap<String, SecretBytes>,
) -> Result<EntryResult, RotationError> {
    let entry = &doc.entries[i];
    let mut st = st_target.clone();
    let writer: &Slot = match st_target.slots.first() {
        Some(s) => s,
        None => return Ok(EntryResult::Refused("entry has no providers".into())),
    };
    let ty = match &req.prepare.provider {
        Some(p) => p.clone(),
        None => match writer.kind.as_str() {
            "aescbc" | "aesgcm" | "secretbox" => writer.kind.clone(),
            other => {
                return Err(RotationError::Usage(format!(
                    "entry {i} writes with {other}; say which provider to move to with --provider \
                     (aescbc, aesgcm, secretbox, kms, identity)"
                )));
            }
        },
    };
    let stamp = timestamp(clock.now_unix());
    let (kind, name) = match ty.as_str() {
        "aescbc" | "aesgcm" | "secretbox" => {
            (ty.clone(), req.prepare.key_name.clone().unwrap_or_else(|| format!("key-{stamp}")))
        }
        "kms" => (
            "kms-v2".to_string(),
            req.prepare.kms_name.clone().unwrap_or_else(|| format!("kms-{stamp}")),
        ),
        "identity" => ("identity".to_string(), String::new()),
        other => {
            return Err(RotationError::Usage(format!(
                "unknown provider {other:?}: use aescbc, aesgcm, secretbox, kms or identity"
            )));
        }
    };
    if kind != "identity" {
        valid_name(&name).map_err(RotationError::Usage)?;
    }
    // When B is known by name, derive the stage relative to it.
    let named = match kind.as_str() {
        "identity" => Some("identity".to_string()),
        "kms-v2" if req.prepare.kms_name.is_some() => Some(format!("kms-v2/{name}")),
        k if k != "kms-v2" && req.prepare.key_name.is_some() => Some(format!("{k}/{name}")),
        _ => None,
    };
    if let Some(label) = named
        && req.target.is_none()
        && st.slots.iter().any(|s| s.label == label)
    {
        st = stage::derive_entry(i, entry, Some(&label));
    }
    let same_target = |to: &Option<String>| -> bool {
        let Some(to) = to else { return false };
        let Some(slot) = st.slots.iter().find(|s| &s.label == to) else { return false };
        slot.kind == kind
            && (kind == "identity"
                || (req.prepare.key_name.is_none() && req.prepare.kms_name.is_none())
                || slot.name == name)
    };
    match st.stage {
        Stage::Steady => {}
        Stage::Prepared if same_target(&st.to) => {
            return Ok(EntryResult::NoOp(format!("already {}; nothing to do", describe(&st))));
        }
        Stage::Promoted
            if same_target(&st.to)
                && (kind == "identity"
                    || req.prepare.key_name.is_some()
                    || req.prepare.kms_name.is_some()) =>
        {
            return Ok(EntryResult::NoOp(format!("already past prepare: {}", describe(&st))));
        }
        Stage::Prepared => {
            return Ok(EntryResult::Refused(format!(
                "another transition is pending: {}. Promote it (`atrest rotate promote`) and finish it, \
                 or remove {} by hand",
                describe(&st),
                st.to.clone().unwrap_or_default()
            )));
        }
        Stage::Promoted => {
            return Ok(EntryResult::Refused(format!(
                "a transition is not finished: {}. Re-encrypt, then `atrest rotate prune --evidence SCAN.json` \
                 before starting another",
                describe(&st)
            )));
        }
        Stage::Irregular => {
            return Ok(EntryResult::Refused(format!(
                "{}; bring the entry to one writer first",
                describe(&st)
            )));
        }
    }
    if writer.kind == kind && (kind == "identity" || writer.name == name) {
        return Ok(EntryResult::NoOp(format!("already writes with {}", writer.label)));
    }
    let new = match kind.as_str() {
        "identity" => NewProv::Identity,
        "kms-v2" => {
            let Some(endpoint) = req.prepare.kms_endpoint.clone() else {
                return Err(RotationError::Usage(
                    "--kms-endpoint unix:///path/to/plugin.sock is required for --provider kms"
                        .into(),
                ));
            };
            if !endpoint.starts_with("unix://") {
                return Err(RotationError::Usage("--kms-endpoint must be a unix:// URL".into()));
            }
            NewProv::Kms(KmsDoc {
                api_version: Some("v2".into()),
                name: name.clone(),
                endpoint,
                cachesize: None,
                timeout: Some("3s".into()),
            })
        }
        local => {
            if !new_secret.contains_key(local) {
                new_secret.insert(local.to_string(), rng.bytes(32)?);
            }
            let raw = new_secret.get(local).map(|s| s.expose()).unwrap_or_default();
            let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(raw));
            NewProv::Local {
                ty: local.to_string(),
                name: name.clone(),
                secret_b64: SecretBytes::from_slice(b64.as_bytes()),
            }
        }
    };
    let op = match (&new, writer.key) {
        (NewProv::Local { ty, name: n, secret_b64 }, Some(_)) if *ty == writer.kind => Op::AddKey {
            provider: writer.provider,
            name: n.clone(),
            secret_b64: secret_b64.duplicate(),
        },
        _ => Op::AddProvider(new),
    };
    Ok(EntryResult::Change(vec![op]))
}

fn promote_entry(st: &EntryStage, what: &str) -> EntryResult {
    match st.stage {
        Stage::Steady => EntryResult::Untouched,
        Stage::Promoted => EntryResult::NoOp(format!("already {what}")),
        Stage::Irregular => {
            EntryResult::Refused(format!("{what}; fix the order by hand or name B with --to"))
        }
        Stage::Prepared => {
            let (a, b) = (&st.slots[0], &st.slots[1]);
            if a.provider == b.provider {
                EntryResult::Change(vec![Op::SwapKeys { provider: a.provider }])
            } else {
                EntryResult::Change(vec![Op::SwapProviders])
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn prune_entry(
    doc: &ConfigDoc,
    i: usize,
    st: &EntryStage,
    req: &Request<'_>,
    what: &str,
    warnings: &mut Vec<String>,
    notes: &mut Vec<String>,
    retired: &mut Vec<RetiredKey>,
) -> EntryResult {
    match st.stage {
        Stage::Steady => return EntryResult::NoOp(format!("nothing to prune: {what}")),
        Stage::Prepared => {
            return EntryResult::Refused(format!(
                "{what}: pruning now would remove the key that writes. Run `atrest rotate promote`, \
                 restart or reload every apiserver, re-encrypt, then prune"
            ));
        }
        Stage::Irregular => return EntryResult::Refused(format!("{what}; name B with --to")),
        Stage::Promoted => {}
    }
    let old: Vec<&Slot> = st.slots.iter().skip(1).collect();
    let mut blockers = Vec::new();
    match req.evidence {
        Some(ev) => {
            for s in &old {
                let n = ev.count(doc, i, s.evidence_label());
                if n > 0 {
                    blockers.push(format!("{n} object(s) still stored as {}", s.evidence_label()));
                }
            }
        }
        None => blockers.push("no evidence given (--evidence SCAN.json)".into()),
    }
    if !blockers.is_empty() {
        if !req.force {
            return EntryResult::Refused(format!(
                "prune of {} refused: {}. Re-encrypt (kubectl get <resource> -A -o json | kubectl replace -f -), \
                 scan again (atrest scan SOURCE --config CONFIG --format json > scan.json) and pass \
                 --evidence scan.json",
                st.from.join(", "),
                blockers.join("; ")
            ));
        }
        warnings.push(format!(
            "--force: pruning {} of entry {i} although {}. Objects stored under a pruned key become \
             UNREADABLE for kube-apiserver; keep the key archive",
            st.from.join(", "),
            blockers.join("; ")
        ));
    } else if let Some(ev) = req.evidence {
        if let Some(h) = &ev.config_hash
            && *h != super::file_hash(doc.text.as_bytes())
        {
            warnings.push(format!(
                "the evidence scan used a different config ({h}); make sure it is a scan taken after \
                 the re-encryption, of the cluster this file belongs to"
            ));
        }
        notes.push(format!(
            "entry {i}: evidence from {:?} shows no current object under {}",
            ev.source,
            st.from.join(", ")
        ));
    }
    let entry = &doc.entries[i];
    let mut ops = Vec::new();
    let mut by_provider: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for s in &old {
        by_provider.entry(s.provider).or_default().extend(s.key);
        if let (Some(k), Some(p)) = (s.key, entry.providers.get(s.provider))
            && let ProviderKind::Local { type_name, keys } = &p.kind
            && let Some(key) = keys.get(k)
            && let Ok(raw) =
                base64::engine::general_purpose::STANDARD.decode(key.secret_b64.expose())
        {
            retired.push(RetiredKey {
                provider: type_name.clone(),
                name: key.name.clone(),
                secret: SecretBytes::new(raw),
            });
        }
        if s.kind.starts_with("kms") {
            notes.push(format!(
                "{} is a KMS provider: its KEK stays in the KMS; keep it (and the plugin) while etcd backups \
                 written under it exist",
                s.label
            ));
        }
    }
    for (p, keys) in by_provider {
        let total = entry.providers.get(p).map(|pr| match &pr.kind {
            ProviderKind::Local { keys, .. } => keys.len(),
            _ => 0,
        });
        if keys.is_empty() || Some(keys.len()) == total {
            ops.push(Op::RemoveProvider { provider: p });
        } else {
            ops.extend(keys.into_iter().map(|k| Op::RemoveKey { provider: p, key: k }));
        }
    }
    EntryResult::Change(ops)
}

// ---------------------------------------------------------------------------
// Text edits.

struct Region {
    first: usize, // 1-based, first replaced line
    last: usize,  // inclusive; first - 1 for a pure insertion
    with: Vec<String>,
}

/// Replacement lines may hold secrets: wiped when dropped.
impl Drop for Region {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.with);
    }
}

fn text_edit(doc: &ConfigDoc, changes: &[(usize, Vec<Op>)]) -> Option<Zeroizing<String>> {
    let src: Vec<&str> = doc.text.split('\n').collect();
    let line =
        |n: usize| -> String { src.get(n.wrapping_sub(1)).copied().unwrap_or("").to_string() };
    let lines = |a: usize, b: usize| -> Vec<String> { (a..=b).map(line).collect() };
    let mut regions = Vec::new();
    for (i, ops) in changes {
        let entry = doc.entries.get(*i)?;
        for op in ops {
            match op {
                Op::AddKey { provider, name, secret_b64 } => {
                    let ProviderKind::Local { keys, .. } = &entry.providers.get(*provider)?.kind
                    else {
                        return None;
                    };
                    let k0 = keys.first()?.lines;
                    if !k0.editable {
                        return None;
                    }
                    let prefix: String = line(k0.first).chars().take(k0.content_col).collect();
                    let cont = " ".repeat(k0.content_col);
                    let secret =
                        Zeroizing::new(String::from_utf8_lossy(secret_b64.expose()).into_owned());
                    regions.push(Region {
                        first: k0.last + 1,
                        last: k0.last,
                        with: vec![
                            format!("{prefix}name: {name}"),
                            format!("{cont}secret: {}", secret.as_str()),
                        ],
                    });
                }
                Op::AddProvider(new) => {
                    let p0 = entry.providers.first()?.lines;
                    if !p0.editable {
                        return None;
                    }
                    let prefix: String = line(p0.first).chars().take(p0.content_col).collect();
                    let c = " ".repeat(p0.content_col);
                    let with = match new {
                        NewProv::Identity => vec![format!("{prefix}identity: {{}}")],
                        NewProv::Kms(k) => vec![
                            format!("{prefix}kms:"),
                            format!("{c}  apiVersion: v2"),
                            format!("{c}  name: {}", k.name),
                            format!("{c}  endpoint: {}", k.endpoint),
                            format!(
                                "{c}  timeout: {}",
                                k.timeout.clone().unwrap_or_else(|| "3s".into())
                            ),
                        ],
                        NewProv::Local { ty, name, secret_b64 } => vec![
                            format!("{prefix}{ty}:"),
                            format!("{c}  keys:"),
                            format!("{c}    - name: {name}"),
                            format!(
                                "{c}      secret: {}",
                                String::from_utf8_lossy(secret_b64.expose())
                            ),
                        ],
                    };
                    regions.push(Region { first: p0.last + 1, last: p0.last, with });
                }
                Op::SwapKeys { provider } => {
                    let ProviderKind::Local { keys, .. } = &entry.providers.get(*provider)?.kind
                    else {
                        return None;
                    };
                    let (a, b) = (keys.first()?.lines, keys.get(1)?.lines);
                    regions.push(swap(a, b, &lines)?);
                }
                Op::SwapProviders => {
                    let (a, b) = (entry.providers.first()?.lines, entry.providers.get(1)?.lines);
                    regions.push(swap(a, b, &lines)?);
                }
                Op::RemoveKey { provider, key } => {
                    let ProviderKind::Local { keys, .. } = &entry.providers.get(*provider)?.kind
                    else {
                        return None;
                    };
                    let l = keys.get(*key)?.lines;
                    if !l.editable {
                        return None;
                    }
                    regions.push(Region { first: l.first, last: l.last, with: vec![] });
                }
                Op::RemoveProvider { provider } => {
                    let l = entry.providers.get(*provider)?.lines;
                    if !l.editable {
                        return None;
                    }
                    regions.push(Region { first: l.first, last: l.last, with: vec![] });
                }
            }
        }
    }
    // Inserted lines follow the file's line endings (moved lines keep theirs).
    if doc.text.contains("\r\n") {
        for r in &mut regions {
            for l in &mut r.with {
                if !l.ends_with('\r') {
                    l.push('\r');
                }
            }
        }
    }
    regions.sort_by_key(|r| std::cmp::Reverse(r.first));
    for w in regions.windows(2) {
        if w[1].last >= w[0].first {
            return None; // overlapping edits: let the emitter handle it
        }
    }
    let mut out: Zeroizing<Vec<String>> =
        Zeroizing::new(src.iter().map(|s| s.to_string()).collect());
    for mut r in regions {
        let start = r.first.checked_sub(1)?;
        let end = r.last.min(out.len());
        if start > out.len() || start > end {
            return None;
        }
        for mut removed in out.splice(start..end, std::mem::take(&mut r.with)) {
            zeroize::Zeroize::zeroize(&mut removed);
        }
    }
    let mut text = Zeroizing::new(out.join("\n"));
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Some(text)
}

fn swap(
    a: doc::Lines,
    b: doc::Lines,
    lines: &dyn Fn(usize, usize) -> Vec<String>,
) -> Option<Region> {
    if !a.editable || !b.editable || a.last >= b.first {
        return None;
    }
    let mut with = lines(b.first, b.last);
    if b.first > a.last + 1 {
        with.extend(lines(a.last + 1, b.first - 1));
    }
    with.extend(lines(a.first, a.last));
    Some(Region { first: a.first, last: b.last, with })
}

fn reemit(doc: &ConfigDoc, changes: &[(usize, Vec<Op>)]) -> Zeroizing<String> {
    enum P<'a> {
        Local(&'a str, Vec<Option<(&'a str, &'a SecretBytes)>>),
        Kms(&'a KmsDoc),
        Identity,
    }
    let mut entries = Vec::new();
    for (i, e) in doc.entries.iter().enumerate() {
        let mut ps: Vec<Option<P<'_>>> = e
            .providers
            .iter()
            .map(|p| {
                Some(match &p.kind {
                    ProviderKind::Local { type_name, keys } => P::Local(
                        type_name,
                        keys.iter().map(|k| Some((k.name.as_str(), &k.secret_b64))).collect(),
                    ),
                    ProviderKind::Kms(k) => P::Kms(k),
                    ProviderKind::Identity => P::Identity,
                })
            })
            .collect();
        if let Some((_, ops)) = changes.iter().find(|(j, _)| *j == i) {
            // Removals first (by index, marking), then structural moves and insertions.
            for op in ops {
                match op {
                    Op::RemoveKey { provider, key } => {
                        if let Some(Some(P::Local(_, keys))) = ps.get_mut(*provider)
                            && let Some(k) = keys.get_mut(*key)
                        {
                            *k = None;
                        }
                    }
                    Op::RemoveProvider { provider } => {
                        if let Some(p) = ps.get_mut(*provider) {
                            *p = None;
                        }
                    }
                    _ => {}
                }
            }
            for op in ops {
                match op {
                    Op::AddKey { provider, name, secret_b64 } => {
                        if let Some(Some(P::Local(_, keys))) = ps.get_mut(*provider) {
                            keys.insert(1.min(keys.len()), Some((name.as_str(), secret_b64)));
                        }
                    }
                    Op::AddProvider(new) => {
                        let p = match new {
                            NewProv::Identity => P::Identity,
                            NewProv::Kms(k) => P::Kms(k),
                            NewProv::Local { ty, name, secret_b64 } => {
                                P::Local(ty, vec![Some((name.as_str(), secret_b64))])
                            }
                        };
                        ps.insert(1.min(ps.len()), Some(p));
                    }
                    Op::SwapKeys { provider } => {
                        if let Some(Some(P::Local(_, keys))) = ps.get_mut(*provider)
                            && keys.len() >= 2
                        {
                            keys.swap(0, 1);
                        }
                    }
                    Op::SwapProviders if ps.len() >= 2 => ps.swap(0, 1),
                    _ => {}
                }
            }
        }
        let providers: Vec<EmitProvider<'_>> = ps
            .into_iter()
            .flatten()
            .map(|p| match p {
                P::Local(t, keys) => {
                    EmitProvider::Local { type_name: t, keys: keys.into_iter().flatten().collect() }
                }
                P::Kms(k) => EmitProvider::Kms(k),
                P::Identity => EmitProvider::Identity,
            })
            .collect();
        entries.push((e.resources.clone(), providers));
    }
    doc::emit(&doc.api_version, &doc.kind, &entries)
}

// ---------------------------------------------------------------------------
// Redacted diff.

/// Replaces the value of every `secret:` field on a line with `<redacted>`.
pub fn redact_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(pos) = rest.find("secret") {
        let (head, tail) = rest.split_at(pos);
        out.push_str(head);
        out.push_str("secret");
        let mut t = &tail["secret".len()..];
        if let Some(s) = t.strip_prefix(['"', '\'']) {
            out.push_str(&t[..1]);
            t = s;
        }
        let trimmed = t.trim_start();
        if let Some(after_colon) = trimmed.strip_prefix(':') {
            out.push_str(&t[..t.len() - trimmed.len()]);
            out.push_str(": <redacted>");
            let v = after_colon.trim_start();
            let consumed = if let Some(q) = v.chars().next().filter(|c| *c == '"' || *c == '\'') {
                v[1..].find(q).map(|e| e + 2).unwrap_or(v.len())
            } else {
                v.find([',', '}', ' ']).unwrap_or(v.len())
            };
            rest = &v[consumed..];
        } else {
            rest = t;
        }
    }
    out.push_str(rest);
    out
}

/// The base64 text of every local key in `doc`.
fn secrets_of(doc: &ConfigDoc) -> impl Iterator<Item = &[u8]> {
    doc.entries.iter().flat_map(|e| &e.providers).flat_map(|p| match &p.kind {
        doc::ProviderKind::Local { keys, .. } => {
            keys.iter().map(|k| k.secret_b64.expose()).collect()
        }
        _ => Vec::new(),
    })
}

/// Shortest run of a line that [`holds_secret`] looks for in the secrets.
const SECRET_PIECE: usize = 4;

/// Whether `line` still shows a piece of one of `secrets`: a run of
/// [`SECRET_PIECE`] or more characters between YAML punctuation or blanks
/// that occurs in a secret. Base64 has none of these separators, so a whole
/// value, or the part of a multi-line value on this line, is one run.
fn holds_secret(line: &str, secrets: &[&[u8]]) -> bool {
    line.split(|c: char| c.is_whitespace() || ",{}[]\"'\\:#&*!|>".contains(c))
        .filter(|run| run.len() >= SECRET_PIECE)
        .any(|run| secrets.iter().any(|s| s.windows(run.len()).any(|w| w == run.as_bytes())))
}

/// `line` for a plan: [`redact_line`], and if a piece of a secret is still
/// there (a value on the line after its `secret:`, a folded or tagged
/// value, an alias's copy), the whole line withheld but its indentation.
fn plan_line(line: &str, secrets: &[&[u8]]) -> String {
    let redacted = redact_line(line);
    if holds_secret(&redacted, secrets) {
        let indent = &line[..line.len() - line.trim_start().len()];
        format!("{indent}<line withheld: it holds key material>")
    } else {
        redacted
    }
}

/// A unified-style diff (3 lines of context) with secrets redacted: every
/// `secret:` value by [`redact_line`], and any line that still shows a
/// piece of one of `secrets` (the base64 texts of both configs) withheld.
pub fn redacted_diff(old: &str, new: &str, secrets: &[&[u8]]) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let (n, m) = (a.len(), b.len());
    // (kind, old line no, new line no, text): kind ' ', '-', '+'
    let mut ops: Vec<(char, usize, usize, &str)> = Vec::new();
    if n.saturating_mul(m) > 4_000_000 {
        ops.extend(a.iter().enumerate().map(|(i, l)| ('-', i + 1, 0, *l)));
        ops.extend(b.iter().enumerate().map(|(j, l)| ('+', 0, j + 1, *l)));
    } else {
        let mut lcs = vec![vec![0u32; m + 1]; n + 1];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i][j] = if a[i] == b[j] {
                    lcs[i + 1][j + 1] + 1
                } else {
                    lcs[i + 1][j].max(lcs[i][j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && a[i] == b[j] {
                ops.push((' ', i + 1, j + 1, a[i]));
                i += 1;
                j += 1;
            } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
                ops.push(('+', i, j + 1, b[j]));
                j += 1;
            } else {
                ops.push(('-', i + 1, j, a[i]));
                i += 1;
            }
        }
    }
    let changed: Vec<usize> =
        ops.iter().enumerate().filter(|(_, o)| o.0 != ' ').map(|(k, _)| k).collect();
    let mut out = String::new();
    let mut shown_until = 0usize;
    let mut k = 0;
    while k < changed.len() {
        let start = changed[k].saturating_sub(3).max(shown_until);
        let mut end = changed[k];
        while k + 1 < changed.len() && changed[k + 1] <= end + 7 {
            k += 1;
            end = changed[k];
        }
        let end = (end + 3).min(ops.len().saturating_sub(1));
        let first = &ops[start];
        let _ = writeln!(out, "@@ line {} @@", first.1.max(1));
        for o in &ops[start..=end] {
            let _ = writeln!(out, "{}{}", o.0, plan_line(o.3, secrets));
        }
        shown_until = end + 1;
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_covers_block_flow_and_json() {
        assert_eq!(redact_line("    secret: c2VjcmV0"), "    secret: <redacted>");
        assert_eq!(redact_line("- {name: a, secret: abc}"), "- {name: a, secret: <redacted>}");
        assert_eq!(
            redact_line(r#"{"name":"a","secret":"abc=="}"#),
            r#"{"name":"a","secret": <redacted>}"#
        );
        assert_eq!(redact_line("  secret: 'x y' # c"), "  secret: <redacted> # c");
        assert_eq!(redact_line("name: secretive"), "name: secretive");
    }

    #[test]
    fn lines_still_showing_a_secret_are_withheld() {
        let secrets: &[&[u8]] = &[b"U0VDUkVUTUFSS0VS"];
        let withheld = "    <line withheld: it holds key material>";
        // The value on its own line, a tag or anchor before it, a folded piece.
        for line in [
            "    U0VDUkVUTUFSS0VS",
            "    secret: !!str U0VDUkVUTUFSS0VS",
            "    secret: &s U0VDUkVUTUFSS0VS",
            "    TUFSS0VS",
        ] {
            assert_eq!(plan_line(line, secrets), withheld, "{line}");
        }
        // Redacted in place where redact_line can; other lines untouched.
        assert_eq!(plan_line("    secret: U0VDUkVUTUFSS0VS", secrets), "    secret: <redacted>");
        assert_eq!(plan_line("    secret: >-", secrets), "    secret: <redacted>");
        assert_eq!(plan_line("  - name: key1", secrets), "  - name: key1");
    }

    #[test]
    fn diff_shows_changes_with_context() {
        let d = redacted_diff("a\nb\nc\n", "a\nx\nb\nc\n", &[]);
        assert!(d.contains("+x"), "{d}");
        assert!(d.contains(" a"));
    }
}
