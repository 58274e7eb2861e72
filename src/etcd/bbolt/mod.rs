//! A read-only reader of bbolt files (etcd snapshots and member data files).
//!
//! This module owns walking a bbolt B+tree from the meta page's root: it
//! picks the valid meta page with the higher transaction id, follows branch
//! pages to leaves, descends into inline and nested buckets and yields
//! key/value slices borrowed from the file bytes. It never writes, never
//! reads the freelist (etcd runs bbolt without syncing it) and never visits a
//! page that is not reachable from the root (stale pages linger in files).
//!
//! Every page read checks the page id written in the page against the id
//! we expected, the span `(overflow + 1) * page_size` against the file size
//! and the meta's high-water mark, and every element against the page span.
//! A page reached twice in one walk is a cycle (or a shared page) and is
//! reported, not followed. No allocation is sized by a field of the file
//! except the visited-page bitset, whose size is bounded by the file length.
//! The byte layouts themselves live in [`page`]; the memory map in [`mmap`].

pub mod mmap;
pub mod page;

use page::{
    BRANCH_PAGE, BUCKET_HEADER_SIZE, BUCKET_LEAF_FLAG, ElementError, LEAF_PAGE, META_LEN, Meta,
    MetaError, PAGE_HEADER_SIZE,
};

/// Maximum tree depth we follow (bbolt trees of any real size are < 10 deep).
pub const MAX_DEPTH: usize = 64;

/// What is wrong with a bbolt file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BboltError {
    /// Zero-length file.
    #[error("empty file: not a bbolt database")]
    Empty,
    /// Neither meta page is valid.
    #[error("no valid meta page: {meta0}; {meta1}")]
    NoValidMeta {
        /// Why meta page 0 was rejected.
        meta0: MetaError,
        /// Why meta page 1 was rejected.
        meta1: MetaError,
    },
    /// The file is shorter than the meta's high-water mark says.
    #[error(
        "file truncated: meta page {meta} (txid {txid}) says {pages} pages of {page_size} bytes, file has {len} bytes"
    )]
    Truncated {
        /// Meta page used.
        meta: u64,
        /// Its txid.
        txid: u64,
        /// High-water mark.
        pages: u64,
        /// Page size.
        page_size: u32,
        /// File length.
        len: u64,
    },
    /// A page id beyond the high-water mark or the file.
    #[error(
        "page {pgid} (referenced from page {from}) is beyond the end ({pages} pages, file {len} bytes)"
    )]
    PageOutOfBounds {
        /// Page id.
        pgid: u64,
        /// The page that referenced it (0: a bucket header).
        from: u64,
        /// High-water mark.
        pages: u64,
        /// File length.
        len: u64,
    },
    /// The page's header names another page id.
    #[error("page {pgid} at offset {offset}: header says page id {found}")]
    PageIdMismatch {
        /// Expected id.
        pgid: u64,
        /// File offset.
        offset: u64,
        /// Id in the header.
        found: u64,
    },
    /// The page's overflow count runs past the end.
    #[error("page {pgid}: overflow {overflow} runs past the end ({pages} pages, file {len} bytes)")]
    OverflowPastEnd {
        /// Page id.
        pgid: u64,
        /// Overflow count.
        overflow: u32,
        /// High-water mark.
        pages: u64,
        /// File length.
        len: u64,
    },
    /// A page of the wrong type where a branch or leaf was expected.
    #[error("page {pgid}: flags {flags:#x}, expected a branch or leaf page")]
    UnexpectedPageType {
        /// Page id.
        pgid: u64,
        /// Flags found.
        flags: u16,
    },
    /// The element count does not fit the page.
    #[error("page {pgid}: {count} elements do not fit in {len} bytes")]
    CountTooLarge {
        /// Page id.
        pgid: u64,
        /// Element count.
        count: u16,
        /// Page span length.
        len: usize,
    },
    /// A broken element.
    #[error("page {pgid}: {source}")]
    Element {
        /// Page id (0 for an inline page).
        pgid: u64,
        /// What is broken.
        source: ElementError,
    },
    /// A page reached twice in one walk.
    #[error("page {pgid} reached twice from {from}: cycle or shared page in the tree")]
    Cycle {
        /// Page id.
        pgid: u64,
        /// Referencing page.
        from: u64,
    },
    /// Tree deeper than [`MAX_DEPTH`].
    #[error("page {pgid}: tree deeper than {MAX_DEPTH} levels")]
    TooDeep {
        /// Page id.
        pgid: u64,
    },
    /// A nested bucket value too short for its header or inline page.
    #[error("bucket {name:?} in page {pgid}: {what}")]
    BadBucket {
        /// Bucket name (lossy UTF-8).
        name: String,
        /// Page holding the bucket value.
        pgid: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// A bucket etcd always has is absent.
    #[error("bucket {0:?} not found")]
    NoSuchBucket(String),
}

