//! Sources of etcd records: what etcd really stores, from wherever the
//! operator has it.
//!
//! This module owns reading etcd data: the offline bbolt reader for snapshots
//! and member data files ([`bbolt`], [`snapshot`]), `etcdctl -w json` dumps
//! ([`dump`]), raw single values ([`raw`]) and the live client ([`live`]).
//! Every source implements [`RecordSource`] and yields [`Record`]s through a
//! synchronous iterator (the live source owns its own runtime); none of them
//! interprets values (that is [`crate::scan`]'s job) or decrypts anything.
//! [`open_source`] sniffs a path and picks the right source.

pub mod bbolt;
pub mod dump;
pub mod live;
pub mod mvcc;
pub mod raw;
pub mod snapshot;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// One revision of one etcd key, as etcd's MVCC store holds it.
///
/// Key and value borrow from the source when it holds them in memory (a
/// memory-mapped bbolt file: no copy per record) and are owned otherwise
/// (dumps, live reads). [`Record::into_owned`] detaches a record from its
/// source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// The etcd key, e.g. `/registry/secrets/default/s1`.
    pub key: Cow<'a, [u8]>,
    /// The stored value (empty for a tombstone).
    pub value: Cow<'a, [u8]>,
    /// Revision at which the key was created (0 for a tombstone).
    pub create_revision: i64,
    /// Revision of this version (for bbolt sources: the main revision of the
    /// `key` bucket entry, also for tombstones).
    pub mod_revision: i64,
    /// Version counter of the key (1 for a fresh key, 0 for a tombstone).
    pub version: i64,
    /// Lease ID, 0 for none.
    pub lease: i64,
    /// Sub revision inside the transaction (bbolt sources; 0 elsewhere).
    pub sub_revision: i64,
    /// True when this entry records the key's deletion (history view only).
    pub tombstone: bool,
}

impl<'a> Record<'a> {
    /// A key's first version, written at `revision` (no lease).
    pub fn created(
        key: impl Into<Cow<'a, [u8]>>,
        value: impl Into<Cow<'a, [u8]>>,
        revision: i64,
    ) -> Record<'a> {
        Record {
            key: key.into(),
            value: value.into(),
            create_revision: revision,
            mod_revision: revision,
            version: 1,
            lease: 0,
            sub_revision: 0,
            tombstone: false,
        }
    }

    /// The same record, owning its key and value.
    pub fn into_owned(self) -> Record<'static> {
        Record {
            key: Cow::Owned(self.key.into_owned()),
            value: Cow::Owned(self.value.into_owned()),
            ..self
        }
    }
}

/// Which records a source yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// The latest revision of every live key (deleted keys dropped), like
    /// `etcdctl get --prefix` at the source's revision.
    Current,
    /// Every revision still in the file, tombstones flagged, in revision
    /// order. Only bbolt sources have history.
    History,
}

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Current view or full history.
    pub view: View,
    /// Only keys starting with this prefix (empty: all keys).
    pub prefix: Vec<u8>,
}

impl Query {
    /// The current view of every key.
    pub fn current() -> Query {
        Query { view: View::Current, prefix: Vec::new() }
    }

    /// The full history of every key.
    pub fn history() -> Query {
        Query { view: View::History, prefix: Vec::new() }
    }

    /// Restricts to keys under `prefix`.
    pub fn with_prefix(mut self, prefix: impl Into<Vec<u8>>) -> Query {
        self.prefix = prefix.into();
        self
    }
}

/// The kind of source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// `etcdctl snapshot save` output (bbolt + SHA-256 trailer).
    Snapshot,
    /// A member's data file (`member/snap/db`), bbolt without trailer.
    DataFile,
    /// `etcdctl get -w json` output (one or more documents).
    JsonDump,
    /// One raw value with its key given separately.
    RawValue,
    /// A live etcd cluster.
    Live,
}

/// State of a snapshot's SHA-256 trailer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum Trailer {
    /// No trailer (a data file, or not a bbolt source).
    Absent,
    /// Present, not verified (verification was switched off).
    NotChecked,
    /// Present and matching the file.
    Valid,
    /// Present and being hashed on a background thread while the records
    /// are read ([`OpenOptions::check_trailer_while_reading`]);
    /// [`RecordSource::finish`] gives the verdict.
    Checking,
    /// Present and not matching: the file was changed or truncated after it was saved.
    Mismatch {
        /// Hex of the stored trailer.
        stored: String,
        /// Hex of the SHA-256 of the data.
        computed: String,
    },
}

