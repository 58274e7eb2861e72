//! `atrest inspect`: describe a stored value without any key.

use std::path::PathBuf;

use atrest::format::prefix::{self, ProviderKind, StoredValue};
use atrest::format::{kmsv1, kmsv2};
use atrest::kube::Encoding;
use atrest::report::display_safe;
use base64::Engine;
use serde_json::{Value, json};

use super::encrypt::{read_input, resource_for_key};
use super::ui::Ui;

/// Describe a value stored in etcd, without keys: encrypted or not, by which
/// provider and key (or KMS provider) name, and for plaintext its encoding
/// (protobuf `k8s\0` with apiVersion/kind, JSON, CBOR).
///
/// Input is the raw stored value, or the output of `etcdctl get KEY -w json`
/// for one key (then the etcd key and resource are reported too).
///
/// Key names may contain `:`; without the config atrest cuts the name at the
/// first `:` and marks it as a guess when the bytes after it look like more
/// name. `atrest decrypt` matches configured names exactly.
///
/// Exit codes: 0 described; 2 unreadable input.
///
/// Example:
///   etcdctl get /registry/secrets/default/s1 -w json | atrest inspect --format json
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Stored value (or `etcdctl get -w json` output) [default: stdin].
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// kube-apiserver's --etcd-prefix (to name the resource of an etcdctl key).
    #[arg(long, value_name = "PREFIX", default_value = "/registry")]
    prefix: String,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn run(args: Args, ui: &Ui) -> anyhow::Result<u8> {
    let raw = read_input(args.input.as_deref())?;
    let (etcd_key, value) = match etcdctl_json(&raw).map_err(anyhow::Error::msg)? {
        Some(kv) => (Some(String::from_utf8_lossy(&kv.key).into_owned()), kv.value),
        None => (None, raw),
    };
    ui.detail(format_args!(
        "{} bytes from {}{}",
        value.len(),
        args.input.as_ref().map_or("stdin".into(), |p| p.display().to_string()),
        match &etcd_key {
            Some(k) => format!(" (etcdctl -w json output for {})", display_safe(k)),
            None => " (raw stored value)".into(),
        }
    ));
    let mut report = describe(&value);
    if let Some(k) = &etcd_key {
        report["etcd_key"] = json!(k);
        if let Ok(gr) = resource_for_key(k, &args.prefix) {
            report["resource"] = json!(gr.to_string());
        }
    }
    match args.format {
        Format::Json => outln!("{}", serde_json::to_string_pretty(&report)?)?,
        Format::Text => print_text(&report)?,
    }
    Ok(super::EXIT_OK)
}

/// One key/value pair from `etcdctl get -w json` output.
pub(super) struct EtcdctlKv {
    /// The etcd key's bytes (kube-apiserver's keys are UTF-8; others may not be).
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// Recognises `etcdctl get KEY -w json` output: a JSON object with only
/// etcdctl's fields (`header`, `kvs`, `count`, `more`) and a `header` of
/// only its fields. A stored Kubernetes object always has `apiVersion` or
/// `kind`, so this is unambiguous. `Ok(None)`: not etcdctl output (a raw
/// value). `Err`: etcdctl output without a usable key/value, which must not
/// be mistaken for a raw JSON value.
pub(super) fn etcdctl_json(raw: &[u8]) -> Result<Option<EtcdctlKv>, String> {
    if !raw.trim_ascii_start().starts_with(b"{") {
        return Ok(None);
    }
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(raw) else { return Ok(None) };
    let only = |m: &serde_json::Map<String, Value>, fields: &[&str]| {
        m.keys().all(|k| fields.contains(&k.as_str()))
    };
    let header_fields = ["cluster_id", "member_id", "revision", "raft_term"];
    match doc.get("header") {
        Some(Value::Object(h))
            if only(&doc, &["header", "kvs", "count", "more"]) && only(h, &header_fields) => {}
        _ => return Ok(None),
    }
    let kv = doc
        .get("kvs")
        .and_then(Value::as_array)
        .and_then(|kvs| kvs.first())
        .ok_or("the etcdctl output holds no key/value: the key does not exist in etcd")?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let field = |name: &str| kv.get(name).and_then(Value::as_str).unwrap_or("");
    let key = b64
        .decode(field("key"))
        .map_err(|e| format!("the etcdctl output's key is not base64: {e}"))?;
    let value = b64
        .decode(field("value"))
        .map_err(|e| format!("the etcdctl output's value is not base64: {e}"))?;
    Ok(Some(EtcdctlKv { key, value }))
}

fn shown(name: &[u8]) -> String {
    String::from_utf8_lossy(name).escape_debug().to_string()
}

/// The description of a stored value, as JSON (the text form is rendered from it).
fn describe(value: &[u8]) -> Value {
    match prefix::parse(value) {
        StoredValue::Plaintext(v) => {
            let mut r = json!({"encrypted": false, "size_bytes": v.len()});
            plaintext_encoding(v, &mut r);
            r
        }
        StoredValue::Encrypted { kind, name, body, name_ambiguous } => {
            let mut r = json!({
                "encrypted": true,
                "provider": provider_name(kind),
                "prefix": String::from_utf8_lossy(kind.prefix()),
                "name": shown(name),
                "name_is_guess": name_ambiguous,
                "body_bytes": body.len(),
                "size_bytes": value.len(),
            });
            if kind.is_kms() {
                kms_details(kind, body, &mut r);
            }
            r
        }
        StoredValue::Unterminated { kind, rest } => json!({
            "encrypted": true,
            "provider": provider_name(kind),
            "prefix": String::from_utf8_lossy(kind.prefix()),
            "problem": "no ':' ends the key name: truncated or corrupt value",
            "body_bytes": rest.len(),
            "size_bytes": value.len(),
        }),
        StoredValue::Unknown { rest } => {
            let shown_rest: String =
                String::from_utf8_lossy(&rest[..rest.len().min(40)]).escape_debug().collect();
            json!({
                "encrypted": true,
                "provider": "unknown",
                "prefix": format!("k8s:enc:{shown_rest}"),
                "problem": "k8s:enc: prefix of no provider atrest knows",
                "size_bytes": value.len(),
            })
        }
    }
}

fn provider_name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::KmsV1 => "kms v1",
        ProviderKind::KmsV2 => "kms v2",
        k => k.as_str(),
    }
}