/// A validated view of a bbolt file's bytes.
#[derive(Debug, Clone, Copy)]
pub struct Db<'a> {
    data: &'a [u8],
    meta: Meta,
}

/// Where a bucket's tree starts.
#[derive(Debug, Clone, Copy)]
pub enum BucketRoot<'a> {
    /// A page of the file.
    Page(u64),
    /// An inline page stored in the parent's leaf value.
    Inline(&'a [u8]),
}

/// One key/value pair of a bucket, borrowed from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The value (the bucket header for a nested bucket).
    pub value: &'a [u8],
    /// True when the value is a nested bucket.
    pub is_bucket: bool,
    /// The leaf page holding it (0 for inline pages).
    pub pgid: u64,
}

#[derive(Debug, Clone, Copy)]
struct PageView<'a> {
    pgid: u64,
    flags: u16,
    count: usize,
    bytes: &'a [u8],
}

/// Candidate page sizes when meta page 0 is unusable.
const PAGE_SIZES: [u64; 12] =
    [4096, 512, 1024, 2048, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576];

impl<'a> Db<'a> {
    /// Validates the meta pages of `data` (the bbolt bytes, without any
    /// snapshot trailer) and picks the valid one with the higher txid.
    pub fn open(data: &'a [u8]) -> Result<Db<'a>, BboltError> {
        if data.is_empty() {
            return Err(BboltError::Empty);
        }
        let len = data.len() as u64;
        let meta_at = |page: u64, offset: u64| -> Result<Meta, MetaError> {
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            let bytes = data
                .get(start..)
                .and_then(|b| b.get(..PAGE_HEADER_SIZE + META_LEN))
                .ok_or(MetaError::Truncated { page, offset, len })?;
            page::decode_meta(page, bytes)
        };
        let m0 = meta_at(0, 0);
        let m1 = match &m0 {
            Ok(m) => meta_at(1, u64::from(m.page_size)),
            Err(_) => {
                let mut first = None;
                let mut found = None;
                for ps in PAGE_SIZES {
                    match meta_at(1, ps) {
                        Ok(m) if u64::from(m.page_size) == ps => {
                            found = Some(m);
                            break;
                        }
                        Ok(m) => {
                            first
                                .get_or_insert(MetaError::PageSize { page: 1, found: m.page_size });
                        }
                        Err(e) => {
                            first.get_or_insert(e);
                        }
                    }
                }
                match found {
                    Some(m) => Ok(m),
                    None => {
                        Err(first.unwrap_or(MetaError::Truncated { page: 1, offset: 4096, len }))
                    }
                }
            }
        };
        let meta = match (m0, m1) {
            (Ok(a), Ok(b)) => {
                if b.txid > a.txid && b.page_size == a.page_size {
                    b
                } else {
                    a
                }
            }
            (Ok(a), Err(_)) => a,
            (Err(_), Ok(b)) => b,
            (Err(meta0), Err(meta1)) => return Err(BboltError::NoValidMeta { meta0, meta1 }),
        };
        let need = meta.pgid.checked_mul(u64::from(meta.page_size));
        if need.is_none_or(|n| n > len) || meta.pgid < 2 {
            return Err(BboltError::Truncated {
                meta: meta.page,
                txid: meta.txid,
                pages: meta.pgid,
                page_size: meta.page_size,
                len,
            });
        }
        Ok(Db { data, meta })
    }

    /// The meta page in use.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Page size.
    pub fn page_size(&self) -> usize {
        self.meta.page_size as usize
    }

    /// The root bucket (whose entries are the top-level buckets).
    pub fn root(&self) -> BucketRoot<'a> {
        BucketRoot::Page(self.meta.root)
    }

