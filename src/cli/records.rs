//! `atrest records`: list the records a source holds (debugging and inspection).

use std::io::Write;

use base64::Engine;
use clap::ValueEnum;

use atrest::etcd::{Query, Record, SourceInfo, View};

use super::source::SourceArgs;
use super::ui::Ui;

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Jsonl,
}

/// List the etcd records a source holds: keys, revisions, value sizes and
/// what the first bytes of each value look like (encrypted with which
/// provider/key, plaintext protobuf/JSON). Values are never printed unless
/// --values is given.
///
/// SOURCE is a file: an `etcdctl snapshot save` file, a member's
/// `member/snap/db`, `etcdctl get --prefix ... -w json` output (one or more
/// documents) or a raw value (with --etcd-key). The type is sniffed from the first
/// bytes (bbolt magic, `{`, anything else). Without SOURCE, atrest reads a live
/// cluster (--endpoints or ETCDCTL_ENDPOINTS, default 127.0.0.1:2379).
///
/// Output: one line per record (text), or JSON lines (--format jsonl): a first
/// object {"type":"source",...} describing the source (revision, compact
/// revision, snapshot trailer), then {"type":"record",...} objects and
/// {"type":"error","message":...} for entries that could not be read.
///
/// Exit codes: 0 all records read; 1 some entries were broken (listed);
/// 2 the source could not be opened (unreadable, corrupt meta pages, bad
/// snapshot checksum, unreachable cluster).
///
/// Example: atrest records /backup/etcd-snapshot.db --history --prefix /registry/secrets/
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    source: SourceArgs,
    /// Every revision still stored (overwritten values, tombstones), not just the current view.
    #[arg(long)]
    history: bool,
    /// Only keys starting with this prefix.
    #[arg(long, default_value = "")]
    prefix: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Also print each value (base64 in JSON, escaped in text). May print secrets.
    #[arg(long)]
    values: bool,
}

/// What the first bytes of a value say: `encrypted:<provider>:<key>`,
/// `encrypted:unknown-prefix`, `plaintext:<encoding>` or `empty`.
fn classify(value: &[u8]) -> String {
    use atrest::format::prefix::{StoredValue, parse};
    match parse(value) {
        StoredValue::Encrypted { kind, name, .. } => {
            let name = String::from_utf8_lossy(name);
            format!("encrypted:{}:{}", kind.as_str(), atrest::report::display_safe(&name))
        }
        StoredValue::Unterminated { .. } | StoredValue::Unknown { .. } => {
            "encrypted:unknown-prefix".into()
        }
        StoredValue::Plaintext([]) => "empty".into(),
        StoredValue::Plaintext(v) => format!("plaintext:{}", atrest::kube::classify(v).name()),
    }
}

fn info_line(info: &SourceInfo) -> String {
    let opt = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
    let mut s = format!(
        "# {:?} {} revision {} compact {}",
        info.kind,
        info.origin,
        opt(info.revision),
        opt(info.compact_revision)
    );
    if let Some(b) = &info.bbolt {
        s.push_str(&format!(" page-size {} txid {}", b.page_size, b.txid));
    }
    s.push_str(&format!(" trailer {:?}", info.trailer));
    s
}

fn record_json(r: &Record, values: bool) -> serde_json::Value {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut v = serde_json::json!({
        "type": "record",
        "key": String::from_utf8_lossy(&r.key),
        "key_b64": b64.encode(&r.key),
        "revision": r.mod_revision,
        "sub_revision": r.sub_revision,
        "create_revision": r.create_revision,
        "version": r.version,
        "lease": r.lease,
        "tombstone": r.tombstone,
        "value_size": r.value.len(),
        "class": classify(&r.value),
    });
    if values {
        v["value_b64"] = b64.encode(&r.value).into();
    }
    v
}

fn record_text(r: &Record, values: bool) -> String {
    let mut s = format!(
        "{}.{} {}",
        r.mod_revision,
        r.sub_revision,
        String::from_utf8_lossy(&r.key).escape_debug()
    );
    if r.tombstone {
        s.push_str(" tombstone");
    } else {
        s.push_str(&format!(" size={} class={}", r.value.len(), classify(&r.value)));
        s.push_str(&format!(" create={} version={}", r.create_revision, r.version));
    }
    if r.lease != 0 {
        s.push_str(&format!(" lease={:x}", r.lease));
    }
    if values {
        s.push_str(&format!(" value={}", r.value.escape_ascii()));
    }
    s
}

pub fn run(args: Args, ui: &Ui) -> anyhow::Result<u8> {
    let mut source = args.source.open(ui)?;
    let query = Query {
        view: if args.history { View::History } else { View::Current },
        prefix: args.prefix.as_bytes().to_vec(),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let info = source.info().clone();
    match args.format {
        Format::Text => writeln!(out, "{}", info_line(&info))?,
        Format::Jsonl => {
            let mut v = serde_json::to_value(&info)?;
            v["type"] = "source".into();
            writeln!(out, "{v}")?;
        }
    }
    let mut broken = 0usize;
    let (mut count, mut tombstones) = (0usize, 0usize);
    for item in source.records(&query)? {
        match item {
            Ok(r) => {
                count += 1;
                tombstones += usize::from(r.tombstone);
                match args.format {
                    Format::Text => writeln!(out, "{}", record_text(&r, args.values))?,
                    Format::Jsonl => writeln!(out, "{}", record_json(&r, args.values))?,
                }
            }
            Err(e) => {
                broken += 1;
                match args.format {
                    Format::Text => writeln!(out, "! error: {e}")?,
                    Format::Jsonl => writeln!(
                        out,
                        "{}",
                        serde_json::json!({"type": "error", "message": e.to_string()})
                    )?,
                }
            }
        }
    }
    if let Format::Text = args.format {
        writeln!(out, "# {count} records ({tombstones} tombstones), {broken} unreadable entries")?;
    }
    out.flush()?;
    ui.detail(format_args!(
        "listed {count} records ({tombstones} tombstones, {broken} unreadable) in {}",
        super::ui::secs(ui.elapsed())
    ));
    Ok(if broken > 0 { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[test]
    fn classifies_prefixes() {
        assert_eq!(classify(b"k8s:enc:aescbc:v1:key1:\x00\x01"), "encrypted:aescbc:key1");
        assert_eq!(classify(b"k8s:enc:kms:v2:plugin:\x0a"), "encrypted:kms-v2:plugin");
        assert_eq!(classify(b"k8s:enc:aescbc"), "encrypted:unknown-prefix");
        assert_eq!(classify(b"k8s:enc:foo:v1:x:"), "encrypted:unknown-prefix");
        assert_eq!(classify(b"k8s\x00\x0a"), "plaintext:malformed-protobuf");
        assert_eq!(classify(b"{\"kind\":1}"), "plaintext:malformed-json");
        assert_eq!(classify(b"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\"}"), "plaintext:json");
        assert_eq!(classify(b""), "empty");
    }
}
