//! The `aesgcm` provider: AES-GCM with a random 96-bit nonce, bound to the
//! etcd key.
//!
//! Body layout after `k8s:enc:aesgcm:v1:<name>:` is
//! `nonce(12) || ciphertext || tag(16)`; the authenticated data is the full
//! etcd key. AES-128, -192 or -256 by key length (16, 24, 32 bytes). This
//! module owns only the per-key cipher; key choice lives in
//! [`crate::crypto::chain`].
//!
//! The expanded AES key is rebuilt from the [`SecretBytes`] on every call (a
//! few dozen nanoseconds with AES-NI) so no key schedule outlives the call.

use aes_gcm::aead::AeadInOut;
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::inout::InOutBuf;
use aes_gcm::{AesGcm, KeyInit};

use super::chain::{KeyCipher, LocalProvider, NO_MATCHING_AES_KEY};
use super::{CryptoError, Provider};
use crate::config::KeySet;
use crate::format::prefix::ProviderKind;
use crate::secret::SecretBytes;

/// Nonce length (Go's `gcm.NonceSize()`).
pub const NONCE_LEN: usize = 12;
/// GCM tag length.
pub const TAG_LEN: usize = 16;

type Aes128Gcm = AesGcm<aes::Aes128, U12>;
type Aes192Gcm = AesGcm<aes::Aes192, U12>;
type Aes256Gcm = AesGcm<aes::Aes256, U12>;

/// One aesgcm key.
pub struct GcmKey {
    key: SecretBytes,
}

impl GcmKey {
    /// A key of 16, 24 or 32 bytes; `name` is for the error only.
    pub fn new(name: &str, key: SecretBytes) -> Result<Self, CryptoError> {
        match key.len() {
            16 | 24 | 32 => Ok(Self { key }),
            n => Err(CryptoError::InvalidKey {
                provider: "aesgcm",
                key: name.to_string(),
                reason: format!("{n} bytes; AES needs 16, 24 or 32"),
            }),
        }
    }

    /// Seals with a caller-chosen nonce (tests and vectors only need this;
    /// [`KeyCipher::seal_body`] draws the nonce from the OS RNG).
    pub fn seal_with_nonce(
        &self,
        nonce: [u8; NONCE_LEN],
        plaintext: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let buf = out.get_mut(NONCE_LEN..).unwrap_or_default();
        let tag = match self.key.len() {
            16 => seal_in::<Aes128Gcm>(self.key.expose(), &nonce, aad, buf),
            24 => seal_in::<Aes192Gcm>(self.key.expose(), &nonce, aad, buf),
            _ => seal_in::<Aes256Gcm>(self.key.expose(), &nonce, aad, buf),
        }
        .ok_or(CryptoError::InvalidKey {
            provider: "aesgcm",
            key: String::new(),
            reason: "encryption failed".into(),
        })?;
        out.extend_from_slice(&tag);
        Ok(out)
    }
}

fn seal_in<C: KeyInit + AeadInOut<NonceSize = U12>>(
    key: &[u8],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> Option<Vec<u8>> {
    let cipher = C::new_from_slice(key).ok()?;
    let tag = cipher.encrypt_inout_detached(&(*nonce).into(), aad, buf.into()).ok()?;
    Some(tag.to_vec())
}

/// Decrypts `ct` into `out` (same length) straight from where the value
/// lies (the snapshot map): no copy first. Nothing is written to `out`
/// unless the tag verifies.
fn open_in<C: KeyInit + AeadInOut<NonceSize = U12>>(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    ct: &[u8],
    out: &mut [u8],
    tag: &[u8],
) -> bool {
    let (Ok(cipher), Ok(nonce), Ok(tag), Ok(buf)) =
        (C::new_from_slice(key), nonce.try_into(), tag.try_into(), InOutBuf::new(ct, out))
    else {
        return false;
    };
    cipher.decrypt_inout_detached(nonce, aad, buf, tag).is_ok()
}

impl KeyCipher for GcmKey {
    fn seal_body(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| CryptoError::Rng)?;
        self.seal_with_nonce(nonce, plaintext, aad)
    }

    fn open_body(&self, body: &[u8], aad: &[u8], name: &str) -> Result<Vec<u8>, CryptoError> {
        if body.len() < NONCE_LEN {
            return Err(CryptoError::TooShort { needed: NONCE_LEN, got: body.len() });
        }
        let fail = || CryptoError::DidNotDecrypt { provider: "aesgcm", key: name.to_string() };
        let (nonce, rest) = body.split_at(NONCE_LEN);
        let ct_len = rest.len().checked_sub(TAG_LEN).ok_or_else(fail)?;
        let (ct, tag) = rest.split_at(ct_len);
        let mut buf = vec![0; ct.len()];
        let ok = match self.key.len() {
            16 => open_in::<Aes128Gcm>(self.key.expose(), nonce, aad, ct, &mut buf, tag),
            24 => open_in::<Aes192Gcm>(self.key.expose(), nonce, aad, ct, &mut buf, tag),
            _ => open_in::<Aes256Gcm>(self.key.expose(), nonce, aad, ct, &mut buf, tag),
        };
        if ok { Ok(buf) } else { Err(fail()) }
    }
}

/// The aesgcm provider for a key set (first key writes).
pub fn provider(keys: &KeySet) -> Result<impl Provider + use<>, CryptoError> {
    LocalProvider::build(ProviderKind::AesGcm, keys, NO_MATCHING_AES_KEY, |k| {
        GcmKey::new(&k.name, k.secret.duplicate())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn upstream_legacy_vector_decrypts() {
        // TestGCMLegacyDataCompatibility in k8s.io/apiserver aes_test.go
        let k = GcmKey::new("k", SecretBytes::from_slice(b"snorlax_awesomes")).unwrap();
        let data = hex(
            "9f27c8fcea8a58c467d8e437dbf2d85955f9b4bd912f4ef967d788a0cb07797dac0a3f0a0845605ca85ac8562b4ae1",
        );
        assert_eq!(k.open_body(&data, b"bamboo", "k").unwrap(), b"pandas are the best");
        assert!(k.open_body(&data, b"bamboO", "k").is_err());
        let nonce: [u8; 12] = data[..12].try_into().unwrap();
        assert_eq!(k.seal_with_nonce(nonce, b"pandas are the best", b"bamboo").unwrap(), data);
    }

    #[test]
    fn key_lengths_and_short_input() {
        for len in [16, 24, 32] {
            let k = GcmKey::new("k", SecretBytes::new(vec![7; len])).unwrap();
            let body = k.seal_body(b"abc", b"aad").unwrap();
            assert_eq!(body.len(), 12 + 3 + 16);
            assert_eq!(k.open_body(&body, b"aad", "k").unwrap(), b"abc");
        }
        assert!(GcmKey::new("k", SecretBytes::new(vec![7; 31])).is_err());
        let k = GcmKey::new("k", SecretBytes::new(vec![7; 32])).unwrap();
        for n in 0..28 {
            assert!(k.open_body(&vec![0u8; n], b"", "k").is_err());
        }
        assert!(matches!(k.open_body(&[0u8; 11], b"", "k"), Err(CryptoError::TooShort { .. })));
    }
}
