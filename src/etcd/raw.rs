//! One raw value with its etcd key given separately, as a [`RecordSource`].
//!
//! This module owns the `etcdctl get KEY --print-value-only > FILE` case.
//! etcdctl prints the value followed by one `\n`. We do not guess: a value
//! may legitimately end with `\n` (ciphertext is random bytes), so exactly one
//! trailing `\n` is stripped only when the caller says the file came from
//! `--print-value-only` ([`OpenOptions::strip_newline`]); otherwise a value
//! ending in `\n` gets a warning in [`SourceInfo::warnings`]. Revisions are
//! unknown (0).

use std::path::{Path, PathBuf};

use super::{
    OpenOptions, Query, Record, RecordSource, Records, SourceError, SourceInfo, SourceKind, View,
};

/// Largest raw value read into memory (etcd's own request limit is 1.5 MiB
/// by default; kube objects are far below 64 MiB).
pub const MAX_RAW_VALUE: u64 = 64 << 20;

/// A raw value file.
pub struct RawValueSource {
    path: PathBuf,
    record: Record<'static>,
    info: SourceInfo,
}

impl RawValueSource {
    /// Reads the value file; needs [`OpenOptions::raw_key`].
    pub fn open(path: &Path, options: &OpenOptions) -> Result<RawValueSource, SourceError> {
        let key = options
            .raw_key
            .clone()
            .ok_or_else(|| SourceError::RawNeedsKey { path: path.to_path_buf() })?;
        let io = |source| SourceError::Io { path: path.to_path_buf(), source };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_RAW_VALUE {
            return Err(SourceError::Unsupported(format!(
                "{}: {len} bytes is larger than any etcd value ({MAX_RAW_VALUE} bytes max here)",
                path.display()
            )));
        }
        let mut value = std::fs::read(path).map_err(io)?;
        let mut info = SourceInfo::new(SourceKind::RawValue, path.display().to_string());
        if options.strip_newline {
            if value.last() == Some(&b'\n') {
                value.pop();
            } else {
                info.warnings.push(
                    "--print-value-only output should end with a newline; this one does not".into(),
                );
            }
        } else if value.last() == Some(&b'\n') {
            info.warnings.push(
                "the value ends with a newline; if it came from `etcdctl get --print-value-only`, strip it (--strip-newline)"
                    .into(),
            );
        }
        let record = Record {
            key: key.into(),
            value: value.into(),
            create_revision: 0,
            mod_revision: 0,
            version: 0,
            lease: 0,
            sub_revision: 0,
            tombstone: false,
        };
        Ok(RawValueSource { path: path.to_path_buf(), record, info })
    }
}

impl RecordSource for RawValueSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn records(&mut self, query: &Query) -> Result<Records<'_>, SourceError> {
        if query.view == View::History {
            return Err(SourceError::Unsupported(format!(
                "{}: a raw value has no history",
                self.path.display()
            )));
        }
        let r = self.record.clone();
        let keep = r.key.starts_with(&query.prefix);
        Ok(Box::new(keep.then_some(Ok(r)).into_iter()))
    }
}
