//! kube-apiserver-equivalent validation of the mirror, and conversion into
//! the validated [`EncryptionConfig`].
//!
//! Rules, order and message texts follow `ValidateEncryptionConfiguration`
//! (`k8s.io/apiserver/pkg/apis/apiserver/validation/validation_encryption.go`)
//! and the load-time checks of `encryptionconfig/config.go` (the masking of a
//! resource by an earlier wildcard entry, the `KMSv1` feature gate), plus the
//! version facts of [`LoadOptions`]. Unlike the apiserver, which stops at the
//! first load-time error, every problem is reported. Security policy (what is
//! *wise*, not what *loads*) is not here: see `lint`.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine as _;

use super::diag::{Diagnostic, DiagnosticKind, FieldPath, Pos, go_quote};
use super::mirror::{RawConfig, RawKeys, RawKms, RawProvider, Spanned};
use super::model::{
    EncryptionConfig, GroupResource, KeySet, KmsApiVersion, KmsConfig, NamedKey, ProviderConfig,
    ResourceEntry,
};
use super::version::LoadOptions;
use super::{goduration, gourl};
use crate::secret::SecretBytes;

/// `SetDefaults_KMSConfiguration`: the timeout when omitted.
pub const DEFAULT_KMS_TIMEOUT: Duration = Duration::from_secs(3);
/// `SetDefaults_KMSConfiguration`: the v1 cache size when omitted.
pub const DEFAULT_KMS_CACHESIZE: i32 = 1000;

const AES_KEY_SIZES: &[usize] = &[16, 24, 32];
const SECRETBOX_KEY_SIZES: &[usize] = &[32];

/// The message kube-apiserver prints when a KMS v1 provider is loaded with
/// the `KMSv1` gate off (the default from 1.29). The two spaces are upstream's.
pub const KMS_V1_GATE_MESSAGE: &str = "KMSv1 is deprecated and will only receive security updates going forward. Use KMSv2 instead.  Set --feature-gates=KMSv1=true to use the deprecated KMSv1 feature.";

/// Go's `base64.StdEncoding`: padded standard alphabet, `\r`/`\n` ignored,
/// non-zero trailing bits accepted. The text is a key's, so the cleaned copy
/// is wiped and the bytes come back as [`SecretBytes`].
pub fn decode_go_base64(text: &str) -> Option<SecretBytes> {
    let cleaned: zeroize::Zeroizing<String> =
        zeroize::Zeroizing::new(text.chars().filter(|c| *c != '\r' && *c != '\n').collect());
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireCanonical),
    );
    engine.decode(cleaned.as_bytes()).ok().map(SecretBytes::new)
}

/// The KMS apiVersion after defaulting (`""` becomes `v1`).
pub fn kms_api_version(kms: &RawKms) -> &str {
    match kms.api_version.as_ref().map(|s| s.value.as_str()) {
        None | Some("") => "v1",
        Some(v) => v,
    }
}

fn json_string_list(items: &[Spanned<String>]) -> String {
    let v: Vec<&str> = items.iter().map(|s| s.value.as_str()).collect();
    go_json(&serde_json::json!(v))
}

