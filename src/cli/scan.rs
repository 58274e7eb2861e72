//! `atrest scan`: prove, object by object, what etcd stores.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::ValueEnum;

use atrest::report::{self, Format};
use atrest::scan::finding::Problem;
use atrest::scan::{ScanOptions, Scanner};

use super::source::{KeyArchiveArgs, SourceArgs, load_config_for_reading_hashed};
use super::ui::Ui;

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
    Jsonl,
    Sarif,
    Junit,
    Prometheus,
}

/// Scan what etcd stores and prove, per object, whether it is encrypted, by
/// which provider and key, and whether it decrypts with the config's keys.
///
/// Reads a snapshot (`etcdctl snapshot save`), a member data file
/// (`member/snap/db`), an `etcdctl get --prefix /registry -w json` dump, or a
/// live etcd (--endpoints, etcdctl's TLS flags and ETCDCTL_* variables).
///
/// With --config, every encrypted value is decrypted and verified with the
/// config's keys (AEAD tag; for aescbc, which has no MAC, the plaintext must
/// also decode as a Kubernetes object), KMS values through the configured
/// plugin sockets (an unreachable plugin makes them `unverified`, not failed),
/// and judged against what the config demands for the resource:
///   plaintext      plaintext where the config's first provider encrypts
///   undecryptable  no configured key reads it (kube-apiserver cannot either)
///   stale          read by a key other than the first: blocks pruning that key
///   unknown        an unknown k8s:enc: prefix, or an unreadable record
///   history-leak   (--all-revisions) an older plaintext copy of an object
///                  that is encrypted now, or of a deleted one
/// Without --config, values are classified only, and plaintext Secrets are
/// violations. The census counts objects per resource, state and key
/// (`aesgcm/key1: 1200`): what a rotation needs to know before a prune.
///
/// Output never contains plaintext or key material. Formats: text (default),
/// json (one document, see docs/json-schema.md), jsonl, sarif (2.1.0, one
/// result per problem), junit (one test case per resource), prometheus (text
/// exposition for node-exporter's textfile collector, see docs/formats.md).
///
/// --verbose also lists every object in the text report and says on stderr
/// what was opened and how long the scan took; --quiet drops the progress bar
/// and notes (the report itself is unchanged).
///
/// A snapshot's SHA-256 trailer is hashed while the scan reads it: if the file
/// changed after it was saved, the scan ends with exit 2 and no summary
/// (--allow-trailer-mismatch reads it anyway, with a warning; --skip-trailer-check
/// does not hash it, for a file already checked when it was copied).
///
/// Exit codes: 0 no finding of a --fail-on class; 1 findings of a --fail-on
/// class (default: plaintext,undecryptable); 2 unusable input (unreadable
/// source or config, unreachable etcd, a snapshot that fails its trailer).
///
/// Examples:
///   atrest scan /backup/snapshot.db --config /etc/kubernetes/enc/enc.yaml
///   atrest scan --endpoints https://127.0.0.1:2379 --cacert ca.crt --cert c.crt \
///       --key c.key --config enc.yaml --format sarif --output atrest.sarif
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    source: SourceArgs,
    /// The cluster's EncryptionConfiguration: decrypt and verify with its keys.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    archive: KeyArchiveArgs,
    /// kube-apiserver's --etcd-prefix.
    #[arg(long, default_value = "/registry")]
    prefix: String,
    /// Only this resource, as the config names it (secrets, deployments.apps); repeatable.
    #[arg(long = "resource", value_name = "RESOURCE")]
    resources: Vec<String>,
    /// Also examine every older revision still in the source (offline sources).
    #[arg(long)]
    all_revisions: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
    /// Write the report here instead of stdout.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
    /// Also write Prometheus metrics here (written to FILE.tmp, then renamed,
    /// as node-exporter's textfile collector needs).
    #[arg(long, value_name = "FILE")]
    metrics_file: Option<PathBuf>,
    /// Problem classes that fail the scan (exit 1), comma-separated:
    /// plaintext, undecryptable, stale, unknown, history-leak; or `none`.
    #[arg(long, value_delimiter = ',', default_value = "plaintext,undecryptable")]
    fail_on: Vec<String>,
    /// Decrypt-verify with this many worker threads (default: one per core;
    /// a reader thread and the reporting thread come on top).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: Option<u16>,
}

