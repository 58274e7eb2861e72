//! `v1.Secret` and `v1.ConfigMap` from Kubernetes protobuf, rendered the way
//! `kubectl get -o json` shows them (for `atrest extract`).
//!
//! Field numbers follow k8s.io/api `core/v1/generated.proto` and
//! k8s.io/apimachinery `pkg/apis/meta/v1/generated.proto` (checked at
//! kubernetes/api `10b39a39bcee995dfe7cd5e8e7b922be5e46f1e2` and
//! kubernetes/apimachinery `eed236ceee2c19c2753a3d93ac0631dc20750454`).
//! The structs are hand-written prost messages; unknown fields are skipped.
//! Their `Debug` never prints data values.
//!
//! Output is a [`serde_json::Value`] (keys sorted, as kubectl prints them);
//! the CLI renders it as JSON or YAML.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::object::{self, Encoding, ObjectError};

/// `metav1.Time`: seconds since the epoch (the apiserver drops nanos).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Time {
    /// `seconds = 1`.
    #[prost(int64, optional, tag = "1")]
    pub seconds: Option<i64>,
    /// `nanos = 2` (ignored by the apiserver when reading).
    #[prost(int32, optional, tag = "2")]
    pub nanos: Option<i32>,
}

/// `metav1.OwnerReference`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OwnerReference {
    /// `kind = 1`.
    #[prost(string, optional, tag = "1")]
    pub kind: Option<String>,
    /// `name = 3`.
    #[prost(string, optional, tag = "3")]
    pub name: Option<String>,
    /// `uid = 4`.
    #[prost(string, optional, tag = "4")]
    pub uid: Option<String>,
    /// `apiVersion = 5`.
    #[prost(string, optional, tag = "5")]
    pub api_version: Option<String>,
    /// `controller = 6`.
    #[prost(bool, optional, tag = "6")]
    pub controller: Option<bool>,
    /// `blockOwnerDeletion = 7`.
    #[prost(bool, optional, tag = "7")]
    pub block_owner_deletion: Option<bool>,
}

/// `metav1.FieldsV1`: raw JSON.
#[derive(Clone, PartialEq, prost::Message)]
pub struct FieldsV1 {
    /// `Raw = 1`.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub raw: Option<Vec<u8>>,
}

/// `metav1.ManagedFieldsEntry`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ManagedFieldsEntry {
    /// `manager = 1`.
    #[prost(string, optional, tag = "1")]
    pub manager: Option<String>,
    /// `operation = 2`.
    #[prost(string, optional, tag = "2")]
    pub operation: Option<String>,
    /// `apiVersion = 3`.
    #[prost(string, optional, tag = "3")]
    pub api_version: Option<String>,
    /// `time = 4`.
    #[prost(message, optional, tag = "4")]
    pub time: Option<Time>,
    /// `fieldsType = 6`.
    #[prost(string, optional, tag = "6")]
    pub fields_type: Option<String>,
    /// `fieldsV1 = 7`.
    #[prost(message, optional, tag = "7")]
    pub fields_v1: Option<FieldsV1>,
    /// `subresource = 8`.
    #[prost(string, optional, tag = "8")]
    pub subresource: Option<String>,
}

/// `metav1.ObjectMeta`. Its `Debug` shows annotation keys only: a
/// `kubectl.kubernetes.io/last-applied-configuration` annotation of a
/// Secret holds the Secret's data.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct ObjectMeta {
    /// `name = 1`.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// `generateName = 2`.
    #[prost(string, optional, tag = "2")]
    pub generate_name: Option<String>,
    /// `namespace = 3`.
    #[prost(string, optional, tag = "3")]
    pub namespace: Option<String>,
    /// `selfLink = 4`.
    #[prost(string, optional, tag = "4")]
    pub self_link: Option<String>,
    /// `uid = 5`.
    #[prost(string, optional, tag = "5")]
    pub uid: Option<String>,
    /// `resourceVersion = 6` (empty in etcd: the revision is the version).
    #[prost(string, optional, tag = "6")]
    pub resource_version: Option<String>,
    /// `generation = 7`.
    #[prost(int64, optional, tag = "7")]
    pub generation: Option<i64>,
    /// `creationTimestamp = 8`.
    #[prost(message, optional, tag = "8")]
    pub creation_timestamp: Option<Time>,
    /// `deletionTimestamp = 9`.
    #[prost(message, optional, tag = "9")]
    pub deletion_timestamp: Option<Time>,
    /// `deletionGracePeriodSeconds = 10`.
    #[prost(int64, optional, tag = "10")]
    pub deletion_grace_period_seconds: Option<i64>,
    /// `labels = 11`.
    #[prost(btree_map = "string, string", tag = "11")]
    pub labels: BTreeMap<String, String>,
    /// `annotations = 12`.
    #[prost(btree_map = "string, string", tag = "12")]
    pub annotations: BTreeMap<String, String>,
    /// `ownerReferences = 13`.
    #[prost(message, repeated, tag = "13")]
    pub owner_references: Vec<OwnerReference>,
    /// `finalizers = 14`.
    #[prost(string, repeated, tag = "14")]
    pub finalizers: Vec<String>,
    /// `managedFields = 17`.
    #[prost(message, repeated, tag = "17")]
    pub managed_fields: Vec<ManagedFieldsEntry>,
}

