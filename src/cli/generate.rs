//! `atrest generate`: a new EncryptionConfiguration with fresh keys.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use atrest::config::generate::{Date, GenProvider, GenerateOptions, generate, os_random};
use atrest::config::load::content_hash;
use atrest::fsutil::{WriteOptions, write_output};

use super::EXIT_OK;
use super::ui::Ui;

/// A provider name on the command line.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProviderArg {
    /// AES-GCM, 32-byte key (rotate every 200,000 writes).
    Aesgcm,
    /// AES-CBC, 32-byte key ("weak" per the docs; for compatibility).
    Aescbc,
    /// XSalsa20-Poly1305, 32-byte key (the default).
    Secretbox,
    /// KMS v2 plugin (needs --kms-endpoint).
    Kms,
    /// No encryption (only for migration or decryption).
    Identity,
}

impl From<ProviderArg> for GenProvider {
    fn from(p: ProviderArg) -> Self {
        match p {
            ProviderArg::Aesgcm => GenProvider::AesGcm,
            ProviderArg::Aescbc => GenProvider::AesCbc,
            ProviderArg::Secretbox => GenProvider::Secretbox,
            ProviderArg::Kms => GenProvider::Kms,
            ProviderArg::Identity => GenProvider::Identity,
        }
    }
}

/// Generate an EncryptionConfiguration with fresh random keys.
///
/// Default: one entry for secrets with secretbox and one fresh 32-byte key
/// named key-YYYYMMDD (today, UTC). Why secretbox: the Kubernetes docs rate it
/// "strong"; aesgcm must be rotated every 200,000 writes; aescbc is "weak"
/// (padding oracle); kms v2 is recommended but needs a running KMS plugin,
/// so choose it with --provider kms --kms-endpoint when you have one. The CIS
/// Benchmark accepts aescbc, kms and secretbox.
///
/// Repeat --provider to list several (the first encrypts writes, the rest only
/// decrypt). Keys come from the operating system's RNG. kms stanzas always
/// carry apiVersion: v2 (an omitted apiVersion would mean the deprecated v1).
/// The result is checked with the same rules as `atrest validate`.
///
/// Output: YAML on stdout, or with -o an atomically written file (temporary
/// file in the same directory, mode 0600 from creation, fsync, rename, fsync of
/// the directory) that is never overwritten without --force; its sha256 is
/// printed. Exit codes: 0 written; 2 bad options or the file cannot be written.
///
/// Example: atrest generate -o /etc/kubernetes/enc/enc.yaml --identity-fallback
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Provider(s), in order; the first encrypts new writes.
    #[arg(long = "provider", value_enum, value_name = "PROVIDER")]
    pub providers: Vec<ProviderArg>,
    /// Resources to encrypt, comma-separated (e.g. secrets,configmaps or '*.').
    #[arg(long, value_delimiter = ',', default_value = "secrets")]
    pub resources: Vec<String>,
    /// Key name (default: key-YYYYMMDD, today in UTC).
    #[arg(long)]
    pub key_name: Option<String>,
    /// KMS provider name (with --provider kms).
    #[arg(long, default_value = "kms")]
    pub kms_name: String,
    /// KMS v2 plugin socket, unix:///path.sock (with --provider kms).
    #[arg(long, value_name = "unix:///PATH")]
    pub kms_endpoint: Option<String>,
    /// Append identity: {} last so data written before encryption stays readable.
    #[arg(long)]
    pub identity_fallback: bool,
    /// Write to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<u8> {
    let mut opts = GenerateOptions::new(Date::today());
    opts.providers = args.providers.iter().map(|p| (*p).into()).collect();
    opts.resources =
        args.resources.iter().map(|r| r.trim().to_string()).filter(|r| !r.is_empty()).collect();
    opts.key_name = args.key_name;
    opts.kms_name = args.kms_name;
    opts.kms_endpoint = args.kms_endpoint;
    opts.identity_fallback = args.identity_fallback;
    let text = generate(&opts, &mut os_random)?;
    ui.detail(format_args!(
        "generated {} provider(s) for {} with fresh keys from the OS RNG, checked as `atrest validate` does",
        opts.providers.len().max(1),
        opts.resources.join(",")
    ));
    match &args.output {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.expose())?;
            out.flush()?;
        }
        Some(path) => {
            write_output(path, text.expose(), WriteOptions { mode: 0o600, overwrite: args.force })?;
            outln!("wrote {} (mode 0600, {})", path.display(), content_hash(text.expose()))?;
        }
    }
    Ok(EXIT_OK)
}