/// KMS envelope details: the plugin-wrapped DEK size (v1), or the keyID,
/// DEK source type and annotations of the v2 `EncryptedObject`.
fn kms_details(kind: ProviderKind, body: &[u8], report: &mut Value) {
    match kind {
        ProviderKind::KmsV1 => match kmsv1::decode(body) {
            Ok(env) => {
                report["envelope"] = json!(format!(
                    "encrypted DEK {} bytes, payload {} bytes",
                    env.encrypted_dek.len(),
                    env.payload.len()
                ));
            }
            Err(e) => report["problem"] = json!(e.to_string()),
        },
        _ => match kmsv2::decode(body) {
            Ok(obj) => {
                let b64 = base64::engine::general_purpose::STANDARD;
                report["kms_key_id"] = json!(obj.key_id);
                report["dek_source_type"] = match obj.source_type() {
                    Ok(t) => json!(t.as_str()),
                    Err(e) => json!(e.to_string()),
                };
                report["annotations"] = obj
                    .annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(b64.encode(v))))
                    .collect::<serde_json::Map<_, _>>()
                    .into();
                report["envelope"] = json!(format!(
                    "keyID {:?}, {}, encrypted DEK source {} bytes, data {} bytes",
                    obj.key_id,
                    report["dek_source_type"].as_str().unwrap_or_default(),
                    obj.encrypted_dek_source.len(),
                    obj.encrypted_data.len()
                ));
                if let Err(e) = obj.validate() {
                    report["problem"] = json!(e.to_string());
                }
            }
            Err(e) => report["problem"] = json!(e.to_string()),
        },
    }
}

/// Plaintext encoding as `atrest::kube::classify` recognises it: protobuf
/// `k8s\0` (apiVersion/kind from the runtime.Unknown TypeMeta), JSON, CBOR,
/// malformed, or unknown.
fn plaintext_encoding(v: &[u8], report: &mut Value) {
    if v.is_empty() {
        report["encoding"] = json!("empty");
        return;
    }
    let enc = atrest::kube::classify(v);
    report["encoding"] = json!(enc.name());
    let (api_version, kind) = match &enc {
        Encoding::Protobuf { api_version, kind } => {
            (Some(api_version.as_str()), Some(kind.as_str()))
        }
        Encoding::Json { api_version, kind, .. } | Encoding::Cbor { api_version, kind } => {
            (api_version.as_deref(), kind.as_deref())
        }
        Encoding::Malformed { error, .. } => {
            report["problem"] = json!(error);
            (None, None)
        }
        Encoding::Unknown => (None, None),
    };
    if let Some(a) = api_version {
        report["api_version"] = json!(a);
    }
    if let Some(k) = kind {
        report["kind"] = json!(k);
    }
}

