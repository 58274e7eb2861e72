//! The security lint: what is *wise*, beyond what kube-apiserver accepts.
//!
//! Each rule has a stable id, a severity, an explanation and a fix, and may
//! map to CIS Kubernetes Benchmark controls. Findings point at a field path
//! and line of the decoded mirror, so the lint runs even on a file that does
//! not validate (each validation problem is then a `CFG000` finding). This
//! module decides findings only: rendering is [`super::lint_report`]'s (JSON, SARIF) and the CLI's (text), and file metadata is passed in, not read here, except in
//! [`lint_path`], the one convenience that reads a file.
//!
//! Key material is inspected (length, entropy, reuse, known sample keys) but
//! never copied into a finding.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::diag::{FieldPath, Pos};
use super::load::{Checked, check_bytes};
use super::mirror::{RawConfig, RawKeys, RawProvider, Spanned};
use super::model::GroupResource;
use super::validate::decode_go_base64;
use super::version::LoadOptions;

/// How serious a finding is. Ordered: `Info < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing to fix now.
    Info,
    /// A weakness to fix.
    Warning,
    /// The config does not protect what it should (or does not load).
    Error,
}

impl Severity {
    /// `info`, `warning`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }

    /// The SARIF `level`: `note`, `warning`, `error`.
    pub fn sarif_level(self) -> &'static str {
        match self {
            Self::Info => "note",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "info" => Ok(Self::Info),
            "warning" => Ok(Self::Warning),
            "error" => Ok(Self::Error),
            _ => Err(format!("unknown severity {s:?} (info, warning, error)")),
        }
    }
}

/// A CIS Kubernetes Benchmark control, as numbered in a range of benchmark versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CisControl {
    /// Benchmark versions that use this number, e.g. `v1.9-v1.12`.
    pub benchmark: &'static str,
    /// Control id in those versions, e.g. `1.2.28`.
    pub control: &'static str,
    /// The control's title.
    pub title: &'static str,
}

const CIS_CONFIG_SET: &str =
    "Ensure that the --encryption-provider-config argument is set as appropriate";
const CIS_PROVIDERS: &str = "Ensure that encryption providers are appropriately configured";

/// CIS controls on `--encryption-provider-config` being set (numbering per benchmark version).
pub const CIS_ENCRYPTION_CONFIG: [CisControl; 3] = [
    CisControl { benchmark: "v1.9-v1.12", control: "1.2.27", title: CIS_CONFIG_SET },
    CisControl { benchmark: "v1.7, v1.24", control: "1.2.29", title: CIS_CONFIG_SET },
    CisControl { benchmark: "v1.5-v1.6", control: "1.2.33", title: CIS_CONFIG_SET },
];

/// CIS controls on the providers being appropriate (aescbc, kms or secretbox for secrets).
pub const CIS_ENCRYPTION_PROVIDERS: [CisControl; 3] = [
    CisControl { benchmark: "v1.9-v1.12", control: "1.2.28", title: CIS_PROVIDERS },
    CisControl { benchmark: "v1.7, v1.24", control: "1.2.30", title: CIS_PROVIDERS },
    CisControl { benchmark: "v1.5-v1.6", control: "1.2.34", title: CIS_PROVIDERS },
];

const CIS_BOTH: [CisControl; 6] = [
    CIS_ENCRYPTION_CONFIG[0],
    CIS_ENCRYPTION_CONFIG[1],
    CIS_ENCRYPTION_CONFIG[2],
    CIS_ENCRYPTION_PROVIDERS[0],
    CIS_ENCRYPTION_PROVIDERS[1],
    CIS_ENCRYPTION_PROVIDERS[2],
];

/// A lint rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// Stable id, e.g. `CFG001`.
    pub id: &'static str,
    /// Stable slug, e.g. `identity-first`.
    pub name: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// One line.
    pub summary: &'static str,
    /// Why it matters.
    pub explanation: &'static str,
    /// How to fix it.
    pub fix: &'static str,
    /// CIS Kubernetes Benchmark controls this rule evidences.
    pub cis: &'static [CisControl],
}

macro_rules! rule {
    ($c:ident, $id:literal, $name:literal, $sev:ident, $sum:literal, $exp:literal, $fix:literal, $cis:expr) => {
        #[doc = $sum]
        pub const $c: Rule = Rule {
            id: $id,
            name: $name,
            severity: Severity::$sev,
            summary: $sum,
            explanation: $exp,
            fix: $fix,
            cis: $cis,
        };
    };
}

