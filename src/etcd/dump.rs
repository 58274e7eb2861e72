//! `etcdctl get --prefix ... -w json` output as a [`RecordSource`].
//!
//! This module owns the JSON layout etcdctl 3.x prints for a range response:
//! `{"header":{"cluster_id":…,"member_id":…,"revision":…,"raft_term":…},
//! "kvs":[{"key":"<base64>","create_revision":…,"mod_revision":…,
//! "version":…,"value":"<base64>","lease":…}],"count":…}`, with zero fields
//! omitted. Header ids are unsigned 64-bit (often above 2^53) and are parsed
//! as `u64`. Several documents may be concatenated (one per prefix); they are
//! read one at a time, so memory is bounded by the largest document.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

use super::{Query, Record, RecordSource, Records, SourceError, SourceInfo, SourceKind, View};

/// The header of a range response.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct DumpHeader {
    /// Cluster id.
    pub cluster_id: u64,
    /// Member id.
    pub member_id: u64,
    /// Store revision when the range was served.
    pub revision: i64,
    /// Raft term.
    pub raft_term: u64,
}

/// One key/value of a dump, key and value still base64.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct DumpKv {
    /// Base64 key.
    pub key: String,
    /// Creation revision.
    pub create_revision: i64,
    /// Modification revision.
    pub mod_revision: i64,
    /// Version.
    pub version: i64,
    /// Base64 value.
    pub value: String,
    /// Lease id.
    pub lease: i64,
}

/// One `etcdctl get -w json` document.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct DumpDoc {
    /// Response header.
    pub header: DumpHeader,
    /// Key/values.
    pub kvs: Vec<DumpKv>,
    /// Number of keys in the range.
    pub count: i64,
    /// True when the range was cut by a limit.
    pub more: bool,
}

impl DumpKv {
    /// Decodes the base64 fields into a [`Record`].
    pub fn to_record(&self) -> Result<Record<'static>, String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = b64
            .decode(&self.key)
            .map_err(|e| format!("kvs key {:?}: bad base64: {e}", self.key))?;
        let value = b64.decode(&self.value).map_err(|e| {
            format!("value of key {:?}: bad base64: {e}", String::from_utf8_lossy(&key))
        })?;
        Ok(Record {
            key: key.into(),
            value: value.into(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
            lease: self.lease,
            sub_revision: 0,
            tombstone: false,
        })
    }
}

/// Parses every document of a dump held in memory, through the same
/// stream as [`JsonDumpSource`] reads a file with (the fuzz target's entry
/// point; errors name the path `<memory>`).
pub fn parse_documents(data: &[u8]) -> Result<Vec<Record<'static>>, SourceError> {
    records_of(data, PathBuf::from("<memory>"), Vec::new()).collect()
}

/// The records under `prefix` of every document `reader` holds, one
/// document in memory at a time. A document that does not parse ends the
/// stream with its error (the rest of a JSON stream is unusable after a
/// syntax error); a key or value that is not base64 is an error item and
/// the stream goes on.
fn records_of<'a, R: std::io::Read + Send + 'a>(
    reader: R,
    path: PathBuf,
    prefix: Vec<u8>,
) -> impl Iterator<Item = Result<Record<'static>, SourceError>> + Send + 'a {
    let docs = serde_json::Deserializer::from_reader(reader).into_iter::<DumpDoc>();
    let mut failed = false;
    docs.enumerate()
        .map_while(move |(i, d)| {
            if failed {
                return None;
            }
            Some(match d {
                Ok(doc) => {
                    let path = path.clone();
                    let prefix = prefix.clone();
                    let it: Records<'static> =
                        Box::new(doc.kvs.into_iter().filter_map(move |kv| match kv.to_record() {
                            Ok(r) if r.key.starts_with(&prefix) => Some(Ok(r)),
                            Ok(_) => None,
                            Err(detail) => Some(Err(SourceError::Dump {
                                path: path.clone(),
                                document: i,
                                detail,
                            })),
                        }));
                    it
                }
                Err(e) => {
                    failed = true;
                    let err = SourceError::Dump {
                        path: path.clone(),
                        document: i,
                        detail: e.to_string(),
                    };
                    Box::new(std::iter::once(Err(err)))
                }
            })
        })
        .flatten()
}

/// A JSON dump file.
pub struct JsonDumpSource {
    path: PathBuf,
    info: SourceInfo,
}

