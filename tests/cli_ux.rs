//! The real binary as an operator meets it: help text, completions, man
//! pages, Prometheus output (checked by a strict exposition parser) and the
//! error messages of the common mistakes.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};

fn atrest(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(args)
        .env_remove("ETCDCTL_ENDPOINTS")
        .output()
        .expect("run atrest")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).expect("utf-8 stderr")
}

/// Every subcommand path, read from `atrest --help` and `atrest rotate --help`.
fn subcommands() -> Vec<Vec<String>> {
    fn list(args: &[&str]) -> Vec<String> {
        let help = stdout(&atrest(args));
        let mut names = Vec::new();
        let mut inside = false;
        for line in help.lines() {
            if line.starts_with("Commands:") {
                inside = true;
                continue;
            }
            if inside {
                if !line.starts_with("  ") {
                    break;
                }
                // Subcommand rows are indented by two; wrapped text by more.
                if !line.starts_with("   ") {
                    let name = line.split_whitespace().next().unwrap().to_string();
                    if name != "help" {
                        names.push(name);
                    }
                }
            }
        }
        names
    }
    let mut out = Vec::new();
    for top in list(&["--help"]) {
        let children = list(&[top.as_str(), "--help"]);
        out.push(vec![top.clone()]);
        for c in children {
            out.push(vec![top.clone(), c]);
        }
    }
    out
}

#[test]
fn every_subcommand_is_listed() {
    let names: BTreeSet<String> = subcommands().into_iter().map(|p| p.join(" ")).collect();
    for expected in [
        "encrypt",
        "decrypt",
        "inspect",
        "validate",
        "lint",
        "generate",
        "hash",
        "records",
        "scan",
        "rotate",
        "rotate status",
        "rotate prepare",
        "rotate prune",
        "completions",
        "man",
    ] {
        assert!(names.contains(expected), "{expected} missing from {names:?}");
    }
}

#[test]
fn every_help_says_exit_codes_and_gives_an_example() {
    for path in subcommands() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = atrest(&args);
        assert!(out.status.success(), "{args:?}");
        let help = stdout(&out);
        let exit = help.contains("Exit codes") || help.contains("Exit 0");
        assert!(exit, "`atrest {}` --help does not state its exit codes", path.join(" "));
        let example = help
            .lines()
            .skip_while(|l| !l.contains("Example"))
            .any(|l| l.contains(&format!("atrest {}", path.join(" "))));
        assert!(example, "`atrest {}` --help has no example running it", path.join(" "));
    }
}

#[test]
fn completions_cover_every_top_level_subcommand() {
    let top: Vec<String> =
        subcommands().into_iter().filter(|p| p.len() == 1).map(|mut p| p.remove(0)).collect();
    for shell in ["bash", "zsh", "fish"] {
        let out = atrest(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.len() > 1000, "{shell} script is too short");
        for name in &top {
            assert!(script.contains(name.as_str()), "{shell} completion lacks {name}");
        }
        assert!(script.contains("metrics-file"), "{shell} completion lacks scan flags");
    }
    let bad = atrest(&["completions", "powershell-ish"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn man_pages_for_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    let out = atrest(&["man", "--out-dir", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut expected: BTreeSet<String> =
        subcommands().into_iter().map(|p| format!("atrest-{}.1", p.join("-"))).collect();
    expected.insert("atrest.1".into());
    let written: BTreeSet<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, expected);
    let listed: BTreeSet<String> =
        stdout(&out).lines().map(|l| l.rsplit('/').next().unwrap().to_string()).collect();
    assert_eq!(listed, expected, "stdout lists every page");
    // Only the pages written now are listed, not older files in the directory.
    std::fs::write(out_dir.join("atrest-removed.1"), "old").unwrap();
    let again = atrest(&["man", "--out-dir", out_dir.to_str().unwrap()]);
    assert_eq!(stdout(&again).lines().count(), expected.len());
    let scan = std::fs::read_to_string(out_dir.join("atrest-scan.1")).unwrap();
    assert!(scan.starts_with(".ie") || scan.contains(".TH atrest-scan"), "{}", &scan[..200]);
    assert!(scan.contains("metrics\\-file"), "scan page documents its flags");
    let top = stdout(&atrest(&["man"]));
    assert!(top.contains(".TH atrest 1"), "atrest.1 on stdout");
}

// ---- Prometheus text exposition -------------------------------------------

#[derive(Debug)]
struct Family {
    kind: String,
    samples: Vec<(BTreeMap<String, String>, f64)>,
}

fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// Parses `{a="x",b="y"}` strictly; returns the labels and the rest.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = s.strip_prefix('{').ok_or("expected {")?;
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let name = &rest[..eq];
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..].strip_prefix('"').ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (_, '\n') => return Err("raw newline in label value".into()),
                (_, c) => value.push(c),
            }
        };
        if labels.insert(name.to_string(), value).is_some() {
            return Err(format!("duplicate label {name}"));
        }
        rest = &rest[end + 1..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.starts_with('}') {
            return Err("expected , or }".into());
        }
    }
}

