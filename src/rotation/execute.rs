//! One step end to end: lock, read, plan, archive, back up, write, verify.
//!
//! The plan is made *inside* the lock from the bytes on disk at that moment,
//! so two concurrent runs are serialised and the second one sees the first
//! one's result (and usually becomes a no-op). Retired keys reach the key
//! archive before the config stops naming them; the backup exists before the
//! new config does.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::apply::{self, FileLock};
use super::archive::{self, ArchivedKey, KdfParams};
use super::plan::{self, Outcome, Request, Step};
use super::{Clock, Entropy, RotationError, doc, file_hash, timestamp};
use crate::secret::SecretBytes;

/// Where prune puts retired keys.
pub struct ArchiveTarget<'a> {
    /// The archive file (created 0600 if missing, else appended to).
    pub path: PathBuf,
    /// Seal with this passphrase (argon2id + XChaCha20-Poly1305).
    pub passphrase: Option<&'a SecretBytes>,
    /// KDF cost.
    pub params: KdfParams,
}

/// What a write did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Written {
    /// The backup of the previous file.
    pub backup: PathBuf,
    /// `sha256:` before.
    pub hash_before: String,
    /// `sha256:` after (distribute this exact file).
    pub hash_after: String,
    /// Keys added to the archive.
    pub archived: usize,
    /// The archive path, when keys were archived.
    pub archive: Option<PathBuf>,
}

/// The result of [`run_step`].
pub struct StepReport {
    /// The plan, no-op or refusal.
    pub outcome: Outcome,
    /// `sha256:` of the file as read.
    pub hash: String,
    /// Set when `write` was requested and something was written.
    pub written: Option<Written>,
}

fn read_doc(path: &Path) -> Result<(Zeroizing<Vec<u8>>, doc::ConfigDoc), RotationError> {
    let bytes =
        Zeroizing::new(std::fs::read(path).map_err(|e| RotationError::io("cannot read", path, e))?);
    let text = std::str::from_utf8(&bytes).map_err(|e| RotationError::Doc {
        path: path.display().to_string(),
        source: doc::DocError {
            path: "(file)".into(),
            line: 0,
            message: format!("not UTF-8: {e}"),
        },
    })?;
    let d = doc::parse(text)
        .map_err(|source| RotationError::Doc { path: path.display().to_string(), source })?;
    Ok((bytes, d))
}

/// Plans `step` on the config at `path` and, with `write`, applies it.
pub fn run_step(
    path: &Path,
    step: Step,
    req: &Request<'_>,
    write: bool,
    archive_to: Option<&ArchiveTarget<'_>>,
    clock: &dyn Clock,
    rng: &mut dyn Entropy,
) -> Result<StepReport, RotationError> {
    // Edit the real file behind a symlink, never replace the link itself.
    let real;
    let path = if write {
        real = std::fs::canonicalize(path)
            .map_err(|e| RotationError::io("cannot resolve", path, e))?;
        real.as_path()
    } else {
        path
    };
    let _lock = if write { Some(FileLock::acquire(path)?) } else { None };
    if write {
        apply::remove_stale_temporaries(path);
    }
    let (bytes, d) = read_doc(path)?;
    let hash = file_hash(&bytes);
    let outcome = plan::plan(&d, step, req, clock, rng)?;
    let Outcome::Change(p) = &outcome else {
        return Ok(StepReport { outcome, hash, written: None });
    };
    if !write {
        return Ok(StepReport { outcome, hash, written: None });
    }
    let mut archived = 0;
    let mut archive_path = None;
    if !p.retired.is_empty() {
        let Some(t) = archive_to else {
            return Err(RotationError::Usage(
                "prune retires keys: a key archive path is required".into(),
            ));
        };
        let keys: Vec<ArchivedKey> = p
            .retired
            .iter()
            .map(|k| ArchivedKey {
                provider: k.provider.clone(),
                name: k.name.clone(),
                secret: k.secret.duplicate(),
                retired_at: timestamp(clock.now_unix()),
                source: path.display().to_string(),
            })
            .collect();
        archived = archive::append_archive(&t.path, keys, t.passphrase, t.params, rng).map_err(
            |e| match e {
                archive::ArchiveError::Io(io) => io,
                other => RotationError::Usage(format!("key archive {}: {other}", t.path.display())),
            },
        )?;
        archive_path = Some(t.path.clone());
    }
    let backup = apply::backup(path, &bytes, clock)?;
    apply::write_atomically(path, p.new_text.as_bytes())?;
    let (after, _) = read_doc(path)?;
    if after.as_slice() != p.new_text.as_bytes() {
        return Err(RotationError::Invalid(format!(
            "{} changed while it was being written",
            path.display()
        )));
    }
    let written = Written {
        backup,
        hash_before: hash.clone(),
        hash_after: file_hash(&after),
        archived,
        archive: archive_path,
    };
    Ok(StepReport { outcome, hash, written: Some(written) })
}
