//! Prometheus text exposition (format 0.0.4) for node-exporter's textfile
//! collector: what a fleet alerts on (plaintext Secrets, undecryptable
//! objects, a config that differs between nodes).
//!
//! Metrics of `atrest scan` (all gauges, current objects only):
//! * `atrest_objects{resource,state,provider,key}` — objects per resource,
//!   state and the provider/key that wrote them (`provider="identity"` for
//!   plaintext, `""` key when there is none);
//! * `atrest_violations{class}` — findings per problem class, every class
//!   always present (history revisions included, as in the census);
//! * `atrest_scan_failed` — 1 when a `--fail-on` class was found;
//! * `atrest_config_info{hash}` — 1, the `sha256:` of the config used;
//! * `atrest_scan_info{source,source_type,prefix}` — 1;
//! * `atrest_scan_revision` — the etcd revision scanned, when known;
//! * `atrest_scan_timestamp_seconds` — when the scan finished (Unix time).
//!
//! [`Exposition`] is the writer behind it: HELP/TYPE once per family, label
//! values escaped (`\\`, `\"`, `\n`). No keys, no plaintext: only names and
//! counts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Header, Reporter, Summary};
use crate::scan::finding::{Finding, Problem, State};

/// Escapes a label value: backslash, double quote and newline.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Escapes HELP text: backslash and newline.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A text exposition being built: families with HELP and TYPE, then samples.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a metric family: `# HELP` and `# TYPE` lines. Call once per name,
    /// before its samples.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// One sample: `name{k="v",...} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", format_value(value));
    }

    /// The text, newline-terminated.
    pub fn into_string(self) -> String {
        self.text
    }
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Writes the scan metrics at the end of the scan (the textfile collector
/// needs the whole file; write it to a temp file and rename).
pub struct PrometheusReporter<'w> {
    out: Box<dyn Write + 'w>,
    header: Header,
    objects: BTreeMap<(String, String, String, String), u64>,
    timestamp: Option<f64>,
}

impl<'w> PrometheusReporter<'w> {
    /// A reporter writing to `out`, stamped with the time at `finish`.
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        Self { out, header: Header::default(), objects: BTreeMap::new(), timestamp: None }
    }

    /// A reporter with a fixed `atrest_scan_timestamp_seconds` (for tests and replays).
    pub fn with_timestamp(out: Box<dyn Write + 'w>, unix_seconds: f64) -> Self {
        Self { timestamp: Some(unix_seconds), ..Self::new(out) }
    }
}

impl Reporter for PrometheusReporter<'_> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.header = header.clone();
        Ok(())
    }

    fn finding(&mut self, f: &Finding) -> io::Result<()> {
        if f.history {
            return Ok(());
        }
        let resource = f.resource_label().to_string();
        let provider = match (f.provider, f.state) {
            (Some(p), _) => p.to_string(),
            (None, State::Plaintext) => "identity".into(),
            (None, _) => "unknown".into(),
        };
        let key = f.key_name.as_deref().unwrap_or_default().to_string();
        *self.objects.entry((resource, f.state.as_str().into(), provider, key)).or_default() += 1;
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        let mut e = Exposition::new();
        e.family(
            "atrest_objects",
            "gauge",
            "Current objects in etcd per resource, storage state and the provider/key that wrote them.",
        );
        for ((resource, state, provider, key), n) in &self.objects {
            e.sample(
                "atrest_objects",
                &[("resource", resource), ("state", state), ("provider", provider), ("key", key)],
                *n as f64,
            );
        }
        e.family(
            "atrest_violations",
            "gauge",
            "Findings per problem class (plaintext, undecryptable, stale, unknown, history-leak).",
        );
        for p in Problem::ALL {
            e.sample("atrest_violations", &[("class", p.as_str())], summary.census.count(p) as f64);
        }
        e.family("atrest_scan_failed", "gauge", "1 when a finding of a --fail-on class was found.");
        e.sample("atrest_scan_failed", &[], if summary.failed { 1.0 } else { 0.0 });
        if let Some(hash) = &self.header.config_hash {
            e.family(
                "atrest_config_info",
                "gauge",
                "The EncryptionConfiguration the scan verified with, by content hash.",
            );
            e.sample("atrest_config_info", &[("hash", hash)], 1.0);
        }
        e.family("atrest_scan_info", "gauge", "What was scanned.");
        e.sample(
            "atrest_scan_info",
            &[
                ("source", &self.header.source),
                ("source_type", &self.header.source_type),
                ("prefix", &self.header.prefix),
            ],
            1.0,
        );
        if let Some(rev) = self.header.revision {
            e.family("atrest_scan_revision", "gauge", "The etcd revision the scan saw.");
            e.sample("atrest_scan_revision", &[], rev as f64);
        }
        let ts = self.timestamp.unwrap_or_else(|| {
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as f64).unwrap_or(0.0)
        });
        e.family("atrest_scan_timestamp_seconds", "gauge", "Unix time at which the scan finished.");
        e.sample("atrest_scan_timestamp_seconds", &[], ts);
        self.out.write_all(e.into_string().as_bytes())?;
        self.out.flush()
    }
}

