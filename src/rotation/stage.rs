//! Deriving the rotation stage of each resource entry from the config alone.
//!
//! A *slot* is one thing that can read stored values: one key of a local
//! provider, one KMS provider, or `identity`. Slots are ordered as
//! kube-apiserver tries them; the first slot writes. The transition target B
//! is the slot named with `--to`, or else the *newest* slot: a stronger
//! provider type is newer (identity < aescbc < aesgcm < secretbox < kms v1 <
//! kms v2), and within a type the name decides (a dated name such as
//! `key-20261128T171000Z` beats an undated one, then the trailing number:
//! `key2` beats `key1`). Nothing is stored: the same file always yields the
//! same stage.

use std::cmp::Ordering;

use serde::Serialize;

use super::doc::{ConfigDoc, EntryDoc, ProviderKind};

/// One reader of stored values, in kube-apiserver's read order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slot {
    /// Index of the provider in the entry.
    pub provider: usize,
    /// Index of the key in the provider (local providers only).
    pub key: Option<usize>,
    /// `aescbc/key1`, `kms-v2/vault`, `identity`.
    pub label: String,
    /// `aescbc`, `aesgcm`, `secretbox`, `kms-v1`, `kms-v2`, `identity`.
    pub kind: String,
    /// The key or KMS provider name (empty for identity).
    pub name: String,
}

impl Slot {
    /// The label a scan census uses for objects this slot reads
    /// (`plaintext` for identity).
    pub fn evidence_label(&self) -> &str {
        if self.kind == "identity" { "plaintext" } else { &self.label }
    }
}

/// The slots of an entry, in read order.
pub fn slots(entry: &EntryDoc) -> Vec<Slot> {
    let mut out = Vec::new();
    for (pi, p) in entry.providers.iter().enumerate() {
        match &p.kind {
            ProviderKind::Local { type_name, keys } => {
                for (ki, k) in keys.iter().enumerate() {
                    out.push(Slot {
                        provider: pi,
                        key: Some(ki),
                        label: format!("{type_name}/{}", k.name),
                        kind: type_name.clone(),
                        name: k.name.clone(),
                    });
                }
            }
            ProviderKind::Kms(k) => {
                let kind = format!("kms-{}", k.version());
                out.push(Slot {
                    provider: pi,
                    key: None,
                    label: format!("{kind}/{}", k.name),
                    kind,
                    name: k.name.clone(),
                })
            }
            ProviderKind::Identity => out.push(Slot {
                provider: pi,
                key: None,
                label: "identity".into(),
                kind: "identity".into(),
                name: String::new(),
            }),
        }
    }
    out
}

fn rank(kind: &str) -> u8 {
    match kind {
        "identity" => 0,
        "aescbc" => 1,
        "aesgcm" => 2,
        "secretbox" => 3,
        "kms-v1" => 4,
        _ => 5,
    }
}

/// `(YYYYMMDD, HHMMSS)` of a name ending `-YYYYMMDDTHHMMSSZ` (atrest's generated names).
fn dated(name: &str) -> Option<(u64, u64)> {
    let tail = name.get(name.len().checked_sub(16)?..)?;
    let b = tail.as_bytes();
    let ok = b.len() == 16
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z';
    if !ok {
        return None;
    }
    Some((tail[..8].parse().ok()?, tail[9..15].parse().ok()?))
}

fn trailing_number(name: &str) -> Option<u128> {
    let digits: String = name.chars().rev().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 30 {
        return None;
    }
    digits.chars().rev().collect::<String>().parse().ok()
}

