//! `atrest validate | lint | generate | hash` as a user runs them: the real
//! binary, real files, exit codes and output.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn atrest(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atrest")).args(args).output().expect("run atrest")
}

fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/configs").join(rel).display().to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

/// A private copy (mode 0600) so file-mode findings do not depend on the checkout.
fn private_copy(dir: &Path, rel: &str) -> PathBuf {
    let dst = dir.join(Path::new(rel).file_name().unwrap());
    fs::copy(fixture(rel), &dst).unwrap();
    set_mode(&dst, 0o600);
    dst
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn validate_exit_codes_and_text() {
    let ok = atrest(&["validate", &fixture("valid/aesgcm.yaml")]);
    assert_eq!(code(&ok), 0, "{}", stdout(&ok));
    assert!(stdout(&ok).contains("valid"));

    let bad = atrest(&["validate", &fixture("invalid/keys-wrong-length.yaml")]);
    assert_eq!(code(&bad), 1);
    let out = stdout(&bad);
    assert!(out.contains("keys-wrong-length.yaml:13: resources[0].providers[0].aescbc.keys[1].secret: Invalid value: \"REDACTED\": secret is not of the expected length, got 28, expected one of [16 24 32]"), "{out}");
    assert!(!out.contains("c2VjcmV0IGlzIHNlY3VyZSwgb3IgaXMgaXQ"), "secret leaked: {out}");

    let missing = atrest(&["validate", "/nonexistent/enc.yaml"]);
    assert_eq!(code(&missing), 2);
    // Unreadable wins over invalid when both occur.
    let both = atrest(&["validate", &fixture("invalid/empty.yaml"), "/nonexistent/enc.yaml"]);
    assert_eq!(code(&both), 2);
}

#[test]
fn validate_json_is_one_object_or_a_list() {
    let one =
        atrest(&["validate", "--format", "json", &fixture("invalid/masking-group-wildcard.yaml")]);
    assert_eq!(code(&one), 1);
    let v: Value = serde_json::from_str(&stdout(&one)).unwrap();
    assert_eq!(v["valid"], false);
    assert!(v["file"].as_str().unwrap().ends_with("masking-group-wildcard.yaml"));
    let e = &v["errors"][0];
    assert_eq!(e["path"], "resources[1].resources[0]");
    assert_eq!(e["line"], 11);
    assert_eq!(e["message"], "resource \"secrets\" is masked by earlier rule \"*.\"");

    let two = atrest(&[
        "validate",
        "--format",
        "json",
        &fixture("valid/kms-v2.yaml"),
        &fixture("valid/secretbox.yaml"),
    ]);
    assert_eq!(code(&two), 0);
    let v: Value = serde_json::from_str(&stdout(&two)).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|f| f["valid"] == true && f["errors"].as_array().unwrap().is_empty()));
}

#[test]
fn kube_version_and_feature_gates_decide_kms_v1() {
    let f = fixture("valid/kms-v1-old-release.yaml");
    assert_eq!(code(&atrest(&["validate", &f, "--kube-version", "1.28"])), 0);
    let out = atrest(&["validate", &f]);
    assert_eq!(code(&out), 1);
    assert!(stdout(&out).contains("Set --feature-gates=KMSv1=true"));
    assert_eq!(code(&atrest(&["validate", &f, "--feature-gates", "KMSv1=true"])), 0);
    assert_eq!(code(&atrest(&["validate", &f, "--kube-version", "banana"])), 2);
    let old =
        atrest(&["validate", &fixture("valid/wildcards-ordered.yaml"), "--kube-version", "1.26"]);
    assert_eq!(code(&old), 1);
    assert!(stdout(&old).contains("needs Kubernetes 1.27 or later"));
}

#[test]
fn lint_fail_on_levels_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let gcm = private_copy(dir.path(), "valid/aesgcm.yaml");
    let g = gcm.display().to_string();
    // Only warnings: passes at the default --fail-on error, fails at warning.
    assert_eq!(code(&atrest(&["lint", &g])), 0);
    assert_eq!(code(&atrest(&["lint", &g, "--fail-on", "warning"])), 1);

    let first = private_copy(dir.path(), "valid/decrypt-identity-first.yaml");
    let out = atrest(&["lint", "--format", "json", &first.display().to_string()]);
    assert_eq!(code(&out), 1);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let f = v["findings"].as_array().unwrap();
    let idf = f.iter().find(|x| x["rule_id"] == "CFG001").expect("CFG001");
    assert_eq!(idf["severity"], "error");
    assert_eq!(idf["path"], "resources[0].providers[0].identity");
    assert_eq!(idf["line"], 8);
    let cis: Vec<&str> =
        idf["cis"].as_array().unwrap().iter().map(|c| c["control"].as_str().unwrap()).collect();
    assert_eq!(cis, ["1.2.28", "1.2.30", "1.2.34"]);
    assert!(idf["fix"].as_str().unwrap().contains("encrypting provider"));
}

