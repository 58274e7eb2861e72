//! JUnit XML: one test case per resource, failed when the resource has a
//! finding of a `--fail-on` class, so CI systems show which resource failed.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::{Header, Reporter, Summary, describe, display_safe};
use crate::scan::finding::{Finding, Problem};

/// Problem messages kept per resource and class for the failure text.
const MESSAGES_KEPT: usize = 50;

#[derive(Default)]
struct Case {
    objects: u64,
    problems: BTreeMap<Problem, (u64, Vec<String>)>,
}

/// Collects per-resource results and writes the XML at the end.
pub struct JunitReporter<'w> {
    out: Box<dyn Write + 'w>,
    cases: BTreeMap<String, Case>,
    header: Header,
}

impl<'w> JunitReporter<'w> {
    /// A reporter writing to `out`.
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        Self { out, cases: BTreeMap::new(), header: Header::default() }
    }
}

/// Escapes text for XML attributes and character data. Untrusted text has
/// been through [`display_safe`] already; as a last line of defence, a
/// character XML 1.0 does not allow at all (even as a reference) is written
/// as a visible `\u{…}` escape, so the document always parses. `\n` and
/// `\t` are kept for the failure text's own lines.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let u = c as u32;
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' => out.push(c),
            _ if u < 0x20 || matches!(u, 0xFFFE | 0xFFFF) => out.push_str(&format!("\\u{{{u:x}}}")),
            c => out.push(c),
        }
    }
    out
}

impl Reporter for JunitReporter<'_> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.header = header.clone();
        Ok(())
    }

    fn finding(&mut self, f: &Finding) -> io::Result<()> {
        let case = self.cases.entry(f.resource_label().to_string()).or_default();
        if !f.history {
            case.objects += 1;
        }
        for &p in &f.problems {
            let (n, msgs) = case.problems.entry(p).or_default();
            *n += 1;
            if msgs.len() < MESSAGES_KEPT {
                msgs.push(describe(f, p));
            }
        }
        Ok(())
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        let failing = |c: &Case| c.problems.keys().any(|p| summary.fail_on.contains(p));
        let failures = self.cases.values().filter(|c| failing(c)).count();
        writeln!(self.out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        writeln!(
            self.out,
            r#"<testsuites name="atrest scan" tests="{}" failures="{failures}">"#,
            self.cases.len()
        )?;
        writeln!(
            self.out,
            r#"  <testsuite name="{}" tests="{}" failures="{failures}" errors="0">"#,
            xml(&display_safe(&self.header.source)),
            self.cases.len()
        )?;
        for (name, case) in &self.cases {
            writeln!(
                self.out,
                r#"    <testcase classname="atrest.scan" name="{}" assertions="{}">"#,
                xml(&display_safe(name)),
                case.objects
            )?;
            if failing(case) {
                let counts: Vec<String> = case
                    .problems
                    .iter()
                    .filter(|(p, _)| summary.fail_on.contains(p))
                    .map(|(p, (n, _))| format!("{n} {}", p.as_str()))
                    .collect();
                let body: Vec<String> = case
                    .problems
                    .iter()
                    .filter(|(p, _)| summary.fail_on.contains(p))
                    .flat_map(|(p, (n, msgs))| {
                        let more = (*n as usize).saturating_sub(msgs.len());
                        let mut lines = msgs.clone();
                        if more > 0 {
                            lines.push(format!("... and {more} more {}", p.as_str()));
                        }
                        lines.push(format!("fix: {}", p.advice()));
                        lines
                    })
                    .collect();
                writeln!(
                    self.out,
                    r#"      <failure message="{}" type="atrest">{}</failure>"#,
                    xml(&counts.join(", ")),
                    xml(&body.join("\n"))
                )?;
            }
            let others: Vec<String> = case
                .problems
                .iter()
                .filter(|(p, _)| !summary.fail_on.contains(p))
                .map(|(p, (n, _))| format!("{n} {}", p.as_str()))
                .collect();
            if !others.is_empty() {
                writeln!(self.out, "      <system-out>{}</system-out>", xml(&others.join(", ")))?;
            }
            writeln!(self.out, "    </testcase>")?;
        }
        writeln!(self.out, "  </testsuite>\n</testsuites>")?;
        self.out.flush()
    }
}
