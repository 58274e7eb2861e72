//! Key rotation and provider migration as a state machine.
//!
//! This module owns deriving the rotation stage of each resource entry from
//! the config files (and scan evidence), planning the next step, and applying
//! it atomically. The stage is always derived, never stored.
//!
//! One transition model covers key rotation, provider migration, enabling
//! and disabling encryption: per `resources` entry, from write slot A to B,
//! `prepare` (B second), `promote` (B first, A second), re-encrypt (done by
//! the cluster), `prune` (A removed once evidence shows nothing under it).
//! Every step is a [`plan::Plan`] (a redacted diff) before it is a write, and
//! the clock and the randomness are injected ([`Clock`], [`Entropy`]) so
//! tests neither sleep nor depend on the OS RNG. Design notes:
//! `docs/rotation.md`.
//!
//! Submodules: [`doc`] (the YAML with line spans), [`stage`] (derivation),
//! [`evidence`] (scan counts), [`plan`] (steps and text edits), [`apply`]
//! (lock, backup, atomic replace), [`archive`] (retired keys), [`status`]
//! (several nodes' files), [`runbook`] (Markdown procedure).

pub mod apply;
pub mod archive;
pub mod doc;
pub mod evidence;
pub mod execute;
pub mod plan;
pub mod runbook;
pub mod stage;
pub mod status;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::secret::SecretBytes;

pub use evidence::{Evidence, evidence_from_findings};
pub use plan::{Outcome, Plan, Step};
pub use stage::{EntryStage, Stage};

/// The time source (injected so tests are deterministic).
pub trait Clock {
    /// Seconds since the Unix epoch, UTC.
    fn now_unix(&self) -> u64;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    }
}

/// A fixed clock for tests and reproducible plans.
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now_unix(&self) -> u64 {
        self.0
    }
}

/// The randomness source for new keys, salts and nonces (injected).
pub trait Entropy {
    /// `len` fresh random bytes.
    fn bytes(&mut self, len: usize) -> Result<SecretBytes, RotationError>;
}

/// The operating system's CSPRNG (via [`SecretBytes::random`]).
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn bytes(&mut self, len: usize) -> Result<SecretBytes, RotationError> {
        SecretBytes::random(len).map_err(|e| RotationError::Random(e.to_string()))
    }
}

/// A deterministic byte stream for tests only: **not** random.
pub struct CountingEntropy(pub u8);

impl Entropy for CountingEntropy {
    fn bytes(&mut self, len: usize) -> Result<SecretBytes, RotationError> {
        let out = (0..len)
            .map(|_| {
                self.0 = self.0.wrapping_add(1);
                self.0
            })
            .collect();
        Ok(SecretBytes::new(out))
    }
}

/// `YYYYMMDDTHHMMSSZ` of a Unix time (UTC), as used in key and backup names.
pub fn timestamp(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let (y, m, d) = crate::civil::civil_from_days(days);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Errors of rotation.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// The config file does not parse.
    #[error("{path}: {source}")]
    Doc {
        /// The file.
        path: String,
        /// The problem.
        source: doc::DocError,
    },
    /// The config would not load after the edit (a bug; nothing was written).
    #[error("the edited config does not validate (nothing written): {0}")]
    Invalid(String),
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The OS RNG failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    /// Bad options.
    #[error("{0}")]
    Usage(String),
}

impl RotationError {
    pub(crate) fn io(what: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { what, path: path.display().to_string(), source }
    }
}

/// `sha256:<hex>` of file bytes: the `last_config_info` hash kube-apiserver
/// reports and `atrest hash` prints.
pub fn file_hash(bytes: &[u8]) -> String {
    crate::config::load::content_hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_civil_dates() {
        assert_eq!(timestamp(0), "19700101T000000Z");
        assert_eq!(timestamp(951_782_400), "20000229T000000Z");
        assert_eq!(timestamp(1_795_885_800), "20261128T171000Z");
    }

    #[test]
    fn file_hash_matches_sha256sum() {
        assert_eq!(
            file_hash(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
