//! The scanner end to end against `fixtures/scan` (a keyspace written into a
//! real etcd by `scripts/gen-scan-fixtures`, values sealed by the independent
//! Python implementation): the exact census and every finding from the
//! snapshot, the dump and a live etcd loaded with the same keyspace must equal
//! the generator's `expected.json`; `--all-revisions` finds the history leak;
//! without a config nothing is decrypted; KMS v2 values verify through a real
//! plugin and are `unverified` (not failed) when its socket is gone.

mod support {
    pub mod etcd;
    pub mod kms_plugin;
}

use std::io;
use std::path::Path;

use atrest::config::EncryptionConfig;
use atrest::etcd::live::{LiveOptions, LiveSource};
use atrest::etcd::{OpenOptions, Record, RecordSource, open_source};
use atrest::report::{Header, Reporter, Summary};
use atrest::scan::finding::{Finding, Problem, Verification};
use atrest::scan::{ScanOptions, Scanner};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/scan");

/// Collects findings and the summary.
#[derive(Default)]
struct Collect {
    findings: Vec<Finding>,
    summary: Option<Summary>,
}

impl Reporter for Collect {
    fn begin(&mut self, _: &Header) -> io::Result<()> {
        Ok(())
    }
    fn finding(&mut self, f: &Finding) -> io::Result<()> {
        self.findings.push(f.clone());
        Ok(())
    }
    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        self.summary = Some(s.clone());
        Ok(())
    }
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/expected.json")).unwrap()).unwrap()
}

fn config() -> EncryptionConfig {
    atrest::config::load::load_path(Path::new(&format!("{DIR}/config.yaml"))).unwrap()
}

fn scan(
    source: &mut dyn RecordSource,
    config: Option<&EncryptionConfig>,
    all_revisions: bool,
) -> Collect {
    let options = ScanOptions { all_revisions, ..ScanOptions::default() };
    let scanner = Scanner::new(config, "/registry");
    let header = atrest::scan::engine::header(source.info(), "/registry");
    let mut c = Collect::default();
    atrest::scan::run(source, &scanner, &options, header, &mut c, &mut |_| {}).unwrap();
    c
}

fn open(name: &str) -> Box<dyn RecordSource> {
    open_source(Path::new(&format!("{DIR}/{name}")), &OpenOptions::default()).unwrap()
}

fn verification(v: &Verification) -> &'static str {
    match v {
        Verification::NotAttempted => "not-attempted",
        Verification::Verified => "verified",
        Verification::Unverified(_) => "unverified",
        Verification::Failed(_) => "failed",
    }
}

/// A finding in the generator's vocabulary (no revision/size: those differ live).
fn model(f: &Finding, problems_field: &str) -> Value {
    let mut v = json!({
        "key": f.key, "resource": f.resource, "namespace": f.namespace, "name": f.name,
        "state": f.state.as_str(), "provider": f.provider, "key_name": f.key_name,
        "verification": verification(&f.verification), "stale": f.stale,
        "encoding": f.encoding, "api_version": f.api_version, "kind": f.kind,
    });
    v[problems_field] = json!(f.problems.iter().map(|p| p.as_str()).collect::<Vec<_>>());
    v
}

fn expected_model(o: &Value, problems_field: &str, with_config: bool) -> Value {
    let mut v = o.clone();
    let obj = v.as_object_mut().unwrap();
    obj.remove("revision");
    obj.remove("size");
    let problems = obj.remove(problems_field).unwrap();
    obj.remove("problems");
    obj.remove("problems_without_config");
    obj.insert(problems_field.into(), problems);
    if !with_config {
        // Nothing is decrypted: no verification, no key-confirmed stale, and
        // encrypted values' encodings stay unknown.
        obj.insert("verification".into(), json!("not-attempted"));
        obj.insert("stale".into(), json!(false));
        if obj["state"] == "encrypted" {
            for k in ["encoding", "api_version", "kind"] {
                obj.insert(k.into(), Value::Null);
            }
        }
    }
    v
}

