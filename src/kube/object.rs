//! Recognising how a plaintext (or decrypted) etcd value is encoded, and
//! whether it plausibly is a Kubernetes object.
//!
//! kube-apiserver stores built-ins as Kubernetes protobuf (`k8s\0` followed by
//! a `runtime.Unknown`), custom resources and CRDs as JSON, and, with the
//! alpha `CBORServingAndStorage` gate, custom resources as CBOR with the
//! self-describe tag `d9 d9 f7`. [`classify`] tells which, extracting
//! `apiVersion`/`kind` (and for JSON `metadata.name`/`namespace`);
//! [`is_plausible`] is the check the scanner applies to a decrypted value,
//! because aescbc has no MAC and a wrong key yields valid padding about once
//! in 256 tries.
//!
//! Every decoder here is bounds-checked and never panics: malformed input is
//! [`Encoding::Malformed`], not a crash.

use compact_str::CompactString;

use crate::format::protowire;
use crate::format::reader::{ReadError, Reader};

/// `protoEncodingPrefix` of apimachinery's protobuf serializer.
pub const PROTOBUF_MAGIC: &[u8; 4] = b"k8s\x00";
/// The CBOR self-describe tag (55799) kube-apiserver prefixes CBOR values with.
pub const CBOR_SELF_DESCRIBE: &[u8; 3] = &[0xd9, 0xd9, 0xf7];

/// `k8s.io/apimachinery/pkg/runtime.TypeMeta` (protobuf).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeMeta {
    /// `apiVersion = 1`.
    #[prost(string, optional, tag = "1")]
    pub api_version: Option<String>,
    /// `kind = 2`.
    #[prost(string, optional, tag = "2")]
    pub kind: Option<String>,
}

/// `k8s.io/apimachinery/pkg/runtime.Unknown`: the envelope after `k8s\0`.
#[derive(Clone, PartialEq, prost::Message)]
#[prost(skip_debug)]
pub struct Unknown {
    /// `typeMeta = 1`.
    #[prost(message, optional, tag = "1")]
    pub type_meta: Option<TypeMeta>,
    /// `raw = 2`: the object's own protobuf.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub raw: Option<Vec<u8>>,
    /// `contentEncoding = 3`.
    #[prost(string, optional, tag = "3")]
    pub content_encoding: Option<String>,
    /// `contentType = 4`.
    #[prost(string, optional, tag = "4")]
    pub content_type: Option<String>,
}

/// `runtime.Unknown` read for its typeMeta only: prost skips the other
/// fields without copying them (the raw object can be large).
#[derive(Clone, PartialEq, prost::Message)]
struct UnknownHead {
    /// `typeMeta = 1`.
    #[prost(message, optional, tag = "1")]
    type_meta: Option<TypeMeta>,
}

impl std::fmt::Debug for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `raw` may be a Secret: show its size only.
        f.debug_struct("Unknown")
            .field("type_meta", &self.type_meta)
            .field("raw_len", &self.raw.as_ref().map(Vec::len))
            .field("content_encoding", &self.content_encoding)
            .field("content_type", &self.content_type)
            .finish()
    }
}

/// Errors decoding a value's envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObjectError {
    /// The value does not start with `k8s\0`.
    #[error("not Kubernetes protobuf: the value does not start with k8s\\0")]
    NotProtobuf,
    /// The `runtime.Unknown` after `k8s\0` does not decode.
    #[error("runtime.Unknown after k8s\\0 does not decode: {0}")]
    Unknown(String),
    /// The envelope has no `typeMeta`, or an empty/implausible apiVersion or kind.
    #[error(
        "runtime.Unknown has an implausible typeMeta (apiVersion {api_version:?}, kind {kind:?})"
    )]
    TypeMeta {
        /// As decoded.
        api_version: String,
        /// As decoded.
        kind: String,
    },
    /// The object inside `raw` does not decode as the expected message.
    #[error("{message} in runtime.Unknown.raw does not decode: {error}")]
    Raw {
        /// Message type, e.g. `v1.Secret`.
        message: &'static str,
        /// prost's description.
        error: String,
    },
    /// A different kind than the decoder handles.
    #[error("expected {expected}, found {api_version}/{kind}")]
    WrongKind {
        /// What the decoder handles.
        expected: &'static str,
        /// Found.
        api_version: String,
        /// Found.
        kind: String,
    },
    /// CBOR structure error.
    #[error("CBOR: {0}")]
    Cbor(String),
}

