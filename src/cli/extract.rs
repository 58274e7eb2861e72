//! `atrest extract`: disaster recovery — decrypt one object from a backup
//! (or a live etcd) with the cluster's EncryptionConfiguration and print it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use clap::ValueEnum;

use atrest::crypto::chain::Chain;
use atrest::etcd::{Query, Record};
use atrest::fsutil::{WriteOptions, write_output};
use atrest::kube::{self, Extracted, KeyMapper, RenderOptions};

use super::source::{KeyArchiveArgs, SourceArgs, load_config_for_reading};
use super::ui::Ui;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// YAML like `kubectl get -o yaml` (Secret/ConfigMap data base64, as the API shows it).
    Yaml,
    /// JSON like `kubectl get -o json`.
    Json,
    /// The decrypted bytes exactly as kube-apiserver encoded them.
    Raw,
}

/// Decrypt one object from a snapshot, data file, dump or live etcd and
/// print it (disaster recovery).
///
/// The object is named by its etcd key with --etcd-key (not --key: that is
/// etcdctl's TLS client-key flag, shared with live sources). Without
/// --revision the current value is read; with --revision N, that older
/// revision from a snapshot's or data file's history (or, live, the value at
/// that revision with --at-revision N).
///
/// The value is decrypted with the config's providers for the object's
/// resource, exactly as kube-apiserver reads it (AAD = the etcd key). Secrets
/// and ConfigMaps stored as Kubernetes protobuf are decoded into the shape of
/// `kubectl get -o yaml|json` (data base64 for Secrets, as the API shows
/// it); JSON objects (custom resources, CRDs) are printed as stored
/// (re-indented); other kinds (protobuf, CBOR) are printed as the raw
/// decrypted bytes, as with -o raw.
///
/// The plaintext goes only to stdout or --output (created with mode 0600,
/// written atomically; never overwritten without --force), never to logs or
/// error messages.
///
/// Exit codes: 0 printed; 1 the value does not decrypt with the config's
/// keys (or does not decode); 2 unusable input: unreadable source or config,
/// key or revision not found, unreachable etcd.
///
/// Examples:
///   atrest extract /backup/snapshot.db --config enc.yaml \
///       --etcd-key /registry/secrets/prod/db-creds
///   atrest extract /backup/snapshot.db --config enc.yaml \
///       --etcd-key /registry/secrets/prod/db-creds --revision 1234 -o json --output db.json
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    #[command(flatten)]
    source: SourceArgs,
    /// The cluster's EncryptionConfiguration (its keys decrypt the value).
    #[arg(long)]
    config: PathBuf,
    #[command(flatten)]
    archive: KeyArchiveArgs,
    /// Read this older revision of the key (offline sources keep history until compaction).
    #[arg(long)]
    revision: Option<i64>,
    /// kube-apiserver's --etcd-prefix.
    #[arg(long, default_value = "/registry")]
    prefix: String,
    /// Output format.
    #[arg(short = 'o', long = "format", value_enum, default_value = "yaml")]
    format: OutputFormat,
    /// Write the object to this file (mode 0600) instead of stdout.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Replace --output if it exists.
    #[arg(long)]
    force: bool,
    /// Include metadata.managedFields (kubectl hides them by default).
    #[arg(long)]
    show_managed_fields: bool,
}

/// Usage errors and missing keys: exit 2.
fn find(args: &Args, key: &str, ui: &Ui) -> anyhow::Result<Record<'static>> {
    let mut source = args.source.open(ui)?;
    let has_history = source.info().has_history;
    let what = args.source.describe();
    let query = match (args.revision, has_history) {
        (Some(_), true) => Query::history(),
        _ => Query::current(),
    }
    .with_prefix(key.as_bytes().to_vec());
    let mut found: Option<Record<'static>> = None;
    let mut revisions = Vec::new();
    for r in source.records(&query)? {
        let r = r.with_context(|| format!("cannot read {what}"))?;
        if r.key != key.as_bytes() {
            continue;
        }
        match args.revision {
            Some(rev) if r.mod_revision != rev => {
                if !r.tombstone {
                    revisions.push(r.mod_revision);
                }
            }
            Some(_) if r.tombstone => bail!("{key} was deleted at revision {}", r.mod_revision),
            _ if r.tombstone => {}
            _ => found = Some(r.into_owned()),
        }
        if found.is_some() && args.revision.is_some() {
            break;
        }
    }
    match (found, args.revision) {
        (Some(r), _) => Ok(r),
        (None, None) => bail!("{key} not found in {what}"),
        (None, Some(rev)) if revisions.is_empty() => {
            bail!("{key} not found in {what} (looked for revision {rev})")
        }
        (None, Some(rev)) => bail!(
            "revision {rev} of {key} is not in {what}{}; revisions present: {}",
            if has_history {
                ""
            } else {
                " (this source has no history; live etcd: use --at-revision)"
            },
            revisions.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", ")
        ),
    }
}

