//! etcd's backend file as a [`RecordSource`]: `etcdctl snapshot save` output
//! and a member's `member/snap/db`.
//!
//! This module owns turning the bbolt `key` bucket into [`Record`]s (current
//! view and full history), reading the `meta` bucket (consistent index,
//! compaction revisions) and checking a snapshot's SHA-256 trailer. The tree
//! walk is [`super::bbolt`]'s; the record layout is [`super::mvcc`]'s.
//!
//! Records borrow their keys and values from the memory map: nothing is
//! copied per record.
//!
//! Current view, in one pass with memory bounded by the number of keys (not
//! values): bbolt sorts the `key` bucket by revision, so the walk goes from
//! the newest revision to the oldest and keeps the set of etcd keys already
//! met (slices borrowed from the map). The first entry met for a key is its
//! latest revision: emitted unless it is a tombstone; older entries of that
//! key are skipped. Output order is newest revision first. The history view
//! walks forwards: oldest revision first.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::bbolt::mmap::Bytes;
use super::bbolt::{BboltError, BucketRoot, Db, Entry};
use super::mvcc::{self, KeyValueRef, Revision};
use super::{
    BboltInfo, OpenOptions, Query, Record, RecordSource, Records, SourceError, SourceInfo,
    SourceKind, Trailer, View,
};

/// Length of the SHA-256 trailer `etcdctl snapshot save` appends.
pub const TRAILER_LEN: usize = 32;

/// A bbolt snapshot or data file.
pub struct BboltSource {
    bytes: Arc<Bytes>,
    /// Length of the bbolt part (file length minus any trailer).
    len: usize,
    path: PathBuf,
    info: SourceInfo,
    /// The SHA-256 of the bbolt part being computed while the records are
    /// read ([`Trailer::Checking`]).
    hashing: Option<JoinHandle<[u8; 32]>>,
}

