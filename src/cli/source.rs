//! Source flags shared by `scan`, `extract` and `records`: a file (snapshot,
//! data file, `etcdctl -w json` dump, raw value) or a live etcd, with
//! etcdctl's flag names and environment variables.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;

use atrest::etcd::live::{LiveOptions, LiveSource};
use atrest::etcd::{ForceKind, OpenOptions, RecordSource, open_source};
use atrest::secret::SecretBytes;

use super::ui::Ui;

/// How to read SOURCE.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceType {
    /// Sniff the first bytes: bbolt magic, `{`, anything else.
    Auto,
    /// `etcdctl snapshot save` output or a member's `member/snap/db`.
    Snapshot,
    /// `etcdctl get --prefix ... -w json` output (one or more documents).
    Json,
    /// One raw value (needs --etcd-key).
    Raw,
}

/// Where the records come from.
#[derive(clap::Args)]
pub struct SourceArgs {
    /// Snapshot (`etcdctl snapshot save`), member data file (`member/snap/db`),
    /// `etcdctl get -w json` dump, or raw value file. Omit it to read a live
    /// etcd (--endpoints).
    pub source: Option<PathBuf>,
    /// Read SOURCE as this type instead of sniffing it.
    #[arg(long, value_enum, default_value = "auto")]
    pub source_type: SourceType,
    /// The etcd key of a raw value file, or the object to extract (e.g.
    /// /registry/secrets/default/s1).
    #[arg(long, value_name = "ETCD_KEY")]
    pub etcd_key: Option<String>,
    /// The raw value came from `etcdctl get --print-value-only`: strip the newline it adds.
    #[arg(long)]
    pub strip_newline: bool,
    /// Do not hash a snapshot to verify its SHA-256 trailer. The hash is one serial pass
    /// over the whole file (about 0.75 s per GiB with SHA-NI), which bounds how fast a
    /// large snapshot can be read; skip it for a file already checked when it was copied.
    #[arg(long)]
    pub skip_trailer_check: bool,
    /// Read a snapshot whose SHA-256 trailer does not match (reported as a warning).
    #[arg(long)]
    pub allow_trailer_mismatch: bool,
    #[command(flatten)]
    pub live: LiveArgs,
}

/// Flags for a live etcd, named as etcdctl names them.
#[derive(clap::Args)]
pub struct LiveArgs {
    /// Live etcd: comma-separated endpoints.
    #[arg(
        long,
        env = "ETCDCTL_ENDPOINTS",
        value_delimiter = ',',
        default_value = "127.0.0.1:2379"
    )]
    pub endpoints: Vec<String>,
    /// Live etcd: CA certificate (PEM), e.g. /etc/kubernetes/pki/etcd/ca.crt.
    #[arg(long, env = "ETCDCTL_CACERT")]
    pub cacert: Option<PathBuf>,
    /// Live etcd: client certificate (PEM), e.g. /etc/kubernetes/pki/apiserver-etcd-client.crt.
    #[arg(long, env = "ETCDCTL_CERT")]
    pub cert: Option<PathBuf>,
    /// Live etcd: client key (PEM; RSA or EC).
    #[arg(long, env = "ETCDCTL_KEY")]
    pub key: Option<PathBuf>,
    /// Live etcd: user name (or user:password).
    #[arg(long, env = "ETCDCTL_USER")]
    pub user: Option<String>,
    /// Live etcd: password.
    #[arg(long, env = "ETCDCTL_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Live etcd: read at this revision (1 or more) instead of the current one.
    #[arg(long = "at-revision", value_name = "REVISION",
          value_parser = clap::value_parser!(i64).range(1..))]
    pub at_revision: Option<i64>,
    /// Live etcd: per-request timeout in seconds (1 to 86400).
    #[arg(long, default_value_t = 10, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// Live etcd: aim for range responses of this size (bytes, or with a
    /// KiB/MiB/GiB suffix). Fewer, larger pages are faster (etcd 3.4 walks
    /// the rest of the range on every request); memory holds about four
    /// pages (one read, one queued, one arriving and its raw bytes).
    #[arg(long, default_value = "16MiB", value_parser = parse_bytes, value_name = "SIZE")]
    pub page_bytes: u64,
}

/// `1048576`, `64KiB`, `16MiB`, `1GiB` (also `K`, `M`, `G`, binary) as bytes; at least 1.
fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a size like 16MiB"))?;
    let mul: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        other => return Err(format!("unknown unit `{other}` (use KiB, MiB or GiB)")),
    };
    match n.checked_mul(mul) {
        Some(0) => Err("the page size must be at least 1 byte".into()),
        Some(v) => Ok(v),
        None => Err(format!("`{s}` is too large")),
    }
}

impl SourceArgs {
    /// A short description of the source for messages.
    pub fn describe(&self) -> String {
        match &self.source {
            Some(p) => p.display().to_string(),
            None => format!("etcd at {}", self.live.endpoints.join(",")),
        }
    }

    /// Opens the source; with --verbose says what was opened, and prints
    /// the source's warnings (always).
    pub fn open(&self, ui: &Ui) -> anyhow::Result<Box<dyn RecordSource>> {
        self.open_with(ui, false)
    }

    /// [`Self::open`] for a caller that reads every record and calls
    /// [`RecordSource::finish`] before it trusts them (a scan): a snapshot's
    /// trailer is hashed alongside the reading instead of before it.
    pub fn open_to_read_all(&self, ui: &Ui) -> anyhow::Result<Box<dyn RecordSource>> {
        self.open_with(ui, true)
    }

