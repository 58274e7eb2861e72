//! The `secretbox` provider: NaCl secretbox (XSalsa20-Poly1305), 32-byte keys.
//!
//! Body layout after `k8s:enc:secretbox:v1:<name>:` is
//! `nonce(24) || Poly1305 tag(16) || XSalsa20 ciphertext`: the tag comes
//! **first**, in NaCl's order (Go's `x/crypto/nacl/secretbox`, PyNaCl). No
//! authenticated data: the value is not bound to its etcd key, although the
//! ciphertext itself is authenticated. We use the crate's detached API and lay
//! the tag out ourselves so the order is explicit here, not a crate default.

use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Nonce, Tag, XSalsa20Poly1305};

use super::chain::{KeyCipher, LocalProvider, NO_MATCHING_SECRETBOX_KEY};
use super::{CryptoError, Provider};
use crate::config::KeySet;
use crate::format::prefix::ProviderKind;
use crate::secret::SecretBytes;

/// Nonce length.
pub const NONCE_LEN: usize = 24;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;
/// Key length.
pub const KEY_LEN: usize = 32;

/// One secretbox key.
pub struct SecretboxKey {
    key: SecretBytes,
}

impl SecretboxKey {
    /// A 32-byte key; `name` is for the error only.
    pub fn new(name: &str, key: SecretBytes) -> Result<Self, CryptoError> {
        if key.len() != KEY_LEN {
            return Err(CryptoError::InvalidKey {
                provider: "secretbox",
                key: name.to_string(),
                reason: format!("{} bytes; secretbox needs 32", key.len()),
            });
        }
        Ok(Self { key })
    }

    fn cipher(&self) -> Result<XSalsa20Poly1305, CryptoError> {
        XSalsa20Poly1305::new_from_slice(self.key.expose()).map_err(|_| CryptoError::InvalidKey {
            provider: "secretbox",
            key: String::new(),
            reason: "bad length".into(),
        })
    }

    /// Seals with a caller-chosen nonce (tests only; `KeyCipher::seal_body`
    /// draws it from the OS RNG).
    pub fn seal_with_nonce(
        &self,
        nonce: [u8; NONCE_LEN],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut ct = plaintext.to_vec();
        let tag = self
            .cipher()?
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), b"", &mut ct)
            .map_err(|_| CryptoError::Rng)?;
        let mut out = Vec::with_capacity(NONCE_LEN + TAG_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(tag.as_slice());
        out.extend_from_slice(&ct);
        Ok(out)
    }
}

impl KeyCipher for SecretboxKey {
    fn seal_body(&self, plaintext: &[u8], _aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| CryptoError::Rng)?;
        self.seal_with_nonce(nonce, plaintext)
    }

    fn open_body(&self, body: &[u8], _aad: &[u8], name: &str) -> Result<Vec<u8>, CryptoError> {
        // Go: `if len(data) < 24+secretbox.Overhead` → too short.
        if body.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::TooShort { needed: NONCE_LEN + TAG_LEN, got: body.len() });
        }
        let (nonce, rest) = body.split_at(NONCE_LEN);
        let (tag, ct) = rest.split_at(TAG_LEN);
        let mut pt = ct.to_vec();
        // kube-apiserver's text for this failure is the misleading
        // "output array was not large enough for encryption".
        self.cipher()?
            .decrypt_in_place_detached(Nonce::from_slice(nonce), b"", &mut pt, Tag::from_slice(tag))
            .map_err(|_| CryptoError::DidNotDecrypt {
                provider: "secretbox",
                key: name.to_string(),
            })?;
        Ok(pt)
    }
}

/// The secretbox provider for a key set (first key writes).
pub fn provider(keys: &KeySet) -> Result<impl Provider + use<>, CryptoError> {
    LocalProvider::build(ProviderKind::Secretbox, keys, NO_MATCHING_SECRETBOX_KEY, |k| {
        SecretboxKey::new(&k.name, k.secret.duplicate())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_comes_first_and_round_trips() {
        let k = SecretboxKey::new("k", SecretBytes::new(vec![9; 32])).unwrap();
        let body = k.seal_with_nonce([3; 24], b"").unwrap();
        assert_eq!(body.len(), 40);
        assert_eq!(k.open_body(&body, b"", "k").unwrap(), b"");
        let body = k.seal_with_nonce([3; 24], b"hello").unwrap();
        // Flipping the last byte (ciphertext under NaCl order) must break the tag.
        let mut t = body.clone();
        *t.last_mut().unwrap() ^= 1;
        assert!(k.open_body(&t, b"", "k").is_err());
        assert!(matches!(k.open_body(&body[..39], b"", "k"), Err(CryptoError::TooShort { .. })));
        assert!(SecretboxKey::new("k", SecretBytes::new(vec![9; 16])).is_err());
    }
}
