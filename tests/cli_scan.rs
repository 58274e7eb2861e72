//! `atrest scan` as a user runs it (real binary, `fixtures/scan` made by a
//! real etcd): exit codes, every output format parses and agrees with the
//! generator's expectations, filters, --output, the documented JSON schema,
//! and that no output ever carries plaintext or key material.

use std::collections::BTreeSet;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_atrest");
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/scan");

fn atrest(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("ETCDCTL_ENDPOINTS").output().unwrap()
}

fn snap() -> String {
    format!("{DIR}/snapshot.db")
}

fn cfg() -> String {
    format!("{DIR}/config.yaml")
}

fn scan(extra: &[&str]) -> Output {
    let (s, c) = (snap(), cfg());
    let mut args = vec!["scan", s.as_str(), "--config", c.as_str()];
    args.extend_from_slice(extra);
    atrest(&args)
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{DIR}/{name}")).unwrap()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn exit_codes() {
    assert_eq!(scan(&[]).status.code(), Some(1), "plaintext + undecryptable fail by default");
    assert_eq!(scan(&["--fail-on", "none"]).status.code(), Some(0));
    assert_eq!(scan(&["--fail-on", "history-leak"]).status.code(), Some(0), "no history pass");
    assert_eq!(scan(&["--fail-on", "history-leak", "--all-revisions"]).status.code(), Some(1));
    assert_eq!(scan(&["--fail-on", "stale"]).status.code(), Some(1));
    // Only clean resources selected: nothing fails.
    assert_eq!(
        scan(&["--resource", "pods", "--resource", "deployments.apps"]).status.code(),
        Some(0)
    );

    let o = atrest(&["scan", "/nonexistent/snapshot.db"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/snapshot.db"), "{}", stderr(&o));
    let o = scan(&["--fail-on", "bogus"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bogus"));
    let o = atrest(&["scan", &snap(), "--config", "/nonexistent/enc.yaml"]);
    assert_eq!(o.status.code(), Some(2));

    let start = Instant::now();
    let o = atrest(&["scan", "--endpoints", "127.0.0.1:1", "--timeout", "2"]);
    let took = start.elapsed();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("127.0.0.1:1"), "{}", stderr(&o));
    assert!(took < Duration::from_secs(20), "unreachable etcd took {took:?}");
}

#[test]
fn json_agrees_with_the_generator() {
    let o = scan(&["--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let e = fixture("expected.json");
    assert_eq!(v["header"]["revision"], e["revision"]);
    assert_eq!(v["header"]["source_type"], "snapshot");
    assert!(v["header"]["config_hash"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(v["objects"].as_array().unwrap().len(), e["objects"].as_array().unwrap().len());
    for k in ["objects", "by_state", "by_resource", "by_namespace", "by_key", "problems"] {
        assert_eq!(v["summary"]["census"][k], e["census"][k], "census.{k}");
    }
    assert_eq!(v["summary"]["failed"], true);
    assert_eq!(v["history"], Value::Array(vec![]));
}

#[test]
fn jsonl_sarif_junit_parse_and_count() {
    let e = fixture("expected.json");
    let n = e["objects"].as_array().unwrap().len();
    let problems: u64 =
        e["census"]["problems"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();

    let o = scan(&["--format", "jsonl", "--all-revisions"]);
    let lines: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.first().unwrap()["type"], "header");
    assert_eq!(lines.last().unwrap()["type"], "summary");
    let objects: Vec<&Value> = lines.iter().filter(|l| l["type"] == "object").collect();
    assert_eq!(objects.len(), n + e["history"].as_array().unwrap().len());
    assert!(lines.iter().all(|l| l["schema_version"] == 1));
    assert_eq!(lines.last().unwrap()["census"]["problems"]["history-leak"], 1);

    let o = scan(&["--format", "sarif"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len() as u64, problems, "one result per problem");
    let undecryptable: BTreeSet<&str> = results
        .iter()
        .filter(|r| r["ruleId"] == "atrest/undecryptable")
        .map(|r| r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].as_str().unwrap())
        .collect();
    let want: BTreeSet<&str> = e["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["problems"].as_array().unwrap().iter().any(|p| p == "undecryptable"))
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(undecryptable, want);
    // The SARIF log against the OASIS schema, with Python's jsonschema when installed.
    if Command::new("python3")
        .args(["-c", "import jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("scan.sarif");
        std::fs::write(&p, &o.stdout).unwrap();
        let schema =
            concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/configs/schema/sarif-schema-2.1.0.json");
        let script = "import json,sys,jsonschema; s=json.load(open(sys.argv[1])); jsonschema.Draft7Validator(s).validate(json.load(open(sys.argv[2])))";
        let r = Command::new("python3")
            .args(["-c", script, schema, p.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(r.status.success(), "jsonschema: {}", stderr(&r));
    }

    let o = scan(&["--format", "junit"]);
    let script = "import sys, xml.etree.ElementTree as ET\n\
                  r = ET.fromstring(sys.stdin.buffer.read())\n\
                  cases = r.findall('.//testcase')\n\
                  print(len(cases), sum(1 for c in cases if c.find('failure') is not None))";
    let mut py = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    py.stdin.take().unwrap().write_all(&o.stdout).unwrap();
    let r = py.wait_with_output().unwrap();
    assert!(r.status.success(), "junit is not well-formed XML");
    let resources = e["census"]["by_resource"].as_object().unwrap().len();
    // secrets, configmaps and widgets.example.com have plaintext/undecryptable findings.
    assert_eq!(String::from_utf8(r.stdout).unwrap().trim(), format!("{resources} 3"));
}

/// The trailer is hashed while the scan reads: a snapshot changed after it
/// was saved still fails the scan (exit 2, no summary), unless allowed.
#[test]
fn a_changed_snapshot_fails_the_scan_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("changed.db");
    let mut bytes = std::fs::read(snap()).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&copy, &bytes).unwrap();
    let (copy, c) = (copy.display().to_string(), cfg());
    let args = ["scan", copy.as_str(), "--config", c.as_str(), "--format", "jsonl"];
    let o = atrest(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("trailer") && stderr(&o).contains("changed.db"), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(!stdout.contains("\"summary\""), "a changed file gets no verdict: {stdout}");

    let o = atrest(&[&args[..], &["--allow-trailer-mismatch"]].concat());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not match"), "{}", stderr(&o));
    let o = atrest(&[&args[..], &["--skip-trailer-check"]].concat());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn any_number_of_workers_writes_the_same_report() {
    let one = scan(&["--all-revisions", "--format", "json", "--jobs", "1"]);
    assert_eq!(one.status.code(), Some(1), "{}", stderr(&one));
    let v: Value = serde_json::from_slice(&one.stdout).unwrap();
    assert!(v["objects"].as_array().unwrap().len() > 10, "the fixture has objects to share out");
    for jobs in ["2", "7"] {
        let many = scan(&["--all-revisions", "--format", "json", "--jobs", jobs]);
        assert_eq!(many.status.code(), Some(1), "{}", stderr(&many));
        assert_eq!(many.stdout, one.stdout, "--jobs {jobs} against --jobs 1");
    }
    let none = scan(&["--jobs", "0"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(stderr(&none).contains("--jobs"), "{}", stderr(&none));
}

#[test]
fn live_timeout_and_revision_out_of_range_are_usage_errors() {
    // u64::MAX seconds used to panic (exit 101) adding the connect timeout.
    for t in ["0", "86401", "18446744073709551615"] {
        let o = atrest(&["scan", "--endpoints", "127.0.0.1:1", "--timeout", t]);
        assert_eq!(o.status.code(), Some(2), "--timeout {t}: {}", stderr(&o));
        assert!(stderr(&o).contains("--timeout"), "{}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    // Revision 0 or below read the current revision while the header said -1.
    for r in ["0", "-1"] {
        let o = atrest(&["scan", "--endpoints", "127.0.0.1:1", &format!("--at-revision={r}")]);
        assert_eq!(o.status.code(), Some(2), "--at-revision {r}: {}", stderr(&o));
        assert!(stderr(&o).contains("--at-revision"), "{}", stderr(&o));
    }
}

#[test]
fn resource_filter_and_output_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    let o =
        scan(&["--format", "json", "--resource", "secrets", "--output", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty(), "report goes to the file only");
    let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let objects = v["objects"].as_array().unwrap();
    let e = fixture("expected.json");
    let want = e["census"]["by_resource"]["secrets"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(objects.len() as u64, want);
    assert!(objects.iter().all(|o| o["resource"] == "secrets"));
    assert_eq!(v["summary"]["census"]["by_resource"].as_object().unwrap().len(), 1);
}

#[test]
fn no_output_carries_plaintext_or_key_material() {
    let p = fixture("plaintexts.json");
    let mut needles: Vec<String> = Vec::new();
    for versions in p["objects"].as_object().unwrap().values() {
        for v in versions.as_array().unwrap() {
            for (_, d) in v["data"].as_object().unwrap() {
                let d = d.as_str().unwrap();
                needles.push(d.to_string());
                if let Ok(raw) =
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, d)
                    && raw.len() > 6
                {
                    needles.push(String::from_utf8_lossy(&raw).into_owned());
                }
            }
        }
    }
    for k in p["keys_b64"].as_object().unwrap().values() {
        needles.push(k.as_str().unwrap().to_string());
    }
    needles.push("PT-".into()); // every planted plaintext value starts so
    needles.retain(|n| n.len() >= 3 && n != "admin");
    for format in ["text", "json", "jsonl", "sarif", "junit"] {
        for extra in [&[][..], &["--all-revisions", "-v"][..]] {
            let mut args = vec!["--format", format];
            args.extend_from_slice(extra);
            let o = scan(&args);
            let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
            assert!(all.len() > 100, "{format}: no output");
            for n in &needles {
                assert!(!all.contains(n.as_str()), "{format} {extra:?} prints {n:?}");
            }
        }
    }
}

/// `` | `field` | `` rows per `### Heading` of docs/json-schema.md.
fn documented() -> std::collections::BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json-schema.md"))
        .unwrap();
    let mut out = std::collections::BTreeMap::new();
    let mut section = String::new();
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("### ").or_else(|| line.strip_prefix("## ")) {
            section = h.trim().to_string();
        } else if let Some(rest) = line.strip_prefix("| `")
            && let Some(end) = rest.find("` |")
        {
            out.entry(section.clone())
                .or_insert_with(BTreeSet::new)
                .insert(rest[..end].to_string());
        }
    }
    out
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn documented_fields_are_exactly_what_scan_writes() {
    let doc = documented();
    let o = scan(&["--format", "json", "--all-revisions"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["schema_version"], atrest::report::SCHEMA_VERSION);
    assert_eq!(keys(&v), doc["Top level"]);
    assert_eq!(keys(&v["header"]), doc["Header"]);
    assert_eq!(keys(&v["summary"]), doc["Summary"]);
    assert_eq!(keys(&v["summary"]["census"]), doc["Census"]);
    for o in v["objects"].as_array().unwrap().iter().chain(v["history"].as_array().unwrap()) {
        assert_eq!(keys(o), doc["Object"], "{}", o["key"]);
        let ver = keys(&o["verification"]);
        assert!(ver.contains("result") && ver.is_subset(&doc["Verification"]), "{ver:?}");
    }
    // JSON Lines: the same fields plus type and schema_version.
    let o = scan(&["--format", "jsonl"]);
    for l in String::from_utf8(o.stdout).unwrap().lines() {
        let l: Value = serde_json::from_str(l).unwrap();
        let mut k = keys(&l);
        assert!(k.remove("type") && k.remove("schema_version"));
        let want = match l["type"].as_str().unwrap() {
            "header" => &doc["Header"],
            "object" => &doc["Object"],
            _ => &doc["Summary"],
        };
        assert_eq!(&k, want);
    }
    // SARIF properties.
    let o = scan(&["--format", "sarif"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let run = &v["runs"][0];
    assert_eq!(run["properties"]["atrest_schema_version"], atrest::report::SCHEMA_VERSION);
    assert_eq!(keys(&run["properties"]["header"]), doc["Header"]);
    assert_eq!(keys(&run["results"][0]["properties"]["finding"]), doc["Object"]);
    assert_eq!(keys(&run["invocations"][0]["properties"]["summary"]), doc["Summary"]);
}
