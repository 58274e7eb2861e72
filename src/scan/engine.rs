//! Classify records into findings, decrypt-verify them in parallel, count
//! them, and push them into a reporter in source order.
//!
//! The flow is `source → classify → report`: records are read in batches,
//! each batch is classified on the rayon pool, and findings go to the
//! reporter in the order the source produced them, so output is
//! deterministic and memory is bounded by the batch size (plus, with
//! `--all-revisions`, one entry per current key).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use zeroize::Zeroize;

use super::finding::{Census, Finding, Problem, State, Verification};
use crate::config::{EncryptionConfig, GroupResource, ProviderConfig};
use crate::crypto::chain::Chain;
use crate::crypto::{CryptoError, KeyUsed};
use crate::etcd::{Query, Record, RecordSource, SourceError, SourceInfo, SourceKind};
use crate::format::{kmsv2, prefix};
use crate::kube::{self, KeyMapper, ObjectRef};
use crate::report::{Header, Reporter, Summary};

/// Records classified per parallel batch.
const BATCH: usize = 2048;

/// What to scan and what fails the scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// kube-apiserver's `--etcd-prefix` (default `/registry`).
    pub prefix: String,
    /// Only these resources (config spelling: `secrets`, `deployments.apps`); empty = all.
    pub resources: Vec<String>,
    /// Also examine every older revision still in the source.
    pub all_revisions: bool,
    /// Problem classes that fail the scan.
    pub fail_on: Vec<Problem>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            prefix: kube::DEFAULT_PREFIX.to_string(),
            resources: Vec::new(),
            all_revisions: false,
            fail_on: vec![Problem::Plaintext, Problem::Undecryptable],
        }
    }
}

/// Errors that stop a scan (a bad object is a finding, never one of these).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The source could not be read at all.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The report could not be written.
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
    /// A provider of the config could not be built.
    #[error("cannot use the config's providers for {resource}: {source}")]
    Config {
        /// The resource whose chain failed.
        resource: String,
        /// Why.
        source: CryptoError,
    },
}

/// Classifies single records against an optional config.
pub struct Scanner<'c> {
    config: Option<&'c EncryptionConfig>,
    mapper: KeyMapper,
    /// Chains shared by resources with the same provider list (keyed by the
    /// addresses of the config's provider stanzas), so a KMS plugin gets one
    /// client and one DEK cache per scan.
    chains: Mutex<HashMap<Vec<usize>, Arc<Chain>>>,
}

/// A record's identity as the scanner sees it.
struct Located {
    object: Option<ObjectRef>,
    resource: Option<String>,
}

impl<'c> Scanner<'c> {
    /// A scanner for keys under `prefix`, verifying with `config` when given.
    pub fn new(config: Option<&'c EncryptionConfig>, prefix: &str) -> Self {
        Self { config, mapper: KeyMapper::new(prefix), chains: Mutex::new(HashMap::new()) }
    }

    fn locate(&self, key: &[u8]) -> Option<Located> {
        match self.mapper.parse(key) {
            Ok(object) => {
                Some(Located { resource: Some(object.resource_name()), object: Some(object) })
            }
            Err(kube::KeyError::OutsidePrefix { .. }) => None,
            Err(_) => Some(Located { object: None, resource: None }),
        }
    }

