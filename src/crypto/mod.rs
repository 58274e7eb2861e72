//! The providers of kube-apiserver's encryption at rest, and the transformer
//! chain that picks among them.
//!
//! This module owns all cryptography in atrest: it is the only module that
//! imports RustCrypto crates. Each apiserver provider (aescbc, aesgcm,
//! secretbox, kms v1, kms v2, identity) implements [`Provider`] in a file of
//! its own; byte layouts come from [`crate::format`], keys from
//! [`crate::secret`]. The chain is built from a validated
//! [`crate::config::EncryptionConfig`] and mirrors `prefixTransformers`:
//! writes use the first provider (and its first key); reads try every
//! provider whose prefix matches, in order, and report which one succeeded
//! and whether the value is stale.
//!
//! Failures are opaque on purpose: "did not decrypt with key K", never why.

pub mod aescbc;
pub mod aesgcm;
pub mod chain;
pub mod identity;
pub mod kms;
pub mod passphrase;
pub mod secretbox;

pub use chain::Chain;

use std::fmt;

/// Errors from sealing or opening a value. No variant carries key material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The stored data is too short for the provider's layout.
    #[error(
        "the stored data was shorter than the required size ({needed} bytes needed, {got} present)"
    )]
    TooShort {
        /// Bytes the layout needs at minimum.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// Authentication or padding failed: wrong key, wrong etcd key (AAD), or tampering.
    #[error("did not decrypt with {provider} key {key:?}")]
    DidNotDecrypt {
        /// Provider type, e.g. `aesgcm`.
        provider: &'static str,
        /// Key or KMS provider name.
        key: String,
    },
    /// No key or provider of the chain owns this value's prefix.
    #[error("{0}")]
    NoMatch(String),
    /// Every provider whose prefix matched failed.
    #[error("no provider could read the value: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    AllFailed(Vec<CryptoError>),
    /// The value's envelope (KMS v1/v2) is malformed.
    #[error("malformed envelope: {0}")]
    Envelope(String),
    /// The KMS plugin could not be reached or refused to unwrap.
    #[error("kms provider {provider:?}: {message}")]
    Kms {
        /// The KMS provider name.
        provider: String,
        /// What went wrong (never key material).
        message: String,
    },
    /// The KMS plugin did not answer (socket missing, connection refused,
    /// timeout): the value could not be checked, which is not proof that it
    /// is unreadable.
    #[error("kms provider {provider:?}: {message}")]
    KmsUnreachable {
        /// The KMS provider name.
        provider: String,
        /// What went wrong.
        message: String,
    },
    /// The identity provider found an encrypted (`k8s:enc:`) value.
    #[error("identity transformer tried to read encrypted data")]
    IdentityReadEncrypted,
    /// The OS random number generator failed.
    #[error("the operating system's random number generator failed")]
    Rng,
    /// aescbc: the data after the IV is not a whole number of 16-byte blocks.
    #[error("the stored data is not a multiple of the block size ({len} bytes after the IV)")]
    NotBlockMultiple {
        /// Bytes after the IV.
        len: usize,
    },
    /// aescbc: PKCS#7 padding check failed (wrong key, or tampering). The
    /// detail is kube-apiserver's text: `invalid PKCS7 data (empty or not
    /// padded)` or `invalid padding on input`.
    #[error("did not decrypt with aescbc key {key:?}: {detail}")]
    BadPadding {
        /// Key name.
        key: String,
        /// kube-apiserver's error text for the failed check.
        detail: &'static str,
    },
    /// A key in the config cannot be used by its provider (wrong length).
    #[error("{provider} key {key:?} cannot be used: {reason}")]
    InvalidKey {
        /// Provider type.
        provider: &'static str,
        /// Key name.
        key: String,
        /// Why (never the key bytes).
        reason: String,
    },
    /// A decryption that succeeded was rejected by the caller's plausibility
    /// check (see [`Provider::open_checked`]).
    #[error("{key} decrypted but the caller rejected the plaintext as implausible")]
    Implausible {
        /// The key whose output was rejected.
        key: KeyUsed,
    },
}