impl BboltSource {
    /// Maps and validates the file at `path`.
    pub fn open(path: &Path, options: &OpenOptions) -> Result<BboltSource, SourceError> {
        let io = |source| SourceError::Io { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        let bytes = Bytes::map(&file).map_err(io)?;
        BboltSource::from_bytes(bytes, path, options)
    }

    /// Validates bytes already in memory (tests, fuzzing); `path` names them in errors.
    pub fn from_bytes(
        bytes: Bytes,
        path: &Path,
        options: &OpenOptions,
    ) -> Result<BboltSource, SourceError> {
        let path = path.to_path_buf();
        let bb = |source| SourceError::Bbolt { path: path.clone(), source };
        let file_len = bytes.len();
        let db = Db::open(&bytes).map_err(bb)?;
        let meta = *db.meta();
        let ps = meta.page_size as usize;
        let has_trailer = file_len % ps == TRAILER_LEN;
        let len = if has_trailer { file_len - TRAILER_LEN } else { file_len };
        let kind = if has_trailer { SourceKind::Snapshot } else { SourceKind::DataFile };
        let mut info = SourceInfo::new(kind, path.display().to_string());
        info.has_history = true;
        info.bbolt = Some(BboltInfo {
            page_size: meta.page_size,
            meta_page: meta.page,
            txid: meta.txid,
            pages: meta.pgid,
            file_len: file_len as u64,
        });
        if has_trailer {
            info.trailer = if options.skip_trailer_check {
                Trailer::NotChecked
            } else if options.check_trailer_while_reading && !options.allow_trailer_mismatch {
                // The hashing starts once the file has proved readable, below.
                Trailer::Checking
            } else {
                match trailer_verdict(&bytes, len, crate::crypto::sha256(&bytes[..len])) {
                    Trailer::Mismatch { stored, computed } if options.allow_trailer_mismatch => {
                        info.warnings.push(format!(
                            "snapshot SHA-256 trailer {stored} does not match the data ({computed}); reading anyway"
                        ));
                        Trailer::Mismatch { stored, computed }
                    }
                    Trailer::Mismatch { stored, computed } => {
                        return Err(SourceError::TrailerMismatch { path, stored, computed });
                    }
                    verdict => verdict,
                }
            };
        }
        let src =
            BboltSource { bytes: Arc::new(bytes), len, path: path.clone(), info, hashing: None };
        let (rev, compact, scheduled, ci) = {
            let db = src.db()?;
            let key = src.bucket(&db, "key")?;
            let rev = match db.last(key).map_err(&bb)? {
                Some(e) => {
                    Some(Revision::parse(e.key).map_err(|source| record_err(&e, source))?.main)
                }
                None => None,
            };
            let meta_b = db.bucket(b"meta").map_err(&bb)?;
            let (mut compact, mut scheduled, mut ci) = (None, None, None);
            if let Some(m) = meta_b {
                compact =
                    db.get(m, b"finishedCompactRev").map_err(&bb)?.and_then(mvcc::meta_revision);
                scheduled =
                    db.get(m, b"scheduledCompactRev").map_err(&bb)?.and_then(mvcc::meta_revision);
                ci = db.get(m, b"consistent_index").map_err(&bb)?.and_then(mvcc::meta_u64);
            }
            (rev, compact, scheduled, ci)
        };
        let mut src = src;
        src.info.revision = rev;
        src.info.compact_revision = compact;
        src.info.scheduled_compact_revision = scheduled;
        src.info.consistent_index = ci;
        if src.info.trailer == Trailer::Checking {
            let data = Arc::clone(&src.bytes);
            let spawned = std::thread::Builder::new()
                .name("snapshot-sha256".into())
                .spawn(move || crate::crypto::sha256(&data[..len]));
            match spawned {
                Ok(handle) => src.hashing = Some(handle),
                Err(source) => return Err(SourceError::Io { path, source }),
            }
        }
        Ok(src)
    }

    /// The validated bbolt view of the file.
    pub fn db(&self) -> Result<Db<'_>, SourceError> {
        Db::open(&self.bytes[..self.len])
            .map_err(|source| SourceError::Bbolt { path: self.path.clone(), source })
    }

    fn bucket<'a>(&self, db: &Db<'a>, name: &str) -> Result<BucketRoot<'a>, SourceError> {
        db.bucket(name.as_bytes())
            .map_err(|source| SourceError::Bbolt { path: self.path.clone(), source })?
            .ok_or_else(|| SourceError::NotEtcd {
                path: self.path.clone(),
                what: format!("no {name:?} bucket"),
            })
    }
}

/// [`Trailer::Valid`] or [`Trailer::Mismatch`]: the trailer after the
/// bbolt part's `len` bytes against their SHA-256 `digest`.
fn trailer_verdict(bytes: &[u8], len: usize, digest: [u8; 32]) -> Trailer {
    let stored = hex::encode(&bytes[len..]);
    let computed = hex::encode(digest);
    if stored == computed { Trailer::Valid } else { Trailer::Mismatch { stored, computed } }
}

fn record_err(e: &Entry<'_>, source: mvcc::MvccError) -> SourceError {
    SourceError::Record { key_hex: hex::encode(e.key), pgid: e.pgid, source }
}

/// One decoded `key` bucket entry.
struct Decoded<'a> {
    rev: Revision,
    kv: KeyValueRef<'a>,
}

fn decode<'a>(e: &Entry<'a>) -> Result<Decoded<'a>, SourceError> {
    if e.is_bucket {
        return Err(SourceError::Record {
            key_hex: hex::encode(e.key),
            pgid: e.pgid,
            source: mvcc::MvccError::BadRevisionKey { hex: hex::encode(e.key) },
        });
    }
    let rev = Revision::parse(e.key).map_err(|s| record_err(e, s))?;
    let kv = KeyValueRef::decode(e.value).map_err(|s| record_err(e, s))?;
    Ok(Decoded { rev, kv })
}

