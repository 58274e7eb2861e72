//! The `aescbc` provider: AES-CBC with PKCS#7 padding and a random IV.
//!
//! Body layout after `k8s:enc:aescbc:v1:<name>:` is
//! `IV(16) || AES-CBC(plaintext || padding)`. There is **no MAC and no
//! authenticated data**: a value moved to another etcd key still reads, and a
//! wrong key carrying the same name passes the padding check about 1 time in
//! 256 (see [`crate::crypto::chain`]). The read checks and their order match
//! kube-apiserver's `cbc.TransformFromStorage`: too short, not a block
//! multiple, padding byte 0 or too large, padding bytes differ. A body of
//! exactly one IV and no blocks is reported as bad padding ("empty").

use aes::cipher::block_padding::{NoPadding, Pkcs7};
use aes::cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit,
};

use super::chain::{KeyCipher, LocalProvider, NO_MATCHING_AES_KEY};
use super::{CryptoError, Provider};
use crate::config::KeySet;
use crate::format::prefix::ProviderKind;
use crate::secret::SecretBytes;

/// IV and block length.
pub const BLOCK: usize = 16;

const ERR_PKCS7_DATA: &str = "invalid PKCS7 data (empty or not padded)";
const ERR_PKCS7_PADDING: &str = "invalid padding on input";

/// One aescbc key.
pub struct CbcKey {
    key: SecretBytes,
}

impl CbcKey {
    /// A key of 16, 24 or 32 bytes; `name` is for the error only.
    pub fn new(name: &str, key: SecretBytes) -> Result<Self, CryptoError> {
        match key.len() {
            16 | 24 | 32 => Ok(Self { key }),
            n => Err(CryptoError::InvalidKey {
                provider: "aescbc",
                key: name.to_string(),
                reason: format!("{n} bytes; AES needs 16, 24 or 32"),
            }),
        }
    }

    /// Seals with a caller-chosen IV (tests only; `KeyCipher::seal_body`
    /// draws it from the OS RNG).
    pub fn seal_with_iv(&self, iv: [u8; BLOCK], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let ct = match self.key.len() {
            16 => enc::<aes::Aes128>(self.key.expose(), &iv, plaintext),
            24 => enc::<aes::Aes192>(self.key.expose(), &iv, plaintext),
            _ => enc::<aes::Aes256>(self.key.expose(), &iv, plaintext),
        }
        .ok_or(CryptoError::InvalidKey {
            provider: "aescbc",
            key: String::new(),
            reason: "encryption failed".into(),
        })?;
        let mut out = Vec::with_capacity(BLOCK + ct.len());
        out.extend_from_slice(&iv);
        out.extend_from_slice(&ct);
        Ok(out)
    }
}

fn enc<C: BlockCipherEncrypt + KeyInit>(key: &[u8], iv: &[u8], pt: &[u8]) -> Option<Vec<u8>> {
    let mode = cbc::Encryptor::<C>::new_from_slices(key, iv).ok()?;
    Some(mode.encrypt_padded_vec::<Pkcs7>(pt))
}

fn dec<C: BlockCipherDecrypt + KeyInit>(key: &[u8], iv: &[u8], ct: &[u8]) -> Option<Vec<u8>> {
    let mode = cbc::Decryptor::<C>::new_from_slices(key, iv).ok()?;
    mode.decrypt_padded_vec::<NoPadding>(ct).ok()
}

impl KeyCipher for CbcKey {
    fn seal_body(&self, plaintext: &[u8], _aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut iv = [0u8; BLOCK];
        getrandom::fill(&mut iv).map_err(|_| CryptoError::Rng)?;
        self.seal_with_iv(iv, plaintext)
    }

