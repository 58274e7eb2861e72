//! The KMS v2 `EncryptedObject` protobuf stored after `k8s:enc:kms:v2:<name>:`.
//!
//! This module owns the wire layout of `v2.EncryptedObject` (proto3, from
//! `k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2/api.proto`) as
//! a hand-written prost message (no code generation), and the checks of
//! upstream `ValidateEncryptedObject`, which the apiserver runs on every read
//! and write. It performs no cryptography and no I/O: `encryptedData` is
//! opaque AES-GCM output that [`crate::crypto::kms`] opens.
//!
//! Encoding is deterministic (fields in tag order, annotations sorted by key,
//! proto3 defaults omitted), so decoding an apiserver value and encoding it
//! again gives the same bytes.

use std::collections::BTreeMap;

use prost::Message;

/// Maximum size of `keyID` in bytes (`KeyIDMaxSize`).
pub const KEY_ID_MAX_SIZE: usize = 1024;
/// Maximum size of `encryptedDEKSource` in bytes.
pub const ENCRYPTED_DEK_SOURCE_MAX_SIZE: usize = 1024;
/// Maximum total size of annotation keys plus values in bytes.
pub const ANNOTATIONS_MAX_SIZE: usize = 32 * 1024;

/// `EncryptedDEKSourceType`: what the plugin-encrypted `encryptedDEKSource` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum EncryptedDekSourceType {
    /// `AES_GCM_KEY`: the source is the AES-GCM DEK itself (1.25–1.28 default).
    AesGcmKey = 0,
    /// `HKDF_SHA256_XNONCE_AES_GCM_SEED`: the source is a seed for HKDF-Expand (1.29+).
    HkdfSha256XnonceAesGcmSeed = 1,
}

impl EncryptedDekSourceType {
    /// The upstream enum name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AesGcmKey => "AES_GCM_KEY",
            Self::HkdfSha256XnonceAesGcmSeed => "HKDF_SHA256_XNONCE_AES_GCM_SEED",
        }
    }
}

/// `v2.EncryptedObject`, field for field.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct EncryptedObject {
    /// Field 1 `encryptedData`: the AES-GCM payload.
    #[prost(bytes = "vec", tag = "1")]
    pub encrypted_data: Vec<u8>,
    /// Field 2 `keyID`: the KMS key encryption key ID at write time.
    #[prost(string, tag = "2")]
    pub key_id: String,
    /// Field 3 `encryptedDEKSource` (`encryptedDEK` before 1.28): plugin ciphertext of the DEK or seed.
    #[prost(bytes = "vec", tag = "3")]
    pub encrypted_dek_source: Vec<u8>,
    /// Field 4 `annotations`: plugin-supplied, passed back to Decrypt.
    #[prost(btree_map = "string, bytes", tag = "4")]
    pub annotations: BTreeMap<String, Vec<u8>>,
    /// Field 5 `encryptedDEKSourceType` (raw; see [`EncryptedObject::source_type`]).
    #[prost(enumeration = "EncryptedDekSourceType", tag = "5")]
    pub encrypted_dek_source_type: i32,
}

/// Errors decoding or validating an `EncryptedObject`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsV2Error {
    /// The bytes are not a valid protobuf `EncryptedObject`.
    #[error("failed to unmarshal kms v2 EncryptedObject: {0}")]
    Protobuf(String),
    /// `encryptedDEKSourceType` is neither 0 nor 1.
    #[error("unknown encryptedDEKSourceType: {0}")]
    UnknownSourceType(i32),
    /// `encryptedData` is empty.
    #[error("encrypted data is empty")]
    EmptyData,
    /// `encryptedDEKSource` is empty or too long.
    #[error("failed to validate encrypted DEK source: {0}")]
    DekSource(String),
    /// `keyID` is empty or too long.
    #[error("failed to validate key id: {0}")]
    KeyId(String),
    /// Annotation keys are not FQDNs or annotations are too large.
    #[error("failed to validate annotations: {}", .0.join(", "))]
    Annotations(Vec<String>),
}

impl EncryptedObject {
    /// The source type, if it is one upstream knows.
    pub fn source_type(&self) -> Result<EncryptedDekSourceType, KmsV2Error> {
        EncryptedDekSourceType::try_from(self.encrypted_dek_source_type)
            .map_err(|_| KmsV2Error::UnknownSourceType(self.encrypted_dek_source_type))
    }

    /// Upstream `ValidateEncryptedObject`: the checks run in the same order.
    pub fn validate(&self) -> Result<(), KmsV2Error> {
        self.source_type()?;
        if self.encrypted_data.is_empty() {
            return Err(KmsV2Error::EmptyData);
        }
        validate_encrypted_dek_source(&self.encrypted_dek_source)?;
        validate_key_id(&self.key_id).map_err(KmsV2Error::KeyId)?;
        validate_annotations(&self.annotations)
    }