fn current(c: &Collect) -> Vec<&Finding> {
    c.findings.iter().filter(|f| !f.history).collect()
}

fn assert_matches_expected(c: &Collect, with_revisions: bool) {
    let e = expected();
    let objects = e["objects"].as_array().unwrap();
    let got = current(c);
    assert_eq!(got.len(), objects.len(), "number of current objects");
    let mut by_key: Vec<&Finding> = got.clone();
    by_key.sort_by(|a, b| a.key.cmp(&b.key));
    for (f, o) in by_key.iter().zip(objects) {
        assert_eq!(model(f, "problems"), expected_model(o, "problems", true), "{}", f.key);
        if with_revisions {
            assert_eq!(f.revision, o["revision"].as_i64().unwrap(), "{}", f.key);
            assert_eq!(f.size as u64, o["size"].as_u64().unwrap(), "{}", f.key);
        }
    }
    let census = serde_json::to_value(&c.summary.as_ref().unwrap().census).unwrap();
    let mut want = e["census"].clone();
    if c.findings.iter().any(|f| f.history) {
        // Problem counts include the older revisions' problems.
        for h in e["history"].as_array().unwrap() {
            for p in h["problems"].as_array().unwrap() {
                let n = &mut want["problems"][p.as_str().unwrap()];
                *n = json!(n.as_u64().unwrap_or(0) + 1);
            }
        }
    }
    for k in ["objects", "by_state", "by_resource", "by_namespace", "by_key", "problems"] {
        assert_eq!(census[k], want[k], "census.{k}");
    }
}

#[test]
fn snapshot_findings_equal_the_generators_model() {
    let c = scan(open("snapshot.db").as_mut(), Some(&config()), false);
    assert_matches_expected(&c, true);
    let s = c.summary.unwrap();
    assert_eq!(s.census.history_revisions, 0);
    assert!(s.failed, "plaintext and undecryptable objects fail the default scan");
}

#[test]
fn dump_findings_equal_the_generators_model() {
    let c = scan(open("dump.json").as_mut(), Some(&config()), false);
    assert_matches_expected(&c, true);
}

#[test]
fn live_etcd_agrees_with_snapshot_and_dump() {
    // Load the dump's keyspace into a fresh real etcd (binary-safe via the gRPC client).
    let etcd = support::etcd::Etcd::start();
    let dump: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/dump.json")).unwrap())
            .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut client = etcd_client::Client::connect([format!("http://{}", etcd.endpoint)], None)
            .await
            .unwrap();
        for kv in dump["kvs"].as_array().unwrap() {
            let k = B64.decode(kv["key"].as_str().unwrap()).unwrap();
            let v = B64.decode(kv["value"].as_str().unwrap()).unwrap();
            client.put(k, v, None).await.unwrap();
        }
    });
    let mut live = LiveSource::connect(LiveOptions {
        endpoints: vec![etcd.endpoint.clone()],
        ..LiveOptions::default()
    })
    .unwrap();
    let cfg = config();
    let live_scan = scan(&mut live, Some(&cfg), false);
    // Revisions differ on the new server; everything else must be the same.
    assert_matches_expected(&live_scan, false);
    let snap = scan(open("snapshot.db").as_mut(), Some(&cfg), false);
    let dump = scan(open("dump.json").as_mut(), Some(&cfg), false);
    let models = |c: &Collect| -> Vec<Value> {
        let mut v: Vec<Value> = current(c).iter().map(|f| model(f, "problems")).collect();
        v.sort_by_key(|m| m["key"].to_string());
        v
    };
    assert_eq!(models(&live_scan), models(&snap));
    assert_eq!(models(&dump), models(&snap));
    assert_eq!(live_scan.summary.unwrap().census, snap.summary.clone().unwrap().census);
    assert_eq!(dump.summary.unwrap().census, snap.summary.unwrap().census);
}