fn print_text(r: &Value) -> std::io::Result<()> {
    // Every field may carry text from etcd: shown through display_safe.
    let get = |k: &str| {
        r.get(k).map(|v| match v.as_str() {
            Some(s) => display_safe(s).into_owned(),
            None => display_safe(&v.to_string()).into_owned(),
        })
    };
    if let Some(k) = get("etcd_key") {
        outln!("etcd key:   {k}")?;
    }
    if let Some(k) = get("resource") {
        outln!("resource:   {k}")?;
    }
    if r["encrypted"] == json!(false) {
        outln!("encrypted:  no")?;
        let mut enc = get("encoding").unwrap_or_default();
        if let (Some(a), Some(k)) = (get("api_version"), get("kind")) {
            enc = format!("{enc}, apiVersion {a}, kind {k}");
        }
        outln!("encoding:   {enc}")?;
        if let Some(p) = get("problem") {
            outln!("problem:    {p}")?;
        }
    } else {
        outln!("encrypted:  yes")?;
        outln!(
            "provider:   {} ({})",
            get("provider").unwrap_or_default(),
            get("prefix").unwrap_or_default()
        )?;
        if let Some(name) = get("name") {
            let label = if r["provider"].as_str().is_some_and(|p| p.starts_with("kms")) {
                "kms name"
            } else {
                "key name"
            };
            let guess = if r["name_is_guess"] == json!(true) {
                " (a guess: names may contain ':'; the config decides)"
            } else {
                ""
            };
            outln!("{label}:   {name}{guess}")?;
        }
        if let Some(b) = get("body_bytes") {
            outln!("body:       {b} bytes")?;
        }
        if let Some(e) = get("envelope") {
            outln!("envelope:   {e}")?;
        }
        if let Some(p) = get("problem") {
            outln!("problem:    {p}")?;
        }
    }
    outln!("size:       {} bytes", get("size_bytes").unwrap_or_default())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_type_meta_of_a_secret() {
        let v = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/vectors/values/plaintext-s1.bin"
        ))
        .unwrap();
        let r = describe(&v);
        assert_eq!(r["encoding"], "protobuf");
        assert_eq!(r["api_version"], "v1");
        assert_eq!(r["kind"], "Secret");
        // truncated protobuf: no panic, no type
        for cut in 0..v.len() {
            let _ = describe(&v[..cut]);
        }
    }

    #[test]
    fn kms_v2_envelopes_of_upstream_values_are_described() {
        let doc: Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/vectors/kms/upstream-v2.json"
        )))
        .unwrap();
        for v in doc["vectors"].as_array().unwrap() {
            let value = hex::decode(v["value_hex"].as_str().unwrap()).unwrap();
            let r = describe(&value);
            assert_eq!(r["provider"], "kms v2");
            assert_eq!(r["name"], "kms-provider");
            assert_eq!(r["kms_key_id"], v["plugin_key_id"]);
            assert_eq!(r["dek_source_type"], v["source_type"]);
            assert!(r["annotations"]["local-kek.kms.kubernetes.io"].is_string(), "{r}");
            assert!(r.get("problem").is_none(), "{r}");
            // every truncation is described, never a panic
            for cut in 0..value.len() {
                let _ = describe(&value[..cut]);
            }
        }
    }

    #[test]
    fn etcdctl_json_is_recognised_and_plain_json_is_not() {
        let j = br#"{"header":{"cluster_id":14841639068965178418,"revision":5},"kvs":[{"key":"L3JlZ2lzdHJ5L3NlY3JldHMvZGVmYXVsdC9zMQ==","value":"azhzAA=="}],"count":1}"#;
        let kv = etcdctl_json(j).unwrap().unwrap();
        assert_eq!(kv.key, b"/registry/secrets/default/s1");
        assert_eq!(kv.value, b"k8s\0");
        assert!(etcdctl_json(br#"{"kind":"ConfigMap","kvs":[]}"#).unwrap().is_none());
        assert!(etcdctl_json(br#"{"apiVersion":"v1","header":{}}"#).unwrap().is_none());
        // A key that is not UTF-8 is still etcdctl output (it used to be
        // read as a raw JSON value: "encrypted: no, encoding: json").
        let bad = br#"{"header":{"revision":5},"kvs":[{"key":"L2Evgg==","value":"azhzAA=="}]}"#;
        assert_eq!(etcdctl_json(bad).unwrap().unwrap().key, b"/a/\x82");
        // etcdctl output without the key, or with bad base64: an error.
        let missing = br#"{"header":{"cluster_id":1,"member_id":2,"revision":5,"raft_term":2}}"#;
        assert!(etcdctl_json(missing).err().unwrap().contains("does not exist"));
        let garbled = br#"{"header":{"revision":5},"kvs":[{"key":"!!"}],"count":1}"#;
        assert!(etcdctl_json(garbled).err().unwrap().contains("not base64"));
    }
}
