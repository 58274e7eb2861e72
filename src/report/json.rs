//! JSON (one document) and JSON Lines reporters. Schema: `docs/json-schema.md`.

use std::io::{self, Write};

use serde::Serialize;

use super::{Header, Reporter, SCHEMA_VERSION, Summary};
use crate::scan::finding::Finding;

fn to_io(e: serde_json::Error) -> io::Error {
    io::Error::other(e)
}

/// One JSON document: `{schema_version, tool, header, objects: [...], history: [...], summary}`.
///
/// Current objects stream out as they arrive; older revisions are held until
/// the end (they are few, and only with `--all-revisions`).
pub struct JsonReporter<'w> {
    out: Box<dyn Write + 'w>,
    objects: usize,
    history: Vec<Finding>,
}

impl<'w> JsonReporter<'w> {
    /// A reporter writing to `out`.
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        Self { out, objects: 0, history: Vec::new() }
    }
}

impl Reporter for JsonReporter<'_> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        write!(
            self.out,
            "{{\"schema_version\":{SCHEMA_VERSION},\"tool\":{{\"name\":\"atrest\",\"version\":\"{}\"}},\"header\":",
            env!("CARGO_PKG_VERSION")
        )?;
        serde_json::to_writer(&mut self.out, header).map_err(to_io)?;
        write!(self.out, ",\"objects\":[")
    }

    fn finding(&mut self, f: &Finding) -> io::Result<()> {
        if f.history {
            self.history.push(f.clone());
            return Ok(());
        }
        if self.objects > 0 {
            write!(self.out, ",")?;
        }
        self.objects += 1;
        serde_json::to_writer(&mut self.out, f).map_err(to_io)
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        write!(self.out, "],\"history\":")?;
        serde_json::to_writer(&mut self.out, &self.history).map_err(to_io)?;
        write!(self.out, ",\"summary\":")?;
        serde_json::to_writer(&mut self.out, summary).map_err(to_io)?;
        writeln!(self.out, "}}")?;
        self.out.flush()
    }
}

/// JSON Lines: a `header` line, one `object` line per finding, a `summary` line.
pub struct JsonLinesReporter<'w> {
    out: Box<dyn Write + 'w>,
}

impl<'w> JsonLinesReporter<'w> {
    /// A reporter writing to `out`.
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        Self { out }
    }

    fn line<T: Serialize>(&mut self, kind: &str, body: &T) -> io::Result<()> {
        #[derive(Serialize)]
        struct Line<'a, T> {
            #[serde(rename = "type")]
            kind: &'a str,
            schema_version: u32,
            #[serde(flatten)]
            body: &'a T,
        }
        serde_json::to_writer(&mut self.out, &Line { kind, schema_version: SCHEMA_VERSION, body })
            .map_err(to_io)?;
        writeln!(self.out)
    }
}

impl Reporter for JsonLinesReporter<'_> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        self.line("header", header)
    }

    fn finding(&mut self, f: &Finding) -> io::Result<()> {
        self.line("object", f)
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        self.line("summary", summary)?;
        self.out.flush()
    }
}
