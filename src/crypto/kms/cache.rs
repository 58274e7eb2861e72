//! A bounded cache of unwrapped DEKs and seeds, so that a scan of many
//! objects sharing one KMS v2 seed calls the plugin once, not per object.
//!
//! Keys are the apiserver's: for v1 the encrypted DEK; for v2 the tuple
//! (source type, encrypted DEK source, keyID, annotations). Values are
//! [`SecretBytes`] behind `Arc`, so no lock is held during cryptography and
//! the bytes are wiped when the last user drops them.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use crate::secret::SecretBytes;

/// What identifies one unwrapped DEK or seed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// v2 `encryptedDEKSourceType` (0 for v1).
    pub source_type: i32,
    /// The plugin ciphertext.
    pub encrypted: Vec<u8>,
    /// v2 keyID (empty for v1).
    pub key_id: String,
    /// v2 annotations (empty for v1), sorted.
    pub annotations: BTreeMap<String, Vec<u8>>,
}

/// A size-bounded map; when full it is emptied (plugins are cheap to re-ask,
/// and scans touch few distinct seeds).
pub struct SecretCache {
    capacity: usize,
    map: Mutex<HashMap<CacheKey, Arc<SecretBytes>>>,
}

impl SecretCache {
    /// A cache of at most `capacity` entries; 0 disables caching.
    pub fn new(capacity: usize) -> Self {
        Self { capacity, map: Mutex::new(HashMap::new()) }
    }

    /// The cached secret for `key`.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<SecretBytes>> {
        self.map.lock().ok()?.get(key).cloned()
    }

    /// Remembers `secret` under `key`.
    pub fn insert(&self, key: CacheKey, secret: Arc<SecretBytes>) {
        if self.capacity == 0 {
            return;
        }
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= self.capacity && !map.contains_key(&key) {
                map.clear();
            }
            map.insert(key, secret);
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.lock().map_or(0, |m| m.len())
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
