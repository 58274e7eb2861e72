//! The config file as rotation sees it: the parsed providers of each resource
//! entry *and* the line ranges they occupy in the user's file.
//!
//! Rotation edits the user's text (insert, move, delete the lines of one key
//! or one provider) so that comments and key order survive. This module
//! parses the YAML (or JSON) with `saphyr-parser`, keeps the line span of
//! every sequence item that an edit may touch, and says whether a sequence
//! can be edited line by line (block style, one item per line range). It
//! also re-emits a canonical document for the cases where text edits are not
//! possible. It does no cryptography and no file I/O; key material (the
//! base64 text of every `secret`) is held in [`SecretBytes`] only.

use std::fmt::Write as _;

use saphyr_parser::{Event, Parser, ScalarStyle};
use zeroize::Zeroizing;

use crate::secret::SecretBytes;

/// A problem with the YAML document, with its field path and line.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{path} (line {line}): {message}")]
pub struct DocError {
    /// Field path in apiserver notation (`resources[0].providers[1].aescbc.keys`).
    pub path: String,
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn err(path: &str, line: usize, message: impl Into<String>) -> DocError {
    DocError { path: path.to_string(), line, message: message.into() }
}

/// Lines `first..=last` (1-based) of one sequence item, and whether a text
/// edit may move or delete it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lines {
    /// First line of the item (the line with its `-`).
    pub first: usize,
    /// Last line holding content of the item.
    pub last: usize,
    /// Column (characters) where the item's content starts, after `- `.
    pub content_col: usize,
    /// The item starts its own line with `- ` and is in a block sequence.
    pub editable: bool,
}

/// A named key of a local provider.
pub struct KeyDoc {
    /// The key name.
    pub name: String,
    /// The base64 text of the secret exactly as written.
    pub secret_b64: SecretBytes,
    /// Where the key item sits.
    pub lines: Lines,
}

/// The fields of a `kms` stanza as written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KmsDoc {
    /// `apiVersion` as written (`None`: defaults to v1).
    pub api_version: Option<String>,
    /// Provider name.
    pub name: String,
    /// Endpoint.
    pub endpoint: String,
    /// `cachesize` as written.
    pub cachesize: Option<String>,
    /// `timeout` as written.
    pub timeout: Option<String>,
}

impl KmsDoc {
    /// `v1` or `v2` after defaulting.
    pub fn version(&self) -> &str {
        self.api_version.as_deref().unwrap_or("v1")
    }
}

/// What one provider item is.
pub enum ProviderKind {
    /// `aescbc`, `aesgcm` or `secretbox` with its keys.
    Local {
        /// `aescbc`, `aesgcm` or `secretbox`.
        type_name: String,
        /// Keys in order.
        keys: Vec<KeyDoc>,
    },
    /// `kms`.
    Kms(KmsDoc),
    /// `identity: {}`.
    Identity,
}

/// One provider item of an entry.
pub struct ProviderDoc {
    /// The provider.
    pub kind: ProviderKind,
    /// Where the provider item sits.
    pub lines: Lines,
}

impl ProviderDoc {
    /// `aescbc`, `aesgcm`, `secretbox`, `kms` or `identity`.
    pub fn type_name(&self) -> &str {
        match &self.kind {
            ProviderKind::Local { type_name, .. } => type_name,
            ProviderKind::Kms(_) => "kms",
            ProviderKind::Identity => "identity",
        }
    }
}

/// One element of `resources:`.
pub struct EntryDoc {
    /// The resource strings as written (`secrets`, `*.`, `*.*`).
    pub resources: Vec<String>,
    /// Providers in order.
    pub providers: Vec<ProviderDoc>,
}

/// A parsed config file with line information.
pub struct ConfigDoc {
    /// The file text (zeroized on drop: it contains secrets).
    pub text: Zeroizing<String>,
    /// `apiVersion` as written.
    pub api_version: String,
    /// `kind` as written.
    pub kind: String,
    /// Entries in order.
    pub entries: Vec<EntryDoc>,
}

// ---------------------------------------------------------------------------
// A small YAML tree with positions, built from parser events.

