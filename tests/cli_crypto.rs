//! `atrest encrypt`, `decrypt` and `inspect` as a user runs them: the real
//! binary, real files, asserting stdout, stderr and the exit code.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine;

const S1: &str = "/registry/secrets/default/s1";

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/vectors").join(p)
}

/// The YAML config of the fixtures (the README demo); `config.json` holds the same.
fn config() -> String {
    fixture("config.yaml").display().to_string()
}

fn atrest(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sin = child.stdin.take().unwrap();
    let _ = sin.write_all(stdin);
    drop(sin);
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn plaintext_s1() -> Vec<u8> {
    std::fs::read(fixture("values/plaintext-s1.bin")).unwrap()
}

fn value(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("values/{name}"))).unwrap()
}

#[test]
fn decrypts_each_provider_and_reports_key_and_staleness() {
    let cfg = config();
    for (file, who, state) in [
        ("aesgcm-s1.bin", "read by aesgcm/gcm256", "current"),
        ("aescbc-s1.bin", "read by aescbc/cbc256", "stale"),
        ("secretbox-s1.bin", "read by secretbox/sb256", "stale"),
        ("plaintext-s1.bin", "plaintext (identity)", "stale"),
    ] {
        let input = fixture(&format!("values/{file}")).display().to_string();
        let o = atrest(
            &["decrypt", "--config", &cfg, "--etcd-key", S1, "--input", &input, "--verbose"],
            b"",
        );
        assert_eq!(o.status.code(), Some(0), "{file}: {}", stderr(&o));
        assert_eq!(o.stdout, plaintext_s1(), "{file}");
        let err = stderr(&o);
        assert!(err.contains(who) && err.contains(state), "{file}: {err}");
        assert_eq!(err.contains("no MAC"), file.starts_with("aescbc"), "{err}");
    }
    // without --verbose: nothing on stderr, stdin works; the JSON config is equivalent
    let json_cfg = fixture("config.json").display().to_string();
    let o = atrest(&["decrypt", "--config", &json_cfg, "--etcd-key", S1], &value("aesgcm-s1.bin"));
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(o.stdout, plaintext_s1());
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

#[test]
fn nothing_decrypts_exits_1_with_one_line() {
    let cfg = config();
    let gcm = value("aesgcm-s1.bin");
    let mut tampered = gcm.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("moved to another etcd key", "/registry/secrets/default/other", gcm.clone()),
        ("tampered", S1, tampered),
        ("truncated", S1, gcm[..gcm.len() - 5].to_vec()),
        ("truncated to the prefix", S1, gcm[..26].to_vec()),
        (
            "unknown key name",
            S1,
            b"k8s:enc:aesgcm:v1:ghost:0123456789012345678901234567890".to_vec(),
        ),
        ("unknown prefix", S1, b"k8s:enc:rot13:v1:k:abc".to_vec()),
    ];
    for (what, key, input) in cases {
        let o = atrest(&["decrypt", "--config", &cfg, "--etcd-key", key], &input);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{what}");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(err.contains("did not decrypt"), "{what}: {err}");
    }
    // an encrypted value under a resource the config does not cover
    let o = atrest(
        &["decrypt", "--config", &cfg, "--etcd-key", "/registry/configmaps/default/c"],
        &gcm,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("identity transformer tried to read encrypted data"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unusable_input_exits_2() {
    let cfg = config();
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("bad.json");
    std::fs::write(&garbage, "{not a config").unwrap();
    let garbage = garbage.display().to_string();
    let short_key = dir.path().join("short.json");
    std::fs::write(
        &short_key,
        r#"{"apiVersion":"apiserver.config.k8s.io/v1","kind":"EncryptionConfiguration","resources":[{"resources":["secrets"],"providers":[{"aesgcm":{"keys":[{"name":"k","secret":"c2hvcnQ="}]}}]}]}"#,
    )
    .unwrap();
    let short_key = short_key.display().to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["decrypt", "--config", "/nonexistent/enc.yaml", "--etcd-key", S1],
        vec!["decrypt", "--config", &garbage, "--etcd-key", S1],
        vec!["decrypt", "--config", &short_key, "--etcd-key", S1],
        vec!["decrypt", "--config", &cfg, "--etcd-key", S1, "--input", "/nonexistent/value"],
        vec!["decrypt", "--config", &cfg],
        vec!["decrypt", "--config", &cfg, "--etcd-key", "/elsewhere/secrets/a/b"],
        vec!["encrypt", "--config", &cfg, "--etcd-key", "relative/key"],
        vec!["inspect", "--input", "/nonexistent/value"],
    ];
    for args in cases {
        let o = atrest(&args, &value("aesgcm-s1.bin"));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("atrest: error: "), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
    }
}

#[test]
fn encrypt_writes_what_python_and_decrypt_read() {
    let cfg = config();
    let pt = plaintext_s1();
    let o = atrest(&["encrypt", "--config", &cfg, "--etcd-key", S1], &pt);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stderr.is_empty());
    let stored = o.stdout;
    assert!(stored.starts_with(b"k8s:enc:aesgcm:v1:gcm256:"));
    assert_eq!(stored.len(), "k8s:enc:aesgcm:v1:gcm256:".len() + 12 + pt.len() + 16);
    // random nonce: a second run differs
    let again = atrest(&["encrypt", "--config", &cfg, "--etcd-key", S1], &pt).stdout;
    assert_ne!(again, stored);
    // our decrypt reads it
    let o = atrest(&["decrypt", "--config", &cfg, "--etcd-key", S1], &stored);
    assert_eq!(o.stdout, pt);
    // the independent implementation reads it
    let cfgdoc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("config.json")).unwrap()).unwrap();
    let key =
        cfgdoc["resources"][0]["providers"][0]["aesgcm"]["keys"][0]["secret"].as_str().unwrap();
    let batch = serde_json::json!([{ "provider": "aesgcm", "key_name": "gcm256", "key_b64": key,
        "etcd_key": S1, "value_hex": hex::encode(&stored) }]);
    let mut py = Command::new("python3")
        .arg(fixture("verify.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 (with cryptography and pynacl) is needed; scripts/test installs them");
    py.stdin.take().unwrap().write_all(batch.to_string().as_bytes()).unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(out.status.success());
    let res: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(res[0]["plaintext_hex"].as_str(), Some(hex::encode(&pt).as_str()));
}

