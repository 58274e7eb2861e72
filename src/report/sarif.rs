//! SARIF 2.1.0: one result per problem, one rule per problem class, so
//! code-scanning dashboards can track plaintext or undecryptable objects.

use std::io::{self, Write};

use serde_json::json;

use super::{Header, Reporter, SCHEMA_VERSION, Summary, describe};
use crate::scan::finding::{Finding, Problem};

/// Streams a SARIF log: the run's tool and rules first, then results.
pub struct SarifReporter<'w> {
    out: Box<dyn Write + 'w>,
    results: usize,
    source: String,
}

impl<'w> SarifReporter<'w> {
    /// A reporter writing to `out`.
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        Self { out, results: 0, source: String::new() }
    }
}

fn level(p: Problem) -> &'static str {
    match p {
        Problem::Plaintext | Problem::Undecryptable => "error",
        Problem::Stale | Problem::Unknown | Problem::HistoryLeak => "warning",
    }
}

fn rule(p: Problem) -> serde_json::Value {
    let (name, text) = match p {
        Problem::Plaintext => {
            ("PlaintextObject", "An object is stored in etcd without encryption.")
        }
        Problem::Undecryptable => (
            "UndecryptableObject",
            "An encrypted object does not decrypt with the configured keys.",
        ),
        Problem::Stale => {
            ("StaleObject", "An object is encrypted with a key that no longer writes.")
        }
        Problem::Unknown => ("UnknownPrefix", "An object carries an unknown k8s:enc: prefix."),
        Problem::HistoryLeak => {
            ("PlaintextHistory", "An older revision holds plaintext of an object now encrypted.")
        }
    };
    json!({
        "id": format!("atrest/{}", p.as_str()),
        "name": name,
        "shortDescription": {"text": text},
        "help": {"text": p.advice()},
        "defaultConfiguration": {"level": level(p)},
    })
}

impl Reporter for SarifReporter<'_> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.source = header.source.clone();
        let rules: Vec<_> = Problem::ALL.into_iter().map(rule).collect();
        let driver = json!({
            "name": "atrest",
            "version": env!("CARGO_PKG_VERSION"),
            "informationUri": "https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/",
            "rules": rules,
        });
        write!(
            self.out,
            "{{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"version\":\"2.1.0\",\"runs\":[{{\"tool\":{{\"driver\":{driver}}},\"properties\":{{\"atrest_schema_version\":{SCHEMA_VERSION},\"header\":{}}},\"results\":[",
            serde_json::to_string(header).map_err(io::Error::other)?
        )
    }

    fn finding(&mut self, f: &Finding) -> io::Result<()> {
        for &p in &f.problems {
            let result = json!({
                "ruleId": format!("atrest/{}", p.as_str()),
                "level": level(p),
                "message": {"text": describe(f, p)},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": self.source}},
                    "logicalLocations": [{"fullyQualifiedName": f.key, "kind": "object"}],
                }],
                "properties": {"finding": f},
            });
            if self.results > 0 {
                write!(self.out, ",")?;
            }
            self.results += 1;
            serde_json::to_writer(&mut self.out, &result).map_err(io::Error::other)?;
        }
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        let invocation = json!({"executionSuccessful": true, "properties": {"summary": summary}});
        writeln!(self.out, "],\"invocations\":[{invocation}]}}]}}")?;
        self.out.flush()
    }
}
