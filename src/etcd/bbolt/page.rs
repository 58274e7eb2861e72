//! bbolt's on-disk page layout: meta pages, page headers, branch and leaf
//! elements, bucket headers. Byte layouts only — no I/O, no tree walking.
//!
//! Every decoder takes the bytes of one page (or one inline page) and checks
//! each offset against that slice before reading, so a hostile page can only
//! produce an error naming the page id and the element index.
//!
//! Layout (little-endian, as bbolt writes it on amd64/arm64):
//! * page header, 16 bytes: `id u64`, `flags u16`, `count u16`, `overflow u32`;
//! * meta (after the header): `magic u32`, `version u32`, `page_size u32`,
//!   `flags u32`, root bucket `{root u64, sequence u64}`, `freelist u64`,
//!   `pgid u64` (high-water mark), `txid u64`, `checksum u64` (FNV-64a of
//!   the 56 bytes before it);
//! * branch element, 16 bytes: `pos u32`, `ksize u32`, `pgid u64`;
//! * leaf element, 16 bytes: `flags u32`, `pos u32`, `ksize u32`, `vsize u32`;
//!   `pos` counts from the element's own start;
//! * bucket value: `{root u64, sequence u64}`, followed by an inline page when
//!   `root == 0`.

use crate::format::reader::Reader;

/// Size of a page header.
pub const PAGE_HEADER_SIZE: usize = 16;
/// Size of a branch or leaf element.
pub const ELEMENT_SIZE: usize = 16;
/// Size of a bucket header (`root`, `sequence`).
pub const BUCKET_HEADER_SIZE: usize = 16;
/// The meta magic number.
pub const MAGIC: u32 = 0xED0C_DAED;
/// The only file format version bbolt writes.
pub const VERSION: u32 = 2;
/// Bytes of meta covered by the checksum.
pub const META_CHECKED_LEN: usize = 56;
/// Meta size including the checksum.
pub const META_LEN: usize = 64;

/// Page flag: branch page.
pub const BRANCH_PAGE: u16 = 0x01;
/// Page flag: leaf page.
pub const LEAF_PAGE: u16 = 0x02;
/// Page flag: meta page.
pub const META_PAGE: u16 = 0x04;
/// Page flag: freelist page.
pub const FREELIST_PAGE: u16 = 0x10;
/// Leaf element flag: the value is a nested bucket.
pub const BUCKET_LEAF_FLAG: u32 = 0x01;

/// FNV-1a, 64 bit (bbolt's meta checksum).
pub fn fnv64a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Why a meta page was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetaError {
    /// The file ends before the meta page.
    #[error("meta page {page} at offset {offset}: file too short ({len} bytes)")]
    Truncated {
        /// Meta page number (0 or 1).
        page: u64,
        /// Offset of the page.
        offset: u64,
        /// File length.
        len: u64,
    },
    /// Page header does not say "meta page N".
    #[error("meta page {page}: header says page id {found_id}, flags {found_flags:#x}")]
    Header {
        /// Meta page number (0 or 1).
        page: u64,
        /// Page id in the header.
        found_id: u64,
        /// Flags in the header.
        found_flags: u16,
    },
    /// Wrong magic number.
    #[error("meta page {page}: magic {found:#010x}, expected 0xed0cdaed")]
    Magic {
        /// Meta page number.
        page: u64,
        /// Magic found.
        found: u32,
    },
    /// Unsupported version.
    #[error("meta page {page}: version {found}, expected 2")]
    Version {
        /// Meta page number.
        page: u64,
        /// Version found.
        found: u32,
    },
    /// Checksum mismatch.
    #[error("meta page {page}: checksum {stored:#018x} does not match computed {computed:#018x}")]
    Checksum {
        /// Meta page number.
        page: u64,
        /// Stored checksum.
        stored: u64,
        /// FNV-64a computed over the meta.
        computed: u64,
    },
    /// Page size is not a power of two in 512..=1 MiB.
    #[error("meta page {page}: implausible page size {found}")]
    PageSize {
        /// Meta page number.
        page: u64,
        /// Page size found.
        found: u32,
    },
}

