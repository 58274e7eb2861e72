//! The scanner: records in, findings out.
//!
//! This module owns classification (is a stored value encrypted, by which
//! provider and key, does it decrypt with the config's keys, is it stale or a
//! violation) and the census. It reads records from [`crate::etcd`], decrypts
//! through [`crate::crypto`] and pushes findings into a
//! [`crate::report::Reporter`]; it never renders output itself and never
//! prints plaintext.

pub mod engine;
pub mod finding;

pub use engine::{CurrentState, ScanError, ScanOptions, Scanner, run};
