//! A small YAML emitter for `serde_json::Value` (block style, like
//! `kubectl get -o yaml`), used by `extract`.
//!
//! Strings are written plain only when they cannot be read back as anything
//! else (no YAML 1.1/1.2 booleans, nulls or numbers, no indicators, no
//! leading/trailing space); everything else is written in double-quoted style
//! with every control, line-break and non-printable character escaped, so
//! the document reads back exactly as the JSON value.

use std::fmt::Write;

use serde_json::Value;

/// The YAML document for `v` (ends with a newline).
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => seq(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// Writes `value` after `key:` or `- ` (the cursor is right after it).
fn value_after(out: &mut String, v: &Value, level: usize, in_seq: bool) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            map(out, m, level + 2);
        }
        // kubectl style: a sequence under a key is not indented further.
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            seq(out, a, if in_seq { level + 2 } else { level });
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn map(out: &mut String, m: &serde_json::Map<String, Value>, level: usize) {
    for (k, v) in m {
        indent(out, level);
        out.push_str(&string(k));
        out.push(':');
        value_after(out, v, level, false);
    }
}

fn seq(out: &mut String, a: &[Value], level: usize) {
    for v in a {
        indent(out, level);
        out.push('-');
        match v {
            Value::Object(m) if !m.is_empty() => {
                // First entry on the dash line, the rest aligned under it.
                let mut first = true;
                for (k, val) in m {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        indent(out, level + 2);
                    }
                    out.push_str(&string(k));
                    out.push(':');
                    value_after(out, val, level + 2, false);
                }
            }
            other => value_after(out, other, level, true),
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Words some YAML reader resolves to a non-string (1.1 and 1.2 core).
const RESERVED: &[&str] =
    &["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "nan", "inf"];

fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else { return false };
    if !(first.is_ascii_alphabetic() || first == '/' || first == '_') {
        return false;
    }
    if s.ends_with(' ') || RESERVED.iter().any(|r| s.eq_ignore_ascii_case(r)) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.contains("  ") {
        return false;
    }
    s.chars().all(|c| c.is_ascii_alphanumeric() || "_./-+= ".contains(c))
}

/// A string as a plain or double-quoted YAML scalar.
pub fn string(s: &str) -> String {
    if plain_ok(s) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20
                || c as u32 == 0x7f
                || (0x80..=0x9f).contains(&(c as u32))
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') =>
            {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubectl_shape() {
        let v = json!({
            "apiVersion": "v1",
            "data": {"password": "aHVudGVyMg==", "empty": ""},
            "kind": "Secret",
            "metadata": {"name": "s1", "labels": {"app": "web"},
                         "finalizers": ["example.com/protect"],
                         "ownerReferences": [{"kind": "Deployment", "controller": true}]},
            "immutable": false,
        });
        let y = to_yaml(&v);
        assert_eq!(
            y,
            "apiVersion: v1\ndata:\n  empty: \"\"\n  password: aHVudGVyMg==\nimmutable: false\n\
             kind: Secret\nmetadata:\n  finalizers:\n  - example.com/protect\n  labels:\n    \
             app: web\n  name: s1\n  ownerReferences:\n  - controller: true\n    kind: Deployment\n"
        );
    }

    #[test]
    fn ambiguous_strings_are_quoted() {
        for s in [
            "true",
            "No",
            "null",
            "~",
            "1",
            "-1",
            "0x10",
            "1e3",
            ".5",
            "",
            " a",
            "a ",
            "a: b",
            "a #c",
            "#c",
            "- x",
            "[x]",
            "{x}",
            "*a",
            "&a",
            "!t",
            "|",
            ">",
            "'q'",
            "\"q\"",
            "%x",
            "@x",
            "`x",
            "a\nb",
            "ü",
            "\u{2028}",
            "\u{85}",
            "2023-11-14T22:13:20Z",
        ] {
            assert!(string(s).starts_with('"'), "{s:?} -> {}", string(s));
        }
        assert_eq!(string("a\"b\\c\n\u{1}\u{2028}"), "\"a\\\"b\\\\c\\n\\u0001\\u2028\"");
        assert_eq!(
            string("kubernetes.io/service-account-token"),
            "kubernetes.io/service-account-token"
        );
    }

    #[test]
    fn nested_sequences_and_empties() {
        let v = json!({"a": [[1, 2], [], {}], "b": {}, "c": [], "d": null});
        assert_eq!(to_yaml(&v), "a:\n-\n  - 1\n  - 2\n- []\n- {}\nb: {}\nc: []\nd: null\n");
        assert_eq!(to_yaml(&json!("x")), "x\n");
    }
}
