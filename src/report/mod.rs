//! Reporters: scan findings to text, JSON, JSON Lines, SARIF 2.1.0, JUnit XML
//! and Prometheus text exposition.
//!
//! This module owns the output formats and their documented schemas
//! (`docs/json-schema.md`). Reporters see only [`Finding`]s, the scan
//! [`Header`] and the [`Summary`]: never keys, never plaintext. Every reporter
//! implements [`Reporter`]; the scanner pushes findings into it as they are
//! made, so output streams for large scans.

mod json;
mod junit;
mod prometheus;
mod sarif;
mod text;

use std::io::{self, Write};

use serde::Serialize;

use crate::scan::finding::{Census, Finding, Problem};

pub use json::{JsonLinesReporter, JsonReporter};
pub use junit::JunitReporter;
pub use prometheus::{Exposition, PrometheusReporter, Tee, escape_label};
pub use sarif::SarifReporter;
pub use text::TextReporter;

/// Version of the JSON, JSON Lines and SARIF property schemas.
pub const SCHEMA_VERSION: u32 = 1;

/// What was scanned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Header {
    /// The source as the user named it (path or endpoints).
    pub source: String,
    /// `snapshot`, `data-file`, `etcdctl-json`, `raw-value` or `live`.
    pub source_type: String,
    /// etcd revision the scan saw, when known.
    pub revision: Option<i64>,
    /// etcd compact revision, when known.
    pub compact_revision: Option<i64>,
    /// The etcd key prefix (`--etcd-prefix` of kube-apiserver).
    pub prefix: String,
    /// Path of the EncryptionConfiguration used to verify, if any.
    pub config: Option<String>,
    /// `sha256:<hex>` of that file.
    pub config_hash: Option<String>,
    /// Warnings about the source (e.g. a snapshot checksum mismatch).
    pub warnings: Vec<String>,
}

/// The end of a scan: counts and the verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Counts.
    pub census: Census,
    /// The problem classes that fail the scan.
    pub fail_on: Vec<Problem>,
    /// True when a finding of a `fail_on` class was found (exit code 1).
    pub failed: bool,
}

/// A sink for scan findings.
pub trait Reporter {
    /// Called once before the first finding.
    fn begin(&mut self, header: &Header) -> io::Result<()>;
    /// Called for every object (and, with `--all-revisions`, every older revision).
    fn finding(&mut self, finding: &Finding) -> io::Result<()>;
    /// Called once at the end.
    fn finish(&mut self, summary: &Summary) -> io::Result<()>;
}

/// The output formats of `atrest scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A readable summary with a table (default).
    Text,
    /// One JSON document.
    Json,
    /// One JSON object per line, then a summary line.
    JsonLines,
    /// SARIF 2.1.0, one result per problem.
    Sarif,
    /// JUnit XML, one test case per resource.
    Junit,
    /// Prometheus text exposition for node-exporter's textfile collector.
    Prometheus,
}

/// Builds the reporter for `format`, writing to `out`.
pub fn reporter<'w>(
    format: Format,
    out: Box<dyn Write + 'w>,
    verbose: bool,
) -> Box<dyn Reporter + 'w> {
    match format {
        Format::Text => Box::new(TextReporter::new(out, verbose)),
        Format::Json => Box::new(JsonReporter::new(out)),
        Format::JsonLines => Box::new(JsonLinesReporter::new(out)),
        Format::Sarif => Box::new(SarifReporter::new(out)),
        Format::Junit => Box::new(JunitReporter::new(out)),
        Format::Prometheus => Box::new(PrometheusReporter::new(out)),
    }
}