/// bbolt details of a file source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BboltInfo {
    /// Page size from the meta page.
    pub page_size: u32,
    /// Meta page used (0 or 1).
    pub meta_page: u64,
    /// Its transaction id.
    pub txid: u64,
    /// High-water mark (pages in use).
    pub pages: u64,
    /// File length in bytes (trailer included).
    pub file_len: u64,
}

/// What a source is and which revision it shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceInfo {
    /// Kind of source.
    pub kind: SourceKind,
    /// Path or endpoints.
    pub origin: String,
    /// The revision the records are consistent at (the highest revision in
    /// a bbolt file, the header revision of a dump or of the pinned live read).
    pub revision: Option<i64>,
    /// Last finished compaction (`finishedCompactRev`): history before it is gone.
    pub compact_revision: Option<i64>,
    /// Last scheduled compaction (`scheduledCompactRev`); differs from
    /// `compact_revision` when a compaction was interrupted.
    pub scheduled_compact_revision: Option<i64>,
    /// The raft index the backend is consistent with (`consistent_index`).
    pub consistent_index: Option<u64>,
    /// Cluster id (dumps, live).
    pub cluster_id: Option<u64>,
    /// Member id (dumps, live).
    pub member_id: Option<u64>,
    /// bbolt details (file sources).
    pub bbolt: Option<BboltInfo>,
    /// Snapshot trailer state.
    pub trailer: Trailer,
    /// True when [`View::History`] is available.
    pub has_history: bool,
    /// Things the operator should know (trailer mismatch allowed, trailing newline...).
    pub warnings: Vec<String>,
}

impl SourceInfo {
    /// A source of `kind` at `origin` with nothing known about it yet.
    pub fn new(kind: SourceKind, origin: String) -> SourceInfo {
        SourceInfo {
            kind,
            origin,
            revision: None,
            compact_revision: None,
            scheduled_compact_revision: None,
            consistent_index: None,
            cluster_id: None,
            member_id: None,
            bbolt: None,
            trailer: Trailer::Absent,
            has_history: false,
            warnings: Vec::new(),
        }
    }
}

/// Why a source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bbolt structure is broken.
    #[error("{}: {source}", path.display())]
    Bbolt {
        /// The path.
        path: PathBuf,
        /// What is broken.
        source: bbolt::BboltError,
    },
    /// A bbolt file that is not an etcd backend.
    #[error("{}: not an etcd backend: {what}", path.display())]
    NotEtcd {
        /// The path.
        path: PathBuf,
        /// What is missing.
        what: String,
    },
    /// One record of the `key` bucket is broken (the walk goes on).
    #[error("key bucket entry {key_hex} in page {pgid}: {source}")]
    Record {
        /// The bucket key in hex.
        key_hex: String,
        /// The leaf page.
        pgid: u64,
        /// What is wrong.
        source: mvcc::MvccError,
    },
    /// The snapshot's SHA-256 trailer does not match.
    #[error(
        "{}: snapshot SHA-256 trailer {stored} does not match the data ({computed}): the file was modified or truncated after it was saved",
        path.display()
    )]
    TrailerMismatch {
        /// The path.
        path: PathBuf,
        /// Hex of the stored trailer.
        stored: String,
        /// Hex of the computed digest.
        computed: String,
    },
    /// A JSON dump that does not parse.
    #[error("{}: JSON document {document}: {detail}", path.display())]
    Dump {
        /// The path.
        path: PathBuf,
        /// Index of the document (0-based).
        document: usize,
        /// What is wrong.
        detail: String,
    },
    /// A raw value file was given without its etcd key.
    #[error(
        "{}: not a bbolt file (no valid meta page) nor a JSON dump; to read it as one raw value, give its etcd key",
        path.display()
    )]
    RawNeedsKey {
        /// The path.
        path: PathBuf,
    },
    /// The cluster could not be reached after retries.
    #[error("cannot reach etcd at {endpoints}: {detail}")]
    Unreachable {
        /// The endpoints tried.
        endpoints: String,
        /// The last error.
        detail: String,
    },
    /// The cluster answered with an error, or the client setup failed.
    #[error("etcd at {endpoints}: {detail}")]
    Live {
        /// The endpoints.
        endpoints: String,
        /// What went wrong.
        detail: String,
    },
    /// The source cannot produce what was asked.
    #[error("{0}")]
    Unsupported(String),
}

/// The iterator every source returns (`Send`, so a scanner may hand it to
/// another thread or use `par_bridge`).
pub type Records<'a> = Box<dyn Iterator<Item = Result<Record<'a>, SourceError>> + Send + 'a>;

