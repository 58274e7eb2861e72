//! The validated configuration model and kube-apiserver's resource matching.
//!
//! Values of these types only come out of validation (or are built by code
//! that knows them to be valid, such as generation and rotation). Matching a
//! resource to its providers follows `transformerFromOverrides` in
//! `k8s.io/apiserver/pkg/server/options/encryptionconfig/config.go`: exact
//! group/resource, then `<group>` wildcard, then `*.*`, else plaintext.

use std::fmt;
use std::time::Duration;

use crate::secret::SecretBytes;

/// A Kubernetes group/resource as the encryption config names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    /// API group; `""` is the core group, `"*"` any group.
    pub group: String,
    /// Resource (plural, lower case); `"*"` any resource of the group.
    pub resource: String,
}

impl GroupResource {
    /// A group/resource from its parts.
    pub fn new(group: impl Into<String>, resource: impl Into<String>) -> Self {
        Self { group: group.into(), resource: resource.into() }
    }

    /// `schema.ParseGroupResource`: split at the **first** dot.
    ///
    /// `secrets` → ("", secrets); `configmaps.` → ("", configmaps);
    /// `*.` → ("", *); `*.*` → (*, *); `pandas.awesome.bears.example` →
    /// ("awesome.bears.example", pandas).
    pub fn parse(s: &str) -> Self {
        match s.split_once('.') {
            Some((resource, group)) => Self::new(group, resource),
            None => Self::new("", s),
        }
    }

    /// Whether this is a wildcard entry (`*.`, `*.<group>`, `*.*`).
    pub fn is_wildcard(&self) -> bool {
        self.resource == "*"
    }
}

/// Displays as the config spells it: `secrets`, `deployments.apps`, `*.`, `*.*`.
impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            if self.resource == "*" { write!(f, "*.") } else { write!(f, "{}", self.resource) }
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// A named data-encryption key of an aescbc, aesgcm or secretbox provider.
pub struct NamedKey {
    /// The key name; it becomes part of the stored prefix (`k8s:enc:aescbc:v1:<name>:`).
    pub name: String,
    /// The decoded secret (16, 24 or 32 bytes for AES; 32 for secretbox).
    pub secret: SecretBytes,
}

/// The ordered keys of one local provider. The first key writes.
pub struct KeySet {
    /// Keys in config order.
    pub keys: Vec<NamedKey>,
}

/// KMS plugin API version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KmsApiVersion {
    /// `v1beta1.KeyManagementService` (deprecated; off by default from 1.29).
    V1,
    /// `v2.KeyManagementService`.
    V2,
}

impl KmsApiVersion {
    /// As written in the config: `v1` or `v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "v1",
            Self::V2 => "v2",
        }
    }
}

/// A `kms` provider stanza (after defaulting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsConfig {
    /// `v1` (the default when omitted) or `v2`.
    pub api_version: KmsApiVersion,
    /// Provider name; part of the stored prefix `k8s:enc:kms:v2:<name>:`.
    pub name: String,
    /// `unix://` endpoint of the plugin.
    pub endpoint: String,
    /// v1 only: DEK cache size (default 1000, negative disables).
    pub cachesize: Option<i32>,
    /// Per-call timeout (default 3s).
    pub timeout: Duration,
}

/// One provider of a resource entry, in config order.
pub enum ProviderConfig {
    /// `aesgcm`
    AesGcm(KeySet),
    /// `aescbc`
    AesCbc(KeySet),
    /// `secretbox`
    Secretbox(KeySet),
    /// `kms`
    Kms(KmsConfig),
    /// `identity: {}`
    Identity,
}

impl ProviderConfig {
    /// The provider's field name in the config: `aesgcm`, `aescbc`, `secretbox`, `kms`, `identity`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::AesGcm(_) => "aesgcm",
            Self::AesCbc(_) => "aescbc",
            Self::Secretbox(_) => "secretbox",
            Self::Kms(_) => "kms",
            Self::Identity => "identity",
        }
    }

    /// The key set of a local provider.
    pub fn keys(&self) -> Option<&KeySet> {
        match self {
            Self::AesGcm(k) | Self::AesCbc(k) | Self::Secretbox(k) => Some(k),
            Self::Kms(_) | Self::Identity => None,
        }
    }
}