/// Sends every call to two reporters: the main report and a metrics file.
pub struct Tee<'w> {
    first: Box<dyn Reporter + 'w>,
    second: Box<dyn Reporter + 'w>,
}

impl<'w> Tee<'w> {
    /// Both `first` and `second` see every call, in that order.
    pub fn new(first: Box<dyn Reporter + 'w>, second: Box<dyn Reporter + 'w>) -> Self {
        Self { first, second }
    }
}

impl Reporter for Tee<'_> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.first.begin(header)?;
        self.second.begin(header)
    }
    fn finding(&mut self, finding: &Finding) -> io::Result<()> {
        self.first.finding(finding)?;
        self.second.finding(finding)
    }
    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        self.first.finish(summary)?;
        self.second.finish(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_values() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        let mut e = Exposition::new();
        e.family("m", "gauge", "h\\elp\nx");
        e.sample("m", &[("l", "v\"")], 2.5);
        assert_eq!(e.into_string(), "# HELP m h\\\\elp\\nx\n# TYPE m gauge\nm{l=\"v\\\"\"} 2.5\n");
    }

    fn finding(name: &str, state: State, provider: Option<&'static str>, history: bool) -> Finding {
        Finding {
            key: format!("/registry/secrets/default/{name}"),
            resource: Some("secrets".into()),
            namespace: Some("default".into()),
            name: Some(name.into()),
            revision: 3,
            history,
            size: 10,
            state,
            provider,
            key_name: provider.map(|_| "k\"1".into()),
            kms_key_id: None,
            encoding: None,
            api_version: None,
            kind: None,
            verification: crate::scan::finding::Verification::NotAttempted,
            stale: false,
            problems: if state == State::Plaintext { vec![Problem::Plaintext] } else { vec![] },
        }
    }

    #[test]
    fn counts_current_objects_and_every_class() {
        let fs = [
            finding("a", State::Encrypted, Some("aesgcm"), false),
            finding("b", State::Encrypted, Some("aesgcm"), false),
            finding("c", State::Plaintext, None, false),
            finding("c", State::Plaintext, None, true),
        ];
        let mut census = crate::scan::finding::Census::default();
        fs.iter().for_each(|f| census.add(f));
        let mut buf = Vec::new();
        {
            let mut r = PrometheusReporter::with_timestamp(Box::new(&mut buf), 1700000000.0);
            let header = Header {
                source: "s.db".into(),
                revision: Some(9),
                config_hash: Some("sha256:ab".into()),
                ..Header::default()
            };
            r.begin(&header).unwrap();
            fs.iter().for_each(|f| r.finding(f).unwrap());
            r.finish(&Summary { census, fail_on: vec![], failed: false }).unwrap();
        }
        let out = String::from_utf8(buf).unwrap();
        let samples: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                r#"atrest_objects{resource="secrets",state="encrypted",provider="aesgcm",key="k\"1"} 2"#,
                r#"atrest_objects{resource="secrets",state="plaintext",provider="identity",key=""} 1"#,
                r#"atrest_violations{class="plaintext"} 2"#,
                r#"atrest_violations{class="undecryptable"} 0"#,
                r#"atrest_violations{class="stale"} 0"#,
                r#"atrest_violations{class="unknown"} 0"#,
                r#"atrest_violations{class="history-leak"} 0"#,
                "atrest_scan_failed 0",
                r#"atrest_config_info{hash="sha256:ab"} 1"#,
                r#"atrest_scan_info{source="s.db",source_type="",prefix=""} 1"#,
                "atrest_scan_revision 9",
                "atrest_scan_timestamp_seconds 1700000000",
            ]
        );
        assert_eq!(out.matches("# TYPE ").count(), 7);
    }

    #[test]
    fn integers_print_without_fraction() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(1.7e9), "1700000000");
        assert_eq!(format_value(f64::NAN), "NaN");
    }
}