/// A strict text-format (0.0.4) parser: HELP then TYPE once per family,
/// before its samples, samples of a family contiguous, no duplicate series.
fn parse_exposition(text: &str) -> Result<BTreeMap<String, Family>, String> {
    if !text.ends_with('\n') {
        return Err("does not end with a newline".into());
    }
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut helped = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut closed = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) =
                rest.split_once(' ').ok_or_else(|| at("HELP without text".into()))?;
            if !is_metric_name(name) || help.is_empty() || !helped.insert(name.to_string()) {
                return Err(at("bad or repeated HELP".into()));
            }
            if let Some(c) = current.replace(name.to_string()) {
                closed.insert(c);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) =
                rest.split_once(' ').ok_or_else(|| at("TYPE without kind".into()))?;
            if current.as_deref() != Some(name) || families.contains_key(name) {
                return Err(at("TYPE not right after its HELP".into()));
            }
            if !["gauge", "counter", "untyped", "summary", "histogram"].contains(&kind) {
                return Err(at(format!("unknown type {kind}")));
            }
            families.insert(name.into(), Family { kind: kind.into(), samples: Vec::new() });
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            return Err(at("unexpected comment or blank line".into()));
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        if !is_metric_name(name) {
            return Err(at("bad metric name".into()));
        }
        if current.as_deref() != Some(name) || closed.contains(name) {
            return Err(at("sample outside its family block".into()));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(at)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let value = rest.strip_prefix(' ').ok_or_else(|| at("no space before value".into()))?;
        if value.contains(' ') {
            return Err(at("timestamps are not expected".into()));
        }
        let v: f64 = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| at(format!("bad value {v:?}")))?,
        };
        let fam = families.get_mut(name).ok_or_else(|| at("sample before TYPE".into()))?;
        if fam.samples.iter().any(|(l, _)| *l == labels) {
            return Err(at("duplicate series".into()));
        }
        fam.samples.push((labels, v));
    }
    Ok(families)
}

fn value(f: &BTreeMap<String, Family>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    f.get(name)?.samples.iter().find_map(|(l, v)| {
        labels.iter().all(|(k, want)| l.get(*k).map(String::as_str) == Some(*want)).then_some(*v)
    })
}