/// `shared`: defined with an anchor, copied from an alias, or completed by
/// a `<<` merge key. Its text is not where (or not all of) its value is, so
/// it is never line-edited.
#[derive(Clone)]
enum Node {
    Scalar {
        value: Zeroizing<String>,
        line: usize,
        col: usize,
        end_line: usize,
        shared: bool,
    },
    Seq {
        items: Vec<Node>,
        flow: bool,
        line: usize,
        end_line: usize,
        shared: bool,
    },
    Map {
        pairs: Vec<(String, usize, Node)>,
        flow: bool,
        line: usize,
        col: usize,
        end_line: usize,
        shared: bool,
    },
}

impl Node {
    fn line(&self) -> usize {
        match self {
            Node::Scalar { line, .. } | Node::Seq { line, .. } | Node::Map { line, .. } => *line,
        }
    }
    fn last_line(&self) -> usize {
        match self {
            Node::Scalar { end_line, .. }
            | Node::Seq { end_line, .. }
            | Node::Map { end_line, .. } => *end_line,
        }
    }
    fn col(&self) -> usize {
        match self {
            Node::Scalar { col, .. } | Node::Map { col, .. } => *col,
            Node::Seq { .. } => 0,
        }
    }
    fn set_shared(&mut self) {
        match self {
            Node::Scalar { shared, .. } => *shared = true,
            Node::Seq { items, shared, .. } => {
                *shared = true;
                items.iter_mut().for_each(Node::set_shared);
            }
            Node::Map { pairs, shared, .. } => {
                *shared = true;
                pairs.iter_mut().for_each(|(_, _, v)| v.set_shared());
            }
        }
    }
    fn contains_shared(&self) -> bool {
        match self {
            Node::Scalar { shared, .. } => *shared,
            Node::Seq { items, shared, .. } => *shared || items.iter().any(Node::contains_shared),
            Node::Map { pairs, shared, .. } => {
                *shared || pairs.iter().any(|(_, _, v)| v.contains_shared())
            }
        }
    }
    fn size(&self) -> usize {
        match self {
            Node::Scalar { .. } => 1,
            Node::Seq { items, .. } => 1 + items.iter().map(Node::size).sum::<usize>(),
            Node::Map { pairs, .. } => {
                1 + pairs.iter().map(|(_, _, v)| 1 + v.size()).sum::<usize>()
            }
        }
    }
    fn what(&self) -> &'static str {
        match self {
            Node::Scalar { .. } => "a scalar",
            Node::Seq { .. } => "a list",
            Node::Map { .. } => "a mapping",
        }
    }
}

const MAX_DEPTH: usize = 64;
/// Bound on nodes including alias copies (no "billion laughs").
const MAX_NODES: usize = 200_000;

