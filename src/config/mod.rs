//! `EncryptionConfiguration`: the validated model, and (in submodules) the
//! strict loader, kube-apiserver-equivalent validation, the security lint and
//! generation of new configs.
//!
//! The rest of atrest accepts only [`EncryptionConfig`]: a config that
//! kube-apiserver would load. This module owns the YAML/JSON surface and every
//! rule about it; it performs no cryptography (the [`crate::crypto`] chain is
//! built *from* an `EncryptionConfig`) and no etcd I/O.

pub mod model;

pub use model::{
    EncryptionConfig, GroupResource, KeySet, KmsApiVersion, KmsConfig, NamedKey, ProviderConfig,
    ResourceEntry,
};
