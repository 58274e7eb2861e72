//! The live source against real etcd: TLS with RSA and EC client keys,
//! user/password authentication, unreachable endpoints, the CLI with the
//! ETCDCTL_* environment like etcdctl, and paging: every key exactly once
//! whatever the page size (keys at page edges, at the prefix's edges, empty
//! prefixes), responses above gRPC's usual 4 MiB, a value above the receive
//! limit, writes during a scan hidden by the pinned revision, and a server
//! that dies mid-scan.

mod support;

use std::time::{Duration, Instant};

use atrest::etcd::live::{LiveOptions, LiveSource};
use atrest::etcd::{Query, RecordSource, SourceError};
use support::etcd::{Etcd, free_port, free_port_except};

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

fn live(endpoint: &str, page_size: i64, page_bytes: u64) -> LiveSource {
    LiveSource::connect(LiveOptions {
        endpoints: vec![endpoint.to_string()],
        page_size,
        page_bytes,
        ..LiveOptions::default()
    })
    .unwrap()
}

fn read(src: &mut LiveSource, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    src.records(&Query::current().with_prefix(prefix.to_vec()))
        .unwrap()
        .map(|r| r.map(|r| (r.key.into_owned(), r.value.into_owned())).unwrap())
        .collect()
}

/// A value of `len` bytes that differs per `seed`.
fn value(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seed.wrapping_mul(31).wrapping_add(i * 7) % 251) as u8).collect()
}

#[test]
fn every_key_exactly_once_whatever_the_page_size() {
    let etcd = Etcd::start();
    // 1003 keys under /p/: the prefix itself, 1000 numbered keys with values
    // of 0..=299 bytes, and two keys of 0xff bytes; around them keys just
    // outside the prefix on both sides ("/p", "/p.", and "/p0", the range end).
    let mut inside: Vec<(Vec<u8>, Vec<u8>)> = vec![(b"/p/".to_vec(), b"prefix".to_vec())];
    inside.extend((0..1000).map(|i| (format!("/p/{i:04}").into_bytes(), value(i, i % 300))));
    inside.push((b"/p/\xff".to_vec(), value(1, 10)));
    inside.push((b"/p/\xff\xff".to_vec(), value(2, 10)));
    let outside: Vec<(Vec<u8>, Vec<u8>)> = [&b"/p"[..], b"/p.", b"/p0", b"/q/x", b"\x00"]
        .iter()
        .map(|k| (k.to_vec(), b"out".to_vec()))
        .collect();
    etcd.put_all(&outside);
    etcd.put_all(&inside);
    inside.sort();
    let mut all = [inside.clone(), outside].concat();
    all.sort();
    assert_eq!(inside.len(), 1003);

    // Fixed key counts: one key a page, a divisor of 1003 (= 17 x 59: the
    // last page ends exactly at the last key), a non-divisor, exactly one
    // page, one more than the keys; then byte-sized pages (2 KiB, so many
    // pages of a few keys, and 100 bytes: one key a page) and the default.
    for (page_size, page_bytes) in
        [(1, 0), (17, 0), (10, 0), (1003, 0), (1004, 0), (100_000, 2048), (100_000, 100)]
            .into_iter()
            .chain([(LiveOptions::default().page_size, LiveOptions::default().page_bytes)])
    {
        let mut src = live(&etcd.endpoint, page_size, page_bytes);
        let what = format!("page_size {page_size}, page_bytes {page_bytes}");
        assert_eq!(read(&mut src, b"/p/"), inside, "{what}");
        assert_eq!(read(&mut src, b"/none/"), vec![], "{what}: a prefix without keys");
        assert_eq!(read(&mut src, b""), all, "{what}: the whole keyspace");
    }
    // The CLI flag: 1 KiB pages (a few keys each) give every record once.
    let cli = |page: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_atrest"))
            .args(["records", "--format", "jsonl", "--prefix", "/p/", "--page-bytes", page])
            .args(["--endpoints", &etcd.endpoint])
            .output()
            .unwrap()
    };
    let out = cli("1KiB");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["key"].to_string())
        .collect();
    assert_eq!(keys.len(), 1003);
    assert_eq!(keys[1], "\"/p/0000\"");
    let out = cli("0");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 1 byte"));
}

