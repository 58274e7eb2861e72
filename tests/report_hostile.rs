//! Untrusted etcd data in human reports: keys, key names and resources with
//! terminal escape sequences, line breaks, bidi overrides, Unicode
//! noncharacters and invalid UTF-8, written to a real etcd and read back
//! through a snapshot. The text reports must show them escaped (no raw
//! control byte reaches a terminal, no forged report line) and JUnit must
//! stay well-formed XML.

mod support;

use std::process::Command;

use support::etcd::Etcd;

const BIN: &str = env!("CARGO_BIN_EXE_atrest");

/// Bytes no human report may contain raw: ESC, BEL, CR, BS, U+202E, U+FFFF.
const RAW: [&[u8]; 6] =
    [b"\x1b", b"\x07", b"\r", b"\x08", "\u{202e}".as_bytes(), "\u{ffff}".as_bytes()];

fn hostile() -> Vec<(Vec<u8>, Vec<u8>)> {
    let s = |k: &str| format!("/registry/secrets/default/{k}").into_bytes();
    vec![
        (s("esc\x1b[31mRED\x1b[0m\x1b]0;pwned\x07"), b"{}".to_vec()),
        (s("nl\nresult: OK (forged)"), b"{}".to_vec()),
        (s("cr\rresult: OK"), b"{}".to_vec()),
        (s("bs\x08\x08XX"), b"{}".to_vec()),
        (s("bidi\u{202e}gnp.exe"), b"{}".to_vec()),
        (s("nonchar\u{ffff}\u{fffe}"), b"{}".to_vec()),
        ([s("bad"), b"\xff\xfe".to_vec()].concat(), b"{}".to_vec()),
        (s("enc"), b"k8s:enc:aesgcm:v1:\x1b]0;TITLE\x07key\x1b[2J\x01<&>:junk".to_vec()),
        (b"/registry/evil\x1b[31mres/default/x".to_vec(), b"{}".to_vec()),
    ]
}

fn atrest(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    [out.stdout, out.stderr].concat()
}

fn assert_no_raw_controls(what: &str, out: &[u8]) {
    for raw in RAW {
        assert!(
            !out.windows(raw.len()).any(|w| w == raw),
            "{what} shows {raw:?} raw:\n{}",
            String::from_utf8_lossy(out)
        );
    }
}

#[test]
fn hostile_keys_are_escaped_in_human_reports_and_junit_stays_xml() {
    let etcd = Etcd::start();
    etcd.put_all(&hostile());
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap.db");
    etcd.ctl(&["snapshot", "save", snap.to_str().unwrap()]);
    let snap = snap.to_str().unwrap();

    let text = atrest(&["scan", snap, "--format", "text", "--verbose"], b"");
    assert_no_raw_controls("scan text", &text);
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("esc\\u{1b}[31mRED"), "{text}");
    assert!(text.contains("nl\\nresult: OK (forged)"), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("result:")).count(), 1, "{text}");
    assert!(text.contains("aesgcm/\\u{1b}]0;TITLE\\u{7}key"), "{text}");

    // A plaintext value under secrets/ whose key is not UTF-8 is still a
    // Secret stored in plaintext (it used to be "(not an API object)").
    let json: serde_json::Value =
        serde_json::from_slice(&atrest(&["scan", snap, "--format", "json", "--quiet"], b""))
            .unwrap();
    let bad = json["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["key"].as_str().unwrap().starts_with("/registry/secrets/default/bad"))
        .expect("the non-UTF-8 key is reported");
    assert_eq!(bad["key"], "/registry/secrets/default/bad\u{fffd}\u{fffd}");
    assert_eq!(bad["resource"], "secrets", "{bad}");
    assert_eq!(bad["problems"], serde_json::json!(["plaintext"]), "{bad}");

    let junit = dir.path().join("report.xml");
    atrest(&["scan", snap, "--format", "junit", "--output", junit.to_str().unwrap()], b"");
    let parsed = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.dom.minidom as m; m.parse(sys.argv[1])",
            junit.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        parsed.status.success(),
        "JUnit is not XML: {}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    assert_no_raw_controls("junit", &std::fs::read(&junit).unwrap());

    assert_no_raw_controls("records", &atrest(&["records", snap], b""));

    // inspect: the etcdctl output of a key that is not UTF-8 is still read
    // as etcdctl output (its value is encrypted), and nothing is raw.
    let bad_enc = [b"/registry/secrets/default/encbad".to_vec(), b"\xff".to_vec()].concat();
    etcd.put_all(&[(
        bad_enc.clone(),
        b"k8s:enc:aesgcm:v1:key1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_vec(),
    )]);
    let json = etcd
        .etcdctl()
        .arg("get")
        .arg(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&bad_enc))
        .args(["-w", "json"])
        .output()
        .unwrap();
    let shown = atrest(&["inspect", "--verbose"], &json.stdout);
    assert_no_raw_controls("inspect", &shown);
    let shown = String::from_utf8_lossy(&shown);
    assert!(shown.contains("encrypted:  yes"), "{shown}");
    let json = etcd.ctl(&["get", "/registry/secrets/default/enc", "-w", "json"]);
    assert_no_raw_controls("inspect", &atrest(&["inspect"], &json));
}
