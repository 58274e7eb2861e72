//! The transformer chain: kube-apiserver's `prefixTransformers`, twice nested.
//!
//! This module owns provider *selection*: which provider (and, inside a local
//! provider, which key) writes a value, which ones are tried when reading it,
//! whether a read is stale, and the error texts when nothing reads it. It
//! performs no cryptography itself; the providers in the sibling modules do.
//!
//! * Write: the first provider, and inside it the first key.
//! * Read: every provider whose prefix matches (`HasPrefix`), in config order;
//!   an error does not stop the walk; identity's errors are skipped silently.
//!   Inside aescbc/aesgcm/secretbox the same walk runs over the keys, matched
//!   by `<name>:` against the configured names (names may contain `:`).
//! * Stale: read by anything but the first provider, or by anything but the
//!   first key inside it.
//! * No provider configured for a resource: kube-apiserver's encrypt-check
//!   identity (plaintext; refuses `k8s:enc:` values).
//!
//! **aescbc hazard.** aescbc has no MAC. A value written with a different key
//! that carries the same name passes the padding check about 1 time in 256
//! and "decrypts" to garbage; kube-apiserver returns that garbage and only
//! the decoder notices. [`crate::crypto::KeyUsed::authenticates`] says when a
//! success proves nothing, and [`Chain::open_checked`] lets the caller reject
//! an implausible plaintext so the walk continues with the next candidate,
//! which is what a careful reader (the scanner) should do.

use super::{CryptoError, KeyUsed, Opened, Provider};
use crate::config::{EncryptionConfig, GroupResource, KeySet, KmsApiVersion, ProviderConfig};
use crate::format::prefix::{self, ProviderKind};

/// kube-apiserver's error when no provider of the chain matches a value.
pub const NO_MATCHING_PREFIX: &str = "no matching prefix found";
/// Inside aescbc/aesgcm when no key name matches.
pub const NO_MATCHING_AES_KEY: &str = "no matching key was found for the provided AES transformer";
/// Inside secretbox when no key name matches.
pub const NO_MATCHING_SECRETBOX_KEY: &str =
    "no matching key was found for the provided Secretbox transformer";

/// The read/write chain for one resource.
pub struct Chain {
    providers: Vec<Box<dyn Provider>>,
}

impl Chain {
    /// Builds the chain from the providers [`EncryptionConfig::providers_for`]
    /// returned, in that order. An empty list gives the encrypt-check identity.
    ///
    /// A KMS provider whose plugin cannot be set up does not fail the build:
    /// it stays in the chain (so its prefix still matches and staleness is
    /// computed right) and every read or write through it fails with the
    /// setup error. A local key of the wrong length fails the build.
    pub fn new(providers: &[&ProviderConfig]) -> Result<Self, CryptoError> {
        let mut out: Vec<Box<dyn Provider>> = Vec::with_capacity(providers.len());
        for p in providers {
            out.push(match p {
                ProviderConfig::AesGcm(keys) => Box::new(super::aesgcm::provider(keys)?),
                ProviderConfig::AesCbc(keys) => Box::new(super::aescbc::provider(keys)?),
                ProviderConfig::Secretbox(keys) => Box::new(super::secretbox::provider(keys)?),
                ProviderConfig::Identity => Box::new(super::identity::Identity),
                ProviderConfig::Kms(cfg) => match super::kms::provider(cfg) {
                    Ok(p) => p,
                    Err(e) => {
                        let kind = match cfg.api_version {
                            KmsApiVersion::V1 => ProviderKind::KmsV1,
                            KmsApiVersion::V2 => ProviderKind::KmsV2,
                        };
                        Box::new(Unavailable {
                            prefix: prefix::key_prefix(kind, cfg.name.as_bytes()),
                            name: cfg.name.clone(),
                            message: e.to_string(),
                        })
                    }
                },
            });
        }
        Ok(Self { providers: out })
    }

    /// The chain kube-apiserver uses for `gr` under `cfg`.
    pub fn for_resource(cfg: &EncryptionConfig, gr: &GroupResource) -> Result<Self, CryptoError> {
        Self::new(&cfg.providers_for(gr))
    }

    /// A chain from already-built providers (tests, KMS experiments).
    pub fn from_providers(providers: Vec<Box<dyn Provider>>) -> Self {
        Self { providers }
    }

    /// Whether the resource is covered by the config (false: encrypt-check identity).
    pub fn is_covered(&self) -> bool {
        !self.providers.is_empty()
    }