rule!(
    INVALID,
    "CFG000",
    "invalid-config",
    Error,
    "kube-apiserver would refuse to load this file",
    "The apiserver validates the file at startup (and on each automatic reload); a refused file stops the apiserver from starting or keeps the old config.",
    "Fix the reported field; `atrest validate` prints the apiserver's own message.",
    &CIS_ENCRYPTION_CONFIG
);
rule!(
    IDENTITY_FIRST,
    "CFG001",
    "identity-first",
    Error,
    "secrets are written in plaintext: the first provider for secrets is identity",
    "The first provider of the list that applies to a resource encrypts every write. With identity first, nothing new is encrypted; the other providers are only used to read old data.",
    "Put an encrypting provider (kms apiVersion v2, secretbox, aescbc) first and keep identity last only while migrating. Identity first is only right while deliberately decrypting all data.",
    &CIS_ENCRYPTION_PROVIDERS
);
rule!(
    SECRETS_NOT_COVERED,
    "CFG002",
    "secrets-not-covered",
    Error,
    "no entry covers secrets, so secrets stay in plaintext",
    "Resources that no entry names (exactly, through `*.` for the core group, or through `*.*`) are stored unencrypted.",
    "Add `secrets` (or `*.`) to an entry with an encrypting provider first.",
    &CIS_BOTH
);
rule!(
    IDENTITY_PRESENT,
    "CFG003",
    "identity-still-present",
    Warning,
    "identity is still listed after an encrypting provider: plaintext values are accepted on read",
    "With identity in the list, values written before encryption (or planted in etcd by someone with etcd access) are read as plaintext. The docs keep it only during the initial migration.",
    "After re-encrypting everything (`kubectl get secrets -A -o json | kubectl replace -f -`), remove `identity: {}` and restart each apiserver.",
    &[]
);
rule!(
    AESCBC_WEAK,
    "CFG004",
    "aescbc-weak",
    Warning,
    "aescbc is documented as weak (padding-oracle attacks)",
    "The Kubernetes docs rate aescbc \"weak\" and do not recommend it because of CBC's vulnerability to padding oracle attacks.",
    "Migrate to kms apiVersion v2 (recommended) or secretbox: add the new provider first, restart, re-encrypt, then remove aescbc.",
    &[]
);
rule!(
    AESGCM_ROTATION,
    "CFG005",
    "aesgcm-rotation",
    Warning,
    "aesgcm keys must be rotated every 200,000 writes",
    "AES-GCM with random 96-bit nonces must not encrypt more than about 200,000 values per key; the docs recommend aesgcm only with an automated rotation scheme. The CIS Benchmark lists aescbc, kms and secretbox as appropriate providers.",
    "Use kms apiVersion v2 or secretbox, or automate key rotation (`atrest` rotation) well before 200,000 writes per key.",
    &CIS_ENCRYPTION_PROVIDERS
);
rule!(
    KMS_V1,
    "CFG006",
    "kms-v1-deprecated",
    Warning,
    "KMS v1 is deprecated and disabled by default from Kubernetes 1.29",
    "KMS v1 was deprecated in 1.28 and is off by default from 1.29 (the KMSv1 feature gate); it makes a KMS call per DEK and only receives security fixes.",
    "Switch the provider to `apiVersion: v2` with a KMS v2 plugin, re-encrypt, then remove the v1 provider.",
    &[]
);
rule!(
    KMS_NO_V2,
    "CFG007",
    "kms-apiversion-missing",
    Warning,
    "kms without `apiVersion: v2` means KMS v1",
    "An omitted kms apiVersion defaults to v1, which does not load on 1.29+ unless --feature-gates=KMSv1=true.",
    "Write `apiVersion: v2` in every kms stanza (with a KMS v2 plugin).",
    &[]
);
rule!(
    SHORT_KEY,
    "CFG008",
    "short-key",
    Warning,
    "key shorter than 32 bytes",
    "AES accepts 16- and 24-byte keys, but the docs and CIS guidance use 32-byte (256-bit) keys.",
    "Generate a 32-byte key (`atrest generate`, or `head -c 32 /dev/urandom | base64`) and rotate to it.",
    &[]
);
rule!(
    DUPLICATE_KEY_NAME,
    "CFG009",
    "duplicate-key-name",
    Warning,
    "two keys of one provider share a name",
    "The key name is part of the stored prefix (`k8s:enc:aescbc:v1:<name>:`); with duplicate names one prefix matches several keys and reads must try each.",
    "Give every key a unique name (e.g. dated: key-20261128).",
    &[]
);
rule!(
    REUSED_SECRET,
    "CFG010",
    "reused-secret",
    Warning,
    "the same secret is used by more than one key",
    "Reusing key material across keys, providers or entries couples their compromise and, across algorithms, breaks the separation each cipher assumes.",
    "Give each key its own fresh random secret.",
    &[]
);
rule!(
    LOW_ENTROPY,
    "CFG011",
    "low-entropy-key",
    Error,
    "key material looks non-random",
    "A key made of one repeated byte, printable text or very few distinct bytes was typed or derived from a password, not drawn from a random generator, and may be guessable.",
    "Replace it with 32 random bytes (`atrest generate`, or `head -c 32 /dev/urandom | base64`) and rotate.",
    &[]
);
rule!(
    SAMPLE_KEY,
    "CFG012",
    "sample-key",
    Error,
    "a sample key from the Kubernetes documentation",
    "The keys printed in the Kubernetes docs and API comments (`c2VjcmV0IGlzIHNlY3VyZQ==` is \"secret is secure\") are public: anyone can decrypt data written with them.",
    "Replace it with a fresh random key and rotate; treat data written with it as unencrypted.",
    &[]
);
rule!(
    FILE_MODE,
    "CFG013",
    "file-mode",
    Error,
    "the config file is readable by group or others",
    "The file holds the data-encryption keys; anyone who can read it can decrypt etcd.",
    "chmod 600 the file (owner read/write only).",
    &[]
);
rule!(
    FILE_OWNER,
    "CFG014",
    "file-owner",
    Warning,
    "the config file is not owned by root",
    "kube-apiserver runs as root on most control planes; a file owned by another user can be changed by that user.",
    "chown root:root the file.",
    &[]
);
rule!(
    LOCAL_KEYS,
    "CFG015",
    "local-keys",
    Info,
    "keys are stored in the file itself",
    "Local providers (aescbc, aesgcm, secretbox) protect against a leak of etcd, not against a compromise of a control-plane host, which holds the file.",
    "Prefer kms apiVersion v2 with an external KMS for host-compromise protection; otherwise restrict the file and its backups.",
    &[]
);

