//! `atrest records`: list the records a source holds (debugging and inspection).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use base64::Engine;
use clap::ValueEnum;

use atrest::etcd::live::{LiveOptions, LiveSource};
use atrest::etcd::{
    ForceKind, OpenOptions, Query, Record, RecordSource, SourceInfo, View, open_source,
};

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Jsonl,
}

#[derive(Clone, Copy, ValueEnum)]
enum SourceType {
    Auto,
    Bbolt,
    Json,
    Raw,
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
    /// Snapshot, data file, JSON dump or raw value file; omit for live etcd.
    source: Option<PathBuf>,
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
    /// Read SOURCE as this type instead of sniffing it.
    #[arg(long = "type", value_enum, default_value = "auto")]
    source_type: SourceType,
    /// The etcd key of a raw value file (e.g. /registry/secrets/default/s1).
    #[arg(long)]
    etcd_key: Option<String>,
    /// The raw value came from `etcdctl get --print-value-only`: strip its trailing newline.
    #[arg(long)]
    strip_newline: bool,
    /// Do not hash the snapshot to verify its SHA-256 trailer.
    #[arg(long)]
    skip_trailer_check: bool,
    /// Read a snapshot whose SHA-256 trailer does not match (warns).
    #[arg(long)]
    allow_trailer_mismatch: bool,
    #[command(flatten)]
    live: Box<LiveArgs>,
}

/// Flags for a live cluster (like etcdctl's).
#[derive(clap::Args)]
struct LiveArgs {
    /// Live: comma-separated endpoints.
    #[arg(
        long,
        env = "ETCDCTL_ENDPOINTS",
        value_delimiter = ',',
        default_value = "127.0.0.1:2379"
    )]
    endpoints: Vec<String>,
    /// Live: CA certificate (PEM) to verify the server.
    #[arg(long, env = "ETCDCTL_CACERT")]
    cacert: Option<PathBuf>,
    /// Live: client certificate (PEM).
    #[arg(long, env = "ETCDCTL_CERT")]
    cert: Option<PathBuf>,
    /// Live: client key (PEM; RSA or EC).
    #[arg(long = "key", env = "ETCDCTL_KEY")]
    key_file: Option<PathBuf>,
    /// Live: user name (or user:password).
    #[arg(long, env = "ETCDCTL_USER")]
    user: Option<String>,
    /// Live: password.
    #[arg(long, env = "ETCDCTL_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Live: read at this revision instead of the current one.
    #[arg(long)]
    revision: Option<i64>,
    /// Live: per-request timeout in seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

/// What the first bytes of a value say.
fn classify(value: &[u8]) -> String {
    if let Some(rest) = value.strip_prefix(b"k8s:enc:") {
        // k8s:enc:<provider>:v<N>:<key>:  (kms v2: k8s:enc:kms:v2:<name>:)
        let mut parts = rest.splitn(4, |b| *b == b':');
        let provider = parts.next().map(String::from_utf8_lossy).unwrap_or_default();
        let version = parts.next().map(String::from_utf8_lossy).unwrap_or_default();
        let key = parts.next().map(String::from_utf8_lossy).unwrap_or_default();
        if parts.next().is_some() {
            return format!("encrypted:{provider}:{version}:{key}");
        }
        return "encrypted:malformed-prefix".into();
    }
    if value.starts_with(b"k8s\0") {
        "plaintext:protobuf".into()
    } else if value.starts_with(b"\xd9\xd9\xf7") {
        "plaintext:cbor".into()
    } else if value.first() == Some(&b'{') {
        "plaintext:json".into()
    } else if value.is_empty() {
        "empty".into()
    } else {
        "unknown".into()
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

pub fn run(args: Args) -> anyhow::Result<u8> {
    let mut source: Box<dyn RecordSource> = match &args.source {
        Some(path) => {
            let options = OpenOptions {
                force: match args.source_type {
                    SourceType::Auto => None,
                    SourceType::Bbolt => Some(ForceKind::Bbolt),
                    SourceType::Json => Some(ForceKind::Json),
                    SourceType::Raw => Some(ForceKind::Raw),
                },
                skip_trailer_check: args.skip_trailer_check,
                allow_trailer_mismatch: args.allow_trailer_mismatch,
                raw_key: args.etcd_key.as_ref().map(|k| k.as_bytes().to_vec()),
                strip_newline: args.strip_newline,
            };
            open_source(path, &options)
                .with_context(|| format!("cannot read {}", path.display()))?
        }
        None => {
            let live = &args.live;
            let options = LiveOptions {
                endpoints: live.endpoints.clone(),
                cacert: live.cacert.clone(),
                cert: live.cert.clone(),
                key: live.key_file.clone(),
                user: live.user.clone(),
                password: live.password.clone(),
                revision: live.revision,
                request_timeout: std::time::Duration::from_secs(live.timeout.max(1)),
                ..LiveOptions::default()
            };
            Box::new(LiveSource::connect(options)?)
        }
    };
    let query = Query {
        view: if args.history { View::History } else { View::Current },
        prefix: args.prefix.as_bytes().to_vec(),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let info = source.info().clone();
    for w in &info.warnings {
        eprintln!("atrest: warning: {w}");
    }
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
    Ok(if broken > 0 { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[test]
    fn classifies_prefixes() {
        assert_eq!(classify(b"k8s:enc:aescbc:v1:key1:\x00\x01"), "encrypted:aescbc:v1:key1");
        assert_eq!(classify(b"k8s:enc:kms:v2:plugin:\x0a"), "encrypted:kms:v2:plugin");
        assert_eq!(classify(b"k8s:enc:aescbc"), "encrypted:malformed-prefix");
        assert_eq!(classify(b"k8s\x00\x0a"), "plaintext:protobuf");
        assert_eq!(classify(b"{\"kind\":1}"), "plaintext:json");
        assert_eq!(classify(b""), "empty");
    }
}
