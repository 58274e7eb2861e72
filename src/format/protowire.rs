//! The protobuf wire format read by hand, for the messages read once per
//! stored object (etcd's `mvccpb.KeyValue`, the typeMeta of a
//! `runtime.Unknown`), where decoding with prost into owned structs costs
//! more than the fields are worth. Every read is bounds-checked and returns
//! a [`WireError`] with the offset instead of panicking.
//!
//! Varints follow Go's decoders (what etcd and kube-apiserver run): at most
//! ten bytes, bits past the 64th dropped. Callers that must agree with
//! prost, which rejects such a tenth byte, check [`varint`]'s length.

/// What is wrong at which byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireError {
    /// Offset in the message.
    pub offset: usize,
    /// What is wrong.
    pub what: &'static str,
}

/// Wire type of a varint field.
pub const VARINT: u64 = 0;
/// Wire type of a 64-bit fixed-width field.
pub const FIXED64: u64 = 1;
/// Wire type of a length-delimited field (bytes, strings, messages).
pub const LEN: u64 = 2;
/// Wire type of a 32-bit fixed-width field.
pub const FIXED32: u64 = 5;

/// One varint at `*pos`, which moves past it; the one-byte case (tags,
/// small numbers) inline.
#[inline]
pub fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    match buf.get(*pos) {
        Some(&b) if b < 0x80 => {
            *pos += 1;
            Ok(u64::from(b))
        }
        _ => varint_long(buf, pos),
    }
}

fn varint_long(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let mut v: u64 = 0;
    for shift in 0..10u32 {
        let Some(&b) = buf.get(*pos) else {
            return Err(WireError { offset: *pos, what: "truncated varint" });
        };
        *pos += 1;
        v |= u64::from(b & 0x7f).checked_shl(7 * shift).unwrap_or(0);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(WireError { offset: *pos, what: "varint longer than 10 bytes" })
}

/// A field key at `*pos`: `(field number, wire type)`.
#[inline]
pub fn key(buf: &[u8], pos: &mut usize) -> Result<(u64, u64), WireError> {
    let k = varint(buf, pos)?;
    Ok((k >> 3, k & 7))
}

/// The payload of a length-delimited field at `*pos` (its length varint
/// first).
#[inline]
pub fn bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Result<&'a [u8], WireError> {
    let at = *pos;
    let n = varint(buf, pos)?;
    take(buf, pos, n).ok_or(WireError { offset: at, what: "length-delimited field past the end" })
}

/// The `n` bytes at `*pos`, if the buffer holds them.
#[inline]
pub fn take<'a>(buf: &'a [u8], pos: &mut usize, n: u64) -> Option<&'a [u8]> {
    let start = *pos;
    let end = usize::try_from(n).ok().and_then(|n| start.checked_add(n))?;
    let s = buf.get(start..end)?;
    *pos = end;
    Some(s)
}

/// Skips the payload of a field of wire type `wire` at `*pos`. Groups
/// (wire types 3 and 4), which neither etcd nor kube-apiserver write, are
/// an error.
pub fn skip(buf: &[u8], pos: &mut usize, wire: u64) -> Result<(), WireError> {
    let at = *pos;
    match wire {
        VARINT => varint(buf, pos).map(drop),
        LEN => bytes(buf, pos).map(drop),
        FIXED64 | FIXED32 => {
            let n = if wire == FIXED64 { 8 } else { 4 };
            take(buf, pos, n)
                .map(drop)
                .ok_or(WireError { offset: at, what: "fixed-width field past the end" })
        }
        _ => Err(WireError { offset: at, what: "unsupported wire type" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_short_long_truncated_and_overlong() {
        let read = |b: &[u8]| {
            let mut pos = 0;
            varint(b, &mut pos).map(|v| (v, pos))
        };
        assert_eq!(read(&[0x05]), Ok((5, 1)));
        assert_eq!(read(&[0xac, 0x02]), Ok((300, 2)));
        assert_eq!(
            read(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Ok((u64::MAX, 10))
        );
        // Go drops the bits past the 64th.
        assert_eq!(
            read(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            Ok((u64::MAX, 10))
        );
        assert!(read(&[0x80, 0x80]).is_err());
        assert!(read(&[0x80; 11]).is_err());
        assert!(read(&[]).is_err());
    }

    #[test]
    fn lengths_and_fixed_widths_stay_inside_the_buffer() {
        let mut pos = 0;
        assert_eq!(bytes(&[3, b'a', b'b', b'c', 9], &mut pos), Ok(&b"abc"[..]));
        assert_eq!(pos, 4);
        let mut pos = 0;
        assert!(bytes(&[4, b'a'], &mut pos).is_err());
        let mut pos = 0;
        assert!(
            bytes(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], &mut pos).is_err()
        );
        let mut pos = 1;
        assert!(skip(&[0, 1, 2, 3], &mut pos, FIXED32).is_err());
        assert!(skip(&[0, 1, 2, 3, 4], &mut pos, FIXED32).is_ok());
        assert_eq!(pos, 5);
        assert!(skip(&[], &mut 0, 3).is_err());
    }
}