/// Every rule, in id order.
pub const RULES: &[Rule] = &[
    INVALID,
    IDENTITY_FIRST,
    SECRETS_NOT_COVERED,
    IDENTITY_PRESENT,
    AESCBC_WEAK,
    AESGCM_ROTATION,
    KMS_V1,
    KMS_NO_V2,
    SHORT_KEY,
    DUPLICATE_KEY_NAME,
    REUSED_SECRET,
    LOW_ENTROPY,
    SAMPLE_KEY,
    FILE_MODE,
    FILE_OWNER,
    LOCAL_KEYS,
];

/// The secrets of the docs' sample keys (decoded), with where they appear.
const SAMPLE_SECRETS: &[&[u8]] =
    &[b"secret is secure", b"secret is secure, or is it?\n", b"secret is secure, I think"];

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule.
    pub rule: &'static Rule,
    /// Severity (the rule's default unless the finding adjusts it).
    pub severity: Severity,
    /// Field path; empty for the whole file.
    pub path: FieldPath,
    /// Source position.
    pub pos: Option<Pos>,
    /// What was found, specifically (never key material).
    pub message: String,
}

impl Finding {
    fn new(
        rule: &'static Rule,
        path: FieldPath,
        pos: Option<Pos>,
        message: impl Into<String>,
    ) -> Self {
        Self { rule, severity: rule.severity, path, pos, message: message.into() }
    }

    fn with_severity(mut self, s: Severity) -> Self {
        self.severity = s;
        self
    }
}

/// File facts the lint checks (`None` when linting text, not a file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileFacts {
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
}

/// Lints already-checked content.
pub fn lint_checked(checked: &Checked, file: Option<FileFacts>) -> Vec<Finding> {
    let mut out: Vec<Finding> = checked
        .diagnostics
        .iter()
        .map(|d| Finding::new(&INVALID, d.path.clone(), d.pos, d.body()))
        .collect();
    if let Some(raw) = &checked.raw {
        lint_raw(raw, &mut out);
    }
    if let Some(f) = file {
        lint_file(f, &mut out);
    }
    out
}

