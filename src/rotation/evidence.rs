//! Evidence: what a scan saw stored, counted per resource and `provider/key`.
//!
//! Rotation never guesses what etcd holds. Evidence comes from a scan's JSON
//! document (`atrest scan --format json`, schema in `docs/json-schema.md`)
//! or, in-process, straight from scan [`Finding`]s
//! ([`evidence_from_findings`]). Only current objects count (older revisions
//! are history: they matter for backups, not for what the apiserver reads).
//! This module parses untrusted JSON and must not panic on it.

use std::collections::BTreeMap;

use crate::config::GroupResource;
use crate::scan::finding::Finding;

use super::doc::ConfigDoc;

/// Why an evidence file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// Not JSON.
    #[error("evidence is not a JSON document: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON, but not an atrest scan document.
    #[error("evidence is not an atrest scan document: {0}")]
    Schema(String),
}

/// Counts of current objects per resource and per `provider/key` label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// What was scanned (the scan header's `source`).
    pub source: String,
    /// `sha256:` of the config the scan used, if it used one.
    pub config_hash: Option<String>,
    /// Per-object counts: `(resource, label) -> objects`. `None` when the
    /// document carried only a census (then [`Evidence::by_key`] is used,
    /// which is conservative: it counts every resource).
    pub by_resource_key: Option<BTreeMap<(String, String), u64>>,
    /// Current objects per label over every resource (`aesgcm/key1`,
    /// `kms-v2/vault`, `plaintext`).
    pub by_key: BTreeMap<String, u64>,
}

fn label(provider: Option<&str>, key_name: Option<&str>, state: &str) -> String {
    match (provider, key_name) {
        (Some(p), Some(k)) => format!("{p}/{k}"),
        (Some(p), None) => p.to_string(),
        _ => state.to_string(),
    }
}

/// Evidence from scan findings (the in-process path: `rotate ... --scan`).
pub fn evidence_from_findings<'f>(findings: impl IntoIterator<Item = &'f Finding>) -> Evidence {
    let mut ev = Evidence { by_resource_key: Some(BTreeMap::new()), ..Evidence::default() };
    for f in findings {
        if f.history {
            continue;
        }
        ev.add(f.resource.as_deref(), f.key_label());
    }
    ev
}

/// Evidence from a scan run now: every current object of `source`, read
/// with `cfg` (the config being rotated), counted per resource and key.
pub fn scan_evidence(
    source: &mut dyn crate::etcd::RecordSource,
    cfg: &crate::config::EncryptionConfig,
    prefix: &str,
) -> Result<Evidence, crate::scan::ScanError> {
    use crate::report::{Header, Reporter, Summary};

    /// Counts findings as they stream by (nothing is kept per object).
    struct Count(Evidence);
    impl Reporter for Count {
        fn begin(&mut self, _: &Header) -> std::io::Result<()> {
            Ok(())
        }
        fn finding(&mut self, f: &Finding) -> std::io::Result<()> {
            if !f.history {
                self.0.add(f.resource.as_deref(), f.key_label());
            }
            Ok(())
        }
        fn finish(&mut self, _: &Summary) -> std::io::Result<()> {
            Ok(())
        }
    }

    let header = crate::scan::engine::header(source.info(), prefix);
    let source_name = header.source.clone();
    let options = crate::scan::ScanOptions {
        prefix: prefix.to_string(),
        fail_on: Vec::new(),
        ..crate::scan::ScanOptions::default()
    };
    let scanner = crate::scan::Scanner::new(Some(cfg), prefix);
    let mut count = Count(Evidence {
        source: source_name,
        by_resource_key: Some(BTreeMap::new()),
        ..Evidence::default()
    });
    crate::scan::run(source, &scanner, &options, header, &mut count, &mut |_| {})?;
    Ok(count.0)
}

impl Evidence {
    fn add(&mut self, resource: Option<&str>, label: String) {
        *self.by_key.entry(label.clone()).or_default() += 1;
        if let (Some(map), Some(r)) = (self.by_resource_key.as_mut(), resource) {
            *map.entry((r.to_string(), label)).or_default() += 1;
        }
    }