#[test]
fn encrypt_uncovered_stays_plaintext_and_prefix_is_honoured() {
    let cfg = config();
    let pt = b"{\"kind\":\"Deployment\"}";
    let o = atrest(&["encrypt", "--config", &cfg, "--etcd-key", "/registry/deployments/ns/d"], pt);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(o.stdout, pt);
    assert!(stderr(&o).contains("deployments.apps is not covered"), "{}", stderr(&o));

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stored.bin").display().to_string();
    let key = "/cluster-a/registry/secrets/ns/n";
    let o = atrest(
        &[
            "encrypt",
            "--config",
            &cfg,
            "--etcd-key",
            key,
            "--prefix",
            "/cluster-a/registry",
            "--output",
            &out,
        ],
        pt,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    let stored = std::fs::read(&out).unwrap();
    assert!(stored.starts_with(b"k8s:enc:aesgcm:v1:"));
    // without --prefix the key is rejected; with it, decrypt reads the value back
    let o = atrest(&["decrypt", "--config", &cfg, "--etcd-key", key, "--input", &out], b"");
    assert_eq!(o.status.code(), Some(2));
    let o = atrest(
        &[
            "decrypt",
            "--config",
            &cfg,
            "--etcd-key",
            key,
            "--prefix",
            "cluster-a/registry/",
            "--input",
            &out,
        ],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, pt);
}

fn etcdctl_json(key: &str, value: &[u8]) -> Vec<u8> {
    let b = base64::engine::general_purpose::STANDARD;
    format!(
        r#"{{"header":{{"cluster_id":14841639068965178418,"member_id":10276657743932975437,"revision":7,"raft_term":2}},"kvs":[{{"key":"{}","create_revision":7,"mod_revision":7,"version":1,"value":"{}"}}],"count":1}}"#,
        b.encode(key),
        b.encode(value)
    )
    .into_bytes()
}

#[test]
fn decrypt_accepts_etcdctl_json_and_strip_newline() {
    let cfg = config();
    let o =
        atrest(&["decrypt", "--config", &cfg, "-v"], &etcdctl_json(S1, &value("aesgcm-s1.bin")));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, plaintext_s1());
    assert!(stderr(&o).contains(S1));

    let mut with_nl = value("secretbox-s1.bin");
    with_nl.push(b'\n');
    let o = atrest(&["decrypt", "--config", &cfg, "--etcd-key", S1], &with_nl);
    assert_eq!(o.status.code(), Some(1), "a trailing newline is part of the value by default");
    let o = atrest(&["decrypt", "--config", &cfg, "--etcd-key", S1, "--strip-newline"], &with_nl);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, plaintext_s1());
}