/// A decoded, checksum-verified meta page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Which meta page (0 or 1).
    pub page: u64,
    /// Page size of the file.
    pub page_size: u32,
    /// Meta flags.
    pub flags: u32,
    /// Root bucket's root page id.
    pub root: u64,
    /// Root bucket sequence.
    pub sequence: u64,
    /// Freelist page id (`u64::MAX` when the freelist is not synced, as etcd runs bbolt).
    pub freelist: u64,
    /// High-water mark: number of pages in use.
    pub pgid: u64,
    /// Transaction id of the commit that wrote this meta.
    pub txid: u64,
    /// Stored checksum.
    pub checksum: u64,
}

/// Decodes and verifies meta page `page` from `bytes`, the page's bytes
/// (at least header + 64 bytes).
pub fn decode_meta(page: u64, bytes: &[u8]) -> Result<Meta, MetaError> {
    let mut r = Reader::new(bytes);
    let header = decode_header(&mut r).map_err(|_| MetaError::Truncated {
        page,
        offset: 0,
        len: bytes.len() as u64,
    })?;
    let body = r.take(META_LEN, "meta").map_err(|_| MetaError::Truncated {
        page,
        offset: 0,
        len: bytes.len() as u64,
    })?;
    let mut m = Reader::new(body);
    // Infallible from here: `body` is exactly META_LEN bytes.
    let rd = |m: &mut Reader<'_>| m.u32_le("meta").unwrap_or(0);
    let rq = |m: &mut Reader<'_>| m.u64_le("meta").unwrap_or(0);
    let magic = rd(&mut m);
    let version = rd(&mut m);
    let page_size = rd(&mut m);
    let flags = rd(&mut m);
    let root = rq(&mut m);
    let sequence = rq(&mut m);
    let freelist = rq(&mut m);
    let pgid = rq(&mut m);
    let txid = rq(&mut m);
    let checksum = rq(&mut m);
    if magic != MAGIC {
        return Err(MetaError::Magic { page, found: magic });
    }
    if header.id != page || header.flags & META_PAGE == 0 {
        return Err(MetaError::Header { page, found_id: header.id, found_flags: header.flags });
    }
    if version != VERSION {
        return Err(MetaError::Version { page, found: version });
    }
    let computed = fnv64a(body.get(..META_CHECKED_LEN).unwrap_or_default());
    if computed != checksum {
        return Err(MetaError::Checksum { page, stored: checksum, computed });
    }
    if !page_size.is_power_of_two() || !(512..=1 << 20).contains(&page_size) {
        return Err(MetaError::PageSize { page, found: page_size });
    }
    Ok(Meta { page, page_size, flags, root, sequence, freelist, pgid, txid, checksum })
}

/// Encodes a meta page body (for tests and fixtures): header + meta with a
/// correct checksum, padded to `page_size`.
pub fn encode_meta(meta: &Meta) -> Vec<u8> {
    let mut out = Vec::with_capacity(meta.page_size as usize);
    out.extend_from_slice(&meta.page.to_le_bytes());
    out.extend_from_slice(&META_PAGE.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let start = out.len();
    for v in [MAGIC, VERSION, meta.page_size, meta.flags] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [meta.root, meta.sequence, meta.freelist, meta.pgid, meta.txid] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let sum = fnv64a(&out[start..]);
    out.extend_from_slice(&sum.to_le_bytes());
    out.resize((meta.page_size as usize).max(out.len()), 0);
    out
}

/// A page header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageHeader {
    /// Page id the page claims to be.
    pub id: u64,
    /// Page type flags.
    pub flags: u16,
    /// Number of elements.
    pub count: u16,
    /// Number of extra pages this page spans.
    pub overflow: u32,
}

