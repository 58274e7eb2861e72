//! etcd's MVCC record layout inside the bbolt file. Byte layouts only.
//!
//! This module owns the `key` bucket's revision keys (8-byte big-endian main
//! revision, `_`, 8-byte big-endian sub revision, and a trailing `t` for a
//! tombstone), the `meta` bucket's values, and the `mvccpb.KeyValue`
//! protobuf. [`KeyValue`] is the hand-written prost message (the encoder,
//! used by tests and fixtures); [`KeyValueRef::decode`] is the zero-copy
//! decoder the readers use on every record. No I/O, no tree walking.

use crate::format::protowire::{self, WireError, bytes, varint};

/// Length of a revision key without the tombstone mark.
pub const REVISION_KEY_LEN: usize = 17;

/// A revision key of the `key` bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    /// Main revision (one per transaction).
    pub main: i64,
    /// Sub revision (index of the change inside the transaction).
    pub sub: i64,
    /// True when the key ends with `t`: the key was deleted at this revision.
    pub tombstone: bool,
}

/// What is wrong with an MVCC record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MvccError {
    /// A `key` bucket key that is not a revision.
    #[error("revision key {hex}: expected 17 bytes (main '_' sub) or 18 with a trailing 't'")]
    BadRevisionKey {
        /// The key in hex.
        hex: String,
    },
    /// A value that is not a `mvccpb.KeyValue`.
    #[error("KeyValue protobuf at byte {offset}: {what}")]
    BadKeyValue {
        /// Offset in the value.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },
}

impl Revision {
    /// Parses a `key` bucket key.
    pub fn parse(key: &[u8]) -> Result<Revision, MvccError> {
        let bad = || MvccError::BadRevisionKey { hex: hex::encode(key) };
        let tombstone = match key.len() {
            REVISION_KEY_LEN => false,
            18 if key[17] == b't' => true,
            _ => return Err(bad()),
        };
        if key[8] != b'_' {
            return Err(bad());
        }
        let mut a = [0u8; 8];
        a.copy_from_slice(&key[..8]);
        let main = i64::from_be_bytes(a);
        a.copy_from_slice(&key[9..17]);
        let sub = i64::from_be_bytes(a);
        Ok(Revision { main, sub, tombstone })
    }

    /// Encodes the key as etcd writes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(18);
        out.extend_from_slice(&self.main.to_be_bytes());
        out.push(b'_');
        out.extend_from_slice(&self.sub.to_be_bytes());
        if self.tombstone {
            out.push(b't');
        }
        out
    }
}

/// `mvccpb.KeyValue` (etcd `api/mvccpb/kv.proto`), hand-written for prost.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// The key.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// Revision of the last creation.
    #[prost(int64, tag = "2")]
    pub create_revision: i64,
    /// Revision of the last modification.
    #[prost(int64, tag = "3")]
    pub mod_revision: i64,
    /// Version of the key.
    #[prost(int64, tag = "4")]
    pub version: i64,
    /// The value.
    #[prost(bytes = "vec", tag = "5")]
    pub value: Vec<u8>,
    /// Lease id.
    #[prost(int64, tag = "6")]
    pub lease: i64,
}

/// A decoded `mvccpb.KeyValue` borrowing its key and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyValueRef<'a> {
    /// The key.
    pub key: &'a [u8],
    /// Revision of the last creation.
    pub create_revision: i64,
    /// Revision of the last modification.
    pub mod_revision: i64,
    /// Version of the key.
    pub version: i64,
    /// The value.
    pub value: &'a [u8],
    /// Lease id.
    pub lease: i64,
}

impl From<WireError> for MvccError {
    fn from(e: WireError) -> Self {
        MvccError::BadKeyValue { offset: e.offset, what: e.what }
    }
}

impl<'a> KeyValueRef<'a> {
    /// Decodes a `mvccpb.KeyValue`, skipping unknown fields (proto3 rules:
    /// a repeated scalar field keeps the last value). A repeated key field,
    /// which etcd never writes, is an error: it would let a crafted file show
    /// one key to one reader and another key to another.
    pub fn decode(buf: &'a [u8]) -> Result<KeyValueRef<'a>, MvccError> {
        let mut kv = KeyValueRef::default();
        let mut pos = 0;
        let mut seen_key = false;
        while pos < buf.len() {
            let at = pos;
            let (field, wire) = protowire::key(buf, &mut pos)?;
            match (field, wire) {
                (1, 2) if seen_key => {
                    return Err(MvccError::BadKeyValue { offset: at, what: "key field repeated" });
                }
                (1, 2) => {
                    seen_key = true;
                    kv.key = bytes(buf, &mut pos)?;
                }
                (5, 2) => kv.value = bytes(buf, &mut pos)?,
                (2, 0) => kv.create_revision = varint(buf, &mut pos)? as i64,
                (3, 0) => kv.mod_revision = varint(buf, &mut pos)? as i64,
                (4, 0) => kv.version = varint(buf, &mut pos)? as i64,
                (6, 0) => kv.lease = varint(buf, &mut pos)? as i64,
                (0, _) | (1..=6, _) => {
                    return Err(MvccError::BadKeyValue {
                        offset: at,
                        what: "field with the wrong wire type",
                    });
                }
                (_, wire) => protowire::skip(buf, &mut pos, wire)?,
            }
        }
        Ok(kv)
    }
}

/// Reads a `meta` bucket revision value (`scheduledCompactRev`,
/// `finishedCompactRev`): a 17-byte revision key, main revision first.
pub fn meta_revision(value: &[u8]) -> Option<i64> {
    Revision::parse(value).ok().map(|r| r.main)
}

/// Reads the `meta` bucket's `consistent_index` (8-byte big-endian).
pub fn meta_u64(value: &[u8]) -> Option<u64> {
    let a: [u8; 8] = value.try_into().ok()?;
    Some(u64::from_be_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use prost::Message;

    #[test]
    fn revision_keys_round_trip() {
        let r = Revision { main: 258, sub: 3, tombstone: true };
        let k = r.encode();
        assert_eq!(k.len(), 18);
        assert_eq!(&k[..9], &[0, 0, 0, 0, 0, 0, 1, 2, b'_']);
        assert_eq!(Revision::parse(&k).unwrap(), r);
        assert!(Revision::parse(&k[..16]).is_err());
        let mut x = k.clone();
        x[17] = b'x';
        assert!(Revision::parse(&x).is_err());
        assert_eq!(
            meta_revision(&Revision { main: 7, sub: 0, tombstone: false }.encode()),
            Some(7)
        );
    }

    proptest! {
        #[test]
        fn ref_decoder_agrees_with_prost(key in proptest::collection::vec(any::<u8>(), 0..40),
                                        value in proptest::collection::vec(any::<u8>(), 0..300),
                                        c in any::<i64>(), m in any::<i64>(), v in any::<i64>(), l in any::<i64>()) {
            let kv = KeyValue { key, create_revision: c, mod_revision: m, version: v, value, lease: l };
            let enc = kv.encode_to_vec();
            let r = KeyValueRef::decode(&enc).unwrap();
            prop_assert_eq!(r.key, &kv.key[..]);
            prop_assert_eq!(r.value, &kv.value[..]);
            prop_assert_eq!((r.create_revision, r.mod_revision, r.version, r.lease), (c, m, v, l));
        }

        #[test]
        fn ref_decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let ours = KeyValueRef::decode(&data);
            if let Ok(p) = KeyValue::decode(&data[..]) {
                // Whatever prost accepts with our fields, we read the same way.
                if let Ok(o) = ours { prop_assert_eq!(o.key, &p.key[..]); }
            }
        }
    }
}