/// One element of `resources:`: a list of resources and their ordered providers.
pub struct ResourceEntry {
    /// The resources this entry covers, parsed with [`GroupResource::parse`].
    pub resources: Vec<GroupResource>,
    /// Providers in config order; the first writes.
    pub providers: Vec<ProviderConfig>,
}

/// The indices of the entries whose providers kube-apiserver uses for `gr`
/// (`transformerFromOverrides`): every entry naming `gr` exactly, in order;
/// failing that, the `<group>` wildcard; then `*.*`; else none (plaintext).
///
/// `entries` yields each entry's resources; it is generic so that the
/// rotation module can ask the same question of a file it is editing.
pub fn governing_entries<I, R>(entries: I, gr: &GroupResource) -> Vec<usize>
where
    I: Iterator<Item = R> + Clone,
    R: IntoIterator<Item = GroupResource>,
{
    let group_wildcard = GroupResource::new(gr.group.clone(), "*");
    let any = GroupResource::new("*", "*");
    for wanted in [gr, &group_wildcard, &any] {
        let found: Vec<usize> = entries
            .clone()
            .enumerate()
            .filter_map(|(i, resources)| resources.into_iter().any(|r| r == *wanted).then_some(i))
            .collect();
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

/// A configuration that kube-apiserver would load.
pub struct EncryptionConfig {
    /// Entries in config order.
    pub entries: Vec<ResourceEntry>,
}

impl EncryptionConfig {
    /// The providers kube-apiserver uses for `gr`, in read order; empty means
    /// the resource is not covered and stays plaintext (an encrypted value
    /// under an uncovered resource fails to read).
    ///
    /// Exact matches from every entry are concatenated in entry order; failing
    /// that, the `<group>` wildcard applies, then `*.*`.
    pub fn providers_for(&self, gr: &GroupResource) -> Vec<&ProviderConfig> {
        governing_entries(self.entries.iter().map(|e| e.resources.iter().cloned()), gr)
            .into_iter()
            .flat_map(|i| self.entries[i].providers.iter())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_group_resource_splits_at_first_dot() {
        assert_eq!(GroupResource::parse("secrets"), GroupResource::new("", "secrets"));
        assert_eq!(GroupResource::parse("configmaps."), GroupResource::new("", "configmaps"));
        assert_eq!(GroupResource::parse("*."), GroupResource::new("", "*"));
        assert_eq!(GroupResource::parse("*.*"), GroupResource::new("*", "*"));
        assert_eq!(
            GroupResource::parse("pandas.awesome.bears.example"),
            GroupResource::new("awesome.bears.example", "pandas")
        );
        assert_eq!(GroupResource::parse("*.").to_string(), "*.");
        assert_eq!(GroupResource::parse("deployments.apps").to_string(), "deployments.apps");
    }

    fn entry(resources: &[&str], providers: Vec<ProviderConfig>) -> ResourceEntry {
        ResourceEntry {
            resources: resources.iter().map(|r| GroupResource::parse(r)).collect(),
            providers,
        }
    }

    fn identities(n: usize) -> Vec<ProviderConfig> {
        (0..n).map(|_| ProviderConfig::Identity).collect()
    }

    #[test]
    fn lookup_prefers_exact_then_group_wildcard_then_any() {
        let cfg = EncryptionConfig {
            entries: vec![
                entry(&["secrets"], identities(1)),
                entry(&["*.apps"], identities(2)),
                entry(&["*.*"], identities(3)),
                entry(&["secrets"], identities(4)),
            ],
        };
        assert_eq!(cfg.providers_for(&GroupResource::parse("secrets")).len(), 5);
        assert_eq!(cfg.providers_for(&GroupResource::parse("deployments.apps")).len(), 2);
        assert_eq!(cfg.providers_for(&GroupResource::parse("configmaps")).len(), 3);
        let empty = EncryptionConfig { entries: vec![entry(&["secrets"], identities(1))] };
        assert!(empty.providers_for(&GroupResource::parse("configmaps")).is_empty());
    }
}