    /// The exact bytes kube-apiserver would store for `plaintext` under etcd key `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match self.providers.first() {
            Some(p) => p.seal(plaintext, aad),
            None => Ok(plaintext.to_vec()),
        }
    }

    /// Reads a stored value as kube-apiserver would.
    pub fn open(&self, value: &[u8], aad: &[u8]) -> Result<Opened, CryptoError> {
        self.open_checked(value, aad, &mut |_| true)
    }

    /// Reads a stored value, treating a success that `accept` rejects as a
    /// failure and moving on to the next candidate (see the module docs on
    /// the aescbc hazard).
    pub fn open_checked(
        &self,
        value: &[u8],
        aad: &[u8],
        accept: &mut dyn FnMut(&Opened) -> bool,
    ) -> Result<Opened, CryptoError> {
        if self.providers.is_empty() {
            // identity.NewEncryptCheckTransformer()
            return super::identity::Identity.open_checked(value, aad, accept);
        }
        let mut errs = Vec::new();
        for (i, p) in self.providers.iter().enumerate() {
            let Some(rest) = value.strip_prefix(p.prefix()) else { continue };
            match p.open_checked(rest, aad, accept) {
                Ok(mut opened) => {
                    opened.stale |= i != 0;
                    return Ok(opened);
                }
                Err(_) if p.prefix().is_empty() => continue,
                Err(e) => errs.push(e),
            }
        }
        Err(reduce(errs, NO_MATCHING_PREFIX))
    }
}

/// `errors.Reduce(errors.NewAggregate(errs))`, else the fallback text.
pub(crate) fn reduce(mut errs: Vec<CryptoError>, fallback: &str) -> CryptoError {
    match errs.len() {
        0 => CryptoError::NoMatch(fallback.to_string()),
        1 => errs.remove(0),
        _ => CryptoError::AllFailed(errs),
    }
}

/// A KMS provider that could not be set up.
struct Unavailable {
    prefix: Vec<u8>,
    name: String,
    message: String,
}

impl Provider for Unavailable {
    fn prefix(&self) -> &[u8] {
        &self.prefix
    }
    fn seal(&self, _: &[u8], _: &[u8]) -> Result<Vec<u8>, CryptoError> {
        Err(CryptoError::KmsUnreachable {
            provider: self.name.clone(),
            message: self.message.clone(),
        })
    }
    fn open(&self, _: &[u8], _: &[u8]) -> Result<Opened, CryptoError> {
        Err(CryptoError::KmsUnreachable {
            provider: self.name.clone(),
            message: self.message.clone(),
        })
    }
}

/// One key's cipher inside a local provider: seals to and opens from the
/// body after `<name>:`.
pub(crate) trait KeyCipher: Send + Sync {
    /// The body (nonce/IV, ciphertext, tag) for `plaintext`.
    fn seal_body(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError>;
    /// The plaintext of `body`; `name` is only for error messages.
    fn open_body(&self, body: &[u8], aad: &[u8], name: &str) -> Result<Vec<u8>, CryptoError>;
}

/// aescbc, aesgcm or secretbox: an ordered list of named keys (the inner
/// `prefixTransformers`).
pub(crate) struct LocalProvider<C> {
    kind: ProviderKind,
    keys: Vec<(String, C)>,
    no_match: &'static str,
}

impl<C: KeyCipher> LocalProvider<C> {
    /// Builds the provider, making each key's cipher with `make`.
    pub(crate) fn build(
        kind: ProviderKind,
        set: &KeySet,
        no_match: &'static str,
        make: impl Fn(&crate::config::NamedKey) -> Result<C, CryptoError>,
    ) -> Result<Self, CryptoError> {
        let keys =
            set.keys.iter().map(|k| Ok((k.name.clone(), make(k)?))).collect::<Result<_, _>>()?;
        Ok(Self { kind, keys, no_match })
    }

    fn key_used(&self, name: &str) -> KeyUsed {
        KeyUsed::Local { provider: self.kind.as_str(), name: name.to_string() }
    }
}

impl<C: KeyCipher> Provider for LocalProvider<C> {
    fn prefix(&self) -> &[u8] {
        self.kind.prefix()
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let Some((name, cipher)) = self.keys.first() else {
            return Err(CryptoError::NoMatch(format!(
                "{} provider has no keys",
                self.kind.as_str()
            )));
        };
        let body = cipher.seal_body(plaintext, aad)?;
        Ok(prefix::encode(self.kind, name.as_bytes(), &body))
    }

    fn open(&self, data: &[u8], aad: &[u8]) -> Result<Opened, CryptoError> {
        self.open_checked(data, aad, &mut |_| true)
    }

