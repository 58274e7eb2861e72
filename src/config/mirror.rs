//! The strict mirror of `apiserver.config.k8s.io/v1` `EncryptionConfiguration`
//! and its decoder from YAML or JSON text.
//!
//! This module owns the text surface: it turns bytes into [`RawConfig`], a
//! field-for-field mirror of the Go types (providers as structs of optional
//! fields, exactly like `ProviderConfiguration`), recording the source
//! position of every field. It reports what kube-apiserver's strict
//! universal decoder reports — unknown fields, duplicate fields, type
//! mismatches, a missing or wrong `kind`/`apiVersion` — and nothing else:
//! the rules of `ValidateEncryptionConfiguration` live in `validate`.
//!
//! **Why a hand-written walk over `saphyr`'s marked tree, not serde.**
//! Every diagnostic needs a line, and several of them at once. serde-based
//! YAML crates (`yaml_serde`, `serde-saphyr`) stop at the first error and
//! give positions only for that error; `yaml_serde::Value` carries no
//! positions at all. `saphyr` (maintained, YAML 1.2, guards against alias
//! bombs and duplicate keys) loads a tree whose every node has a span. We
//! load it with scalar resolution *off* (`early_parse(false)`), so we see
//! each scalar's raw text and quoting and can resolve plain scalars with the
//! YAML 1.1 rules of go-yaml v2, which kube-apiserver uses through
//! `sigs.k8s.io/yaml` (so `name: 20261128` or `name: yes` are type errors
//! there, and here). Go's JSON semantics follow: `null` leaves a field
//! unset, unknown fields are errors, only the first YAML document counts.
//!
//! Secret text is moved into [`SecretBytes`] as soon as it is read and is
//! never part of a diagnostic.

use saphyr::{MarkedYamlOwned as Node, ScalarStyle, Tag, YamlDataOwned as Data};

use super::diag::{Diagnostic, DiagnosticKind, FieldPath, Pos, go_quote};
use super::goduration;
use crate::secret::SecretBytes;

/// A value with the source position of its node.
pub struct Spanned<T> {
    /// The decoded value.
    pub value: T,
    /// Where the value starts in the source.
    pub pos: Pos,
}

/// The base64 text of a key's `secret`, held as secret bytes.
pub struct SecretText(SecretBytes);

impl SecretText {
    /// Wraps secret text.
    pub fn new(text: String) -> Self {
        Self(SecretBytes::new(text.into_bytes()))
    }

    /// The base64 text. Every call site handles key material.
    pub fn expose(&self) -> &str {
        // Built from a `String`, so always UTF-8.
        std::str::from_utf8(self.0.expose()).unwrap_or("")
    }