/// How a plaintext value is encoded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "encoding", rename_all = "kebab-case")]
pub enum Encoding {
    /// `k8s\0` + a well-formed `runtime.Unknown` with a sane typeMeta.
    Protobuf {
        /// e.g. `v1`, `apps/v1`.
        #[serde(rename = "apiVersion")]
        api_version: CompactString,
        /// e.g. `Secret`.
        kind: CompactString,
    },
    /// A JSON object.
    Json {
        /// Top-level `apiVersion`.
        #[serde(rename = "apiVersion", skip_serializing_if = "Option::is_none")]
        api_version: Option<String>,
        /// Top-level `kind`.
        #[serde(skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
        /// `metadata.name`.
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// `metadata.namespace`.
        #[serde(skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
    },
    /// CBOR with the self-describe tag and a well-formed top-level map.
    Cbor {
        /// Top-level `apiVersion`, when a text string.
        #[serde(rename = "apiVersion", skip_serializing_if = "Option::is_none")]
        api_version: Option<String>,
        /// Top-level `kind`, when a text string.
        #[serde(skip_serializing_if = "Option::is_none")]
        kind: Option<String>,
    },
    /// Starts like one of the encodings above but does not decode.
    Malformed {
        /// `protobuf`, `json` or `cbor`.
        claimed: &'static str,
        /// What is wrong.
        error: String,
    },
    /// None of the above.
    Unknown,
}

impl Encoding {
    /// Short name: `protobuf`, `json`, `cbor`, `malformed-<claimed>`, `unknown`.
    pub fn name(&self) -> &'static str {
        match self {
            Encoding::Protobuf { .. } => "protobuf",
            Encoding::Json { .. } => "json",
            Encoding::Cbor { .. } => "cbor",
            Encoding::Malformed { claimed: "protobuf", .. } => "malformed-protobuf",
            Encoding::Malformed { claimed: "json", .. } => "malformed-json",
            Encoding::Malformed { .. } => "malformed-cbor",
            Encoding::Unknown => "unknown",
        }
    }

    /// Whether this looks like a real Kubernetes object: well-formed
    /// protobuf with a sane typeMeta, or JSON/CBOR with non-empty
    /// `apiVersion` and `kind`.
    pub fn is_plausible(&self) -> bool {
        match self {
            Encoding::Protobuf { .. } => true,
            Encoding::Json { api_version: Some(a), kind: Some(k), .. }
            | Encoding::Cbor { api_version: Some(a), kind: Some(k) } => {
                !a.is_empty() && !k.is_empty()
            }
            _ => false,
        }
    }
}

/// Recognises the encoding of a plaintext value.
pub fn classify(value: &[u8]) -> Encoding {
    if value.starts_with(PROTOBUF_MAGIC) {
        let head =
            value.strip_prefix(PROTOBUF_MAGIC).ok_or(ObjectError::NotProtobuf).and_then(|body| {
                match read_type_meta(body) {
                    Some(tm) => sane_type_meta(tm),
                    None => <UnknownHead as prost::Message>::decode(body)
                        .map_err(|e| ObjectError::Unknown(e.to_string()))
                        .and_then(|head| sane_type_meta(TypeMetaRef::of(&head.type_meta))),
                }
            });
        return match head {
            Ok((api_version, kind)) => Encoding::Protobuf { api_version, kind },
            Err(e) => Encoding::Malformed { claimed: "protobuf", error: e.to_string() },
        };
    }
    if let Some(rest) = value.strip_prefix(CBOR_SELF_DESCRIBE) {
        return match cbor_type_meta(rest) {
            Ok((api_version, kind)) => Encoding::Cbor { api_version, kind },
            Err(e) => Encoding::Malformed { claimed: "cbor", error: e.to_string() },
        };
    }
    if value.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return match serde_json::from_slice::<JsonHead>(value) {
            Ok(h) => {
                let (name, namespace) =
                    h.metadata.map(|m| (m.name, m.namespace)).unwrap_or_default();
                Encoding::Json { api_version: h.api_version, kind: h.kind, name, namespace }
            }
            Err(e) => Encoding::Malformed { claimed: "json", error: e.to_string() },
        };
    }
    Encoding::Unknown
}

