//! Status across the config files of every control-plane node.
//!
//! kube-apiserver requires the same file on every node. Given one file per
//! node, this module hashes each (`sha256:<hex>` of the bytes, as
//! `last_config_info` and `atrest hash` report it), derives every entry's
//! stage, and says which node differs from the majority and how. With
//! evidence it counts the objects under each slot and says what blocks the
//! next step. No I/O: the caller passes the bytes.

use serde::Serialize;

use super::doc;
use super::evidence::Evidence;
use super::file_hash;
use super::plan::describe;
use super::stage::{self, EntryStage, Stage};

/// Objects under one slot.
#[derive(Debug, Clone, Serialize)]
pub struct SlotCount {
    /// `aescbc/key1`, `identity`, ...
    pub label: String,
    /// Current objects of this entry's resources stored under it (with evidence).
    pub objects: Option<u64>,
}

/// One entry of one file.
#[derive(Debug, Clone, Serialize)]
pub struct EntryStatus {
    /// The derived stage.
    #[serde(flatten)]
    pub stage: EntryStage,
    /// One line describing it.
    pub summary: String,
    /// Objects per slot (with evidence).
    pub counts: Vec<SlotCount>,
    /// The next step, or what blocks it.
    pub next: String,
    /// True when the next step is blocked.
    pub blocked: bool,
    /// Objects of this entry's resources stored under a key none of its
    /// providers reads (kube-apiserver cannot read them): `label -> count`.
    pub unreadable: std::collections::BTreeMap<String, u64>,
}

/// One file.
#[derive(Debug, Clone, Serialize)]
pub struct FileStatus {
    /// As given.
    pub path: String,
    /// `sha256:<hex>` of the bytes.
    pub hash: String,
    /// Entries (empty when the file does not parse).
    pub entries: Vec<EntryStatus>,
    /// Why the file could not be read as a config.
    pub error: Option<String>,
}

/// A file that differs from the reference (the most common hash).
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    /// The differing file.
    pub path: String,
    /// The reference file it was compared with.
    pub reference: String,
    /// How it differs.
    pub how: String,
}

/// What evidence was used.
#[derive(Debug, Clone, Serialize)]
pub struct EvidenceInfo {
    /// The scanned source.
    pub source: String,
    /// The config hash the scan used.
    pub config_hash: Option<String>,
    /// Whether that hash equals the reference file's hash.
    pub matches_config: Option<bool>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// Every file.
    pub files: Vec<FileStatus>,
    /// All files byte-identical.
    pub identical: bool,
    /// Files that differ from the reference.
    pub differences: Vec<Difference>,
    /// The evidence, if any.
    pub evidence: Option<EvidenceInfo>,
}

fn entry_status(d: &doc::ConfigDoc, st: EntryStage, ev: Option<&Evidence>) -> EntryStatus {
    let counts: Vec<SlotCount> = st
        .slots
        .iter()
        .map(|s| SlotCount {
            label: s.label.clone(),
            objects: ev.map(|e| e.count(d, st.entry, s.evidence_label())),
        })
        .collect();
    let (next, blocked) = match st.stage {
        Stage::Steady => ("nothing pending; `atrest rotate prepare` starts a rotation".to_string(), false),
        Stage::Prepared => (
            "promote (`atrest rotate promote`) once EVERY kube-apiserver has loaded this exact file".to_string(),
            false,
        ),
        Stage::Promoted => {
            let under_a: Vec<String> = counts
                .iter()
                .skip(1)
                .filter(|c| c.objects.unwrap_or(0) > 0)
                .map(|c| format!("{} object(s) under {}", c.objects.unwrap_or(0), c.label))
                .collect();
            match ev {
                None => (
                    "re-encrypt, scan (`atrest scan ... --format json > scan.json`), then `atrest rotate prune --evidence scan.json`"
                        .to_string(),
                    true,
                ),
                Some(_) if !under_a.is_empty() => (
                    format!("prune blocked: {}; re-encrypt those objects and scan again", under_a.join(", ")),
                    true,
                ),
                Some(_) => (format!("prune allowed: no object under {}", st.from.join(", ")), false),
            }
        }
        Stage::Irregular => (st.note.clone().unwrap_or_default(), true),
    };
    let unreadable = ev
        .map(|e| {
            let mut m = e.labels_for_entry(d, st.entry);
            m.retain(|label, _| !st.slots.iter().any(|s| s.evidence_label() == label));
            m
        })
        .unwrap_or_default();
    EntryStatus { summary: describe(&st), stage: st, counts, next, blocked, unreadable }
}