/// Decodes a page header from the reader.
pub fn decode_header(r: &mut Reader<'_>) -> Result<PageHeader, crate::format::reader::ReadError> {
    Ok(PageHeader {
        id: r.u64_le("page header id")?,
        flags: r.u16_le("page header flags")?,
        count: r.u16_le("page header count")?,
        overflow: r.u32_le("page header overflow")?,
    })
}

/// A branch element: the first key of a child page and the child's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BranchElement<'a> {
    /// Smallest key in the child.
    pub key: &'a [u8],
    /// Child page id.
    pub pgid: u64,
}

/// A leaf element: a key and its value (or nested bucket header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafElement<'a> {
    /// Element flags ([`BUCKET_LEAF_FLAG`]).
    pub flags: u32,
    /// The key.
    pub key: &'a [u8],
    /// The value.
    pub value: &'a [u8],
}

/// Where an element is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "element {index}: {what} at offset {offset} (+{len}) runs past the page end ({page_len} bytes)"
)]
pub struct ElementError {
    /// Element index.
    pub index: usize,
    /// What was being read.
    pub what: &'static str,
    /// Offset in the page.
    pub offset: u64,
    /// Length requested.
    pub len: u64,
    /// Length of the page span.
    pub page_len: usize,
}

fn slice<'a>(
    page: &'a [u8],
    index: usize,
    what: &'static str,
    offset: u64,
    len: u64,
) -> Result<&'a [u8], ElementError> {
    let err = || ElementError { index, what, offset, len, page_len: page.len() };
    let start = usize::try_from(offset).map_err(|_| err())?;
    let n = usize::try_from(len).map_err(|_| err())?;
    let end = start.checked_add(n).ok_or_else(err)?;
    page.get(start..end).ok_or_else(err)
}

fn elem_fields(page: &[u8], index: usize) -> Result<(u64, [u8; 16]), ElementError> {
    let base = (PAGE_HEADER_SIZE as u64) + (index as u64) * (ELEMENT_SIZE as u64);
    let raw = slice(page, index, "element header", base, ELEMENT_SIZE as u64)?;
    let mut a = [0u8; 16];
    a.copy_from_slice(raw);
    Ok((base, a))
}

fn le32(a: &[u8; 16], at: usize) -> u32 {
    u32::from_le_bytes([a[at], a[at + 1], a[at + 2], a[at + 3]])
}

/// Reads branch element `index` of the page whose bytes (header included) are `page`.
pub fn branch_element(page: &[u8], index: usize) -> Result<BranchElement<'_>, ElementError> {
    let (base, a) = elem_fields(page, index)?;
    let pos = u64::from(le32(&a, 0));
    let ksize = u64::from(le32(&a, 4));
    let mut id = [0u8; 8];
    id.copy_from_slice(&a[8..16]);
    let key = slice(page, index, "branch key", base + pos, ksize)?;
    Ok(BranchElement { key, pgid: u64::from_le_bytes(id) })
}

/// Reads leaf element `index` of the page whose bytes (header included) are `page`.
pub fn leaf_element(page: &[u8], index: usize) -> Result<LeafElement<'_>, ElementError> {
    let (base, a) = elem_fields(page, index)?;
    let flags = le32(&a, 0);
    let pos = u64::from(le32(&a, 4));
    let ksize = u64::from(le32(&a, 8));
    let vsize = u64::from(le32(&a, 12));
    let key = slice(page, index, "leaf key", base + pos, ksize)?;
    let value = slice(page, index, "leaf value", base + pos + ksize, vsize)?;
    Ok(LeafElement { flags, key, value })
}

