//! Crash-safe file writes for files that hold keys.
//!
//! Owns one operation: write a whole file atomically — a temporary file in
//! the same directory, created with mode 0600 from the start (never briefly
//! world-readable), written, `fsync`ed, then renamed (or hard-linked, when
//! overwriting is not allowed, so an existing file is never clobbered even in
//! a race), followed by an `fsync` of the directory. Readers see the old file
//! or the new one, never a torn one. Used by `generate`, rotation (configs,
//! backups, archives) and every `--output` that may hold plaintext or keys
//! (`decrypt`, `extract`, `encrypt`), where [`write_output`] also lets a
//! device or pipe (`/dev/null`, `/dev/stdout`) be written in place.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Why an atomic write failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The target exists and overwriting was not requested.
    #[error("{} already exists (use --force to replace it)", .0.display())]
    Exists(PathBuf),
    /// The target is a device, pipe, socket or directory: not a file an
    /// atomic replace may swap out (it would replace `/dev/null` itself).
    #[error("{} is not a regular file; refusing to replace it", .0.display())]
    NotAFile(PathBuf),
    /// An I/O step failed.
    #[error("cannot write {}: {step}: {source}", path.display())]
    Io {
        /// The target file.
        path: PathBuf,
        /// Which step failed (create temp file, write, fsync, rename, ...).
        step: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// How to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// Permission bits of the new file (Unix); 0o600 for key files.
    pub mode: u32,
    /// Replace an existing file.
    pub overwrite: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self { mode: 0o600, overwrite: false }
    }
}

/// Writes `bytes` to `path` atomically (see the module docs).
pub fn write_atomic(path: &Path, bytes: &[u8], opts: WriteOptions) -> Result<(), WriteError> {
    let err = |step: &'static str| {
        move |source: io::Error| WriteError::Io { path: path.to_path_buf(), step, source }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path.file_name().ok_or_else(|| {
        err("file name")(io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))
    })?;
    match fs::symlink_metadata(path) {
        Ok(_) if !opts.overwrite => return Err(WriteError::Exists(path.to_path_buf())),
        // A symlink is replaced itself (its target is never written).
        Ok(m) if !m.is_file() && !m.file_type().is_symlink() => {
            return Err(WriteError::NotAFile(path.to_path_buf()));
        }
        _ => {}
    }
    let (tmp_path, mut tmp) = create_temp(&dir, &file_name.to_string_lossy(), opts.mode)
        .map_err(err("create temporary file"))?;
    let result = (|| {
        tmp.write_all(bytes).map_err(err("write"))?;
        tmp.sync_all().map_err(err("fsync"))?;
        drop(tmp);
        if opts.overwrite {
            fs::rename(&tmp_path, path).map_err(err("rename"))?;
        } else {
            match fs::hard_link(&tmp_path, path) {
                Ok(()) => {
                    let _ = fs::remove_file(&tmp_path);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(WriteError::Exists(path.to_path_buf()));
                }
                Err(e) => return Err(err("link into place")(e)),
            }
        }
        sync_dir(&dir).map_err(err("fsync directory"))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp_path);
    }
    result
}

/// Writes a file the user named for output: a character device or a FIFO
/// (`/dev/null`, `/dev/stdout`, a pipe from `>(…)`) is written in place, as
/// a shell redirect would; anything else goes through [`write_atomic`].
pub fn write_output(path: &Path, bytes: &[u8], opts: WriteOptions) -> Result<(), WriteError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let special = fs::metadata(path)
            .is_ok_and(|m| m.file_type().is_char_device() || m.file_type().is_fifo());
        if special {
            let io = |step| move |source| WriteError::Io { path: path.to_path_buf(), step, source };
            let mut f = OpenOptions::new().write(true).open(path).map_err(io("open"))?;
            return f.write_all(bytes).and_then(|()| f.flush()).map_err(io("write"));
        }
    }
    write_atomic(path, bytes, opts)
}

/// What marks [`write_atomic`]'s temporaries: `.<target>.tmp-<pid>-<nanos>-<n>`.
const TEMP_MARK: &str = ".tmp-";

/// The file name a temporary of [`write_atomic`] was made for (`enc.yaml`
/// for `.enc.yaml.tmp-12-34-0`), or `None` for a name that is not one. A
/// caller holding the target's lock uses it to clear what a killed run left.
pub fn temporary_target(file_name: &str) -> Option<&str> {
    file_name.strip_prefix('.')?.split_once(TEMP_MARK).map(|(target, _)| target)
}

fn create_temp(dir: &Path, name: &str, mode: u32) -> io::Result<(PathBuf, File)> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    for attempt in 0..100u32 {
        let candidate =
            dir.join(format!(".{name}{TEMP_MARK}{}-{nanos}-{attempt}", std::process::id()));
        let mut o = OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        match o.open(&candidate) {
            Ok(f) => {
                // The umask may have removed bits but never adds any; make the
                // mode exact.
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    f.set_permissions(fs::Permissions::from_mode(mode))?;
                }
                return Ok((candidate, f));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary file name"))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_0600_and_never_clobbers_without_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("enc.yaml");
        write_atomic(&p, b"one", WriteOptions::default()).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(matches!(
            write_atomic(&p, b"two", WriteOptions::default()),
            Err(WriteError::Exists(_))
        ));
        assert_eq!(fs::read(&p).unwrap(), b"one");
        write_atomic(&p, b"two", WriteOptions { overwrite: true, ..Default::default() }).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let leftovers: Vec<_> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_pipes_are_written_in_place_never_replaced() {
        // /dev/null takes the bytes in place, with or without overwrite.
        let null = Path::new("/dev/null");
        write_output(null, b"x", WriteOptions::default()).unwrap();
        write_output(null, b"x", WriteOptions { overwrite: true, ..Default::default() }).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_char_device(
            &fs::metadata(null).unwrap().file_type()
        ));
        // An atomic replace refuses a FIFO even with overwrite; it stays a FIFO.
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let opts = WriteOptions { overwrite: true, ..Default::default() };
        assert!(matches!(write_atomic(&fifo, b"x", opts), Err(WriteError::NotAFile(_))));
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "no temporary left behind");
    }

    #[test]
    fn a_temporary_names_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _file) =
            create_temp(dir.path(), "enc.yaml.20261129T102751Z.bak", 0o600).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(temporary_target(name), Some("enc.yaml.20261129T102751Z.bak"));
        assert_eq!(temporary_target("enc.yaml"), None);
        assert_eq!(temporary_target(".enc.yaml.lock"), None);
    }

    #[test]
    fn missing_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("no/such/dir/enc.yaml");
        assert!(matches!(
            write_atomic(&p, b"x", WriteOptions::default()),
            Err(WriteError::Io { .. })
        ));
    }
}
