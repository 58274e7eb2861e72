//! The key archive: retired keys kept to read old etcd backups.
//!
//! `prune` removes keys from the config but never throws them away: it
//! appends them to an archive file (mode 0600). The file is JSON. Unsealed,
//! it lists `{provider, name, secret (base64), retired_at, source}`. Sealed
//! with a passphrase, that list is encrypted with XChaCha20-Poly1305 under a
//! key derived by argon2id; the KDF parameters, salt and nonce sit in the
//! clear header and are bound as associated data. A wrong passphrase or a
//! modified file fails with one opaque error. This module parses untrusted
//! bytes ([`decode_archive`] is a fuzz target) and must not panic on them.

use std::path::Path;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Entropy, RotationError, apply};
use crate::crypto::passphrase;
use crate::secret::SecretBytes;

const FORMAT: &str = "atrest-key-archive";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Why an archive cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Not an archive, or damaged.
    #[error("not a valid atrest key archive: {0}")]
    Format(String),
    /// Sealed, and no passphrase was given.
    #[error(
        "the key archive is sealed: give the passphrase (ATREST_ARCHIVE_PASSPHRASE or --passphrase-file)"
    )]
    PassphraseNeeded,
    /// Wrong passphrase, or the sealed part was modified.
    #[error("the key archive did not open: wrong passphrase or modified file")]
    Open,
    /// KDF parameters out of range.
    #[error("bad key derivation parameters: {0}")]
    Kdf(String),
    /// File I/O.
    #[error(transparent)]
    Io(#[from] RotationError),
}

/// One archived key.
pub struct ArchivedKey {
    /// `aescbc`, `aesgcm` or `secretbox`.
    pub provider: String,
    /// The key name (part of the stored prefix).
    pub name: String,
    /// The key bytes.
    pub secret: SecretBytes,
    /// When it was pruned (`YYYYMMDDTHHMMSSZ`).
    pub retired_at: String,
    /// The config file it was pruned from.
    pub source: String,
}

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Parallelism.
    pub p_cost: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane (RFC 9106's second recommended option).
    fn default() -> Self {
        Self { m_cost: 64 * 1024, t_cost: 3, p_cost: 1 }
    }
}

