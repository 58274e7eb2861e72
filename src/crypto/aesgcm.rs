//! The `aesgcm` provider: AES-GCM with a random 96-bit nonce, bound to the
//! etcd key.
//!
//! Body layout after `k8s:enc:aesgcm:v1:<name>:` is
//! `nonce(12) || ciphertext || tag(16)`; the authenticated data is the full
//! etcd key. AES-128, -192 or -256 by key length (16, 24, 32 bytes). This
//! module owns only the per-key cipher; key choice lives in
//! [`crate::crypto::chain`].
//!
//! Two implementations sit behind [`GcmKey`], chosen per key by
//! [`GcmBackend::for_key_len`]: where the CPU has what it needs, AES-128 and
//! AES-256 keys run on `graviola`, which expands the key schedule and the
//! GHASH powers once per key and zeroes both when the key is dropped (a
//! verify scan decrypts with the same few keys millions of times). AES-192
//! keys, other CPUs and other architectures run on RustCrypto's `aes-gcm`,
//! which expands the key on every call so no schedule outlives it. Both give
//! the same bytes; `tests/vectors.rs` holds each to the Python vectors.

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

/// Which implementation runs a [`GcmKey`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GcmBackend {
    /// `graviola`: AES-128 and AES-256 on x86_64 with AES-NI, PCLMULQDQ,
    /// AVX2, BMI1 and ADX, or on aarch64 with AES, PMULL, SHA2 and NEON. The
    /// key schedule and GHASH table live as long as the key and are zeroed
    /// on drop.
    Accelerated,
    /// RustCrypto `aes-gcm`: every key length on every CPU; the AES key is
    /// expanded from the secret on every call.
    Portable,
}

impl GcmBackend {
    /// The backend a key of `len` bytes gets on this machine.
    pub fn for_key_len(len: usize) -> Self {
        if matches!(len, 16 | 32) && cpu_runs_accelerated() {
            Self::Accelerated
        } else {
            Self::Portable
        }
    }

    /// A short name for verbose output and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accelerated => "accelerated (graviola)",
            Self::Portable => "portable (RustCrypto)",
        }
    }
}

/// Whether this CPU has every feature `graviola` needs (it refuses to run,
/// with a panic, on one that lacks any).
#[cfg(target_arch = "x86_64")]
fn cpu_runs_accelerated() -> bool {
    std::arch::is_x86_feature_detected!("aes")
        && std::arch::is_x86_feature_detected!("pclmulqdq")
        && std::arch::is_x86_feature_detected!("ssse3")
        && std::arch::is_x86_feature_detected!("avx")
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("bmi1")
        && std::arch::is_x86_feature_detected!("adx")
}

