//! The stored-value prefix grammar of kube-apiserver's encryption at rest.
//!
//! This module owns the bytes in front of every encrypted value:
//! `k8s:enc:<provider>:v1:<keyName>:` for aescbc, aesgcm and secretbox, and
//! `k8s:enc:kms:v1|v2:<providerName>:` for KMS. It parses a stored value into
//! "plaintext", "encrypted with provider P and name N, body B", or "an unknown
//! `k8s:enc:` prefix", and encodes prefixes back. No cryptography, no I/O.
//!
//! Key names are not escaped and may contain `:` (kube-apiserver's validation
//! does not reject it), while kube-apiserver *matches* by `HasPrefix` against
//! the configured names. So [`parse`] alone cannot know where a name with a
//! `:` ends: it cuts at the first `:` and flags the cut as a guess when the
//! bytes after it look like more name. Code that has a config (the crypto
//! chain) must match configured names with [`key_prefix`] instead.

/// Every encrypted value starts with this; identity refuses to read such values.
pub const ENCRYPTED_MARKER: &[u8] = b"k8s:enc:";

/// A provider kind that has a fixed prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// `k8s:enc:aescbc:v1:`
    AesCbc,
    /// `k8s:enc:aesgcm:v1:`
    AesGcm,
    /// `k8s:enc:secretbox:v1:`
    Secretbox,
    /// `k8s:enc:kms:v1:`
    KmsV1,
    /// `k8s:enc:kms:v2:`
    KmsV2,
}

impl ProviderKind {
    /// All kinds, in the order prefixes are tried by [`parse`].
    pub const ALL: [ProviderKind; 5] =
        [Self::AesCbc, Self::AesGcm, Self::Secretbox, Self::KmsV1, Self::KmsV2];

    /// The provider-level prefix, e.g. `k8s:enc:aesgcm:v1:`.
    pub fn prefix(self) -> &'static [u8] {
        match self {
            Self::AesCbc => b"k8s:enc:aescbc:v1:",
            Self::AesGcm => b"k8s:enc:aesgcm:v1:",
            Self::Secretbox => b"k8s:enc:secretbox:v1:",
            Self::KmsV1 => b"k8s:enc:kms:v1:",
            Self::KmsV2 => b"k8s:enc:kms:v2:",
        }
    }

    /// A short name: `aescbc`, `aesgcm`, `secretbox`, `kms-v1`, `kms-v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AesCbc => "aescbc",
            Self::AesGcm => "aesgcm",
            Self::Secretbox => "secretbox",
            Self::KmsV1 => "kms-v1",
            Self::KmsV2 => "kms-v2",
        }
    }

    /// Whether the name after the prefix is a KMS provider name (not a key name).
    pub fn is_kms(self) -> bool {
        matches!(self, Self::KmsV1 | Self::KmsV2)
    }

    /// Whether a `:` inside the name is possible. KMS v2 names may not contain
    /// `:` (validation rejects it); key names and KMS v1 names are unchecked.
    pub fn name_may_contain_colon(self) -> bool {
        !matches!(self, Self::KmsV2)
    }
}

/// What a stored value is, judged by its prefix alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredValue<'a> {
    /// No `k8s:enc:` marker: the object as kube-apiserver encoded it.
    Plaintext(&'a [u8]),
    /// A known provider prefix followed by `<name>:` and the body.
    Encrypted {
        /// The provider kind.
        kind: ProviderKind,
        /// The key (or KMS provider) name, cut at the first `:`.
        name: &'a [u8],
        /// Everything after `<name>:`.
        body: &'a [u8],
        /// True when the cut at the first `:` is a guess: the name may be
        /// longer (names may contain `:`) because the body starts with more
        /// name-like bytes followed by `:`.
        name_ambiguous: bool,
    },
    /// A known provider prefix but no `:` ends the name: truncated or corrupt.
    Unterminated {
        /// The provider kind.
        kind: ProviderKind,
        /// Everything after the provider prefix.
        rest: &'a [u8],
    },
    /// `k8s:enc:` followed by something no known provider writes.
    Unknown {
        /// Everything after `k8s:enc:`.
        rest: &'a [u8],
    },
}

impl StoredValue<'_> {
    /// Whether the value carries the `k8s:enc:` marker.
    pub fn is_encrypted(&self) -> bool {
        !matches!(self, Self::Plaintext(_))
    }
}

/// Longest run of name-like bytes considered when flagging a guessed cut.
const MAX_NAME_TAIL: usize = 253;

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

/// Parses a stored value's prefix. Never fails: every byte string is one of
/// the [`StoredValue`] cases.
pub fn parse(value: &[u8]) -> StoredValue<'_> {
    let Some(after_marker) = value.strip_prefix(ENCRYPTED_MARKER) else {
        return StoredValue::Plaintext(value);
    };
    for kind in ProviderKind::ALL {
        let Some(rest) = value.strip_prefix(kind.prefix()) else { continue };
        let Some(colon) = rest.iter().position(|&b| b == b':') else {
            return StoredValue::Unterminated { kind, rest };
        };
        let (name, body) = (&rest[..colon], &rest[colon + 1..]);
        let name_ambiguous = kind.name_may_contain_colon() && looks_like_more_name(body);
        return StoredValue::Encrypted { kind, name, body, name_ambiguous };
    }
    StoredValue::Unknown { rest: after_marker }
}

