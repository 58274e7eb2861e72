//! `atrest inspect`: describe a stored value without any key.

use std::path::PathBuf;

use atrest::format::prefix::{self, ProviderKind, StoredValue};
use atrest::format::reader::Reader;
use base64::Engine;
use serde_json::{Value, json};

use super::encrypt::{read_input, resource_for_key};

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

pub fn run(args: Args) -> anyhow::Result<u8> {
    let raw = read_input(args.input.as_deref())?;
    let (etcd_key, value) = match etcdctl_json(&raw) {
        Some(kv) => (Some(kv.key), kv.value),
        None => (None, raw),
    };
    let mut report = describe(&value);
    if let Some(k) = &etcd_key {
        report["etcd_key"] = json!(k);
        if let Ok(gr) = resource_for_key(k, &args.prefix) {
            report["resource"] = json!(gr.to_string());
        }
    }
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Text => print_text(&report),
    }
    Ok(super::EXIT_OK)
}

/// One key/value pair from `etcdctl get -w json` output.
pub(super) struct EtcdctlKv {
    pub key: String,
    pub value: Vec<u8>,
}

/// Recognises `etcdctl get KEY -w json` output (an object with `header` and
/// `kvs`, base64 key and value) and returns its first key/value. A stored
/// Kubernetes JSON object never has both fields, so this is unambiguous.
pub(super) fn etcdctl_json(raw: &[u8]) -> Option<EtcdctlKv> {
    if !raw.trim_ascii_start().starts_with(b"{") {
        return None;
    }
    let doc: Value = serde_json::from_slice(raw).ok()?;
    doc.get("header")?;
    let kv = doc.get("kvs")?.as_array()?.first()?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = String::from_utf8(b64.decode(kv.get("key")?.as_str()?).ok()?).ok()?;
    let value = b64.decode(kv.get("value")?.as_str().unwrap_or("")).ok()?;
    Some(EtcdctlKv { key, value })
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

/// KMS envelope details. TODO(kms): decode with `atrest::format::kmsv2` (keyID,
/// encryptedDEKSourceType, annotations) and `kmsv1` once the KMS branch lands;
/// until then only the provider name and body size are reported.
fn kms_details(_kind: ProviderKind, _body: &[u8], report: &mut Value) {
    report["envelope"] = json!("not decoded yet");
}

/// Plaintext encoding: protobuf `k8s\0` (apiVersion/kind from the
/// runtime.Unknown TypeMeta), JSON (apiVersion/kind), CBOR, or unknown.
fn plaintext_encoding(v: &[u8], report: &mut Value) {
    if let Some(pb) = v.strip_prefix(b"k8s\x00") {
        report["encoding"] = json!("protobuf");
        if let Some((api_version, kind)) = protobuf_type_meta(pb) {
            report["api_version"] = json!(api_version);
            report["kind"] = json!(kind);
        }
    } else if v.starts_with(&[0xd9, 0xd9, 0xf7]) {
        report["encoding"] = json!("cbor");
    } else if v.trim_ascii_start().starts_with(b"{") {
        report["encoding"] = json!("json");
        if let Ok(doc) = serde_json::from_slice::<Value>(v) {
            for (from, to) in [("apiVersion", "api_version"), ("kind", "kind")] {
                if let Some(s) = doc.get(from).and_then(Value::as_str) {
                    report[to] = json!(s);
                }
            }
        }
    } else if v.is_empty() {
        report["encoding"] = json!("empty");
    } else {
        report["encoding"] = json!("unknown");
    }
}

fn varint(r: &mut Reader<'_>) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *r.take(1, "protobuf varint").ok()?.first()?;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

/// Field 1 (TypeMeta{apiVersion=1, kind=2}) of a runtime.Unknown message.
fn protobuf_type_meta(msg: &[u8]) -> Option<(String, String)> {
    let type_meta = field(msg, 1)?;
    let s = |n| {
        field(type_meta, n).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
    };
    Some((s(1), s(2)))
}

/// The first length-delimited field `num` of a protobuf message.
fn field(msg: &[u8], num: u64) -> Option<&[u8]> {
    let mut r = Reader::new(msg);
    while r.remaining() > 0 {
        let tag = varint(&mut r)?;
        match tag & 7 {
            0 => {
                varint(&mut r)?;
            }
            1 => {
                r.take(8, "protobuf fixed64").ok()?;
            }
            2 => {
                let len = usize::try_from(varint(&mut r)?).ok()?;
                let data = r.take(len, "protobuf bytes").ok()?;
                if tag >> 3 == num {
                    return Some(data);
                }
            }
            5 => {
                r.take(4, "protobuf fixed32").ok()?;
            }
            _ => return None,
        }
    }
    None
}

fn print_text(r: &Value) {
    let get =
        |k: &str| r.get(k).map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
    if let Some(k) = get("etcd_key") {
        println!("etcd key:   {k}");
    }
    if let Some(k) = get("resource") {
        println!("resource:   {k}");
    }
    if r["encrypted"] == json!(false) {
        println!("encrypted:  no");
        let mut enc = get("encoding").unwrap_or_default();
        if let (Some(a), Some(k)) = (get("api_version"), get("kind")) {
            enc = format!("{enc}, apiVersion {a}, kind {k}");
        }
        println!("encoding:   {enc}");
    } else {
        println!("encrypted:  yes");
        println!(
            "provider:   {} ({})",
            get("provider").unwrap_or_default(),
            get("prefix").unwrap_or_default()
        );
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
            println!("{label}:   {name}{guess}");
        }
        if let Some(b) = get("body_bytes") {
            println!("body:       {b} bytes");
        }
        if let Some(e) = get("envelope") {
            println!("envelope:   {e}");
        }
        if let Some(p) = get("problem") {
            println!("problem:    {p}");
        }
    }
    println!("size:       {} bytes", get("size_bytes").unwrap_or_default());
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
    fn etcdctl_json_is_recognised_and_plain_json_is_not() {
        let j = br#"{"header":{"cluster_id":14841639068965178418,"revision":5},"kvs":[{"key":"L3JlZ2lzdHJ5L3NlY3JldHMvZGVmYXVsdC9zMQ==","value":"azhzAA=="}],"count":1}"#;
        let kv = etcdctl_json(j).unwrap();
        assert_eq!(kv.key, "/registry/secrets/default/s1");
        assert_eq!(kv.value, b"k8s\0");
        assert!(etcdctl_json(br#"{"kind":"ConfigMap","kvs":[]}"#).is_none());
    }
}