    fn open_checked(
        &self,
        data: &[u8],
        aad: &[u8],
        accept: &mut dyn FnMut(&Opened) -> bool,
    ) -> Result<Opened, CryptoError> {
        let mut errs = Vec::new();
        for (i, (name, cipher)) in self.keys.iter().enumerate() {
            let Some(body) = data.strip_prefix(name.as_bytes()).and_then(|r| r.strip_prefix(b":"))
            else {
                continue;
            };
            match cipher.open_body(body, aad, name) {
                Ok(plaintext) => {
                    let opened = Opened { plaintext, key: self.key_used(name), stale: i != 0 };
                    if accept(&opened) {
                        return Ok(opened);
                    }
                    errs.push(CryptoError::Implausible { key: opened.key });
                }
                Err(e) => errs.push(e),
            }
        }
        Err(reduce(errs, self.no_match))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{NamedKey, ResourceEntry};
    use crate::secret::SecretBytes;

    fn keys(spec: &[(&str, u8, usize)]) -> KeySet {
        KeySet {
            keys: spec
                .iter()
                .map(|(n, b, len)| NamedKey {
                    name: n.to_string(),
                    secret: SecretBytes::new(vec![*b; *len]),
                })
                .collect(),
        }
    }

    const AAD: &[u8] = b"/registry/secrets/default/s1";

    #[test]
    fn empty_chain_is_encrypt_check_identity() {
        let c = Chain::new(&[]).unwrap();
        assert!(!c.is_covered());
        assert_eq!(c.seal(b"k8s\0x", AAD).unwrap(), b"k8s\0x");
        let o = c.open(b"k8s\0x", AAD).unwrap();
        assert_eq!(
            (o.plaintext.as_slice(), o.key, o.stale),
            (&b"k8s\0x"[..], KeyUsed::Identity, false)
        );
        let e = c.open(b"k8s:enc:aesgcm:v1:k:xx", AAD).err().unwrap();
        assert_eq!(e.to_string(), "identity transformer tried to read encrypted data");
    }

    #[test]
    fn write_first_read_all_and_staleness() {
        let old = ProviderConfig::AesCbc(keys(&[("old", 1, 32)]));
        let new = ProviderConfig::AesGcm(keys(&[("new", 2, 32), ("new2", 3, 16)]));
        let id = ProviderConfig::Identity;
        let writer = Chain::new(&[&old]).unwrap();
        let sealed_old = writer.seal(b"hello", AAD).unwrap();
        assert!(sealed_old.starts_with(b"k8s:enc:aescbc:v1:old:"));

        let c = Chain::new(&[&new, &old, &id]).unwrap();
        let o = c.open(&sealed_old, AAD).unwrap();
        assert_eq!(o.plaintext, b"hello");
        assert_eq!(o.key, KeyUsed::Local { provider: "aescbc", name: "old".into() });
        assert!(o.stale);
        assert!(!o.key.authenticates());

        let fresh = c.seal(b"hello", AAD).unwrap();
        assert!(fresh.starts_with(b"k8s:enc:aesgcm:v1:new:"));
        let o = c.open(&fresh, AAD).unwrap();
        assert!(!o.stale && o.key.authenticates());

        // second key inside the first provider: stale
        let second = Chain::new(&[&ProviderConfig::AesGcm(keys(&[("new2", 3, 16)]))]).unwrap();
        let v = second.seal(b"x", AAD).unwrap();
        let o = c.open(&v, AAD).unwrap();
        assert_eq!(o.key, KeyUsed::Local { provider: "aesgcm", name: "new2".into() });
        assert!(o.stale);

        // plaintext read through the trailing identity: stale
        let o = c.open(b"{\"kind\":\"Secret\"}", AAD).unwrap();
        assert_eq!(o.key, KeyUsed::Identity);
        assert!(o.stale);
    }

    #[test]
    fn error_texts_follow_the_apiserver() {
        let gcm = ProviderConfig::AesGcm(keys(&[("k1", 1, 32)]));
        let sb = ProviderConfig::Secretbox(keys(&[("k1", 1, 32)]));
        let c = Chain::new(&[&gcm, &sb]).unwrap();
        assert_eq!(c.open(b"plain", AAD).err().unwrap().to_string(), NO_MATCHING_PREFIX);
        assert_eq!(
            c.open(b"k8s:enc:aesgcm:v1:other:0123456789abcdef", AAD).err().unwrap().to_string(),
            NO_MATCHING_AES_KEY
        );
        assert_eq!(
            c.open(b"k8s:enc:secretbox:v1:other:0123456789", AAD).err().unwrap().to_string(),
            NO_MATCHING_SECRETBOX_KEY
        );
        let id = ProviderConfig::Identity;
        let c = Chain::new(&[&id]).unwrap();
        // identity errors are skipped, so nothing matched
        assert_eq!(
            c.open(b"k8s:enc:aesgcm:v1:k:x", AAD).err().unwrap().to_string(),
            NO_MATCHING_PREFIX
        );
    }

    #[test]
    fn same_type_providers_are_all_tried_and_errors_aggregated() {
        let a = ProviderConfig::Secretbox(keys(&[("k", 1, 32)]));
        let b = ProviderConfig::Secretbox(keys(&[("k", 2, 32)]));
        let v = Chain::new(&[&b]).unwrap().seal(b"payload", AAD).unwrap();
        let c = Chain::new(&[&a, &b]).unwrap();
        let o = c.open(&v, AAD).unwrap();
        assert_eq!(o.plaintext, b"payload");
        assert!(o.stale, "read by the second provider");
        let third = Chain::new(&[&ProviderConfig::Secretbox(keys(&[("k", 3, 32)]))]).unwrap();
        let v3 = third.seal(b"payload", AAD).unwrap();
        match c.open(&v3, AAD).err().unwrap() {
            CryptoError::AllFailed(errs) => assert_eq!(errs.len(), 2),
            e => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn keys_with_the_same_name_are_all_tried_and_names_may_contain_colons() {
        let ks = ProviderConfig::AesGcm(keys(&[("k:1", 1, 32), ("k:1", 2, 32), ("k", 3, 32)]));
        let only2 = Chain::new(&[&ProviderConfig::AesGcm(keys(&[("k:1", 2, 32)]))]).unwrap();
        let c = Chain::new(&[&ks]).unwrap();
        let o = c.open(&only2.seal(b"x", AAD).unwrap(), AAD).unwrap();
        assert!(o.stale);
        let only3 = Chain::new(&[&ProviderConfig::AesGcm(keys(&[("k", 3, 32)]))]).unwrap();
        let o = c.open(&only3.seal(b"y", AAD).unwrap(), AAD).unwrap();
        assert_eq!(o.key, KeyUsed::Local { provider: "aesgcm", name: "k".into() });
    }

    #[test]
    fn open_checked_moves_past_rejected_results() {
        let ks = ProviderConfig::AesGcm(keys(&[("k", 1, 32)]));
        let c = Chain::new(&[&ks]).unwrap();
        let v = c.seal(b"x", AAD).unwrap();
        let e = c.open_checked(&v, AAD, &mut |_| false).err().unwrap();
        assert!(matches!(e, CryptoError::Implausible { .. }), "{e}");
    }

    #[test]
    fn for_resource_and_unavailable_kms() {
        use crate::config::{KmsApiVersion, KmsConfig};
        let cfg = EncryptionConfig {
            entries: vec![ResourceEntry {
                resources: vec![GroupResource::parse("secrets")],
                providers: vec![
                    ProviderConfig::Kms(KmsConfig {
                        api_version: KmsApiVersion::V2,
                        name: "p".into(),
                        endpoint: "unix:///nonexistent.sock".into(),
                        cachesize: None,
                        timeout: std::time::Duration::from_secs(3),
                    }),
                    ProviderConfig::AesGcm(keys(&[("k", 1, 32)])),
                ],
            }],
        };
        let c = Chain::for_resource(&cfg, &GroupResource::parse("secrets")).unwrap();
        let only = Chain::new(&[&ProviderConfig::AesGcm(keys(&[("k", 1, 32)]))]).unwrap();
        let o = c.open(&only.seal(b"z", AAD).unwrap(), AAD).unwrap();
        assert!(o.stale);
        // A malformed envelope fails before the plugin is asked ...
        let e = c.open(b"k8s:enc:kms:v2:p:\x0a\x00", AAD).err().unwrap();
        assert!(!e.is_unverifiable(), "{e}");
        // ... a well-formed one needs the plugin, which is not there.
        let obj = crate::format::kmsv2::EncryptedObject {
            encrypted_data: vec![7; 60],
            key_id: "1".into(),
            encrypted_dek_source: vec![1; 32],
            annotations: Default::default(),
            encrypted_dek_source_type: 1,
        };
        let value = [b"k8s:enc:kms:v2:p:".as_slice(), &obj.to_bytes()].concat();
        let e = c.open(&value, AAD).err().unwrap();
        assert!(e.is_unverifiable(), "{e}");
        assert!(c.seal(b"z", AAD).is_err());
        let cm = Chain::for_resource(&cfg, &GroupResource::parse("configmaps")).unwrap();
        assert!(!cm.is_covered());
    }
}