#[derive(Serialize, Deserialize)]
struct KeyJson {
    provider: String,
    name: String,
    secret: String,
    retired_at: String,
    source: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sealing {
    kdf: String,
    params: KdfParams,
    salt: String,
    cipher: String,
    nonce: String,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileJson {
    format: String,
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keys: Option<Vec<KeyJson>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<Sealing>,
}

fn aad(p: &KdfParams, salt: &str) -> Vec<u8> {
    format!("{FORMAT} v1 argon2id m={} t={} p={} salt={salt}", p.m_cost, p.t_cost, p.p_cost)
        .into_bytes()
}

fn cost(p: &KdfParams) -> passphrase::Argon2Cost {
    passphrase::Argon2Cost { m_cost: p.m_cost, t_cost: p.t_cost, p_cost: p.p_cost }
}

impl From<passphrase::PassphraseError> for ArchiveError {
    fn from(e: passphrase::PassphraseError) -> Self {
        match e {
            passphrase::PassphraseError::Kdf(m) => ArchiveError::Kdf(m),
            passphrase::PassphraseError::Nonce => {
                ArchiveError::Format("nonce is not 24 bytes".into())
            }
            passphrase::PassphraseError::Open => ArchiveError::Open,
        }
    }
}

/// Serialises keys into archive bytes, sealed when `passphrase` is given.
pub fn encode_archive(
    keys: &[ArchivedKey],
    passphrase: Option<&SecretBytes>,
    params: KdfParams,
    rng: &mut dyn Entropy,
) -> Result<Zeroizing<Vec<u8>>, ArchiveError> {
    let list: Vec<KeyJson> = keys
        .iter()
        .map(|k| KeyJson {
            provider: k.provider.clone(),
            name: k.name.clone(),
            secret: B64.encode(k.secret.expose()),
            retired_at: k.retired_at.clone(),
            source: k.source.clone(),
        })
        .collect();
    let file = match passphrase {
        None => FileJson { format: FORMAT.into(), version: 1, keys: Some(list), sealed: None },
        Some(pass) => {
            let inner = Zeroizing::new(
                serde_json::to_vec(&list).map_err(|e| ArchiveError::Format(e.to_string()))?,
            );
            let salt = rng.bytes(16).map_err(ArchiveError::Io)?;
            let nonce = rng.bytes(24).map_err(ArchiveError::Io)?;
            let salt_b64 = B64.encode(salt.expose());
            let key = passphrase::derive(pass, salt.expose(), cost(&params))?;
            let ct = passphrase::seal(&key, nonce.expose(), &inner, &aad(&params, &salt_b64))?;
            FileJson {
                format: FORMAT.into(),
                version: 1,
                keys: None,
                sealed: Some(Sealing {
                    kdf: "argon2id".into(),
                    params,
                    salt: salt_b64,
                    cipher: "xchacha20poly1305".into(),
                    nonce: B64.encode(nonce.expose()),
                    ciphertext: B64.encode(ct),
                }),
            }
        }
    };
    let mut out = Zeroizing::new(
        serde_json::to_vec_pretty(&file).map_err(|e| ArchiveError::Format(e.to_string()))?,
    );
    out.push(b'\n');
    Ok(out)
}

fn keys_from(list: Vec<KeyJson>) -> Result<Vec<ArchivedKey>, ArchiveError> {
    list.into_iter()
        .enumerate()
        .map(|(i, k)| {
            let raw = B64
                .decode(k.secret.as_bytes())
                .map_err(|_| ArchiveError::Format(format!("keys[{i}].secret is not base64")))?;
            let k = Zeroizing::new(k);
            Ok(ArchivedKey {
                provider: k.provider.clone(),
                name: k.name.clone(),
                secret: SecretBytes::new(raw),
                retired_at: k.retired_at.clone(),
                source: k.source.clone(),
            })
        })
        .collect()
}

impl zeroize::Zeroize for KeyJson {
    fn zeroize(&mut self) {
        self.secret.zeroize();
    }
}

/// Every list of keys (being written or just read) wipes their base64 text.
impl Drop for KeyJson {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(self);
    }
}

/// Parses archive bytes; a sealed archive needs `passphrase`.
pub fn decode_archive(
    bytes: &[u8],
    passphrase: Option<&SecretBytes>,
) -> Result<Vec<ArchivedKey>, ArchiveError> {
    let file: FileJson =
        serde_json::from_slice(bytes).map_err(|e| ArchiveError::Format(e.to_string()))?;
    if file.format != FORMAT || file.version != 1 {
        return Err(ArchiveError::Format(format!(
            "format {:?} version {} is not {FORMAT} version 1",
            file.format, file.version
        )));
    }
    match (file.keys, file.sealed) {
        (Some(list), None) => keys_from(list),
        (None, Some(s)) => {
            let Some(pass) = passphrase else { return Err(ArchiveError::PassphraseNeeded) };
            if s.kdf != "argon2id" || s.cipher != "xchacha20poly1305" {
                return Err(ArchiveError::Format(format!(
                    "unsupported kdf {:?} or cipher {:?}",
                    s.kdf, s.cipher
                )));
            }
            let salt = B64
                .decode(&s.salt)
                .map_err(|_| ArchiveError::Format("salt is not base64".into()))?;
            let nonce = B64
                .decode(&s.nonce)
                .map_err(|_| ArchiveError::Format("nonce is not base64".into()))?;
            let ct = B64
                .decode(&s.ciphertext)
                .map_err(|_| ArchiveError::Format("ciphertext is not base64".into()))?;
            if nonce.len() != 24 {
                return Err(ArchiveError::Format("nonce is not 24 bytes".into()));
            }
            if salt.len() < 8 {
                return Err(ArchiveError::Format("salt shorter than 8 bytes".into()));
            }
            let key = passphrase::derive(pass, &salt, cost(&s.params))?;
            let pt = passphrase::open(&key, &nonce, &ct, &aad(&s.params, &s.salt))?;
            let list: Vec<KeyJson> = serde_json::from_slice(&pt)
                .map_err(|e| ArchiveError::Format(format!("sealed content: {e}")))?;
            keys_from(list)
        }
        _ => Err(ArchiveError::Format("exactly one of keys and sealed must be present".into())),
    }
}

/// Writes `keys` to `path` atomically (mode 0600), sealed when `passphrase` is given.
pub fn write_archive(
    path: &Path,
    keys: &[ArchivedKey],
    passphrase: Option<&SecretBytes>,
    params: KdfParams,
    rng: &mut dyn Entropy,
) -> Result<(), ArchiveError> {
    let bytes = encode_archive(keys, passphrase, params, rng)?;
    apply::write_atomically(path, &bytes)?;
    Ok(())
}

/// Reads the keys of the archive at `path`.
pub fn read_archive(
    path: &Path,
    passphrase: Option<&SecretBytes>,
) -> Result<Vec<ArchivedKey>, ArchiveError> {
    let bytes =
        Zeroizing::new(std::fs::read(path).map_err(|e| {
            ArchiveError::Io(RotationError::io("cannot read key archive", path, e))
        })?);
    decode_archive(&bytes, passphrase)
}

/// Makes retired keys readable again: appends them, as read-only providers
/// after the config's own, to every entry of `cfg`, so values written under
/// a pruned key (in an old backup) decrypt and read as stale. Returns the
/// number of keys added per entry.
pub fn extend_config(
    cfg: &mut crate::config::EncryptionConfig,
    keys: &[ArchivedKey],
) -> Result<usize, ArchiveError> {
    use crate::config::{KeySet, NamedKey, ProviderConfig};
    for k in keys {
        if !matches!(k.provider.as_str(), "aescbc" | "aesgcm" | "secretbox") {
            return Err(ArchiveError::Format(format!(
                "archived key {:?} has provider {:?}; expected aescbc, aesgcm or secretbox",
                k.name, k.provider
            )));
        }
    }
    for entry in &mut cfg.entries {
        for provider in ["aescbc", "aesgcm", "secretbox"] {
            let set: Vec<NamedKey> = keys
                .iter()
                .filter(|k| k.provider == provider)
                .map(|k| NamedKey { name: k.name.clone(), secret: k.secret.duplicate() })
                .collect();
            if set.is_empty() {
                continue;
            }
            let set = KeySet { keys: set };
            entry.providers.push(match provider {
                "aescbc" => ProviderConfig::AesCbc(set),
                "aesgcm" => ProviderConfig::AesGcm(set),
                _ => ProviderConfig::Secretbox(set),
            });
        }
    }
    Ok(keys.len())
}

/// Adds `new` to the archive at `path` (creating it), keeping existing keys;
/// a key already archived (same provider, name and bytes) is not duplicated.
pub fn append_archive(
    path: &Path,
    new: Vec<ArchivedKey>,
    passphrase: Option<&SecretBytes>,
    params: KdfParams,
    rng: &mut dyn Entropy,
) -> Result<usize, ArchiveError> {
    let mut keys = if path.exists() { read_archive(path, passphrase)? } else { Vec::new() };
    let mut added = 0;
    for k in new {
        if !keys
            .iter()
            .any(|o| o.provider == k.provider && o.name == k.name && o.secret == k.secret)
        {
            keys.push(k);
            added += 1;
        }
    }
    write_archive(path, &keys, passphrase, params, rng)?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotation::CountingEntropy;

    const CHEAP: KdfParams = KdfParams { m_cost: 64, t_cost: 1, p_cost: 1 };

    fn key(name: &str, b: u8) -> ArchivedKey {
        ArchivedKey {
            provider: "aescbc".into(),
            name: name.into(),
            secret: SecretBytes::new(vec![b; 32]),
            retired_at: "20261128T171000Z".into(),
            source: "/etc/enc.yaml".into(),
        }
    }

    #[test]
    fn unsealed_and_sealed_round_trip_and_wrong_passphrase_fails() {
        let mut rng = CountingEntropy(0);
        let plain = encode_archive(&[key("k1", 7)], None, CHEAP, &mut rng).unwrap();
        let back = decode_archive(&plain, None).unwrap();
        assert_eq!((back[0].name.as_str(), back[0].secret.expose()), ("k1", &[7u8; 32][..]));

        let pass = SecretBytes::from_slice(b"correct horse");
        let sealed =
            encode_archive(&[key("k1", 7), key("k2", 9)], Some(&pass), CHEAP, &mut rng).unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("\"k1\""), "names are sealed too");
        let back = decode_archive(&sealed, Some(&pass)).unwrap();
        assert_eq!(back.len(), 2);
        assert!(back[1].secret == SecretBytes::new(vec![9; 32]));
        assert!(matches!(
            decode_archive(&sealed, Some(&SecretBytes::from_slice(b"wrong"))),
            Err(ArchiveError::Open)
        ));
        assert!(matches!(decode_archive(&sealed, None), Err(ArchiveError::PassphraseNeeded)));
        // Raising the KDF cost in the clear header breaks the binding.
        let tampered =
            String::from_utf8(sealed.to_vec()).unwrap().replace("\"t_cost\": 1", "\"t_cost\": 2");
        assert!(matches!(
            decode_archive(tampered.as_bytes(), Some(&pass)),
            Err(ArchiveError::Open)
        ));
    }

