//! The committed fixtures (made by a real etcd, see fixtures/etcd/README.md)
//! read through every file source and compared with `expected.json`, which
//! the generator wrote from what it put; and `atrest records` as a user runs it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use atrest::etcd::{OpenOptions, Query, RecordSource, SourceKind, open_source};
use base64::Engine;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/etcd").join(name)
}

fn expected() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture("expected.json")).unwrap()).unwrap()
}

type Row = (String, Option<Vec<u8>>, i64, i64); // key, value (None = tombstone), revision, lease

fn rows(v: &serde_json::Value) -> Vec<Row> {
    let b64 = base64::engine::general_purpose::STANDARD;
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap().to_string(),
                e["value_b64"].as_str().map(|s| b64.decode(s).unwrap()),
                e["revision"].as_i64().unwrap(),
                e["lease"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn current(h: &[Row]) -> BTreeMap<String, (Vec<u8>, i64, i64)> {
    let mut m = BTreeMap::new();
    for (k, v, rev, lease) in h {
        match v {
            Some(v) => m.insert(k.clone(), (v.clone(), *rev, *lease)),
            None => m.remove(k),
        };
    }
    m
}

fn read_history(src: &mut dyn RecordSource) -> Vec<Row> {
    src.records(&Query::history())
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (
                String::from_utf8(r.key.into_owned()).unwrap(),
                (!r.tombstone).then_some(r.value.into_owned()),
                r.mod_revision,
                r.lease,
            )
        })
        .collect()
}

fn read_current(src: &mut dyn RecordSource, prefix: &str) -> BTreeMap<String, (Vec<u8>, i64, i64)> {
    src.records(&Query::current().with_prefix(prefix))
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (
                String::from_utf8(r.key.into_owned()).unwrap(),
                (r.value.into_owned(), r.mod_revision, r.lease),
            )
        })
        .collect()
}

fn open(name: &str) -> Box<dyn RecordSource> {
    open_source(&fixture(name), &OpenOptions::default()).unwrap()
}

#[test]
fn snapshot_before_compaction_has_full_history() {
    let exp = expected();
    let history = rows(&exp["snapshot"]["history"]);
    let mut s = open("snapshot.db");
    assert_eq!(s.info().kind, SourceKind::Snapshot);
    assert_eq!(s.info().revision, exp["snapshot"]["revision"].as_i64());
    assert_eq!(read_history(s.as_mut()), history);
    assert_eq!(read_current(s.as_mut(), ""), current(&history));
}

#[test]
fn compacted_snapshot_and_member_file_agree() {
    let exp = expected();
    let all = rows(&exp["compacted"]["history"]);
    let c = exp["compacted"]["compact_revision"].as_i64().unwrap();
    // What compaction keeps: revisions after c, and each key's latest at or
    // before c unless it is a deletion.
    let mut latest = BTreeMap::new();
    for (k, _, rev, _) in all.iter().filter(|r| r.2 <= c) {
        latest.insert(k.clone(), *rev);
    }
    let kept: Vec<Row> = all
        .iter()
        .filter(|r| r.2 > c || (latest.get(&r.0) == Some(&r.2) && r.1.is_some()))
        .cloned()
        .collect();
    for name in ["snapshot-compacted.db", "member.db"] {
        let mut s = open(name);
        assert_eq!(s.info().compact_revision, Some(c), "{name}");
        assert_eq!(s.info().revision, exp["compacted"]["revision"].as_i64(), "{name}");
        assert_eq!(read_history(s.as_mut()), kept, "{name}");
        assert_eq!(read_current(s.as_mut(), ""), current(&all), "{name}");
    }
    assert_eq!(open("member.db").info().kind, SourceKind::DataFile);
}

#[test]
fn dumps_and_raw_values() {
    let exp = expected();
    let history = rows(&exp["snapshot"]["history"]);
    let mut d = open("dump.json");
    assert_eq!(read_current(d.as_mut(), ""), current(&history));
    let mut m = open("dump-multi.json");
    let mut want = current(&history);
    want.retain(|k, _| {
        k.starts_with("/registry/secrets/") || k.starts_with("/registry/configmaps/")
    });
    assert_eq!(read_current(m.as_mut(), ""), want);
    assert!(m.records(&Query::history()).is_err(), "dumps have no history");
    // --print-value-only output: one newline stripped on request.
    let s1 = current(&history)["/registry/secrets/default/s1"].0.clone();
    let key = b"/registry/secrets/default/s1".to_vec();
    let opts =
        OpenOptions { raw_key: Some(key.clone()), strip_newline: true, ..OpenOptions::default() };
    let mut r = open_source(&fixture("value-s1.bin"), &opts).unwrap();
    assert!(r.info().warnings.is_empty());
    let got: Vec<_> = r.records(&Query::current()).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!((got[0].key.to_vec(), got[0].value.to_vec()), (key.clone(), s1.clone()));
    let opts = OpenOptions { raw_key: Some(key), ..OpenOptions::default() };
    let mut r = open_source(&fixture("value-s1.bin"), &opts).unwrap();
    assert_eq!(r.info().warnings.len(), 1, "a trailing newline is flagged, not silently kept");
    let got: Vec<_> = r.records(&Query::current()).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(got[0].value, [s1, b"\n".to_vec()].concat());
    // Without a key, a raw file is refused with advice.
    let err =
        open_source(&fixture("value-s1.bin"), &OpenOptions::default()).err().unwrap().to_string();
    assert!(err.contains("give its etcd key"), "{err}");
}

fn atrest(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_atrest")).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn records_command_as_a_user_runs_it() {
    let snap = fixture("snapshot.db");
    let (code, out, _) =
        atrest(&["records", snap.to_str().unwrap(), "--history", "--prefix", "/registry/secrets/"]);
    assert_eq!(code, Some(0));
    assert!(out.lines().next().unwrap().contains("revision 8"), "{out}");
    assert!(out.contains("/registry/secrets/default/gone tombstone"), "{out}");
    assert!(out.contains("class=encrypted:aescbc:key1"), "{out}");
    assert!(!out.contains("configmaps"), "prefix filter: {out}");
    assert!(!out.contains("value="), "values only with --values");
    let (code, out, _) =
        atrest(&["records", snap.to_str().unwrap(), "--format", "jsonl", "--values"]);
    assert_eq!(code, Some(0));
    let lines: Vec<serde_json::Value> =
        out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["trailer"]["status"], "valid");
    assert_eq!(lines.len(), 1 + 4, "current view: s1, s2, c1, e1");
    assert!(lines[1]["value_b64"].is_string());
    // A corrupted copy: exit 2 and a message naming the problem.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.db");
    let mut bytes = std::fs::read(&snap).unwrap();
    bytes[..8192].fill(0);
    std::fs::write(&bad, &bytes).unwrap();
    let (code, _, err) = atrest(&["records", bad.to_str().unwrap(), "--source-type", "snapshot"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no valid meta page"), "{err}");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let (code, _, err) = atrest(&["records", empty.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("empty file"), "{err}");
}