/// `value` as Go's `json.Marshal` prints it: serde_json's text with Go's
/// HTML-safe escapes (`<`, `>`, `&`, U+2028, U+2029 as `\u003c` …). Those
/// characters can only stand inside strings, so replacing them in the
/// serialised text is exact. Object keys come out sorted (callers that
/// need Go's struct order build the object themselves).
fn go_json(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if !text.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The provider as Go's `json.Marshal` prints the internal struct in
/// `field.Invalid`, with every secret replaced by `REDACTED`.
fn provider_value(p: &RawProvider) -> String {
    use serde_json::{Value, json};
    // `keys` absent or null is a nil slice (`null`); `keys: []` is an empty
    // one (`[]`): the decoder makes a zero-length slice for it.
    let keys = |k: &Option<Spanned<RawKeys>>| match k {
        None => Value::Null,
        Some(k) => match k.value.keys.as_ref() {
            None => json!({"Keys": null}),
            Some(ks) => {
                let list: Vec<Value> = ks
                    .value
                    .iter()
                    .map(|key| {
                        let name = key.name.as_ref().map_or("", |n| n.value.as_str());
                        let secret = match &key.secret {
                            Some(s) if !s.value.is_empty() => "REDACTED",
                            _ => "",
                        };
                        json!({"Name": name, "Secret": secret})
                    })
                    .collect();
                json!({"Keys": list})
            }
        },
    };
    // Objects in Go's struct order (a serde_json object would sort the keys).
    let ordered = |fields: &[(&str, String)]| {
        let parts: Vec<String> = fields.iter().map(|(f, v)| format!("\"{f}\":{v}")).collect();
        format!("{{{}}}", parts.join(","))
    };
    let kms = match &p.kms {
        None => "null".to_string(),
        Some(k) => {
            let k = &k.value;
            let s =
                |v: &Option<Spanned<String>>| v.as_ref().map_or(String::new(), |x| x.value.clone());
            let api = kms_api_version(k);
            let timeout = k.timeout.as_ref().map_or(3_000_000_000, |t| t.value);
            let cache = match (&k.cachesize, api) {
                (Some(c), _) => json!(c.value),
                (None, "v1") => json!(DEFAULT_KMS_CACHESIZE),
                _ => Value::Null,
            };
            ordered(&[
                ("APIVersion", go_json(&json!(api))),
                ("Name", go_json(&json!(s(&k.name)))),
                ("CacheSize", go_json(&cache)),
                ("Endpoint", go_json(&json!(s(&k.endpoint)))),
                ("Timeout", go_json(&json!(goduration::format(timeout)))),
            ])
        }
    };
    let identity = if p.identity.is_some() { "{}" } else { "null" };
    ordered(&[
        ("AESGCM", go_json(&keys(&p.aesgcm))),
        ("AESCBC", go_json(&keys(&p.aescbc))),
        ("Secretbox", go_json(&keys(&p.secretbox))),
        ("Identity", identity.to_string()),
        ("KMS", kms),
    ])
}

struct Validator<'o> {
    opts: &'o LoadOptions,
    diags: Vec<Diagnostic>,
}