    fn open_body(&self, body: &[u8], _aad: &[u8], name: &str) -> Result<Vec<u8>, CryptoError> {
        if body.len() < BLOCK {
            return Err(CryptoError::TooShort { needed: BLOCK, got: body.len() });
        }
        let (iv, ct) = body.split_at(BLOCK);
        if ct.len() % BLOCK != 0 {
            return Err(CryptoError::NotBlockMultiple { len: ct.len() });
        }
        let bad = |detail| CryptoError::BadPadding { key: name.to_string(), detail };
        let mut pt = match self.key.len() {
            16 => dec::<aes::Aes128>(self.key.expose(), iv, ct),
            24 => dec::<aes::Aes192>(self.key.expose(), iv, ct),
            _ => dec::<aes::Aes256>(self.key.expose(), iv, ct),
        }
        .ok_or_else(|| bad(ERR_PKCS7_DATA))?;
        let Some(&last) = pt.last() else { return Err(bad(ERR_PKCS7_DATA)) };
        let pad = usize::from(last);
        if pad == 0 || pad > pt.len() {
            return Err(bad(ERR_PKCS7_DATA));
        }
        let keep = pt.len() - pad;
        if pt.get(keep..).unwrap_or_default().iter().any(|&b| b != last) {
            return Err(bad(ERR_PKCS7_PADDING));
        }
        pt.truncate(keep);
        Ok(pt)
    }
}

/// The aescbc provider for a key set (first key writes).
pub fn provider(keys: &KeySet) -> Result<impl Provider + use<>, CryptoError> {
    LocalProvider::build(ProviderKind::AesCbc, keys, NO_MATCHING_AES_KEY, |k| {
        CbcKey::new(&k.name, k.secret.duplicate())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_always_one_to_sixteen_bytes() {
        let k = CbcKey::new("k", SecretBytes::new(vec![1; 32])).unwrap();
        for n in [0usize, 1, 15, 16, 17, 32] {
            let body = k.seal_body(&vec![0xab; n], b"").unwrap();
            assert_eq!(body.len(), 16 + (n / 16 + 1) * 16);
            assert_eq!(k.open_body(&body, b"other aad", "k").unwrap(), vec![0xab; n]);
        }
    }

    #[test]
    fn read_checks_in_upstream_order() {
        let k = CbcKey::new("k", SecretBytes::new(vec![1; 16])).unwrap();
        assert!(matches!(k.open_body(&[0; 15], b"", "k"), Err(CryptoError::TooShort { .. })));
        assert!(matches!(
            k.open_body(&[0; 17], b"", "k"),
            Err(CryptoError::NotBlockMultiple { len: 1 })
        ));
        match k.open_body(&[0; 16], b"", "k") {
            Err(CryptoError::BadPadding { detail, .. }) => assert_eq!(detail, ERR_PKCS7_DATA),
            _ => panic!("empty body must fail padding"),
        }
        // Build bodies whose decrypted last block has chosen bytes, using the
        // IV to steer the plaintext of a single block.
        let zero_ct = [0u8; 16];
        let d = dec::<aes::Aes128>(&[1; 16], &[0; 16], &zero_ct).unwrap();
        let body_with = |want: [u8; 16]| {
            let mut iv = [0u8; 16];
            for i in 0..16 {
                iv[i] = d[i] ^ want[i];
            }
            [iv.to_vec(), zero_ct.to_vec()].concat()
        };
        let mut p = [0x41u8; 16];
        p[15] = 0;
        assert!(matches!(
            k.open_body(&body_with(p), b"", "k"),
            Err(CryptoError::BadPadding { detail: ERR_PKCS7_DATA, .. })
        ));
        p[15] = 17;
        assert!(matches!(
            k.open_body(&body_with(p), b"", "k"),
            Err(CryptoError::BadPadding { detail: ERR_PKCS7_DATA, .. })
        ));
        p[15] = 2;
        p[14] = 3;
        assert!(matches!(
            k.open_body(&body_with(p), b"", "k"),
            Err(CryptoError::BadPadding { detail: ERR_PKCS7_PADDING, .. })
        ));
        p[14] = 2;
        assert_eq!(k.open_body(&body_with(p), b"", "k").unwrap(), vec![0x41; 14]);
        p = [16; 16];
        assert_eq!(k.open_body(&body_with(p), b"", "k").unwrap(), Vec::<u8>::new());
    }
}
