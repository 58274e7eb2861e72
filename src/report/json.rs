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
/// Everything streams out as it arrives, so memory does not grow with the
/// scan: current objects, then (with `--all-revisions`) older revisions. A
/// scan reports every current object before the first older revision; a
/// current object after that is an error (it has no place left in the
/// document).
pub struct JsonReporter<'w> {
    out: Box<dyn Write + 'w>,
    /// One finding serialized here first, then written in one call: serde
    /// writes token by token, and each token through `dyn Write` made the
    /// JSON report a third of the binary's scan time.
    buf: Vec<u8>,
    objects: usize,
    /// Older revisions written so far; `None` until the history array opens.
    history: Option<usize>,
}

impl<'w> JsonReporter<'w> {
    /// A reporter writing to `out`.
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        Self { out, buf: Vec::with_capacity(1024), objects: 0, history: None }
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
        let written = match (f.history, &mut self.history) {
            (true, Some(n)) => n,
            (true, None) => {
                write!(self.out, "],\"history\":[")?;
                self.history.insert(0)
            }
            (false, None) => &mut self.objects,
            (false, Some(_)) => {
                return Err(io::Error::other(
                    "JSON report: a current object arrived after the older revisions began",
                ));
            }
        };
        self.buf.clear();
        if *written > 0 {
            self.buf.push(b',');
        }
        *written += 1;
        serde_json::to_writer(&mut self.buf, f).map_err(to_io)?;
        self.out.write_all(&self.buf)
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        match self.history {
            Some(_) => write!(self.out, "]")?,
            None => write!(self.out, "],\"history\":[]")?,
        }
        write!(self.out, ",\"summary\":")?;
        serde_json::to_writer(&mut self.out, summary).map_err(to_io)?;
        writeln!(self.out, "}}")?;
        self.out.flush()
    }
}

/// JSON Lines: a `header` line, one `object` line per finding, a `summary` line.
pub struct JsonLinesReporter<'w> {
    out: Box<dyn Write + 'w>,
    /// One line serialized here first (see [`JsonReporter`]).
    buf: Vec<u8>,
}

impl<'w> JsonLinesReporter<'w> {
    /// A reporter writing to `out`.
    pub fn new(out: Box<dyn Write + 'w>) -> Self {
        Self { out, buf: Vec::with_capacity(1024) }
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
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, &Line { kind, schema_version: SCHEMA_VERSION, body })
            .map_err(to_io)?;
        self.buf.push(b'\n');
        self.out.write_all(&self.buf)
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
