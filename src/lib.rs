//! # atrest — Kubernetes encryption at rest, checked byte for byte
//!
//! atrest has two halves that share one model of kube-apiserver's behaviour:
//!
//! * the **key-management core**: [`config`] parses and validates
//!   `EncryptionConfiguration` files exactly as kube-apiserver does (plus a
//!   security lint) and generates new ones; [`rotation`] drives key rotation
//!   and provider migration stage by stage;
//! * the **offline decoder / scanner**: [`etcd`] reads the records etcd really
//!   stores (snapshots, data files, `etcdctl` dumps, live etcd); [`kube`] maps
//!   etcd keys to resources and recognises object encodings; [`scan`] proves
//!   per object whether it is encrypted, by which provider and key, and whether
//!   it decrypts; [`report`] renders findings for people and machines.
//!
//! Underneath sit [`format`](mod@format) (byte layouts only, no crypto, no I/O),
//! [`crypto`] (one provider per apiserver provider, and the transformer chain)
//! and [`secret`] (zeroizing key material).
//!
//! Dependencies point one way:
//!
//! ```text
//! format  <- crypto <- scan <- rotation
//!   ^          ^        ^
//!   |        secret     |
//!   +------ etcd -------+
//!  config <- crypto, scan, rotation;  kube <- scan;  report <- (findings only)
//! ```
//!
//! Nothing in the library depends on the CLI (`src/cli/`, binary only).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod civil;
pub mod config;
pub mod crypto;
pub mod etcd;
pub mod format;
pub mod fsutil;
pub mod kube;
pub mod report;
pub mod rotation;
pub mod scan;
pub mod secret;
