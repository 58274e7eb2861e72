//! `atrest encrypt`: the exact bytes kube-apiserver would store for a value.
//!
//! Also home of the helpers the crypto commands share (`encrypt`, `decrypt`):
//! loading the config, mapping an etcd key to its resource, and reading and
//! writing raw bytes.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use atrest::config::{EncryptionConfig, GroupResource};
use atrest::crypto::Chain;
use zeroize::Zeroizing;

use super::ui::Ui;

/// Encrypt a plaintext object value as kube-apiserver would store it in etcd.
///
/// Reads the plaintext (the object as kube-apiserver encodes it: protobuf
/// `k8s\0…`, JSON, …) and writes the stored value: the first provider and key
/// of the config entry that covers the resource, with the etcd key as
/// authenticated data (aesgcm, KMS). The resource comes from the etcd key
/// (`/registry/secrets/ns/n` → `secrets`, `/registry/deployments/ns/n` →
/// `deployments.apps`). A resource no entry covers stays plaintext, as in
/// kube-apiserver; a note on stderr says so.
///
/// Output is raw bytes (binary); nonces are random, so two runs differ.
///
/// Exit codes: 0 written; 2 unreadable input or config, bad etcd key, or the
/// provider could not encrypt (e.g. KMS plugin unavailable).
///
/// Example:
///   atrest encrypt --config /etc/kubernetes/enc.yaml \
///     --etcd-key /registry/secrets/default/s1 --input secret.pb --output stored.bin
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// EncryptionConfiguration file (apiserver.config.k8s.io/v1).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Full etcd key the value is stored under, e.g. /registry/secrets/default/s1.
    #[arg(long, value_name = "KEY")]
    etcd_key: String,
    /// kube-apiserver's --etcd-prefix (used to find the resource in the key).
    #[arg(long, value_name = "PREFIX", default_value = "/registry")]
    prefix: String,
    /// Plaintext input file [default: stdin].
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Output file for the stored value, written atomically with mode 0600
    /// [default: stdout].
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace --output if it exists.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args, ui: &Ui) -> anyhow::Result<u8> {
    let cfg = load_config(&args.config)?;
    let gr = resource_for_key(&args.etcd_key, &args.prefix)?;
    let chain = Chain::for_resource(&cfg, &gr)
        .with_context(|| format!("cannot build the providers for {gr}"))?;
    if !chain.is_covered() {
        ui.note(format_args!("{gr} is not covered by the config; the value stays plaintext"));
    }
    let plaintext = Zeroizing::new(read_input(args.input.as_deref())?);
    let stored = chain
        .seal(&plaintext, args.etcd_key.as_bytes())
        .with_context(|| format!("cannot encrypt for {gr}"))?;
    write_output(args.output.as_deref(), &stored, args.force)?;
    if ui.verbose() {
        let written_by = match atrest::format::prefix::parse(&stored) {
            atrest::format::prefix::StoredValue::Encrypted { kind, name, .. } => {
                format!("{}/{}", kind.as_str(), String::from_utf8_lossy(name))
            }
            _ => "identity (plaintext)".into(),
        };
        ui.detail(format_args!(
            "config {}; {} ({gr}): {} plaintext bytes stored as {} bytes by {written_by}",
            args.config.display(),
            args.etcd_key,
            plaintext.len(),
            stored.len()
        ));
    }
    Ok(super::EXIT_OK)
}

/// Loads and validates an EncryptionConfiguration exactly as kube-apiserver
/// would (the strict loader); the one place the crypto commands get a config.
pub(super) fn load_config(path: &Path) -> anyhow::Result<EncryptionConfig> {
    atrest::config::load_path(path).with_context(|| format!("cannot use config {}", path.display()))
}

/// The resource whose encryption transformer reads and writes `etcd_key`
/// (kube-apiserver's storage layout, `atrest::kube`).
pub(super) fn resource_for_key(etcd_key: &str, prefix: &str) -> anyhow::Result<GroupResource> {
    let object = atrest::kube::resource_for_key(etcd_key.as_bytes(), prefix)
        .map_err(|e| anyhow::anyhow!("{e} (see --prefix for a non-default --etcd-prefix)"))?;
    Ok(object.group_resource)
}

/// Reads a whole file, or stdin when `path` is `None` or `-`.
pub(super) fn read_input(path: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    match path {
        Some(p) if p != Path::new("-") => {
            buf = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?
        }
        _ => {
            std::io::stdin().read_to_end(&mut buf).context("cannot read stdin")?;
        }
    }
    Ok(buf)
}

/// Writes bytes to stdout when `path` is `None` or `-`, else to a file as
/// every file atrest writes that may hold plaintext or keys: atomically
/// (temporary file, fsync, rename) with mode 0600, and an existing file
/// (or symlink) only replaced with `force`; a device or pipe (`/dev/null`)
/// is written in place (`fsutil::write_output`).
pub(super) fn write_output(path: Option<&Path>, bytes: &[u8], force: bool) -> anyhow::Result<()> {
    match path {
        Some(p) if p != Path::new("-") => {
            let opts = atrest::fsutil::WriteOptions { mode: 0o600, overwrite: force };
            atrest::fsutil::write_output(p, bytes, opts).map_err(anyhow::Error::from)
        }
        _ => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|()| out.flush()).context("cannot write stdout")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_keys_map_to_resources() {
        let r = |k: &str| resource_for_key(k, "/registry").unwrap().to_string();
        assert_eq!(r("/registry/secrets/ns/n"), "secrets");
        assert_eq!(r("/registry/deployments/ns/n"), "deployments.apps");
        assert_eq!(r("/registry/services/specs/ns/n"), "services");
        assert_eq!(r("/registry/minions/node1"), "nodes");
        assert_eq!(r("/registry/ingress/ns/i"), "ingresses.networking.k8s.io");
        assert_eq!(r("/registry/cr.bar.com/foos/ns/x"), "foos.cr.bar.com");
        assert_eq!(r("/registry/namespaces/ns1"), "namespaces");
        assert_eq!(
            resource_for_key("/a/b/registry/secrets/n/s", "a/b/registry/").unwrap().to_string(),
            "secrets"
        );
        assert!(resource_for_key("/other/secrets/ns/n", "/registry").is_err());
        assert!(resource_for_key("/registry/secrets", "/registry").is_err());
    }
}
