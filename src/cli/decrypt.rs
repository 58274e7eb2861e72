//! `atrest decrypt`: read a stored value as kube-apiserver would.

use std::path::PathBuf;

use anyhow::Context;
use atrest::crypto::{Chain, KeyUsed};

use super::encrypt::{read_input, resource_for_key, write_output};
use super::inspect::etcdctl_json;
use super::source::{KeyArchiveArgs, load_config_for_reading};
use super::ui::Ui;

/// Decrypt a value stored in etcd, with the keys of an EncryptionConfiguration.
///
/// Picks the providers exactly as kube-apiserver does (resource from the etcd
/// key; every provider and key whose prefix matches is tried, in order) and
/// writes the plaintext object. The etcd key is the authenticated data of
/// aesgcm and KMS, so it must be the key the value was stored under.
///
/// Input is the raw stored value, byte for byte (`etcdctl get KEY
/// --print-value-only` appends a newline: add --strip-newline, or better use
/// `etcdctl get KEY -w json`, whose output is also accepted as input and then
/// supplies the etcd key too).
///
/// With --verbose (global flag), stderr says which provider and key read the
/// value and whether it is stale (kube-apiserver rewrites stale values with
/// the first provider/key on the next update).
///
/// Exit codes: 0 decrypted; 1 nothing could decrypt it (wrong key, tampered
/// or truncated value, value moved from another etcd key, unknown prefix);
/// 2 unreadable input or config, or a bad etcd key.
///
/// Example:
///   etcdctl get /registry/secrets/default/s1 -w json > s1.json
///   atrest decrypt --config /etc/kubernetes/enc.yaml --input s1.json --verbose
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// EncryptionConfiguration file (apiserver.config.k8s.io/v1).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Full etcd key the value is stored under (required unless the input is
    /// `etcdctl get -w json` output).
    #[arg(long, value_name = "KEY")]
    etcd_key: Option<String>,
    /// kube-apiserver's --etcd-prefix (used to find the resource in the key).
    #[arg(long, value_name = "PREFIX", default_value = "/registry")]
    prefix: String,
    /// Stored value input file [default: stdin].
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Output file for the plaintext, written atomically with mode 0600
    /// [default: stdout].
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace --output if it exists.
    #[arg(long)]
    force: bool,
    /// Remove one trailing newline from the input (as `etcdctl get
    /// --print-value-only` adds). Off by default: values are binary.
    #[arg(long)]
    strip_newline: bool,
    #[command(flatten)]
    archive: KeyArchiveArgs,
}

pub fn run(args: Args, ui: &Ui) -> anyhow::Result<u8> {
    let mut cfg = load_config_for_reading(&args.config)?;
    args.archive.apply(&mut cfg)?;
    let raw = read_input(args.input.as_deref())?;
    let (etcd_key, mut value) = match etcdctl_json(&raw).map_err(anyhow::Error::msg)? {
        Some(kv) => {
            let key = match args.etcd_key.clone() {
                Some(k) => k,
                None => String::from_utf8(kv.key).map_err(|_| {
                    anyhow::anyhow!(
                        "the etcd key in the etcdctl output is not UTF-8, so no kube-apiserver \
                         wrote it; give it with --etcd-key if you must"
                    )
                })?,
            };
            (key, kv.value)
        }
        None => (
            args.etcd_key
                .clone()
                .context("--etcd-key is required (it is the authenticated data)")?,
            raw,
        ),
    };
    if args.strip_newline && value.last() == Some(&b'\n') {
        value.pop();
    }
    let gr = resource_for_key(&etcd_key, &args.prefix)?;
    ui.detail(format_args!(
        "config {}; {} bytes from {}; etcd key {etcd_key} ({gr})",
        args.config.display(),
        value.len(),
        args.input.as_ref().map_or("stdin".into(), |p| p.display().to_string())
    ));
    let chain = Chain::for_resource(&cfg, &gr)
        .with_context(|| format!("cannot build the providers for {gr}"))?;
    match chain.open(&value, etcd_key.as_bytes()) {
        Ok(mut opened) => {
            let written = write_output(args.output.as_deref(), &opened.plaintext, args.force);
            atrest::secret::wipe(&mut opened.plaintext);
            written?;
            ui.detail(format_args!("{etcd_key} ({gr}): {}", describe(&opened.key, opened.stale)));
            Ok(super::EXIT_OK)
        }
        Err(e) => {
            eprintln!(
                "atrest: {etcd_key} ({gr}) did not decrypt: {e} (wrong key, tampered or truncated value, or a value from another etcd key)"
            );
            Ok(super::EXIT_FINDINGS)
        }
    }
}

fn describe(key: &KeyUsed, stale: bool) -> String {
    let what = match key {
        KeyUsed::Identity => "plaintext (identity)".to_string(),
        k => format!("read by {k}"),
    };
    let state = if stale {
        "stale: not the first provider/key, kube-apiserver re-encrypts it on the next update"
    } else {
        "current: the first provider/key"
    };
    let caveat = match key {
        KeyUsed::Local { provider: "aescbc", .. } => {
            "; aescbc has no MAC, a wrong key with this name passes about 1 time in 256: check the plaintext"
        }
        _ => "",
    };
    format!("{what}, {state}{caveat}")
}