    fn providers(&self, gr: &GroupResource) -> Vec<&'c ProviderConfig> {
        self.config.map(|c| c.providers_for(gr)).unwrap_or_default()
    }

    fn chain(&self, gr: &GroupResource) -> Result<Arc<Chain>, ScanError> {
        let providers = self.providers(gr);
        let id: Vec<usize> =
            providers.iter().map(|p| *p as *const ProviderConfig as usize).collect();
        let mut chains = self.chains.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = chains.get(&id) {
            return Ok(c.clone());
        }
        let chain = Arc::new(
            Chain::new(&providers)
                .map_err(|source| ScanError::Config { resource: gr.to_string(), source })?,
        );
        chains.insert(id, chain.clone());
        Ok(chain)
    }

    /// Whether plaintext of `gr` is a violation: the config's first provider
    /// for it encrypts; without a config, Secrets must be encrypted.
    fn requires_encryption(&self, gr: Option<&GroupResource>) -> bool {
        let Some(gr) = gr else { return false };
        match self.config {
            Some(_) => {
                self.providers(gr).first().is_some_and(|p| !matches!(p, ProviderConfig::Identity))
            }
            None => gr.group.is_empty() && gr.resource == "secrets",
        }
    }

    /// Classifies one record: a current value (`current` is `None`) or an
    /// older revision, given what the current view holds for its key.
    /// Keys outside the prefix give `None`.
    pub fn classify(
        &self,
        record: &Record,
        current: Option<CurrentState>,
    ) -> Result<Option<Finding>, ScanError> {
        let history = current.is_some();
        let Some(located) = self.locate(&record.key) else { return Ok(None) };
        let object = located.object.as_ref();
        let gr = object.map(|o| &o.group_resource);
        let key = String::from_utf8_lossy(&record.key).into_owned();
        let mut f = Finding {
            resource: located.resource,
            namespace: object.and_then(|o| o.namespace.clone()),
            name: object.map(|o| o.name.clone()),
            revision: record.mod_revision,
            history,
            size: record.value.len(),
            ..Finding::new(key, State::Plaintext)
        };
        match prefix::parse(&record.value) {
            prefix::StoredValue::Plaintext(value) => {
                describe_encoding(&mut f, &kube::classify(value));
                match current {
                    None if self.requires_encryption(gr) => f.problems.push(Problem::Plaintext),
                    // Plaintext still in the file of an object that is
                    // encrypted now, or of a deleted object that must be.
                    Some(CurrentState::Encrypted) => f.problems.push(Problem::HistoryLeak),
                    Some(CurrentState::Deleted) if self.requires_encryption(gr) => {
                        f.problems.push(Problem::HistoryLeak)
                    }
                    _ => {}
                }
            }
            prefix::StoredValue::Encrypted { kind, name, body, .. } => {
                f.state = State::Encrypted;
                f.provider = Some(kind.as_str().to_string());
                f.key_name = Some(String::from_utf8_lossy(name).into_owned());
                if kind == prefix::ProviderKind::KmsV2
                    && let Ok(obj) = kmsv2::decode(body)
                {
                    f.kms_key_id = Some(obj.key_id);
                }
                if let (Some(_), Some(gr)) = (self.config, gr) {
                    self.verify(&mut f, gr, &record.value, &record.key)?;
                } else if self.config.is_some() {
                    f.verification =
                        Verification::Failed("the etcd key is not an API object's key".into());
                }
                if !history {
                    if matches!(f.verification, Verification::Failed(_)) {
                        f.problems.push(Problem::Undecryptable);
                    }
                    if f.stale {
                        f.problems.push(Problem::Stale);
                    }
                }
            }
            prefix::StoredValue::Unterminated { kind, .. } => {
                f.state = State::UnknownPrefix;
                f.provider = Some(kind.as_str().to_string());
                if !history {
                    f.problems.push(Problem::Unknown);
                }
            }
            prefix::StoredValue::Unknown { .. } => {
                f.state = State::UnknownPrefix;
                if !history {
                    f.problems.push(Problem::Unknown);
                }
            }
        }
        Ok(Some(f))
    }

    fn verify(
        &self,
        f: &mut Finding,
        gr: &GroupResource,
        value: &[u8],
        aad: &[u8],
    ) -> Result<(), ScanError> {
        let chain = self.chain(gr)?;
        // aescbc has no MAC: a wrong key passes the padding check about 1 time
        // in 256, so its output must also look like a Kubernetes object.
        let mut plausible =
            |o: &crate::crypto::Opened| o.key.authenticates() || kube::is_plausible(&o.plaintext);
        match chain.open_checked(value, aad, &mut plausible) {
            Ok(mut opened) => {
                f.verification = Verification::Verified;
                f.stale = opened.stale;
                match &opened.key {
                    KeyUsed::Local { name, .. } => f.key_name = Some(name.clone()),
                    KeyUsed::Kms { name, key_id, .. } => {
                        f.key_name = Some(name.clone());
                        if !key_id.is_empty() {
                            f.kms_key_id = Some(key_id.clone());
                        }
                    }
                    KeyUsed::Identity => {}
                }
                describe_encoding(f, &kube::classify(&opened.plaintext));
                opened.plaintext.zeroize();
            }
            Err(e) if e.is_unverifiable() => {
                f.verification = Verification::Unverified(e.to_string())
            }
            Err(e) if !chain.is_covered() => {
                f.verification = Verification::Failed(format!(
                    "{gr} is not covered by the config, so kube-apiserver reads it as plaintext \
                     and fails ({e})"
                ))
            }
            Err(e) => f.verification = Verification::Failed(e.to_string()),
        }
        Ok(())
    }
}