    /// Parses a scan JSON document (`{schema_version, tool, header, objects,
    /// history, summary: {census}}`).
    pub fn from_scan_json(bytes: &[u8]) -> Result<Evidence, EvidenceError> {
        use serde_json::Value;
        let v: Value = serde_json::from_slice(bytes)?;
        let schema = |m: &str| EvidenceError::Schema(m.to_string());
        let obj = v.as_object().ok_or_else(|| schema("top level is not an object"))?;
        match obj.get("schema_version").and_then(Value::as_u64) {
            Some(1) => {}
            Some(n) => {
                return Err(schema(&format!("schema_version {n} is not supported (expected 1)")));
            }
            None => return Err(schema("missing schema_version")),
        }
        let header = obj.get("header").and_then(Value::as_object);
        let mut ev = Evidence {
            source: header
                .and_then(|h| h.get("source"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            config_hash: header
                .and_then(|h| h.get("config_hash"))
                .and_then(Value::as_str)
                .map(str::to_string),
            ..Evidence::default()
        };
        if let Some(objects) = obj.get("objects") {
            let objects = objects.as_array().ok_or_else(|| schema("objects is not a list"))?;
            ev.by_resource_key = Some(BTreeMap::new());
            for (i, o) in objects.iter().enumerate() {
                let o = o
                    .as_object()
                    .ok_or_else(|| schema(&format!("objects[{i}] is not an object")))?;
                let s = |k: &str| o.get(k).and_then(Value::as_str);
                if o.get("history").and_then(Value::as_bool) == Some(true) {
                    continue;
                }
                let state =
                    s("state").ok_or_else(|| schema(&format!("objects[{i}].state is missing")))?;
                ev.add(s("resource"), label(s("provider"), s("key_name"), state));
            }
            return Ok(ev);
        }
        let by_key = obj
            .get("summary")
            .and_then(|s| s.get("census"))
            .and_then(|c| c.get("by_key"))
            .and_then(Value::as_object)
            .ok_or_else(|| schema("neither objects nor summary.census.by_key is present"))?;
        for (k, n) in by_key {
            let n = n
                .as_u64()
                .ok_or_else(|| schema(&format!("summary.census.by_key.{k} is not a count")))?;
            ev.by_key.insert(k.clone(), n);
        }
        Ok(ev)
    }

    /// Current objects under `label` that entry `entry` of `doc` governs.
    pub fn count(&self, doc: &ConfigDoc, entry: usize, label: &str) -> u64 {
        match &self.by_resource_key {
            Some(map) => map
                .iter()
                .filter(|((r, l), _)| l == label && governing_entries(doc, r).contains(&entry))
                .map(|(_, n)| *n)
                .sum(),
            None => self.by_key.get(label).copied().unwrap_or(0),
        }
    }
}

impl Evidence {
    /// Every label with current objects of resources that entry `entry`
    /// governs (empty without per-object data).
    pub fn labels_for_entry(&self, doc: &ConfigDoc, entry: usize) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        if let Some(map) = &self.by_resource_key {
            for ((r, l), n) in map {
                if governing_entries(doc, r).contains(&entry) {
                    *out.entry(l.clone()).or_default() += n;
                }
            }
        }
        out
    }
}

/// The entries whose providers kube-apiserver uses for `resource`: exact
/// matches (all of them, concatenated), else the group wildcard, else `*.*`.
pub fn governing_entries(doc: &ConfigDoc, resource: &str) -> Vec<usize> {
    crate::config::model::governing_entries(
        doc.entries.iter().map(|e| e.resources.iter().map(|r| GroupResource::parse(r))),
        &GroupResource::parse(resource),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotation::doc::parse;
    use crate::scan::finding::State;

    const DOC: &str = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers: [{identity: {}}]\n- resources: ['*.apps']\n  providers: [{identity: {}}]\n- resources: ['*.*']\n  providers: [{identity: {}}]\n";

    fn finding(
        resource: &str,
        provider: Option<&'static str>,
        key: Option<&str>,
        history: bool,
    ) -> Finding {
        Finding {
            resource: Some(resource.into()),
            revision: 1,
            history,
            size: 1,
            provider,
            key_name: key.map(Into::into),
            ..Finding::new(
                format!("/registry/{resource}/x"),
                if provider.is_some() { State::Encrypted } else { State::Plaintext },
            )
        }
    }

    #[test]
    fn counts_follow_apiserver_resource_matching() {
        let doc = parse(DOC).unwrap();
        let fs = [
            finding("secrets", Some("aescbc"), Some("k1"), false),
            finding("secrets", Some("aescbc"), Some("k1"), true),
            finding("deployments.apps", Some("aescbc"), Some("k1"), false),
            finding("configmaps", None, None, false),
        ];
        let ev = evidence_from_findings(&fs);
        assert_eq!(ev.count(&doc, 0, "aescbc/k1"), 1, "history revisions do not count");
        assert_eq!(ev.count(&doc, 1, "aescbc/k1"), 1);
        assert_eq!(ev.count(&doc, 2, "aescbc/k1"), 0);
        assert_eq!(ev.count(&doc, 2, "plaintext"), 1);
        assert_eq!(ev.by_key.get("aescbc/k1"), Some(&2));
    }

    #[test]
    fn parses_objects_or_falls_back_to_the_census() {
        let doc = parse(DOC).unwrap();
        let j = br#"{"schema_version":1,"header":{"source":"snap.db","config_hash":"sha256:ab"},
            "objects":[{"resource":"secrets","provider":"kms-v2","key_name":"vault","state":"encrypted","history":false}],
            "history":[],"summary":{"census":{"by_key":{"kms-v2/vault":1}}}}"#;
        let ev = Evidence::from_scan_json(j).unwrap();
        assert_eq!((ev.source.as_str(), ev.config_hash.as_deref()), ("snap.db", Some("sha256:ab")));
        assert_eq!(ev.count(&doc, 0, "kms-v2/vault"), 1);
        assert_eq!(ev.count(&doc, 2, "kms-v2/vault"), 0);
        let census_only =
            br#"{"schema_version":1,"summary":{"census":{"by_key":{"aescbc/k1":5}}}}"#;
        let ev = Evidence::from_scan_json(census_only).unwrap();
        assert_eq!(
            ev.count(&doc, 2, "aescbc/k1"),
            5,
            "without objects every entry sees the global count"
        );
        assert!(Evidence::from_scan_json(b"{}").is_err());
        assert!(Evidence::from_scan_json(br#"{"schema_version":2}"#).is_err());
        assert!(Evidence::from_scan_json(b"\xff").is_err());
        assert!(
            Evidence::from_scan_json(br#"{"schema_version":1,"objects":[{"resource":"x"}]}"#)
                .is_err()
        );
    }
}