/// Lints bytes (the content of `name`) against `opts`.
pub fn lint_bytes(
    name: &str,
    bytes: &[u8],
    opts: &LoadOptions,
    file: Option<FileFacts>,
) -> Vec<Finding> {
    lint_checked(&check_bytes(name, bytes, opts), file)
}

/// Reads and lints a real file, including its mode and owner.
pub fn lint_path(path: &Path, opts: &LoadOptions) -> std::io::Result<Vec<Finding>> {
    let bytes = crate::secret::read_key_file(path)?;
    let facts = file_facts(path)?;
    Ok(lint_bytes(&path.display().to_string(), &bytes, opts, facts))
}

/// Mode and owner of a file (Unix only; `None` elsewhere).
pub fn file_facts(path: &Path) -> std::io::Result<Option<FileFacts>> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path)?;
        Ok(Some(FileFacts { mode: m.mode() & 0o7777, uid: m.uid() }))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(None)
    }
}

fn lint_file(f: FileFacts, out: &mut Vec<Finding>) {
    if f.mode & 0o077 != 0 {
        out.push(Finding::new(
            &FILE_MODE,
            FieldPath::root(),
            None,
            format!(
                "file mode is {:04o}; group or others may access it (want 0600 or stricter)",
                f.mode
            ),
        ));
    } else if f.mode & !0o600 != 0 {
        out.push(
            Finding::new(
                &FILE_MODE,
                FieldPath::root(),
                None,
                format!("file mode is {:04o}; wider than 0600", f.mode),
            )
            .with_severity(Severity::Warning),
        );
    }
    if f.uid != 0 {
        out.push(Finding::new(
            &FILE_OWNER,
            FieldPath::root(),
            None,
            format!("file is owned by uid {}, not root", f.uid),
        ));
    }
}

/// A provider with its path, in config order.
struct ProvRef<'a> {
    entry: usize,
    index: usize,
    prov: &'a RawProvider,
}

impl ProvRef<'_> {
    fn path(&self) -> FieldPath {
        FieldPath::new("resources").index(self.entry).child("providers").index(self.index)
    }
}