/// The plausibility verdict for a decrypted value (see [`Encoding::is_plausible`]).
pub fn is_plausible(value: &[u8]) -> bool {
    classify(value).is_plausible()
}

/// Decodes `k8s\0` + `runtime.Unknown`, returning `(apiVersion, kind)` and
/// the full envelope. The typeMeta must be sane ASCII (see module docs).
pub fn decode_unknown(
    value: &[u8],
) -> Result<((CompactString, CompactString), Unknown), ObjectError> {
    let body = value.strip_prefix(PROTOBUF_MAGIC).ok_or(ObjectError::NotProtobuf)?;
    let unknown = <Unknown as prost::Message>::decode(body)
        .map_err(|e| ObjectError::Unknown(e.to_string()))?;
    let type_meta = sane_type_meta(TypeMetaRef::of(&unknown.type_meta))?;
    Ok((type_meta, unknown))
}

/// The typeMeta of a `runtime.Unknown` read without prost, in the shape
/// kube-apiserver writes: no groups, the typeMeta field at most once, each of
/// its two strings at most once, varints shorter than ten bytes. `None` when
/// the bytes stray from that shape: prost then decodes them and gives the
/// verdict. Where this returns `Some`, prost returns the same (a proptest
/// below and the `kube_object` fuzz target hold the two to it).
fn read_type_meta(body: &[u8]) -> Option<Option<TypeMetaRef<'_>>> {
    let mut type_meta = None;
    let mut pos = 0;
    while pos < body.len() {
        let (field, wire) = wire_key(body, &mut pos)?;
        match (field, wire) {
            (1, protowire::LEN) if type_meta.is_none() => {
                type_meta = Some(read_type_meta_fields(short_bytes(body, &mut pos)?)?);
            }
            (1, _) => return None,
            (_, wire) => skip_short(body, &mut pos, wire)?,
        }
    }
    Some(type_meta)
}

/// A typeMeta's two strings, borrowed from the message.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct TypeMetaRef<'a> {
    api_version: Option<&'a str>,
    kind: Option<&'a str>,
}

impl<'a> TypeMetaRef<'a> {
    /// The strings of a typeMeta decoded by prost.
    fn of(tm: &'a Option<TypeMeta>) -> Option<Self> {
        tm.as_ref().map(|t| Self { api_version: t.api_version.as_deref(), kind: t.kind.as_deref() })
    }
}

/// The fields of a `TypeMeta` message (see [`read_type_meta`]).
fn read_type_meta_fields(msg: &[u8]) -> Option<TypeMetaRef<'_>> {
    let mut tm = TypeMetaRef::default();
    let mut pos = 0;
    while pos < msg.len() {
        let (field, wire) = wire_key(msg, &mut pos)?;
        let slot = match field {
            1 => &mut tm.api_version,
            2 => &mut tm.kind,
            _ => {
                skip_short(msg, &mut pos, wire)?;
                continue;
            }
        };
        if wire != protowire::LEN || slot.is_some() {
            return None;
        }
        *slot = Some(std::str::from_utf8(short_bytes(msg, &mut pos)?).ok()?);
    }
    Some(tm)
}

