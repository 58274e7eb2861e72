//! Kubernetes knowledge that is neither crypto nor etcd: mapping etcd keys to
//! resources (kube-apiserver's storage layout) and recognising how a
//! plaintext object is encoded (protobuf `k8s\0`, JSON, CBOR).
//!
//! This module owns no I/O and no cryptography.
