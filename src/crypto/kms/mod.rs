//! KMS v1 and v2 providers: envelope decryption with DEKs or seeds unwrapped
//! by the provider's real plugin over its `unix://` gRPC socket.
//!
//! This module owns everything KMS: the plugin gRPC messages ([`proto`],
//! hand-written prost, no codegen), the blocking client over unix sockets
//! ([`client`]), the payload ciphers ([`aead`]), the unwrapped-secret cache
//! ([`cache`]) and the two providers ([`v1`], [`v2`]). Byte layouts of the
//! stored envelopes live in [`crate::format::kmsv1`] and
//! [`crate::format::kmsv2`]; this module adds crypto and I/O, never layout.
//! Unwrapped DEKs and seeds exist only as [`crate::secret::SecretBytes`].

pub mod aead;
pub mod cache;
pub mod client;
pub mod proto;
pub mod v1;
pub mod v2;

pub use v1::KmsV1Provider;
pub use v2::{KmsV2Provider, PluginStatus};

use super::{CryptoError, Provider};
use crate::config::{KmsApiVersion, KmsConfig};

/// Builds the provider for a `kms` stanza. Does not contact the plugin: the
/// socket is dialled, and the plugin's version checked, on first use.
pub fn provider(cfg: &KmsConfig) -> Result<Box<dyn Provider>, CryptoError> {
    Ok(match cfg.api_version {
        KmsApiVersion::V1 => Box::new(KmsV1Provider::new(cfg)?),
        KmsApiVersion::V2 => Box::new(KmsV2Provider::new(cfg)?),
    })
}