fn to_record<'a>(d: &Decoded<'a>) -> Record<'a> {
    Record {
        key: d.kv.key.into(),
        value: d.kv.value.into(),
        create_revision: d.kv.create_revision,
        mod_revision: d.rev.main,
        version: d.kv.version,
        lease: d.kv.lease,
        sub_revision: d.rev.sub,
        tombstone: d.rev.tombstone,
    }
}

/// Walks the `key` bucket of `db`: the engine behind [`BboltSource`]'s
/// records, usable on any validated [`Db`] (benches, fuzzing).
pub fn walk<'a>(db: Db<'a>, path: PathBuf, query: &Query) -> Result<Records<'a>, SourceError> {
    let key = match db.bucket(b"key") {
        Ok(Some(k)) => k,
        Ok(None) => return Err(SourceError::NotEtcd { path, what: "no \"key\" bucket".into() }),
        Err(source) => return Err(SourceError::Bbolt { path, source }),
    };
    let prefix = query.prefix.clone();
    match query.view {
        View::History => Ok(Box::new(db.entries(key).filter_map(move |e| {
            let e = match e {
                Ok(e) => e,
                Err(source) => return Some(Err(SourceError::Bbolt { path: path.clone(), source })),
            };
            match decode(&e) {
                Ok(d) if d.kv.key.starts_with(&prefix) => Some(Ok(to_record(&d))),
                Ok(_) => None,
                Err(err) => Some(Err(err)),
            }
        }))),
        View::Current => {
            // Pre-sized from the page count (etcd pages of ~1 KiB values hold
            // about three entries) to avoid regrowing, up to 2^20 keys (48
            // MiB); it grows beyond that as keys come.
            let guess = usize::try_from(db.meta().pgid.saturating_mul(4)).unwrap_or(0).min(1 << 20);
            Ok(Box::new(CurrentView {
                entries: db.entries_rev(key),
                seen: SeenKeys::with_capacity(guess),
                prefix,
                path,
                raw: Vec::with_capacity(LOOKAHEAD),
                ready: Vec::with_capacity(LOOKAHEAD),
                batch: Vec::with_capacity(LOOKAHEAD),
            }))
        }
    }
}

/// Entries decoded and probed together by [`CurrentView`].
const LOOKAHEAD: usize = 64;

/// The current view: walks the `key` bucket newest revision first and keeps
/// the first entry met per etcd key (unless it is a tombstone).
///
/// Work goes [`LOOKAHEAD`] entries at a time: touch each record's first
/// bytes, decode them all, load the home slot of each key in [`SeenKeys`]
/// and the stored key of any slot whose hash matches, then insert in order.
/// Within a batch these loads are independent, so their cache misses
/// overlap; one entry at a time, each waited for its own miss and the walk
/// took about twice as long (`docs/performance.md`).
struct CurrentView<'a> {
    entries: super::bbolt::Entries<'a>,
    seen: SeenKeys<'a>,
    prefix: Vec<u8>,
    path: PathBuf,
    /// Scratch: the batch's entries as the tree walk gave them.
    raw: Vec<Result<Entry<'a>, BboltError>>,
    /// Output of the last batch, last record first (taken with `pop`).
    ready: Vec<Result<Record<'a>, SourceError>>,
    /// Scratch: the batch's entries under the prefix, decoded, with the
    /// hash of their etcd key.
    batch: Vec<Result<(Decoded<'a>, u64), SourceError>>,
}