pub fn run(args: Args, ui: &Ui) -> anyhow::Result<u8> {
    let key = args.source.etcd_key.clone().context(
        "--etcd-key is required: the object's etcd key, e.g. /registry/secrets/default/s1",
    )?;
    let mut config = load_config_for_reading(&args.config)?;
    args.archive.apply(&mut config)?;
    let object = KeyMapper::new(&args.prefix)
        .parse(key.as_bytes())
        .map_err(|e| anyhow!("{key} is not an API object's key under {}: {e}", args.prefix))?;
    let record = find(&args, &key, ui)?;
    ui.detail(format_args!(
        "found {key} at revision {} ({} bytes stored)",
        record.mod_revision,
        record.value.len()
    ));
    let chain = Chain::for_resource(&config, &object.group_resource).map_err(|e| {
        anyhow!("cannot use the config's providers for {}: {e}", object.group_resource)
    })?;
    let mut plausible =
        |o: &atrest::crypto::Opened| o.key.authenticates() || kube::is_plausible(&o.plaintext);
    let mut opened = match chain.open_checked(&record.value, key.as_bytes(), &mut plausible) {
        Ok(o) => {
            ui.detail(format_args!(
                "{key} ({}) read with {} from config {}",
                object.group_resource,
                o.key,
                args.config.display()
            ));
            o
        }
        Err(e) => {
            eprintln!(
                "atrest: {key} (revision {}) does not decrypt with {}: {e}",
                record.mod_revision,
                args.config.display()
            );
            return Ok(super::EXIT_FINDINGS);
        }
    };
    let opts = RenderOptions { show_managed_fields: args.show_managed_fields };
    let rendered = match args.format {
        OutputFormat::Raw => Ok(std::mem::take(&mut opened.plaintext)),
        f => match kube::extract(&opened.plaintext, opts) {
            Ok(Extracted::Decoded(mut v) | Extracted::Json(mut v)) => {
                let rendered = match f {
                    OutputFormat::Yaml => super::yaml::to_yaml(&v).into_bytes(),
                    _ => serde_json::to_vec_pretty(&v).map(|mut s| {
                        s.push(b'\n');
                        s
                    })?,
                };
                atrest::secret::wipe_json(&mut v);
                Ok(rendered)
            }
            Ok(Extracted::Raw(enc)) => {
                ui.note(format_args!(
                    "{key} is a {} object ({}) that atrest does not decode; \
                     printing the decrypted bytes as stored",
                    enc.name(),
                    match &enc {
                        kube::Encoding::Protobuf { api_version, kind } => {
                            format!("{api_version} {kind}")
                        }
                        _ => "no type".into(),
                    }
                ));
                Ok(std::mem::take(&mut opened.plaintext))
            }
            Err(e) => Err(format!("{key} decrypted, but does not decode: {e}; use -o raw")),
        },
    };
    atrest::secret::wipe(&mut opened.plaintext);
    let mut bytes = match rendered {
        Ok(b) => b,
        Err(msg) => {
            eprintln!("atrest: {msg}");
            return Ok(super::EXIT_FINDINGS);
        }
    };
    let written = match &args.output {
        Some(p) => write_output(p, &bytes, WriteOptions { mode: 0o600, overwrite: args.force })
            .map_err(anyhow::Error::from),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes).and_then(|_| out.flush()).context("cannot write to stdout")
        }
    };
    atrest::secret::wipe(&mut bytes);
    written?;
    if opened.stale {
        ui.note(format_args!(
            "{key} is stale (read with {}, not the config's first key)",
            describe_key(&opened.key)
        ));
    }
    if let Some(p) = &args.output {
        ui.detail(format_args!("wrote {} (mode 0600)", p.display()));
    }
    Ok(super::EXIT_OK)
}

fn describe_key(k: &atrest::crypto::KeyUsed) -> String {
    match k {
        atrest::crypto::KeyUsed::Local { name, .. } | atrest::crypto::KeyUsed::Kms { name, .. } => {
            format!("key {name:?}")
        }
        atrest::crypto::KeyUsed::Identity => "identity (plaintext)".into(),
    }
}