    /// Protobuf encoding (deterministic; see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode_to_vec()
    }
}

/// Decodes the bytes after `k8s:enc:kms:v2:<name>:` without validating them.
pub fn decode(data: &[u8]) -> Result<EncryptedObject, KmsV2Error> {
    EncryptedObject::decode(data).map_err(|e| KmsV2Error::Protobuf(e.to_string()))
}

/// Decodes and runs [`EncryptedObject::validate`], as the apiserver does on read.
pub fn decode_validated(data: &[u8]) -> Result<EncryptedObject, KmsV2Error> {
    let obj = decode(data)?;
    obj.validate()?;
    Ok(obj)
}

/// Validates then encodes, as the apiserver does on write.
pub fn encode_validated(obj: &EncryptedObject) -> Result<Vec<u8>, KmsV2Error> {
    obj.validate()?;
    Ok(obj.to_bytes())
}

fn validate_encrypted_dek_source(src: &[u8]) -> Result<(), KmsV2Error> {
    if src.is_empty() {
        return Err(KmsV2Error::DekSource("encrypted DEK source is empty".into()));
    }
    if src.len() > ENCRYPTED_DEK_SOURCE_MAX_SIZE {
        return Err(KmsV2Error::DekSource(format!(
            "encrypted DEK source is {} bytes, which exceeds the max size of {}",
            src.len(),
            ENCRYPTED_DEK_SOURCE_MAX_SIZE
        )));
    }
    Ok(())
}

/// Upstream `ValidateKeyID`: non-empty and at most [`KEY_ID_MAX_SIZE`] bytes.
pub fn validate_key_id(key_id: &str) -> Result<(), String> {
    if key_id.is_empty() {
        return Err("keyID is empty".into());
    }
    if key_id.len() > KEY_ID_MAX_SIZE {
        return Err(format!(
            "keyID is {} bytes, which exceeds the max size of {}",
            key_id.len(),
            KEY_ID_MAX_SIZE
        ));
    }
    Ok(())
}

fn validate_annotations(annotations: &BTreeMap<String, Vec<u8>>) -> Result<(), KmsV2Error> {
    let mut errs = Vec::new();
    let mut total: u64 = 0;
    for (k, v) in annotations {
        if let Err(e) = fqdn(k) {
            errs.push(e);
        }
        total = total.saturating_add(k.len() as u64).saturating_add(v.len() as u64);
    }
    if total > ANNOTATIONS_MAX_SIZE as u64 {
        errs.push(format!(
            "total size of annotations is {total}, which exceeds the max size of {ANNOTATIONS_MAX_SIZE}"
        ));
    }
    if errs.is_empty() { Ok(()) } else { Err(KmsV2Error::Annotations(errs)) }
}

const DNS1123_LABEL_MAX: usize = 63;
const DNS1123_SUBDOMAIN_MAX: usize = 253;

fn is_dns1123_label(label: &str) -> bool {
    let b = label.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.len() <= DNS1123_LABEL_MAX
        && b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter().all(|c| alnum(c) || *c == b'-')
}

