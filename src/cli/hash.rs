//! `atrest hash`: the config hash kube-apiserver reports.

use std::path::PathBuf;

use anyhow::{Context, Result};
use atrest::config::load::content_hash;

use super::EXIT_OK;
use super::ui::Ui;

/// Print sha256:<hex> of a file's bytes.
///
/// This is the value kube-apiserver exports as
/// apiserver_encryption_config_controller_last_config_info{hash="sha256:..."}
/// and compares when --encryption-provider-config-automatic-reload polls the
/// file, so operators can check that every control-plane node runs the same
/// config. The file is hashed as bytes; it is not parsed.
///
/// Output: the hash alone for one file; "HASH  FILE" lines for several.
/// Exit codes: 0 hashed; 2 a file could not be read.
///
/// Example: atrest hash /etc/kubernetes/enc/enc.yaml
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Files to hash.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(args: Args, ui: &Ui) -> Result<u8> {
    let many = args.files.len() > 1;
    for f in &args.files {
        let bytes = atrest::secret::read_key_file(f)
            .with_context(|| format!("cannot read {}", f.display()))?;
        ui.detail(format_args!("{}: {} bytes", f.display(), bytes.len()));
        if many {
            outln!("{}  {}", content_hash(&bytes), f.display())?;
        } else {
            outln!("{}", content_hash(&bytes))?;
        }
    }
    Ok(EXIT_OK)
}