/// Which of two slots is newer, if that can be told from the config.
pub fn newer(a: &Slot, b: &Slot) -> Option<Ordering> {
    match rank(&a.kind).cmp(&rank(&b.kind)) {
        Ordering::Equal => {}
        o => return Some(o),
    }
    if a.kind == "identity" {
        return Some(Ordering::Equal);
    }
    match (dated(&a.name), dated(&b.name)) {
        (Some(x), Some(y)) if x != y => return Some(x.cmp(&y)),
        (Some(_), None) => return Some(Ordering::Greater),
        (None, Some(_)) => return Some(Ordering::Less),
        _ => {}
    }
    let stem = |n: &str| n.trim_end_matches(|c: char| c.is_ascii_digit()).to_string();
    match (trailing_number(&a.name), trailing_number(&b.name)) {
        (Some(x), Some(y)) if x != y => Some(x.cmp(&y)),
        // `vault` then `vault2`: a numbered successor of the same stem is newer.
        (Some(_), None) if stem(&a.name) == b.name => Some(Ordering::Greater),
        (None, Some(_)) if stem(&b.name) == a.name => Some(Ordering::Less),
        _ => None,
    }
}

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// One slot: nothing pending.
    Steady,
    /// B is second: every apiserver can read it, none writes it yet.
    Prepared,
    /// B is first and writes; A (every later slot) still reads old data.
    Promoted,
    /// Not a stage atrest can step from (B buried deeper, or which slot is
    /// newer cannot be told: pass `--to`).
    Irregular,
}

impl Stage {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Steady => "steady",
            Self::Prepared => "prepared",
            Self::Promoted => "promoted",
            Self::Irregular => "irregular",
        }
    }
}

/// The derived state of one resource entry.
#[derive(Debug, Clone, Serialize)]
pub struct EntryStage {
    /// Index of the entry in `resources:`.
    pub entry: usize,
    /// Its resources as written.
    pub resources: Vec<String>,
    /// The stage.
    pub stage: Stage,
    /// Every slot in read order (the first writes).
    pub slots: Vec<Slot>,
    /// Label of the slot that writes.
    pub write: String,
    /// Labels of the slots that only read.
    pub read: Vec<String>,
    /// A: the slots a finished transition removes (promoted) or the current
    /// writer (prepared).
    pub from: Vec<String>,
    /// B: the transition target.
    pub to: Option<String>,
    /// Why the stage is irregular, or other remarks.
    pub note: Option<String>,
}

/// Derives the stage of every entry. `target` is B when named with `--to`.
pub fn derive(doc: &ConfigDoc, target: Option<&str>) -> Vec<EntryStage> {
    doc.entries.iter().enumerate().map(|(i, e)| derive_entry(i, e, target)).collect()
}

