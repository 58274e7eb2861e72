//! The symmetric primitives of the KMS payloads: AES-GCM with the apiserver's
//! `nonce(12) || ct || tag(16)` layout, legacy AES-CBC/PKCS#7 (`iv(16) || ct`)
//! for KMS v1 data written before 1.25, and the KMS v2 extended-nonce scheme
//! (HKDF-Expand-SHA256 of a seed, then AES-256-GCM).
//!
//! Inputs are untrusted: every length is checked before slicing. Failures are
//! opaque (`None`/`Err(())`), the caller names the provider and key.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, KeyIvInit};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::crypto::CryptoError;
use crate::secret::SecretBytes;

/// GCM nonce size.
pub const NONCE_SIZE: usize = 12;
/// GCM tag size.
pub const TAG_SIZE: usize = 16;
/// KMS v2 extended-nonce `info` size (`infoSizeExtendedNonceGCM`).
pub const INFO_SIZE: usize = 32;
/// KMS v2 minimum seed size (`MinSeedSizeExtendedNonceGCM`).
pub const MIN_SEED_SIZE: usize = 32;

type Aes192Gcm = AesGcm<aes::Aes192, U12>;

fn gcm<A: Aead + KeyInit>(
    key: &[u8],
    nonce: &[u8],
    msg: &[u8],
    aad: &[u8],
    seal: bool,
) -> Option<Vec<u8>> {
    let cipher = A::new_from_slice(key).ok()?;
    let nonce = aes_gcm::aead::Nonce::<A>::try_from(nonce).ok()?;
    let payload = Payload { msg, aad };
    if seal { cipher.encrypt(&nonce, payload).ok() } else { cipher.decrypt(&nonce, payload).ok() }
}

fn gcm_any(key: &[u8], nonce: &[u8], msg: &[u8], aad: &[u8], seal: bool) -> Option<Vec<u8>> {
    match key.len() {
        16 => gcm::<Aes128Gcm>(key, nonce, msg, aad, seal),
        24 => gcm::<Aes192Gcm>(key, nonce, msg, aad, seal),
        32 => gcm::<Aes256Gcm>(key, nonce, msg, aad, seal),
        _ => None,
    }
}

/// Whether `key` is an AES key length (16, 24 or 32 bytes).
pub fn is_aes_key(key: &[u8]) -> bool {
    matches!(key.len(), 16 | 24 | 32)
}

/// Opens `nonce(12) || ct || tag(16)`.
pub fn gcm_open(key: &SecretBytes, data: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if data.len() < NONCE_SIZE {
        return Err(CryptoError::TooShort { needed: NONCE_SIZE, got: data.len() });
    }
    let (nonce, ct) = data.split_at(NONCE_SIZE);
    gcm_any(key.expose(), nonce, ct, aad, false).ok_or_else(opaque)
}

