//! `atrest extract` as a user runs it, against `fixtures/scan` (values sealed
//! by the independent Python implementation): the decoded Secret/ConfigMap
//! data must equal what the generator put; exit codes 0/1/2; --output is
//! 0600; YAML and JSON agree (YAML read back by Python's yaml).

use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_atrest");
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/scan");

fn extract(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("extract")
        .arg(format!("{DIR}/snapshot.db"))
        .arg("--config")
        .arg(format!("{DIR}/config.yaml"))
        .args(args)
        .output()
        .unwrap()
}

fn json_of(key: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--etcd-key", key, "-o", "json"];
    args.extend_from_slice(extra);
    let out = extract(&args);
    assert_eq!(out.status.code(), Some(0), "{key}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/{name}")).unwrap()).unwrap()
}

/// Keys whose current value a config key (or identity) reads.
fn readable() -> Vec<String> {
    fixture("expected.json")["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["verification"] == "verified" || o["state"] == "plaintext")
        .map(|o| o["key"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn decoded_data_equals_what_the_generator_put() {
    let plaintexts = fixture("plaintexts.json");
    let readable = readable();
    let mut checked = 0;
    for (key, versions) in plaintexts["objects"].as_object().unwrap() {
        if !readable.contains(key) {
            continue;
        }
        let want = versions.as_array().unwrap().last().unwrap();
        let got = json_of(key, &[]);
        assert_eq!(got["kind"], want["kind"], "{key}");
        assert_eq!(got["data"], want["data"], "{key}");
        assert_eq!(
            format!(
                "/registry/{}s/{}/{}",
                got["kind"].as_str().unwrap().to_lowercase(),
                got["metadata"]["namespace"].as_str().unwrap(),
                got["metadata"]["name"].as_str().unwrap()
            ),
            *key
        );
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} objects checked");
}

#[test]
fn older_revision_from_the_snapshot_history() {
    let key = "/registry/secrets/default/gcm-current";
    let history = fixture("expected.json")["history"].clone();
    let rev = history.as_array().unwrap().iter().find(|h| h["key"] == key).unwrap()["revision"]
        .as_i64()
        .unwrap();
    let plaintexts = fixture("plaintexts.json");
    let versions = plaintexts["objects"][key].as_array().unwrap();
    let old = json_of(key, &["--revision", &rev.to_string()]);
    assert_eq!(old["data"], versions[0]["data"]);
    let now = json_of(key, &[]);
    assert_eq!(now["data"], versions[1]["data"]);
    assert_ne!(old["data"], now["data"]);
}

#[test]
fn yaml_reads_back_as_the_json() {
    let key = "/registry/secrets/prod/cbc-old";
    let out = extract(&["--etcd-key", key]);
    assert_eq!(out.status.code(), Some(0));
    let py = Command::new("python3")
        .args(["-c", "import sys, yaml, json; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    py.stdin.as_ref().unwrap().write_all(&out.stdout).unwrap();
    let back = py.wait_with_output().unwrap();
    assert!(back.status.success());
    let from_yaml: Value = serde_json::from_slice(&back.stdout).unwrap();
    assert_eq!(from_yaml, json_of(key, &[]));
    // stale is noted on stderr, never the plaintext
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stale"), "{err}");
    assert!(!err.contains("PT-"), "{err}");
}

#[test]
fn json_custom_resource_as_stored_and_other_protobuf_raw() {
    let w2 = json_of("/registry/example.com/widgets/default/w2", &[]);
    assert_eq!(w2["spec"]["color"], "PT-w2-blue");
    assert_eq!(w2["kind"], "Widget");
    let out = extract(&["--etcd-key", "/registry/pods/default/p1"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.starts_with(b"k8s\x00"));
    let raw = extract(&["--etcd-key", "/registry/pods/default/p1", "-o", "raw"]);
    assert_eq!(raw.stdout, out.stdout);
}

#[test]
fn undecryptable_is_1_missing_is_2() {
    for key in [
        "/registry/secrets/default/tampered",
        "/registry/secrets/default/moved",
        "/registry/secrets/default/missing-key",
    ] {
        let out = extract(&["--etcd-key", key]);
        assert_eq!(out.status.code(), Some(1), "{key}");
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("does not decrypt"), "{err}");
    }
    let out = extract(&["--etcd-key", "/registry/secrets/default/nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/registry/secrets/default/nope not found")
    );
    let out = extract(&["--etcd-key", "/registry/secrets/default/plain", "--revision", "999"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("revision 999"));
    let out = extract(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--etcd-key is required"));
    let out = Command::new(BIN)
        .args(["extract", "/nonexistent/snap.db", "--config"])
        .arg(format!("{DIR}/config.yaml"))
        .args(["--etcd-key", "/registry/secrets/default/plain"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn output_file_is_0600_and_stdout_stays_empty() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let key = "/registry/secrets/default/gcm-current";
    let out = extract(&["--etcd-key", key, "-o", "json", "--output", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty());
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(v, json_of(key, &[]));
    // never clobbered without --force
    let again = extract(&["--etcd-key", key, "--output", path.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    let forced = extract(&["--etcd-key", key, "--output", path.to_str().unwrap(), "--force"]);
    assert_eq!(forced.status.code(), Some(0));
}