impl CurrentView<'_> {
    /// Processes the next batch of entries into `ready`; false at the end.
    fn refill(&mut self) -> bool {
        self.raw.extend(self.entries.by_ref().take(LOOKAHEAD));
        let pulled = self.raw.len();
        // Touch each entry's revision key and the head of its value (the
        // `KeyValue` fields `decode` reads) before decoding any: the loads
        // are independent, so their cache misses overlap.
        let touch = self.raw.iter().flatten().fold(0u8, |acc, e| {
            acc ^ e.key.first().copied().unwrap_or(0) ^ e.value.get(40).copied().unwrap_or(0)
        });
        std::hint::black_box(touch);
        for e in self.raw.drain(..) {
            let decoded = e
                .map_err(|source| SourceError::Bbolt { path: self.path.clone(), source })
                .and_then(|e| decode(&e));
            match decoded {
                Ok(d) if !d.kv.key.starts_with(&self.prefix) => {}
                Ok(d) => {
                    let h = self.seen.hash(d.kv.key);
                    self.batch.push(Ok((d, h)));
                }
                Err(err) => self.batch.push(Err(err)),
            }
        }
        // Two warming passes: the home slots, then the stored key of any
        // slot whose hash matches (an older revision of a key already met:
        // `insert` compares the bytes).
        let seen = &self.seen;
        let slots = self.batch.iter().flatten().fold(0, |acc, (_, h)| acc ^ seen.peek(*h));
        let keys = self.batch.iter().flatten().fold(0, |acc, (_, h)| acc ^ seen.peek_key(*h));
        std::hint::black_box((slots, keys));
        for item in self.batch.drain(..) {
            match item {
                // The newest entry of a key: its current state.
                Ok((d, h)) => {
                    if self.seen.insert(d.kv.key, h) && !d.rev.tombstone {
                        self.ready.push(Ok(to_record(&d)));
                    }
                }
                Err(err) => self.ready.push(Err(err)),
            }
        }
        self.ready.reverse();
        pulled > 0
    }
}

impl<'a> Iterator for CurrentView<'a> {
    type Item = Result<Record<'a>, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.ready.pop() {
                return Some(r);
            }
            if !self.refill() {
                return None;
            }
        }
    }
}

/// The set of etcd keys met so far by [`CurrentView`], borrowed from the
/// file: open addressing with linear probing over two parallel arrays, the
/// 64-bit hash of each key (0 = empty slot) and the key itself, kept at most
/// three quarters full. Keys are compared in full whenever hashes match,
/// so a collision can never hide a key. The hash is foldhash, seeded per
/// process: crafted keys cannot aim at known collisions.
///
/// Memory: 24 bytes a slot, 32 to 64 bytes per key once the table is in
/// use (pre-sized from the page count, at most 2^20 keys' worth).
struct SeenKeys<'a> {
    hashes: Vec<u64>,
    /// `None` for an empty slot: all-zero bits, so a fresh table is
    /// calloc'ed and only the slots written become resident.
    keys: Vec<Option<&'a [u8]>>,
    len: usize,
    state: foldhash::fast::RandomState,
}

impl<'a> SeenKeys<'a> {
    fn with_capacity(keys: usize) -> Self {
        let slots = (keys.saturating_mul(4) / 3).max(16).next_power_of_two();
        Self {
            hashes: vec![0; slots],
            keys: vec![None; slots],
            len: 0,
            state: foldhash::fast::RandomState::default(),
        }
    }

    /// The key's hash, never 0 (the empty-slot mark).
    fn hash(&self, key: &[u8]) -> u64 {
        use std::hash::BuildHasher;
        self.state.hash_one(key) | 1 << 63
    }

    fn home(&self, hash: u64) -> usize {
        // The low bits: the top bit is always set.
        (hash as usize) & (self.hashes.len() - 1)
    }

    /// Reads the home slot of `hash`, to bring it into the cache before
    /// [`Self::insert`] needs it.
    fn peek(&self, hash: u64) -> u64 {
        let i = self.home(hash);
        // The key slot too: `insert` writes it, and a store that misses
        // stalls the walk as much as a load.
        let key_len = self.keys.get(i).copied().flatten().map_or(0, <[u8]>::len);
        self.hashes.get(i).copied().unwrap_or(0) ^ key_len as u64
    }