/// Status of `files` (path, bytes): one per control-plane node.
pub fn status<B: AsRef<[u8]>>(
    files: &[(String, B)],
    evidence: Option<&Evidence>,
    target: Option<&str>,
) -> StatusReport {
    let mut out = Vec::new();
    for (path, bytes) in files {
        let bytes = bytes.as_ref();
        let hash = file_hash(bytes);
        let (entries, error) = match std::str::from_utf8(bytes)
            .map_err(|e| e.to_string())
            .and_then(|t| doc::parse(t).map_err(|e| e.to_string()))
        {
            Ok(d) => (
                stage::derive(&d, target)
                    .into_iter()
                    .map(|st| entry_status(&d, st, evidence))
                    .collect(),
                doc::check(&d).first().map(|e| e.to_string()),
            ),
            Err(e) => (Vec::new(), Some(e)),
        };
        out.push(FileStatus { path: path.clone(), hash, entries, error });
    }
    // Reference: the most common hash (the first file on a tie).
    let count = |h: &str| out.iter().filter(|g| g.hash == h).count();
    let best = out.iter().map(|f| count(&f.hash)).max().unwrap_or(0);
    let reference = out.iter().find(|f| count(&f.hash) == best).cloned();
    let mut differences = Vec::new();
    if let Some(r) = &reference {
        for f in out.iter().filter(|f| f.hash != r.hash) {
            let how = if f.error.is_some() || r.error.is_some() {
                format!(
                    "does not load: {}",
                    f.error.clone().or(r.error.clone()).unwrap_or_default()
                )
            } else if f.entries.len() != r.entries.len() {
                format!("{} resource entries instead of {}", f.entries.len(), r.entries.len())
            } else {
                let stages: Vec<String> = f
                    .entries
                    .iter()
                    .zip(&r.entries)
                    .filter(|(a, b)| a.summary != b.summary || a.stage.slots != b.stage.slots)
                    .map(|(a, b)| {
                        format!(
                            "entry {}: {} here, {} on {}",
                            a.stage.entry, a.summary, b.summary, r.path
                        )
                    })
                    .collect();
                if stages.is_empty() {
                    "same stages and key names but different bytes (secrets, comments or formatting): \
                     kube-apiserver needs byte-identical files; copy the reference"
                        .to_string()
                } else {
                    stages.join("; ")
                }
            };
            differences.push(Difference { path: f.path.clone(), reference: r.path.clone(), how });
        }
    }
    let evidence = evidence.map(|e| EvidenceInfo {
        source: e.source.clone(),
        config_hash: e.config_hash.clone(),
        matches_config: e.config_hash.as_ref().zip(reference.as_ref()).map(|(h, r)| *h == r.hash),
    });
    StatusReport { identical: differences.is_empty(), files: out, differences, evidence }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(keys: &[&str]) -> Vec<u8> {
        let mut s = String::from(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n",
        );
        for k in keys {
            s.push_str(&format!("      - name: {k}\n        secret: c2VjcmV0IGlzIHNlY3VyZQ==\n"));
        }
        s.into_bytes()
    }

    #[test]
    fn finds_the_node_that_differs_and_how() {
        let files = vec![
            ("node1".to_string(), cfg(&["key1", "key2"])),
            ("node2".to_string(), cfg(&["key1"])),
            ("node3".to_string(), cfg(&["key1", "key2"])),
        ];
        let r = status(&files, None, None);
        assert!(!r.identical);
        assert_eq!(r.differences.len(), 1);
        assert_eq!(r.differences[0].path, "node2");
        assert_eq!(r.differences[0].reference, "node1");
        assert!(r.differences[0].how.contains("steady"), "{}", r.differences[0].how);
        assert!(r.differences[0].how.contains("prepared"));
        assert_eq!(r.files[0].hash, file_hash(&files[0].1));
        let same = status(&files[..1], None, None);
        assert!(same.identical);
        let mut comment = cfg(&["key1"]);
        comment.extend_from_slice(b"# note\n");
        let r = status(&[("a".into(), cfg(&["key1"])), ("b".into(), comment)], None, None);
        assert!(r.differences[0].how.contains("byte-identical"));
    }
}
