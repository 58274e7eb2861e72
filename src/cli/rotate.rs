//! `atrest rotate`: key rotation and provider migration, stage by stage.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Subcommand, ValueEnum};

use atrest::rotation::archive::KdfParams;
use atrest::rotation::execute::{self, ArchiveTarget};
use atrest::rotation::plan::{Outcome, PrepareSpec, Request, Step};
use atrest::rotation::runbook::{self, Reload, RunbookOptions};
use atrest::rotation::{Evidence, OsEntropy, SystemClock, doc, file_hash, status};

use super::ui::Ui;
use super::{EXIT_FINDINGS, EXIT_INPUT, EXIT_OK};

/// Rotate keys and migrate providers safely: prepare, promote, re-encrypt, prune.
///
/// One model covers key rotation (aescbc key1 -> key2), provider migration
/// (aescbc -> secretbox or kms v2), enabling (identity -> a provider) and
/// disabling (a provider -> identity), per `resources` entry, from write key
/// A to B:
///
///   1. prepare: B added as a read-only key/provider in SECOND position;
///   2. promote: B first, A second (after every apiserver loaded step 1);
///   3. re-encrypt: `kubectl get <res> -A -o json | kubectl replace -f -`;
///   4. prune: A removed, only when a scan shows nothing stored under it.
///
/// The stage is derived from the file itself (B is the newest key: dated
/// names `key-YYYYMMDDTHHMMSSZ` and higher trailing numbers are newer, and
/// identity < aescbc < aesgcm < secretbox < kms v1 < kms v2), never stored;
/// name B with `--to` when the file cannot tell (e.g. when disabling).
///
/// Every step prints a PLAN (a diff with secrets redacted) and writes only
/// with --write: then it takes a lock on CONFIG.lock, keeps a timestamped
/// 0600 backup beside the file, and replaces the file atomically (0600).
/// Re-running a finished step changes nothing.
///
/// Exit codes: 0 planned, written or nothing to do; 1 the step does not
/// follow from the current stage (refused; the message says what to do) or,
/// for status, the nodes' files differ; 2 unusable input.
///
/// Example: atrest rotate prepare /etc/kubernetes/enc/enc.yaml --write
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum OutFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum StatusFormat {
    Text,
    Json,
    Prometheus,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReloadArg {
    Auto,
    Restart,
}

#[derive(clap::Args)]
struct Common {
    /// Only the entries listing these resources (as written: secrets, *.apps, *.*).
    #[arg(long, value_delimiter = ',')]
    resources: Vec<String>,
    /// The transition target B (aescbc/key2, kms-v2/vault, identity) when the
    /// file cannot tell which key is newer (always needed when disabling).
    #[arg(long, value_name = "SLOT")]
    to: Option<String>,
    /// Apply the plan (default: dry run, print the plan only).
    #[arg(long, visible_alias = "yes")]
    write: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: OutFormat,
}

#[derive(Subcommand)]
enum Cmd {
    /// Stage of every entry; with one file per control-plane node, whether
    /// they are byte-identical and how a differing node differs.
    ///
    /// Exit 0 when the files are identical and load, 1 when they differ or
    /// one does not load, 2 when a file cannot be read.
    ///
    /// Example: atrest rotate status node1/enc.yaml node2/enc.yaml --evidence scan.json
    Status {
        /// The config file of each control-plane node.
        #[arg(required = true)]
        configs: Vec<PathBuf>,
        /// A scan JSON document (`atrest scan SOURCE --config CONFIG --format json`):
        /// counts objects per key and says what blocks the next step.
        #[arg(long, value_name = "SCAN.json")]
        evidence: Option<PathBuf>,
        /// Scan this snapshot, data file or dump now with the first config's
        /// keys, and use the result as evidence.
        #[arg(long, value_name = "SOURCE", conflicts_with = "evidence")]
        scan: Option<PathBuf>,
        /// kube-apiserver's --etcd-prefix, for --scan.
        #[arg(long, default_value = "/registry")]
        etcd_prefix: String,
        /// The transition target B when the file cannot tell.
        #[arg(long, value_name = "SLOT")]
        to: Option<String>,
        /// Output format (prometheus: text exposition for node-exporter).
        #[arg(long, value_enum, default_value = "text")]
        format: StatusFormat,
    },
    /// Add B (a new key, or a new provider) as a read-only second provider/key.
    ///
    /// Default: a new 32-byte key of the current writer's provider, named
    /// key-<UTC timestamp>, in every entry that encrypts.
    ///
    /// Prints a PLAN (diff, secrets redacted); writes only with --write. Exit 0 planned,
    /// written or already done; 1 refused (the step does not follow from the stage);
    /// 2 unusable input.
    ///
    /// Example: atrest rotate prepare enc.yaml --provider secretbox --write
    Prepare {
        /// The config file.
        config: PathBuf,
        /// aescbc, aesgcm, secretbox, kms (v2) or identity (disabling).
        #[arg(long)]
        provider: Option<String>,
        /// Name of the new key (default key-<UTC timestamp>).
        #[arg(long)]
        key_name: Option<String>,
        /// Name of the new KMS v2 provider (default kms-<UTC timestamp>).
        #[arg(long)]
        kms_name: Option<String>,
        /// Endpoint of the new KMS v2 plugin (unix:///path.sock).
        #[arg(long)]
        kms_endpoint: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Move B first (it starts writing) and keep A second (it still reads).
    ///
    /// Only after every kube-apiserver has loaded the prepared file.
    ///
    /// Prints a PLAN (diff, secrets redacted); writes only with --write. Exit 0 planned,
    /// written or already done; 1 refused (the step does not follow from the stage);
    /// 2 unusable input.
    ///
    /// Example: atrest rotate promote enc.yaml --write
    Promote {
        /// The config file.
        config: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Remove A, only when a scan shows no object stored under it.
    ///
    /// Retired local keys are appended to a key archive (0600), sealed with
    /// a passphrase from ATREST_ARCHIVE_PASSPHRASE or --passphrase-file
    /// (argon2id + XChaCha20-Poly1305).
    ///
    /// Prints a PLAN (diff, secrets redacted); writes only with --write. Exit 0 planned,
    /// written or already done; 1 refused (the step does not follow from the stage);
    /// 2 unusable input.
    ///
    /// Example: atrest rotate prune enc.yaml --scan /backup/snapshot.db --write
    Prune {
        /// The config file.
        config: PathBuf,
        /// A scan JSON document of a current snapshot or live etcd
        /// (`atrest scan ... --config CONFIG --format json -o scan.json`).
        #[arg(long, value_name = "SCAN.json", required_unless_present_any = ["force", "scan"])]
        evidence: Option<PathBuf>,
        /// Scan this snapshot, data file or `etcdctl -w json` dump now, with
        /// CONFIG's keys, and use the result as evidence.
        #[arg(long, value_name = "SOURCE", conflicts_with = "evidence")]
        scan: Option<PathBuf>,
        /// kube-apiserver's --etcd-prefix, for --scan.
        #[arg(long, default_value = "/registry")]
        etcd_prefix: String,
        /// Prune without (or against) evidence. Objects under a pruned key
        /// become unreadable for kube-apiserver.
        #[arg(long)]
        force: bool,
        /// Key archive for the retired keys (default: CONFIG.retired-keys).
        #[arg(long, value_name = "FILE")]
        key_archive: Option<PathBuf>,
        /// Seal the archive with the passphrase in this file (first line).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// A Markdown runbook for this config's transition.
    ///
    /// Exit 0 printed; 2 the config cannot be read or the transition cannot be planned.
    ///
    /// Example: atrest rotate runbook enc.yaml --provider kms --nodes 3 --reload auto > runbook.md
    Runbook {
        /// The config file.
        config: PathBuf,
        /// The provider to move to (as for prepare).
        #[arg(long)]
        provider: Option<String>,
        /// Number of control-plane nodes (1 or more).
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
        nodes: u32,
        /// How kube-apiservers load the file.
        #[arg(long, value_enum, default_value = "restart")]
        reload: ReloadArg,
        /// The transition target B when the file cannot tell.
        #[arg(long, value_name = "SLOT")]
        to: Option<String>,
    },
}

pub fn run(args: Args, ui: &Ui) -> anyhow::Result<u8> {
    match args.command {
        Cmd::Status { configs, evidence, scan, etcd_prefix, to, format } => {
            let ev = match (evidence, scan) {
                (Some(path), _) => Some(load_evidence(&path, ui)?),
                (None, Some(source)) => {
                    Some(scan_evidence(&configs[0], &source, &etcd_prefix, ui)?)
                }
                (None, None) => None,
            };
            run_status(&configs, ev, to, format, ui)
        }
        Cmd::Prepare { config, provider, key_name, kms_name, kms_endpoint, common } => {
            let spec = PrepareSpec { provider, key_name, kms_name, kms_endpoint };
            run_step(&config, Step::Prepare, spec, None, false, None, None, common, ui)
        }
        Cmd::Promote { config, common } => run_step(
            &config,
            Step::Promote,
            PrepareSpec::default(),
            None,
            false,
            None,
            None,
            common,
            ui,
        ),
        Cmd::Prune {
            config,
            evidence,
            scan,
            etcd_prefix,
            force,
            key_archive,
            passphrase_file,
            common,
        } => {
            let ev = match (evidence, scan) {
                (Some(path), _) => Some(load_evidence(&path, ui)?),
                (None, Some(source)) => Some(scan_evidence(&config, &source, &etcd_prefix, ui)?),
                (None, None) => None,
            };
            run_step(
                &config,
                Step::Prune,
                PrepareSpec::default(),
                ev,
                force,
                key_archive,
                passphrase_file,
                common,
                ui,
            )
        }
        Cmd::Runbook { config, provider, nodes, reload, to } => {
            let bytes = atrest::secret::read_key_file(&config)
                .with_context(|| format!("cannot read {}", config.display()))?;
            let text = std::str::from_utf8(&bytes).context("the config is not UTF-8")?;
            let d = doc::parse(text).with_context(|| format!("{}", config.display()))?;
            let path = config.display().to_string();
            let hash = file_hash(&bytes);
            ui.detail(format_args!("config {path} ({hash})"));
            let md = runbook::runbook(
                &d,
                &RunbookOptions {
                    path: &path,
                    hash: &hash,
                    provider: provider.as_deref(),
                    nodes,
                    reload: match reload {
                        ReloadArg::Auto => Reload::Auto,
                        ReloadArg::Restart => Reload::Restart,
                    },
                    target: to.as_deref(),
                },
            );
            print!("{md}");
            Ok(EXIT_OK)
        }
    }
}

/// Scans `source` now with `config`'s keys and counts objects per key.
fn scan_evidence(config: &Path, source: &Path, prefix: &str, ui: &Ui) -> anyhow::Result<Evidence> {
    let started = std::time::Instant::now();
    let (cfg, config_hash) = super::source::load_config_for_reading_hashed(config)?;
    let mut src = atrest::etcd::open_source(source, &atrest::etcd::OpenOptions::default())
        .with_context(|| format!("cannot read {}", source.display()))?;
    let mut ev = atrest::rotation::evidence::scan_evidence(src.as_mut(), &cfg, prefix)
        .with_context(|| format!("scan of {} failed", source.display()))?;
    ev.config_hash = Some(config_hash);
    ui.detail(format_args!(
        "evidence: scanned {} with the keys of {} in {}",
        source.display(),
        config.display(),
        super::ui::secs(started.elapsed())
    ));
    Ok(ev)
}

/// `rotate status` as Prometheus text exposition: the stage of every entry
/// (one series per possible stage, 1 for the current one), whether its next
/// step is blocked, objects per slot (with evidence) and whether the nodes'
/// files are identical.
fn status_metrics(report: &status::StatusReport) -> String {
    use atrest::report::Exposition;
    const STAGES: [&str; 4] = ["steady", "prepared", "promoted", "irregular"];
    let mut e = Exposition::new();
    e.family(
        "atrest_rotation_files_identical",
        "gauge",
        "1 when every node's EncryptionConfiguration is byte-identical.",
    );
    e.sample("atrest_rotation_files_identical", &[], f64::from(u8::from(report.identical)));
    e.family(
        "atrest_config_info",
        "gauge",
        "Each config file by content hash; loads=0 when it does not load.",
    );
    for f in &report.files {
        let loads = if f.error.is_none() { "1" } else { "0" };
        e.sample(
            "atrest_config_info",
            &[("file", &f.path), ("hash", &f.hash), ("loads", loads)],
            1.0,
        );
    }
    e.family(
        "atrest_rotation_stage",
        "gauge",
        "Stage of each resources entry: 1 for the current stage, 0 for the others.",
    );
    for f in &report.files {
        for en in &f.entries {
            let entry = en.stage.entry.to_string();
            let resources = en.stage.resources.join(",");
            for st in STAGES {
                let v = f64::from(u8::from(en.stage.stage.as_str() == st));
                e.sample(
                    "atrest_rotation_stage",
                    &[
                        ("file", &f.path),
                        ("entry", &entry),
                        ("resources", &resources),
                        ("stage", st),
                    ],
                    v,
                );
            }
        }
    }
    e.family("atrest_rotation_blocked", "gauge", "1 when the entry's next step is blocked.");
    for f in &report.files {
        for en in &f.entries {
            let entry = en.stage.entry.to_string();
            e.sample(
                "atrest_rotation_blocked",
                &[("file", &f.path), ("entry", &entry)],
                f64::from(u8::from(en.blocked)),
            );
        }
    }
    if report.evidence.is_some() {
        e.family(
            "atrest_rotation_objects",
            "gauge",
            "Objects of the entry's resources stored under each slot (from the scan evidence).",
        );
        for f in &report.files {
            for en in &f.entries {
                let entry = en.stage.entry.to_string();
                for c in &en.counts {
                    e.sample(
                        "atrest_rotation_objects",
                        &[("file", &f.path), ("entry", &entry), ("slot", &c.label)],
                        c.objects.unwrap_or(0) as f64,
                    );
                }
            }
        }
        e.family(
            "atrest_rotation_unreadable_objects",
            "gauge",
            "Objects stored under a key none of the entry's providers reads.",
        );
        for f in &report.files {
            for en in &f.entries {
                let entry = en.stage.entry.to_string();
                for (label, n) in &en.unreadable {
                    e.sample(
                        "atrest_rotation_unreadable_objects",
                        &[("file", &f.path), ("entry", &entry), ("slot", label)],
                        *n as f64,
                    );
                }
            }
        }
    }
    e.into_string()
}

fn load_evidence(path: &Path, ui: &Ui) -> anyhow::Result<Evidence> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read evidence {}", path.display()))?;
    let ev =
        Evidence::from_scan_json(&bytes).with_context(|| format!("evidence {}", path.display()))?;
    ui.detail(format_args!("evidence: scan JSON {} ({} bytes)", path.display(), bytes.len()));
    Ok(ev)
}

fn run_status(
    configs: &[PathBuf],
    ev: Option<Evidence>,
    to: Option<String>,
    format: StatusFormat,
    ui: &Ui,
) -> anyhow::Result<u8> {
    let mut files = Vec::new();
    for c in configs {
        let bytes = atrest::secret::read_key_file(c)
            .with_context(|| format!("cannot read {}", c.display()))?;
        ui.detail(format_args!("config {} ({})", c.display(), file_hash(&bytes)));
        files.push((c.display().to_string(), bytes));
    }
    let report = status::status(&files, ev.as_ref(), to.as_deref());
    let failed = !report.identical || report.files.iter().any(|f| f.error.is_some());
    let mut out = std::io::stdout().lock();
    if format == StatusFormat::Json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
        return Ok(if failed { EXIT_FINDINGS } else { EXIT_OK });
    }
    if format == StatusFormat::Prometheus {
        out.write_all(status_metrics(&report).as_bytes())?;
        return Ok(if failed { EXIT_FINDINGS } else { EXIT_OK });
    }
    for f in &report.files {
        writeln!(out, "{}  {}", f.hash, f.path)?;
        if let Some(e) = &f.error {
            writeln!(out, "  does not load: {e}")?;
        }
        for e in &f.entries {
            writeln!(
                out,
                "  entry {} [{}]: {}",
                e.stage.entry,
                e.stage.resources.join(", "),
                e.summary
            )?;
            writeln!(out, "    write: {}", e.stage.write)?;
            if !e.stage.read.is_empty() {
                writeln!(out, "    read:  {}", e.stage.read.join(", "))?;
            }
            if ev.is_some() {
                let counts: Vec<String> = e
                    .counts
                    .iter()
                    .map(|c| format!("{} {}", c.label, c.objects.unwrap_or(0)))
                    .collect();
                writeln!(out, "    objects: {}", counts.join(", "))?;
            }
            for (label, n) in &e.unreadable {
                writeln!(
                    out,
                    "    UNREADABLE: {n} object(s) stored as {label}, which no provider of this entry reads"
                )?;
            }
            writeln!(out, "    next: {}", e.next)?;
        }
    }
    if let Some(info) = &report.evidence {
        writeln!(out, "evidence: scan of {:?}", info.source)?;
        if info.matches_config == Some(false) {
            writeln!(
                out,
                "  warning: the scan used a different config ({})",
                info.config_hash.clone().unwrap_or_default()
            )?;
        }
    }
    if report.files.len() > 1 {
        if report.identical {
            writeln!(out, "all {} files are byte-identical", report.files.len())?;
        } else {
            for d in &report.differences {
                writeln!(out, "DIFFERS: {} (compared with {}): {}", d.path, d.reference, d.how)?;
            }
        }
    }
    Ok(if failed { EXIT_FINDINGS } else { EXIT_OK })
}

#[allow(clippy::too_many_arguments)]
fn run_step(
    config: &Path,
    step: Step,
    spec: PrepareSpec,
    evidence: Option<Evidence>,
    force: bool,
    key_archive: Option<PathBuf>,
    passphrase_file: Option<PathBuf>,
    common: Common,
    ui: &Ui,
) -> anyhow::Result<u8> {
    let ev = evidence;
    let req = Request {
        resources: common.resources.clone(),
        target: common.to.clone(),
        prepare: spec,
        evidence: ev.as_ref(),
        force,
    };
    let pass = if step == Step::Prune {
        super::source::passphrase(passphrase_file.as_deref())?
    } else {
        None
    };
    let archive_path = key_archive.unwrap_or_else(|| {
        let mut n = config.as_os_str().to_os_string();
        n.push(".retired-keys");
        PathBuf::from(n)
    });
    let target = ArchiveTarget {
        path: archive_path,
        passphrase: pass.as_ref(),
        params: KdfParams::default(),
    };
    let report = match execute::run_step(
        config,
        step,
        &req,
        common.write,
        Some(&target),
        &SystemClock,
        &mut OsEntropy,
    ) {
        Ok(r) => r,
        Err(atrest::rotation::RotationError::Usage(m)) => {
            eprintln!("atrest: error: {m}");
            return Ok(EXIT_INPUT);
        }
        Err(e) => return Err(e.into()),
    };
    let name = step.as_str();
    ui.detail(format_args!(
        "{name}: config {} ({}): {}",
        config.display(),
        report.hash,
        match (&report.outcome, &report.written) {
            (Outcome::Change(_), Some(_)) => "change written",
            (Outcome::Change(_), None) => "change planned (dry run)",
            (Outcome::NoOp(_), _) => "nothing to do",
            (Outcome::Refused(_), _) => "refused",
        }
    ));
    let mut out = std::io::stdout().lock();
    if common.format == OutFormat::Json {
        let v = match &report.outcome {
            Outcome::Change(p) => serde_json::json!({
                "step": name, "outcome": "change", "config": config.display().to_string(), "hash": report.hash,
                "entries": p.entries, "diff": p.diff, "notes": p.notes, "warnings": p.warnings,
                "reemitted": p.reemitted, "retired": p.retired.iter().map(|k| format!("{}/{}", k.provider, k.name)).collect::<Vec<_>>(),
                "written": report.written,
            }),
            Outcome::NoOp(m) => {
                serde_json::json!({"step": name, "outcome": "noop", "hash": report.hash, "message": m})
            }
            Outcome::Refused(m) => {
                serde_json::json!({"step": name, "outcome": "refused", "hash": report.hash, "message": m})
            }
        };
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(if matches!(report.outcome, Outcome::Refused(_)) {
            EXIT_FINDINGS
        } else {
            EXIT_OK
        });
    }
    match &report.outcome {
        Outcome::NoOp(m) => {
            writeln!(out, "nothing to do: {name} is already done\n{m}")?;
            Ok(EXIT_OK)
        }
        Outcome::Refused(m) => {
            eprintln!("atrest: rotate {name} refused:\n{m}");
            Ok(EXIT_FINDINGS)
        }
        Outcome::Change(p) => {
            for w in &p.warnings {
                ui.warn(format_args!("{w}"));
            }
            let mode =
                if report.written.is_some() { "applied" } else { "dry run; add --write to apply" };
            writeln!(out, "PLAN: atrest rotate {name} {} ({mode})", config.display())?;
            for n in &p.notes {
                writeln!(out, "note: {n}")?;
            }
            if !p.retired.is_empty() {
                let names: Vec<String> =
                    p.retired.iter().map(|k| format!("{}/{}", k.provider, k.name)).collect();
                writeln!(
                    out,
                    "retires: {} (archived to {})",
                    names.join(", "),
                    target.path.display()
                )?;
            }
            writeln!(out, "--- {} (current, {})", config.display(), report.hash)?;
            writeln!(out, "+++ {} (planned)", config.display())?;
            write!(out, "{}", p.diff)?;
            if let Some(w) = &report.written {
                writeln!(out, "wrote {} ({})", config.display(), w.hash_after)?;
                writeln!(out, "backup: {}", w.backup.display())?;
                if let Some(a) = &w.archive {
                    let sealed = if pass.is_some() {
                        "sealed"
                    } else {
                        "NOT sealed: set ATREST_ARCHIVE_PASSPHRASE"
                    };
                    writeln!(
                        out,
                        "key archive: {} (+{} key(s), {sealed})",
                        a.display(),
                        w.archived
                    )?;
                }
                writeln!(
                    out,
                    "next: copy this exact file to every control-plane node and restart or let them reload; \
                     check with `atrest rotate status <every node's file>`"
                )?;
            }
            Ok(EXIT_OK)
        }
    }
}