/// For the `kube_object` fuzz target: whether [`read_type_meta`] and prost
/// agree on `body` (trivially so where the hand reader declines).
#[doc(hidden)]
pub fn type_meta_readers_agree(body: &[u8]) -> bool {
    read_type_meta(body).is_none_or(|fast| {
        <UnknownHead as prost::Message>::decode(body)
            .is_ok_and(|h| TypeMetaRef::of(&h.type_meta) == fast)
    })
}

/// A field key as prost accepts it: a field number from 1 to 2^29 - 1 and a
/// wire type without groups; `None` otherwise.
fn wire_key(buf: &[u8], pos: &mut usize) -> Option<(u64, u64)> {
    let key = short_varint(buf, pos)?;
    let (field, wire) = (key >> 3, key & 7);
    let plain = matches!(
        wire,
        protowire::VARINT | protowire::FIXED64 | protowire::LEN | protowire::FIXED32
    );
    ((1..1 << 29).contains(&field) && plain).then_some((field, wire))
}

/// A varint of at most nine bytes (prost rejects some ten-byte ones that Go
/// reads, so [`read_type_meta`] leaves every ten-byte varint to prost).
fn short_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let start = *pos;
    let v = protowire::varint(buf, pos).ok()?;
    (*pos - start < 10).then_some(v)
}

/// A length-delimited payload whose length is a [`short_varint`].
fn short_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let n = short_varint(buf, pos)?;
    protowire::take(buf, pos, n)
}

/// Skips a field's payload, leaving ten-byte varints to prost.
fn skip_short(buf: &[u8], pos: &mut usize, wire: u64) -> Option<()> {
    match wire {
        protowire::VARINT => short_varint(buf, pos).map(drop),
        protowire::LEN => short_bytes(buf, pos).map(drop),
        _ => protowire::skip(buf, pos, wire).ok(),
    }
}

/// `(apiVersion, kind)` of a typeMeta, if both are sane.
fn sane_type_meta(
    tm: Option<TypeMetaRef<'_>>,
) -> Result<(CompactString, CompactString), ObjectError> {
    let tm = tm.unwrap_or_default();
    let api_version = tm.api_version.unwrap_or_default();
    let kind = tm.kind.unwrap_or_default();
    if !sane_api_version(api_version) || !sane_kind(kind) {
        return Err(ObjectError::TypeMeta { api_version: api_version.into(), kind: kind.into() });
    }
    Ok((api_version.into(), kind.into()))
}

/// `v1`, `apps/v1`, `rbac.authorization.k8s.io/v1beta1`: lower-case
/// DNS-ish group, at most one `/`, a lower-case alphanumeric version.
fn sane_api_version(s: &str) -> bool {
    let (group, version) = match s.split_once('/') {
        Some((g, v)) => (Some(g), v),
        None => (None, s),
    };
    let version_ok = !version.is_empty()
        && version.len() <= 63
        && version.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let group_ok = group.is_none_or(|g| {
        !g.is_empty()
            && g.len() <= 253
            && g.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    });
    version_ok && group_ok
}

/// `Secret`, `ConfigMap`: an ASCII letter then ASCII alphanumerics.
fn sane_kind(s: &str) -> bool {
    let mut b = s.bytes();
    s.len() <= 63
        && b.next().is_some_and(|c| c.is_ascii_alphabetic())
        && b.all(|c| c.is_ascii_alphanumeric())
}

#[derive(serde::Deserialize)]
struct JsonHead {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
    metadata: Option<JsonMeta>,
}

#[derive(serde::Deserialize)]
struct JsonMeta {
    name: Option<String>,
    namespace: Option<String>,
}

// ---- a tiny bounds-checked CBOR walker (RFC 8949) ----

const CBOR_MAX_DEPTH: usize = 64;

fn rd(e: ReadError) -> ObjectError {
    ObjectError::Cbor(e.to_string())
}