impl Validator<'_> {
    fn required(&mut self, path: FieldPath, pos: Pos, msg: String) {
        self.diags.push(Diagnostic::required(path, Some(pos), msg));
    }

    fn invalid(&mut self, path: FieldPath, pos: Pos, value: String, msg: String) {
        self.diags.push(Diagnostic::invalid(path, Some(pos), value, msg));
    }

    fn run(&mut self, c: &RawConfig) {
        let root = FieldPath::new("resources");
        let entries = match &c.resources {
            Some(e) if !e.value.is_empty() => e,
            other => {
                let pos = other.as_ref().map_or(c.pos, |e| e.pos);
                self.required(root.clone(), pos, format!("at least one {root} is required"));
                return;
            }
        };
        let wildcards_supported = self.opts.kube_version.at_least(1, 27);
        let mut kms_names: HashSet<String> = HashSet::new();
        for (i, conf) in entries.value.iter().enumerate() {
            let r = root.index(i).child("resources");
            let p = root.index(i).child("providers");
            let names: &[Spanned<String>] = conf.resources.as_ref().map_or(&[], |s| &s.value);
            let names_pos = conf.resources.as_ref().map_or(conf.pos, |s| s.pos);
            if names.is_empty() {
                self.required(r.clone(), names_pos, format!("at least one {r} is required"));
            }
            if wildcards_supported {
                self.resource_overlap(names, &r, names_pos);
                self.resource_names(names, &r);
            } else {
                for (j, n) in names.iter().enumerate() {
                    if GroupResource::parse(&n.value).is_wildcard() {
                        self.diags.push(Diagnostic::other(
                            DiagnosticKind::Version,
                            r.index(j),
                            Some(n.pos),
                            format!(
                                "wildcard resource {} needs Kubernetes 1.27 or later: kube-apiserver {} treats it as a literal resource name that matches nothing, so nothing it was meant to cover is encrypted",
                                go_quote(&n.value),
                                self.opts.kube_version
                            ),
                        ));
                    }
                }
            }
            let providers: &[RawProvider] = conf.providers.as_ref().map_or(&[], |s| &s.value);
            if providers.is_empty() {
                let pos = conf.providers.as_ref().map_or(conf.pos, |s| s.pos);
                self.required(p.clone(), pos, format!("at least one {p} is required"));
            }
            for (j, provider) in providers.iter().enumerate() {
                let path = p.index(j);
                self.single_provider(provider, &path);
                if let Some(kms) = &provider.kms {
                    self.kms(&kms.value, kms.pos, &path.child("kms"), &kms_names);
                    kms_names
                        .insert(kms.value.name.as_ref().map_or(String::new(), |n| n.value.clone()));
                } else if let Some(k) = &provider.aesgcm {
                    self.keys(k, &path.child("aesgcm").child("keys"), AES_KEY_SIZES);
                } else if let Some(k) = &provider.aescbc {
                    self.keys(k, &path.child("aescbc").child("keys"), AES_KEY_SIZES);
                } else if let Some(k) = &provider.secretbox {
                    self.keys(k, &path.child("secretbox").child("keys"), SECRETBOX_KEY_SIZES);
                }
            }
        }
        if wildcards_supported {
            self.masking(c);
        }
    }

    fn resource_overlap(&mut self, names: &[Spanned<String>], path: &FieldPath, pos: Pos) {
        if names.len() < 2 {
            return;
        }
        let any = GroupResource::new("*", "*");
        let grs: Vec<GroupResource> =
            names.iter().map(|n| GroupResource::parse(&n.value)).collect();
        let (mut overlap, mut duplicate) = (false, false);
        for (i, r1) in grs.iter().enumerate() {
            for (j, r2) in grs.iter().enumerate() {
                if i == j {
                    continue;
                }
                if r1 == r2 && !duplicate {
                    duplicate = true;
                    continue;
                }
                if overlap {
                    continue;
                }
                if *r1 == any {
                    overlap = true;
                    continue;
                }
                if r1.group != r2.group {
                    continue;
                }
                if r1.resource == "*" || r2.resource == "*" {
                    overlap = true;
                }
            }
        }
        let value = json_string_list(names);
        if duplicate {
            self.invalid(
                path.clone(),
                pos,
                value.clone(),
                "the same resource cannot be specified multiple times".into(),
            );
        }
        if overlap {
            self.invalid(
                path.clone(),
                pos,
                value,
                "using overlapping resources such as 'secrets' and '*.' in the same resource list is not allowed as they will be masked".into(),
            );
        }
    }

    fn resource_names(&mut self, names: &[Spanned<String>], path: &FieldPath) {
        for (j, n) in names.iter().enumerate() {
            let res = n.value.as_str();
            let gr = GroupResource::parse(res);
            let msg = if res.to_lowercase() != res {
                "resource name should not contain capital letters"
            } else if res == "*" {
                "use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources"
            } else if matches!(
                res,
                "apiserveripinfo" | "serviceipallocations" | "servicenodeportallocations"
            ) {
                "resources which do not have REST API/s cannot be encrypted"
            } else if gr.group == "events.k8s.io" {
                "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. Use 'events' instead in the config file"
            } else if gr.group == "extensions" {
                "'extensions' group has been removed and cannot be used for encryption"
            } else if gr.group == "*" && gr.resource != "*" {
                "encrypting the same resource across groups is not supported"
            } else {
                continue;
            };
            self.invalid(path.index(j), n.pos, go_quote(res), msg.to_string());
        }
    }

    /// `getTransformerOverridesAndKMSPluginProbes`: a resource may not come
    /// after a `*.<group>` or `*.*` of an earlier entry. (Conflicts inside one
    /// list are the overlap rule's, so only earlier entries are consulted.)
    fn masking(&mut self, c: &RawConfig) {
        let Some(entries) = &c.resources else { return };
        let mut configured: HashSet<GroupResource> = HashSet::new();
        let any = GroupResource::new("*", "*");
        for (i, e) in entries.value.iter().enumerate() {
            let Some(names) = &e.resources else { continue };
            for (j, n) in names.value.iter().enumerate() {
                let gr = GroupResource::parse(&n.value);
                let group_any = GroupResource::new(gr.group.clone(), "*");
                let masker = if configured.contains(&group_any) {
                    Some(group_any)
                } else if configured.contains(&any) {
                    Some(any.clone())
                } else {
                    None
                };
                if let Some(m) = masker {
                    self.diags.push(Diagnostic::other(
                        DiagnosticKind::Load,
                        FieldPath::new("resources").index(i).child("resources").index(j),
                        Some(n.pos),
                        format!(
                            "resource {} is masked by earlier rule {}",
                            go_quote(&gr.to_string()),
                            go_quote(&m.to_string())
                        ),
                    ));
                }
            }
            for n in &names.value {
                configured.insert(GroupResource::parse(&n.value));
            }
        }
    }

    fn single_provider(&mut self, p: &RawProvider, path: &FieldPath) {
        let found = p.types_set().len();
        if found == 0 {
            self.invalid(
                path.clone(),
                p.pos,
                provider_value(p),
                "provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity".into(),
            );
        } else if found > 1 {
            self.invalid(
                path.clone(),
                p.pos,
                provider_value(p),
                "more than one provider specified in a single element, should split into different list elements".into(),
            );
        }
    }

    fn keys(&mut self, k: &Spanned<RawKeys>, path: &FieldPath, sizes: &[usize]) {
        let keys = match &k.value.keys {
            Some(ks) if !ks.value.is_empty() => &ks.value,
            other => {
                let pos = other.as_ref().map_or(k.pos, |ks| ks.pos);
                self.required(path.clone(), pos, "at least one keys is required".into());
                return;
            }
        };
        for (i, key) in keys.iter().enumerate() {
            let kp = path.index(i);
            if key.name.as_ref().is_none_or(|n| n.value.is_empty()) {
                let pos = key.name.as_ref().map_or(key.pos, |n| n.pos);
                self.required(kp.child("name"), pos, "name is a mandatory field for a key".into());
            }
            let secret = match &key.secret {
                Some(s) if !s.value.is_empty() => s,
                other => {
                    let pos = other.as_ref().map_or(key.pos, |s| s.pos);
                    self.required(
                        kp.child("secret"),
                        pos,
                        "secret is a mandatory field for a key".into(),
                    );
                    continue;
                }
            };
            let Some(bytes) = decode_go_base64(secret.value.expose()) else {
                self.invalid(
                    kp.child("secret"),
                    secret.pos,
                    "\"REDACTED\"".into(),
                    "secrets must be base64 encoded".into(),
                );
                continue;
            };
            if !sizes.contains(&bytes.len()) {
                let list: Vec<String> = sizes.iter().map(usize::to_string).collect();
                self.invalid(
                    kp.child("secret"),
                    secret.pos,
                    "\"REDACTED\"".into(),
                    format!(
                        "secret is not of the expected length, got {}, expected one of [{}]",
                        bytes.len(),
                        list.join(" ")
                    ),
                );
            }
        }
    }

    fn kms(&mut self, c: &RawKms, pos: Pos, path: &FieldPath, names: &HashSet<String>) {
        let api = kms_api_version(c);
        let at = |s: &Option<Spanned<String>>| s.as_ref().map_or(pos, |x| x.pos);
        // name
        let name = c.name.as_ref().map_or("", |n| n.value.as_str());
        let np = path.child("name");
        if name.is_empty() {
            self.required(
                np.clone(),
                at(&c.name),
                "name is a mandatory field for a provider".into(),
            );
        }
        if api != "v1" && name.contains(':') {
            self.invalid(
                np.clone(),
                at(&c.name),
                go_quote(name),
                format!("invalid KMS provider name {name}, must not contain ':'"),
            );
        }
        if (self.opts.reload || api != "v1") && names.contains(name) {
            self.invalid(
                np,
                at(&c.name),
                go_quote(name),
                format!("duplicate KMS provider name {name}, names must be unique"),
            );
        }
        // timeout
        let timeout = c.timeout.as_ref().map_or(3_000_000_000, |t| t.value);
        if timeout <= 0 {
            let tpos = c.timeout.as_ref().map_or(pos, |t| t.pos);
            self.invalid(
                path.child("timeout"),
                tpos,
                go_quote(&goduration::format(timeout)),
                "timeout should be a positive value".into(),
            );
        }
        // endpoint
        let endpoint = c.endpoint.as_ref().map_or("", |e| e.value.as_str());
        let ep = path.child("endpoint");
        if endpoint.is_empty() {
            self.invalid(
                ep,
                at(&c.endpoint),
                "\"\"".into(),
                "endpoint is a mandatory field for a kms".into(),
            );
        } else {
            match gourl::scheme(endpoint) {
                Err(e) => self.invalid(
                    ep,
                    at(&c.endpoint),
                    go_quote(endpoint),
                    format!("invalid endpoint for kms provider, error: {e}"),
                ),
                Ok(s) if s != "unix" => self.invalid(
                    ep,
                    at(&c.endpoint),
                    go_quote(endpoint),
                    format!(
                        "unsupported scheme {} for KMS provider, only unix is supported",
                        go_quote(&s)
                    ),
                ),
                Ok(_) => {}
            }
        }
        // cachesize
        let cp = path.child("cachesize");
        if api != "v1" {
            if let Some(cs) = &c.cachesize {
                self.invalid(
                    cp,
                    cs.pos,
                    cs.value.to_string(),
                    "cachesize is not supported in v2".into(),
                );
            }
        } else if let Some(cs) = c.cachesize.as_ref().filter(|cs| cs.value == 0) {
            self.invalid(
                cp,
                cs.pos,
                "0".into(),
                "cachesize should be a positive value, or negative to disable".into(),
            );
        }
        // apiVersion
        if api != "v1" && api != "v2" {
            self.invalid(
                path.child("apiVersion"),
                at(&c.api_version),
                go_quote(api),
                "unsupported apiVersion apiVersion for KMS provider, only v1 and v2 are supported"
                    .into(),
            );
        }
        // load-time feature gates
        let v = self.opts.kube_version;
        if api == "v1" && !self.opts.gates.kms_v1_enabled(v) {
            self.diags.push(Diagnostic::other(
                DiagnosticKind::Load,
                path.clone(),
                Some(pos),
                KMS_V1_GATE_MESSAGE,
            ));
        }
        if api == "v2" && !self.opts.gates.kms_v2_enabled(v) {
            let why = if v.at_least(1, 25) {
                "needs --feature-gates=KMSv2=true on 1.25 and 1.26 (on by default from 1.27)"
            } else {
                "does not exist before Kubernetes 1.25"
            };
            self.diags.push(Diagnostic::other(
                DiagnosticKind::Version,
                path.clone(),
                Some(pos),
                format!(
                    "KMS v2 provider {} cannot load on Kubernetes {v}: KMS v2 {why}",
                    go_quote(name)
                ),
            ));
        }
    }
}