/// Boxes a stream of owned records as a source's [`Records`].
pub(crate) fn owned_records<'a, I>(records: I) -> Records<'a>
where
    I: Iterator<Item = Result<Record<'static>, SourceError>> + Send + 'a,
{
    // Not an identity map: it shortens `Record<'static>` to `Record<'a>`,
    // which a trait object's `Item` type cannot do by itself.
    #[allow(clippy::map_identity)]
    Box::new(records.map(|r| -> Result<Record<'a>, SourceError> { r }))
}

/// A source of etcd records.
pub trait RecordSource: Send {
    /// What the source is (kind, revision, compaction, warnings).
    fn info(&self) -> &SourceInfo;

    /// The records of `query`. Items that fail (a broken page, a record that
    /// does not decode) are `Err` items and the iteration goes on where the
    /// source can; an `Err` from this call means nothing can be read.
    fn records(&mut self, query: &Query) -> Result<Records<'_>, SourceError>;

    /// Ends the reading: the checks that ran alongside it (a snapshot
    /// trailer hashed while reading) give their verdict. An `Err` means the
    /// records read may not be what was saved.
    fn finish(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
}

/// A forced source type (instead of sniffing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForceKind {
    /// bbolt snapshot or data file.
    Bbolt,
    /// `etcdctl -w json` dump.
    Json,
    /// Raw value (needs [`OpenOptions::raw_key`]).
    Raw,
}

/// Options for opening a file source.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Skip sniffing and read the file as this kind.
    pub force: Option<ForceKind>,
    /// Do not hash the file to verify a snapshot's SHA-256 trailer.
    pub skip_trailer_check: bool,
    /// Read a snapshot whose trailer does not match (a warning in the info).
    pub allow_trailer_mismatch: bool,
    /// Hash a snapshot for its trailer check on a background thread while
    /// the records are read, instead of before: [`RecordSource::finish`]
    /// then fails on a mismatch. For a reader that takes every record and
    /// can still fail at the end (a scan); with `allow_trailer_mismatch`
    /// the check stays up front, so its warning is known before reading.
    pub check_trailer_while_reading: bool,
    /// The etcd key of a raw value file.
    pub raw_key: Option<Vec<u8>>,
    /// The raw value came from `etcdctl get --print-value-only`: strip the
    /// one `\n` etcdctl appends.
    pub strip_newline: bool,
}

/// What a path holds, judged from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// bbolt magic in a meta page.
    Bbolt,
    /// JSON (first non-blank byte `{`).
    Json,
    /// Anything else.
    Other,
}

/// Classifies the first bytes of a file (give at least 4 KiB when available).
pub fn sniff(head: &[u8]) -> Sniffed {
    let magic = bbolt::page::MAGIC.to_le_bytes();
    if head.get(16..20) == Some(&magic[..]) {
        return Sniffed::Bbolt;
    }
    match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Sniffed::Json,
        _ => Sniffed::Other,
    }
}

/// Opens a file source, sniffing its type: bbolt magic at a meta page →
/// snapshot or data file; `{` → JSON dump; anything else → a raw value
/// (which needs [`OpenOptions::raw_key`]).
pub fn open_source(
    path: &Path,
    options: &OpenOptions,
) -> Result<Box<dyn RecordSource>, SourceError> {
    let kind = match options.force {
        Some(k) => k,
        None => {
            use std::io::Read;
            let io = |source| SourceError::Io { path: path.to_path_buf(), source };
            let mut f = std::fs::File::open(path).map_err(io)?;
            let mut head = Vec::with_capacity(4096);
            f.by_ref().take(4096).read_to_end(&mut head).map_err(io)?;
            match sniff(&head) {
                Sniffed::Bbolt => ForceKind::Bbolt,
                Sniffed::Json => ForceKind::Json,
                Sniffed::Other if options.raw_key.is_some() => ForceKind::Raw,
                Sniffed::Other if head.is_empty() => {
                    return Err(SourceError::Bbolt {
                        path: path.to_path_buf(),
                        source: bbolt::BboltError::Empty,
                    });
                }
                Sniffed::Other => {
                    // Meta page 0 may be damaged while meta page 1 is fine:
                    // try bbolt, and if no meta page is valid, say what we need.
                    return match snapshot::BboltSource::open(path, options) {
                        Ok(s) => Ok(Box::new(s)),
                        Err(SourceError::Bbolt {
                            source: bbolt::BboltError::NoValidMeta { .. },
                            ..
                        }) => Err(SourceError::RawNeedsKey { path: path.to_path_buf() }),
                        Err(e) => Err(e),
                    };
                }
            }
        }
    };
    Ok(match kind {
        ForceKind::Bbolt => Box::new(snapshot::BboltSource::open(path, options)?),
        ForceKind::Json => Box::new(dump::JsonDumpSource::open(path)?),
        ForceKind::Raw => Box::new(raw::RawValueSource::open(path, options)?),
    })
}