fn lint_raw(raw: &RawConfig, out: &mut Vec<Finding>) {
    let Some(entries) = &raw.resources else { return };
    let entries = &entries.value;

    // Which providers apply to secrets, as the apiserver looks them up.
    let secrets = GroupResource::new("", "secrets");
    let wanted = [secrets.clone(), GroupResource::new("", "*"), GroupResource::new("*", "*")];
    let mut chain: Vec<ProvRef<'_>> = Vec::new();
    for w in &wanted {
        for (i, e) in entries.iter().enumerate() {
            let covers = e
                .resources
                .as_ref()
                .is_some_and(|rs| rs.value.iter().any(|r| GroupResource::parse(&r.value) == *w));
            if covers {
                for (j, p) in e.providers.iter().flat_map(|ps| ps.value.iter()).enumerate() {
                    chain.push(ProvRef { entry: i, index: j, prov: p });
                }
            }
        }
        if !chain.is_empty() {
            break;
        }
    }
    match chain.first() {
        None => out.push(Finding::new(
            &SECRETS_NOT_COVERED,
            FieldPath::new("resources"),
            Some(raw.resources.as_ref().map_or(raw.pos, |r| r.pos)),
            "no entry lists secrets, `*.` or `*.*`: secrets are stored in plaintext",
        )),
        Some(first) if first.prov.identity.is_some() => out.push(Finding::new(
            &IDENTITY_FIRST,
            first.path().child("identity"),
            first.prov.identity,
            format!(
                "the first provider that applies to secrets ({}) is identity: new secrets are written unencrypted",
                first.path()
            ),
        )),
        Some(first) => {
            if first.prov.aesgcm.is_some() {
                out.push(Finding::new(
                    &AESGCM_ROTATION,
                    first.path().child("aesgcm"),
                    first.prov.aesgcm.as_ref().map(|a| a.pos),
                    "secrets are written with aesgcm: each key must be rotated before 200,000 writes",
                ));
            }
        }
    }

    // Per provider.
    let mut secrets_seen: HashMap<[u8; 32], FieldPath> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        let providers: &[RawProvider] = e.providers.as_ref().map_or(&[], |p| &p.value);
        let encrypting_before = |j: usize| {
            providers[..j].iter().any(|p| p.identity.is_none() && !p.types_set().is_empty())
        };
        for (j, p) in providers.iter().enumerate() {
            let r = ProvRef { entry: i, index: j, prov: p };
            let path = r.path();
            if p.identity.is_some() && j > 0 && encrypting_before(j) {
                out.push(Finding::new(
                    &IDENTITY_PRESENT,
                    path.child("identity"),
                    p.identity,
                    "identity follows an encrypting provider: plaintext values are still accepted on read",
                ));
            }
            if let Some(a) = &p.aescbc {
                let writer = j == 0;
                let f = Finding::new(
                    &AESCBC_WEAK,
                    path.child("aescbc"),
                    Some(a.pos),
                    if writer {
                        "aescbc encrypts new writes for this entry"
                    } else {
                        "aescbc is kept for reading older data; remove it once everything is re-encrypted"
                    },
                );
                out.push(if writer { f } else { f.with_severity(Severity::Info) });
            }
            if let Some(a) = &p.aesgcm
                && j == 0
                && !(chain.first().is_some_and(|c| c.entry == i && c.index == 0))
            {
                out.push(Finding::new(
                    &AESGCM_ROTATION,
                    path.child("aesgcm"),
                    Some(a.pos),
                    "aesgcm encrypts new writes for this entry: each key must be rotated before 200,000 writes",
                ));
            }
            if let Some(k) = &p.kms {
                let explicit = k
                    .value
                    .api_version
                    .as_ref()
                    .map(|v| v.value.as_str())
                    .filter(|v| !v.is_empty());
                match explicit {
                    None => out.push(Finding::new(
                        &KMS_NO_V2,
                        path.child("kms"),
                        Some(k.pos),
                        "kms has no apiVersion, so it is KMS v1",
                    )),
                    Some("v1") => out.push(Finding::new(
                        &KMS_V1,
                        path.child("kms").child("apiVersion"),
                        k.value.api_version.as_ref().map(|v| v.pos),
                        "kms apiVersion is v1",
                    )),
                    _ => {}
                }
            }
            let local: [(&str, &Option<Spanned<RawKeys>>); 3] =
                [("aesgcm", &p.aesgcm), ("aescbc", &p.aescbc), ("secretbox", &p.secretbox)];
            for (ty, keys) in local {
                let Some(keys) = keys else { continue };
                if j == 0 && ty == "secretbox" {
                    out.push(Finding::new(
                        &LOCAL_KEYS,
                        path.child(ty),
                        Some(keys.pos),
                        "secretbox keys are stored in this file",
                    ));
                }
                lint_keys(keys, &path.child(ty).child("keys"), ty, &mut secrets_seen, out);
            }
        }
    }
}

fn lint_keys(
    keys: &Spanned<RawKeys>,
    path: &FieldPath,
    ty: &str,
    seen: &mut HashMap<[u8; 32], FieldPath>,
    out: &mut Vec<Finding>,
) {
    let Some(list) = &keys.value.keys else { return };
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, key) in list.value.iter().enumerate() {
        let kp = path.index(i);
        if let Some(n) = key.name.as_ref().filter(|n| !n.value.is_empty()) {
            if let Some(first) = names.get(n.value.as_str()) {
                out.push(Finding::new(
                    &DUPLICATE_KEY_NAME,
                    kp.child("name"),
                    Some(n.pos),
                    format!("key name {:?} is also used by {}", n.value, path.index(*first)),
                ));
            } else {
                names.insert(n.value.as_str(), i);
            }
        }
        let Some(secret) = &key.secret else { continue };
        let Some(bytes) = decode_go_base64(secret.value.expose()) else { continue };
        let sp = kp.child("secret");
        let pos = Some(secret.pos);
        if SAMPLE_SECRETS.iter().any(|s| *s == bytes.expose()) {
            out.push(Finding::new(
                &SAMPLE_KEY,
                sp.clone(),
                pos,
                "this is a sample key published in the Kubernetes documentation",
            ));
        } else if let Some(why) = low_entropy(bytes.expose()) {
            out.push(Finding::new(&LOW_ENTROPY, sp.clone(), pos, why));
        }
        if !bytes.is_empty() && bytes.len() < 32 && matches!(ty, "aesgcm" | "aescbc") {
            out.push(Finding::new(
                &SHORT_KEY,
                sp.clone(),
                pos,
                format!("{ty} key is {} bytes; use 32", bytes.len()),
            ));
        }
        // Keys are compared by SHA-256 (a digest, not the key, stays in the map).
        let digest: [u8; 32] = crate::crypto::sha256(bytes.expose());
        if let Some(other) = seen.get(&digest) {
            out.push(Finding::new(
                &REUSED_SECRET,
                sp.clone(),
                pos,
                format!("same secret as {other}"),
            ));
        } else if !bytes.is_empty() {
            seen.insert(digest, sp);
        }
    }
}