struct Builder<'a> {
    events: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: std::collections::HashMap<usize, Node>,
    nodes: usize,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, saphyr_parser::Span), DocError> {
        match self.events.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => {
                Err(err("(yaml)", e.marker().line(), format!("invalid YAML: {}", e.info())))
            }
            None => Err(err("(yaml)", 0, "unexpected end of the YAML stream")),
        }
    }

    fn node(
        &mut self,
        first: (Event<'a>, saphyr_parser::Span),
        depth: usize,
    ) -> Result<Node, DocError> {
        let line = first.1.start.line();
        let anchor = match &first.0 {
            Event::Scalar(_, _, a, _) | Event::SequenceStart(a, _) | Event::MappingStart(a, _) => {
                *a
            }
            _ => 0,
        };
        let mut n = self.node_inner(first, depth)?;
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(err(
                "(yaml)",
                line,
                "document too large (aliases expand beyond the node limit)",
            ));
        }
        if anchor > 0 {
            n.set_shared();
            self.anchors.insert(anchor, n.clone());
        }
        Ok(n)
    }

    fn node_inner(
        &mut self,
        first: (Event<'a>, saphyr_parser::Span),
        depth: usize,
    ) -> Result<Node, DocError> {
        let (ev, span) = first;
        let line = span.start.line();
        if depth > MAX_DEPTH {
            return Err(err("(yaml)", line, "nesting too deep"));
        }
        match ev {
            Event::Scalar(v, style, _, _) => {
                let mut end_line = span.end.line();
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
                    && span.end.col() == 0
                    && end_line > line
                {
                    end_line -= 1;
                }
                Ok(Node::Scalar {
                    value: Zeroizing::new(v.into_owned()),
                    line,
                    col: span.start.col(),
                    end_line: end_line.max(line),
                    shared: false,
                })
            }
            Event::SequenceStart(_, _) => {
                let flow = span.end.index() > span.start.index();
                let mut items = Vec::new();
                let mut end_line = line;
                loop {
                    let next = self.next()?;
                    if matches!(next.0, Event::SequenceEnd) {
                        if flow {
                            end_line = end_line.max(next.1.end.line());
                        }
                        break;
                    }
                    let item = self.node(next, depth + 1)?;
                    end_line = end_line.max(item.last_line());
                    items.push(item);
                }
                Ok(Node::Seq { items, flow, line, end_line, shared: false })
            }
            Event::MappingStart(_, _) => {
                let flow = span.end.index() > span.start.index();
                let mut pairs: Vec<(String, usize, Node)> = Vec::new();
                let mut merged: Vec<(String, usize, Node)> = Vec::new();
                let mut end_line = line;
                loop {
                    let next = self.next()?;
                    if matches!(next.0, Event::MappingEnd) {
                        if flow {
                            end_line = end_line.max(next.1.end.line());
                        }
                        break;
                    }
                    let key_line = next.1.start.line();
                    let key = match self.node(next, depth + 1)? {
                        Node::Scalar { value, .. } => value.to_string(),
                        other => {
                            return Err(err(
                                "(yaml)",
                                other.line(),
                                "mapping keys must be scalars",
                            ));
                        }
                    };
                    let value_ev = self.next()?;
                    let value = self.node(value_ev, depth + 1)?;
                    end_line = end_line.max(value.last_line()).max(key_line);
                    if key == "<<" {
                        // Merge key: earlier merged maps win over later ones; explicit keys win over all.
                        let sources = match value {
                            Node::Map { .. } => vec![value],
                            Node::Seq { items, .. } => items,
                            _ => {
                                return Err(err(
                                    "(yaml)",
                                    key_line,
                                    "a merge key needs a mapping or a list of mappings",
                                ));
                            }
                        };
                        for src in sources {
                            let Node::Map { pairs: mp, .. } = src else {
                                return Err(err(
                                    "(yaml)",
                                    key_line,
                                    "a merge key needs a mapping or a list of mappings",
                                ));
                            };
                            for (k, l, mut v) in mp {
                                if !merged.iter().any(|(m, _, _)| *m == k) {
                                    v.set_shared();
                                    merged.push((k, l, v));
                                }
                            }
                        }
                        continue;
                    }
                    if pairs.iter().any(|(k, _, _)| *k == key) {
                        return Err(err("(yaml)", key_line, format!("duplicate field {key:?}")));
                    }
                    pairs.push((key, key_line, value));
                }
                let shared = !merged.is_empty();
                for m in merged {
                    if !pairs.iter().any(|(k, _, _)| *k == m.0) {
                        pairs.push(m);
                    }
                }
                Ok(Node::Map { pairs, flow, line, col: span.start.col(), end_line, shared })
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(n) => {
                    let mut n = n.clone();
                    self.nodes += n.size();
                    if self.nodes > MAX_NODES {
                        return Err(err(
                            "(yaml)",
                            line,
                            "document too large (aliases expand beyond the node limit)",
                        ));
                    }
                    n.set_shared();
                    Ok(n)
                }
                None => Err(err("(yaml)", line, "alias to an unknown anchor")),
            },
            _ => Err(err("(yaml)", line, "unexpected YAML event")),
        }
    }
}

fn build_tree(text: &str) -> Result<Node, DocError> {
    let mut b =
        Builder { events: Parser::new_from_str(text), anchors: Default::default(), nodes: 0 };
    let mut root = None;
    loop {
        let (ev, span) = b.next()?;
        match ev {
            Event::StreamStart | Event::DocumentEnd => {}
            Event::DocumentStart(_) => {
                if root.is_some() {
                    return Err(err(
                        "(yaml)",
                        span.start.line(),
                        "more than one YAML document in the file",
                    ));
                }
                let first = b.next()?;
                root = Some(b.node(first, 0)?);
            }
            Event::StreamEnd => break,
            _ => return Err(err("(yaml)", span.start.line(), "unexpected YAML event")),
        }
    }
    root.ok_or_else(|| err("(file)", 0, "the file is empty"))
}

