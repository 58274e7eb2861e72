//! A bounds-checked cursor over untrusted bytes.
//!
//! Every read checks the remaining length first and fails with a
//! [`ReadError`] naming the structure and the offset, so no decoder can index
//! past the end of its input or allocate a size it has not checked.

/// A read past the end of the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: need {needed} bytes at offset {offset}, only {available} left")]
pub struct ReadError {
    /// The structure being read.
    pub what: &'static str,
    /// Offset of the read from the start of the input.
    pub offset: usize,
    /// Bytes requested.
    pub needed: usize,
    /// Bytes that remained.
    pub available: usize,
}

/// A cursor over a byte slice with checked reads.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Current offset from the start.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The unread bytes.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Number of unread bytes.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ReadError> {
        let available = self.remaining();
        if n > available {
            return Err(ReadError { what, offset: self.pos, needed: n, available });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ReadError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// A big-endian u16.
    pub fn u16_be(&mut self, what: &'static str) -> Result<u16, ReadError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    /// A little-endian u16.
    pub fn u16_le(&mut self, what: &'static str) -> Result<u16, ReadError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    /// A little-endian u32.
    pub fn u32_le(&mut self, what: &'static str) -> Result<u32, ReadError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// A little-endian u64.
    pub fn u64_le(&mut self, what: &'static str) -> Result<u64, ReadError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A big-endian u64.
    pub fn u64_be(&mut self, what: &'static str) -> Result<u64, ReadError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounds_checked_and_name_the_structure() {
        let mut r = Reader::new(&[0, 5, 1, 2, 3]);
        assert_eq!(r.u16_be("len").unwrap(), 5);
        let err = r.take(5, "payload").unwrap_err();
        assert_eq!(err, ReadError { what: "payload", offset: 2, needed: 5, available: 3 });
        assert_eq!(r.take(3, "payload").unwrap(), &[1, 2, 3]);
        assert_eq!(r.remaining(), 0);
        assert!(r.u64_le("x").is_err());
    }
}