/// Text from etcd (keys, key names from value prefixes, apiVersion and kind
/// read from objects) made safe to print in a human report or on a
/// terminal: control characters (C0, DEL, C1: escape sequences, `\r`, a
/// `\n` that would forge a report line), bidirectional and other invisible
/// formatting marks (U+202E), line and paragraph separators and Unicode
/// noncharacters (invalid in XML) become visible escapes (`\u{1b}`, `\n`).
/// Text without any comes back borrowed. Machine formats (JSON, JSON Lines)
/// keep the exact text instead.
pub fn display_safe(s: &str) -> std::borrow::Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        let u = c as u32;
        c.is_control()
            || matches!(u, 0x061C | 0x180E | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x206F | 0xFEFF)
            || (0xFDD0..=0xFDEF).contains(&u)
            || u & 0xFFFE == 0xFFFE
    }
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Where a finding is, for one-line messages: `secrets default/s1 (rev 12)`.
/// Untrusted parts go through [`display_safe`].
pub(crate) fn locate(f: &Finding) -> String {
    let what = match (&f.resource, &f.namespace, &f.name) {
        (Some(r), Some(ns), Some(n)) => format!("{r} {ns}/{n}"),
        (Some(r), None, Some(n)) => format!("{r} {n}"),
        _ => f.key.clone(),
    };
    let what = display_safe(&what).into_owned();
    if f.history { format!("{what} (old revision {})", f.revision) } else { what }
}

