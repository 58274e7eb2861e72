//! The live source against real etcd: TLS with RSA and EC client keys,
//! user/password authentication, unreachable endpoints, and the CLI with the
//! ETCDCTL_* environment like etcdctl.

mod support;

use std::time::{Duration, Instant};

use atrest::etcd::live::{LiveOptions, LiveSource};
use atrest::etcd::{Query, RecordSource, SourceError};
use support::etcd::{Etcd, free_port};

fn read_all(src: &mut LiveSource) -> Vec<(Vec<u8>, Vec<u8>)> {
    src.records(&Query::current())
        .unwrap()
        .map(|r| r.map(|r| (r.key.into_owned(), r.value.into_owned())).unwrap())
        .collect()
}

#[test]
fn tls_with_rsa_and_ec_client_keys() {
    let etcd = Etcd::start_tls();
    let t = etcd.tls.as_ref().unwrap();
    etcd.ctl(&["put", "/registry/secrets/tls/s", "k8s:enc:aesgcm:v1:k:xyz"]);
    for (cert, key) in [(&t.rsa_cert, &t.rsa_key), (&t.ec_cert, &t.ec_key)] {
        let mut src = LiveSource::connect(LiveOptions {
            endpoints: vec![etcd.endpoint.clone()],
            cacert: Some(t.ca.clone()),
            cert: Some(cert.clone()),
            key: Some(key.clone()),
            ..LiveOptions::default()
        })
        .unwrap_or_else(|e| panic!("{}: {e}", key.display()));
        assert_eq!(
            read_all(&mut src),
            vec![(b"/registry/secrets/tls/s".to_vec(), b"k8s:enc:aesgcm:v1:k:xyz".to_vec())]
        );
    }
    // Without a client certificate the server refuses: an error, not a hang.
    let start = Instant::now();
    let err = LiveSource::connect(LiveOptions {
        endpoints: vec![etcd.endpoint.clone()],
        cacert: Some(t.ca.clone()),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        retries: 0,
        ..LiveOptions::default()
    })
    .err()
    .expect("no client cert must fail");
    assert!(start.elapsed() < Duration::from_secs(15), "{err}");
    // The CLI with etcdctl's environment variables.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(["records", "--format", "jsonl"])
        .env("ETCDCTL_ENDPOINTS", format!("https://{}", etcd.endpoint))
        .env("ETCDCTL_CACERT", &t.ca)
        .env("ETCDCTL_CERT", &t.ec_cert)
        .env("ETCDCTL_KEY", &t.ec_key)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["type"], "source");
    assert_eq!(lines[0]["kind"], "live");
    assert_eq!(lines[1]["key"], "/registry/secrets/tls/s");
    assert_eq!(lines[1]["class"], "encrypted:aesgcm:k");
    assert!(lines[1].get("value_b64").is_none(), "values only with --values");
}

#[test]
fn user_and_password() {
    let etcd = Etcd::start();
    etcd.ctl(&["put", "/k", "v"]);
    etcd.ctl(&["user", "add", "root:s3cret", "--interactive=false"]);
    etcd.ctl(&["auth", "enable"]);
    let opts = |user: Option<&str>, pw: Option<&str>| LiveOptions {
        endpoints: vec![etcd.endpoint.clone()],
        user: user.map(String::from),
        password: pw.map(String::from),
        retries: 0,
        ..LiveOptions::default()
    };
    let mut src = LiveSource::connect(opts(Some("root"), Some("s3cret"))).unwrap();
    assert_eq!(read_all(&mut src), vec![(b"/k".to_vec(), b"v".to_vec())]);
    let mut src = LiveSource::connect(opts(Some("root:s3cret"), None)).unwrap();
    assert_eq!(read_all(&mut src).len(), 1);
    let err = LiveSource::connect(opts(Some("root"), Some("wrong"))).err().unwrap().to_string();
    assert!(err.contains("authentication failed") || err.contains("invalid"), "{err}");
    assert!(!err.contains("wrong"), "the password never appears in errors: {err}");
    // Without credentials the read itself is refused.
    let denied = match LiveSource::connect(opts(None, None)) {
        Err(e) => e.to_string(),
        Ok(mut s) => {
            s.records(&Query::current()).unwrap().find_map(|r| r.err()).unwrap().to_string()
        }
    };
    assert!(denied.contains("user name is empty") || denied.contains("permission"), "{denied}");
}

#[test]
fn unreachable_endpoint_fails_fast_with_a_clear_error() {
    let port = free_port();
    let start = Instant::now();
    let err = LiveSource::connect(LiveOptions {
        endpoints: vec![format!("127.0.0.1:{port}")],
        connect_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_millis(500),
        retries: 1,
        ..LiveOptions::default()
    })
    .err()
    .unwrap();
    assert!(matches!(err, SourceError::Unreachable { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!("cannot reach etcd at http://127.0.0.1:{port}: ")),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    // The CLI maps it to exit code 2.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(["records", "--timeout", "1", "--endpoints", &format!("127.0.0.1:{port}")])
        .env_remove("ETCDCTL_ENDPOINTS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach etcd at"));
}
