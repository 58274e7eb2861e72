//! Passphrase sealing for files atrest writes (the retired-key archive):
//! argon2id key derivation and XChaCha20-Poly1305.
//!
//! This is not an apiserver format; it lives here because this module owns
//! every cryptographic primitive. Callers own the file layout and pass the
//! salt, nonce, cost parameters and associated data.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::secret::SecretBytes;

/// argon2id costs: memory in KiB, passes, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Cost {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

/// Why sealing or opening failed. Never carries key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PassphraseError {
    /// Cost parameters out of the accepted range, or rejected by argon2.
    #[error("bad key derivation parameters: {0}")]
    Kdf(String),
    /// The nonce is not 24 bytes.
    #[error("the nonce is not 24 bytes")]
    Nonce,
    /// Wrong passphrase, or the sealed bytes or associated data were modified.
    #[error("did not open: wrong passphrase or modified data")]
    Open,
}

/// Derives a 32-byte key with argon2id (v0x13). Costs above 1 GiB, 100
/// passes or 16 lanes are refused, so a hostile file cannot make us spend
/// unbounded memory or time.
pub fn derive(
    pass: &SecretBytes,
    salt: &[u8],
    cost: Argon2Cost,
) -> Result<SecretBytes, PassphraseError> {
    if cost.m_cost > 1024 * 1024 || cost.t_cost > 100 || cost.p_cost > 16 {
        return Err(PassphraseError::Kdf(
            "costs above the accepted maximum (1 GiB, 100 passes, 16 lanes)".into(),
        ));
    }
    let params = argon2::Params::new(cost.m_cost, cost.t_cost, cost.p_cost, Some(32))
        .map_err(|e| PassphraseError::Kdf(e.to_string()))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new(vec![0u8; 32]);
    a.hash_password_into(pass.expose(), salt, &mut out)
        .map_err(|e| PassphraseError::Kdf(e.to_string()))?;
    Ok(SecretBytes::from_slice(&out))
}

fn cipher(key: &SecretBytes) -> Result<XChaCha20Poly1305, PassphraseError> {
    XChaCha20Poly1305::new_from_slice(key.expose()).map_err(|_| PassphraseError::Open)
}

/// XChaCha20-Poly1305 seal of `plaintext` under `key` (from [`derive()`]).
pub fn seal(
    key: &SecretBytes,
    nonce: &[u8],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, PassphraseError> {
    let n = XNonce::try_from(nonce).map_err(|_| PassphraseError::Nonce)?;
    cipher(key)?.encrypt(&n, Payload { msg: plaintext, aad }).map_err(|_| PassphraseError::Open)
}

/// Opens what [`seal`] made; the plaintext is zeroized on drop.
pub fn open(
    key: &SecretBytes,
    nonce: &[u8],
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PassphraseError> {
    let n = XNonce::try_from(nonce).map_err(|_| PassphraseError::Nonce)?;
    cipher(key)?
        .decrypt(&n, Payload { msg: ciphertext, aad })
        .map(Zeroizing::new)
        .map_err(|_| PassphraseError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Argon2Cost = Argon2Cost { m_cost: 64, t_cost: 1, p_cost: 1 };

    #[test]
    fn round_trip_and_every_failure() {
        let pass = SecretBytes::from_slice(b"correct horse");
        let key = derive(&pass, b"saltsalt", CHEAP).unwrap();
        let ct = seal(&key, &[7; 24], b"keys", b"ad").unwrap();
        assert_eq!(&open(&key, &[7; 24], &ct, b"ad").unwrap()[..], b"keys");
        assert_eq!(open(&key, &[7; 24], &ct, b"other").unwrap_err(), PassphraseError::Open);
        let wrong = derive(&SecretBytes::from_slice(b"wrong"), b"saltsalt", CHEAP).unwrap();
        assert_eq!(open(&wrong, &[7; 24], &ct, b"ad").unwrap_err(), PassphraseError::Open);
        assert_eq!(seal(&key, &[7; 12], b"k", b"").unwrap_err(), PassphraseError::Nonce);
        let huge = Argon2Cost { m_cost: 2 * 1024 * 1024, ..CHEAP };
        assert!(matches!(derive(&pass, b"saltsalt", huge), Err(PassphraseError::Kdf(_))));
    }
}
