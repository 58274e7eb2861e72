//! The global `--quiet` and `--verbose` flags, with the real binary: one
//! meaning for every subcommand (docs/exit-codes.md, "How much atrest says").
//!
//! --quiet: stderr has errors and warnings only; stdout and exit code unchanged.
//! --verbose: stderr also has details (what was opened, which key name read a
//! value, timing), never key material or plaintext.

mod support;

use std::path::Path;
use std::process::{Command, Output};

fn atrest_in(args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write as _;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_atrest"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("ETCDCTL_ENDPOINTS")
        .env_remove("ATREST_ARCHIVE_PASSPHRASE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run atrest");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn atrest(args: &[&str]) -> Output {
    atrest_in(args, None)
}

fn err(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 stderr")
}

fn with(args: &[&str], flag: &str) -> Vec<String> {
    let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    v.push(flag.to_string());
    v
}

fn run(args: &[String], stdin: Option<&[u8]>) -> Output {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    atrest_in(&refs, stdin)
}

const SNAPSHOT: &str = "fixtures/scan/snapshot.db";
const SCAN_CONFIG: &str = "fixtures/scan/config.yaml";
const VECTORS_CONFIG: &str = "fixtures/vectors/config.yaml";
const GCM_S1: &str = "fixtures/vectors/values/aesgcm-s1.bin";
const S1: &str = "/registry/secrets/default/s1";

/// The secrets of the test configs (base64, as in the files): verbose output
/// must never contain one.
fn config_secrets() -> Vec<String> {
    let mut out = Vec::new();
    for cfg in [SCAN_CONFIG, VECTORS_CONFIG] {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(cfg)).unwrap();
        for line in text.lines() {
            if let Some(s) = line.trim().strip_prefix("secret:") {
                out.push(s.trim().to_string());
            }
        }
    }
    assert!(out.len() >= 5, "the test configs hold keys: {out:?}");
    out
}