/// An item head: major type and argument (`None` = indefinite length / break).
fn cbor_head(r: &mut Reader<'_>) -> Result<(u8, Option<u64>), ObjectError> {
    let at = r.offset();
    let ib = r.take(1, "CBOR initial byte").map_err(rd)?[0];
    let major = ib >> 5;
    let info = ib & 0x1f;
    let arg = match info {
        0..=23 => Some(u64::from(info)),
        24 => Some(u64::from(r.take(1, "CBOR 1-byte argument").map_err(rd)?[0])),
        25 => Some(u64::from(r.u16_be("CBOR 2-byte argument").map_err(rd)?)),
        26 => {
            Some(u64::from(u32::from_be_bytes(r.array::<4>("CBOR 4-byte argument").map_err(rd)?)))
        }
        27 => Some(r.u64_be("CBOR 8-byte argument").map_err(rd)?),
        31 if matches!(major, 2..=5 | 7) => None,
        _ => {
            return Err(ObjectError::Cbor(format!(
                "invalid additional information {info} for major type {major} at offset {at}"
            )));
        }
    };
    Ok((major, arg))
}

fn cbor_len(r: &Reader<'_>, n: u64, per_item: u64) -> Result<usize, ObjectError> {
    // Every item takes at least one byte, so a count beyond the input is bogus.
    match n.checked_mul(per_item) {
        Some(need) if need <= r.remaining() as u64 => Ok(n as usize),
        _ => Err(ObjectError::Cbor(format!(
            "length {n} at offset {} exceeds the {} bytes left",
            r.offset(),
            r.remaining()
        ))),
    }
}

/// Reads one string item (major 2 or 3) of `major`, definite or chunked.
fn cbor_string(r: &mut Reader<'_>, major: u8, arg: Option<u64>) -> Result<Vec<u8>, ObjectError> {
    match arg {
        Some(n) => {
            let n = cbor_len(r, n, 1)?;
            Ok(r.take(n, "CBOR string").map_err(rd)?.to_vec())
        }
        None => {
            let mut out = Vec::new();
            loop {
                let at = r.offset();
                let (m, a) = cbor_head(r)?;
                match (m, a) {
                    (7, None) => return Ok(out),
                    (m, Some(n)) if m == major => {
                        let n = cbor_len(r, n, 1)?;
                        out.extend_from_slice(r.take(n, "CBOR string chunk").map_err(rd)?);
                    }
                    _ => {
                        return Err(ObjectError::Cbor(format!(
                            "bad chunk in an indefinite-length string at offset {at}"
                        )));
                    }
                }
            }
        }
    }
}

/// Skips one complete item whose head has been read.
fn cbor_skip_body(
    r: &mut Reader<'_>,
    major: u8,
    arg: Option<u64>,
    depth: usize,
) -> Result<(), ObjectError> {
    if depth > CBOR_MAX_DEPTH {
        return Err(ObjectError::Cbor(format!(
            "nesting deeper than {CBOR_MAX_DEPTH} at offset {}",
            r.offset()
        )));
    }
    match (major, arg) {
        (0 | 1, _) => Ok(()),
        (2 | 3, _) => cbor_string(r, major, arg).map(|_| ()),
        (4 | 5, Some(n)) => {
            let per = if major == 5 { 2 } else { 1 };
            let n = cbor_len(r, n, per)?;
            for _ in 0..n * per as usize {
                cbor_skip(r, depth + 1)?;
            }
            Ok(())
        }
        (4 | 5, None) => {
            let mut items = 0usize;
            loop {
                let (m, a) = cbor_head(r)?;
                if (m, a) == (7, None) {
                    if major == 5 && items % 2 == 1 {
                        return Err(ObjectError::Cbor(format!(
                            "indefinite map with an odd number of items ends at offset {}",
                            r.offset()
                        )));
                    }
                    return Ok(());
                }
                cbor_skip_body(r, m, a, depth + 1)?;
                items += 1;
            }
        }
        (6, _) => cbor_skip(r, depth + 1),
        (7, Some(_)) => Ok(()),
        _ => Err(ObjectError::Cbor(format!("unexpected break at offset {}", r.offset()))),
    }
}

