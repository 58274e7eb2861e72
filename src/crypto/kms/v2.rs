//! The KMS v2 provider (`k8s:enc:kms:v2:<name>:`): reads both
//! `AES_GCM_KEY` and `HKDF_SHA256_XNONCE_AES_GCM_SEED` objects, writes seed
//! mode, and reports staleness as the apiserver does (keyID differs from the
//! plugin's current `Status` key_id, or the object is not in seed mode).
//!
//! Owns only the v2 envelope logic; bytes come from [`crate::format::kmsv2`],
//! transport from [`super::client`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::aead;
use super::cache::{CacheKey, SecretCache};
use super::client::PluginClient;
use super::proto::v2 as api;
use crate::config::KmsConfig;
use crate::crypto::{CryptoError, KeyUsed, Opened, Provider};
use crate::format::kmsv2::{self, EncryptedDekSourceType, EncryptedObject};
use crate::secret::SecretBytes;

/// How long a good `Status` answer is trusted (upstream polls every minute).
pub const STATUS_TTL: Duration = Duration::from_secs(60);
/// Maximum cached seeds/DEKs (upstream caches for 24 h, unbounded by count).
pub const CACHE_CAPACITY: usize = 4096;

/// A validated `Status` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginStatus {
    /// `v2` or `v2beta1`.
    pub version: String,
    /// Always `ok` once validated.
    pub healthz: String,
    /// The current key encryption key ID.
    pub key_id: String,
}

struct WriteState {
    seed: Arc<SecretBytes>,
    encrypted_source: Vec<u8>,
    key_id: String,
    annotations: BTreeMap<String, Vec<u8>>,
}

/// A KMS v2 provider bound to one plugin.
pub struct KmsV2Provider {
    name: String,
    prefix: Vec<u8>,
    client: PluginClient,
    cache: SecretCache,
    status: Mutex<Option<(Instant, PluginStatus)>>,
    first_version: Mutex<Option<String>>,
    write: Mutex<Option<WriteState>>,
}

impl KmsV2Provider {
    /// Builds the provider; the plugin is contacted on first use.
    pub fn new(cfg: &KmsConfig) -> Result<Self, CryptoError> {
        Ok(Self {
            name: cfg.name.clone(),
            prefix: format!("k8s:enc:kms:v2:{}:", cfg.name).into_bytes(),
            client: PluginClient::new(&cfg.name, &cfg.endpoint, cfg.timeout)?,
            cache: SecretCache::new(CACHE_CAPACITY),
            status: Mutex::new(None),
            first_version: Mutex::new(None),
            write: Mutex::new(None),
        })
    }

    fn kms_err(&self, message: String) -> CryptoError {
        CryptoError::Kms { provider: self.name.clone(), message }
    }

    /// Calls `Status` now and validates it: healthz `ok`, version `v2` or
    /// `v2beta1` (and unchanged since the first answer), key_id valid.
    pub fn refresh_status(&self) -> Result<PluginStatus, CryptoError> {
        let resp: api::StatusResponse =
            self.client.unary(api::STATUS_PATH, api::StatusRequest {})?;
        let mut errs = Vec::new();
        if resp.healthz != "ok" {
            errs.push(format!("got unexpected healthz status: {}", resp.healthz));
        }
        if resp.version != "v2" && resp.version != "v2beta1" {
            errs.push(format!("expected KMSv2 API version v2, got {}", resp.version));
        }
        if let Err(e) = kmsv2::validate_key_id(&resp.key_id) {
            errs.push(format!("got invalid KMSv2 KeyID: {e}"));
        }
        if let Ok(mut first) = self.first_version.lock() {
            match first.as_deref() {
                Some(v) if errs.is_empty() && v != resp.version => {
                    errs.push(format!("KMSv2 API version changed from {v} to {}", resp.version))
                }
                None if errs.is_empty() => *first = Some(resp.version.clone()),
                _ => {}
            }
        }
        if !errs.is_empty() {
            return Err(
                self.kms_err(format!("KMS plugin status check failed: {}", errs.join(", ")))
            );
        }
        let status =
            PluginStatus { version: resp.version, healthz: resp.healthz, key_id: resp.key_id };
        if let Ok(mut s) = self.status.lock() {
            *s = Some((Instant::now(), status.clone()));
        }
        Ok(status)
    }

    /// The plugin status, from a cached answer younger than [`STATUS_TTL`].
    pub fn status(&self) -> Result<PluginStatus, CryptoError> {
        if let Ok(s) = self.status.lock()
            && let Some((at, st)) = s.as_ref()
            && at.elapsed() < STATUS_TTL
        {
            return Ok(st.clone());
        }
        self.refresh_status()
    }

    /// Number of seeds/DEKs currently cached.
    pub fn cached_secrets(&self) -> usize {
        self.cache.len()
    }