#[cfg(target_arch = "aarch64")]
fn cpu_runs_accelerated() -> bool {
    std::arch::is_aarch64_feature_detected!("aes")
        && std::arch::is_aarch64_feature_detected!("pmull")
        && std::arch::is_aarch64_feature_detected!("sha2")
        && std::arch::is_aarch64_feature_detected!("neon")
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn cpu_runs_accelerated() -> bool {
    false
}

enum Cipher {
    /// Boxed so the expanded key is not copied about when the key moves.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    Accelerated(Box<graviola::aead::AesGcm>),
    Portable(SecretBytes),
}

/// One aesgcm key.
pub struct GcmKey {
    cipher: Cipher,
}

impl GcmKey {
    /// A key of 16, 24 or 32 bytes on the best backend this machine has;
    /// `name` is for the error only.
    pub fn new(name: &str, key: SecretBytes) -> Result<Self, CryptoError> {
        Self::with_backend(name, key, GcmBackend::Accelerated)
    }

    /// A key on a chosen backend; [`GcmBackend::Accelerated`] falls back to
    /// the portable one where [`GcmBackend::for_key_len`] would (AES-192,
    /// a CPU without the features). Tests use this to hold both backends to
    /// the same vectors.
    pub fn with_backend(
        name: &str,
        key: SecretBytes,
        backend: GcmBackend,
    ) -> Result<Self, CryptoError> {
        if !matches!(key.len(), 16 | 24 | 32) {
            return Err(CryptoError::InvalidKey {
                provider: "aesgcm",
                key: name.to_string(),
                reason: format!("{} bytes; AES needs 16, 24 or 32", key.len()),
            });
        }
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        if backend == GcmBackend::Accelerated
            && GcmBackend::for_key_len(key.len()) == GcmBackend::Accelerated
        {
            let cipher = Box::new(graviola::aead::AesGcm::new(key.expose()));
            return Ok(Self { cipher: Cipher::Accelerated(cipher) });
        }
        let _ = backend;
        Ok(Self { cipher: Cipher::Portable(key) })
    }

    /// The backend this key runs on.
    pub fn backend(&self) -> GcmBackend {
        match self.cipher {
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Cipher::Accelerated(_) => GcmBackend::Accelerated,
            Cipher::Portable(_) => GcmBackend::Portable,
        }
    }

    /// Seals with a caller-chosen nonce (tests and vectors only need this;
    /// `KeyCipher::seal_body` draws the nonce from the OS RNG).
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
        let tag = match &self.cipher {
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Cipher::Accelerated(cipher) => {
                let mut tag = [0u8; TAG_LEN];
                cipher.encrypt(&nonce, aad, buf, &mut tag);
                Some(tag)
            }
            Cipher::Portable(key) => match key.len() {
                16 => seal_in::<Aes128Gcm>(key.expose(), &nonce, aad, buf),
                24 => seal_in::<Aes192Gcm>(key.expose(), &nonce, aad, buf),
                _ => seal_in::<Aes256Gcm>(key.expose(), &nonce, aad, buf),
            },
        }
        .ok_or(CryptoError::InvalidKey {
            provider: "aesgcm",
            key: String::new(),
            reason: "encryption failed".into(),
        })?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Opens `nonce || ciphertext || tag` with `aad` (the etcd key); `name`
    /// is the key's name, for the error only.
    pub fn open(&self, body: &[u8], aad: &[u8], name: &str) -> Result<Vec<u8>, CryptoError> {
        if body.len() < NONCE_LEN {
            return Err(CryptoError::TooShort { needed: NONCE_LEN, got: body.len() });
        }
        let fail = || CryptoError::DidNotDecrypt { provider: "aesgcm", key: name.to_string() };
        let (nonce, rest) = body.split_at(NONCE_LEN);
        let ct_len = rest.len().checked_sub(TAG_LEN).ok_or_else(fail)?;
        let (ct, tag) = rest.split_at(ct_len);
        let (buf, ok) = match &self.cipher {
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            Cipher::Accelerated(cipher) => {
                // graviola decrypts in place and zeroes the buffer when the
                // tag does not verify.
                let mut buf = ct.to_vec();
                let ok = match <&[u8; NONCE_LEN]>::try_from(nonce) {
                    Ok(nonce) => cipher.decrypt(nonce, aad, &mut buf, tag).is_ok(),
                    Err(_) => false,
                };
                (buf, ok)
            }
            Cipher::Portable(key) => {
                let mut buf = vec![0; ct.len()];
                let ok = match key.len() {
                    16 => open_in::<Aes128Gcm>(key.expose(), nonce, aad, ct, &mut buf, tag),
                    24 => open_in::<Aes192Gcm>(key.expose(), nonce, aad, ct, &mut buf, tag),
                    _ => open_in::<Aes256Gcm>(key.expose(), nonce, aad, ct, &mut buf, tag),
                };
                (buf, ok)
            }
        };
        if ok { Ok(buf) } else { Err(fail()) }
    }
}

fn seal_in<C: KeyInit + AeadInOut<NonceSize = U12>>(
    key: &[u8],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> Option<[u8; TAG_LEN]> {
    let cipher = C::new_from_slice(key).ok()?;
    let tag = cipher.encrypt_inout_detached(&(*nonce).into(), aad, buf.into()).ok()?;
    tag.as_slice().try_into().ok()
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
        self.open(body, aad, name)
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

    const BACKENDS: [GcmBackend; 2] = [GcmBackend::Accelerated, GcmBackend::Portable];

    fn key(len: usize, backend: GcmBackend) -> GcmKey {
        GcmKey::with_backend("k", SecretBytes::new(vec![7; len]), backend).unwrap()
    }

    #[test]
    fn upstream_legacy_vector_decrypts() {
        // TestGCMLegacyDataCompatibility in k8s.io/apiserver aes_test.go
        for backend in BACKENDS {
            let k =
                GcmKey::with_backend("k", SecretBytes::from_slice(b"snorlax_awesomes"), backend)
                    .unwrap();
            let data = hex(
                "9f27c8fcea8a58c467d8e437dbf2d85955f9b4bd912f4ef967d788a0cb07797dac0a3f0a0845605ca85ac8562b4ae1",
            );
            assert_eq!(k.open_body(&data, b"bamboo", "k").unwrap(), b"pandas are the best");
            assert!(k.open_body(&data, b"bamboO", "k").is_err());
            let nonce: [u8; 12] = data[..12].try_into().unwrap();
            assert_eq!(k.seal_with_nonce(nonce, b"pandas are the best", b"bamboo").unwrap(), data);
        }
    }

    #[test]
    fn key_lengths_and_short_input() {
        for backend in BACKENDS {
            for len in [16, 24, 32] {
                let k = key(len, backend);
                let body = k.seal_body(b"abc", b"aad").unwrap();
                assert_eq!(body.len(), 12 + 3 + 16);
                assert_eq!(k.open_body(&body, b"aad", "k").unwrap(), b"abc");
            }
            assert!(GcmKey::with_backend("k", SecretBytes::new(vec![7; 31]), backend).is_err());
            let k = key(32, backend);
            for n in 0..28 {
                assert!(k.open_body(&vec![0u8; n], b"", "k").is_err());
            }
            assert!(matches!(k.open_body(&[0u8; 11], b"", "k"), Err(CryptoError::TooShort { .. })));
        }
    }

    #[test]
    fn aes192_and_portable_requests_run_portable() {
        assert_eq!(key(24, GcmBackend::Accelerated).backend(), GcmBackend::Portable);
        for len in [16, 24, 32] {
            assert_eq!(key(len, GcmBackend::Portable).backend(), GcmBackend::Portable);
            assert_eq!(
                GcmKey::new("k", SecretBytes::new(vec![7; len])).unwrap().backend(),
                GcmBackend::for_key_len(len)
            );
        }
    }

    #[test]
    fn backends_open_each_others_values_across_block_boundaries() {
        // Lengths around graviola's 8-block (128-byte) stride and the
        // 16-byte block, with and without authenticated data.
        for len in [16, 32] {
            let (fast, portable) =
                (key(len, GcmBackend::Accelerated), key(len, GcmBackend::Portable));
            for n in [0, 1, 15, 16, 17, 127, 128, 129, 255, 256, 1000, 4164, 8192] {
                let plaintext: Vec<u8> = (0..n).map(|i| (i * 31 % 251) as u8).collect();
                for aad in [&b""[..], b"/registry/secrets/default/s"] {
                    let nonce = [n as u8; NONCE_LEN];
                    let a = fast.seal_with_nonce(nonce, &plaintext, aad).unwrap();
                    let b = portable.seal_with_nonce(nonce, &plaintext, aad).unwrap();
                    assert_eq!(a, b, "{len}-byte key, {n}-byte plaintext");
                    assert_eq!(portable.open_body(&a, aad, "k").unwrap(), plaintext);
                    assert_eq!(fast.open_body(&b, aad, "k").unwrap(), plaintext);
                    let mut tampered = a.clone();
                    let last = tampered.len() - 1;
                    tampered[last] ^= 1;
                    assert!(fast.open_body(&tampered, aad, "k").is_err());
                    assert!(portable.open_body(&tampered, aad, "k").is_err());
                }
            }
        }
    }
}
