//! Every example in `docs/` runs and prints what the doc shows.
//!
//! A fenced block with the info string `console` is a transcript: each line
//! starting with `$ atrest ` is run from the repository root with the real
//! binary (arguments split on spaces; '...' quotes group), and the lines up
//! to the next `$ ` line are its expected output (stdout, then stderr).
//! Matching rules:
//! * a line `...` matches any number of lines (including none);
//! * a line ending in ` ...` matches any line starting with what precedes it;
//! * a last line `(exit N)` expects exit code N (otherwise 0 is expected).
//!
//! Other fences (`sh`, `yaml`, `text`) are not run: `console` is only for
//! atrest commands that work offline on the committed fixtures.

use std::path::{Path, PathBuf};
use std::process::Command;

fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            markdown_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "md") {
            out.push(p);
        }
    }
}

#[derive(Debug)]
struct Example {
    file: String,
    line: usize,
    command: String,
    expected: Vec<String>,
    exit: i32,
}

fn examples(path: &Path) -> Vec<Example> {
    let text = std::fs::read_to_string(path).unwrap();
    let file = path.display().to_string();
    let mut out: Vec<Example> = Vec::new();
    let mut in_console = false;
    let mut in_other = false;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start();
        if fence.starts_with("```") {
            if in_console || in_other {
                in_console = false;
                in_other = false;
            } else if fence.trim_end() == "```console" {
                in_console = true;
            } else {
                in_other = true;
            }
            continue;
        }
        if !in_console {
            continue;
        }
        if let Some(cmd) = line.strip_prefix("$ ") {
            assert!(
                cmd.starts_with("atrest "),
                "{file}:{}: console blocks run only atrest commands; use a `sh` block",
                i + 1
            );
            out.push(Example {
                file: file.clone(),
                line: i + 1,
                command: cmd.to_string(),
                expected: Vec::new(),
                exit: 0,
            });
        } else {
            let ex = out
                .last_mut()
                .unwrap_or_else(|| panic!("{file}:{}: output before a command", i + 1));
            ex.expected.push(line.to_string());
        }
    }
    for ex in &mut out {
        let code = ex
            .expected
            .last()
            .and_then(|l| l.strip_prefix("(exit ")?.strip_suffix(')')?.parse::<i32>().ok());
        if let Some(code) = code {
            ex.exit = code;
            ex.expected.pop();
        }
    }
    out
}

fn split_args(cmd: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in cmd.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    args.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        args.push(cur);
    }
    args
}

/// Glob-like match of lines with `...` (any lines) and `prefix ...`.
fn matches(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e == "..." => (0..=actual.len()).any(|k| matches(rest, &actual[k..])),
        Some((e, rest)) => match actual.split_first() {
            None => false,
            Some((a, arest)) => {
                let ok = match e.strip_suffix(" ...") {
                    Some(prefix) => a.starts_with(prefix),
                    None => a.trim_end() == e.trim_end(),
                };
                ok && matches(rest, arest)
            }
        },
    }
}

#[test]
fn the_matcher_is_strict() {
    let e = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(matches(&e(&["a", "...", "c"]), &["a", "b", "b", "c"]));
    assert!(matches(&e(&["a", "...", "c"]), &["a", "c"]));
    assert!(!matches(&e(&["a", "c"]), &["a", "b", "c"]));
    assert!(!matches(&e(&["sha512: ..."]), &["sha256:abc"]));
    assert!(matches(&e(&["sha256: ..."]), &["sha256: abc"]));
    assert!(matches(&e(&["sha256:ab ..."]), &["sha256:abc"]));
    assert!(!matches(&e(&["a"]), &["a", "extra"]));
    assert_eq!(split_args("atrest x 'a b' c"), ["atrest", "x", "a b", "c"]);
}

#[test]
fn every_console_example_in_docs_runs_as_shown() {
    let mut files = Vec::new();
    markdown_files(Path::new("docs"), &mut files);
    files.sort();
    let all: Vec<Example> = files.iter().flat_map(|f| examples(f)).collect();
    assert!(all.len() >= 5, "only {} examples found in docs/", all.len());
    let mut failures = Vec::new();
    for ex in &all {
        let args = split_args(&ex.command);
        let out = Command::new(env!("CARGO_BIN_EXE_atrest"))
            .args(&args[1..])
            .env_remove("ETCDCTL_ENDPOINTS")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = text.lines().collect();
        let code = out.status.code().unwrap_or(-1);
        if code != ex.exit || !matches(&ex.expected, &lines) {
            failures.push(format!(
                "{}:{}: $ {}\n--- expected (exit {})\n{}\n--- got (exit {code})\n{text}",
                ex.file,
                ex.line,
                ex.command,
                ex.exit,
                ex.expected.join("\n"),
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} examples differ:\n\n{}",
        failures.len(),
        all.len(),
        failures.join("\n\n")
    );
}