#[test]
fn all_revisions_finds_the_history_leak() {
    let c = scan(open("snapshot.db").as_mut(), Some(&config()), true);
    assert_matches_expected(&c, true);
    let e = expected();
    let mut history: Vec<Value> = c
        .findings
        .iter()
        .filter(|f| f.history)
        .map(|f| {
            json!({"key": f.key, "revision": f.revision, "state": f.state.as_str(),
                   "problems": f.problems.iter().map(|p| p.as_str()).collect::<Vec<_>>()})
        })
        .collect();
    history.sort_by_key(|h| h["revision"].as_i64());
    assert_eq!(Value::Array(history), e["history"]);
    let s = c.summary.unwrap();
    assert_eq!(s.census.history_revisions, e["history"].as_array().unwrap().len() as u64);
    assert_eq!(s.census.count(Problem::HistoryLeak), 1);
    // A dump has no history: the flag changes nothing there.
    let d = scan(open("dump.json").as_mut(), Some(&config()), true);
    assert!(d.findings.iter().all(|f| !f.history));
}

#[test]
fn without_config_plaintext_secrets_are_violations_and_nothing_is_decrypted() {
    let c = scan(open("snapshot.db").as_mut(), None, false);
    let e = expected();
    let mut got: Vec<&Finding> = current(&c);
    got.sort_by(|a, b| a.key.cmp(&b.key));
    let objects = e["objects"].as_array().unwrap();
    assert_eq!(got.len(), objects.len());
    for (f, o) in got.iter().zip(objects) {
        assert_eq!(
            model(f, "problems_without_config"),
            expected_model(o, "problems_without_config", false),
            "{}",
            f.key
        );
        assert_eq!(f.verification, Verification::NotAttempted, "{}", f.key);
    }
    let census = serde_json::to_value(&c.summary.as_ref().unwrap().census).unwrap();
    for k in ["objects", "by_state", "by_resource", "by_namespace", "by_key", "problems"] {
        assert_eq!(census[k], e["census_without_config"][k], "census.{k}");
    }
}

#[test]
fn kms_v2_values_verify_with_the_plugin_and_are_unverified_without_it() {
    let plugin = support::kms_plugin::KmsPlugin::start();
    let yaml = format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
         - resources: [secrets]\n  providers:\n  - kms:\n      apiVersion: v2\n      name: vault\n      \
         endpoint: {}\n  - identity: {{}}\n",
        plugin.endpoint
    );
    let cfg = atrest::config::load::load_str(&yaml).unwrap();
    let key = "/registry/secrets/default/kms1";
    let plaintext =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/kube/secret.pb")).unwrap();
    let gr = atrest::config::GroupResource::parse("secrets");
    let chain = atrest::crypto::chain::Chain::for_resource(&cfg, &gr).unwrap();
    let value = chain.seal(&plaintext, key.as_bytes()).unwrap();
    assert!(value.starts_with(b"k8s:enc:kms:v2:vault:"));
    let record = Record::created(key.as_bytes(), value, 2);
    let f = Scanner::new(Some(&cfg), "/registry").classify(&record, None).unwrap().unwrap();
    assert_eq!(f.verification, Verification::Verified);
    assert_eq!(f.provider, Some("kms-v2"));
    assert_eq!(f.key_name.as_deref(), Some("vault"));
    assert_eq!(f.kms_key_id.as_deref(), Some("1"));
    assert_eq!(f.kind.as_deref(), Some("Secret"));
    assert!(f.problems.is_empty(), "{:?}", f.problems);

    drop(plugin); // the socket is gone
    let f = Scanner::new(Some(&cfg), "/registry").classify(&record, None).unwrap().unwrap();
    assert!(matches!(f.verification, Verification::Unverified(_)), "{:?}", f.verification);
    assert!(f.problems.is_empty(), "an unreachable plugin is not a failure: {:?}", f.problems);
    assert_eq!(f.kms_key_id.as_deref(), Some("1"), "key ID read from the envelope");
}
