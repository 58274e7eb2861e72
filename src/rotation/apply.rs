//! Writing a planned config safely: exclusive lock, backup, atomic replace.
//!
//! Order of a write, so that a crash at any instant leaves either the old or
//! the new file and, whenever the new one exists, a backup of the old:
//! 1. take an exclusive `flock` on `<file>.lock` (two runs cannot interleave;
//!    the caller re-reads and re-plans *inside* the lock);
//! 2. write the backup `<file>.<UTC timestamp>.bak` (mode 0600) the same
//!    way: temporary file, fsync, then linked into place;
//! 3. write a temporary file in the same directory (0600, fsync);
//! 4. rename it over the file, then fsync the directory.
//!
//! This module performs file I/O only; it knows nothing about YAML.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{Clock, RotationError, timestamp};

/// An exclusive lock on `<file>.lock`, released on drop.
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Blocks until the lock on `<target>.lock` is ours.
    pub fn acquire(target: &Path) -> Result<FileLock, RotationError> {
        let path = sibling(target, ".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| RotationError::io("cannot open lock file", &path, e))?;
        file.lock().map_err(|e| RotationError::io("cannot lock", &path, e))?;
        Ok(FileLock { file, path })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

fn sibling(target: &Path, suffix: &str) -> PathBuf {
    let mut name = target.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    target.with_file_name(name)
}

fn dir_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `<target>.<timestamp>.bak` (0600) holding `bytes`; never
/// overwrites. Written like every key file (`fsutil::write_atomic`: a
/// temporary file, fsync, then linked into place), so a failed or
/// interrupted backup leaves no half-written `.bak` that looks like a good one.
pub fn backup(target: &Path, bytes: &[u8], clock: &dyn Clock) -> Result<PathBuf, RotationError> {
    use crate::fsutil::{WriteError, WriteOptions, write_atomic};
    let stamp = timestamp(clock.now_unix());
    for n in 0..1000 {
        let suffix = if n == 0 { format!(".{stamp}.bak") } else { format!(".{stamp}-{n}.bak") };
        let path = sibling(target, &suffix);
        match write_atomic(&path, bytes, WriteOptions { mode: 0o600, overwrite: false }) {
            Ok(()) => return Ok(path),
            Err(WriteError::Exists(_)) => continue,
            Err(WriteError::Io { source, .. }) => {
                return Err(RotationError::io("cannot write backup", &path, source));
            }
            Err(e @ WriteError::NotAFile(_)) => return Err(RotationError::Usage(e.to_string())),
        }
    }
    Err(RotationError::Usage(format!("too many backups of {} in one second", target.display())))
}

/// Replaces `target` with `bytes` atomically (temp file in the same
/// directory, fsync, rename, fsync of the directory: [`crate::fsutil`]).
/// The new file has mode 0600.
pub fn write_atomically(target: &Path, bytes: &[u8]) -> Result<(), RotationError> {
    let opts = crate::fsutil::WriteOptions { mode: 0o600, overwrite: true };
    crate::fsutil::write_atomic(target, bytes, opts).map_err(|e| match e {
        crate::fsutil::WriteError::Io { source, .. } => {
            RotationError::io("cannot replace", target, source)
        }
        other => RotationError::Usage(other.to_string()),
    })
}

/// Removes temporary files left by a run that was killed (call under the
/// lock): those of the config (`.<file>.tmp-…`) and of its backups
/// (`.<file>.<timestamp>.bak.tmp-…`).
pub fn remove_stale_temporaries(target: &Path) {
    let Some(name) = target.file_name().and_then(|n| n.to_str()) else { return };
    // A backup is `<name>.<timestamp>.bak` (see `backup`).
    let ours = |t: &str| {
        t == name || t.strip_prefix(name).is_some_and(|r| r.starts_with('.') && r.ends_with(".bak"))
    };
    let stale = |n: &str| crate::fsutil::temporary_target(n).is_some_and(ours);
    if let Ok(rd) = fs::read_dir(dir_of(target)) {
        for e in rd.flatten() {
            if e.file_name().to_str().is_some_and(stale) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotation::FixedClock;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn stale_temporaries_of_the_config_and_its_backups_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("enc.yaml");
        let names = [
            ".enc.yaml.tmp-1-2-0",
            ".enc.yaml.20261129T102751Z.bak.tmp-1-2-0",
            ".enc.yaml.20261129T102751Z-1.bak.tmp-9-9-1",
            "enc.yaml.20261129T102751Z.bak",
            ".other.yaml.tmp-1-2-0",
            ".enc.yaml.lock",
        ];
        for n in names {
            fs::write(dir.path().join(n), b"x").unwrap();
        }
        remove_stale_temporaries(&f);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [".enc.yaml.lock", ".other.yaml.tmp-1-2-0", "enc.yaml.20261129T102751Z.bak"]
        );
    }

    #[test]
    fn backup_then_atomic_replace_keeps_0600() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("enc.yaml");
        fs::write(&f, b"old").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        let _lock = FileLock::acquire(&f).unwrap();
        let b1 = backup(&f, b"old", &FixedClock(0)).unwrap();
        let b2 = backup(&f, b"old", &FixedClock(0)).unwrap();
        assert_ne!(b1, b2);
        assert!(b1.to_string_lossy().ends_with("enc.yaml.19700101T000000Z.bak"));
        write_atomically(&f, b"new").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"new");
        assert_eq!(fs::read(&b1).unwrap(), b"old");
        for p in [&f, &b1] {
            assert_eq!(fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o600);
        }
        fs::write(dir.path().join(".enc.yaml.tmp-1-2-0"), b"x").unwrap();
        remove_stale_temporaries(&f);
        assert!(!dir.path().join(".enc.yaml.tmp-1-2-0").exists());
    }
}