#[test]
fn quiet_and_verbose_together_are_a_usage_error() {
    for args in [
        &["-q", "-v", "hash", "README.md"][..],
        &["--quiet", "hash", "README.md", "--verbose"][..],
        &["-v", "rotate", "-q", "status", "README.md"][..],
        &["scan", SNAPSHOT, "-q", "-v"][..],
    ] {
        let o = atrest(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = err(&o);
        assert!(e.contains("cannot be used with"), "{args:?}: {e}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn the_flags_work_before_and_after_the_subcommand() {
    for args in [&["-v", "hash", "README.md"][..], &["hash", "README.md", "--verbose"][..]] {
        let o = atrest(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        let e = err(&o);
        assert!(e.contains("atrest: README.md: ") && e.contains(" bytes"), "{args:?}: {e}");
        assert!(e.contains("atrest: hash finished in "), "{args:?}: {e}");
    }
    for args in [
        &["-q", "rotate", "status", SCAN_CONFIG][..],
        &["rotate", "status", SCAN_CONFIG, "-q"][..],
        &["rotate", "-q", "status", SCAN_CONFIG][..],
    ] {
        assert!(atrest(args).status.code().is_some_and(|c| c < 2), "{args:?}");
    }
}

/// (name for the timing line, args, stdin, stdout is deterministic)
type Case<'a> = (&'a str, Vec<String>, Option<&'a [u8]>, bool);

/// Every subcommand, run for real three ways: quiet stderr is empty
/// (these runs have no error or warning), verbose stderr ends with the
/// timing line, stdout and exit code do not depend on the flag.
#[test]
fn every_subcommand_honours_both_flags() {
    let dir = tempfile::tempdir().unwrap();
    // A steady config (rotate prepare plans a change), and a prepared one
    // (rotate promote plans a change).
    let cfg = dir.path().join("enc.yaml").to_str().unwrap().to_string();
    let prepared = dir.path().join("prepared.yaml").to_str().unwrap().to_string();
    for (path, write) in [(&cfg, false), (&prepared, true)] {
        assert_eq!(atrest(&["generate", "-o", path]).status.code(), Some(0));
        if write {
            assert_eq!(atrest(&["rotate", "prepare", path, "--write"]).status.code(), Some(0));
        }
    }
    let man_dir = dir.path().join("man");
    let man_dir = man_dir.to_str().unwrap().to_string();
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let cases: Vec<Case> = vec![
        ("scan", s(&["scan", SNAPSHOT, "--config", SCAN_CONFIG, "--format", "json"]), None, true),
        (
            "extract",
            s(&[
                "extract",
                SNAPSHOT,
                "--config",
                SCAN_CONFIG,
                "--etcd-key",
                "/registry/secrets/default/gcm-current",
            ]),
            None,
            true,
        ),
        ("validate", s(&["validate", VECTORS_CONFIG]), None, true),
        ("lint", s(&["lint", VECTORS_CONFIG, "--format", "json"]), None, true),
        ("generate", s(&["generate"]), None, false),
        ("rotate", s(&["rotate", "status", &cfg]), None, true),
        ("rotate", s(&["rotate", "prepare", &cfg]), None, false),
        ("rotate", s(&["rotate", "promote", &prepared]), None, true),
        ("rotate", s(&["rotate", "runbook", &cfg]), None, true),
        ("rotate", s(&["rotate", "prune", &cfg, "--scan", SNAPSHOT]), None, true),
        (
            "encrypt",
            s(&["encrypt", "--config", VECTORS_CONFIG, "--etcd-key", S1]),
            Some(b"x"),
            false,
        ),
        (
            "decrypt",
            s(&["decrypt", "--config", VECTORS_CONFIG, "--etcd-key", S1, "--input", GCM_S1]),
            None,
            true,
        ),
        ("inspect", s(&["inspect", "--input", GCM_S1]), None, true),
        ("records", s(&["records", SNAPSHOT]), None, true),
        ("hash", s(&["hash", VECTORS_CONFIG]), None, true),
        ("completions", s(&["completions", "fish"]), None, true),
        ("man", s(&["man", "--out-dir", &man_dir]), None, true),
    ];
    let secrets = config_secrets();
    for (name, args, stdin, deterministic) in cases {
        let normal = run(&args, stdin);
        let quiet = run(&with(&args.iter().map(String::as_str).collect::<Vec<_>>(), "-q"), stdin);
        let verbose =
            run(&with(&args.iter().map(String::as_str).collect::<Vec<_>>(), "--verbose"), stdin);
        let code = normal.status.code();
        assert!(code.is_some_and(|c| c < 2), "{args:?}: {code:?} {}", err(&normal));
        assert_eq!(quiet.status.code(), code, "{args:?} -q");
        assert_eq!(verbose.status.code(), code, "{args:?} -v");
        assert_eq!(err(&quiet), "", "{args:?}: --quiet printed on stderr");
        let v = err(&verbose);
        let last = v.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!("atrest: {name} finished in "))
                && last.ends_with(&format!("(exit {})", code.unwrap())),
            "{args:?}: {v}"
        );
        assert!(v.lines().count() >= 2, "{args:?}: verbose says more than the timing: {v}");
        for secret in &secrets {
            assert!(!v.contains(secret.as_str()), "{args:?}: verbose printed a key");
        }
        if deterministic {
            assert_eq!(quiet.stdout, normal.stdout, "{args:?}: --quiet changed stdout");
            assert_eq!(verbose.stdout, normal.stdout, "{args:?}: --verbose changed stdout");
        } else {
            assert_eq!(quiet.stdout.is_empty(), normal.stdout.is_empty(), "{args:?}");
        }
    }
}

#[test]
fn quiet_drops_notes_verbose_adds_details() {
    // encrypt: a resource no entry covers gets a note.
    let args = ["encrypt", "--config", VECTORS_CONFIG, "--etcd-key", "/registry/configmaps/ns/cm"];
    let normal = atrest_in(&args, Some(b"payload"));
    let quiet = atrest_in(
        &with(&args, "--quiet").iter().map(String::as_str).collect::<Vec<_>>(),
        Some(b"payload"),
    );
    assert_eq!(
        err(&normal),
        "atrest: note: configmaps is not covered by the config; the value stays plaintext\n"
    );
    assert_eq!(err(&quiet), "");
    assert_eq!(quiet.stdout, b"payload");
    assert_eq!(normal.stdout, b"payload");

    // encrypt --verbose names the provider/key that sealed it, not the key.
    let args = ["encrypt", "--config", VECTORS_CONFIG, "--etcd-key", S1, "-v"];
    let o = atrest_in(&args, Some(b"payload"));
    let e = err(&o);
    assert!(e.contains("7 plaintext bytes stored as") && e.contains("by aesgcm/gcm256"), "{e}");
    assert!(!e.contains("payload"), "{e}");

    // extract: a stale value gets a note; verbose says where it came from.
    let args = [
        "extract",
        SNAPSHOT,
        "--config",
        SCAN_CONFIG,
        "--etcd-key",
        "/registry/secrets/default/gcm-key1b",
    ];
    let note = "atrest: note: /registry/secrets/default/gcm-key1b is stale (read with key \"key1b\", not the config's first key)\n";
    assert_eq!(err(&atrest(&args)), note);
    let quiet = atrest(&with(&args, "-q").iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(quiet.status.code(), Some(0));
    assert_eq!(err(&quiet), "");
    let v = err(&atrest(&with(&args, "-v").iter().map(String::as_str).collect::<Vec<_>>()));
    assert!(v.contains("atrest: opened fixtures/scan/snapshot.db in "), "{v}");
    assert!(v.contains("found /registry/secrets/default/gcm-key1b at revision "), "{v}");
    assert!(v.contains("(secrets) read with aesgcm/key1b from config"), "{v}");
    assert!(v.contains(note.trim_end()), "verbose keeps the notes: {v}");

    // scan --verbose says which implementation decrypts aesgcm keys of each length.
    let v = err(&atrest(&["scan", SNAPSHOT, "--config", SCAN_CONFIG, "--fail-on", "none", "-v"]));
    let backends: Vec<&str> =
        v.lines().filter(|l| l.contains("-bit keys decrypt on the")).collect();
    assert!(!backends.is_empty(), "{v}");
    for line in backends {
        assert!(
            line.ends_with("(graviola) backend") || line.ends_with("(RustCrypto) backend"),
            "{line}"
        );
        if line.contains(" 192-bit ") {
            assert!(line.ends_with("(RustCrypto) backend"), "AES-192 runs portable: {line}");
        }
    }

    // decrypt: silent by default, -v (now global) says which key read it.
    let args = ["decrypt", "--config", VECTORS_CONFIG, "--etcd-key", S1, "--input", GCM_S1];
    let normal = atrest(&args);
    assert_eq!(normal.status.code(), Some(0));
    assert_eq!(err(&normal), "");
    for v in [
        atrest(&with(&args, "-v").iter().map(String::as_str).collect::<Vec<_>>()),
        atrest(&[&["-v"][..], &args[..]].concat()),
    ] {
        let e = err(&v);
        assert!(
            e.contains(&format!("atrest: {S1} (secrets): read by aesgcm/gcm256, current")),
            "{e}"
        );
        assert_eq!(v.stdout, normal.stdout);
    }
}

#[test]
fn quiet_keeps_errors_but_drops_hints() {
    // A missing file: the error stays, the hint goes; the exit code stays 2.
    let normal = atrest(&["hash", "no/such/file"]);
    let quiet = atrest(&["-q", "hash", "no/such/file"]);
    assert_eq!(normal.status.code(), Some(2));
    assert_eq!(quiet.status.code(), Some(2));
    let (n, q) = (err(&normal), err(&quiet));
    assert!(n.starts_with("atrest: error: cannot read no/such/file"), "{n}");
    assert!(n.contains("\nhint: check the path"), "{n}");
    assert_eq!(q, n.lines().next().unwrap().to_string() + "\n");

    // An invalid config: the error carries its own hint line.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "kind: EncryptionConfiguration\n").unwrap();
    let bad = bad.to_str().unwrap();
    let args = ["scan", SNAPSHOT, "--config", bad];
    let n = err(&atrest(&args));
    let quiet = atrest(&with(&args, "--quiet").iter().map(String::as_str).collect::<Vec<_>>());
    let q = err(&quiet);
    assert_eq!(quiet.status.code(), Some(2));
    assert!(n.contains(&format!("hint: run `atrest validate {bad}` for details")), "{n}");
    assert!(q.starts_with("atrest: error: ") && !q.contains("hint:"), "{q}");
    assert_eq!(n.replace(&format!("hint: run `atrest validate {bad}` for details\n"), ""), q);

    // A failed check explains itself on stderr even with --quiet (exit 1).
    let wrong = ["decrypt", "--config", SCAN_CONFIG, "--etcd-key", S1, "--input", GCM_S1, "-q"];
    let o = atrest(&wrong);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("did not decrypt"), "{}", err(&o));
}

#[test]
fn scan_verbose_lists_objects_and_says_what_it_read() {
    let args = ["scan", SNAPSHOT, "--config", SCAN_CONFIG];
    let normal = atrest(&args);
    let verbose = atrest(&with(&args, "-v").iter().map(String::as_str).collect::<Vec<_>>());
    let quiet = atrest(&with(&args, "-q").iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(normal.status.code(), Some(1));
    assert_eq!(verbose.status.code(), Some(1));
    assert_eq!(quiet.stdout, normal.stdout);
    assert_eq!(err(&quiet), "");
    // Per-object lines in the text report (scan's -v of old, kept).
    let (n, v) =
        (String::from_utf8_lossy(&normal.stdout), String::from_utf8_lossy(&verbose.stdout));
    assert!(!n.contains("default/gcm-current"), "{n}");
    assert!(
        v.lines()
            .any(|l| l.starts_with("encrypted ") && l.ends_with("secrets default/gcm-current")),
        "{v}"
    );
    let e = err(&verbose);
    assert!(e.contains(&format!("atrest: config {SCAN_CONFIG} (sha256:")), "{e}");
    assert!(e.contains("atrest: opened fixtures/scan/snapshot.db in "), "{e}");
    assert!(e.contains("atrest: scanned 16 objects (0 older revisions) in "), "{e}");
}

#[test]
fn help_documents_the_flags() {
    let top = String::from_utf8(atrest(&["--help"]).stdout).unwrap();
    assert!(top.contains("-q, --quiet") && top.contains("-v, --verbose"), "{top}");
    assert!(top.contains("work with every subcommand"), "{top}");
    for sub in ["scan", "rotate", "hash", "completions"] {
        let help = String::from_utf8(atrest(&[sub, "--help"]).stdout).unwrap();
        assert!(help.contains("-q, --quiet") && help.contains("-v, --verbose"), "{sub}: {help}");
    }
}

#[test]
fn a_live_etcd_source_says_what_it_opened() {
    let mut etcd = support::etcd::Etcd::start();
    etcd.ctl(&["put", "/registry/configmaps/default/v", "{}"]);
    let endpoint = format!("http://{}", etcd.endpoint);
    let args = ["records", "--endpoints", &endpoint, "--prefix", "/registry/"];
    let normal = atrest(&args);
    let quiet = atrest(&with(&args, "-q").iter().map(String::as_str).collect::<Vec<_>>());
    let verbose = atrest(&with(&args, "-v").iter().map(String::as_str).collect::<Vec<_>>());
    etcd.stop();
    assert_eq!(normal.status.code(), Some(0), "{}", err(&normal));
    assert_eq!(err(&normal), "");
    assert_eq!(err(&quiet), "");
    assert_eq!(quiet.stdout, normal.stdout);
    assert_eq!(verbose.stdout, normal.stdout);
    let v = err(&verbose);
    assert!(v.contains(&format!("atrest: opened {endpoint} in ")), "{v}");
    assert!(v.contains(": Live, revision "), "{v}");
    assert!(v.contains("atrest: listed 1 records (0 tombstones, 0 unreadable) in "), "{v}");
}