/// apimachinery `IsFullyQualifiedDomainName`: an RFC 1123 subdomain with at
/// least two labels (one trailing dot allowed).
fn fqdn(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("annotations: Required value".into());
    }
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.len() > DNS1123_SUBDOMAIN_MAX {
        return Err(format!(
            "annotations: Invalid value: {trimmed:?}: must be no more than {DNS1123_SUBDOMAIN_MAX} characters"
        ));
    }
    if !trimmed.split('.').all(is_dns1123_label) {
        return Err(format!(
            "annotations: Invalid value: {trimmed:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')"
        ));
    }
    if trimmed.split('.').count() < 2 {
        return Err(format!(
            "annotations: Invalid value: {trimmed:?}: should be a domain with at least two segments separated by dots"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> EncryptedObject {
        EncryptedObject {
            encrypted_data: vec![1; 60],
            key_id: "1".into(),
            encrypted_dek_source: b"c2VlZA==".to_vec(),
            annotations: [("local-kek.kms.kubernetes.io".to_string(), b"x".to_vec())].into(),
            encrypted_dek_source_type: 1,
        }
    }

    #[test]
    fn field_five_is_omitted_when_zero() {
        let mut o = sample();
        let with = o.to_bytes();
        assert_eq!(&with[with.len() - 2..], &[0x28, 0x01]);
        o.encrypted_dek_source_type = 0;
        let without = o.to_bytes();
        assert_eq!(without.len() + 2, with.len());
        assert_eq!(decode(&without).unwrap(), o);
    }

    #[test]
    fn validation_follows_upstream_order_and_text() {
        assert_eq!(sample().validate(), Ok(()));
        let mut o = sample();
        o.encrypted_dek_source_type = 2;
        o.encrypted_data.clear();
        assert_eq!(o.validate().unwrap_err().to_string(), "unknown encryptedDEKSourceType: 2");
        let mut o = sample();
        o.encrypted_data.clear();
        assert_eq!(o.validate().unwrap_err().to_string(), "encrypted data is empty");
        let mut o = sample();
        o.encrypted_dek_source = vec![0; 1025];
        assert_eq!(
            o.validate().unwrap_err().to_string(),
            "failed to validate encrypted DEK source: encrypted DEK source is 1025 bytes, which exceeds the max size of 1024"
        );
        o.encrypted_dek_source = vec![0; 1024];
        assert_eq!(o.validate(), Ok(()));
        o.encrypted_dek_source.clear();
        assert!(o.validate().unwrap_err().to_string().contains("encrypted DEK source is empty"));
        let mut o = sample();
        o.key_id = "k".repeat(1025);
        assert_eq!(
            o.validate().unwrap_err().to_string(),
            "failed to validate key id: keyID is 1025 bytes, which exceeds the max size of 1024"
        );
        o.key_id = "k".repeat(1024);
        assert_eq!(o.validate(), Ok(()));
        o.key_id.clear();
        assert_eq!(
            o.validate().unwrap_err().to_string(),
            "failed to validate key id: keyID is empty"
        );
    }

    #[test]
    fn annotation_keys_must_be_fqdns_and_small() {
        for good in ["a.b", "local-kek.kms.kubernetes.io", "x.y.", "1.2"] {
            assert_eq!(fqdn(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "nodot",
            "Upper.case",
            "a..b",
            "-a.b",
            "a-.b",
            "a_b.c",
            ".",
            "a.b..",
            &format!("{}.b", "a".repeat(64)),
        ] {
            assert!(fqdn(bad).is_err(), "{bad:?}");
        }
        let mut o = sample();
        o.annotations.insert("Bad_Key".into(), vec![]);
        let err = o.validate().unwrap_err().to_string();
        assert!(
            err.starts_with(
                "failed to validate annotations: annotations: Invalid value: \"Bad_Key\""
            ),
            "{err}"
        );
        let mut o = sample();
        o.annotations = [("a.b".to_string(), vec![0; 32 * 1024 - 3])].into();
        assert_eq!(o.validate(), Ok(()));
        o.annotations = [("a.b".to_string(), vec![0; 32 * 1024 - 2])].into();
        assert_eq!(
            o.validate().unwrap_err().to_string(),
            "failed to validate annotations: total size of annotations is 32769, which exceeds the max size of 32768"
        );
    }

    #[test]
    fn upstream_values_round_trip_byte_exactly() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../fixtures/vectors/kms/upstream-v2.json"))
                .unwrap();
        let prefix = b"k8s:enc:kms:v2:kms-provider:";
        let mut types = Vec::new();
        for v in fixture["vectors"].as_array().unwrap() {
            let value = hex::decode(v["value_hex"].as_str().unwrap()).unwrap();
            let body = value.strip_prefix(&prefix[..]).unwrap();
            let obj = decode_validated(body).unwrap();
            assert_eq!(obj.key_id, "1");
            assert_eq!(
                obj.annotations.get("local-kek.kms.kubernetes.io").map(Vec::as_slice),
                Some(&b"encrypted-local-kek"[..])
            );
            assert_eq!(obj.source_type().unwrap().as_str(), v["source_type"].as_str().unwrap());
            types.push(obj.encrypted_dek_source_type);
            assert_eq!(obj.to_bytes(), body, "{}", v["name"]);
        }
        assert_eq!(types, vec![0, 1]);
    }

    #[test]
    fn garbage_is_a_protobuf_error() {
        assert!(matches!(decode(&[0x0a, 0x05, 1]), Err(KmsV2Error::Protobuf(_))));
        assert!(matches!(decode(&[0x12, 0x01, 0xff]), Err(KmsV2Error::Protobuf(_))));
    }

    proptest! {
        #[test]
        fn round_trips(data in proptest::collection::vec(any::<u8>(), 1..200),
                       key_id in "[ -~]{1,40}",
                       src in proptest::collection::vec(any::<u8>(), 1..100),
                       ann in proptest::collection::btree_map("[a-z]{1,8}\\.[a-z]{1,8}", proptest::collection::vec(any::<u8>(), 1..20), 0..4),
                       ty in 0i32..2) {
            let o = EncryptedObject { encrypted_data: data, key_id, encrypted_dek_source: src, annotations: ann, encrypted_dek_source_type: ty };
            let bytes = encode_validated(&o).unwrap();
            let back = decode_validated(&bytes).unwrap();
            prop_assert_eq!(&back, &o);
            prop_assert_eq!(back.to_bytes(), bytes);
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = decode_validated(&data);
        }
    }
}