/// `v1.Secret`.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct Secret {
    /// `metadata = 1`.
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    /// `data = 2`.
    #[prost(btree_map = "string, bytes", tag = "2")]
    pub data: BTreeMap<String, Vec<u8>>,
    /// `type = 3`.
    #[prost(string, optional, tag = "3")]
    pub r#type: Option<String>,
    /// `stringData = 4` (write-only; never stored, decoded for completeness).
    #[prost(btree_map = "string, string", tag = "4")]
    pub string_data: BTreeMap<String, String>,
    /// `immutable = 5`.
    #[prost(bool, optional, tag = "5")]
    pub immutable: Option<bool>,
}

/// `v1.ConfigMap`.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct ConfigMap {
    /// `metadata = 1`.
    #[prost(message, optional, tag = "1")]
    pub metadata: Option<ObjectMeta>,
    /// `data = 2`.
    #[prost(btree_map = "string, string", tag = "2")]
    pub data: BTreeMap<String, String>,
    /// `binaryData = 3`.
    #[prost(btree_map = "string, bytes", tag = "3")]
    pub binary_data: BTreeMap<String, Vec<u8>>,
    /// `immutable = 4`.
    #[prost(bool, optional, tag = "4")]
    pub immutable: Option<bool>,
}

impl std::fmt::Debug for ObjectMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectMeta")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("uid", &self.uid)
            .field("creation_timestamp", &self.creation_timestamp)
            .field("labels", &self.labels)
            .field("annotation_keys", &self.annotations.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret")
            .field("metadata", &self.metadata)
            .field("type", &self.r#type)
            .field("data_keys", &self.data.keys().collect::<Vec<_>>())
            .field("immutable", &self.immutable)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ConfigMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigMap")
            .field("metadata", &self.metadata)
            .field("data_keys", &self.data.keys().collect::<Vec<_>>())
            .field("binary_data_keys", &self.binary_data.keys().collect::<Vec<_>>())
            .field("immutable", &self.immutable)
            .finish()
    }
}

/// Options for rendering.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// Include `metadata.managedFields` (kubectl hides them unless
    /// `--show-managed-fields`).
    pub show_managed_fields: bool,
}

/// Go's zero `time.Time` as Unix seconds (year 1).
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// `metav1.Time` as its JSON form (RFC 3339, UTC, seconds), or `None` when
/// it is Go's zero time (omitted, like `omitzero`).
pub fn time_to_rfc3339(t: &Time) -> Option<String> {
    let secs = t.seconds?;
    if secs == GO_ZERO_TIME_UNIX {
        return None;
    }
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = crate::civil::civil_from_days(days);
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    ))
}

fn b64(v: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(v))
}

fn put_str(m: &mut Map<String, Value>, k: &str, v: &Option<String>) {
    if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
        m.insert(k.into(), Value::String(v.clone()));
    }
}

