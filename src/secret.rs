//! Key material types.
//!
//! This module owns every byte of secret key material that atrest holds: data
//! encryption keys from configs, KMS DEKs and seeds after unwrapping, and keys
//! being generated. The types zeroize on drop, implement neither `Debug`,
//! `Display`, `Serialize` nor `Clone`, and hand out their bytes only through
//! an explicit [`SecretBytes::expose`] call, so a key cannot reach a log line
//! or an error message by accident.

use zeroize::Zeroizing;

/// Wipes a buffer that held plaintext or key material, up to its capacity,
/// and empties it. `zeroize::zeroize_bytes` fills in bulk behind an
/// optimization barrier, so the writes are neither removed nor done one
/// byte at a time (what `Vec::zeroize` does: a sixth of the time of a
/// verify scan of 8 KiB objects).
pub fn wipe(buf: &mut Vec<u8>) {
    buf.resize(buf.capacity(), 0);
    zeroize::zeroize_bytes(buf);
    buf.clear();
}

/// Wipes every string of a JSON tree (a decoded Secret rendered for
/// `extract`): values and object keys' values alike; the tree's shape stays.
pub fn wipe_json(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => zeroize::Zeroize::zeroize(s),
        Value::Array(items) => items.iter_mut().for_each(wipe_json),
        Value::Object(map) => map.values_mut().for_each(wipe_json),
        _ => {}
    }
}

/// Reads a whole file that holds keys (a config, an archive) into a buffer
/// that is wiped on drop. The buffer is sized from the file's length first,
/// so no smaller copy is left behind by a reallocation while reading (unless
/// the file grows meanwhile).
pub fn read_key_file(path: &std::path::Path) -> std::io::Result<Zeroizing<Vec<u8>>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata().map_or(0, |m| m.len());
    let mut buf = Zeroizing::new(Vec::with_capacity(usize::try_from(len).unwrap_or(0) + 1));
    file.read_to_end(&mut buf)?;
    Ok(buf)
}

/// Secret bytes (a key, a DEK, a seed) that are wiped from memory on drop.
///
/// There is deliberately no `Debug`, `Display`, `Clone` or `Serialize`.
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes`; the caller's buffer is moved, not copied.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Copies `bytes` into a new zeroizing buffer.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// Fresh random bytes from the operating system's CSPRNG.
    pub fn random(len: usize) -> Result<Self, getrandom::Error> {
        let mut buf = Zeroizing::new(vec![0u8; len]);
        getrandom::fill(&mut buf)?;
        Ok(Self(buf))
    }

    /// The key bytes. Every call site is a place where key material is used.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy in a new zeroizing buffer. Named, rather than `Clone`, so that
    /// every duplication of key material is visible in review.
    pub fn duplicate(&self) -> Self {
        Self::from_slice(self.expose())
    }
}

/// Compares in constant time with respect to the contents (lengths are public).
impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.expose(), other.expose());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}
impl Eq for SecretBytes {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipe_json_empties_every_string_and_keeps_the_shape() {
        let mut v = serde_json::json!({
            "kind": "Secret",
            "data": {"password": "c2VjcmV0", "list": ["a", {"deep": "b"}]},
            "n": 3
        });
        wipe_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"kind": "", "data": {"password": "", "list": ["", {"deep": ""}]}, "n": 3})
        );
    }

    #[test]
    fn key_files_are_read_whole_into_one_exactly_sized_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("enc.yaml");
        let text: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        std::fs::write(&p, &text).unwrap();
        let buf = read_key_file(&p).unwrap();
        assert_eq!(&buf[..], &text[..]);
        // Sized from the file length: read_to_end never had to grow (and
        // so copy and free) the buffer.
        assert!(buf.capacity() <= text.len() + 32, "capacity {}", buf.capacity());
        assert!(read_key_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn random_keys_differ_and_have_the_requested_length() {
        let a = SecretBytes::random(32).unwrap();
        let b = SecretBytes::random(32).unwrap();
        assert_eq!(a.len(), 32);
        assert!(a != b);
        assert!(a == a.duplicate());
    }

    #[test]
    fn wipe_empties_the_buffer_in_place() {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0xAB; 40]);
        buf.truncate(10); // bytes 10..40 still hold old contents
        let (ptr, cap) = (buf.as_ptr(), buf.capacity());
        wipe(&mut buf);
        assert!(buf.is_empty());
        // Wiped where it lies: no reallocation left a copy elsewhere.
        assert_eq!((buf.as_ptr(), buf.capacity()), (ptr, cap));
    }
}
