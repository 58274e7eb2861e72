//! The KMS plugin gRPC messages, hand-written as prost messages (no codegen).
//!
//! This module owns the wire shape of `k8s.io/kms/apis/v1beta1/api.proto`
//! (package `v1beta1`) and `k8s.io/kms/apis/v2/api.proto` (package `v2`),
//! field numbers included, and the full gRPC method paths. It holds no logic;
//! the client in [`super::client`] and the test plugin both use it.
//!
//! Fields named `plain`/`plaintext` carry DEKs or seeds: take them into
//! [`crate::secret::SecretBytes`] as soon as they are received. The messages
//! that hold them have no `Debug` (prost's would print the bytes) and wipe
//! the field when dropped. (The gRPC stack's own encode and decode buffers
//! are outside atrest's reach and are not wiped.)

/// Wipes a message's DEK field on drop.
macro_rules! wipe_on_drop {
    ($message:ty, $field:ident) => {
        impl Drop for $message {
            fn drop(&mut self) {
                crate::secret::wipe(&mut self.$field);
            }
        }
    };
}

/// `package v1beta1` (KMS v1, deprecated upstream).
pub mod v1beta1 {
    /// `/v1beta1.KeyManagementService/Version`
    pub const VERSION_PATH: &str = "/v1beta1.KeyManagementService/Version";
    /// `/v1beta1.KeyManagementService/Encrypt`
    pub const ENCRYPT_PATH: &str = "/v1beta1.KeyManagementService/Encrypt";
    /// `/v1beta1.KeyManagementService/Decrypt`
    pub const DECRYPT_PATH: &str = "/v1beta1.KeyManagementService/Decrypt";
    /// The only API version kube-apiserver accepts from a v1 plugin.
    pub const API_VERSION: &str = "v1beta1";

    /// `VersionRequest`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct VersionRequest {
        /// Field 1: the API version the client speaks (`v1beta1`).
        #[prost(string, tag = "1")]
        pub version: String,
    }
    /// `VersionResponse`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct VersionResponse {
        /// Field 1: the plugin's API version; must be `v1beta1`.
        #[prost(string, tag = "1")]
        pub version: String,
        /// Field 2: runtime name.
        #[prost(string, tag = "2")]
        pub runtime_name: String,
        /// Field 3: runtime version.
        #[prost(string, tag = "3")]
        pub runtime_version: String,
    }
    /// `EncryptRequest`
    #[derive(Clone, PartialEq, prost::Message)]
    #[prost(skip_debug)]
    pub struct EncryptRequest {
        /// Field 1: API version.
        #[prost(string, tag = "1")]
        pub version: String,
        /// Field 2: the DEK to wrap (secret).
        #[prost(bytes = "vec", tag = "2")]
        pub plain: Vec<u8>,
    }
    wipe_on_drop!(EncryptRequest, plain);
    /// `EncryptResponse`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EncryptResponse {
        /// Field 1: the wrapped DEK.
        #[prost(bytes = "vec", tag = "1")]
        pub cipher: Vec<u8>,
    }
    /// `DecryptRequest`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DecryptRequest {
        /// Field 1: API version.
        #[prost(string, tag = "1")]
        pub version: String,
        /// Field 2: the wrapped DEK.
        #[prost(bytes = "vec", tag = "2")]
        pub cipher: Vec<u8>,
    }
    /// `DecryptResponse`
    #[derive(Clone, PartialEq, prost::Message)]
    #[prost(skip_debug)]
    pub struct DecryptResponse {
        /// Field 1: the DEK (secret).
        #[prost(bytes = "vec", tag = "1")]
        pub plain: Vec<u8>,
    }
    wipe_on_drop!(DecryptResponse, plain);
}

/// `package v2` (KMS v2).
pub mod v2 {
    use std::collections::BTreeMap;

    /// `/v2.KeyManagementService/Status`
    pub const STATUS_PATH: &str = "/v2.KeyManagementService/Status";
    /// `/v2.KeyManagementService/Decrypt`
    pub const DECRYPT_PATH: &str = "/v2.KeyManagementService/Decrypt";
    /// `/v2.KeyManagementService/Encrypt`
    pub const ENCRYPT_PATH: &str = "/v2.KeyManagementService/Encrypt";

    /// `StatusRequest` (empty).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StatusRequest {}
    /// `StatusResponse`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StatusResponse {
        /// Field 1: `v2` or `v2beta1`.
        #[prost(string, tag = "1")]
        pub version: String,
        /// Field 2: `ok` when healthy.
        #[prost(string, tag = "2")]
        pub healthz: String,
        /// Field 3: the current key encryption key ID.
        #[prost(string, tag = "3")]
        pub key_id: String,
    }
    /// `DecryptRequest`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DecryptRequest {
        /// Field 1: `encryptedDEKSource` from the stored object.
        #[prost(bytes = "vec", tag = "1")]
        pub ciphertext: Vec<u8>,
        /// Field 2: a request UID for the plugin's logs.
        #[prost(string, tag = "2")]
        pub uid: String,
        /// Field 3: `keyID` from the stored object.
        #[prost(string, tag = "3")]
        pub key_id: String,
        /// Field 4: annotations from the stored object.
        #[prost(btree_map = "string, bytes", tag = "4")]
        pub annotations: BTreeMap<String, Vec<u8>>,
    }
    /// `DecryptResponse`
    #[derive(Clone, PartialEq, prost::Message)]
    #[prost(skip_debug)]
    pub struct DecryptResponse {
        /// Field 1: the DEK or seed (secret).
        #[prost(bytes = "vec", tag = "1")]
        pub plaintext: Vec<u8>,
    }
    wipe_on_drop!(DecryptResponse, plaintext);
    /// `EncryptRequest`
    #[derive(Clone, PartialEq, prost::Message)]
    #[prost(skip_debug)]
    pub struct EncryptRequest {
        /// Field 1: the DEK or seed to wrap (secret).
        #[prost(bytes = "vec", tag = "1")]
        pub plaintext: Vec<u8>,
        /// Field 2: a request UID.
        #[prost(string, tag = "2")]
        pub uid: String,
    }
    wipe_on_drop!(EncryptRequest, plaintext);
    /// `EncryptResponse`
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EncryptResponse {
        /// Field 1: the wrapped DEK or seed.
        #[prost(bytes = "vec", tag = "1")]
        pub ciphertext: Vec<u8>,
        /// Field 2: the key ID that wrapped it (must equal Status's).
        #[prost(string, tag = "2")]
        pub key_id: String,
        /// Field 3: annotations to store in the `EncryptedObject`.
        #[prost(btree_map = "string, bytes", tag = "3")]
        pub annotations: BTreeMap<String, Vec<u8>>,
    }
}