    /// Whether the text is empty (`secret: ""` or missing).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `EncryptionConfiguration` as written (before defaulting and validation).
pub struct RawConfig {
    /// Position of the document's top mapping.
    pub pos: Pos,
    /// `apiVersion`.
    pub api_version: Option<Spanned<String>>,
    /// `kind`.
    pub kind: Option<Spanned<String>>,
    /// `resources`; `None` when missing or `null`.
    pub resources: Option<Spanned<Vec<RawEntry>>>,
}

/// One `ResourceConfiguration`.
pub struct RawEntry {
    /// Position of the entry.
    pub pos: Pos,
    /// `resources`: the resource names.
    pub resources: Option<Spanned<Vec<Spanned<String>>>>,
    /// `providers`, in order.
    pub providers: Option<Spanned<Vec<RawProvider>>>,
}

/// One `ProviderConfiguration`: a struct of optional fields, at most one of
/// which should be set.
pub struct RawProvider {
    /// Position of the element.
    pub pos: Pos,
    /// `aesgcm`
    pub aesgcm: Option<Spanned<RawKeys>>,
    /// `aescbc`
    pub aescbc: Option<Spanned<RawKeys>>,
    /// `secretbox`
    pub secretbox: Option<Spanned<RawKeys>>,
    /// `identity` (an empty object); the position when set.
    pub identity: Option<Pos>,
    /// `kms`
    pub kms: Option<Spanned<RawKms>>,
}

impl RawProvider {
    /// The names of the provider types that are set, in the Go struct's order.
    pub fn types_set(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.aesgcm.is_some() {
            v.push("aesgcm");
        }
        if self.aescbc.is_some() {
            v.push("aescbc");
        }
        if self.secretbox.is_some() {
            v.push("secretbox");
        }
        if self.identity.is_some() {
            v.push("identity");
        }
        if self.kms.is_some() {
            v.push("kms");
        }
        v
    }
}

/// `AESConfiguration` / `SecretboxConfiguration`.
pub struct RawKeys {
    /// `keys`.
    pub keys: Option<Spanned<Vec<RawKey>>>,
}

/// One `Key`.
pub struct RawKey {
    /// Position of the key element.
    pub pos: Pos,
    /// `name`.
    pub name: Option<Spanned<String>>,
    /// `secret` (base64 text).
    pub secret: Option<Spanned<SecretText>>,
}

/// `KMSConfiguration` as written.
pub struct RawKms {
    /// `apiVersion` (defaults to `v1` when omitted or empty).
    pub api_version: Option<Spanned<String>>,
    /// `name`.
    pub name: Option<Spanned<String>>,
    /// `endpoint`.
    pub endpoint: Option<Spanned<String>>,
    /// `cachesize`.
    pub cachesize: Option<Spanned<i32>>,
    /// `timeout`, in nanoseconds.
    pub timeout: Option<Spanned<i64>>,
}

/// The YAML text could not be read as YAML at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// The parser's message.
    pub message: String,
}

/// The outcome of decoding: the mirror when the document had the right
/// kind, and every decoding diagnostic.
pub struct Decoded {
    /// The mirror, `None` when the document is not an `EncryptionConfiguration`.
    pub config: Option<RawConfig>,
    /// Decoding problems (each one fails the load).
    pub diagnostics: Vec<Diagnostic>,
}

/// How a plain or quoted scalar resolves under go-yaml v2 (YAML 1.1) rules.
#[derive(Debug, Clone, PartialEq)]
enum Resolved {
    Null,
    Bool,
    Int(Option<i64>),
    Float(f64),
    Str,
}

fn is_str_tag(tag: Option<&Tag>) -> bool {
    tag.is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str")
}

fn resolve(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Resolved {
    if style != ScalarStyle::Plain || is_str_tag(tag) {
        return Resolved::Str;
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" | "n"
        | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Resolved::Bool;
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    let first = text.as_bytes().first().copied().unwrap_or(b'x');
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return Resolved::Str;
    }
    let plain: String = text.chars().filter(|c| *c != '_').collect();
    if let Some(v) = parse_go_int(&plain) {
        return Resolved::Int(v);
    }
    // go-yaml takes a float only when strconv.ParseFloat succeeds: out of
    // range ("1e400") is an error there, and the scalar stays a string.
    if is_yaml_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
        && f.is_finite()
    {
        return Resolved::Float(f);
    }
    Resolved::Str
}

/// `strconv.ParseInt(s, 0, 64)` / `ParseUint` acceptance: `Some(Some(v))` for
/// an int64, `Some(None)` for an integer that only fits uint64 or is larger
/// (go-yaml then resolves it as a float or a big number — a number either way).
fn parse_go_int(s: &str) -> Option<Option<i64>> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok();
    let value = magnitude.and_then(|m| {
        let m = i128::try_from(m).ok()?;
        i64::try_from(if neg { -m } else { m }).ok()
    });
    Some(value)
}

/// go-yaml v2's float pattern `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i = 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

fn pos_of(node: &Node) -> Pos {
    Pos { line: node.span.start.line(), column: node.span.start.col() + 1 }
}

/// Strips `Tagged` wrappers, returning the tag of the outermost one.
fn untag(node: &Node) -> (&Node, Option<&Tag>) {
    let mut n = node;
    let mut tag = None;
    while let Data::Tagged(t, inner) = &n.data {
        if tag.is_none() {
            tag = Some(t);
        }
        n = inner;
    }
    (n, tag)
}