// ---------------------------------------------------------------------------
// Interpretation.

fn map_of<'n>(node: &'n Node, path: &str) -> Result<&'n [(String, usize, Node)], DocError> {
    match node {
        Node::Map { pairs, .. } => Ok(pairs),
        other => {
            Err(err(path, other.line(), format!("expected a mapping, found {}", other.what())))
        }
    }
}

fn scalar(node: &Node, path: &str) -> Result<String, DocError> {
    match node {
        Node::Scalar { value, .. } => Ok(value.to_string()),
        other => Err(err(path, other.line(), format!("expected a string, found {}", other.what()))),
    }
}

fn only_fields(
    pairs: &[(String, usize, Node)],
    allowed: &[&str],
    path: &str,
) -> Result<(), DocError> {
    for (k, line, _) in pairs {
        if !allowed.contains(&k.as_str()) {
            return Err(err(
                path,
                *line,
                format!(
                    "strict decoding error: unknown field \"{path}.{}\"",
                    crate::config::diag::shown_field_name(k)
                ),
            ));
        }
    }
    Ok(())
}

fn field<'n>(pairs: &'n [(String, usize, Node)], name: &str) -> Option<&'n Node> {
    pairs.iter().find(|(k, _, _)| k == name).map(|(_, _, v)| v)
}

fn item_lines(text_lines: &[&str], seq_flow: bool, item: &Node) -> Lines {
    let first = item.line();
    let col = item.col();
    let prefix: String = text_lines
        .get(first.wrapping_sub(1))
        .map(|l| l.chars().take(col).collect())
        .unwrap_or_default();
    let editable = !seq_flow
        && !item.contains_shared()
        && !matches!(item, Node::Map { flow: true, .. } | Node::Seq { .. })
        && prefix.trim() == "-"
        && prefix.trim_start().starts_with('-');
    Lines { first, last: item.last_line(), content_col: col, editable }
}

/// Sibling items must occupy disjoint line ranges in order; any that do not
/// are not line-editable (the edit falls back to re-emission).
fn guard<'a>(items: impl Iterator<Item = &'a mut Lines>) {
    let mut prev: Option<&'a mut Lines> = None;
    for cur in items {
        if let Some(p) = prev.as_deref_mut()
            && (p.last >= cur.first || p.first > p.last)
        {
            p.editable = false;
            cur.editable = false;
        }
        prev = Some(cur);
    }
}

/// Parses a config file, keeping the line span of every entry, provider and key.
///
/// This is a structural parse (strict about field names, like the apiserver's
/// decoder). Full apiserver validation is the config module's job; rotation
/// calls it on every file it writes.
pub fn parse(text: &str) -> Result<ConfigDoc, DocError> {
    let tree = build_tree(text)?;
    let lines: Vec<&str> = text.lines().collect();
    let root = map_of(&tree, "(root)")?;
    only_fields(root, &["apiVersion", "kind", "resources"], "(root)")?;
    let api_version =
        field(root, "apiVersion").map(|n| scalar(n, "apiVersion")).transpose()?.unwrap_or_default();
    let kind = field(root, "kind").map(|n| scalar(n, "kind")).transpose()?.unwrap_or_default();
    let known = matches!(
        (api_version.as_str(), kind.as_str()),
        ("apiserver.config.k8s.io/v1", "EncryptionConfiguration") | ("v1", "EncryptionConfig")
    );
    if !known {
        return Err(err(
            "kind",
            tree.line(),
            format!("no kind {kind:?} is registered for version {api_version:?}"),
        ));
    }
    let Some(Node::Seq { items, .. }) = field(root, "resources") else {
        return Err(err("resources", 0, "Required value: at least one resources is required"));
    };
    let mut entries = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = format!("resources[{i}]");
        let pairs = map_of(item, &p)?;
        only_fields(pairs, &["resources", "providers"], &p)?;
        let resources = match field(pairs, "resources") {
            Some(Node::Seq { items, .. }) if !items.is_empty() => items
                .iter()
                .enumerate()
                .map(|(j, n)| scalar(n, &format!("{p}.resources[{j}]")))
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return Err(err(
                    &p,
                    item.line(),
                    format!("at least one {p}.resources is required"),
                ));
            }
        };
        let (pseq, pflow) = match field(pairs, "providers") {
            Some(Node::Seq { items, flow, .. }) if !items.is_empty() => (items, *flow),
            _ => {
                return Err(err(
                    &p,
                    item.line(),
                    format!("at least one {p}.providers is required"),
                ));
            }
        };
        let mut providers = Vec::new();
        for (j, pn) in pseq.iter().enumerate() {
            let pp = format!("{p}.providers[{j}]");
            providers.push(parse_provider(pn, &pp, &lines, pflow)?);
        }
        guard(providers.iter_mut().map(|p| &mut p.lines));
        entries.push(EntryDoc { resources, providers });
    }
    Ok(ConfigDoc { text: Zeroizing::new(text.to_string()), api_version, kind, entries })
}

