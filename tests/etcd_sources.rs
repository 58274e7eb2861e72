//! Every record source against a real etcd: write known binary values,
//! overwrite, delete, lease, compact; read back live, through `etcdctl
//! snapshot save`, the member's data file and an `etcdctl -w json` dump, and
//! compare with a model of what etcd must hold.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use atrest::etcd::live::{LiveOptions, LiveSource};
use atrest::etcd::{OpenOptions, Query, Record, RecordSource, SourceKind, Trailer, open_source};
use etcd_client::{Client, PutOptions, Txn, TxnOp};
use support::etcd::Etcd;

/// One write as the model sees it: key, value (None = delete), revision, sub, lease.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Op {
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    rev: i64,
    sub: i64,
    lease: i64,
}

type Row = (Vec<u8>, Option<Vec<u8>>, i64, i64, i64); // key, value, rev, sub, lease

fn row_of(r: &Record) -> Row {
    (
        r.key.to_vec(),
        (!r.tombstone).then(|| r.value.to_vec()),
        r.mod_revision,
        r.sub_revision,
        r.lease,
    )
}

fn op_row(o: &Op) -> Row {
    (o.key.clone(), o.value.clone(), o.rev, o.sub, o.lease)
}

/// The current view etcd must show: last op per key, deletions dropped, sorted by key.
fn model_current(ops: &[Op]) -> BTreeMap<Vec<u8>, (Vec<u8>, i64, i64)> {
    let mut m = BTreeMap::new();
    for o in ops {
        match &o.value {
            Some(v) => {
                m.insert(o.key.clone(), (v.clone(), o.rev, o.lease));
            }
            None => {
                m.remove(&o.key);
            }
        }
    }
    m
}

/// The history etcd keeps after compacting at `c`: every revision after `c`,
/// plus each key's latest revision at or before `c` unless it is a deletion.
fn model_history(ops: &[Op], c: i64) -> Vec<Row> {
    let mut latest_before: BTreeMap<Vec<u8>, (i64, i64)> = BTreeMap::new();
    for o in ops.iter().filter(|o| o.rev <= c) {
        latest_before.insert(o.key.clone(), (o.rev, o.sub));
    }
    ops.iter()
        .filter(|o| {
            o.rev > c || (latest_before.get(&o.key) == Some(&(o.rev, o.sub)) && o.value.is_some())
        })
        .map(op_row)
        .collect()
}

fn current_of(src: &mut dyn RecordSource, prefix: &[u8]) -> BTreeMap<Vec<u8>, (Vec<u8>, i64, i64)> {
    let mut m = BTreeMap::new();
    for r in src.records(&Query::current().with_prefix(prefix)).unwrap() {
        let r = r.unwrap();
        assert!(!r.tombstone);
        assert!(
            m.insert(r.key.to_vec(), (r.value.into_owned(), r.mod_revision, r.lease)).is_none(),
            "key twice"
        );
    }
    m
}

fn history_of(src: &mut dyn RecordSource) -> Vec<Row> {
    src.records(&Query::history()).unwrap().map(|r| row_of(&r.unwrap())).collect()
}

fn binary(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed)).collect()
}

struct Writer {
    rt: tokio::runtime::Runtime,
    client: Client,
    ops: Vec<Op>,
}

impl Writer {
    fn new(endpoint: &str) -> Writer {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = rt.block_on(Client::connect([format!("http://{endpoint}")], None)).unwrap();
        Writer { rt, client, ops: Vec::new() }
    }

    fn put(&mut self, key: &[u8], value: &[u8], lease: i64) -> i64 {
        let opts = (lease != 0).then(|| PutOptions::new().with_lease(lease));
        let r = self.rt.block_on(self.client.put(key, value, opts)).unwrap();
        let rev = r.header().unwrap().revision();
        self.ops.push(Op { key: key.to_vec(), value: Some(value.to_vec()), rev, sub: 0, lease });
        rev
    }

    fn delete(&mut self, key: &[u8]) -> i64 {
        let r = self.rt.block_on(self.client.delete(key, None)).unwrap();
        let rev = r.header().unwrap().revision();
        self.ops.push(Op { key: key.to_vec(), value: None, rev, sub: 0, lease: 0 });
        rev
    }

    /// Many puts in one transaction (one revision, sub revisions 0..n).
    fn put_many(&mut self, kvs: &[(Vec<u8>, Vec<u8>)]) -> i64 {
        let ops: Vec<TxnOp> =
            kvs.iter().map(|(k, v)| TxnOp::put(k.clone(), v.clone(), None)).collect();
        let r = self.rt.block_on(self.client.txn(Txn::new().and_then(ops))).unwrap();
        let rev = r.header().unwrap().revision();
        for (i, (k, v)) in kvs.iter().enumerate() {
            self.ops.push(Op {
                key: k.clone(),
                value: Some(v.clone()),
                rev,
                sub: i as i64,
                lease: 0,
            });
        }
        rev
    }
}

fn open(path: &std::path::Path) -> Box<dyn RecordSource> {
    open_source(path, &OpenOptions::default()).unwrap()
}