/// Whether `body` begins with 1..=253 name-like bytes followed by `:`.
fn looks_like_more_name(body: &[u8]) -> bool {
    let run = body.iter().take(MAX_NAME_TAIL + 1).take_while(|&&b| is_name_byte(b)).count();
    (1..=MAX_NAME_TAIL).contains(&run) && body.get(run) == Some(&b':')
}

/// The prefix a provider writes for key (or KMS provider) `name`:
/// provider prefix, then `name`, then `:`.
pub fn key_prefix(kind: ProviderKind, name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(kind.prefix().len() + name.len() + 1);
    out.extend_from_slice(kind.prefix());
    out.extend_from_slice(name);
    out.push(b':');
    out
}

/// A full stored value: [`key_prefix`] followed by `body`.
pub fn encode(kind: ProviderKind, name: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = key_prefix(kind, name);
    out.extend_from_slice(body);
    out
}

/// If `value` starts with the prefix for (`kind`, `name`), the body after it.
/// This is the `HasPrefix` match kube-apiserver performs against a configured
/// name, and it is exact even for names containing `:`.
pub fn strip_key_prefix<'a>(value: &'a [u8], kind: ProviderKind, name: &[u8]) -> Option<&'a [u8]> {
    value.strip_prefix(kind.prefix())?.strip_prefix(name)?.strip_prefix(b":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plaintext_and_unknown() {
        assert_eq!(parse(b"k8s\0abc"), StoredValue::Plaintext(b"k8s\0abc"));
        assert_eq!(parse(b"{}"), StoredValue::Plaintext(b"{}"));
        assert_eq!(parse(b""), StoredValue::Plaintext(b""));
        assert_eq!(parse(b"k8s:enc"), StoredValue::Plaintext(b"k8s:enc"));
        assert_eq!(parse(b"k8s:enc:"), StoredValue::Unknown { rest: b"" });
        assert_eq!(
            parse(b"k8s:enc:aesgcm:v2:k:x"),
            StoredValue::Unknown { rest: b"aesgcm:v2:k:x" }
        );
        assert_eq!(parse(b"k8s:enc:kms:v3:p:x"), StoredValue::Unknown { rest: b"kms:v3:p:x" });
    }

    #[test]
    fn known_prefixes() {
        let v = parse(b"k8s:enc:aesgcm:v1:key1:\x01\x02");
        assert_eq!(
            v,
            StoredValue::Encrypted {
                kind: ProviderKind::AesGcm,
                name: b"key1",
                body: b"\x01\x02",
                name_ambiguous: false
            }
        );
        let v = parse(b"k8s:enc:kms:v2:my-kms:\x0a\x01");
        assert!(matches!(
            v,
            StoredValue::Encrypted { kind: ProviderKind::KmsV2, name: b"my-kms", .. }
        ));
        assert_eq!(
            parse(b"k8s:enc:secretbox:v1:nocolon"),
            StoredValue::Unterminated { kind: ProviderKind::Secretbox, rest: b"nocolon" }
        );
    }

    #[test]
    fn names_with_colons_are_flagged_as_guesses() {
        let v = parse(b"k8s:enc:aescbc:v1:key:2:\x00\x01");
        assert_eq!(
            v,
            StoredValue::Encrypted {
                kind: ProviderKind::AesCbc,
                name: b"key",
                body: b"2:\x00\x01",
                name_ambiguous: true
            }
        );
        // The configured-name match is exact.
        assert_eq!(
            strip_key_prefix(b"k8s:enc:aescbc:v1:key:2:\x00\x01", ProviderKind::AesCbc, b"key:2"),
            Some(&b"\x00\x01"[..])
        );
        assert_eq!(
            strip_key_prefix(b"k8s:enc:aescbc:v1:key:2:\x00", ProviderKind::AesGcm, b"key:2"),
            None
        );
        // KMS v2 names cannot contain ':', so no guess.
        let v = parse(b"k8s:enc:kms:v2:p:a:b");
        assert!(matches!(v, StoredValue::Encrypted { name_ambiguous: false, .. }));
    }

    proptest! {
        #[test]
        fn encode_then_parse_round_trips(
            k in 0usize..5,
            name in "[a-zA-Z0-9._-]{0,40}",
            body in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let kind = ProviderKind::ALL[k];
            let value = encode(kind, name.as_bytes(), &body);
            prop_assert_eq!(strip_key_prefix(&value, kind, name.as_bytes()), Some(&body[..]));
            match parse(&value) {
                StoredValue::Encrypted { kind: k2, name: n2, body: b2, name_ambiguous } => {
                    prop_assert_eq!(k2, kind);
                    prop_assert_eq!(n2, name.as_bytes());
                    prop_assert_eq!(b2, &body[..]);
                    prop_assert_eq!(name_ambiguous, kind.name_may_contain_colon() && looks_like_more_name(&body));
                    prop_assert_eq!(encode(k2, n2, b2), value);
                }
                other => prop_assert!(false, "parsed as {:?}", other),
            }
        }

        #[test]
        fn parse_never_panics_and_plaintext_is_exactly_unmarked(v in proptest::collection::vec(any::<u8>(), 0..64)) {
            let p = parse(&v);
            prop_assert_eq!(p.is_encrypted(), v.starts_with(ENCRYPTED_MARKER));
        }
    }
}