fn describe_encoding(f: &mut Finding, enc: &kube::Encoding) {
    f.encoding = Some(enc.name().to_string());
    let (api_version, kind) = match enc {
        kube::Encoding::Protobuf { api_version, kind } => (Some(api_version), Some(kind)),
        kube::Encoding::Json { api_version, kind, .. }
        | kube::Encoding::Cbor { api_version, kind } => (api_version.as_ref(), kind.as_ref()),
        _ => (None, None),
    };
    f.api_version = api_version.cloned();
    f.kind = kind.cloned();
}

/// The scan header for a source.
pub fn header(info: &SourceInfo, prefix: &str) -> Header {
    let source_type = match info.kind {
        SourceKind::Snapshot => "snapshot",
        SourceKind::DataFile => "data-file",
        SourceKind::JsonDump => "etcdctl-json",
        SourceKind::RawValue => "raw-value",
        SourceKind::Live => "live",
    };
    Header {
        source: info.origin.clone(),
        source_type: source_type.to_string(),
        revision: info.revision,
        compact_revision: info.compact_revision,
        prefix: prefix.to_string(),
        config: None,
        config_hash: None,
        warnings: info.warnings.clone(),
    }
}

/// What the current view says about a key, for judging its older revisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurrentState {
    /// The current value is encrypted.
    Encrypted,
    /// The current value is not encrypted.
    NotEncrypted,
    /// The key no longer exists (deleted; its old revisions linger until compaction).
    Deleted,
}