/// Encodes a leaf page (for tests): header with `id`, elements and data,
/// padded to `page_size` (or longer if needed; overflow set accordingly).
pub fn encode_leaf(id: u64, page_size: usize, items: &[(u32, &[u8], &[u8])]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut elems = Vec::new();
    let data_start = PAGE_HEADER_SIZE + items.len() * ELEMENT_SIZE;
    for (i, (flags, k, v)) in items.iter().enumerate() {
        let elem_at = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
        let pos = (data_start + data.len() - elem_at) as u32;
        elems.extend_from_slice(&flags.to_le_bytes());
        elems.extend_from_slice(&pos.to_le_bytes());
        elems.extend_from_slice(&(k.len() as u32).to_le_bytes());
        elems.extend_from_slice(&(v.len() as u32).to_le_bytes());
        data.extend_from_slice(k);
        data.extend_from_slice(v);
    }
    finish_page(id, LEAF_PAGE, items.len(), page_size, elems, data)
}

/// Encodes a branch page (for tests).
pub fn encode_branch(id: u64, page_size: usize, items: &[(&[u8], u64)]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut elems = Vec::new();
    let data_start = PAGE_HEADER_SIZE + items.len() * ELEMENT_SIZE;
    for (i, (k, child)) in items.iter().enumerate() {
        let elem_at = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
        let pos = (data_start + data.len() - elem_at) as u32;
        elems.extend_from_slice(&pos.to_le_bytes());
        elems.extend_from_slice(&(k.len() as u32).to_le_bytes());
        elems.extend_from_slice(&child.to_le_bytes());
        data.extend_from_slice(k);
    }
    finish_page(id, BRANCH_PAGE, items.len(), page_size, elems, data)
}

fn finish_page(
    id: u64,
    flags: u16,
    count: usize,
    page_size: usize,
    elems: Vec<u8>,
    data: Vec<u8>,
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&(count as u16).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&elems);
    out.extend_from_slice(&data);
    if page_size > 0 {
        let pages = out.len().div_ceil(page_size).max(1);
        let overflow = (pages - 1) as u32;
        out[12..16].copy_from_slice(&overflow.to_le_bytes());
        out.resize(pages * page_size, 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv64a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv64a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv64a(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn meta_round_trips_and_rejects_damage() {
        let m = Meta {
            page: 1,
            page_size: 4096,
            flags: 0,
            root: 3,
            sequence: 0,
            freelist: u64::MAX,
            pgid: 9,
            txid: 7,
            checksum: 0,
        };
        let bytes = encode_meta(&m);
        let got = decode_meta(1, &bytes).unwrap();
        assert_eq!((got.root, got.pgid, got.txid, got.page_size), (3, 9, 7, 4096));
        assert!(matches!(decode_meta(0, &bytes), Err(MetaError::Header { .. })));
        let mut bad = bytes.clone();
        bad[40] ^= 1;
        assert!(matches!(decode_meta(1, &bad), Err(MetaError::Checksum { page: 1, .. })));
        let mut bad = bytes.clone();
        bad[16] = 0;
        assert!(matches!(decode_meta(1, &bad), Err(MetaError::Magic { .. })));
        assert!(matches!(decode_meta(1, &bytes[..40]), Err(MetaError::Truncated { .. })));
    }

    #[test]
    fn leaf_and_branch_elements_round_trip_and_are_bounds_checked() {
        let page = encode_leaf(4, 4096, &[(0, b"a", b"one"), (BUCKET_LEAF_FLAG, b"bb", b"")]);
        let e = leaf_element(&page, 0).unwrap();
        assert_eq!((e.key, e.value), (&b"a"[..], &b"one"[..]));
        assert_eq!(leaf_element(&page, 1).unwrap().flags, BUCKET_LEAF_FLAG);
        let b = encode_branch(5, 4096, &[(b"k", 7)]);
        assert_eq!(branch_element(&b, 0).unwrap().pgid, 7);
        // An element whose ksize points past the page.
        let mut bad = page.clone();
        bad[PAGE_HEADER_SIZE + 8..PAGE_HEADER_SIZE + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = leaf_element(&bad, 0).unwrap_err();
        assert_eq!(err.what, "leaf key");
        assert!(leaf_element(&page[..20], 0).is_err());
    }
}