    fn unwrap_source(&self, obj: &EncryptedObject) -> Result<Arc<SecretBytes>, CryptoError> {
        let key = CacheKey {
            source_type: obj.encrypted_dek_source_type,
            encrypted: obj.encrypted_dek_source.clone(),
            key_id: obj.key_id.clone(),
            annotations: obj.annotations.clone(),
        };
        if let Some(s) = self.cache.get(&key) {
            return Ok(s);
        }
        let mut resp: api::DecryptResponse = self.client.unary(
            api::DECRYPT_PATH,
            api::DecryptRequest {
                ciphertext: obj.encrypted_dek_source.clone(),
                uid: new_uid()?,
                key_id: obj.key_id.clone(),
                annotations: obj.annotations.clone(),
            },
        )?;
        let secret = Arc::new(SecretBytes::new(std::mem::take(&mut resp.plaintext)));
        self.cache.insert(key, Arc::clone(&secret));
        Ok(secret)
    }

    fn write_state(&self, status: &PluginStatus) -> Result<WriteStateView, CryptoError> {
        let mut guard =
            self.write.lock().map_err(|_| self.kms_err("write state poisoned".into()))?;
        if let Some(ws) = guard.as_ref()
            && ws.key_id == status.key_id
        {
            return Ok(WriteStateView::of(ws));
        }
        let seed = SecretBytes::random(aead::MIN_SEED_SIZE).map_err(|_| CryptoError::Rng)?;
        let resp: api::EncryptResponse = self.client.unary(
            api::ENCRYPT_PATH,
            api::EncryptRequest { plaintext: seed.expose().to_vec(), uid: new_uid()? },
        )?;
        if resp.key_id != status.key_id {
            return Err(self.kms_err(format!(
                "the plugin encrypted the seed with key ID {:?} but Status reports {:?}",
                resp.key_id, status.key_id
            )));
        }
        let seed = Arc::new(seed);
        self.cache.insert(
            CacheKey {
                source_type: EncryptedDekSourceType::HkdfSha256XnonceAesGcmSeed as i32,
                encrypted: resp.ciphertext.clone(),
                key_id: resp.key_id.clone(),
                annotations: resp.annotations.clone(),
            },
            Arc::clone(&seed),
        );
        let ws = WriteState {
            seed,
            encrypted_source: resp.ciphertext,
            key_id: resp.key_id,
            annotations: resp.annotations,
        };
        let view = WriteStateView::of(&ws);
        *guard = Some(ws);
        Ok(view)
    }
}

struct WriteStateView {
    seed: Arc<SecretBytes>,
    encrypted_source: Vec<u8>,
    key_id: String,
    annotations: BTreeMap<String, Vec<u8>>,
}

impl WriteStateView {
    fn of(ws: &WriteState) -> Self {
        Self {
            seed: Arc::clone(&ws.seed),
            encrypted_source: ws.encrypted_source.clone(),
            key_id: ws.key_id.clone(),
            annotations: ws.annotations.clone(),
        }
    }
}

fn new_uid() -> Result<String, CryptoError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|_| CryptoError::Rng)?;
    Ok(hex::encode(b))
}

impl Provider for KmsV2Provider {
    fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let status = self.status()?;
        let ws = self.write_state(&status)?;
        let obj = EncryptedObject {
            encrypted_data: aead::xnonce_seal(&ws.seed, plaintext, aad)?,
            key_id: ws.key_id,
            encrypted_dek_source: ws.encrypted_source,
            annotations: ws.annotations,
            encrypted_dek_source_type: EncryptedDekSourceType::HkdfSha256XnonceAesGcmSeed as i32,
        };
        let body =
            kmsv2::encode_validated(&obj).map_err(|e| CryptoError::Envelope(e.to_string()))?;
        let mut out = Vec::with_capacity(self.prefix.len() + body.len());
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(&body);
        Ok(out)
    }

    fn open(&self, data: &[u8], aad: &[u8]) -> Result<Opened, CryptoError> {
        let obj =
            kmsv2::decode_validated(data).map_err(|e| CryptoError::Envelope(e.to_string()))?;
        let source_type = obj.source_type().map_err(|e| CryptoError::Envelope(e.to_string()))?;
        let status = self.status()?;
        let secret = self.unwrap_source(&obj)?;
        let did_not = |e: CryptoError| match e {
            CryptoError::DidNotDecrypt { .. } => {
                CryptoError::DidNotDecrypt { provider: "kms v2", key: self.name.clone() }
            }
            e => e,
        };
        let plaintext = match source_type {
            EncryptedDekSourceType::AesGcmKey => {
                if !aead::is_aes_key(secret.expose()) {
                    return Err(self.kms_err(format!(
                        "the plugin returned a {}-byte DEK; AES needs 16, 24 or 32 bytes",
                        secret.len()
                    )));
                }
                aead::gcm_open(&secret, &obj.encrypted_data, aad).map_err(did_not)?
            }
            EncryptedDekSourceType::HkdfSha256XnonceAesGcmSeed => {
                aead::xnonce_open(&secret, &obj.encrypted_data, aad).map_err(did_not)?
            }
        };
        let stale = obj.key_id != status.key_id
            || source_type != EncryptedDekSourceType::HkdfSha256XnonceAesGcmSeed;
        Ok(Opened {
            plaintext,
            key: KeyUsed::Kms { version: "v2", name: self.name.clone(), key_id: obj.key_id },
            stale,
        })
    }
}
