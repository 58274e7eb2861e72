//! The `identity` provider: values stored as they are.
//!
//! Writes pass the plaintext through; reads return it unless it starts with
//! `k8s:enc:`, which identity refuses (kube-apiserver's
//! "identity transformer tried to read encrypted data"). The same type serves
//! as the encrypt-check transformer for resources no config entry covers.

use super::{CryptoError, KeyUsed, Opened, Provider};
use crate::format::prefix::ENCRYPTED_MARKER;

/// The identity provider (empty prefix).
pub struct Identity;

impl Provider for Identity {
    fn prefix(&self) -> &[u8] {
        b""
    }

    fn seal(&self, plaintext: &[u8], _aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Ok(plaintext.to_vec())
    }

    fn open(&self, data: &[u8], _aad: &[u8]) -> Result<Opened, CryptoError> {
        if data.starts_with(ENCRYPTED_MARKER) {
            return Err(CryptoError::IdentityReadEncrypted);
        }
        Ok(Opened { plaintext: data.to_vec(), key: KeyUsed::Identity, stale: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_plaintext_and_refuses_encrypted() {
        assert_eq!(Identity.seal(b"{}", b"k").unwrap(), b"{}");
        assert_eq!(Identity.open(b"{}", b"k").unwrap().plaintext, b"{}");
        assert!(matches!(
            Identity.open(b"k8s:enc:x", b"k"),
            Err(CryptoError::IdentityReadEncrypted)
        ));
    }
}