fn parse_provider(
    pn: &Node,
    pp: &str,
    lines: &[&str],
    seq_flow: bool,
) -> Result<ProviderDoc, DocError> {
    let pairs = map_of(pn, pp)?;
    only_fields(pairs, &["aescbc", "aesgcm", "secretbox", "kms", "identity"], pp)?;
    if pairs.is_empty() {
        return Err(err(
            pp,
            pn.line(),
            "provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity",
        ));
    }
    if pairs.len() > 1 {
        return Err(err(
            pp,
            pn.line(),
            "more than one provider specified in a single element, should split into different list elements",
        ));
    }
    let (ty, _, body) = &pairs[0];
    let lines_of = item_lines(lines, seq_flow, pn);
    let kind = match ty.as_str() {
        "identity" => {
            let fields = map_of(body, &format!("{pp}.identity")).map(|f| f.len()).unwrap_or(0);
            if fields != 0 {
                return Err(err(pp, pn.line(), "identity takes no options"));
            }
            ProviderKind::Identity
        }
        "kms" => {
            let kp = format!("{pp}.kms");
            let f = map_of(body, &kp)?;
            only_fields(f, &["apiVersion", "name", "endpoint", "cachesize", "timeout"], &kp)?;
            let get = |n: &str| field(f, n).map(|v| scalar(v, &format!("{kp}.{n}"))).transpose();
            ProviderKind::Kms(KmsDoc {
                api_version: get("apiVersion")?,
                name: get("name")?.unwrap_or_default(),
                endpoint: get("endpoint")?.unwrap_or_default(),
                cachesize: get("cachesize")?,
                timeout: get("timeout")?,
            })
        }
        local => {
            let kp = format!("{pp}.{local}");
            let f = map_of(body, &kp)?;
            only_fields(f, &["keys"], &kp)?;
            let (kitems, kflow) = match field(f, "keys") {
                Some(Node::Seq { items, flow, .. }) if !items.is_empty() => (items, *flow),
                _ => {
                    return Err(err(
                        &format!("{kp}.keys"),
                        body.line(),
                        "Required value: at least one keys is required",
                    ));
                }
            };
            let mut keys = Vec::new();
            for (k, kn) in kitems.iter().enumerate() {
                let kpath = format!("{kp}.keys[{k}]");
                let kf = map_of(kn, &kpath)?;
                only_fields(kf, &["name", "secret"], &kpath)?;
                let name = field(kf, "name")
                    .map(|v| scalar(v, &format!("{kpath}.name")))
                    .transpose()?
                    .unwrap_or_default();
                let secret = match field(kf, "secret") {
                    Some(Node::Scalar { value, .. }) => SecretBytes::from_slice(value.as_bytes()),
                    Some(other) => {
                        return Err(err(
                            &format!("{kpath}.secret"),
                            other.line(),
                            "expected a string",
                        ));
                    }
                    None => SecretBytes::new(Vec::new()),
                };
                keys.push(KeyDoc { name, secret_b64: secret, lines: item_lines(lines, kflow, kn) });
            }
            guard(keys.iter_mut().map(|k| &mut k.lines));
            ProviderKind::Local { type_name: local.to_string(), keys }
        }
    };
    Ok(ProviderDoc { kind, lines: lines_of })
}