/// Why key material looks non-random, if it does.
pub fn low_entropy(k: &[u8]) -> Option<String> {
    if k.is_empty() {
        return None;
    }
    if k.iter().all(|b| *b == k[0]) {
        return Some(format!("all {} bytes are the same value", k.len()));
    }
    if k.iter().all(|b| (0x20..0x7f).contains(b) || *b == b'\n' || *b == b'\t') {
        return Some("the key is printable ASCII text, not random bytes".to_string());
    }
    let mut distinct = [false; 256];
    for b in k {
        distinct[usize::from(*b)] = true;
    }
    let n = distinct.iter().filter(|d| **d).count();
    if n * 3 < k.len() {
        return Some(format!("only {n} distinct byte values in {} bytes", k.len()));
    }
    None
}

/// Whether any finding is at or above `level`.
pub fn fails(findings: &[Finding], level: Severity) -> bool {
    findings.iter().any(|f| f.severity >= level)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(src: &str, file: Option<FileFacts>) -> Vec<&'static str> {
        let mut v: Vec<&str> = lint_bytes("t", src.as_bytes(), &LoadOptions::default(), file)
            .iter()
            .map(|f| f.rule.id)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    const HEAD: &str = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n";
    const KEY: &str = "6afiorfME7GRuyeYEMKxEGkK1YZeiJ06b2+SEucnHow=";

    #[test]
    fn entropy_heuristics() {
        assert!(low_entropy(&[7u8; 32]).is_some());
        assert!(low_entropy(b"correct horse battery staple 123").is_some());
        assert!(low_entropy(&[1, 2, 3, 4].repeat(8)).is_some());
        let random = decode_go_base64(KEY).unwrap();
        assert_eq!(low_entropy(random.expose()), None);
    }

    #[test]
    fn coverage_follows_the_apiserver_lookup() {
        // secrets covered only through `*.*`, whose first provider is identity.
        let src = format!(
            "{HEAD}resources:\n- resources: [configmaps]\n  providers: [{{secretbox: {{keys: [{{name: k, secret: '{KEY}'}}]}}}}]\n- resources: ['*.*']\n  providers: [identity: {{}}]\n"
        );
        assert_eq!(ids(&src, None), ["CFG001", "CFG015"]);
        // An exact `secrets` entry wins over `*.*`.
        let src = format!(
            "{HEAD}resources:\n- resources: [secrets]\n  providers: [{{kms: {{apiVersion: v2, name: k, endpoint: 'unix:///k'}}}}]\n- resources: ['*.*']\n  providers: [identity: {{}}]\n"
        );
        assert_eq!(ids(&src, None), Vec::<&str>::new());
        let none =
            format!("{HEAD}resources:\n- resources: [configmaps]\n  providers: [identity: {{}}]\n");
        assert_eq!(ids(&none, None), ["CFG002"]);
    }

    #[test]
    fn file_facts_rules() {
        let src = format!(
            "{HEAD}resources:\n- resources: [secrets]\n  providers: [{{kms: {{apiVersion: v2, name: k, endpoint: 'unix:///k'}}}}]\n"
        );
        assert_eq!(ids(&src, Some(FileFacts { mode: 0o600, uid: 0 })), Vec::<&str>::new());
        assert_eq!(ids(&src, Some(FileFacts { mode: 0o400, uid: 0 })), Vec::<&str>::new());
        assert_eq!(ids(&src, Some(FileFacts { mode: 0o644, uid: 1000 })), ["CFG013", "CFG014"]);
        let f = lint_bytes(
            "t",
            src.as_bytes(),
            &LoadOptions::default(),
            Some(FileFacts { mode: 0o700, uid: 0 }),
        );
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].rule.id, f[0].severity), ("CFG013", Severity::Warning));
    }
}