/// Every validation and load-time problem of a decoded config, in source order
/// of the rules (as the apiserver lists them).
pub fn validate(c: &RawConfig, opts: &LoadOptions) -> Vec<Diagnostic> {
    let mut v = Validator { opts, diags: Vec::new() };
    v.run(c);
    v.diags
}

/// Converts a mirror that [`validate`] accepted into the validated model,
/// applying the kms defaults. Returns `None` if the mirror is not valid after
/// all (never the case after an empty [`validate`] result).
pub fn convert(c: &RawConfig) -> Option<EncryptionConfig> {
    let mut entries = Vec::new();
    for e in &c.resources.as_ref()?.value {
        let resources =
            e.resources.as_ref()?.value.iter().map(|r| GroupResource::parse(&r.value)).collect();
        let mut providers = Vec::new();
        for p in &e.providers.as_ref()?.value {
            providers.push(convert_provider(p)?);
        }
        entries.push(ResourceEntry { resources, providers });
    }
    Some(EncryptionConfig { entries })
}

fn convert_keys(k: &Spanned<RawKeys>) -> Option<KeySet> {
    let mut keys = Vec::new();
    for key in &k.value.keys.as_ref()?.value {
        let name = key.name.as_ref()?.value.clone();
        let secret = decode_go_base64(key.secret.as_ref()?.value.expose())?;
        keys.push(NamedKey { name, secret });
    }
    Some(KeySet { keys })
}