#[test]
fn inspect_describes_values_without_keys() {
    let o = atrest(&["inspect"], &value("aesgcm-s1.bin"));
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("encrypted:  yes"), "{out}");
    assert!(out.contains("provider:   aesgcm (k8s:enc:aesgcm:v1:)"), "{out}");
    assert!(out.contains("key name:   gcm256\n"), "{out}");

    let o = atrest(&["inspect", "--format", "json"], &value("plaintext-s1.bin"));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["encrypted"], false);
    assert_eq!(j["encoding"], "protobuf");
    assert_eq!((j["api_version"].as_str(), j["kind"].as_str()), (Some("v1"), Some("Secret")));

    let o = atrest(&["inspect", "--format", "json"], &value("configmap-cm1.json"));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((j["encoding"].as_str(), j["kind"].as_str()), (Some("json"), Some("ConfigMap")));

    let o = atrest(&["inspect", "--format", "json"], b"\xd9\xd9\xf7\xa0");
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["encoding"], "cbor");
    // a map that promises one entry and ends: CBOR that does not decode
    let o = atrest(&["inspect", "--format", "json"], b"\xd9\xd9\xf7\xa1");
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["encoding"], "malformed-cbor");
    assert!(j["problem"].is_string(), "{j}");

    let o = atrest(&["inspect", "--format", "json"], b"k8s:enc:kms:v2:my-kms:\x0a\x03abc");
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((j["provider"].as_str(), j["name"].as_str()), (Some("kms v2"), Some("my-kms")));

    let o = atrest(&["inspect"], b"k8s:enc:aescbc:v1:key:2:\x00\x01");
    assert!(stdout(&o).contains("key name:   key (a guess"), "{}", stdout(&o));

    let o = atrest(&["inspect", "--format", "json"], b"k8s:enc:rot13:v1:k:abc");
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((j["encrypted"].as_bool(), j["provider"].as_str()), (Some(true), Some("unknown")));

    let o = atrest(
        &["inspect", "--format", "json"],
        &etcdctl_json("/registry/deployments/ns/d", &value("secretbox-s1.bin")),
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["etcd_key"], "/registry/deployments/ns/d");
    assert_eq!(j["resource"], "deployments.apps");
    assert_eq!((j["provider"].as_str(), j["name"].as_str()), (Some("secretbox"), Some("sb256")));
}

#[test]
fn help_teaches() {
    for cmd in ["encrypt", "decrypt", "inspect"] {
        let o = atrest(&[cmd, "--help"], b"");
        assert_eq!(o.status.code(), Some(0));
        let h = stdout(&o);
        assert!(h.contains("Exit codes") && h.contains("Example"), "{cmd}: {h}");
    }
    assert!(stdout(&atrest(&["decrypt", "--help"], b"")).contains("--strip-newline"));
}

/// `decrypt --output` holds plaintext and `encrypt --output` a stored
/// value: both are written atomically with mode 0600, and an existing file
/// or symlink is replaced only with `--force`.
#[test]
fn output_files_are_0600_and_never_replaced_without_force() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config();
    let out = dir.path().join("plain.bin");
    let o_arg = out.display().to_string();
    let decrypt = |extra: &[&str]| {
        let mut args = vec!["decrypt", "--config", &cfg, "--etcd-key", S1, "--output", &o_arg];
        args.extend_from_slice(extra);
        atrest(&args, &value("aesgcm-s1.bin"))
    };
    let o = decrypt(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert_eq!(std::fs::read(&out).unwrap(), plaintext_s1());
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    // Again: refused (exit 2), the file untouched; --force replaces it.
    std::fs::write(&out, b"keep").unwrap();
    let o = decrypt(&[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("already exists") && stderr(&o).contains("--force"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
    let o = decrypt(&["--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), plaintext_s1());
    // A symlink planted at --output is not followed.
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, b"victim").unwrap();
    std::fs::remove_file(&out).unwrap();
    std::os::unix::fs::symlink(&victim, &out).unwrap();
    assert_eq!(decrypt(&[]).status.code(), Some(2));
    assert_eq!(decrypt(&["--force"]).status.code(), Some(0));
    assert_eq!(std::fs::read(&victim).unwrap(), b"victim", "the link's target is untouched");
    assert!(!std::fs::symlink_metadata(&out).unwrap().file_type().is_symlink());
    // encrypt --output: the same rules.
    let stored = dir.path().join("stored.bin");
    let s_arg = stored.display().to_string();
    let encrypt = || {
        atrest(
            &["encrypt", "--config", &cfg, "--etcd-key", S1, "--output", &s_arg],
            &plaintext_s1(),
        )
    };
    assert_eq!(encrypt().status.code(), Some(0));
    assert_eq!(std::fs::metadata(&stored).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(encrypt().status.code(), Some(2));
}
