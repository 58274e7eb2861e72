//! Machine renderings of lint findings: the JSON document and SARIF 2.1.0.
//!
//! Owns the output schemas (documented in `docs/config-rules.md`); decides
//! nothing about findings. SARIF follows the OASIS 2.1.0 schema: one run,
//! the rule catalogue in `tool.driver.rules`, one result per finding with a
//! physical location (file, line, column) and a logical location (the field
//! path); CIS control ids go in `properties.cis`.

use serde_json::{Value, json};

use super::lint::{Finding, RULES, Rule};

fn cis_json(rule: &Rule) -> Value {
    Value::Array(
        rule.cis
            .iter()
            .map(|c| json!({"benchmark": format!("CIS Kubernetes Benchmark {}", c.benchmark), "control": c.control, "title": c.title}))
            .collect(),
    )
}

/// One finding as JSON: `{"rule_id","rule","severity","path","line","column","message","explanation","fix","cis"}`.
pub fn finding_json(f: &Finding) -> Value {
    json!({
        "rule_id": f.rule.id,
        "rule": f.rule.name,
        "severity": f.severity.as_str(),
        "path": f.path.as_str(),
        "line": f.pos.map(|p| p.line),
        "column": f.pos.map(|p| p.column),
        "message": f.message,
        "summary": f.rule.summary,
        "explanation": f.rule.explanation,
        "fix": f.rule.fix,
        "cis": cis_json(f.rule),
    })
}

/// A file's findings as JSON: `{"file": ..., "findings": [...]}`.
pub fn file_json(file: &str, findings: &[Finding]) -> Value {
    json!({
        "file": file,
        "findings": findings.iter().map(finding_json).collect::<Vec<_>>(),
    })
}

/// A path as a SARIF `uri-reference`: relative paths stay relative,
/// absolute ones become `file://` URIs; reserved characters are percent-encoded.
pub fn path_uri(path: &str) -> String {
    let mut out = String::new();
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A SARIF 2.1.0 log of the findings of several files.
pub fn sarif(files: &[(String, Vec<Finding>)]) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            let mut tags =
                vec![json!("security"), json!("kubernetes"), json!("encryption-at-rest")];
            tags.extend(r.cis.iter().map(|c| json!(format!("CIS-{}", c.control))));
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": r.explanation},
                "help": {"text": format!("{} Fix: {}", r.explanation, r.fix)},
                "defaultConfiguration": {"level": r.severity.sarif_level()},
                "properties": {"tags": tags, "cis": cis_json(r)},
            })
        })
        .collect();
    let artifacts: Vec<Value> =
        files.iter().map(|(f, _)| json!({"location": {"uri": path_uri(f)}})).collect();
    let mut results = Vec::new();
    for (index, (file, findings)) in files.iter().enumerate() {
        for f in findings {
            let rule_index = RULES.iter().position(|r| r.id == f.rule.id).unwrap_or(0);
            let mut physical = json!({"artifactLocation": {"uri": path_uri(file), "index": index}});
            if let Some(p) = f.pos {
                physical["region"] =
                    json!({"startLine": p.line.max(1), "startColumn": p.column.max(1)});
            }
            let mut location = json!({"physicalLocation": physical});
            if !f.path.as_str().is_empty() {
                location["logicalLocations"] =
                    json!([{"fullyQualifiedName": f.path.as_str(), "kind": "member"}]);
            }
            results.push(json!({
                "ruleId": f.rule.id,
                "ruleIndex": rule_index,
                "level": f.severity.sarif_level(),
                "message": {"text": format!("{}: {}", f.rule.summary, f.message)},
                "locations": [location],
                "properties": {"path": f.path.as_str(), "fix": f.rule.fix, "cis": cis_json(f.rule)},
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "atrest",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/",
                "rules": rules,
            }},
            "artifacts": artifacts,
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}