fn string_map(m: &BTreeMap<String, String>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

impl ObjectMeta {
    /// The `metadata` object as the API serves it (empty fields omitted).
    pub fn to_json(&self, opts: RenderOptions) -> Value {
        let mut m = Map::new();
        put_str(&mut m, "name", &self.name);
        put_str(&mut m, "generateName", &self.generate_name);
        put_str(&mut m, "namespace", &self.namespace);
        put_str(&mut m, "selfLink", &self.self_link);
        put_str(&mut m, "uid", &self.uid);
        put_str(&mut m, "resourceVersion", &self.resource_version);
        if let Some(g) = self.generation.filter(|g| *g != 0) {
            m.insert("generation".into(), json!(g));
        }
        if let Some(t) = self.creation_timestamp.as_ref().and_then(time_to_rfc3339) {
            m.insert("creationTimestamp".into(), Value::String(t));
        }
        if let Some(t) = self.deletion_timestamp.as_ref() {
            // A pointer in Go: present means shown (null if zero).
            m.insert(
                "deletionTimestamp".into(),
                time_to_rfc3339(t).map_or(Value::Null, Value::String),
            );
        }
        if let Some(s) = self.deletion_grace_period_seconds {
            m.insert("deletionGracePeriodSeconds".into(), json!(s));
        }
        if !self.labels.is_empty() {
            m.insert("labels".into(), string_map(&self.labels));
        }
        if !self.annotations.is_empty() {
            m.insert("annotations".into(), string_map(&self.annotations));
        }
        if !self.owner_references.is_empty() {
            let refs = self
                .owner_references
                .iter()
                .map(|o| {
                    let mut r = Map::new();
                    r.insert("apiVersion".into(), json!(o.api_version.clone().unwrap_or_default()));
                    r.insert("kind".into(), json!(o.kind.clone().unwrap_or_default()));
                    r.insert("name".into(), json!(o.name.clone().unwrap_or_default()));
                    r.insert("uid".into(), json!(o.uid.clone().unwrap_or_default()));
                    if let Some(c) = o.controller {
                        r.insert("controller".into(), json!(c));
                    }
                    if let Some(b) = o.block_owner_deletion {
                        r.insert("blockOwnerDeletion".into(), json!(b));
                    }
                    Value::Object(r)
                })
                .collect();
            m.insert("ownerReferences".into(), Value::Array(refs));
        }
        if !self.finalizers.is_empty() {
            m.insert("finalizers".into(), json!(self.finalizers));
        }
        if opts.show_managed_fields && !self.managed_fields.is_empty() {
            let entries = self
                .managed_fields
                .iter()
                .map(|e| {
                    let mut r = Map::new();
                    put_str(&mut r, "manager", &e.manager);
                    put_str(&mut r, "operation", &e.operation);
                    put_str(&mut r, "apiVersion", &e.api_version);
                    if let Some(t) = e.time.as_ref() {
                        r.insert(
                            "time".into(),
                            time_to_rfc3339(t).map_or(Value::Null, Value::String),
                        );
                    }
                    put_str(&mut r, "fieldsType", &e.fields_type);
                    if let Some(raw) = e.fields_v1.as_ref().and_then(|f| f.raw.as_ref()) {
                        // FieldsV1 is raw JSON; show it as such, or as a string if it is not.
                        let v = serde_json::from_slice(raw).unwrap_or_else(|_| {
                            Value::String(String::from_utf8_lossy(raw).into_owned())
                        });
                        r.insert("fieldsV1".into(), v);
                    }
                    put_str(&mut r, "subresource", &e.subresource);
                    Value::Object(r)
                })
                .collect();
            m.insert("managedFields".into(), Value::Array(entries));
        }
        Value::Object(m)
    }
}

fn header(
    api_version: &str,
    kind: &str,
    meta: &Option<ObjectMeta>,
    opts: RenderOptions,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("apiVersion".into(), json!(api_version));
    m.insert("kind".into(), json!(kind));
    m.insert("metadata".into(), meta.as_ref().map_or_else(|| json!({}), |x| x.to_json(opts)));
    m
}

/// A decoded Secret's values are wiped when it is dropped (its keys are
/// names, not secrets).
impl Drop for Secret {
    fn drop(&mut self) {
        self.data.values_mut().for_each(crate::secret::wipe);
        self.string_data.values_mut().for_each(zeroize::Zeroize::zeroize);
    }
}

impl Secret {
    /// Decodes the protobuf inside `runtime.Unknown.raw`.
    pub fn decode_raw(raw: &[u8]) -> Result<Self, ObjectError> {
        <Self as prost::Message>::decode(raw)
            .map_err(|e| ObjectError::Raw { message: "v1.Secret", error: e.to_string() })
    }

    /// As `kubectl get secret -o json` shows it: `data` values base64,
    /// `stringData` never (it is not stored).
    pub fn to_json(&self, opts: RenderOptions) -> Value {
        let mut m = header("v1", "Secret", &self.metadata, opts);
        if !self.data.is_empty() {
            m.insert(
                "data".into(),
                Value::Object(self.data.iter().map(|(k, v)| (k.clone(), b64(v))).collect()),
            );
        }
        put_str(&mut m, "type", &self.r#type);
        if let Some(i) = self.immutable {
            m.insert("immutable".into(), json!(i));
        }
        Value::Object(m)
    }
}

impl ConfigMap {
    /// Decodes the protobuf inside `runtime.Unknown.raw`.
    pub fn decode_raw(raw: &[u8]) -> Result<Self, ObjectError> {
        <Self as prost::Message>::decode(raw)
            .map_err(|e| ObjectError::Raw { message: "v1.ConfigMap", error: e.to_string() })
    }

    /// As `kubectl get configmap -o json` shows it (`binaryData` base64).
    pub fn to_json(&self, opts: RenderOptions) -> Value {
        let mut m = header("v1", "ConfigMap", &self.metadata, opts);
        if !self.data.is_empty() {
            m.insert("data".into(), string_map(&self.data));
        }
        if !self.binary_data.is_empty() {
            m.insert(
                "binaryData".into(),
                Value::Object(self.binary_data.iter().map(|(k, v)| (k.clone(), b64(v))).collect()),
            );
        }
        if let Some(i) = self.immutable {
            m.insert("immutable".into(), json!(i));
        }
        Value::Object(m)
    }
}

/// Only `metadata = 1` of any top-level object: every built-in kind keeps
/// its `ObjectMeta` in field 1.
#[derive(Clone, PartialEq, prost::Message)]
struct MetaOnly {
    #[prost(message, optional, tag = "1")]
    metadata: Option<ObjectMeta>,
}

/// The `ObjectMeta` of any built-in object's protobuf (`runtime.Unknown.raw`).
pub fn object_meta(raw: &[u8]) -> Result<ObjectMeta, ObjectError> {
    <MetaOnly as prost::Message>::decode(raw)
        .map(|m| m.metadata.unwrap_or_default())
        .map_err(|e| ObjectError::Raw { message: "ObjectMeta", error: e.to_string() })
}

/// What [`extract`] made of a plaintext value.
#[derive(Debug, Clone, PartialEq)]
pub enum Extracted {
    /// A `v1` Secret or ConfigMap decoded from protobuf, shaped like
    /// `kubectl get -o json`.
    Decoded(Value),
    /// A JSON-stored object (CRD, custom resource), passed through as stored.
    Json(Value),
    /// Anything else (protobuf of another kind, CBOR, unknown): print the
    /// stored bytes raw. The encoding says what they are.
    Raw(Encoding),
}

/// Decodes a plaintext value for display: Secrets and ConfigMaps from
/// protobuf into the API's JSON shape, JSON passed through, the rest raw.
pub fn extract(value: &[u8], opts: RenderOptions) -> Result<Extracted, ObjectError> {
    if value.starts_with(object::PROTOBUF_MAGIC) {
        let ((api_version, kind), unknown) = object::decode_unknown(value)?;
        let raw = unknown.raw.as_deref().unwrap_or_default();
        return Ok(match (api_version.as_str(), kind.as_str()) {
            ("v1", "Secret") => Extracted::Decoded(Secret::decode_raw(raw)?.to_json(opts)),
            ("v1", "ConfigMap") => Extracted::Decoded(ConfigMap::decode_raw(raw)?.to_json(opts)),
            _ => Extracted::Raw(Encoding::Protobuf { api_version, kind }),
        });
    }
    match object::classify(value) {
        Encoding::Json { .. } => serde_json::from_slice(value)
            .map(Extracted::Json)
            .map_err(|e| ObjectError::Raw { message: "JSON object", error: e.to_string() }),
        other => Ok(Extracted::Raw(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_render_like_go_rfc3339() {
        let t = |s| time_to_rfc3339(&Time { seconds: Some(s), nanos: None });
        assert_eq!(t(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(t(1_700_000_000).as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(t(951_782_400).as_deref(), Some("2000-02-29T00:00:00Z"));
        assert_eq!(t(-1).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(t(GO_ZERO_TIME_UNIX), None);
        assert_eq!(time_to_rfc3339(&Time::default()), None);
        // Extremes do not panic.
        let _ = t(i64::MAX);
        let _ = t(i64::MIN);
    }

    #[test]
    fn secret_debug_hides_values() {
        let mut s = Secret::default();
        s.data.insert("password".into(), b"hunter2".to_vec());
        let mut meta = ObjectMeta::default();
        meta.annotations.insert("last-applied".into(), "{\"data\":\"hunter2\"}".into());
        s.metadata = Some(meta);
        let d = format!("{s:?}");
        assert!(d.contains("password") && !d.contains("hunter2"), "{d}");
    }
}
