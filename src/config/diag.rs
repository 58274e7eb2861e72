//! Diagnostics: one problem in a config file, with the apiserver's field path,
//! the source line and the apiserver's own message text.
//!
//! This module only describes problems; it decides nothing. Values shown in a
//! diagnostic never include key material: secrets are rendered as
//! `"REDACTED"`, exactly as kube-apiserver does.

use std::fmt;

/// A field path in apiserver notation: `resources[0].providers[1].aescbc.keys[0].secret`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(String);

impl FieldPath {
    /// The empty path (the whole document).
    pub fn root() -> Self {
        Self(String::new())
    }

    /// A path starting at a top-level field.
    pub fn new(name: &str) -> Self {
        Self(name.to_string())
    }

    /// `self.name`.
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() { Self(name.to_string()) } else { Self(format!("{}.{name}", self.0)) }
    }

    /// `self[i]`.
    pub fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path without list indices, as Go's JSON decoder names struct fields
    /// (`resources.providers.kms.cachesize`).
    pub fn without_indices(&self) -> String {
        let mut out = String::with_capacity(self.0.len());
        let mut depth = 0usize;
        for c in self.0.chars() {
            match c {
                '[' => depth += 1,
                ']' => depth = depth.saturating_sub(1),
                _ if depth == 0 => out.push(c),
                _ => {}
            }
        }
        out
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A position in the source: 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// What kind of problem a diagnostic is; decides how it is rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiagnosticKind {
    /// `field.Required`: rendered `<path>: Required value: <message>`.
    Required,
    /// `field.Invalid`: rendered `<path>: Invalid value: <value>: <message>`.
    /// `value` is already rendered the apiserver's way (`"REDACTED"`, `0`, `["a","b"]`).
    Invalid {
        /// The offending value as the apiserver prints it (never a secret).
        value: String,
    },
    /// A decoding error (strict decoding, type mismatch, wrong kind); the
    /// message is the whole text.
    Decode,
    /// A load-time error of `encryptionconfig/config.go` (masking, KMSv1 gate);
    /// the message is the whole text.
    Load,
    /// A fact about the chosen Kubernetes version that makes the file not do
    /// what it says (atrest's own text, not the apiserver's).
    Version,
}

impl DiagnosticKind {
    /// A stable machine name: `required`, `invalid`, `decode`, `load`, `version`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Invalid { .. } => "invalid",
            Self::Decode => "decode",
            Self::Load => "load",
            Self::Version => "version",
        }
    }
}

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Field path in apiserver notation; empty for the whole document.
    pub path: FieldPath,
    /// Where in the source the problem sits (the field's value, or the
    /// enclosing object when the field is missing); `None` when the source has
    /// no position for it (an empty file).
    pub pos: Option<Pos>,
    /// How the problem is rendered.
    pub kind: DiagnosticKind,
    /// The detail text (for field errors the part after the value).
    pub message: String,
}

impl Diagnostic {
    /// The 1-based line, if known.
    pub fn line(&self) -> Option<usize> {
        self.pos.map(|p| p.line)
    }

    /// `field.Required(path, message)`.
    pub fn required(path: FieldPath, pos: Option<Pos>, message: impl Into<String>) -> Self {
        Self { path, pos, kind: DiagnosticKind::Required, message: message.into() }
    }

    /// `field.Invalid(path, value, message)`; `value` is already rendered.
    pub fn invalid(
        path: FieldPath,
        pos: Option<Pos>,
        value: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            path,
            pos,
            kind: DiagnosticKind::Invalid { value: value.into() },
            message: message.into(),
        }
    }

    /// A whole-text error of the given kind.
    pub fn other(
        kind: DiagnosticKind,
        path: FieldPath,
        pos: Option<Pos>,
        message: impl Into<String>,
    ) -> Self {
        Self { path, pos, kind, message: message.into() }
    }
}

impl Diagnostic {
    /// The text without the leading `<path>: ` (the apiserver's `ErrorBody`).
    pub fn body(&self) -> String {
        match &self.kind {
            DiagnosticKind::Required => format!("Required value: {}", self.message),
            DiagnosticKind::Invalid { value } => {
                format!("Invalid value: {value}: {}", self.message)
            }
            _ => self.message.clone(),
        }
    }
}

/// Renders exactly as kube-apiserver prints the error (without the line).
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DiagnosticKind::Required => {
                write!(f, "{}: Required value: {}", self.path, self.message)
            }
            DiagnosticKind::Invalid { value } => {
                write!(f, "{}: Invalid value: {}: {}", self.path, value, self.message)
            }
            DiagnosticKind::Decode | DiagnosticKind::Load | DiagnosticKind::Version => {
                f.write_str(&self.message)
            }
        }
    }
}

/// An unknown field's name as diagnostics show it. A YAML key is whatever
/// precedes a colon, so a forgotten colon makes a key line into a field
/// name (`secret U0VD…=` in `{name: k, secret U0VD…=}`). kube-apiserver
/// echoes such names; atrest's reports are made to be uploaded, so a name
/// with a blank keeps only its first word, and a word that looks like
/// base64 key text (20 or more base64 characters with a digit, `+`, `/`
/// or `=` among them) is not shown.
pub fn shown_field_name(name: &str) -> std::borrow::Cow<'_, str> {
    const WITHHELD: &str = "<withheld: may be key material>";
    let looks_like_key = |w: &str| {
        w.len() >= 20
            && w.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
            && w.bytes().any(|b| b.is_ascii_digit() || b"+/=".contains(&b))
    };
    let mut words = name.split_whitespace();
    let first = words.next().unwrap_or_default();
    let more = words.next().is_some();
    match (looks_like_key(first), more) {
        (false, false) if first.len() == name.len() => std::borrow::Cow::Borrowed(name),
        (false, _) => format!("{first} {WITHHELD}").into(),
        (true, _) => WITHHELD.into(),
    }
}

/// Renders a string value the way Go's `%q` does for the common cases
/// (printable text; control characters and quotes escaped).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
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

    #[test]
    fn paths_render_like_the_apiserver() {
        let p = FieldPath::new("resources").index(0).child("providers").index(1).child("aescbc");
        let p = p.child("keys").index(0).child("secret");
        assert_eq!(p.as_str(), "resources[0].providers[1].aescbc.keys[0].secret");
        assert_eq!(p.without_indices(), "resources.providers.aescbc.keys.secret");
        let d = Diagnostic::invalid(p, None, "\"REDACTED\"", "secrets must be base64 encoded");
        assert_eq!(
            d.to_string(),
            "resources[0].providers[1].aescbc.keys[0].secret: Invalid value: \"REDACTED\": secrets must be base64 encoded"
        );
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
    }

    #[test]
    fn field_names_that_may_hold_a_key_are_not_shown() {
        let w = "<withheld: may be key material>";
        assert_eq!(shown_field_name("nmae"), "nmae");
        assert_eq!(shown_field_name("serviceAccountTokenName"), "serviceAccountTokenName");
        assert_eq!(
            shown_field_name("secret U0VDUkVUTUFSS0VSQUFBQUFBQUFBQUFBQUFBQUFBQUE="),
            format!("secret {w}")
        );
        assert_eq!(shown_field_name("U0VDUkVUTUFSS0VSQUFBQUFBQUFBQUFBQUFBQUFBQUE="), w);
        assert_eq!(shown_field_name(" secret"), format!("secret {w}"));
    }
}