/// Checks the rules rotation relies on beyond structure: non-empty key names
/// and secrets, base64 and key lengths, KMS name/endpoint. Returns every
/// problem (secrets are never echoed).
pub fn check(doc: &ConfigDoc) -> Vec<DocError> {
    use base64::Engine as _;
    let mut out = Vec::new();
    for (i, e) in doc.entries.iter().enumerate() {
        for (j, p) in e.providers.iter().enumerate() {
            let pp = format!("resources[{i}].providers[{j}]");
            match &p.kind {
                ProviderKind::Local { type_name, keys } => {
                    for (k, key) in keys.iter().enumerate() {
                        let kp = format!("{pp}.{type_name}.keys[{k}]");
                        if key.name.is_empty() {
                            out.push(err(
                                &format!("{kp}.name"),
                                key.lines.first,
                                "name is a mandatory field for a key",
                            ));
                        }
                        if key.secret_b64.is_empty() {
                            out.push(err(
                                &format!("{kp}.secret"),
                                key.lines.first,
                                "secret is a mandatory field for a key",
                            ));
                            continue;
                        }
                        match base64::engine::general_purpose::STANDARD
                            .decode(key.secret_b64.expose())
                        {
                            Err(_) => out.push(err(
                                &format!("{kp}.secret"),
                                key.lines.first,
                                "Invalid value: \"REDACTED\": secrets must be base64 encoded",
                            )),
                            Ok(raw) => {
                                let raw = Zeroizing::new(raw);
                                let ok: &[usize] =
                                    if type_name == "secretbox" { &[32] } else { &[16, 24, 32] };
                                if !ok.contains(&raw.len()) {
                                    out.push(err(&format!("{kp}.secret"), key.lines.first, format!("Invalid value: \"REDACTED\": secret is not of the expected length, got {}, expected one of {ok:?}", raw.len())));
                                }
                            }
                        }
                    }
                }
                ProviderKind::Kms(k) => {
                    let kp = format!("{pp}.kms");
                    if k.name.is_empty() {
                        out.push(err(
                            &format!("{kp}.name"),
                            p.lines.first,
                            "name is a mandatory field for a provider",
                        ));
                    }
                    if k.endpoint.is_empty() {
                        out.push(err(
                            &format!("{kp}.endpoint"),
                            p.lines.first,
                            "endpoint is a mandatory field for a kms",
                        ));
                    } else if !k.endpoint.starts_with("unix://") {
                        out.push(err(
                            &format!("{kp}.endpoint"),
                            p.lines.first,
                            "only the unix scheme is supported",
                        ));
                    }
                    if !matches!(k.version(), "v1" | "v2") {
                        out.push(err(&format!("{kp}.apiVersion"), p.lines.first, "unsupported apiVersion apiVersion for KMS provider, only v1 and v2 are supported"));
                    }
                    if k.version() == "v2" && k.name.contains(':') {
                        out.push(err(
                            &format!("{kp}.name"),
                            p.lines.first,
                            format!("invalid KMS provider name {}, must not contain ':'", k.name),
                        ));
                    }
                }
                ProviderKind::Identity => {}
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Canonical emission (used only when text edits are impossible).

fn quote(s: &str) -> String {
    let plain_ok = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./+=:@".contains(c))
        && !s.starts_with(['-', ':', '@'])
        && !matches!(s, "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "~")
        && s.parse::<f64>().is_err()
        && !s.ends_with(':');
    if plain_ok {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

/// A provider to emit, either taken from a parsed document or new.
pub enum EmitProvider<'a> {
    /// An existing provider, possibly with some keys reordered or removed.
    Local {
        /// `aescbc`, `aesgcm` or `secretbox`.
        type_name: &'a str,
        /// `(name, base64 secret)` in order.
        keys: Vec<(&'a str, &'a SecretBytes)>,
    },
    /// A `kms` stanza.
    Kms(&'a KmsDoc),
    /// `identity: {}`.
    Identity,
}

/// Emits a canonical YAML document (block style, two-space indentation).
/// Comments of the original file are not carried over.
pub fn emit(
    api_version: &str,
    kind: &str,
    entries: &[(Vec<String>, Vec<EmitProvider<'_>>)],
) -> Zeroizing<String> {
    let mut o = Zeroizing::new(String::new());
    let _ = writeln!(o, "apiVersion: {}", quote(api_version));
    let _ = writeln!(o, "kind: {}", quote(kind));
    o.push_str("resources:\n");
    for (resources, providers) in entries {
        o.push_str("  - resources:\n");
        for r in resources {
            let _ = writeln!(o, "      - {}", quote(r));
        }
        o.push_str("    providers:\n");
        for p in providers {
            match p {
                EmitProvider::Identity => o.push_str("      - identity: {}\n"),
                EmitProvider::Kms(k) => {
                    o.push_str("      - kms:\n");
                    if let Some(v) = &k.api_version {
                        let _ = writeln!(o, "          apiVersion: {}", quote(v));
                    }
                    let _ = writeln!(o, "          name: {}", quote(&k.name));
                    let _ = writeln!(o, "          endpoint: {}", quote(&k.endpoint));
                    if let Some(c) = &k.cachesize {
                        let _ = writeln!(o, "          cachesize: {c}");
                    }
                    if let Some(t) = &k.timeout {
                        let _ = writeln!(o, "          timeout: {}", quote(t));
                    }
                }
                EmitProvider::Local { type_name, keys } => {
                    let _ = writeln!(o, "      - {type_name}:");
                    o.push_str("          keys:\n");
                    for (name, secret) in keys {
                        let _ = writeln!(o, "            - name: {}", quote(name));
                        let s = String::from_utf8_lossy(secret.expose());
                        let s = Zeroizing::new(quote(&s));
                        let _ = writeln!(o, "              secret: {}", s.as_str());
                    }
                }
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources:
      - secrets
    providers:
      # the writer
      - aescbc:
          keys:
            - name: key1 # first
              secret: c2VjcmV0IGlzIHNlY3VyZQ==
      - identity: {}
  - resources: [\"*.*\"]
    providers: [{identity: {}}]
";

    #[test]
    fn parses_entries_providers_and_line_spans() {
        let d = parse(SAMPLE).unwrap();
        assert_eq!(d.entries.len(), 2);
        let e = &d.entries[0];
        assert_eq!(e.resources, vec!["secrets"]);
        assert_eq!(
            e.providers[0].lines,
            Lines { first: 8, last: 11, content_col: 8, editable: true }
        );
        assert_eq!(e.providers[1].lines.first, 12);
        assert!(e.providers[1].lines.editable);
        let ProviderKind::Local { keys, .. } = &e.providers[0].kind else { panic!() };
        assert_eq!(keys[0].name, "key1");
        assert_eq!((keys[0].lines.first, keys[0].lines.last), (10, 11));
        assert!(keys[0].lines.editable);
        assert!(!d.entries[1].providers[0].lines.editable, "flow items are not line-editable");
        assert!(check(&d).is_empty());
    }

    #[test]
    fn rejects_unknown_fields_unknown_aliases_bombs_and_wrong_kind() {
        let bad = SAMPLE.replace("identity: {}\n  -", "identity: {}\n        pandas: 1\n  -");
        assert!(parse(&bad).is_err());
        assert!(
            parse("apiVersion: v9\nkind: X\nresources: []\n")
                .err()
                .unwrap()
                .message
                .contains("no kind")
        );
        assert!(parse("a: *x\n").is_err(), "unknown alias");
        let bomb = "apiVersion: v1\nkind: EncryptionConfig\na: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";
        let e = parse(bomb).err().unwrap();
        assert!(e.message.contains("too large"), "{e}");
        assert!(parse("").is_err());
        assert!(parse("[").is_err());
    }

    #[test]
    fn check_reports_bad_key_length_without_the_secret() {
        let d = parse(&SAMPLE.replace("c2VjcmV0IGlzIHNlY3VyZQ==", "c2VjcmV0")).unwrap();
        let errs = check(&d);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].path.ends_with("keys[0].secret"));
        assert!(!errs[0].to_string().contains("c2VjcmV0"));
    }

    #[test]
    fn emission_round_trips() {
        let d = parse(SAMPLE).unwrap();
        let ProviderKind::Local { keys, .. } = &d.entries[0].providers[0].kind else { panic!() };
        let out = emit(
            &d.api_version,
            &d.kind,
            &[(
                vec!["secrets".into(), "*.".into()],
                vec![
                    EmitProvider::Local {
                        type_name: "aescbc",
                        keys: vec![("key1", &keys[0].secret_b64)],
                    },
                    EmitProvider::Identity,
                ],
            )],
        );
        let again = parse(&out).unwrap();
        assert_eq!(again.entries[0].resources, vec!["secrets", "*."]);
        assert!(check(&again).is_empty());
    }
}
