//! Generation of new `EncryptionConfiguration` files.
//!
//! Owns the choice of a sensible default (one `secrets` entry, one fresh
//! 32-byte key with a dated name, secretbox — see [`DEFAULT_PROVIDER`]) and
//! the YAML text. Key bytes come from an injected source (the OS RNG in the
//! CLI, a deterministic one in tests) and the date is injected too, so
//! generation is reproducible under test. The output is checked with the
//! same loader as `validate` before it is returned: generation never hands
//! out a file kube-apiserver would refuse. Writing the file is
//! [`crate::fsutil::write_atomic`]'s job.

use std::fmt::Write as _;

use base64::Engine as _;

use super::diag::Diagnostic;
use super::load::check_bytes;
use super::version::LoadOptions;
use crate::secret::SecretBytes;

/// A provider to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GenProvider {
    /// `aesgcm` (32-byte key).
    AesGcm,
    /// `aescbc` (32-byte key).
    AesCbc,
    /// `secretbox` (32-byte key).
    Secretbox,
    /// `kms` with `apiVersion: v2`.
    Kms,
    /// `identity: {}`.
    Identity,
}

impl GenProvider {
    /// The config field name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AesGcm => "aesgcm",
            Self::AesCbc => "aescbc",
            Self::Secretbox => "secretbox",
            Self::Kms => "kms",
            Self::Identity => "identity",
        }
    }
}

/// The default provider: secretbox. The docs rate it "strong"; unlike
/// aesgcm it needs no rotation every 200,000 writes; unlike aescbc it is not
/// "weak"; unlike kms v2 (the docs' recommendation) it needs no KMS plugin,
/// so a generated file works on its own. It is one of the providers the CIS
/// Benchmark accepts (aescbc, kms, secretbox).
pub const DEFAULT_PROVIDER: GenProvider = GenProvider::Secretbox;

/// A calendar date (UTC), for dated key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    /// Year.
    pub year: i64,
    /// Month 1–12.
    pub month: u32,
    /// Day 1–31.
    pub day: u32,
}

impl Date {
    /// The UTC date of a Unix time (seconds).
    pub fn from_unix(secs: i64) -> Self {
        let (year, month, day) = crate::civil::civil_from_days(secs.div_euclid(86_400));
        Self { year, month, day }
    }

    /// Today (UTC) from the system clock.
    pub fn today() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        Self::from_unix(secs)
    }

    /// `key-YYYYMMDD`.
    pub fn key_name(self) -> String {
        format!("key-{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Providers in order (the first encrypts writes); empty means [`DEFAULT_PROVIDER`].
    pub providers: Vec<GenProvider>,
    /// Resources of the single entry; empty means `secrets`.
    pub resources: Vec<String>,
    /// Key name; `None` means `key-YYYYMMDD` of `date`.
    pub key_name: Option<String>,
    /// KMS provider name (kms only).
    pub kms_name: String,
    /// KMS plugin endpoint (kms only), `unix:///...`.
    pub kms_endpoint: Option<String>,
    /// Append `identity: {}` last (reads plaintext written before encryption).
    pub identity_fallback: bool,
    /// The date for key names and the header comment.
    pub date: Date,
}

impl GenerateOptions {
    /// Defaults for `date`: secrets, secretbox, dated key name.
    pub fn new(date: Date) -> Self {
        Self {
            providers: Vec::new(),
            resources: Vec::new(),
            key_name: None,
            kms_name: "kms".to_string(),
            kms_endpoint: None,
            identity_fallback: false,
            date,
        }
    }
}

/// Why nothing was generated.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The RNG failed.
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(String),
    /// kms requested without an endpoint.
    #[error("--provider kms needs --kms-endpoint unix:///path/to/plugin.sock")]
    KmsEndpointMissing,
    /// A provider listed twice.
    #[error("provider {0} is listed more than once")]
    DuplicateProvider(&'static str),
    /// The options produce a file kube-apiserver would refuse.
    #[error("the generated config would not load: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Diagnostic>),
}

/// Quotes a scalar unless it is safe as a plain YAML 1.1 string.
fn scalar(s: &str) -> String {
    let plain_safe = s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '/'))
        && !matches!(
            s,
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "Yes" | "No"
        );
    if plain_safe { s.to_string() } else { serde_json::to_string(s).unwrap_or_default() }
}