/// A node classified as Go's JSON decoder sees it.
enum View<'a> {
    Null,
    Str(&'a str),
    Int(Option<i64>, &'a str),
    Float(f64),
    Other(&'static str),
    Seq(&'a [Node]),
    Map,
}

fn view(node: &Node) -> View<'_> {
    let (n, outer_tag) = untag(node);
    match &n.data {
        Data::Representation(text, style, tag) => {
            let tag = tag.as_ref().or(outer_tag);
            match resolve(text, *style, tag) {
                Resolved::Null => View::Null,
                Resolved::Bool => View::Other("bool"),
                Resolved::Int(v) => View::Int(v, text),
                Resolved::Float(f) => View::Float(f),
                Resolved::Str => View::Str(text),
            }
        }
        Data::Value(v) => {
            use saphyr::ScalarOwned as S;
            match v {
                S::Null => View::Null,
                S::Boolean(_) => View::Other("bool"),
                S::Integer(i) => View::Int(Some(*i), ""),
                S::FloatingPoint(f) => View::Float(f.into_inner()),
                S::String(s) => View::Str(s),
            }
        }
        Data::Sequence(items) => View::Seq(items),
        Data::Mapping(_) => View::Map,
        Data::Tagged(..) | Data::Alias(_) | Data::BadValue => View::Null,
    }
}

fn json_type(v: &View<'_>) -> &'static str {
    match v {
        View::Null => "null",
        View::Str(_) => "string",
        View::Int(..) | View::Float(_) => "number",
        View::Other(t) => t,
        View::Seq(_) => "array",
        View::Map => "object",
    }
}

/// The text of a mapping key as sigs.k8s.io/yaml turns it into a JSON key.
fn key_text(node: &Node) -> Option<String> {
    let (n, _) = untag(node);
    match &n.data {
        Data::Representation(text, _, _) => Some(text.clone()),
        Data::Value(v) => Some(match v {
            saphyr::ScalarOwned::String(s) => s.clone(),
            saphyr::ScalarOwned::Null => "null".to_string(),
            saphyr::ScalarOwned::Boolean(b) => b.to_string(),
            saphyr::ScalarOwned::Integer(i) => i.to_string(),
            saphyr::ScalarOwned::FloatingPoint(f) => f.to_string(),
        }),
        _ => None,
    }
}

struct Decoder {
    diags: Vec<Diagnostic>,
}

impl Decoder {
    fn decode_err(&mut self, path: &FieldPath, pos: Pos, message: String) {
        self.diags.push(Diagnostic::other(
            DiagnosticKind::Decode,
            path.clone(),
            Some(pos),
            message,
        ));
    }

    fn type_err(&mut self, node: &Node, path: &FieldPath, parent: &str, go_type: &str) {
        let v = view(node);
        let message = format!(
            "json: cannot unmarshal {} into Go struct field {}.{} of type {}",
            json_type(&v),
            parent,
            path.without_indices(),
            go_type
        );
        self.decode_err(path, pos_of(node), message);
    }

    /// The fields of a mapping, after `<<` merges, with unknown and duplicate
    /// keys reported. Returns `(name, value)` pairs for the known fields.
    fn fields<'n>(
        &mut self,
        map: &'n Node,
        path: &FieldPath,
        known: &[&'static str],
    ) -> Vec<(&'static str, &'n Node)> {
        let mut explicit: Vec<(String, &'n Node, &'n Node)> = Vec::new();
        let mut merged: Vec<(String, &'n Node, &'n Node)> = Vec::new();
        if let Data::Mapping(m) = &untag(map).0.data {
            for (k, v) in m.iter() {
                let Some(name) = key_text(k) else {
                    self.decode_err(
                        path,
                        pos_of(k),
                        "yaml: invalid map key: a key must be a scalar".into(),
                    );
                    continue;
                };
                if name == "<<"
                    && matches!(untag(k).0.data, Data::Representation(_, ScalarStyle::Plain, _))
                {
                    collect_merge(v, &mut merged);
                    continue;
                }
                if explicit.iter().any(|(n, _, _)| *n == name) {
                    self.decode_err(
                        &path.child(&name),
                        pos_of(k),
                        format!(
                            "yaml: unmarshal errors: line {}: key {} already set in map",
                            pos_of(k).line,
                            go_quote(&name)
                        ),
                    );
                    continue;
                }
                explicit.push((name, k, v));
            }
        }
        for (name, k, v) in merged {
            if !explicit.iter().any(|(n, _, _)| *n == name) {
                explicit.push((name, k, v));
            }
        }
        let mut out = Vec::new();
        for (name, k, v) in explicit {
            match known.iter().find(|kn| **kn == name) {
                Some(kn) => out.push((*kn, v)),
                None => {
                    let field = path.child(&super::diag::shown_field_name(&name));
                    self.decode_err(
                        &field,
                        pos_of(k),
                        format!(
                            "strict decoding error: unknown field {}",
                            go_quote(field.as_str())
                        ),
                    )
                }
            }
        }
        out
    }

    /// A string field; `None` when null, with a type error for non-strings.
    fn string(&mut self, node: &Node, path: &FieldPath, parent: &str) -> Option<Spanned<String>> {
        match view(node) {
            View::Null => None,
            View::Str(s) => Some(Spanned { value: s.to_string(), pos: pos_of(node) }),
            _ => {
                self.type_err(node, path, parent, "string");
                None
            }
        }
    }

    fn string_list(
        &mut self,
        node: &Node,
        path: &FieldPath,
    ) -> Option<Spanned<Vec<Spanned<String>>>> {
        match view(node) {
            View::Null => None,
            View::Seq(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let p = path.index(i);
                    match view(item) {
                        // A null list element is the zero value "".
                        View::Null => out.push(Spanned { value: String::new(), pos: pos_of(item) }),
                        View::Str(s) => {
                            out.push(Spanned { value: s.to_string(), pos: pos_of(item) })
                        }
                        // Keep the slot so later indices stay right; the loader
                        // drops follow-on errors about it.
                        _ => {
                            self.type_err(item, &p, "ResourceConfiguration", "string");
                            out.push(Spanned { value: String::new(), pos: pos_of(item) });
                        }
                    }
                }
                Some(Spanned { value: out, pos: pos_of(node) })
            }
            _ => {
                self.type_err(node, path, "ResourceConfiguration", "[]string");
                None
            }
        }
    }

    fn config(&mut self, doc: &Node) -> Option<RawConfig> {
        let root = FieldPath::root();
        if !matches!(view(doc), View::Map) {
            let message = match view(doc) {
                View::Null => "Object 'Kind' is missing in the document".to_string(),
                v => format!(
                    "couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
                    json_type(&v)
                ),
            };
            self.decode_err(&root, pos_of(doc), message);
            return None;
        }
        // Resolve kind/apiVersion first (as the universal decoder does), so a
        // document of another kind is not reported field by field.
        let known = ["apiVersion", "kind", "resources"];
        let mut probe = Decoder { diags: Vec::new() };
        let mut cfg =
            RawConfig { pos: pos_of(doc), api_version: None, kind: None, resources: None };
        for (name, v) in probe.fields(doc, &root, &known) {
            match name {
                "apiVersion" => cfg.api_version = probe.string(v, &root.child(name), ""),
                "kind" => cfg.kind = probe.string(v, &root.child(name), ""),
                _ => {}
            }
        }
        if !self.kind_ok(&cfg) {
            return None;
        }
        let mut resources_node = None;
        for (name, v) in self.fields(doc, &root, &known) {
            if name == "resources" {
                resources_node = Some(v);
            }
        }
        if let Some(v) = resources_node {
            cfg.resources = self.entries(v, &FieldPath::new("resources"));
        }
        Some(cfg)
    }

    /// The universal decoder's kind/version resolution.
    fn kind_ok(&mut self, cfg: &RawConfig) -> bool {
        let root = FieldPath::root();
        let kind = cfg.kind.as_ref().map(|k| k.value.as_str()).unwrap_or("");
        let version = cfg.api_version.as_ref().map(|k| k.value.as_str()).unwrap_or("");
        let pos = cfg
            .kind
            .as_ref()
            .map(|k| k.pos)
            .or(cfg.api_version.as_ref().map(|k| k.pos))
            .unwrap_or(cfg.pos);
        if kind.is_empty() {
            self.decode_err(&root, cfg.pos, "Object 'Kind' is missing in the document".to_string());
            return false;
        }
        if version.is_empty() {
            self.decode_err(
                &root,
                cfg.pos,
                "Object 'apiVersion' is missing in the document".to_string(),
            );
            return false;
        }
        match (version, kind) {
            ("apiserver.config.k8s.io/v1", "EncryptionConfiguration")
            | ("v1", "EncryptionConfig") => true,
            (
                "apiserver.config.k8s.io/v1",
                "AdmissionConfiguration"
                | "AuthenticationConfiguration"
                | "AuthorizationConfiguration"
                | "TracingConfiguration",
            ) => {
                self.decode_err(
                    &root,
                    pos,
                    format!("got unexpected config type: apiserver.config.k8s.io/v1, Kind={kind}"),
                );
                false
            }
            _ => {
                self.decode_err(
                    &root,
                    pos,
                    format!(
                        "no kind {} is registered for version {}",
                        go_quote(kind),
                        go_quote(version)
                    ),
                );
                false
            }
        }
    }

    fn entries(&mut self, node: &Node, path: &FieldPath) -> Option<Spanned<Vec<RawEntry>>> {
        let items = match view(node) {
            View::Null => return None,
            View::Seq(items) => items,
            _ => {
                self.type_err(node, path, "EncryptionConfiguration", "[]v1.ResourceConfiguration");
                return None;
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let p = path.index(i);
            let mut e = RawEntry { pos: pos_of(item), resources: None, providers: None };
            match view(item) {
                View::Null => {}
                View::Map => {
                    for (name, v) in self.fields(item, &p, &["resources", "providers"]) {
                        let fp = p.child(name);
                        if name == "resources" {
                            e.resources = self.string_list(v, &fp);
                        } else {
                            e.providers = self.providers(v, &fp);
                        }
                    }
                }
                _ => {
                    // Keep the slot (as an empty entry) so later indices stay right;
                    // its follow-on "required" errors are suppressed by the loader.
                    self.type_err(item, &p, "EncryptionConfiguration", "v1.ResourceConfiguration");
                }
            }
            out.push(e);
        }
        Some(Spanned { value: out, pos: pos_of(node) })
    }

    fn providers(&mut self, node: &Node, path: &FieldPath) -> Option<Spanned<Vec<RawProvider>>> {
        let items = match view(node) {
            View::Null => return None,
            View::Seq(items) => items,
            _ => {
                self.type_err(node, path, "ResourceConfiguration", "[]v1.ProviderConfiguration");
                return None;
            }
        };
        let mut out = Vec::new();
        for (j, item) in items.iter().enumerate() {
            let p = path.index(j);
            let mut prov = RawProvider {
                pos: pos_of(item),
                aesgcm: None,
                aescbc: None,
                secretbox: None,
                identity: None,
                kms: None,
            };
            match view(item) {
                View::Null => {}
                View::Map => {
                    let known = ["aesgcm", "aescbc", "secretbox", "identity", "kms"];
                    for (name, v) in self.fields(item, &p, &known) {
                        let fp = p.child(name);
                        match name {
                            "aesgcm" => prov.aesgcm = self.keys_config(v, &fp, "AESConfiguration"),
                            "aescbc" => prov.aescbc = self.keys_config(v, &fp, "AESConfiguration"),
                            "secretbox" => {
                                prov.secretbox = self.keys_config(v, &fp, "SecretboxConfiguration")
                            }
                            "identity" => match view(v) {
                                View::Null => {}
                                View::Map => {
                                    self.fields(v, &fp, &[]);
                                    prov.identity = Some(pos_of(v));
                                }
                                _ => self.type_err(
                                    v,
                                    &fp,
                                    "ProviderConfiguration",
                                    "v1.IdentityConfiguration",
                                ),
                            },
                            _ => prov.kms = self.kms(v, &fp),
                        }
                    }
                }
                _ => {
                    self.type_err(item, &p, "ResourceConfiguration", "v1.ProviderConfiguration");
                }
            }
            out.push(prov);
        }
        Some(Spanned { value: out, pos: pos_of(node) })
    }

    fn keys_config(
        &mut self,
        node: &Node,
        path: &FieldPath,
        go_type: &str,
    ) -> Option<Spanned<RawKeys>> {
        match view(node) {
            View::Null => return None,
            View::Map => {}
            _ => {
                self.type_err(node, path, "ProviderConfiguration", &format!("v1.{go_type}"));
                return None;
            }
        }
        let mut cfg = RawKeys { keys: None };
        for (_, v) in self.fields(node, path, &["keys"]) {
            let kp = path.child("keys");
            cfg.keys = match view(v) {
                View::Null => None,
                View::Seq(items) => {
                    let mut keys = Vec::new();
                    for (i, item) in items.iter().enumerate() {
                        if let Some(k) = self.key(item, &kp.index(i)) {
                            keys.push(k);
                        }
                    }
                    Some(Spanned { value: keys, pos: pos_of(v) })
                }
                _ => {
                    self.type_err(v, &kp, go_type, "[]v1.Key");
                    None
                }
            };
        }
        Some(Spanned { value: cfg, pos: pos_of(node) })
    }

    fn key(&mut self, node: &Node, path: &FieldPath) -> Option<RawKey> {
        let mut key = RawKey { pos: pos_of(node), name: None, secret: None };
        match view(node) {
            View::Null => return Some(key),
            View::Map => {}
            _ => {
                self.type_err(node, path, "AESConfiguration", "v1.Key");
                return Some(key);
            }
        }
        for (name, v) in self.fields(node, path, &["name", "secret"]) {
            let fp = path.child(name);
            if name == "name" {
                key.name = self.string(v, &fp, "Key");
            } else {
                // The value is secret: report its JSON type only, never its text.
                key.secret = self
                    .string(v, &fp, "Key")
                    .map(|s| Spanned { pos: s.pos, value: SecretText::new(s.value) });
            }
        }
        Some(key)
    }

    fn kms(&mut self, node: &Node, path: &FieldPath) -> Option<Spanned<RawKms>> {
        match view(node) {
            View::Null => return None,
            View::Map => {}
            _ => {
                self.type_err(node, path, "ProviderConfiguration", "v1.KMSConfiguration");
                return None;
            }
        }
        let mut kms = RawKms {
            api_version: None,
            name: None,
            endpoint: None,
            cachesize: None,
            timeout: None,
        };
        let known = ["apiVersion", "name", "cachesize", "endpoint", "timeout"];
        for (name, v) in self.fields(node, path, &known) {
            let fp = path.child(name);
            match name {
                "apiVersion" => kms.api_version = self.string(v, &fp, "KMSConfiguration"),
                "name" => kms.name = self.string(v, &fp, "KMSConfiguration"),
                "endpoint" => kms.endpoint = self.string(v, &fp, "KMSConfiguration"),
                "cachesize" => {
                    // The JSON number the decoder sees: an int as written, a
                    // float as json.Marshal prints it (sigs.k8s.io/yaml turns
                    // YAML into JSON with it), so a whole float arrives as an
                    // integer and is accepted; either way one int32 check.
                    let number = match view(v) {
                        View::Null => None,
                        View::Int(i, text) => Some((i, text.to_string())),
                        View::Float(f) => match go_json_float(f) {
                            Ok(text) => Some((text.parse::<i64>().ok(), text)),
                            Err(e) => {
                                self.decode_err(&fp, pos_of(v), e);
                                None
                            }
                        },
                        _ => {
                            self.type_err(v, &fp, "KMSConfiguration", "int32");
                            None
                        }
                    };
                    if let Some((i, text)) = number {
                        match i.and_then(|i| i32::try_from(i).ok()) {
                            Some(value) => kms.cachesize = Some(Spanned { value, pos: pos_of(v) }),
                            None => self.decode_err(
                                &fp,
                                pos_of(v),
                                format!(
                                    "json: cannot unmarshal number {text} into Go struct field KMSConfiguration.{} of type int32",
                                    fp.without_indices()
                                ),
                            ),
                        }
                    }
                }
                _ => match view(v) {
                    View::Null => {}
                    View::Str(s) => match goduration::parse(s) {
                        Ok(ns) => kms.timeout = Some(Spanned { value: ns, pos: pos_of(v) }),
                        Err(e) => self.decode_err(&fp, pos_of(v), e),
                    },
                    // metav1.Duration's UnmarshalJSON fails with encoding/json's
                    // UnmarshalTypeError, which sigs.k8s.io/json aliases, so the
                    // decoder adds the field context as for any other field.
                    _ => self.type_err(v, &fp, "KMSConfiguration", "string"),
                },
            }
        }
        Some(Spanned { value: kms, pos: pos_of(node) })
    }
}

/// A float64 as Go's `json.Marshal` prints it (ES6 number conversion):
/// shortest digits, plain notation from 1e-6 to below 1e21, otherwise
/// exponent form with an explicit sign (`1e+21`, `1.5e-7`). Infinities and
/// NaN are Go's `json: unsupported value` error.
fn go_json_float(f: f64) -> Result<String, String> {
    if f.is_nan() {
        return Err("json: unsupported value: NaN".into());
    }
    if f.is_infinite() {
        return Err(format!("json: unsupported value: {}", if f > 0.0 { "+Inf" } else { "-Inf" }));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{f:e}");
        return Ok(match text.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => text,
        });
    }
    Ok(format!("{f}"))
}

/// `<<: *anchor` or `<<: [*a, *b]`: the merged mapping's entries.
fn collect_merge<'n>(v: &'n Node, out: &mut Vec<(String, &'n Node, &'n Node)>) {
    let (n, _) = untag(v);
    match &n.data {
        Data::Mapping(m) => {
            for (k, val) in m.iter() {
                if let Some(name) = key_text(k)
                    && !out.iter().any(|(x, _, _)| *x == name)
                {
                    out.push((name, k, val));
                }
            }
        }
        Data::Sequence(items) => {
            for item in items {
                collect_merge(item, out);
            }
        }
        _ => {}
    }
}

/// Decodes the first YAML (or JSON) document of `src`.
///
/// Returns `Err` only when the text is not YAML at all; every problem of a
/// well-formed document is a diagnostic in [`Decoded`].
pub fn decode(src: &str) -> Result<Decoded, SyntaxError> {
    check_depth(src)?;
    let mut parser = saphyr_parser::Parser::new_from_str(src);
    let mut loader: saphyr::YamlLoader<'_, Node> = saphyr::YamlLoader::default();
    loader.early_parse(false);
    let result = parser.load(&mut loader, true);
    let scan_err = result.err().or_else(|| loader.error().cloned());
    if let Some(e) = scan_err {
        return Err(SyntaxError {
            pos: Pos { line: e.marker().line(), column: e.marker().col() + 1 },
            message: format!("yaml: line {}: {}", e.marker().line(), e.info()),
        });
    }
    let docs = loader.into_documents();
    let mut dec = Decoder { diags: Vec::new() };
    let config = match docs.first() {
        Some(doc) => dec.config(doc),
        None => {
            dec.decode_err(
                &FieldPath::root(),
                Pos { line: 1, column: 1 },
                "Object 'Kind' is missing in the document".into(),
            );
            None
        }
    };
    Ok(Decoded { config, diagnostics: dec.diags })
}

/// Deepest nesting of sequences and mappings [`decode`] accepts. An
/// EncryptionConfiguration needs 8 (root, `resources`, an entry, its
/// `providers`, a provider, its `aescbc` stanza, `keys`, a key); anything deeper
/// sits in a field kube-apiserver's strict decoding rejects anyway, so the
/// cap changes only the message, never the verdict.
const MAX_DEPTH: usize = 64;

/// Refuses YAML nested deeper than [`MAX_DEPTH`] before the tree is built:
/// the YAML loader (and dropping its tree) recurses once per level, so a
/// few kilobytes of `- - - …` would overflow the stack. Walks the events
/// without building anything; a syntax error is left for the real load to
/// report in its own words.
fn check_depth(src: &str) -> Result<(), SyntaxError> {
    use saphyr_parser::Event;
    let mut depth = 0usize;
    for event in saphyr_parser::Parser::new_from_str(src) {
        let Ok((event, span)) = event else { return Ok(()) };
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(SyntaxError {
                        pos: Pos { line: span.start.line(), column: span.start.col() + 1 },
                        message: format!(
                            "YAML nested deeper than {MAX_DEPTH} levels (an \
                             EncryptionConfiguration needs 8); not loaded"
                        ),
                    });
                }
            }
            Event::SequenceEnd | Event::MappingEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // 20 000 levels overflowed the 8 MiB main stack of a release build.
        for src in ["- ".repeat(20_000) + "x\n", "[".repeat(200) + &"]".repeat(200)] {
            let e = decode(&src).err().expect("refused");
            assert!(e.message.contains("nested deeper than 64 levels"), "{}", e.message);
            assert_eq!(e.pos.line, 1);
        }
        // At the cap it loads (and is judged as a config: no kind).
        let at_cap = "- ".repeat(MAX_DEPTH) + "x\n";
        assert!(decode(&at_cap).is_ok());
        let over = "- ".repeat(MAX_DEPTH + 1) + "x\n";
        assert!(decode(&over).is_err());
    }

    #[test]
    fn floats_print_as_go_json_marshal_does() {
        let ok = |f: f64| go_json_float(f).unwrap();
        assert_eq!(ok(1.0), "1");
        assert_eq!(ok(1e3), "1000");
        assert_eq!(ok(0.5), "0.5");
        assert_eq!(ok(-0.0), "-0");
        assert_eq!(ok(1e20), "100000000000000000000");
        assert_eq!(ok(1e21), "1e+21");
        assert_eq!(ok(1.5e-7), "1.5e-7");
        assert_eq!(ok(1e-6), "0.000001");
        assert_eq!(ok(2.5e100), "2.5e+100");
        assert_eq!(go_json_float(f64::INFINITY).unwrap_err(), "json: unsupported value: +Inf");
        assert_eq!(go_json_float(f64::NAN).unwrap_err(), "json: unsupported value: NaN");
    }

    #[test]
    fn scalars_resolve_like_go_yaml_v2() {
        let p = ScalarStyle::Plain;
        assert_eq!(resolve("yes", p, None), Resolved::Bool);
        assert_eq!(resolve("20261128", p, None), Resolved::Int(Some(20261128)));
        assert_eq!(resolve("0x1F", p, None), Resolved::Int(Some(31)));
        assert_eq!(resolve("1_000", p, None), Resolved::Int(Some(1000)));
        assert_eq!(resolve("1.5e3", p, None), Resolved::Float(1500.0));
        assert_eq!(resolve("1e400", p, None), Resolved::Str);
        assert_eq!(resolve("~", p, None), Resolved::Null);
        assert_eq!(resolve("key-20261128", p, None), Resolved::Str);
        assert_eq!(resolve("2026-11-28", p, None), Resolved::Str);
        assert_eq!(resolve("yes", ScalarStyle::DoubleQuoted, None), Resolved::Str);
        assert_eq!(resolve("99999999999999999999", p, None), Resolved::Int(None));
    }

    #[test]
    fn unknown_fields_and_type_errors_carry_paths_and_lines() {
        let src = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - kms:\n      name: a\n      pandas: 1\n      cachesize: many\n";
        let d = decode(src).unwrap();
        let texts: Vec<String> =
            d.diagnostics.iter().map(|d| format!("{}@{:?}", d, d.line())).collect();
        assert_eq!(
            texts,
            vec![
                "strict decoding error: unknown field \"resources[0].providers[0].kms.pandas\"@Some(8)".to_string(),
                "json: cannot unmarshal string into Go struct field KMSConfiguration.resources.providers.kms.cachesize of type int32@Some(9)".to_string(),
            ]
        );
    }

    #[test]
    fn not_yaml_is_a_syntax_error_with_a_line() {
        let e = decode("kind: [\n  a: b: c\n").err().unwrap();
        assert!(e.pos.line >= 1, "{e:?}");
    }
}