    /// Reads the first byte of the key stored under `hash`, if any, to bring
    /// it into the cache before [`Self::insert`] compares it.
    fn peek_key(&self, hash: u64) -> u8 {
        let mask = self.hashes.len() - 1;
        let mut i = self.home(hash);
        loop {
            match self.hashes[i] {
                0 => return 0,
                h if h == hash => {
                    return self.keys[i].and_then(|k| k.first().copied()).unwrap_or(0);
                }
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Adds `key` (whose [`Self::hash`] is `hash`); false if it was there.
    fn insert(&mut self, key: &'a [u8], hash: u64) -> bool {
        if (self.len + 1) * 4 > self.hashes.len() * 3 {
            self.grow();
        }
        let mask = self.hashes.len() - 1;
        let mut i = self.home(hash);
        loop {
            match self.hashes[i] {
                0 => {
                    self.hashes[i] = hash;
                    self.keys[i] = Some(key);
                    self.len += 1;
                    return true;
                }
                h if h == hash && self.keys[i] == Some(key) => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Doubles the table, placing every key again by its stored hash.
    fn grow(&mut self) {
        let slots = self.hashes.len() * 2;
        let hashes = std::mem::replace(&mut self.hashes, vec![0; slots]);
        let keys = std::mem::replace(&mut self.keys, vec![None; slots]);
        let mask = slots - 1;
        for (h, k) in hashes.into_iter().zip(keys).filter(|(h, _)| *h != 0) {
            let mut i = self.home(h);
            while self.hashes[i] != 0 {
                i = (i + 1) & mask;
            }
            self.hashes[i] = h;
            self.keys[i] = k;
        }
    }
}

/// Reads `data` as a bbolt file and walks both views to the end; returns
/// (records, broken entries). The fuzz target and self-checks call this.
pub fn walk_bytes(data: &[u8]) -> Result<(usize, usize), SourceError> {
    let path = Path::new("<bytes>");
    let db =
        Db::open(data).map_err(|source| SourceError::Bbolt { path: path.to_path_buf(), source })?;
    let (mut ok, mut bad) = (0, 0);
    for q in [Query::current(), Query::history()] {
        for r in walk(db, path.to_path_buf(), &q)? {
            match r {
                Ok(_) => ok += 1,
                Err(_) => bad += 1,
            }
        }
    }
    Ok((ok, bad))
}

impl RecordSource for BboltSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn records(&mut self, query: &Query) -> Result<Records<'_>, SourceError> {
        let db = Db::open(&self.bytes[..self.len])
            .map_err(|source| SourceError::Bbolt { path: self.path.clone(), source })?;
        walk(db, self.path.clone(), query)
    }

    fn finish(&mut self) -> Result<(), SourceError> {
        let Some(hashing) = self.hashing.take() else { return Ok(()) };
        let digest = match hashing.join() {
            Ok(digest) => digest,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        self.info.trailer = trailer_verdict(&self.bytes, self.len, digest);
        match &self.info.trailer {
            Trailer::Mismatch { stored, computed } => Err(SourceError::TrailerMismatch {
                path: self.path.clone(),
                stored: stored.clone(),
                computed: computed.clone(),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::bbolt::page;
    use super::*;

    const SNAP: &[u8] = include_bytes!("../../fixtures/etcd/snapshot.db");
    const PS: usize = 4096;

    #[test]
    fn seen_keys_grow_and_never_confuse_two_keys() {
        let keys: Vec<Vec<u8>> =
            (0..5000).map(|i| format!("/registry/k/{i}").into_bytes()).collect();
        let mut seen = SeenKeys::with_capacity(1);
        for k in &keys {
            assert!(seen.insert(k, seen.hash(k)));
        }
        assert!(seen.hashes.len() >= 5000 * 4 / 3, "grew to {}", seen.hashes.len());
        for k in &keys {
            assert!(!seen.insert(k, seen.hash(k)), "{k:?} met twice");
        }
        assert_eq!(seen.len, 5000);
        // Two different keys under one hash (forced): both are kept.
        let mut seen = SeenKeys::with_capacity(1);
        let h = 1 << 63 | 5;
        assert!(seen.insert(b"/registry/a", h));
        assert!(seen.insert(b"/registry/b", h));
        assert!(!seen.insert(b"/registry/a", h));
        assert!(!seen.insert(b"/registry/b", h));
        assert_eq!(seen.peek_key(h), b'/');
        assert_eq!(seen.peek_key(1 << 63 | 6), 0);
    }

    fn open(bytes: Vec<u8>) -> Result<BboltSource, SourceError> {
        BboltSource::from_bytes(Bytes::Owned(bytes), Path::new("copy.db"), &OpenOptions::default())
    }

    /// Opens and walks both views; returns the first error met.
    fn first_error(bytes: Vec<u8>) -> Option<String> {
        let mut s = match open(bytes) {
            Ok(s) => s,
            Err(e) => return Some(e.to_string()),
        };
        for q in [Query::current(), Query::history()] {
            match s.records(&q) {
                Err(e) => return Some(e.to_string()),
                Ok(mut it) => {
                    if let Some(Err(e)) = it.find(|r| r.is_err()) {
                        return Some(e.to_string());
                    }
                }
            }
        }
        None
    }

    fn root_page() -> usize {
        let db = Db::open(SNAP).unwrap();
        db.meta().root as usize
    }

    #[test]
    fn intact_fixture_reads() {
        let s = open(SNAP.to_vec()).unwrap();
        assert_eq!(s.info().trailer, Trailer::Valid);
        assert_eq!(s.info().kind, SourceKind::Snapshot);
        assert_eq!(first_error(SNAP.to_vec()), None);
    }

    #[test]
    fn corrupt_copies_name_what_is_wrong() {
        let len = SNAP.len() - TRAILER_LEN;
        let body = &SNAP[..len];
        let skip = OpenOptions { skip_trailer_check: true, ..OpenOptions::default() };
        let open_skip =
            |b: Vec<u8>| BboltSource::from_bytes(Bytes::Owned(b), Path::new("copy.db"), &skip);

        assert!(first_error(Vec::new()).unwrap().contains("empty file"));
        // Truncated: half the pages gone.
        let e = first_error(body[..2 * PS + 100].to_vec()).unwrap();
        assert!(e.contains("file truncated"), "{e}");
        // Zeroed meta pages.
        let mut z = body.to_vec();
        z[..2 * PS].fill(0);
        let e = first_error(z).unwrap();
        assert!(e.contains("no valid meta page"), "{e}");
        // Bad checksum in both metas.
        let mut c = body.to_vec();
        c[PAGE_CHECK_AT] ^= 0x55;
        c[PS + PAGE_CHECK_AT] ^= 0x55;
        let e = first_error(c).unwrap();
        assert!(
            e.contains("checksum") && e.contains("meta page 0") && e.contains("meta page 1"),
            "{e}"
        );
        // Page id mismatch in the root bucket page.
        let root = root_page();
        let mut m = body.to_vec();
        m[root * PS..root * PS + 8].copy_from_slice(&77u64.to_le_bytes());
        let e = first_error(m).unwrap();
        assert!(
            e.contains(&format!("page {root} at offset {}: header says page id 77", root * PS)),
            "{e}"
        );
        // Overflow count past the end of the file.
        let mut o = body.to_vec();
        o[root * PS + 12..root * PS + 16].copy_from_slice(&1000u32.to_le_bytes());
        let e = first_error(o).unwrap();
        assert!(e.contains(&format!("page {root}: overflow 1000 runs past the end")), "{e}");
        // A branch page pointing at itself.
        let mut cyc = body.to_vec();
        let br = page::encode_branch(root as u64, PS, &[(b"key", root as u64)]);
        cyc[root * PS..(root + 1) * PS].copy_from_slice(&br);
        let e = first_error(cyc).unwrap();
        assert!(e.contains(&format!("page {root} reached twice")), "{e}");
        // Random bytes.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let rnd: Vec<u8> = (0..3 * PS)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(first_error(rnd).unwrap().contains("no valid meta page"));
        // Bad trailer: refused, then accepted with a warning when allowed.
        let mut t = SNAP.to_vec();
        let n = t.len();
        t[n - 1] ^= 1;
        let e = open(t.clone()).err().unwrap().to_string();
        assert!(e.contains("trailer"), "{e}");
        let allow = OpenOptions { allow_trailer_mismatch: true, ..OpenOptions::default() };
        let s =
            BboltSource::from_bytes(Bytes::Owned(t.clone()), Path::new("copy.db"), &allow).unwrap();
        assert!(matches!(s.info().trailer, Trailer::Mismatch { .. }));
        assert_eq!(s.info().warnings.len(), 1);
        assert_eq!(open_skip(t.clone()).unwrap().info().trailer, Trailer::NotChecked);
        // Hashed while reading: the verdict comes from finish.
        let reading = OpenOptions { check_trailer_while_reading: true, ..OpenOptions::default() };
        let mut good =
            BboltSource::from_bytes(Bytes::Owned(SNAP.to_vec()), Path::new("copy.db"), &reading)
                .unwrap();
        assert_eq!(good.info().trailer, Trailer::Checking);
        assert_eq!(good.records(&Query::current()).unwrap().count(), 4);
        good.finish().unwrap();
        assert_eq!(good.info().trailer, Trailer::Valid);
        good.finish().unwrap();
        let mut bad =
            BboltSource::from_bytes(Bytes::Owned(t.clone()), Path::new("copy.db"), &reading)
                .unwrap();
        assert_eq!(bad.records(&Query::current()).unwrap().count(), 4);
        let e = bad.finish().unwrap_err().to_string();
        assert!(e.contains("trailer") && e.contains("copy.db"), "{e}");
        assert!(matches!(bad.info().trailer, Trailer::Mismatch { .. }));
        // Allowing a mismatch keeps the check up front, for its warning.
        let both = OpenOptions { allow_trailer_mismatch: true, ..reading };
        let s = BboltSource::from_bytes(Bytes::Owned(t), Path::new("copy.db"), &both).unwrap();
        assert!(matches!(s.info().trailer, Trailer::Mismatch { .. }));
        assert_eq!(s.info().warnings.len(), 1);
        // A damaged record value: reported per record, the walk goes on.
        let needle = b"/registry/configmaps/default/c1";
        let at = body.windows(needle.len()).position(|w| w == needle).unwrap();
        let mut r = body.to_vec();
        r[at - 2] = 0xff; // the KeyValue's key tag: wire type 7
        let mut s = open_skip(r).unwrap();
        let items: Vec<_> = s.records(&Query::history()).unwrap().collect();
        assert_eq!(items.iter().filter(|i| i.is_err()).count(), 1);
        assert_eq!(items.iter().filter(|i| i.is_ok()).count(), 6);
    }

    #[test]
    fn random_mutations_of_real_files_never_panic() {
        // A cheap in-process fuzz (cargo-fuzz runs the same function longer).
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let member: &[u8] = include_bytes!("../../fixtures/etcd/member.db");
        for base in [SNAP, member] {
            for _ in 0..1500 {
                let mut m = base.to_vec();
                for _ in 0..(next() % 8 + 1) {
                    let at = (next() as usize) % m.len();
                    // Mostly hit headers and element tables, where damage matters.
                    let at = if next() % 2 == 0 {
                        (at - at % PS + at % 96).min(m.len() - 1)
                    } else {
                        at
                    };
                    m[at] = next() as u8;
                }
                let _ = walk_bytes(&m);
                let cut = (next() as usize) % m.len();
                let _ = walk_bytes(&m[..cut]);
            }
        }
    }

    /// Offset of the checksum's first byte in a meta page.
    const PAGE_CHECK_AT: usize = page::PAGE_HEADER_SIZE + page::META_CHECKED_LEN;
}