/// Generates a config. `random(n)` must return `n` fresh random bytes. The
/// returned text holds keys, so it is [`SecretBytes`] (UTF-8).
pub fn generate(
    opts: &GenerateOptions,
    random: &mut dyn FnMut(usize) -> Result<SecretBytes, String>,
) -> Result<SecretBytes, GenerateError> {
    let providers =
        if opts.providers.is_empty() { vec![DEFAULT_PROVIDER] } else { opts.providers.clone() };
    let mut seen = Vec::new();
    for p in &providers {
        if seen.contains(p) {
            return Err(GenerateError::DuplicateProvider(p.as_str()));
        }
        seen.push(*p);
    }
    let resources = if opts.resources.is_empty() {
        vec!["secrets".to_string()]
    } else {
        opts.resources.clone()
    };
    let key_name = opts.key_name.clone().unwrap_or_else(|| opts.date.key_name());
    let d = opts.date;

    let mut y = String::new();
    let _ = writeln!(
        y,
        "# EncryptionConfiguration generated by atrest {} on {:04}-{:02}-{:02}.",
        env!("CARGO_PKG_VERSION"),
        d.year,
        d.month,
        d.day
    );
    let _ = writeln!(
        y,
        "# It contains keys: keep it mode 0600, owned by root, identical on every control-plane node."
    );
    let _ = writeln!(
        y,
        "# The first provider encrypts new writes; the others are only used to read existing data."
    );
    y.push_str("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources:\n");
    for r in &resources {
        let _ = writeln!(y, "      - {}", scalar(r));
    }
    y.push_str("    providers:\n");
    let engine = base64::engine::general_purpose::STANDARD;
    for p in &providers {
        match p {
            GenProvider::AesGcm | GenProvider::AesCbc | GenProvider::Secretbox => {
                let key = random(32).map_err(GenerateError::Random)?;
                let b64 = SecretBytes::new(engine.encode(key.expose()).into_bytes());
                let _ = write!(
                    y,
                    "      - {}:\n          keys:\n            - name: {}\n              secret: ",
                    p.as_str(),
                    scalar(&key_name)
                );
                y.push_str(std::str::from_utf8(b64.expose()).unwrap_or(""));
                y.push('\n');
            }
            GenProvider::Kms => {
                let endpoint =
                    opts.kms_endpoint.as_deref().ok_or(GenerateError::KmsEndpointMissing)?;
                let _ = writeln!(
                    y,
                    "      - kms:\n          apiVersion: v2\n          name: {}\n          endpoint: {}\n          timeout: 3s",
                    scalar(&opts.kms_name),
                    scalar(endpoint)
                );
            }
            GenProvider::Identity => y.push_str("      - identity: {}\n"),
        }
    }
    if opts.identity_fallback && !providers.contains(&GenProvider::Identity) {
        y.push_str("      - identity: {}\n");
    }
    let text = SecretBytes::new(y.into_bytes());
    let checked = check_bytes("<generated>", text.expose(), &LoadOptions::default());
    if !checked.is_valid() {
        return Err(GenerateError::Invalid(checked.diagnostics));
    }
    Ok(text)
}

/// The OS RNG as a [`generate`] source.
pub fn os_random(n: usize) -> Result<SecretBytes, String> {
    SecretBytes::random(n).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lint::{Severity, fails, lint_bytes};
    use crate::config::model::ProviderConfig;

    fn counter() -> impl FnMut(usize) -> Result<SecretBytes, String> {
        let mut n = 0u8;
        move |len| {
            n = n.wrapping_add(1);
            // Distinct, non-text bytes per call (not random, but lint-clean).
            Ok(SecretBytes::new(
                (0..len)
                    .map(|i| (i as u8).wrapping_mul(97).wrapping_add(n).wrapping_add(0x80))
                    .collect(),
            ))
        }
    }

    #[test]
    fn dates_convert() {
        assert_eq!(Date::from_unix(0), Date { year: 1970, month: 1, day: 1 });
        assert_eq!(Date::from_unix(1_795_824_000), Date { year: 2026, month: 11, day: 28 });
        assert_eq!(Date::from_unix(951_782_400), Date { year: 2000, month: 2, day: 29 });
        assert_eq!(Date::from_unix(1_795_824_000).key_name(), "key-20261128");
    }

    #[test]
    fn default_is_secretbox_for_secrets_with_a_dated_key() {
        let opts = GenerateOptions::new(Date::from_unix(1_795_824_000));
        let text = generate(&opts, &mut counter()).unwrap();
        let cfg = crate::config::load_str(std::str::from_utf8(text.expose()).unwrap()).unwrap();
        assert_eq!(cfg.entries.len(), 1);
        assert_eq!(cfg.entries[0].resources[0].to_string(), "secrets");
        match &cfg.entries[0].providers[0] {
            ProviderConfig::Secretbox(k) => {
                assert_eq!(k.keys[0].name, "key-20261128");
                assert_eq!(k.keys[0].secret.len(), 32);
            }
            _ => panic!("expected secretbox"),
        }
        let findings = lint_bytes("<generated>", text.expose(), &LoadOptions::default(), None);
        assert!(!fails(&findings, Severity::Warning), "{findings:?}");
    }

    #[test]
    fn kms_is_always_v2_and_needs_an_endpoint() {
        let mut opts = GenerateOptions::new(Date::from_unix(0));
        opts.providers = vec![GenProvider::Kms, GenProvider::AesCbc];
        assert!(matches!(generate(&opts, &mut counter()), Err(GenerateError::KmsEndpointMissing)));
        opts.kms_endpoint = Some("unix:///var/run/kms.sock".into());
        opts.identity_fallback = true;
        opts.resources = vec!["secrets".into(), "configmaps".into()];
        let text = generate(&opts, &mut counter()).unwrap();
        let s = std::str::from_utf8(text.expose()).unwrap();
        assert!(s.contains("apiVersion: v2"), "{s}");
        let cfg = crate::config::load_str(s).unwrap();
        assert_eq!(cfg.entries[0].providers.len(), 3);
    }

    #[test]
    fn bad_resources_are_refused_with_the_apiserver_message() {
        let mut opts = GenerateOptions::new(Date::from_unix(0));
        opts.resources = vec!["Secrets".into()];
        let e = match generate(&opts, &mut counter()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        };
        assert!(e.contains("resource name should not contain capital letters"), "{e}");
        opts.resources = vec!["*.".into()];
        assert!(generate(&opts, &mut counter()).is_ok());
    }
}
