//! `EncryptionConfiguration`: the validated model, and (in submodules) the
//! strict loader, kube-apiserver-equivalent validation, the security lint and
//! generation of new configs.
//!
//! The rest of atrest accepts only [`EncryptionConfig`]: a config that
//! kube-apiserver would load. This module owns the YAML/JSON surface and every
//! rule about it; it performs no cryptography (the [`crate::crypto`] chain is
//! built *from* an `EncryptionConfig`) and no etcd I/O.
//!
//! Pipeline: [`load`] reads bytes → [`mirror`] decodes strictly into a
//! position-carrying mirror of the Go types → [`validate`] applies the
//! apiserver's rules and load-time checks → conversion into [`model`].

pub mod diag;
pub mod generate;
pub mod goduration;
pub mod gourl;
pub mod lint;
pub mod lint_report;
pub mod load;
pub mod mirror;
pub mod model;
pub mod validate;
pub mod version;

pub use diag::{Diagnostic, DiagnosticKind, FieldPath, Pos};
pub use load::{LoadError, load_path, load_path_with, load_str, load_str_with};
pub use model::{
    EncryptionConfig, GroupResource, KeySet, KmsApiVersion, KmsConfig, NamedKey, ProviderConfig,
    ResourceEntry,
};
pub use version::{FeatureGates, KubeVersion, LoadOptions};