fn open_reader(path: &Path) -> Result<BufReader<std::fs::File>, SourceError> {
    std::fs::File::open(path)
        .map(|f| BufReader::with_capacity(1 << 16, f))
        .map_err(|source| SourceError::Io { path: path.to_path_buf(), source })
}

impl JsonDumpSource {
    /// Opens a dump and reads its first document's header.
    pub fn open(path: &Path) -> Result<JsonDumpSource, SourceError> {
        let mut docs =
            serde_json::Deserializer::from_reader(open_reader(path)?).into_iter::<DumpDoc>();
        let first = match docs.next() {
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                return Err(SourceError::Dump {
                    path: path.to_path_buf(),
                    document: 0,
                    detail: e.to_string(),
                });
            }
            None => {
                return Err(SourceError::Dump {
                    path: path.to_path_buf(),
                    document: 0,
                    detail: "no JSON document".into(),
                });
            }
        };
        let mut info = SourceInfo::new(SourceKind::JsonDump, path.display().to_string());
        info.revision = Some(first.header.revision);
        info.cluster_id = Some(first.header.cluster_id);
        info.member_id = Some(first.header.member_id);
        if first.more {
            info.warnings
                .push("the dump was cut by --limit (\"more\": true): keys are missing".into());
        }
        Ok(JsonDumpSource { path: path.to_path_buf(), info })
    }
}

impl RecordSource for JsonDumpSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn records(&mut self, query: &Query) -> Result<Records<'_>, SourceError> {
        if query.view == View::History {
            return Err(SourceError::Unsupported(format!(
                "{}: an etcdctl JSON dump holds only current values; history needs a snapshot or data file",
                self.path.display()
            )));
        }
        let reader = open_reader(&self.path)?;
        Ok(super::owned_records(records_of(reader, self.path.clone(), query.prefix.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_concatenated_documents_with_big_ids() {
        let doc = r#"{"header":{"cluster_id":14841639068965178418,"member_id":10276657743932975437,"revision":7,"raft_term":2},"kvs":[{"key":"L2E=","create_revision":2,"mod_revision":5,"version":3,"value":"AAEC","lease":7587}],"count":1}
{"header":{"cluster_id":14841639068965178418,"member_id":1,"revision":7},"kvs":[{"key":"L2I=","create_revision":3,"mod_revision":3,"version":1}],"count":1}"#;
        let recs = parse_documents(doc.as_bytes()).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].key[..], *b"/a");
        assert_eq!(recs[0].value[..], [0, 1, 2]);
        assert_eq!((recs[0].mod_revision, recs[0].lease), (5, 7587));
        assert_eq!(recs[1].value[..], *b"");
        let d: DumpDoc = serde_json::from_str(doc.lines().next().unwrap()).unwrap();
        assert_eq!(d.header.cluster_id, 14841639068965178418);
        assert!(parse_documents(b"{\"kvs\":[{\"key\":\"!!\"}]}").is_err());
        assert!(parse_documents(b"{\"kvs\":").is_err());
    }

    #[test]
    fn stream_keeps_going_past_bad_base64_and_stops_at_a_syntax_error() {
        let data = br#"{"kvs":[{"key":"L2E=","value":"AA=="},{"key":"!!"},{"key":"L3gvYg=="}]}
{"kvs":[{"key":"L2M="}]} {"kvs":[{"key""#;
        let got: Vec<_> = records_of(&data[..], PathBuf::from("d.json"), b"/".to_vec()).collect();
        let shape: Vec<_> = got
            .iter()
            .map(|r| match r {
                Ok(r) => Ok(String::from_utf8_lossy(&r.key).into_owned()),
                Err(SourceError::Dump { document, .. }) => Err(*document),
                Err(e) => panic!("unexpected error {e}"),
            })
            .collect();
        assert_eq!(
            shape,
            [Ok("/a".into()), Err(0), Ok("/x/b".into()), Ok("/c".into()), Err(2)],
            "{got:?}"
        );
        // The prefix filter drops keys outside it; errors still come through.
        let only_x: Vec<_> = records_of(&data[..], PathBuf::from("d.json"), b"/x/".to_vec())
            .map(|r| r.map(|r| r.key.to_vec()))
            .collect();
        assert_eq!(only_x.len(), 3);
        assert_eq!(only_x[1].as_ref().unwrap(), b"/x/b");
        assert!(parse_documents(data).is_err());
    }
}