pub fn run(args: Args, ui: &Ui) -> anyhow::Result<u8> {
    let mut fail_on = Vec::new();
    for name in args.fail_on.iter().filter(|s| s.as_str() != "none" && !s.is_empty()) {
        let p = Problem::parse(name).with_context(|| {
            format!(
                "unknown --fail-on class {name:?}; use plaintext, undecryptable, stale, unknown, history-leak or none"
            )
        })?;
        fail_on.push(p);
    }
    let loaded = args.config.as_deref().map(load_config_for_reading_hashed).transpose()?;
    let (mut config, config_hash) = loaded.map_or((None, None), |(c, h)| (Some(c), Some(h)));
    match config.as_mut() {
        Some(cfg) => args.archive.apply(cfg)?,
        None if args.archive.key_archive.is_some() => {
            anyhow::bail!("--key-archive adds keys to a --config; give the config too")
        }
        None => {}
    }
    match (&args.config, &config_hash) {
        (Some(p), Some(h)) => ui.detail(format_args!("config {} ({h})", p.display())),
        _ => ui.detail(format_args!("no --config: values are classified only, not decrypted")),
    }
    for len in aesgcm_key_lengths(config.as_ref()) {
        let backend = atrest::crypto::aesgcm::GcmBackend::for_key_len(len);
        ui.detail(format_args!(
            "aesgcm {}-bit keys decrypt on the {} backend",
            len * 8,
            backend.as_str()
        ));
    }
    let mut source = args.source.open_to_read_all(ui)?;
    let mut header = atrest::scan::engine::header(source.info(), &args.prefix);
    header.config = args.config.as_ref().map(|p| p.display().to_string());
    header.config_hash = config_hash;

    let out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let format = match args.format {
        OutputFormat::Text => Format::Text,
        OutputFormat::Json => Format::Json,
        OutputFormat::Jsonl => Format::JsonLines,
        OutputFormat::Sarif => Format::Sarif,
        OutputFormat::Junit => Format::Junit,
        OutputFormat::Prometheus => Format::Prometheus,
    };
    let mut reporter = report::reporter(format, out, ui.verbose());
    let metrics_tmp = args.metrics_file.as_ref().map(|p| {
        let mut t = p.clone().into_os_string();
        t.push(".tmp");
        PathBuf::from(t)
    });
    if let Some(tmp) = &metrics_tmp {
        let file = std::fs::File::create(tmp)
            .with_context(|| format!("cannot write {}; check --metrics-file", tmp.display()))?;
        let metrics =
            Box::new(report::PrometheusReporter::new(Box::new(std::io::BufWriter::new(file))));
        reporter = Box::new(report::Tee::new(reporter, metrics));
    }
    let options = ScanOptions {
        prefix: args.prefix.clone(),
        resources: args.resources.clone(),
        all_revisions: args.all_revisions,
        fail_on,
        jobs: args.jobs.map_or(0, usize::from),
    };
    let scanner = Scanner::new(config.as_ref(), &args.prefix);
    let started = std::time::Instant::now();
    let bar = ui.progress().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos} records read ({per_sec}) {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    });
    let mut progress = |n: u64| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    };
    let summary = atrest::scan::run(
        source.as_mut(),
        &scanner,
        &options,
        header,
        reporter.as_mut(),
        &mut progress,
    )
    .inspect_err(|_| {
        if let Some(tmp) = &metrics_tmp {
            let _ = std::fs::remove_file(tmp);
        }
    })
    .with_context(|| format!("scan of {} failed", args.source.describe()))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    drop(reporter);
    if let (Some(tmp), Some(path)) = (&metrics_tmp, &args.metrics_file) {
        std::fs::rename(tmp, path)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
        ui.detail(format_args!("wrote metrics {}", path.display()));
    }
    if source.info().trailer == atrest::etcd::Trailer::Valid {
        ui.detail(format_args!("snapshot SHA-256 trailer matches the data"));
    }
    let census = &summary.census;
    ui.detail(format_args!(
        "scanned {} objects ({} older revisions) in {}; {} finding(s)",
        census.objects,
        census.history_revisions,
        super::ui::secs(started.elapsed()),
        census.problems.values().sum::<u64>()
    ));
    Ok(if summary.failed { super::EXIT_FINDINGS } else { super::EXIT_OK })
}

/// The distinct aesgcm key lengths of `config`, in ascending order (for
/// `--verbose`: which backend decrypts them).
fn aesgcm_key_lengths(config: Option<&atrest::config::EncryptionConfig>) -> Vec<usize> {
    let mut lens: Vec<usize> = config
        .into_iter()
        .flat_map(|c| &c.entries)
        .flat_map(|e| &e.providers)
        .filter_map(|p| match p {
            atrest::config::ProviderConfig::AesGcm(keys) => Some(keys),
            _ => None,
        })
        .flat_map(|keys| keys.keys.iter().map(|k| k.secret.len()))
        .collect();
    lens.sort_unstable();
    lens.dedup();
    lens
}