    #[test]
    fn reads_archives_written_by_libsodium() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/rotation/");
        let pass = SecretBytes::from_slice(b"atrest-test-passphrase");
        let sealed =
            read_archive(Path::new(&format!("{dir}archive-sealed.json")), Some(&pass)).unwrap();
        let plain = read_archive(Path::new(&format!("{dir}archive-unsealed.json")), None).unwrap();
        for keys in [&sealed, &plain] {
            assert_eq!(keys.len(), 2);
            assert_eq!((keys[0].provider.as_str(), keys[0].name.as_str()), ("aescbc", "key1"));
            assert_eq!(keys[0].secret.expose(), &[1u8; 32][..]);
            assert_eq!((keys[1].provider.as_str(), keys[1].name.as_str()), ("secretbox", "box1"));
            assert_eq!(keys[1].secret.expose(), &[3u8; 32][..]);
        }
        let wrong = SecretBytes::from_slice(b"atrest-test-passphrase!");
        assert!(matches!(
            read_archive(Path::new(&format!("{dir}archive-sealed.json")), Some(&wrong)),
            Err(ArchiveError::Open)
        ));
    }

    #[test]
    fn archived_keys_extend_every_entry_as_trailing_read_only_providers() {
        let mut cfg = crate::config::load_str(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - secretbox:\n      keys:\n      - name: new\n        secret: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        )
        .unwrap();
        let keys = [key("old", 1), key("older", 2)];
        assert_eq!(extend_config(&mut cfg, &keys).unwrap(), 2);
        let providers = cfg.providers_for(&crate::config::GroupResource::parse("secrets"));
        assert_eq!(providers.len(), 2);
        let names: Vec<&str> =
            providers[1].keys().unwrap().keys.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["old", "older"]);
        let mut bad = key("x", 3);
        bad.provider = "kms".into();
        assert!(extend_config(&mut cfg, &[bad]).is_err());
    }

    #[test]
    fn garbage_is_a_format_error() {
        for bad in [
            &b""[..],
            b"{}",
            b"[1]",
            b"{\"format\":\"atrest-key-archive\",\"version\":1}",
            b"\xff\xfe",
        ] {
            assert!(matches!(decode_archive(bad, None), Err(ArchiveError::Format(_))));
        }
    }

    #[test]
    fn append_keeps_old_keys_and_skips_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keys.archive");
        let mut rng = CountingEntropy(0);
        let pass = SecretBytes::from_slice(b"pw");
        assert_eq!(
            append_archive(&p, vec![key("k1", 1)], Some(&pass), CHEAP, &mut rng).unwrap(),
            1
        );
        assert_eq!(
            append_archive(&p, vec![key("k1", 1), key("k2", 2)], Some(&pass), CHEAP, &mut rng)
                .unwrap(),
            1
        );
        assert_eq!(read_archive(&p, Some(&pass)).unwrap().len(), 2);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