fn cbor_skip(r: &mut Reader<'_>, depth: usize) -> Result<(), ObjectError> {
    let (m, a) = cbor_head(r)?;
    if (m, a) == (7, None) {
        return Err(ObjectError::Cbor(format!("unexpected break at offset {}", r.offset())));
    }
    cbor_skip_body(r, m, a, depth)
}

/// Walks the top-level map after the self-describe tag, returning the
/// text-string `apiVersion` and `kind`. The map must be well formed and be
/// the whole value.
pub fn cbor_type_meta(after_tag: &[u8]) -> Result<(Option<String>, Option<String>), ObjectError> {
    let mut r = Reader::new(after_tag);
    let (major, arg) = cbor_head(&mut r)?;
    if major != 5 {
        return Err(ObjectError::Cbor(format!("top-level item is major type {major}, not a map")));
    }
    let mut api_version = None;
    let mut kind = None;
    let mut remaining = match arg {
        Some(n) => Some(cbor_len(&r, n, 2)?),
        None => None,
    };
    loop {
        if remaining == Some(0) {
            break;
        }
        let (km, ka) = cbor_head(&mut r)?;
        if (km, ka) == (7, None) {
            if remaining.is_none() {
                break;
            }
            return Err(ObjectError::Cbor(format!("unexpected break at offset {}", r.offset())));
        }
        let key = if km == 3 {
            Some(cbor_string(&mut r, 3, ka)?)
        } else {
            cbor_skip_body(&mut r, km, ka, 1)?;
            None
        };
        let (vm, va) = cbor_head(&mut r)?;
        if (vm, va) == (7, None) {
            return Err(ObjectError::Cbor(format!(
                "map key without a value at offset {}",
                r.offset()
            )));
        }
        let slot = match key.as_deref() {
            Some(b"apiVersion") => Some(&mut api_version),
            Some(b"kind") => Some(&mut kind),
            _ => None,
        };
        match slot {
            Some(slot) if vm == 3 => {
                let v = cbor_string(&mut r, 3, va)?;
                *slot =
                    Some(String::from_utf8(v).map_err(|e| {
                        ObjectError::Cbor(format!("text string is not UTF-8: {e}"))
                    })?);
            }
            _ => cbor_skip_body(&mut r, vm, va, 1)?,
        }
        if let Some(n) = remaining.as_mut() {
            *n -= 1;
        }
    }
    if r.remaining() != 0 {
        return Err(ObjectError::Cbor(format!(
            "{} trailing bytes after the top-level map",
            r.remaining()
        )));
    }
    Ok((api_version, kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A typeMeta's `(apiVersion, kind)`, owned.
    type Pair = (Option<String>, Option<String>);

    /// prost's reading of a `runtime.Unknown` body: the typeMeta, or an error.
    fn prost_type_meta(body: &[u8]) -> Result<Option<Pair>, ()> {
        <UnknownHead as prost::Message>::decode(body)
            .map(|h| h.type_meta.map(|t| (t.api_version, t.kind)))
            .map_err(drop)
    }

    /// The hand reader's answer in the same shape.
    fn fast_type_meta(body: &[u8]) -> Option<Option<Pair>> {
        read_type_meta(body)
            .map(|tm| tm.map(|t| (t.api_version.map(Into::into), t.kind.map(Into::into))))
    }

    /// An encoded `runtime.Unknown`, as kube-apiserver writes it.
    fn unknown(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        prost::Message::encode_to_vec(&Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw.to_vec()),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        })
    }

    #[test]
    fn what_apiservers_write_takes_the_fast_path() {
        for (av, kind, raw) in
            [("v1", "Secret", &[0u8; 300][..]), ("apps/v1", "Deployment", &[]), ("", "", &[1])]
        {
            let body = unknown(av, kind, raw);
            let fast = fast_type_meta(&body).expect("fast path");
            assert_eq!(Ok(fast), prost_type_meta(&body));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

        /// Wherever the hand reader answers, prost answers the same: on
        /// encoded envelopes with bytes changed, cut or added, and on noise.
        #[test]
        fn the_fast_type_meta_reader_agrees_with_prost(
            av in "[a-z0-9/.]{0,12}",
            kind in "[A-Za-z]{0,12}",
            raw in proptest::collection::vec(any::<u8>(), 0..64),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..4), 0..4),
            noise in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut body = unknown(&av, &kind, &raw);
            for (at, byte, op) in edits {
                let at = at % (body.len() + 1);
                match op {
                    0 if at < body.len() => body[at] = byte,
                    1 => body.insert(at, byte),
                    2 => body.truncate(at),
                    // A varint field (number 5) whose tenth byte is `byte`.
                    _ => body.extend_from_slice(&[0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, byte]),
                }
            }
            for b in [&body, &noise] {
                if let Some(fast) = fast_type_meta(b) {
                    prop_assert_eq!(Ok(fast), prost_type_meta(b));
                }
            }
        }
    }

    #[test]
    fn the_documented_secret_prefix_classifies_as_protobuf() {
        // k8s\0, typeMeta{v1, Secret}, raw = empty message, "" , "".
        let v = b"k8s\x00\x0a\x0c\x0a\x02v1\x12\x06Secret\x12\x00\x1a\x00\x22\x00";
        assert_eq!(
            classify(v),
            Encoding::Protobuf { api_version: "v1".into(), kind: "Secret".into() }
        );
        assert!(is_plausible(v));
    }

    #[test]
    fn garbage_after_magic_is_malformed_not_plausible() {
        let v = b"k8s\x00\xff\xff\xff";
        assert_eq!(classify(v).name(), "malformed-protobuf");
        assert!(!is_plausible(v));
        // Sane envelope, insane kind.
        let v = b"k8s\x00\x0a\x08\x0a\x02v1\x12\x02\x00\x01";
        assert!(!is_plausible(v));
    }

    #[test]
    fn json_needs_api_version_and_kind_to_be_plausible() {
        let v = br#"{"apiVersion":"cr.bar.com/v1","kind":"Foo","metadata":{"name":"a","namespace":"n"}}"#;
        assert_eq!(
            classify(v),
            Encoding::Json {
                api_version: Some("cr.bar.com/v1".into()),
                kind: Some("Foo".into()),
                name: Some("a".into()),
                namespace: Some("n".into())
            }
        );
        assert!(is_plausible(v));
        assert!(!is_plausible(br#"{"kind":"Foo"}"#));
        assert_eq!(classify(b"{nope").name(), "malformed-json");
        assert_eq!(classify(b"\x00\x01").name(), "unknown");
    }

    #[test]
    fn cbor_walker_finds_type_meta_and_rejects_trailing_bytes() {
        // d9d9f7 {"kind": "Foo", "n": [1, -2, h'00'], "apiVersion": "a/v1"}
        let mut v = vec![0xd9, 0xd9, 0xf7, 0xa3];
        v.extend([0x64]);
        v.extend(b"kind");
        v.extend([0x63]);
        v.extend(b"Foo");
        v.extend([0x61, b'n', 0x83, 0x01, 0x21, 0x41, 0x00]);
        v.extend([0x6a]);
        v.extend(b"apiVersion");
        v.extend([0x64]);
        v.extend(b"a/v1");
        assert_eq!(
            classify(&v),
            Encoding::Cbor { api_version: Some("a/v1".into()), kind: Some("Foo".into()) }
        );
        assert!(is_plausible(&v));
        v.push(0);
        assert_eq!(classify(&v).name(), "malformed-cbor");
        // A huge declared length does not allocate or panic.
        assert_eq!(
            classify(&[0xd9, 0xd9, 0xf7, 0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
                .name(),
            "malformed-cbor"
        );
    }
}
