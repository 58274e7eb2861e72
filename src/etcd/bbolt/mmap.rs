//! The one place atrest maps a file into memory.
//!
//! This module owns turning a file into a `&[u8]` without reading it all into
//! RAM, so an 8 GiB member database can be walked with bounded memory (the
//! kernel pages it in and out). Everything that reads the bytes goes through
//! the bounds-checked decoders in [`super::page`]; nothing here interprets them.
#![allow(unsafe_code)]

use std::fs::File;
use std::ops::Deref;

/// File bytes, memory-mapped or (for tests and tiny inputs) owned.
pub enum Bytes {
    /// A read-only map of a file.
    Mapped(memmap2::Mmap),
    /// Bytes in memory.
    Owned(Vec<u8>),
}

impl Bytes {
    /// Maps `file` read-only. An empty file gives an empty owned buffer
    /// (mapping zero bytes fails on Linux).
    pub fn map(file: &File) -> std::io::Result<Bytes> {
        if file.metadata()?.len() == 0 {
            return Ok(Bytes::Owned(Vec::new()));
        }
        // SAFETY: memmap2 requires that the file is not modified while mapped.
        // We cannot enforce that: etcd (or an operator) might write or truncate
        // the file while we read it. What can happen then, and why it is
        // acceptable:
        // * changed bytes: every read goes through checked decoders that treat
        //   the bytes as hostile anyway (each offset re-checked against the
        //   slice, no invariant carried between two reads of the same page), so
        //   a concurrent change yields a parse error or a torn record, never an
        //   out-of-bounds access;
        // * truncation: touching a page past the new end raises SIGBUS and ends
        //   the process — a crash, not a wrong answer. The documentation tells
        //   operators to read a snapshot or a copy, not a live member's file.
        // The map is read-only (PROT_READ), so we never write through it.
        let map = unsafe { memmap2::MmapOptions::new().map(file)? };
        // No access-pattern hint: the history walks forwards, the current
        // view backwards, and the kernel's default readahead serves both.
        Ok(Bytes::Mapped(map))
    }
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}
