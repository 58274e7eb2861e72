//! Kubernetes knowledge that is neither crypto nor etcd: mapping etcd keys to
//! resources (kube-apiserver's storage layout) and recognising how a
//! plaintext object is encoded (protobuf `k8s\0`, JSON, CBOR).
//!
//! This module owns no I/O and no cryptography.
//!
//! * [`key`]: etcd key ↔ [`key::ObjectRef`] (group/resource as the
//!   `EncryptionConfiguration` names it, namespace, name);
//! * [`resources`]: the table of built-in resources of kube-apiserver ~1.36;
//! * [`object`]: encoding classification and the plausibility verdict for
//!   decrypted values;
//! * [`secret`]: `v1.Secret` / `v1.ConfigMap` protobuf decoding for `extract`.
//!
//! The entry points other modules use:
//!
//! ```
//! use atrest::kube::{KeyMapper, Origin, classify, extract, RenderOptions, Extracted};
//!
//! let keys = KeyMapper::new("/registry");
//! let r = keys.parse(b"/registry/minions/node1").unwrap();
//! assert_eq!((r.resource_name().as_str(), r.origin), ("nodes", Origin::BuiltIn));
//!
//! let value = b"k8s\x00\x0a\x0c\x0a\x02v1\x12\x06Secret\x12\x00";
//! assert!(classify(value).is_plausible());
//! assert!(matches!(extract(value, RenderOptions::default()), Ok(Extracted::Decoded(_))));
//! ```

pub mod key;
pub mod object;
pub mod resources;
pub mod secret;

pub use key::{
    DEFAULT_PREFIX, KeyError, KeyMapper, ObjectRef, ObjectView, Origin, object_key, parse_key,
    resource_for_key,
};
pub use object::{Encoding, ObjectError, classify, is_plausible};
pub use secret::{Extracted, RenderOptions, extract};