/// Runs a whole scan: current view, then (with `all_revisions`) the history.
///
/// `progress` is called with the number of records read so far.
pub fn run(
    source: &mut dyn RecordSource,
    scanner: &Scanner<'_>,
    options: &ScanOptions,
    mut header: Header,
    reporter: &mut dyn Reporter,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, ScanError> {
    if header.prefix.is_empty() {
        header.prefix = options.prefix.clone();
    }
    reporter.begin(&header)?;
    let mut scan_prefix = kube::key::normalize_prefix(&options.prefix).into_bytes();
    scan_prefix.push(b'/');
    let mut pass = Pass {
        scanner,
        options,
        reporter,
        progress,
        census: Census::default(),
        read: 0,
        now: HashMap::new(),
    };
    pass.run(source, Query::current().with_prefix(scan_prefix.clone()), false)?;
    if options.all_revisions && source.info().has_history {
        pass.run(source, Query::history().with_prefix(scan_prefix), true)?;
    }
    let census = pass.census;
    let failed = options.fail_on.iter().any(|p| census.count(*p) > 0);
    let summary = Summary { census, fail_on: options.fail_on.clone(), failed };
    reporter.finish(&summary)?;
    Ok(summary)
}

/// State of one scan across its passes.
struct Pass<'a, 'c> {
    scanner: &'a Scanner<'c>,
    options: &'a ScanOptions,
    reporter: &'a mut dyn Reporter,
    progress: &'a mut dyn FnMut(u64),
    census: Census,
    read: u64,
    /// Revision and encrypted-or-not of each current key (filled only with
    /// `all_revisions`).
    now: HashMap<Vec<u8>, (i64, bool)>,
}

impl Pass<'_, '_> {
    fn wanted(&self, f: &Finding) -> bool {
        self.options.resources.is_empty()
            || f.resource.as_ref().is_some_and(|r| self.options.resources.iter().any(|w| w == r))
    }

    fn run(
        &mut self,
        source: &mut dyn RecordSource,
        query: Query,
        history: bool,
    ) -> Result<(), ScanError> {
        use rayon::prelude::*;
        let mut records = source.records(&query)?;
        loop {
            let mut batch: Vec<Result<Record, SourceError>> =
                records.by_ref().take(BATCH).collect();
            if batch.is_empty() {
                return Ok(());
            }
            // A failed request to a live etcd ends the stream: the scan
            // would silently miss the rest, so it stops (exit 2) instead of
            // reporting one unreadable record and passing.
            if let Some(pos) = batch.iter().position(|r| {
                matches!(r, Err(SourceError::Live { .. } | SourceError::Unreachable { .. }))
            }) && let Err(e) = batch.swap_remove(pos)
            {
                return Err(ScanError::Source(e));
            }
            self.read += batch.len() as u64;
            (self.progress)(self.read);
            let (scanner, now) = (self.scanner, &self.now);
            let classified: Vec<Result<Option<Finding>, ScanError>> = batch
                .par_iter()
                .map(|r| match r {
                    Ok(rec) if rec.tombstone => Ok(None),
                    // The history holds the current revisions too: seen already.
                    Ok(rec)
                        if history
                            && now.get(&rec.key[..]).is_some_and(|n| n.0 == rec.mod_revision) =>
                    {
                        Ok(None)
                    }
                    Ok(rec) => {
                        let current = history.then(|| match now.get(&rec.key[..]) {
                            Some((_, true)) => CurrentState::Encrypted,
                            Some((_, false)) => CurrentState::NotEncrypted,
                            None => CurrentState::Deleted,
                        });
                        scanner.classify(rec, current)
                    }
                    Err(e) => Ok(Some(unreadable_record(e, history))),
                })
                .collect();
            for (record, f) in batch.iter().zip(classified) {
                let Some(f) = f? else { continue };
                if !self.wanted(&f) {
                    continue;
                }
                if let (false, true, Ok(rec)) = (history, self.options.all_revisions, record) {
                    self.now
                        .insert(rec.key.to_vec(), (rec.mod_revision, f.state == State::Encrypted));
                }
                self.census.add(&f);
                self.reporter.finding(&f)?;
            }
        }
    }
}

/// A record the source could not decode becomes a finding, not an abort.
fn unreadable_record(e: &SourceError, history: bool) -> Finding {
    Finding {
        history,
        verification: Verification::Failed(e.to_string()),
        problems: vec![Problem::Unknown],
        ..Finding::new(format!("(unreadable record: {e})"), State::Unreadable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etcd::{Records, SourceInfo};

    struct Failing {
        info: SourceInfo,
    }

    impl RecordSource for Failing {
        fn info(&self) -> &SourceInfo {
            &self.info
        }
        fn records(&mut self, _: &Query) -> Result<Records<'_>, SourceError> {
            let ok = Record {
                key: b"/registry/secrets/ns/a".to_vec().into(),
                value: b"k8s\x00".to_vec().into(),
                create_revision: 2,
                mod_revision: 2,
                version: 1,
                lease: 0,
                sub_revision: 0,
                tombstone: false,
            };
            let err = SourceError::Live {
                endpoints: "127.0.0.1:2379".into(),
                detail: "message too large".into(),
            };
            Ok(Box::new(vec![Ok(ok), Err(err)].into_iter()))
        }
    }

    struct Null;
    impl Reporter for Null {
        fn begin(&mut self, _: &Header) -> std::io::Result<()> {
            Ok(())
        }
        fn finding(&mut self, _: &Finding) -> std::io::Result<()> {
            Ok(())
        }
        fn finish(&mut self, _: &Summary) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_live_request_stops_the_scan() {
        let mut src = Failing {
            info: SourceInfo {
                kind: SourceKind::Live,
                origin: "127.0.0.1:2379".into(),
                revision: None,
                compact_revision: None,
                scheduled_compact_revision: None,
                consistent_index: None,
                cluster_id: None,
                member_id: None,
                bbolt: None,
                trailer: crate::etcd::Trailer::Absent,
                has_history: false,
                warnings: Vec::new(),
            },
        };
        let scanner = Scanner::new(None, "/registry");
        let err = run(
            &mut src,
            &scanner,
            &ScanOptions { fail_on: vec![], ..ScanOptions::default() },
            Header::default(),
            &mut Null,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("message too large"), "{err}");
    }
}