/// Derives the stage of one entry.
pub fn derive_entry(index: usize, entry: &EntryDoc, target: Option<&str>) -> EntryStage {
    let slots = slots(entry);
    let labels: Vec<String> = slots.iter().map(|s| s.label.clone()).collect();
    let mut st = EntryStage {
        entry: index,
        resources: entry.resources.clone(),
        stage: Stage::Steady,
        write: labels.first().cloned().unwrap_or_default(),
        read: labels.iter().skip(1).cloned().collect(),
        from: Vec::new(),
        to: None,
        note: None,
        slots: slots.clone(),
    };
    if slots.len() <= 1 {
        return st;
    }
    let b = match target {
        Some(t) => match labels.iter().position(|l| l == t) {
            Some(p) => p,
            None => {
                st.stage = Stage::Irregular;
                st.note = Some(format!("--to {t} is not among this entry's providers/keys"));
                return st;
            }
        },
        None => {
            let newest = (0..slots.len()).find(|&i| {
                (0..slots.len())
                    .all(|j| i == j || newer(&slots[i], &slots[j]) == Some(Ordering::Greater))
            });
            match newest {
                Some(p) => p,
                None => {
                    st.stage = Stage::Irregular;
                    st.note = Some(format!(
                        "cannot tell which of {} is the transition target; name it with --to",
                        labels.join(", ")
                    ));
                    return st;
                }
            }
        }
    };
    st.to = Some(labels[b].clone());
    match b {
        0 => {
            st.stage = Stage::Promoted;
            st.from = labels[1..].to_vec();
        }
        1 => {
            st.stage = Stage::Prepared;
            st.from = vec![labels[0].clone()];
            if labels.len() > 2 {
                st.note = Some(format!("older readers kept after B: {}", labels[2..].join(", ")));
            }
        }
        _ => {
            st.stage = Stage::Irregular;
            st.note = Some(format!(
                "{} is in position {}; a prepared target must be second and a promoted one first",
                labels[b],
                b + 1
            ));
        }
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotation::doc::parse;

    fn cfg(providers: &str) -> String {
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n{providers}"
        )
    }
    const K: &str = "c2VjcmV0IGlzIHNlY3VyZQ==";

    fn stage_of(providers: &str, target: Option<&str>) -> EntryStage {
        derive(&parse(&cfg(providers)).unwrap(), target).remove(0)
    }

    #[test]
    fn names_order_by_date_then_number() {
        let s = |kind: &str, name: &str| Slot {
            provider: 0,
            key: None,
            label: String::new(),
            kind: kind.into(),
            name: name.into(),
        };
        assert_eq!(newer(&s("aescbc", "key2"), &s("aescbc", "key1")), Some(Ordering::Greater));
        assert_eq!(
            newer(&s("aescbc", "key-20261128T171000Z"), &s("aescbc", "key9")),
            Some(Ordering::Greater)
        );
        assert_eq!(newer(&s("aescbc", "old"), &s("aescbc", "new")), None);
        assert_eq!(newer(&s("kms-v2", "vault2"), &s("kms-v2", "vault")), Some(Ordering::Greater));
        assert_eq!(newer(&s("kms-v2", "vault2"), &s("kms-v2", "other")), None);
        assert_eq!(newer(&s("identity", ""), &s("aescbc", "x")), Some(Ordering::Less));
        assert_eq!(newer(&s("kms-v2", "a"), &s("secretbox", "z")), Some(Ordering::Greater));
    }

    #[test]
    fn stages_of_key_rotation() {
        let one = format!("  - aescbc:\n      keys:\n      - name: key1\n        secret: {K}\n");
        assert_eq!(stage_of(&one, None).stage, Stage::Steady);
        let prepared = format!(
            "  - aescbc:\n      keys:\n      - name: key1\n        secret: {K}\n      - name: key2\n        secret: {K}\n"
        );
        let s = stage_of(&prepared, None);
        assert_eq!(
            (s.stage, s.to.as_deref(), s.from.clone()),
            (Stage::Prepared, Some("aescbc/key2"), vec!["aescbc/key1".to_string()])
        );
        let promoted =
            prepared.replace("key1", "keyX").replace("key2", "key1").replace("keyX", "key2");
        let s = stage_of(&promoted, None);
        assert_eq!((s.stage, s.from.clone()), (Stage::Promoted, vec!["aescbc/key1".to_string()]));
        let ambiguous = prepared.replace("key1", "old").replace("key2", "new");
        assert_eq!(stage_of(&ambiguous, None).stage, Stage::Irregular);
        assert_eq!(stage_of(&ambiguous, Some("aescbc/new")).stage, Stage::Prepared);
    }

    #[test]
    fn stages_of_enabling_and_disabling() {
        let enabling_prepared = format!(
            "  - identity: {{}}\n  - secretbox:\n      keys:\n      - name: k\n        secret: {K}\n"
        );
        assert_eq!(stage_of(&enabling_prepared, None).stage, Stage::Prepared);
        let enabled = format!(
            "  - secretbox:\n      keys:\n      - name: k\n        secret: {K}\n  - identity: {{}}\n"
        );
        let s = stage_of(&enabled, None);
        assert_eq!((s.stage, s.from.clone()), (Stage::Promoted, vec!["identity".to_string()]));
        assert_eq!(
            stage_of(&enabled, Some("identity")).stage,
            Stage::Prepared,
            "disabling, prepared"
        );
        let kms = "  - aescbc:\n      keys:\n      - name: a\n        secret: S\n  - kms:\n      apiVersion: v2\n      name: vault\n      endpoint: unix:///k.sock\n";
        let s = stage_of(kms, None);
        assert_eq!((s.stage, s.to.as_deref()), (Stage::Prepared, Some("kms-v2/vault")));
    }
}