impl CryptoError {
    /// True when the failure says nothing about the value: every provider
    /// that could have read it was a KMS plugin that did not answer.
    pub fn is_unverifiable(&self) -> bool {
        match self {
            Self::KmsUnreachable { .. } => true,
            Self::AllFailed(errs) => !errs.is_empty() && errs.iter().all(Self::is_unverifiable),
            _ => false,
        }
    }
}

/// Which key of which provider read or wrote a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyUsed {
    /// A named key of aescbc/aesgcm/secretbox.
    Local {
        /// `aescbc`, `aesgcm` or `secretbox`.
        provider: &'static str,
        /// The key name from the config.
        name: String,
    },
    /// A KMS provider.
    Kms {
        /// `v1` or `v2`.
        version: &'static str,
        /// The KMS provider name.
        name: String,
        /// KMS v2 key ID (empty for v1).
        key_id: String,
    },
    /// Plaintext through `identity`.
    Identity,
}

impl fmt::Display for KeyUsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local { provider, name } => write!(f, "{provider}/{name}"),
            Self::Kms { version, name, key_id } if key_id.is_empty() => {
                write!(f, "kms{version}/{name}")
            }
            Self::Kms { version, name, key_id } => {
                write!(f, "kms{version}/{name} (keyID {key_id})")
            }
            Self::Identity => write!(f, "identity"),
        }
    }
}

impl KeyUsed {
    /// Whether a successful read with this key proves the key is right.
    ///
    /// `false` for aescbc, which has no MAC: a wrong key under the same name
    /// passes the PKCS#7 check about 1 time in 256 and returns garbage, so a
    /// caller that must be sure (the scanner) checks the plaintext (for example
    /// that it decodes as a Kubernetes object) and uses
    /// [`Chain::open_checked`] to move on to the next candidate if it does not.
    /// Identity proves nothing either. aesgcm, secretbox and KMS
    /// authenticate the ciphertext.
    pub fn authenticates(&self) -> bool {
        match self {
            Self::Local { provider, .. } => *provider != "aescbc",
            Self::Kms { .. } => true,
            Self::Identity => false,
        }
    }
}

/// The result of reading a stored value.
pub struct Opened {
    /// The plaintext (the object as kube-apiserver encoded it).
    pub plaintext: Vec<u8>,
    /// The provider and key that read it.
    pub key: KeyUsed,
    /// True when anything but the first provider/key read it (the apiserver
    /// rewrites such values on the next update).
    pub stale: bool,
}

/// One apiserver provider: seal and open values with their authenticated data
/// (the full etcd key, e.g. `/registry/secrets/default/s1`).
pub trait Provider: Send + Sync {
    /// The provider-level prefix this provider owns: `k8s:enc:aesgcm:v1:`,
    /// `k8s:enc:kms:v2:<name>:`, or empty for identity.
    fn prefix(&self) -> &[u8];

    /// The full stored value (prefix included) for `plaintext` under etcd key `aad`.
    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError>;

    /// Opens `data`, the stored value with [`Provider::prefix`] already removed.
    fn open(&self, data: &[u8], aad: &[u8]) -> Result<Opened, CryptoError>;

    /// Like [`Provider::open`], but a success whose result `accept` rejects
    /// counts as a failure and the next candidate key is tried. Providers with
    /// several candidate keys (aescbc, aesgcm, secretbox) override this; the
    /// default opens once and applies `accept` to the result.
    fn open_checked(
        &self,
        data: &[u8],
        aad: &[u8],
        accept: &mut dyn FnMut(&Opened) -> bool,
    ) -> Result<Opened, CryptoError> {
        let opened = self.open(data, aad)?;
        if accept(&opened) { Ok(opened) } else { Err(CryptoError::Implausible { key: opened.key }) }
    }
}

/// SHA-256 of `data` (integrity checks outside this module, e.g. the
/// trailer of an `etcdctl snapshot save` file, use this instead of
/// importing a hash crate themselves).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}