    fn page(&self, pgid: u64, from: u64) -> Result<PageView<'a>, BboltError> {
        let len = self.data.len() as u64;
        let pages = self.meta.pgid;
        let ps = u64::from(self.meta.page_size);
        if pgid < 2 || pgid >= pages {
            return Err(BboltError::PageOutOfBounds { pgid, from, pages, len });
        }
        // pgid < pages and pages * ps <= len (checked in open): no overflow.
        let offset = pgid * ps;
        let start = offset as usize;
        let head = self
            .data
            .get(start..start + PAGE_HEADER_SIZE)
            .ok_or(BboltError::PageOutOfBounds { pgid, from, pages, len })?;
        let mut r = crate::format::reader::Reader::new(head);
        let h = page::decode_header(&mut r).map_err(|_| BboltError::PageOutOfBounds {
            pgid,
            from,
            pages,
            len,
        })?;
        if h.id != pgid {
            return Err(BboltError::PageIdMismatch { pgid, offset, found: h.id });
        }
        let span_pages = u64::from(h.overflow) + 1;
        if pgid + span_pages > pages {
            return Err(BboltError::OverflowPastEnd { pgid, overflow: h.overflow, pages, len });
        }
        let bytes = &self.data[start..start + (span_pages * ps) as usize];
        self.view(pgid, h.flags, h.count, bytes)
    }

    fn view(
        &self,
        pgid: u64,
        flags: u16,
        count: u16,
        bytes: &'a [u8],
    ) -> Result<PageView<'a>, BboltError> {
        if flags & (BRANCH_PAGE | LEAF_PAGE) == 0 {
            return Err(BboltError::UnexpectedPageType { pgid, flags });
        }
        let need = PAGE_HEADER_SIZE + usize::from(count) * page::ELEMENT_SIZE;
        if need > bytes.len() {
            return Err(BboltError::CountTooLarge { pgid, count, len: bytes.len() });
        }
        Ok(PageView { pgid, flags, count: usize::from(count), bytes })
    }

    fn root_view(&self, root: BucketRoot<'a>) -> Result<PageView<'a>, BboltError> {
        match root {
            BucketRoot::Page(p) => self.page(p, 0),
            BucketRoot::Inline(bytes) => {
                let mut r = crate::format::reader::Reader::new(bytes);
                let h = page::decode_header(&mut r).map_err(|_| BboltError::BadBucket {
                    name: String::new(),
                    pgid: 0,
                    what: "inline page shorter than its header",
                })?;
                if h.flags & LEAF_PAGE == 0 {
                    return Err(BboltError::BadBucket {
                        name: String::new(),
                        pgid: 0,
                        what: "inline page is not a leaf page",
                    });
                }
                self.view(0, h.flags, h.count, bytes)
            }
        }
    }

    /// Decodes a nested bucket's value into its root.
    pub fn bucket_root(&self, entry: &Entry<'a>) -> Result<BucketRoot<'a>, BboltError> {
        let bad = |what| BboltError::BadBucket {
            name: String::from_utf8_lossy(entry.key).into_owned(),
            pgid: entry.pgid,
            what,
        };
        let head = entry
            .value
            .get(..BUCKET_HEADER_SIZE)
            .ok_or_else(|| bad("value shorter than a bucket header"))?;
        let mut id = [0u8; 8];
        id.copy_from_slice(&head[..8]);
        let root = u64::from_le_bytes(id);
        if root == 0 {
            let inline = &entry.value[BUCKET_HEADER_SIZE..];
            if inline.len() < PAGE_HEADER_SIZE {
                return Err(bad("inline bucket shorter than a page header"));
            }
            Ok(BucketRoot::Inline(inline))
        } else {
            Ok(BucketRoot::Page(root))
        }
    }

    /// Finds the top-level bucket `name`.
    pub fn bucket(&self, name: &[u8]) -> Result<Option<BucketRoot<'a>>, BboltError> {
        self.sub_bucket(self.root(), name)
    }

    /// Finds the nested bucket `name` inside `parent`.
    pub fn sub_bucket(
        &self,
        parent: BucketRoot<'a>,
        name: &[u8],
    ) -> Result<Option<BucketRoot<'a>>, BboltError> {
        for e in self.entries(parent) {
            let e = e?;
            if e.key == name {
                if !e.is_bucket {
                    return Ok(None);
                }
                return self.bucket_root(&e).map(Some);
            }
        }
        Ok(None)
    }

    /// Looks up `key` in a bucket (linear walk: for small buckets like `meta`).
    pub fn get(&self, bucket: BucketRoot<'a>, key: &[u8]) -> Result<Option<&'a [u8]>, BboltError> {
        for e in self.entries(bucket) {
            let e = e?;
            if e.key == key && !e.is_bucket {
                return Ok(Some(e.value));
            }
        }
        Ok(None)
    }

    /// Iterates a bucket's entries in key order. A broken page yields an
    /// error and its subtree is skipped; the walk goes on with its siblings.
    pub fn entries(&self, bucket: BucketRoot<'a>) -> Entries<'a> {
        self.walk_entries(bucket, false)
    }

    /// Iterates a bucket's entries in descending key order, with the same
    /// checks and error handling as [`Db::entries`].
    pub fn entries_rev(&self, bucket: BucketRoot<'a>) -> Entries<'a> {
        self.walk_entries(bucket, true)
    }

    fn walk_entries(&self, bucket: BucketRoot<'a>, reverse: bool) -> Entries<'a> {
        let pages = self.meta.pgid;
        let mut it = Entries {
            db: *self,
            stack: Vec::with_capacity(8),
            visited: vec![0u64; (pages / 64 + 1) as usize],
            pending: None,
            reverse,
        };
        match self.root_view(bucket) {
            Ok(v) => {
                if let BucketRoot::Page(p) = bucket {
                    it.mark(p);
                }
                it.stack.push((v, 0));
            }
            Err(e) => it.pending = Some(e),
        }
        it
    }

    /// The last entry of a bucket (rightmost leaf), without walking the rest.
    pub fn last(&self, bucket: BucketRoot<'a>) -> Result<Option<Entry<'a>>, BboltError> {
        let mut v = self.root_view(bucket)?;
        for _ in 0..MAX_DEPTH {
            if v.count == 0 {
                return Ok(None);
            }
            let i = v.count - 1;
            if v.flags & BRANCH_PAGE != 0 {
                let e = page::branch_element(v.bytes, i)
                    .map_err(|source| BboltError::Element { pgid: v.pgid, source })?;
                v = self.page(e.pgid, v.pgid)?;
            } else {
                let e = page::leaf_element(v.bytes, i)
                    .map_err(|source| BboltError::Element { pgid: v.pgid, source })?;
                return Ok(Some(Entry {
                    key: e.key,
                    value: e.value,
                    is_bucket: e.flags & BUCKET_LEAF_FLAG != 0,
                    pgid: v.pgid,
                }));
            }
        }
        Err(BboltError::TooDeep { pgid: v.pgid })
    }
}

/// Iterator over a bucket's entries (see [`Db::entries`]).
pub struct Entries<'a> {
    db: Db<'a>,
    stack: Vec<(PageView<'a>, usize)>,
    visited: Vec<u64>,
    pending: Option<BboltError>,
    /// Descending order: a frame's index counts elements taken from the end.
    reverse: bool,
}

impl Entries<'_> {
    /// Marks a page (and its overflow pages) as visited; false if it already was.
    fn mark(&mut self, pgid: u64) -> bool {
        let (w, b) = ((pgid / 64) as usize, pgid % 64);
        match self.visited.get_mut(w) {
            Some(word) => {
                let seen = *word & (1 << b) != 0;
                *word |= 1 << b;
                !seen
            }
            None => true,
        }
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, BboltError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending.take() {
            return Some(Err(e));
        }
        loop {
            let depth = self.stack.len();
            let (view, idx) = self.stack.last_mut()?;
            if *idx >= view.count {
                self.stack.pop();
                continue;
            }
            let i = if self.reverse { view.count - 1 - *idx } else { *idx };
            *idx += 1;
            let view = *view;
            if view.flags & LEAF_PAGE != 0 {
                return Some(
                    page::leaf_element(view.bytes, i)
                        .map(|e| Entry {
                            key: e.key,
                            value: e.value,
                            is_bucket: e.flags & BUCKET_LEAF_FLAG != 0,
                            pgid: view.pgid,
                        })
                        .map_err(|source| BboltError::Element { pgid: view.pgid, source }),
                );
            }
            let child = match page::branch_element(view.bytes, i) {
                Ok(e) => e.pgid,
                Err(source) => return Some(Err(BboltError::Element { pgid: view.pgid, source })),
            };
            if depth >= MAX_DEPTH {
                return Some(Err(BboltError::TooDeep { pgid: child }));
            }
            if !self.mark(child) {
                return Some(Err(BboltError::Cycle { pgid: child, from: view.pgid }));
            }
            match self.db.page(child, view.pgid) {
                Ok(v) => self.stack.push((v, 0)),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::page::*;
    use super::*;

    const PS: usize = 4096;

    /// A tiny bbolt file: root bucket (page 2) with bucket "b" at page 3
    /// (a branch) whose children are leaves 4 and 5, plus an inline bucket "i".
    fn build() -> Vec<u8> {
        let meta = |page, txid| Meta {
            page,
            page_size: PS as u32,
            flags: 0,
            root: 2,
            sequence: 0,
            freelist: u64::MAX,
            pgid: 6,
            txid,
            checksum: 0,
        };
        let mut file = encode_meta(&meta(0, 4));
        file.extend(encode_meta(&meta(1, 5)));
        let mut bucket_b = Vec::new();
        bucket_b.extend_from_slice(&3u64.to_le_bytes());
        bucket_b.extend_from_slice(&0u64.to_le_bytes());
        let mut bucket_i = vec![0u8; 16];
        bucket_i.extend(encode_leaf(0, 0, &[(0, b"ik", b"iv")]));
        file.extend(encode_leaf(
            2,
            PS,
            &[(BUCKET_LEAF_FLAG, b"b", &bucket_b), (BUCKET_LEAF_FLAG, b"i", &bucket_i)],
        ));
        file.extend(encode_branch(3, PS, &[(b"a", 4), (b"m", 5)]));
        file.extend(encode_leaf(4, PS, &[(0, b"a", b"1"), (0, b"c", b"2")]));
        file.extend(encode_leaf(5, PS, &[(0, b"m", b"3")]));
        file
    }

    fn keys(db: &Db<'_>, name: &[u8]) -> Vec<Vec<u8>> {
        let b = db.bucket(name).unwrap().unwrap();
        db.entries(b).map(|e| e.unwrap().key.to_vec()).collect()
    }

    #[test]
    fn walks_branches_and_inline_buckets() {
        let f = build();
        let db = Db::open(&f).unwrap();
        assert_eq!(db.meta().page, 1, "higher txid wins");
        assert_eq!(keys(&db, b"b"), vec![b"a".to_vec(), b"c".to_vec(), b"m".to_vec()]);
        assert_eq!(keys(&db, b"i"), vec![b"ik".to_vec()]);
        let b = db.bucket(b"b").unwrap().unwrap();
        let rev: Vec<_> = db.entries_rev(b).map(|e| e.unwrap().key.to_vec()).collect();
        assert_eq!(rev, vec![b"m".to_vec(), b"c".to_vec(), b"a".to_vec()]);
        assert_eq!(db.last(b).unwrap().unwrap().value, b"3");
        assert_eq!(db.get(b, b"c").unwrap(), Some(&b"2"[..]));
        assert!(db.bucket(b"nope").unwrap().is_none());
    }

    #[test]
    fn damaged_files_yield_named_errors() {
        let f = build();
        assert_eq!(Db::open(&[]).unwrap_err(), BboltError::Empty);
        // Zeroed meta pages.
        let mut z = f.clone();
        z[..2 * PS].fill(0);
        assert!(matches!(Db::open(&z), Err(BboltError::NoValidMeta { .. })));
        // One bad checksum: falls back to the other meta.
        let mut c = f.clone();
        c[PS + 40] ^= 0xff;
        assert_eq!(Db::open(&c).unwrap().meta().page, 0);
        // Truncated file.
        assert!(matches!(Db::open(&f[..3 * PS]), Err(BboltError::Truncated { .. })));
        // Page id mismatch.
        let mut m = f.clone();
        m[4 * PS] = 9;
        let db = Db::open(&m).unwrap();
        let b = db.bucket(b"b").unwrap().unwrap();
        let errs: Vec<_> = db.entries(b).filter_map(|e| e.err()).collect();
        assert!(
            matches!(errs[0], BboltError::PageIdMismatch { pgid: 4, found: 9, .. }),
            "{errs:?}"
        );
        // Overflow past the end.
        let mut o = f.clone();
        o[5 * PS + 12..5 * PS + 16].copy_from_slice(&3u32.to_le_bytes());
        let db = Db::open(&o).unwrap();
        let b = db.bucket(b"b").unwrap().unwrap();
        let errs: Vec<_> = db.entries(b).filter_map(|e| e.err()).collect();
        assert!(
            matches!(errs[0], BboltError::OverflowPastEnd { pgid: 5, overflow: 3, .. }),
            "{errs:?}"
        );
        // A branch pointing at itself.
        let mut cyc = f.clone();
        let br = encode_branch(3, PS, &[(b"a", 4), (b"m", 3)]);
        cyc[3 * PS..4 * PS].copy_from_slice(&br);
        let db = Db::open(&cyc).unwrap();
        let b = db.bucket(b"b").unwrap().unwrap();
        let items: Vec<_> = db.entries(b).collect();
        assert!(
            items.iter().any(|e| matches!(e, Err(BboltError::Cycle { pgid: 3, from: 3 }))),
            "{items:?}"
        );
        assert_eq!(items.iter().filter(|e| e.is_ok()).count(), 2);
        // The same checks hold walking backwards.
        let back: Vec<_> = db.entries_rev(b).collect();
        assert!(
            back.iter().any(|e| matches!(e, Err(BboltError::Cycle { pgid: 3, from: 3 }))),
            "{back:?}"
        );
        assert_eq!(back.iter().filter(|e| e.is_ok()).count(), 2);
    }
}
