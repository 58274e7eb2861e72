//! KMS v1 and v2 providers: envelope decryption with DEKs or seeds unwrapped
//! by the provider's real plugin over its `unix://` gRPC socket.
//!
//! (Placeholder until the KMS providers land.)

use super::{CryptoError, Provider};
use crate::config::KmsConfig;

/// Builds the provider for a `kms` stanza.
pub fn provider(cfg: &KmsConfig) -> Result<Box<dyn Provider>, CryptoError> {
    Err(CryptoError::Kms {
        provider: cfg.name.clone(),
        message: "kms providers are not implemented yet".into(),
    })
}