fn convert_provider(p: &RawProvider) -> Option<ProviderConfig> {
    if let Some(k) = &p.aesgcm {
        return Some(ProviderConfig::AesGcm(convert_keys(k)?));
    }
    if let Some(k) = &p.aescbc {
        return Some(ProviderConfig::AesCbc(convert_keys(k)?));
    }
    if let Some(k) = &p.secretbox {
        return Some(ProviderConfig::Secretbox(convert_keys(k)?));
    }
    if p.identity.is_some() {
        return Some(ProviderConfig::Identity);
    }
    let k = &p.kms.as_ref()?.value;
    let api_version = match kms_api_version(k) {
        "v1" => KmsApiVersion::V1,
        "v2" => KmsApiVersion::V2,
        _ => return None,
    };
    let cachesize = match (api_version, &k.cachesize) {
        (_, Some(c)) => Some(c.value),
        (KmsApiVersion::V1, None) => Some(DEFAULT_KMS_CACHESIZE),
        (KmsApiVersion::V2, None) => None,
    };
    let timeout = match &k.timeout {
        Some(t) => Duration::from_nanos(u64::try_from(t.value).ok()?),
        None => DEFAULT_KMS_TIMEOUT,
    };
    Some(ProviderConfig::Kms(KmsConfig {
        api_version,
        name: k.name.as_ref()?.value.clone(),
        endpoint: k.endpoint.as_ref()?.value.clone(),
        cachesize,
        timeout,
    }))
}