/// A one-line description of a problem on a finding.
pub(crate) fn describe(f: &Finding, p: Problem) -> String {
    let by = display_safe(&f.key_label()).into_owned();
    match p {
        Problem::Plaintext => format!("{} is stored in plaintext", locate(f)),
        Problem::Undecryptable => {
            let why = match &f.verification {
                crate::scan::finding::Verification::Failed(r) => format!(": {}", display_safe(r)),
                _ => String::new(),
            };
            format!("{} ({by}) does not decrypt with the config's keys{why}", locate(f))
        }
        Problem::Stale => format!("{} is readable only with a non-primary key ({by})", locate(f)),
        Problem::Unknown => format!("{} has an unknown k8s:enc: prefix", locate(f)),
        Problem::HistoryLeak => {
            format!("{} is a plaintext copy of an object that is now encrypted", locate(f))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::finding::{Census, State};

    #[test]
    fn display_safe_escapes_controls_bidi_and_noncharacters_only() {
        assert!(matches!(
            display_safe("secrets default/s1 ünïcode"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(display_safe("a\x1b[31mb\x07"), "a\\u{1b}[31mb\\u{7}");
        assert_eq!(display_safe("x\ny\rz\t"), "x\\ny\\rz\\t");
        assert_eq!(display_safe("\u{202e}gnp.exe\u{9b}"), "\\u{202e}gnp.exe\\u{9b}");
        assert_eq!(
            display_safe("\u{ffff}\u{fffe}\u{fdd0}\u{1fffe}"),
            "\\u{ffff}\\u{fffe}\\u{fdd0}\\u{1fffe}"
        );
    }

    fn finding(name: &str, state: State, problems: Vec<Problem>, history: bool) -> Finding {
        Finding {
            resource: Some("secrets".into()),
            namespace: Some("default".into()),
            name: Some(name.into()),
            revision: 7,
            history,
            size: 10,
            provider: (state == State::Encrypted).then_some("aesgcm"),
            key_name: (state == State::Encrypted).then(|| "key1".into()),
            encoding: Some("protobuf"),
            api_version: Some("v1".into()),
            kind: Some("Secret".into()),
            problems,
            ..Finding::new(format!("/registry/secrets/default/{name}"), state)
        }
    }

    fn run(format: Format) -> String {
        let findings = [
            finding("a", State::Encrypted, vec![], false),
            finding("b<&>", State::Plaintext, vec![Problem::Plaintext], false),
            finding("c", State::Plaintext, vec![Problem::HistoryLeak], true),
        ];
        let mut census = Census::default();
        findings.iter().for_each(|f| census.add(f));
        let summary = Summary { census, fail_on: vec![Problem::Plaintext], failed: true };
        let mut buf = Vec::new();
        {
            let mut r = reporter(format, Box::new(&mut buf), false);
            r.begin(&Header { source: "snap.db".into(), ..Header::default() }).unwrap();
            findings.iter().for_each(|f| r.finding(f).unwrap());
            r.finish(&summary).unwrap();
        }
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn json_document_separates_objects_and_history() {
        let v: serde_json::Value = serde_json::from_str(&run(Format::Json)).unwrap();
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
        assert_eq!(v["objects"].as_array().unwrap().len(), 2);
        assert_eq!(v["history"].as_array().unwrap().len(), 1);
        assert_eq!(v["objects"][1]["problems"][0], "plaintext");
        assert_eq!(v["summary"]["census"]["by_key"]["aesgcm/key1"], 1);
        assert_eq!(v["summary"]["census"]["problems"]["history-leak"], 1);
        assert_eq!(v["summary"]["failed"], true);
    }

    #[test]
    fn json_document_streams_history_and_refuses_a_late_current_object() {
        let doc = |findings: &[Finding]| {
            let mut buf = Vec::new();
            let mut r = reporter(Format::Json, Box::new(&mut buf), false);
            r.begin(&Header::default()).unwrap();
            let results: Vec<bool> = findings.iter().map(|f| r.finding(f).is_ok()).collect();
            r.finish(&Summary::default()).unwrap();
            drop(r);
            (results, String::from_utf8(buf).unwrap())
        };
        let h = |n: &str| finding(n, State::Plaintext, vec![Problem::HistoryLeak], true);
        let cur = |n: &str| finding(n, State::Encrypted, vec![], false);
        let (ok, out) = doc(&[cur("a"), h("b"), h("c"), h("d")]);
        assert!(ok.iter().all(|o| *o));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let names = |k: &str| -> Vec<String> {
            v[k].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().into()).collect()
        };
        assert_eq!(
            (names("objects"), names("history")),
            (vec!["a".into()], vec!["b".into(), "c".into(), "d".into()])
        );
        // No history at all: an empty array.
        let (_, out) = doc(&[cur("a")]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["history"], serde_json::json!([]));
        // A current object after the history began has no place: an error.
        let (ok, _) = doc(&[h("b"), cur("a")]);
        assert_eq!(ok, [true, false]);
    }

    #[test]
    fn json_lines_has_header_objects_and_summary() {
        let out = run(Format::JsonLines);
        let types: Vec<String> = out
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].to_string())
            .collect();
        assert_eq!(types, ["\"header\"", "\"object\"", "\"object\"", "\"object\"", "\"summary\""]);
    }

    #[test]
    fn sarif_has_one_result_per_problem_with_rules() {
        let v: serde_json::Value = serde_json::from_str(&run(Format::Sarif)).unwrap();
        assert_eq!(v["version"], "2.1.0");
        let run = &v["runs"][0];
        assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), Problem::ALL.len());
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0]["ruleId"], "atrest/plaintext");
        assert_eq!(results[0]["level"], "error");
        assert_eq!(results[1]["level"], "warning");
    }

    #[test]
    fn junit_fails_the_resource_and_escapes_names() {
        let out = run(Format::Junit);
        assert!(out.contains(r#"<testsuites name="atrest scan" tests="1" failures="1">"#), "{out}");
        assert!(out.contains("secrets default/b&lt;&amp;&gt; is stored in plaintext"), "{out}");
        assert!(out.contains("<system-out>1 history-leak</system-out>"), "{out}");
        assert!(!out.contains("b<&>"));
    }

    #[test]
    fn text_lists_problems_with_advice_and_verdict() {
        let out = run(Format::Text);
        assert!(out.contains("FAIL: 1 plaintext"), "{out}");
        assert!(out.contains("note: 1 history-leak"), "{out}");
        assert!(out.contains("result: FAILED (failing on: plaintext)"), "{out}");
        assert!(out.contains("aesgcm/key1"), "{out}");
    }
}
