//! The strict loader: bytes in, a validated [`EncryptionConfig`] out — or
//! every reason kube-apiserver would refuse the file.
//!
//! This is the entry point for the rest of atrest. It reads the file (the
//! only I/O in the config module besides `write`), rejects an empty file as
//! the apiserver does, decodes with [`super::mirror`], validates with
//! [`super::validate`] under [`LoadOptions`], and converts. It never prints
//! secrets: diagnostics carry paths, lines and apiserver texts only.

use std::fmt;
use std::path::{Path, PathBuf};

use super::diag::{Diagnostic, DiagnosticKind, FieldPath, Pos};
use super::mirror::{self, RawConfig};
use super::model::EncryptionConfig;
use super::validate;
use super::version::LoadOptions;

/// Why a config did not load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not YAML/JSON at all (or not UTF-8).
    #[error("line {}, column {}: {message}", pos.line, pos.column)]
    Syntax {
        /// Where the parser stopped.
        pos: Pos,
        /// The parser's message.
        message: String,
    },
    /// A well-formed document that kube-apiserver would refuse; every problem.
    #[error("{}", DiagList(diagnostics))]
    Invalid {
        /// Every problem, in rule order.
        diagnostics: Vec<Diagnostic>,
    },
}

struct DiagList<'a>(&'a [Diagnostic]);

impl fmt::Display for DiagList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid EncryptionConfiguration ({} problem(s))", self.0.len())?;
        for d in self.0 {
            match d.line() {
                Some(l) => write!(f, "\n  line {l}: {d}")?,
                None => write!(f, "\n  {d}")?,
            }
        }
        Ok(())
    }
}

impl LoadError {
    /// The problems as diagnostics (a syntax error becomes one diagnostic;
    /// an I/O error none).
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            Self::Io { .. } => Vec::new(),
            Self::Syntax { pos, message } => vec![Diagnostic::other(
                DiagnosticKind::Decode,
                FieldPath::root(),
                Some(*pos),
                message.clone(),
            )],
            Self::Invalid { diagnostics } => diagnostics.clone(),
        }
    }
}

/// The outcome of checking one document: the decoded mirror (for the lint,
/// which needs positions) and every problem.
pub struct Checked {
    /// The mirror, when the document decoded as an `EncryptionConfiguration`.
    pub raw: Option<RawConfig>,
    /// Every problem; empty means kube-apiserver would load the file.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    /// Whether kube-apiserver would load the file.
    pub fn is_valid(&self) -> bool {
        self.raw.is_some() && self.diagnostics.is_empty()
    }

    /// The validated model, when valid.
    pub fn config(&self) -> Option<EncryptionConfig> {
        if !self.is_valid() {
            return None;
        }
        self.raw.as_ref().and_then(validate::convert)
    }
}