    fn open_with(
        &self,
        ui: &Ui,
        check_trailer_while_reading: bool,
    ) -> anyhow::Result<Box<dyn RecordSource>> {
        let started = std::time::Instant::now();
        let source = self.open_inner(check_trailer_while_reading)?;
        let info = source.info();
        ui.detail(format_args!(
            "opened {} in {}: {:?}, revision {}, compact revision {}, trailer {:?}, history {}",
            info.origin,
            super::ui::secs(started.elapsed()),
            info.kind,
            info.revision.map_or("-".into(), |r| r.to_string()),
            info.compact_revision.map_or("-".into(), |r| r.to_string()),
            info.trailer,
            if info.has_history { "kept" } else { "not available" },
        ));
        for w in &info.warnings {
            ui.warn(format_args!("{w}"));
        }
        Ok(source)
    }

    fn open_inner(
        &self,
        check_trailer_while_reading: bool,
    ) -> anyhow::Result<Box<dyn RecordSource>> {
        match &self.source {
            Some(path) => {
                let options = OpenOptions {
                    force: match self.source_type {
                        SourceType::Auto => None,
                        SourceType::Snapshot => Some(ForceKind::Bbolt),
                        SourceType::Json => Some(ForceKind::Json),
                        SourceType::Raw => Some(ForceKind::Raw),
                    },
                    skip_trailer_check: self.skip_trailer_check,
                    allow_trailer_mismatch: self.allow_trailer_mismatch,
                    check_trailer_while_reading,
                    raw_key: self.etcd_key.as_ref().map(|k| k.as_bytes().to_vec()),
                    strip_newline: self.strip_newline,
                };
                open_source(path, &options)
                    .with_context(|| format!("cannot read {}", path.display()))
            }
            None => {
                let live = &self.live;
                let options = LiveOptions {
                    endpoints: live.endpoints.clone(),
                    cacert: live.cacert.clone(),
                    cert: live.cert.clone(),
                    key: live.key.clone(),
                    user: live.user.clone(),
                    password: live.password.clone(),
                    revision: live.at_revision,
                    request_timeout: Duration::from_secs(live.timeout),
                    page_bytes: live.page_bytes,
                    ..LiveOptions::default()
                };
                Ok(Box::new(LiveSource::connect(options)?))
            }
        }
    }
}

/// Loads a config for reading data: every provider it names must be usable,
/// so the KMSv1 gate counts as on (a cluster that still has kms v1 data
/// needs it to read that data).
pub fn load_config_for_reading(
    path: &std::path::Path,
) -> anyhow::Result<atrest::config::EncryptionConfig> {
    load_config_for_reading_hashed(path).map(|(config, _)| config)
}

/// [`load_config_for_reading`], and the `sha256:` hash of the bytes it
/// loaded (the file is read once).
pub fn load_config_for_reading_hashed(
    path: &std::path::Path,
) -> anyhow::Result<(atrest::config::EncryptionConfig, String)> {
    let mut opts = atrest::config::version::LoadOptions::default();
    opts.gates.kms_v1 = Some(true);
    atrest::config::load::load_path_hashed(path, &opts).map_err(|e| {
        anyhow::anyhow!("{e}\nhint: run `atrest validate {}` for details", path.display())
    })
}

/// Retired keys for reading old backups.
#[derive(clap::Args)]
pub struct KeyArchiveArgs {
    /// Also read with the retired keys in this archive (written by `atrest rotate prune`).
    #[arg(long)]
    pub key_archive: Option<PathBuf>,
    /// The archive's passphrase is the first line of this file (else ATREST_ARCHIVE_PASSPHRASE).
    #[arg(long, requires = "key_archive")]
    pub passphrase_file: Option<PathBuf>,
}

impl KeyArchiveArgs {
    /// Adds the archive's keys to `cfg` as trailing read-only providers.
    pub fn apply(&self, cfg: &mut atrest::config::EncryptionConfig) -> anyhow::Result<()> {
        let Some(path) = &self.key_archive else { return Ok(()) };
        let pass = passphrase(self.passphrase_file.as_deref())?;
        let keys = atrest::rotation::archive::read_archive(path, pass.as_ref())
            .with_context(|| format!("cannot use the key archive {}", path.display()))?;
        atrest::rotation::archive::extend_config(cfg, &keys)?;
        Ok(())
    }
}

/// The archive passphrase: the first line of `file`, else `ATREST_ARCHIVE_PASSPHRASE`.
/// Never a command-line value (it would show in `ps` and shell history).
pub fn passphrase(file: Option<&std::path::Path>) -> anyhow::Result<Option<SecretBytes>> {
    if let Some(f) = file {
        let raw = zeroize::Zeroizing::new(
            std::fs::read(f).with_context(|| format!("cannot read {}", f.display()))?,
        );
        let line = raw.split(|b| *b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            anyhow::bail!("the passphrase file {} is empty", f.display());
        }
        return Ok(Some(SecretBytes::from_slice(line)));
    }
    match std::env::var_os("ATREST_ARCHIVE_PASSPHRASE") {
        Some(v) if !v.is_empty() => Ok(Some(SecretBytes::new(v.into_encoded_bytes()))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn page_bytes_parse() {
        assert_eq!(parse_bytes("16MiB"), Ok(16 << 20));
        assert_eq!(parse_bytes("512k"), Ok(512 << 10));
        assert_eq!(parse_bytes("1 GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("16MB").unwrap_err().contains("unknown unit"));
        assert!(parse_bytes("MiB").is_err());
        assert!(parse_bytes("99999999999999GiB").unwrap_err().contains("too large"));
    }
}
