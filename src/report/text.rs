//! The human report: source, a table per resource and per key, every
//! problem with one line of advice, and the verdict.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::{Header, Reporter, Summary, describe, display_safe, locate};
use crate::scan::finding::{Finding, Problem};

/// Problem lines printed per class before "... and N more".
const LINES_SHOWN: usize = 20;

/// Writes a readable summary; with `verbose`, one line per object too.
pub struct TextReporter<'w> {
    out: Box<dyn Write + 'w>,
    verbose: bool,
    lines: BTreeMap<Problem, Vec<String>>,
}

impl<'w> TextReporter<'w> {
    /// A reporter writing to `out`.
    pub fn new(out: Box<dyn Write + 'w>, verbose: bool) -> Self {
        Self { out, verbose, lines: BTreeMap::new() }
    }
}

/// Cells may hold text from etcd (resource and key names): each is made
/// [`display_safe`] once, and the widths are those of what is printed.
fn table(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<std::borrow::Cow<'_, str>>> =
        rows.iter().map(|r| r.iter().map(|s| display_safe(s)).collect()).collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if i == 0 {
                    format!("{s:<w$}", w = widths[i])
                } else {
                    format!("{s:>w$}", w = widths[i])
                }
            })
            .collect();
        out.push_str("  ");
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

impl Reporter for TextReporter<'_> {
    fn begin(&mut self, h: &Header) -> io::Result<()> {
        write!(self.out, "source:   {} ({})", h.source, h.source_type)?;
        if let Some(rev) = h.revision {
            write!(self.out, ", revision {rev}")?;
        }
        if let Some(c) = h.compact_revision {
            write!(self.out, ", compacted at {c}")?;
        }
        writeln!(self.out)?;
        match (&h.config, &h.config_hash) {
            (Some(c), Some(hash)) => writeln!(self.out, "config:   {c} ({hash})")?,
            (Some(c), None) => writeln!(self.out, "config:   {c}")?,
            _ => writeln!(
                self.out,
                "config:   none (values are classified, not decrypted; plaintext Secrets are violations)"
            )?,
        }
        for w in &h.warnings {
            writeln!(self.out, "warning:  {}", display_safe(w))?;
        }
        Ok(())
    }

    fn finding(&mut self, f: &Finding) -> io::Result<()> {
        if self.verbose {
            let label = f.key_label();
            let label = display_safe(&label);
            let mut line = format!("{:<14} {:<22} {}", f.state.as_str(), label, locate(f));
            if !f.problems.is_empty() {
                let names: Vec<&str> = f.problems.iter().map(|p| p.as_str()).collect();
                line.push_str(&format!("  [{}]", names.join(", ")));
            }
            writeln!(self.out, "{line}")?;
        }
        for &p in &f.problems {
            let lines = self.lines.entry(p).or_default();
            if lines.len() < LINES_SHOWN {
                lines.push(describe(f, p));
            }
        }
        Ok(())
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        let c = &s.census;
        writeln!(self.out)?;
        let states = ["encrypted", "plaintext", "unknown-prefix", "unreadable"];
        let mut rows = vec![
            std::iter::once("resource".to_string())
                .chain(states.iter().map(|s| s.to_string()))
                .collect::<Vec<_>>(),
        ];
        for (resource, by_state) in &c.by_resource {
            let mut row = vec![resource.clone()];
            row.extend(states.iter().map(|s| by_state.get(*s).copied().unwrap_or(0).to_string()));
            rows.push(row);
        }
        let mut total = vec!["total".to_string()];
        total.extend(states.iter().map(|s| c.by_state.get(*s).copied().unwrap_or(0).to_string()));
        rows.push(total);
        write!(self.out, "{}", table(&rows))?;

        writeln!(self.out, "\nby provider/key:")?;
        let key_rows: Vec<Vec<String>> =
            c.by_key.iter().map(|(k, n)| vec![k.clone(), n.to_string()]).collect();
        write!(self.out, "{}", table(&key_rows))?;
        if c.history_revisions > 0 {
            writeln!(self.out, "\nolder revisions examined: {}", c.history_revisions)?;
        }

        for (p, lines) in &self.lines {
            let n = c.count(*p);
            let gate = if s.fail_on.contains(p) { "FAIL" } else { "note" };
            writeln!(self.out, "\n{gate}: {n} {}", p.as_str())?;
            for l in lines {
                writeln!(self.out, "  {l}")?;
            }
            if n as usize > lines.len() {
                writeln!(self.out, "  ... and {} more", n as usize - lines.len())?;
            }
            writeln!(self.out, "  fix: {}", p.advice())?;
        }
        let verdict = if s.failed { "FAILED" } else { "OK" };
        let gates: Vec<&str> = s.fail_on.iter().map(|p| p.as_str()).collect();
        if gates.is_empty() {
            writeln!(self.out, "\nresult: {verdict} (no --fail-on classes: report only)")?;
        } else {
            writeln!(self.out, "\nresult: {verdict} (failing on: {})", gates.join(", "))?;
        }
        self.out.flush()
    }
}