/// Seals with a random nonce into `nonce(12) || ct || tag(16)`.
pub fn gcm_seal(key: &SecretBytes, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_SIZE];
    getrandom::fill(&mut nonce).map_err(|_| CryptoError::Rng)?;
    let ct = gcm_any(key.expose(), &nonce, plaintext, aad, true).ok_or_else(opaque)?;
    let mut out = Vec::with_capacity(NONCE_SIZE + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens legacy `iv(16) || AES-CBC(pt || PKCS#7)`; no AAD, no MAC.
pub fn cbc_open(key: &SecretBytes, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    const BLOCK: usize = 16;
    if data.len() < BLOCK {
        return Err(CryptoError::TooShort { needed: BLOCK, got: data.len() });
    }
    let (iv, ct) = data.split_at(BLOCK);
    if ct.is_empty() || ct.len() % BLOCK != 0 {
        return Err(opaque());
    }
    let k = key.expose();
    let out = match k.len() {
        16 => cbc::Decryptor::<aes::Aes128>::new_from_slices(k, iv)
            .ok()
            .and_then(|d| d.decrypt_padded_vec::<Pkcs7>(ct).ok()),
        24 => cbc::Decryptor::<aes::Aes192>::new_from_slices(k, iv)
            .ok()
            .and_then(|d| d.decrypt_padded_vec::<Pkcs7>(ct).ok()),
        32 => cbc::Decryptor::<aes::Aes256>::new_from_slices(k, iv)
            .ok()
            .and_then(|d| d.decrypt_padded_vec::<Pkcs7>(ct).ok()),
        _ => None,
    };
    out.ok_or_else(opaque)
}

/// `HKDF-Expand(SHA-256, PRK = seed, info, L = 32)` (no Extract, no salt).
pub fn derive_key(seed: &SecretBytes, info: &[u8]) -> Result<SecretBytes, CryptoError> {
    if seed.len() < MIN_SEED_SIZE {
        return Err(CryptoError::Envelope(format!(
            "invalid seed length {} used for key generation",
            seed.len()
        )));
    }
    let hk = Hkdf::<Sha256>::from_prk(seed.expose()).map_err(|_| opaque())?;
    let mut buf = zeroize::Zeroizing::new([0u8; 32]);
    hk.expand(info, &mut buf[..]).map_err(|_| opaque())?;
    Ok(SecretBytes::from_slice(&buf[..]))
}

/// Opens KMS v2 seed-mode data `info(32) || nonce(12) || ct || tag(16)`.
pub fn xnonce_open(seed: &SecretBytes, data: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if data.len() < INFO_SIZE {
        return Err(CryptoError::TooShort { needed: INFO_SIZE, got: data.len() });
    }
    let (info, rest) = data.split_at(INFO_SIZE);
    let key = derive_key(seed, info)?;
    gcm_open(&key, rest, aad).map_err(|e| match e {
        CryptoError::TooShort { needed, got } => {
            CryptoError::TooShort { needed: needed + INFO_SIZE, got: got + INFO_SIZE }
        }
        e => e,
    })
}

/// Seals in KMS v2 seed mode with random `info` and nonce.
pub fn xnonce_seal(
    seed: &SecretBytes,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let mut info = [0u8; INFO_SIZE];
    getrandom::fill(&mut info).map_err(|_| CryptoError::Rng)?;
    let key = derive_key(seed, &info)?;
    let sealed = gcm_seal(&key, plaintext, aad)?;
    let mut out = Vec::with_capacity(INFO_SIZE + sealed.len());
    out.extend_from_slice(&info);
    out.extend_from_slice(&sealed);
    Ok(out)
}

// The caller replaces this with a `DidNotDecrypt` naming provider and key.
fn opaque() -> CryptoError {
    CryptoError::DidNotDecrypt { provider: "kms", key: String::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn upstream_gcm_legacy_vector_opens() {
        let key = SecretBytes::from_slice(b"snorlax_awesomes");
        let data = h(
            "9f27c8fcea8a58c467d8e437dbf2d85955f9b4bd912f4ef967d788a0cb07797dac0a3f0a0845605ca85ac8562b4ae1",
        );
        assert_eq!(gcm_open(&key, &data, b"bamboo").unwrap(), b"pandas are the best");
        assert!(gcm_open(&key, &data, b"bambo0").is_err());
    }

    #[test]
    fn upstream_extended_nonce_vector_opens() {
        let seed =
            SecretBytes::new(h("5d40323a820ff95561675e3b95e81867c5fdd561d35a88a2d08b08aa9d4fcf5c"));
        let data = h(
            "2442759e33945fbad709db577a0f037fd8a709fc76979b8942209debcecb9d57efe3d6ff6a1ef6ee9a5003b9833b3043cec1e47b35175b151107a8d2416b0e296bbf66b5d102fcefdf9a78f293d271",
        );
        let key = derive_key(&seed, &data[..32]).unwrap();
        assert_eq!(
            key.expose(),
            &h("6e58b7659c304b0c382f42f16bd700465def1dead80bf6f1bf1d52073bdb0c00")[..]
        );
        assert_eq!(xnonce_open(&seed, &data, b"bamboo").unwrap(), b"pandas are the best");
        let short = SecretBytes::new(vec![1; 31]);
        assert_eq!(
            xnonce_open(&short, &data, b"bamboo").unwrap_err().to_string(),
            "malformed envelope: invalid seed length 31 used for key generation"
        );
    }

    #[test]
    fn seal_open_round_trip_and_truncation() {
        let seed = SecretBytes::random(32).unwrap();
        let sealed = xnonce_seal(&seed, b"hello", b"/registry/x").unwrap();
        assert_eq!(sealed.len(), 32 + 12 + 5 + 16);
        assert_eq!(xnonce_open(&seed, &sealed, b"/registry/x").unwrap(), b"hello");
        for n in 0..sealed.len() {
            assert!(xnonce_open(&seed, &sealed[..n], b"/registry/x").is_err(), "{n}");
        }
        let dek = SecretBytes::random(24).unwrap();
        let sealed = gcm_seal(&dek, b"", b"a").unwrap();
        assert_eq!(gcm_open(&dek, &sealed, b"a").unwrap(), b"");
        assert!(cbc_open(&dek, &sealed).is_err());
    }
}