/// Checks `bytes` (the content of the file `name`, used in messages) against
/// `opts`, collecting every problem. Never fails: unreadable content is a
/// diagnostic too.
pub fn check_bytes(name: &str, bytes: &[u8], opts: &LoadOptions) -> Checked {
    let fail = |d: Diagnostic| Checked { raw: None, diagnostics: vec![d] };
    if bytes.is_empty() {
        return fail(Diagnostic::other(
            DiagnosticKind::Load,
            FieldPath::root(),
            None,
            format!(
                "encryption provider configuration file {} is empty",
                super::diag::go_quote(name)
            ),
        ));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let prefix = &bytes[..e.valid_up_to()];
            let line = prefix.iter().filter(|b| **b == b'\n').count() + 1;
            return fail(Diagnostic::other(
                DiagnosticKind::Decode,
                FieldPath::root(),
                Some(Pos { line, column: 1 }),
                format!("yaml: invalid UTF-8 at byte {}", e.valid_up_to()),
            ));
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match mirror::decode(text) {
        Err(e) => fail(Diagnostic::other(
            DiagnosticKind::Decode,
            FieldPath::root(),
            Some(e.pos),
            e.message,
        )),
        Ok(decoded) => {
            let mut diagnostics = decoded.diagnostics;
            if let Some(raw) = &decoded.config {
                // A field that failed to decode is absent in the mirror; do not
                // also report it as missing (kube-apiserver stops at the
                // decoding error and never validates).
                let undecoded: Vec<String> = diagnostics
                    .iter()
                    .filter(|d| !d.message.starts_with("strict decoding error"))
                    .map(|d| d.path.as_str().to_string())
                    .collect();
                let follows = |d: &Diagnostic| {
                    let p = d.path.as_str();
                    undecoded.iter().any(|u| {
                        let under = !u.is_empty()
                            && p.strip_prefix(u.as_str()).is_some_and(|rest| {
                                rest.is_empty() || rest.starts_with(['.', '['])
                            });
                        // A provider whose only type failed to decode looks empty;
                        // a list with an undecoded item has a placeholder in it.
                        let list_level = d.message.starts_with("provider does not contain")
                            || d.message.starts_with("the same resource cannot")
                            || d.message.starts_with("using overlapping resources");
                        let emptied = list_level
                            && u.strip_prefix(p).is_some_and(|rest| rest.starts_with(['.', '[']));
                        under || emptied
                    })
                };
                diagnostics
                    .extend(validate::validate(raw, opts).into_iter().filter(|d| !follows(d)));
            }
            Checked { raw: decoded.config, diagnostics }
        }
    }
}

/// Loads a config from text with the default options (Kubernetes 1.36,
/// default feature gates, no automatic reload).
pub fn load_str(src: &str) -> Result<EncryptionConfig, LoadError> {
    load_str_with(src, &LoadOptions::default())
}

/// Loads a config from text, checked against `opts`.
pub fn load_str_with(src: &str, opts: &LoadOptions) -> Result<EncryptionConfig, LoadError> {
    load_bytes_with("<string>", src.as_bytes(), opts)
}

/// Loads a config file with the default options.
pub fn load_path(path: &Path) -> Result<EncryptionConfig, LoadError> {
    load_path_with(path, &LoadOptions::default())
}

/// Loads a config file, checked against `opts`.
pub fn load_path_with(path: &Path, opts: &LoadOptions) -> Result<EncryptionConfig, LoadError> {
    load_bytes_with(&path.display().to_string(), &read_config(path)?, opts)
}

/// [`load_path_with`], and the [`content_hash`] of the very bytes it loaded:
/// the file is read once, so the hash a report names is the config's.
pub fn load_path_hashed(
    path: &Path,
    opts: &LoadOptions,
) -> Result<(EncryptionConfig, String), LoadError> {
    let bytes = read_config(path)?;
    Ok((load_bytes_with(&path.display().to_string(), &bytes, opts)?, content_hash(&bytes)))
}

fn read_config(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, LoadError> {
    crate::secret::read_key_file(path)
        .map_err(|source| LoadError::Io { path: path.to_path_buf(), source })
}

/// Loads a config from bytes (`name` is used in messages).
pub fn load_bytes_with(
    name: &str,
    bytes: &[u8],
    opts: &LoadOptions,
) -> Result<EncryptionConfig, LoadError> {
    let checked = check_bytes(name, bytes, opts);
    if let Some(cfg) = checked.config() {
        return Ok(cfg);
    }
    let mut diagnostics = checked.diagnostics;
    if diagnostics.len() == 1
        && diagnostics[0].kind == DiagnosticKind::Decode
        && diagnostics[0].path.as_str().is_empty()
        && diagnostics[0].message.starts_with("yaml:")
        && checked.raw.is_none()
    {
        let d = diagnostics.remove(0);
        return Err(LoadError::Syntax { pos: d.pos.unwrap_or_default(), message: d.message });
    }
    if diagnostics.is_empty() {
        // Unreachable by construction; never panic on input.
        diagnostics.push(Diagnostic::other(
            DiagnosticKind::Decode,
            FieldPath::root(),
            None,
            "the configuration could not be converted",
        ));
    }
    Err(LoadError::Invalid { diagnostics })
}

/// `sha256:<hex>` of the file bytes: the value kube-apiserver exports as
/// `apiserver_encryption_config_controller_last_config_info{hash=...}`.
pub fn content_hash(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(crate::crypto::sha256(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::ProviderConfig;

    const HEAD: &str = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n";

    fn errors(src: &str) -> Vec<String> {
        match load_str(src) {
            Ok(_) => Vec::new(),
            Err(e) => {
                e.diagnostics().iter().map(|d| format!("{}|{}", d.line().unwrap_or(0), d)).collect()
            }
        }
    }

    #[test]
    fn loads_a_valid_config_with_kms_defaults() {
        let src = format!(
            "{HEAD}resources:\n- resources: [secrets]\n  providers:\n  - kms: {{apiVersion: v2, name: k, endpoint: unix:///k.sock}}\n  - aescbc:\n      keys:\n      - name: key1\n        secret: c2VjcmV0IGlzIHNlY3VyZQ==\n  - identity: {{}}\n"
        );
        let cfg = load_str(&src).unwrap();
        assert_eq!(cfg.entries.len(), 1);
        let p = &cfg.entries[0].providers;
        assert_eq!(p.len(), 3);
        match &p[0] {
            ProviderConfig::Kms(k) => {
                assert_eq!(k.timeout, std::time::Duration::from_secs(3));
                assert_eq!(k.cachesize, None);
            }
            _ => panic!("expected kms"),
        }
        assert_eq!(p[1].keys().unwrap().keys[0].secret.expose(), b"secret is secure");
        assert!(matches!(p[2], ProviderConfig::Identity));
    }

    #[test]
    fn kms_v1_defaults_and_gate() {
        let src = format!(
            "{HEAD}resources:\n- resources: [secrets]\n  providers:\n  - kms: {{name: k, endpoint: unix:///k.sock}}\n"
        );
        assert_eq!(
            errors(&src),
            vec![format!("6|{}", crate::config::validate::KMS_V1_GATE_MESSAGE)]
        );
        let mut opts = LoadOptions::default();
        opts.gates.kms_v1 = Some(true);
        let cfg = load_str_with(&src, &opts).unwrap();
        match &cfg.entries[0].providers[0] {
            ProviderConfig::Kms(k) => assert_eq!(k.cachesize, Some(1000)),
            _ => panic!("expected kms"),
        }
        opts.gates.kms_v1 = None;
        opts.kube_version = crate::config::KubeVersion::new(1, 28);
        assert!(load_str_with(&src, &opts).is_ok());
    }

    #[test]
    fn masking_is_an_error_when_the_wildcard_comes_first() {
        let src = format!(
            "{HEAD}resources:\n- resources: ['*.']\n  providers: [identity: {{}}]\n- resources: [secrets]\n  providers: [identity: {{}}]\n"
        );
        assert_eq!(
            errors(&src),
            vec!["6|resource \"secrets\" is masked by earlier rule \"*.\"".to_string()]
        );
        let any = format!(
            "{HEAD}resources:\n- resources: ['*.*']\n  providers: [identity: {{}}]\n- resources: ['*.*', 'deployments.apps']\n  providers: [identity: {{}}]\n"
        );
        let e = errors(&any);
        assert!(
            e.contains(&"6|resource \"*.*\" is masked by earlier rule \"*.*\"".to_string()),
            "{e:?}"
        );
        assert!(
            e.contains(
                &"6|resource \"deployments.apps\" is masked by earlier rule \"*.*\"".to_string()
            ),
            "{e:?}"
        );
    }

    #[test]
    fn specific_before_wildcard_is_fine() {
        let src = format!(
            "{HEAD}resources:\n- resources: [secrets]\n  providers: [identity: {{}}]\n- resources: ['*.apps']\n  providers: [identity: {{}}]\n- resources: ['*.*']\n  providers: [identity: {{}}]\n- resources: [secrets]\n  providers: [identity: {{}}]\n"
        );
        // `secrets` after `*.*` is masked; everything before is fine.
        assert_eq!(
            errors(&src),
            vec!["10|resource \"secrets\" is masked by earlier rule \"*.*\"".to_string()]
        );
        let ok = format!(
            "{HEAD}resources:\n- resources: [secrets]\n  providers: [identity: {{}}]\n- resources: [secrets]\n  providers: [identity: {{}}]\n- resources: ['*.apps']\n  providers: [identity: {{}}]\n- resources: ['*.*']\n  providers: [identity: {{}}]\n"
        );
        let cfg = load_str(&ok).unwrap();
        assert_eq!(cfg.providers_for(&crate::config::GroupResource::parse("secrets")).len(), 2);
    }

    #[test]
    fn every_key_problem_is_reported_and_secrets_are_redacted() {
        let src = format!(
            "{HEAD}resources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: key2\n        secret: c2VjcmV0IGlzIHNlY3VyZSwgb3IgaXMgaXQ/Cg==\n      - secret: '!!notbase64'\n  - secretbox:\n      keys: []\n"
        );
        let e = errors(&src);
        assert_eq!(
            e,
            vec![
                "9|resources[0].providers[0].aescbc.keys[0].secret: Invalid value: \"REDACTED\": secret is not of the expected length, got 28, expected one of [16 24 32]".to_string(),
                "10|resources[0].providers[0].aescbc.keys[1].name: Required value: name is a mandatory field for a key".to_string(),
                "10|resources[0].providers[0].aescbc.keys[1].secret: Invalid value: \"REDACTED\": secrets must be base64 encoded".to_string(),
                "12|resources[0].providers[1].secretbox.keys: Required value: at least one keys is required".to_string(),
            ]
        );
        assert!(!e.join("\n").contains("c2VjcmV0"));
    }

    #[test]
    fn empty_file_and_wrong_kind() {
        let e = check_bytes("/etc/enc.yaml", b"", &LoadOptions::default());
        assert_eq!(
            e.diagnostics[0].to_string(),
            "encryption provider configuration file \"/etc/enc.yaml\" is empty"
        );
        let e = errors(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfigurations\nresources: []\n",
        );
        assert_eq!(
            e,
            vec!["2|no kind \"EncryptionConfigurations\" is registered for version \"apiserver.config.k8s.io/v1\"".to_string()]
        );
        assert_eq!(
            errors("# only a comment\n"),
            vec!["1|Object 'Kind' is missing in the document".to_string()]
        );
        assert!(matches!(load_str("a: [b\n"), Err(LoadError::Syntax { .. })));
    }

    #[test]
    fn legacy_kind_and_json_are_accepted() {
        let src = r#"{"apiVersion":"v1","kind":"EncryptionConfig","resources":[{"resources":["secrets"],"providers":[{"identity":{}}]}]}"#;
        assert!(load_str(src).is_ok(), "{:?}", errors(src));
    }

    #[test]
    fn hash_is_sha256_of_bytes() {
        assert_eq!(
            content_hash(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
