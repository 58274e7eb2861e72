//! The KMS v1 provider (`k8s:enc:kms:v1:<name>:`): a fresh 32-byte DEK per
//! write, wrapped by the plugin's `v1beta1` `Encrypt`; payload AES-GCM with
//! the etcd key as AAD; reads fall back to AES-CBC (pre-1.25 data, stale).
//!
//! Owns only the v1 envelope logic; bytes come from [`crate::format::kmsv1`],
//! transport from [`super::client`].

use std::sync::{Arc, OnceLock};

use super::aead;
use super::cache::{CacheKey, SecretCache};
use super::client::PluginClient;
use super::proto::v1beta1 as api;
use crate::config::KmsConfig;
use crate::crypto::{CryptoError, KeyUsed, Opened, Provider};
use crate::format::kmsv1;
use crate::secret::SecretBytes;

/// Default DEK cache size (`cachesize` unset).
pub const DEFAULT_CACHE_SIZE: usize = 1000;

/// A KMS v1 provider bound to one plugin.
pub struct KmsV1Provider {
    name: String,
    prefix: Vec<u8>,
    client: PluginClient,
    version_ok: OnceLock<()>,
    cache: SecretCache,
}

impl KmsV1Provider {
    /// Builds the provider; the plugin is contacted on first use.
    pub fn new(cfg: &KmsConfig) -> Result<Self, CryptoError> {
        let capacity = match cfg.cachesize {
            None => DEFAULT_CACHE_SIZE,
            Some(n) => usize::try_from(n).unwrap_or(0),
        };
        Ok(Self {
            name: cfg.name.clone(),
            prefix: format!("k8s:enc:kms:v1:{}:", cfg.name).into_bytes(),
            client: PluginClient::new(&cfg.name, &cfg.endpoint, cfg.timeout)?,
            version_ok: OnceLock::new(),
            cache: SecretCache::new(capacity),
        })
    }

    /// Checks, once, that the plugin speaks `v1beta1` (upstream `checkAPIVersion`).
    pub fn check_version(&self) -> Result<(), CryptoError> {
        if self.version_ok.get().is_some() {
            return Ok(());
        }
        let resp: api::VersionResponse = self
            .client
            .unary(api::VERSION_PATH, api::VersionRequest { version: api::API_VERSION.into() })?;
        if resp.version != api::API_VERSION {
            return Err(self.kms_err(format!(
                "KMS provider api version {} is not supported, only {} is supported now",
                resp.version,
                api::API_VERSION
            )));
        }
        let _ = self.version_ok.set(());
        Ok(())
    }

    /// Number of DEKs currently cached.
    pub fn cached_deks(&self) -> usize {
        self.cache.len()
    }

    fn kms_err(&self, message: String) -> CryptoError {
        CryptoError::Kms { provider: self.name.clone(), message }
    }

    fn did_not_decrypt(&self) -> CryptoError {
        CryptoError::DidNotDecrypt { provider: "kms v1", key: self.name.clone() }
    }

    fn unwrap_dek(&self, encrypted_dek: &[u8]) -> Result<Arc<SecretBytes>, CryptoError> {
        let key = CacheKey {
            source_type: 0,
            encrypted: encrypted_dek.to_vec(),
            key_id: String::new(),
            annotations: Default::default(),
        };
        if let Some(dek) = self.cache.get(&key) {
            return Ok(dek);
        }
        self.check_version()?;
        let mut resp: api::DecryptResponse = self.client.unary(
            api::DECRYPT_PATH,
            api::DecryptRequest {
                version: api::API_VERSION.into(),
                cipher: encrypted_dek.to_vec(),
            },
        )?;
        let dek = Arc::new(SecretBytes::new(std::mem::take(&mut resp.plain)));
        if !aead::is_aes_key(dek.expose()) {
            return Err(self.kms_err(format!(
                "the plugin returned a {}-byte DEK; AES needs 16, 24 or 32 bytes",
                dek.len()
            )));
        }
        self.cache.insert(key, Arc::clone(&dek));
        Ok(dek)
    }
}

impl Provider for KmsV1Provider {
    fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.check_version()?;
        let dek = SecretBytes::random(32).map_err(|_| CryptoError::Rng)?;
        let resp: api::EncryptResponse = self.client.unary(
            api::ENCRYPT_PATH,
            api::EncryptRequest { version: api::API_VERSION.into(), plain: dek.expose().to_vec() },
        )?;
        let payload = aead::gcm_seal(&dek, plaintext, aad)?;
        let body = kmsv1::encode(&resp.cipher, &payload)
            .map_err(|e| CryptoError::Envelope(e.to_string()))?;
        self.cache.insert(
            CacheKey {
                source_type: 0,
                encrypted: resp.cipher,
                key_id: String::new(),
                annotations: Default::default(),
            },
            Arc::new(dek),
        );
        let mut out = Vec::with_capacity(self.prefix.len() + body.len());
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(&body);
        Ok(out)
    }

    fn open(&self, data: &[u8], aad: &[u8]) -> Result<Opened, CryptoError> {
        let env = kmsv1::decode(data).map_err(|e| CryptoError::Envelope(e.to_string()))?;
        let dek = self.unwrap_dek(env.encrypted_dek)?;
        let key = KeyUsed::Kms { version: "v1", name: self.name.clone(), key_id: String::new() };
        // Upstream unionTransformers{GCM, CBC}: GCM first; a CBC read is stale.
        if let Ok(plaintext) = aead::gcm_open(&dek, env.payload, aad) {
            return Ok(Opened { plaintext, key, stale: false });
        }
        if env.payload.len() < aead::NONCE_SIZE {
            return Err(CryptoError::TooShort { needed: aead::NONCE_SIZE, got: env.payload.len() });
        }
        match aead::cbc_open(&dek, env.payload) {
            Ok(plaintext) => Ok(Opened { plaintext, key, stale: true }),
            Err(_) => Err(self.did_not_decrypt()),
        }
    }
}