#[test]
fn lint_reports_file_mode_and_weak_keys_without_printing_them() {
    let dir = tempfile::tempdir().unwrap();
    let weak = private_copy(dir.path(), "valid/weak-keys.yaml");
    set_mode(&weak, 0o644);
    let out = atrest(&["lint", &weak.display().to_string()]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    for id in ["CFG011", "CFG012", "CFG013", "CFG008", "CFG009", "CFG010"] {
        assert!(text.contains(id), "{id} missing from {text}");
    }
    assert!(!text.contains("YWFhYWFh") && !text.contains("MDEyMzQ1"), "key text leaked: {text}");
    assert_eq!(code(&atrest(&["lint", "/nonexistent/enc.yaml"])), 2);
}

/// A minimal JSON-Schema (draft-07) checker for the keywords the SARIF 2.1.0
/// schema uses: type, $ref, properties, required, additionalProperties,
/// items, minItems, uniqueItems, minimum, maximum, enum, anyOf, oneOf.
/// (`format` and `pattern` are not checked.)
fn schema_errors(schema: &Value, root: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/definitions/").expect("local ref");
        return schema_errors(&root["definitions"][name], root, v, at, errs);
    }
    if let Some(t) = schema.get("type").and_then(Value::as_str) {
        let ok = match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            _ => true,
        };
        if !ok {
            errs.push(format!("{at}: expected {t}, got {v}"));
            return;
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        errs.push(format!("{at}: {v} not in enum"));
    }
    if let Some(n) = v.as_f64() {
        if schema.get("minimum").and_then(Value::as_f64).is_some_and(|m| n < m) {
            errs.push(format!("{at}: below minimum"));
        }
        if schema.get("maximum").and_then(Value::as_f64).is_some_and(|m| n > m) {
            errs.push(format!("{at}: above maximum"));
        }
    }
    for (kw, exactly_one) in [("anyOf", false), ("oneOf", true)] {
        if let Some(alts) = schema.get(kw).and_then(Value::as_array) {
            let passing = alts
                .iter()
                .filter(|s| {
                    let mut e = Vec::new();
                    schema_errors(s, root, v, at, &mut e);
                    e.is_empty()
                })
                .count();
            if passing == 0 || (exactly_one && passing != 1) {
                errs.push(format!("{at}: {kw} matched {passing}"));
            }
        }
    }
    if let Some(obj) = v.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for req in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            if !obj.contains_key(req.as_str().unwrap()) {
                errs.push(format!("{at}: missing required {req}"));
            }
        }
        for (k, val) in obj {
            let sub = format!("{at}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(s) => schema_errors(s, root, val, &sub, errs),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errs.push(format!("{sub}: additional property not allowed"))
                    }
                    Some(s @ Value::Object(_)) => schema_errors(s, root, val, &sub, errs),
                    _ => {}
                },
            }
        }
    }
    if let Some(arr) = v.as_array() {
        if schema.get("minItems").and_then(Value::as_u64).is_some_and(|m| (arr.len() as u64) < m) {
            errs.push(format!("{at}: fewer than minItems"));
        }
        if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
            for (i, a) in arr.iter().enumerate() {
                if arr[..i].contains(a) {
                    errs.push(format!("{at}[{i}]: duplicate item"));
                }
            }
        }
        if let Some(items) = schema.get("items") {
            for (i, item) in arr.iter().enumerate() {
                schema_errors(items, root, item, &format!("{at}[{i}]"), errs);
            }
        }
    }
}

#[test]
fn lint_sarif_is_valid_sarif_2_1_0() {
    let schema: Value = serde_json::from_str(
        &fs::read_to_string(fixture("schema/sarif-schema-2.1.0.json")).unwrap(),
    )
    .unwrap();
    // The checker itself must catch a broken log.
    let mut e = Vec::new();
    schema_errors(
        &schema,
        &schema,
        &serde_json::json!({"version": "2.1.0", "runs": [{"tool": {}}]}),
        "$",
        &mut e,
    );
    assert!(!e.is_empty(), "schema checker accepted a log without tool.driver");

    let dir = tempfile::tempdir().unwrap();
    let weak = private_copy(dir.path(), "valid/weak-keys.yaml");
    set_mode(&weak, 0o640);
    let out = atrest(&[
        "lint",
        "--format",
        "sarif",
        &weak.display().to_string(),
        &fixture("invalid/unknown-fields.yaml"),
    ]);
    assert_eq!(code(&out), 1);
    let log: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let mut errs = Vec::new();
    schema_errors(&schema, &schema, &log, "$", &mut errs);
    assert!(errs.is_empty(), "SARIF schema violations: {errs:#?}");
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert!(results.len() >= 10);
    for r in results {
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], r["ruleId"]);
    }
    assert!(results.iter().any(|r| r["ruleId"] == "CFG013" && r["level"] == "error"));
    assert!(results.iter().any(|r| r["ruleId"] == "CFG000"
        && r["locations"][0]["physicalLocation"]["region"]["startLine"] == 18));

    // Independent check with Python's jsonschema when it is installed.
    let py = Command::new("python3").args(["-c", "import jsonschema"]).output();
    if py.is_ok_and(|o| o.status.success()) {
        let sarif_path = dir.path().join("out.sarif");
        fs::write(&sarif_path, stdout(&out)).unwrap();
        let script = "import json,sys,jsonschema; s=json.load(open(sys.argv[1])); jsonschema.Draft7Validator(s).validate(json.load(open(sys.argv[2])))";
        let v = Command::new("python3")
            .args([
                "-c",
                script,
                &fixture("schema/sarif-schema-2.1.0.json"),
                &sarif_path.display().to_string(),
            ])
            .output()
            .unwrap();
        assert!(v.status.success(), "jsonschema: {}", String::from_utf8_lossy(&v.stderr));
    }
}

