//! The KMS v1 envelope: `uint16 BE length || encryptedDEK || payload`.
//!
//! This module owns the byte layout that kube-apiserver's KMS v1 envelope
//! transformer writes after the `k8s:enc:kms:v1:<name>:` prefix (written with
//! `cryptobyte.AddUint16LengthPrefixed`, read with `ReadUint16LengthPrefixed`).
//! It performs no cryptography and no I/O: the encrypted DEK is opaque plugin
//! output and the payload is AES-GCM (or, for data written before 1.25,
//! AES-CBC) ciphertext that [`crate::crypto::kms`] opens.

use super::reader::{ReadError, Reader};

/// Errors decoding or encoding a KMS v1 envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsV1Error {
    /// The length prefix or the DEK it announces is missing (upstream text, then our detail).
    #[error(
        "invalid data encountered by envelope transformer: failed to read uint16 length prefixed data ({0})"
    )]
    LengthPrefixed(ReadError),
    /// The encrypted DEK does not fit a uint16 length prefix.
    #[error("encrypted DEK is {0} bytes, which exceeds the uint16 length prefix maximum of 65535")]
    DekTooLong(usize),
}

/// A decoded KMS v1 envelope, borrowing from the stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// The DEK as encrypted by the plugin (opaque; length chosen by the plugin).
    pub encrypted_dek: &'a [u8],
    /// The payload: `nonce(12) || ct || tag(16)` (GCM) or `iv(16) || ct` (legacy CBC).
    pub payload: &'a [u8],
}

/// Decodes the bytes after `k8s:enc:kms:v1:<name>:`.
pub fn decode(data: &[u8]) -> Result<Envelope<'_>, KmsV1Error> {
    let mut r = Reader::new(data);
    let n = r.u16_be("kms v1 encrypted DEK length").map_err(KmsV1Error::LengthPrefixed)?;
    let encrypted_dek =
        r.take(usize::from(n), "kms v1 encrypted DEK").map_err(KmsV1Error::LengthPrefixed)?;
    Ok(Envelope { encrypted_dek, payload: r.rest() })
}

/// Encodes an envelope (the inverse of [`decode`]).
pub fn encode(encrypted_dek: &[u8], payload: &[u8]) -> Result<Vec<u8>, KmsV1Error> {
    let n = u16::try_from(encrypted_dek.len())
        .map_err(|_| KmsV1Error::DekTooLong(encrypted_dek.len()))?;
    let mut out = Vec::with_capacity(2 + encrypted_dek.len() + payload.len());
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(encrypted_dek);
    out.extend_from_slice(payload);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_the_length_prefixed_dek() {
        let env = decode(&[0, 3, b'a', b'b', b'c', 9, 9]).unwrap();
        assert_eq!(env.encrypted_dek, b"abc");
        assert_eq!(env.payload, &[9, 9]);
        let env = decode(&[0, 0]).unwrap();
        assert!(env.encrypted_dek.is_empty() && env.payload.is_empty());
    }

    #[test]
    fn truncations_fail_with_the_upstream_text() {
        for bad in [&[][..], &[0][..], &[0, 4, 1, 2, 3][..]] {
            let err = decode(bad).unwrap_err();
            assert!(
                err.to_string().starts_with(
                    "invalid data encountered by envelope transformer: failed to read uint16 length prefixed data"
                ),
                "{err}"
            );
        }
        let err = decode(&[0, 4, 1, 2, 3]).unwrap_err();
        assert_eq!(
            err,
            KmsV1Error::LengthPrefixed(ReadError {
                what: "kms v1 encrypted DEK",
                offset: 2,
                needed: 4,
                available: 3
            })
        );
    }

    #[test]
    fn oversized_dek_is_refused() {
        assert_eq!(encode(&vec![0; 65536], b"x"), Err(KmsV1Error::DekTooLong(65536)));
        assert!(encode(&vec![0; 65535], b"x").is_ok());
    }

    proptest! {
        #[test]
        fn round_trips(dek in proptest::collection::vec(any::<u8>(), 0..600),
                       payload in proptest::collection::vec(any::<u8>(), 0..600)) {
            let bytes = encode(&dek, &payload).unwrap();
            let env = decode(&bytes).unwrap();
            prop_assert_eq!(env.encrypted_dek, &dek[..]);
            prop_assert_eq!(env.payload, &payload[..]);
            prop_assert_eq!(encode(env.encrypted_dek, env.payload).unwrap(), bytes);
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&data);
        }
    }
}