#[test]
fn every_source_agrees_with_what_was_written() {
    let started = Instant::now();
    let mut etcd = Etcd::start();
    let mut w = Writer::new(&etcd.endpoint);
    let enc1 = [b"k8s:enc:aescbc:v1:key1:".as_slice(), &binary(7, 48)].concat();
    let enc2 = [b"k8s:enc:aescbc:v1:key1:".as_slice(), &binary(11, 64)].concat();
    let plain = [b"k8s\0".as_slice(), &binary(3, 200)].concat();
    let every_byte: Vec<u8> = (0..=255u8).collect();
    w.put(b"/registry/secrets/ns/a", &enc1, 0);
    w.put(b"/registry/secrets/ns/b", &plain, 0);
    w.put(b"/registry/configmaps/ns/bin", &every_byte, 0);
    w.put(b"/registry/secrets/ns/gone", b"short-lived", 0);
    let overwrite = w.put(b"/registry/secrets/ns/a", &enc2, 0);
    w.delete(b"/registry/secrets/ns/gone");
    let lease = w.rt.block_on(w.client.lease_grant(3600, None)).unwrap().id();
    w.put(b"/registry/events/ns/e", b"leased", lease);
    // Enough keys for several leaf pages and a branch page, in txns of 100.
    for chunk in 0..12 {
        let kvs: Vec<_> = (0..100)
            .map(|i| {
                let n = chunk * 100 + i;
                (format!("/registry/bulk/{n:05}").into_bytes(), binary(n as u8 | 1, 40 + n % 60))
            })
            .collect();
        w.put_many(&kvs);
    }
    let all_ops = w.ops.clone();
    let dir = tempfile::tempdir().unwrap();
    let snap1 = dir.path().join("before-compaction.db");
    etcd.ctl(&["snapshot", "save", snap1.to_str().unwrap()]);

    // Live, paginated (page of 100 keys), pinned at the revision of connect:
    // a write during the read must not show up.
    let mut live = LiveSource::connect(LiveOptions {
        endpoints: vec![etcd.endpoint.clone()],
        page_size: 100,
        ..LiveOptions::default()
    })
    .unwrap();
    let pinned = live.info().revision.unwrap();
    assert_eq!(pinned, all_ops.last().unwrap().rev);
    let mut it = live.records(&Query::current()).unwrap();
    let first = it.next().unwrap().unwrap();
    let late = w.rt.block_on(w.client.put("/registry/zz-late", "x", None)).unwrap();
    let mut got = BTreeMap::new();
    for r in std::iter::once(Ok(first)).chain(it) {
        let r = r.unwrap();
        got.insert(r.key.to_vec(), (r.value.into_owned(), r.mod_revision, r.lease));
    }
    assert_eq!(got, model_current(&all_ops), "live current view at the pinned revision");
    drop(live);
    w.ops.push(Op {
        key: b"/registry/zz-late".to_vec(),
        value: Some(b"x".to_vec()),
        rev: late.header().unwrap().revision(),
        sub: 0,
        lease: 0,
    });

    // JSON dump made by etcdctl itself.
    let dump = dir.path().join("dump.json");
    std::fs::write(&dump, etcd.ctl(&["get", "", "--prefix", "-w", "json"])).unwrap();
    let mut d = open(&dump);
    assert_eq!(d.info().kind, SourceKind::JsonDump);
    assert!(d.info().cluster_id.unwrap() > 0);
    assert_eq!(current_of(d.as_mut(), b""), model_current(&w.ops));
    assert_eq!(current_of(d.as_mut(), b"/registry/secrets/"), {
        let mut m = model_current(&w.ops);
        m.retain(|k, _| k.starts_with(b"/registry/secrets/"));
        m
    });

    // Snapshot before compaction: full history, tombstones included.
    let mut s1 = open(&snap1);
    assert_eq!(s1.info().kind, SourceKind::Snapshot);
    assert_eq!(s1.info().trailer, Trailer::Valid);
    assert_eq!(s1.info().revision, Some(pinned));
    assert_eq!(history_of(s1.as_mut()), all_ops.iter().map(op_row).collect::<Vec<_>>());
    assert_eq!(current_of(s1.as_mut(), b""), model_current(&all_ops));

    // Compact at the overwrite, write once more, snapshot again.
    w.rt.block_on(
        w.client.compact(overwrite, Some(etcd_client::CompactionOptions::new().with_physical())),
    )
    .unwrap();
    w.put(b"/registry/secrets/ns/after", &enc1, 0);
    let final_rev = w.ops.last().unwrap().rev;
    let snap2 = dir.path().join("after-compaction.db");
    etcd.ctl(&["snapshot", "save", snap2.to_str().unwrap()]);
    let mut s2 = open(&snap2);
    assert_eq!(s2.info().revision, Some(final_rev));
    assert_eq!(s2.info().compact_revision, Some(overwrite));
    assert_eq!(history_of(s2.as_mut()), model_history(&w.ops, overwrite));
    assert_eq!(current_of(s2.as_mut(), b""), model_current(&w.ops));
    assert!(
        !history_of(s2.as_mut())
            .iter()
            .any(|r| r.1.as_deref() == Some(&enc1[..]) && r.2 < overwrite),
        "the compacted value is gone"
    );

    // The member's own data file after a clean stop.
    let ops = std::mem::take(&mut w.ops);
    drop(w);
    etcd.stop();
    let mut m = open(&etcd.data_db());
    assert_eq!(m.info().kind, SourceKind::DataFile);
    assert_eq!(m.info().trailer, Trailer::Absent);
    assert_eq!(m.info().compact_revision, Some(overwrite));
    assert_eq!(m.info().revision, Some(final_rev));
    assert_eq!(history_of(m.as_mut()), model_history(&ops, overwrite));
    assert_eq!(current_of(m.as_mut(), b""), model_current(&ops));
    assert!(started.elapsed() < Duration::from_secs(60));
}