#[test]
fn the_parser_rejects_what_prometheus_rejects() {
    let ok = "# HELP m h\n# TYPE m gauge\nm{a=\"x\\\"y\"} 1\n";
    assert!(parse_exposition(ok).is_ok());
    for bad in [
        "# HELP m h\n# TYPE m gauge\nm{a=\"x\"y\"} 1\n", // unescaped quote
        "# HELP m h\n# TYPE m gauge\nm{a=\"x\\q\"} 1\n", // bad escape
        "# HELP m h\n# TYPE m gauge\nm 1\nm 2\n",        // duplicate series
        "# TYPE m gauge\nm 1\n",                         // no HELP
        "# HELP m h\n# TYPE m gauge\nm one\n",           // bad value
        "# HELP m h\n# TYPE m gauge\nm 1",               // no final newline
        "# HELP m h\n# TYPE m gauge\nn 1\n",             // sample of another family
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn scan_prometheus_matches_the_json_census_and_escapes_labels() {
    // A source path with a quote and a backslash lands in a label value.
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap \"q\" \\b.db");
    std::fs::copy("fixtures/etcd/snapshot.db", &snap).unwrap();
    let snap = snap.to_str().unwrap();
    let prom = atrest(&["scan", snap, "--format", "prometheus"]);
    assert_eq!(prom.status.code(), Some(1), "the fixture holds a plaintext Secret");
    let text = stdout(&prom);
    let f = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let json = atrest(&["scan", snap, "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let census = &doc["summary"]["census"];

    for fam in f.values() {
        assert_eq!(fam.kind, "gauge");
    }
    // Objects: per resource and state, the sums equal the census.
    let objects = &f["atrest_objects"].samples;
    let total: f64 = objects.iter().map(|(_, v)| v).sum();
    assert_eq!(total, census["objects"].as_f64().unwrap());
    for (resource, states) in census["by_resource"].as_object().unwrap() {
        for (state, n) in states.as_object().unwrap() {
            let sum: f64 = objects
                .iter()
                .filter(|(l, _)| l["resource"] == *resource && l["state"] == *state)
                .map(|(_, v)| v)
                .sum();
            assert_eq!(sum, n.as_f64().unwrap(), "{resource} {state}");
        }
    }
    for (l, _) in objects {
        let keys: Vec<&str> = l.keys().map(String::as_str).collect();
        assert_eq!(keys, ["key", "provider", "resource", "state"]);
    }
    assert_eq!(
        value(
            &f,
            "atrest_objects",
            &[("resource", "secrets"), ("provider", "aescbc"), ("key", "key1")]
        ),
        Some(1.0)
    );
    // Violations: every class, equal to the census.
    for class in ["plaintext", "undecryptable", "stale", "unknown", "history-leak"] {
        let want = census["problems"][class].as_f64().unwrap_or(0.0);
        assert_eq!(value(&f, "atrest_violations", &[("class", class)]), Some(want), "{class}");
    }
    assert_eq!(value(&f, "atrest_scan_failed", &[]), Some(1.0));
    assert_eq!(value(&f, "atrest_scan_revision", &[]), doc["header"]["revision"].as_f64(),);
    assert_eq!(
        value(&f, "atrest_scan_info", &[("source", snap)]),
        Some(1.0),
        "escaped source label"
    );
    assert!(text.contains(r#"snap \"q\" \\b.db"#), "{text}");
    let ts = value(&f, "atrest_scan_timestamp_seconds", &[]).unwrap();
    assert!(ts > 1.6e9, "{ts}");
    assert!(!f.contains_key("atrest_config_info"), "no config, no config_info");
}

#[test]
fn scan_writes_a_metrics_file_beside_the_json_report() {
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("atrest.prom");
    let json = dir.path().join("scan.json");
    let out = atrest(&[
        "scan",
        "fixtures/etcd/snapshot.db",
        "--config",
        "fixtures/vectors/config.yaml",
        "--format",
        "json",
        "--output",
        json.to_str().unwrap(),
        "--metrics-file",
        prom.to_str().unwrap(),
        "--fail-on",
        "none",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let names: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, BTreeSet::from(["atrest.prom".to_string(), "scan.json".to_string()]));
    let f = parse_exposition(&std::fs::read_to_string(&prom).unwrap()).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let hash = doc["header"]["config_hash"].as_str().unwrap();
    assert!(hash.starts_with("sha256:"));
    assert_eq!(value(&f, "atrest_config_info", &[("hash", hash)]), Some(1.0));
    assert_eq!(value(&f, "atrest_scan_failed", &[]), Some(0.0), "--fail-on none");
    let undecryptable =
        doc["summary"]["census"]["problems"]["undecryptable"].as_f64().unwrap_or(0.0);
    assert_eq!(value(&f, "atrest_violations", &[("class", "undecryptable")]), Some(undecryptable));
}

#[test]
fn rotate_status_prometheus_has_one_stage_per_entry() {
    let out = atrest(&[
        "rotate",
        "status",
        "fixtures/rotation/multi.yaml",
        "--evidence",
        "fixtures/rotation/evidence-multi.json",
        "--format",
        "prometheus",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let f = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let json = atrest(&[
        "rotate",
        "status",
        "fixtures/rotation/multi.yaml",
        "--evidence",
        "fixtures/rotation/evidence-multi.json",
        "--format",
        "json",
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let entries = doc["files"][0]["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    for e in entries {
        let entry = e["entry"].to_string();
        let stage = e["stage"].as_str().unwrap();
        let series: Vec<_> = f["atrest_rotation_stage"]
            .samples
            .iter()
            .filter(|(l, _)| l["entry"] == entry)
            .collect();
        assert_eq!(series.len(), 4, "one series per stage");
        let on: Vec<&str> =
            series.iter().filter(|(_, v)| *v == 1.0).map(|(l, _)| l["stage"].as_str()).collect();
        assert_eq!(on, [stage], "entry {entry}");
        for c in e["counts"].as_array().unwrap() {
            let slot = c["label"].as_str().unwrap();
            assert_eq!(
                value(&f, "atrest_rotation_objects", &[("entry", &entry), ("slot", slot)]),
                c["objects"].as_f64(),
            );
        }
    }
    assert_eq!(value(&f, "atrest_rotation_files_identical", &[]), Some(1.0));
    // Two different files: not identical, exit 1.
    let out = atrest(&[
        "rotate",
        "status",
        "fixtures/rotation/aescbc.yaml",
        "fixtures/rotation/secretbox.yaml",
        "--format",
        "prometheus",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let f = parse_exposition(&stdout(&out)).unwrap();
    assert_eq!(value(&f, "atrest_rotation_files_identical", &[]), Some(0.0));
    assert!(!f.contains_key("atrest_rotation_objects"), "no evidence, no object counts");
}

// ---- error messages of common mistakes --------------------------------------

/// Short (one or two lines plus an optional hint), prefixed, exit 2 unless said.
fn assert_short_error(out: &Output, code: i32, must: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.lines().count() <= 3, "too long:\n{err}");
    for m in must {
        assert!(err.contains(m), "{m:?} not in:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn missing_file_names_it_once_and_says_what_to_check() {
    let out = atrest(&["scan", "no/such/snapshot.db"]);
    let err = assert_short_error(&out, 2, &["no/such/snapshot.db", "hint: check the path"]);
    assert_eq!(err.matches("No such file").count(), 1, "cause repeated:\n{err}");
    let out = atrest(&["validate", "no/such/enc.yaml"]);
    assert_short_error(&out, 2, &["no/such/enc.yaml"]);
}

#[test]
fn invalid_config_points_at_validate() {
    let out = atrest(&[
        "scan",
        "fixtures/etcd/snapshot.db",
        "--config",
        "fixtures/configs/invalid/empty.yaml",
    ]);
    assert_short_error(&out, 2, &["invalid EncryptionConfiguration", "atrest validate"]);
}

#[test]
fn unreachable_etcd_says_where_and_what_to_check() {
    let out = atrest(&["scan", "--endpoints", "127.0.0.1:1", "--timeout", "1"]);
    assert_short_error(
        &out,
        2,
        &["cannot reach etcd at", "127.0.0.1:1", "hint: check --endpoints"],
    );
}

#[test]
fn wrong_key_is_a_failed_check_not_a_crash() {
    // The value was sealed with fixtures/vectors/config.yaml's key; aesgcm.yaml
    // has another key of the same name space.
    let out = atrest(&[
        "decrypt",
        "--config",
        "fixtures/rotation/aesgcm.yaml",
        "--etcd-key",
        "/registry/secrets/default/s1",
        "--input",
        "fixtures/vectors/values/aesgcm-s1.bin",
    ]);
    assert_short_error(&out, 1, &["/registry/secrets/default/s1", "did not decrypt", "wrong key"]);
    assert!(out.stdout.is_empty(), "no plaintext on failure");
}

#[test]
fn bad_flag_value_lists_the_choices() {
    let out = atrest(&["scan", "fixtures/etcd/snapshot.db", "--format", "prom"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("prometheus"), "{err}");
}

#[test]
fn no_colour_or_progress_when_not_a_terminal() {
    let out = Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(["scan", "fixtures/etcd/snapshot.db", "--nonsense"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!out.stderr.contains(&0x1b), "ANSI escape with NO_COLOR");
    let out = atrest(&["scan", "fixtures/etcd/snapshot.db"]);
    assert!(!out.stderr.contains(&0x1b) && !out.stdout.contains(&0x1b), "ANSI escape on a pipe");
    assert!(!stderr(&out).contains("records read"), "progress bar on a pipe");
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    // `atrest scan ... | head -c0`: the reader is gone before atrest writes.
    let mut child = Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(["scan", "fixtures/etcd/snapshot.db", "--format", "json", "--fail-on", "none"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("error") && !err.contains("panicked"), "{err}");
}

#[test]
fn a_failed_scan_leaves_no_metrics_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("atrest.prom");
    let mut child = Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(["scan", "fixtures/etcd/snapshot.db", "--format", "json", "--metrics-file"])
        .arg(&prom)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // Either the report was written before the pipe closed (then both files
    // are complete) or the scan failed (then neither file exists).
    if left.is_empty() {
        assert_eq!(out.status.code(), Some(0), "broken pipe is quiet");
    } else {
        assert_eq!(left, ["atrest.prom"], "no .tmp left behind");
    }
}
