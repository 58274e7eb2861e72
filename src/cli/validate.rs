//! `atrest validate`: would kube-apiserver load these files?

use std::path::PathBuf;

use anyhow::Result;
use atrest::config::load::check_bytes;
use atrest::config::{Diagnostic, FeatureGates, KubeVersion, LoadOptions};
use serde_json::{Value, json};

use super::ui::Ui;
use super::{EXIT_FINDINGS, EXIT_INPUT, EXIT_OK};

/// Output format.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per problem: FILE:LINE: apiserver message.
    Text,
    /// `{"file","valid","errors":[{"path","line","message",...}]}`; a list for several files.
    Json,
}

/// Check EncryptionConfiguration files exactly as kube-apiserver loads them.
///
/// Every problem is reported (not just the first) with the apiserver's field
/// path (resources[0].providers[1].aescbc.keys[0].secret), the line, and the
/// apiserver's own message. Secrets are never printed (shown as "REDACTED").
/// Besides ValidateEncryptionConfiguration, the load-time checks are applied:
/// a resource after a wildcard of an earlier entry is "masked" (an error), and
/// KMS v1 providers are refused from Kubernetes 1.29 unless the KMSv1 gate is
/// on ("KMSv1 is deprecated ... Set --feature-gates=KMSv1=true").
///
/// Exit codes: 0 every file would load; 1 at least one would not; 2 a file
/// could not be read (or bad arguments).
///
/// Example: atrest validate /etc/kubernetes/enc/enc.yaml --kube-version 1.30
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Config files (YAML or JSON).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Kubernetes version of the kube-apiserver (decides version facts:
    /// wildcards need 1.27+, KMS v1 off by default from 1.29, KMS v2 from 1.27).
    #[arg(long, default_value = "1.36", value_name = "V")]
    pub kube_version: KubeVersion,
    /// kube-apiserver --feature-gates, e.g. KMSv1=true (repeatable or comma-separated).
    #[arg(long = "feature-gates", value_name = "GATES")]
    pub feature_gates: Vec<String>,
    /// The apiserver runs with --encryption-provider-config-automatic-reload
    /// (KMS v1 names must then be unique too).
    #[arg(long)]
    pub reload: bool,
}

/// Builds the load options from the shared flags.
pub fn load_options(
    kube_version: KubeVersion,
    gates: &[String],
    reload: bool,
) -> Result<LoadOptions> {
    let mut g = FeatureGates::default();
    for s in gates {
        g.merge(s)?;
    }
    Ok(LoadOptions { kube_version, gates: g, reload })
}

/// One diagnostic as JSON.
pub fn diagnostic_json(d: &Diagnostic) -> Value {
    json!({
        "path": d.path.as_str(),
        "line": d.line(),
        "column": d.pos.map(|p| p.column),
        "kind": d.kind.as_str(),
        "message": d.to_string(),
        "detail": d.message,
    })
}

pub fn run(args: Args, ui: &Ui) -> Result<u8> {
    let opts = load_options(args.kube_version, &args.feature_gates, args.reload)?;
    let mut code = EXIT_OK;
    let mut docs = Vec::new();
    for path in &args.files {
        let name = path.display().to_string();
        let bytes = match atrest::secret::read_key_file(path) {
            Ok(b) => b,
            Err(e) => {
                code = EXIT_INPUT;
                match args.format {
                    Format::Text => eprintln!("{name}: cannot read: {e}"),
                    Format::Json => docs.push(json!({
                        "file": name, "valid": false, "readable": false,
                        "errors": [{"path": "", "line": null, "message": format!("cannot read: {e}")}],
                    })),
                }
                continue;
            }
        };
        let checked = check_bytes(&name, &bytes, &opts);
        ui.detail(format_args!(
            "{name}: {} bytes ({}), checked as kube-apiserver {} loads it: {} problem(s)",
            bytes.len(),
            atrest::config::load::content_hash(&bytes),
            opts.kube_version,
            checked.diagnostics.len()
        ));
        let valid = checked.is_valid();
        if !valid && code == EXIT_OK {
            code = EXIT_FINDINGS;
        }
        match args.format {
            Format::Text => {
                if valid {
                    outln!("{name}: valid (kube-apiserver {} would load it)", opts.kube_version)?;
                } else {
                    outln!("{name}: invalid ({} problem(s))", checked.diagnostics.len())?;
                    for d in &checked.diagnostics {
                        match d.line() {
                            Some(l) => outln!("{name}:{l}: {d}")?,
                            None => outln!("{name}: {d}")?,
                        }
                    }
                }
            }
            Format::Json => docs.push(json!({
                "file": name,
                "valid": valid,
                "readable": true,
                "errors": checked.diagnostics.iter().map(diagnostic_json).collect::<Vec<_>>(),
            })),
        }
    }
    if args.format == Format::Json {
        let out = if docs.len() == 1 { docs.remove(0) } else { Value::Array(docs) };
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
    }
    Ok(code)
}