#[test]
fn generate_writes_atomically_and_never_clobbers() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("enc.yaml");
    let ps = p.display().to_string();
    let out = atrest(&["generate", "-o", &ps]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let first = fs::read(&p).unwrap();
    assert!(String::from_utf8_lossy(&first).contains("- secretbox:"));
    assert_eq!(code(&atrest(&["validate", &ps])), 0);
    let lint = atrest(&["lint", &ps, "--fail-on", "warning"]);
    assert_eq!(code(&lint), 0, "{}", stdout(&lint));

    let again = atrest(&["generate", "-o", &ps]);
    assert_eq!(code(&again), 2);
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(fs::read(&p).unwrap(), first, "file was overwritten without --force");

    assert_eq!(code(&atrest(&["generate", "-o", &ps, "--force"])), 0);
    assert_ne!(fs::read(&p).unwrap(), first, "a fresh key was expected");
    let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "temporary files left behind: {names:?}");
}

#[test]
fn generate_to_stdout_with_kms_and_fallback() {
    let out = atrest(&[
        "generate",
        "--provider",
        "kms",
        "--kms-endpoint",
        "unix:///run/kms.sock",
        "--provider",
        "aesgcm",
        "--resources",
        "secrets,configmaps",
        "--identity-fallback",
        "--key-name",
        "key-a",
    ]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let y = stdout(&out);
    assert!(
        y.contains("apiVersion: v2") && y.contains("- aesgcm:") && y.contains("name: key-a"),
        "{y}"
    );
    assert!(y.trim_end().ends_with("- identity: {}"), "{y}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.yaml");
    fs::write(&p, &y).unwrap();
    assert_eq!(code(&atrest(&["validate", &p.display().to_string()])), 0);

    let no_endpoint = atrest(&["generate", "--provider", "kms"]);
    assert_eq!(code(&no_endpoint), 2);
    assert!(String::from_utf8_lossy(&no_endpoint.stderr).contains("--kms-endpoint"));
}

#[test]
fn hash_matches_sha256_of_the_bytes() {
    use sha2::Digest;
    let f = fixture("valid/aesgcm.yaml");
    let out = atrest(&["hash", &f]);
    assert_eq!(code(&out), 0);
    let want = format!("sha256:{}\n", hex::encode(sha2::Sha256::digest(fs::read(&f).unwrap())));
    assert_eq!(stdout(&out), want);
    assert_eq!(code(&atrest(&["hash", "/nonexistent"])), 2);
}

#[test]
fn help_teaches_exit_codes_and_an_example() {
    for cmd in ["validate", "lint", "generate", "hash"] {
        let out = atrest(&[cmd, "--help"]);
        assert_eq!(code(&out), 0);
        let h = stdout(&out);
        assert!(h.contains("Exit codes") && h.contains("Example: atrest"), "{cmd} --help: {h}");
    }
    assert!(stdout(&atrest(&["generate", "--help"])).contains("secretbox"));
}

/// A forgotten colon makes `secret U0VD…=` a field name. validate, lint (every
/// format) and rotate status report the unknown field without the key text.
#[test]
fn a_key_in_a_field_name_is_never_echoed() {
    const KEY: &str = "U0VDUkVUTUFSS0VSQUFBQUFBQUFBQUFBQUFBQUFBQUE=";
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("enc.yaml");
    std::fs::write(
        &cfg,
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - {{name: key1, secret {KEY}}}\n"
        ),
    )
    .unwrap();
    set_mode(&cfg, 0o600);
    let c = cfg.to_str().unwrap();
    let runs = [
        vec!["validate", c],
        vec!["validate", c, "--format", "json"],
        vec!["lint", c],
        vec!["lint", c, "--format", "json"],
        vec!["lint", c, "--format", "sarif"],
        vec!["rotate", "status", c],
    ];
    for args in runs {
        let o = atrest(&args);
        let all = format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
        assert!(all.contains("unknown field"), "{args:?}: {all}");
        for piece in KEY.as_bytes().windows(8) {
            let piece = std::str::from_utf8(piece).unwrap();
            assert!(!all.contains(piece), "{args:?} shows {piece:?}: {all}");
        }
    }
}
