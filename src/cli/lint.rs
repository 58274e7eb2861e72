//! `atrest lint`: security policy beyond validity.

use std::path::PathBuf;

use anyhow::Result;
use atrest::config::KubeVersion;
use atrest::config::lint::{self, Finding, Severity};
use atrest::config::lint_report;
use serde_json::Value;

use super::ui::Ui;
use super::{EXIT_FINDINGS, EXIT_INPUT, EXIT_OK};

/// Output format.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// FILE:LINE: severity[ID name] path: message, then the fix.
    Text,
    /// `{"file","findings":[{"rule_id","severity","path","line","message","fix","cis"}]}`; a list for several files.
    Json,
    /// SARIF 2.1.0 (GitHub code scanning, VS Code SARIF viewer, ...).
    Sarif,
}

/// Severity threshold.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Level {
    /// Fail on any finding.
    Info,
    /// Fail on warnings and errors.
    Warning,
    /// Fail on errors only.
    Error,
}

/// Lint EncryptionConfiguration files for security problems.
///
/// Checks what a valid file can still get wrong, each with a stable rule id:
///   CFG000 invalid-config        (error)   kube-apiserver would refuse the file
///   CFG001 identity-first        (error)   secrets written in plaintext
///   CFG002 secrets-not-covered   (error)   no entry covers secrets
///   CFG003 identity-still-present(warning) plaintext still accepted on read
///   CFG004 aescbc-weak           (warning) padding-oracle prone ("weak" per docs)
///   CFG005 aesgcm-rotation       (warning) rotate keys every 200,000 writes
///   CFG006 kms-v1-deprecated     (warning) KMS v1 off by default from 1.29
///   CFG007 kms-apiversion-missing(warning) omitted apiVersion means v1
///   CFG008 short-key             (warning) AES key < 32 bytes
///   CFG009 duplicate-key-name    (warning) two keys of a provider share a name
///   CFG010 reused-secret         (warning) same secret in several keys
///   CFG011 low-entropy-key       (error)   repeated byte, ASCII text, few distinct bytes
///   CFG012 sample-key            (error)   a key published in the Kubernetes docs
///   CFG013 file-mode             (error)   group/others can access the file
///   CFG014 file-owner            (warning) file not owned by root
///   CFG015 local-keys            (info)    keys live in the file (consider KMS v2)
/// JSON and SARIF carry the CIS Kubernetes Benchmark controls (1.2.27/1.2.28 in
/// v1.9-v1.12, 1.2.29/1.2.30 in v1.7/v1.24, 1.2.33/1.2.34 in v1.5/v1.6).
///
/// Exit codes: 0 no finding at or above --fail-on; 1 some; 2 unreadable file.
///
/// Example: atrest lint /etc/kubernetes/enc/enc.yaml --format sarif > enc.sarif
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Config files (YAML or JSON).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Lowest severity that makes the exit code 1.
    #[arg(long, value_enum, default_value = "error")]
    pub fail_on: Level,
    /// Kubernetes version of the kube-apiserver (for CFG000).
    #[arg(long, default_value = "1.36", value_name = "V")]
    pub kube_version: KubeVersion,
    /// kube-apiserver --feature-gates, e.g. KMSv1=true.
    #[arg(long = "feature-gates", value_name = "GATES")]
    pub feature_gates: Vec<String>,
}

fn render_text(file: &str, findings: &[Finding]) -> std::io::Result<()> {
    if findings.is_empty() {
        outln!("{file}: no findings")?;
        return Ok(());
    }
    for f in findings {
        let loc = match f.pos {
            Some(p) => format!("{file}:{}", p.line),
            None => file.to_string(),
        };
        let path = if f.path.as_str().is_empty() { String::new() } else { format!(" {}:", f.path) };
        outln!(
            "{loc}: {}[{} {}]{path} {}",
            f.severity.as_str(),
            f.rule.id,
            f.rule.name,
            f.message
        )?;
        outln!("    fix: {}", f.rule.fix)?;
    }
    Ok(())
}

pub fn run(args: Args, ui: &Ui) -> Result<u8> {
    let opts = super::validate::load_options(args.kube_version, &args.feature_gates, false)?;
    let level = match args.fail_on {
        Level::Info => Severity::Info,
        Level::Warning => Severity::Warning,
        Level::Error => Severity::Error,
    };
    let mut unreadable = false;
    let mut results: Vec<(String, Vec<Finding>)> = Vec::new();
    for path in &args.files {
        let name = path.display().to_string();
        match lint::lint_path(path, &opts) {
            Ok(findings) => {
                ui.detail(format_args!(
                    "{name}: linted as for kube-apiserver {}: {} finding(s)",
                    opts.kube_version,
                    findings.len()
                ));
                results.push((name, findings))
            }
            Err(e) => {
                eprintln!("{name}: cannot read: {e}");
                unreadable = true;
            }
        }
    }
    match args.format {
        Format::Text => {
            for (f, findings) in &results {
                render_text(f, findings)?;
            }
        }
        Format::Json => {
            let mut docs: Vec<Value> =
                results.iter().map(|(f, x)| lint_report::file_json(f, x)).collect();
            let out = if docs.len() == 1 { docs.remove(0) } else { Value::Array(docs) };
            outln!("{}", serde_json::to_string_pretty(&out)?)?;
        }
        Format::Sarif => {
            outln!("{}", serde_json::to_string_pretty(&lint_report::sarif(&results))?)?;
        }
    }
    if unreadable {
        return Ok(EXIT_INPUT);
    }
    let failed = results.iter().any(|(_, f)| lint::fails(f, level));
    Ok(if failed { EXIT_FINDINGS } else { EXIT_OK })
}