#[test]
fn responses_above_4_mib_and_a_value_above_the_receive_limit() {
    // Requests up to 8 MiB (one value of 5 MiB below).
    let etcd = Etcd::start_with(&["--max-request-bytes", "8388608"]);
    // 12 values of 512 KiB: 6 MiB, more than gRPC's default 4 MiB receive
    // limit, in one response with the default 16 MiB pages.
    let mut big: Vec<(Vec<u8>, Vec<u8>)> =
        (0..12).map(|i| (format!("/b/{i:02}").into_bytes(), value(i, 512 << 10))).collect();
    etcd.put_all(&big);
    let mut src = live(&etcd.endpoint, 100_000, 16 << 20);
    assert_eq!(read(&mut src, b"/b/"), big, "one 6 MiB response");
    // With 1 MiB pages the receive limit is 4 MiB: the first request (256
    // keys, 6 MiB) is refused by the client and halved until it fits.
    let mut src = live(&etcd.endpoint, 100_000, 1 << 20);
    assert_eq!(read(&mut src, b"/b/"), big, "halved pages");
    // One value of 5 MiB: readable with the default pages, and with 1 MiB
    // pages (4 MiB limit) a clear error that names the fix, not a hang.
    big.push((b"/b/huge".to_vec(), value(99, 5 << 20)));
    etcd.put_all(&big[12..]);
    let mut src = live(&etcd.endpoint, 100_000, 16 << 20);
    assert_eq!(read(&mut src, b"/b/"), big, "a 5 MiB value");
    let mut src = live(&etcd.endpoint, 100_000, 1 << 20);
    let start = Instant::now();
    let got: Vec<_> =
        src.records(&Query::current().with_prefix(b"/b/".to_vec())).unwrap().collect();
    assert_eq!(got.len(), 13, "12 values, then the error");
    assert!(got[..12].iter().all(|r| r.is_ok()));
    let err = got[12].as_ref().expect_err("an error for the 5 MiB value").to_string();
    assert!(err.contains("larger than the receive limit") && err.contains("--page-bytes"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn writes_during_a_scan_stay_invisible_and_a_dropped_scan_stops() {
    let etcd = Etcd::start();
    let kvs: Vec<(Vec<u8>, Vec<u8>)> =
        (0..2000).map(|i| (format!("/w/{i:04}").into_bytes(), value(i, 100))).collect();
    let pinned = etcd.put_all(&kvs);
    // Small pages: many requests after the writes below.
    let mut src = live(&etcd.endpoint, 50, 0);
    assert_eq!(src.info().revision, Some(pinned));
    let mut it = src.records(&Query::current().with_prefix(b"/w/".to_vec())).unwrap();
    let first = it.next().unwrap().unwrap();
    // Overwrite every 10th key, add keys between them, delete a range.
    let mut later: Vec<(Vec<u8>, Vec<u8>)> = (0..2000)
        .step_by(10)
        .map(|i| (format!("/w/{i:04}").into_bytes(), b"new".to_vec()))
        .collect();
    later.extend(
        (0..2000).step_by(7).map(|i| (format!("/w/{i:04}-late").into_bytes(), b"l".to_vec())),
    );
    etcd.put_all(&later);
    etcd.ctl(&["del", "/w/1500", "/w/1600"]);
    let mut got = vec![(first.key.into_owned(), first.value.into_owned())];
    for r in it {
        let r = r.unwrap();
        assert!(
            r.mod_revision <= pinned,
            "{} at {}",
            String::from_utf8_lossy(&r.key),
            r.mod_revision
        );
        got.push((r.key.into_owned(), r.value.into_owned()));
    }
    assert_eq!(got, kvs, "exactly the keys and values at the pinned revision");
    // A scan dropped after a few records stops its fetcher; the next one
    // reads everything again.
    let some: Vec<_> = src.records(&Query::current()).unwrap().take(5).collect();
    assert_eq!(some.len(), 5);
    assert_eq!(read(&mut src, b"/w/"), kvs);
}

#[test]
fn a_server_that_dies_mid_scan_gives_an_error_not_a_hang() {
    let mut etcd = Etcd::start();
    let kvs: Vec<(Vec<u8>, Vec<u8>)> =
        (0..3000).map(|i| (format!("/d/{i:04}").into_bytes(), value(i, 50))).collect();
    etcd.put_all(&kvs);
    let mut src = LiveSource::connect(LiveOptions {
        endpoints: vec![etcd.endpoint.clone()],
        page_size: 10,
        page_bytes: 0,
        connect_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        retries: 1,
        ..LiveOptions::default()
    })
    .unwrap();
    let mut it = src.records(&Query::current()).unwrap();
    assert!(it.next().unwrap().is_ok());
    etcd.stop();
    let start = Instant::now();
    let mut ok = 1;
    let err = loop {
        match it.next() {
            Some(Ok(_)) => ok += 1,
            Some(Err(e)) => break e,
            None => panic!("the scan ended without an error after {ok} of 3000 keys"),
        }
    };
    assert!(ok < 3000);
    assert!(matches!(err, SourceError::Unreachable { .. } | SourceError::Live { .. }), "{err:?}");
    assert!(err.to_string().contains(&etcd.endpoint), "{err}");
    assert!(it.next().is_none(), "nothing after the error");
    assert!(start.elapsed() < Duration::from_secs(15), "{:?}", start.elapsed());
}

/// The harness's answer to a port race: etcd started on a client port that
/// something else holds exits, and the launch reports it (so `Etcd::start`
/// retries on new ports) instead of waiting out the health timeout or
/// taking the other listener's answers for its own.
#[test]
fn a_launch_on_a_taken_port_is_reported_not_waited_out() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port();
    let peer = free_port_except(taken);
    let started = std::time::Instant::now();
    assert!(Etcd::launch_on(false, &[], taken, peer).is_none(), "etcd started on a taken port");
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "the exit was not noticed");
    drop(holder);
}
