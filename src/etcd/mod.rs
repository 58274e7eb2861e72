//! Sources of etcd records: what etcd really stores, from wherever the
//! operator has it.
//!
//! This module owns reading etcd data: the offline bbolt reader for snapshots
//! and member data files, `etcdctl -w json` dumps, raw single values and the
//! live client. Every source yields [`Record`]s; none of them interprets
//! values (that is [`crate::scan`]'s job) or decrypts anything.

/// One revision of one etcd key, as etcd's MVCC store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The etcd key, e.g. `/registry/secrets/default/s1`.
    pub key: Vec<u8>,
    /// The stored value (empty for a tombstone).
    pub value: Vec<u8>,
    /// Revision at which the key was created.
    pub create_revision: i64,
    /// Revision of this version.
    pub mod_revision: i64,
    /// Version counter of the key (1 for a fresh key).
    pub version: i64,
    /// Lease ID, 0 for none.
    pub lease: i64,
}
