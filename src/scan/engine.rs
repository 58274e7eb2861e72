//! Classify records into findings, decrypt-verify them in parallel, count
//! them, and push them into a reporter in source order.
//!
//! The flow is `source → classify → report`: records are read in batches,
//! each batch is classified whole by one of the worker threads
//! ([`ScanOptions::jobs`]), and findings go to the reporter in the order the
//! source produced them, so output is deterministic and memory is bounded
//! by the batch size (plus, with `--all-revisions`, one entry per current
//! key).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use compact_str::CompactString;

use super::finding::{Census, Finding, Problem, State, Tally, Verification};
use crate::config::{EncryptionConfig, GroupResource, ProviderConfig};
use crate::crypto::chain::Chain;
use crate::crypto::{CryptoError, KeyUsed};
use crate::etcd::{Query, Record, RecordSource, SourceError, SourceInfo, SourceKind};
use crate::format::{kmsv2, prefix};
use crate::kube::{self, KeyMapper};
use crate::report::{Header, Reporter, Summary};

/// Records classified per parallel batch.
const BATCH: usize = 512;

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
    /// Threads that decrypt-verify (0: one per core).
    pub jobs: usize,
}

impl ScanOptions {
    fn workers(&self) -> usize {
        match self.jobs {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            prefix: kube::DEFAULT_PREFIX.to_string(),
            resources: Vec::new(),
            all_revisions: false,
            fail_on: vec![Problem::Plaintext, Problem::Undecryptable],
            jobs: 0,
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
    /// The system would not start the scan's threads (see `--jobs`).
    #[error("cannot start the scan's threads: {0}; try fewer --jobs")]
    Threads(#[source] std::io::Error),
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
    /// What the config demands of each resource met so far: worked out
    /// once per resource, not once per object.
    policies: RwLock<PolicyCache>,
}

type FastHash = foldhash::fast::RandomState;

/// Policies by group, then resource, so that a key's borrowed names look
/// one up. The scanner keeps one behind a lock for all workers; each worker
/// thread keeps its own as well (any fresh one will do for a single call).
/// Looking one up in the worker's own writes no shared cache line; the
/// scanner's lock and the policy's reference count, written by every worker
/// once per object, took a third of `classify`'s own time at 1 KiB values.
#[derive(Default)]
pub struct PolicyCache(HashMap<String, HashMap<String, Arc<Policy>, FastHash>, FastHash>);

impl PolicyCache {
    /// The policy of `group`/`resource`, if met.
    fn get(&self, group: &str, resource: &str) -> Option<&Arc<Policy>> {
        self.0.get(group).and_then(|by_resource| by_resource.get(resource))
    }

    /// Keeps `policy` for `group`/`resource` unless one is there already;
    /// the one kept.
    fn keep(&mut self, group: &str, resource: &str, policy: Arc<Policy>) -> &Arc<Policy> {
        let by_resource = self.0.entry(group.to_owned()).or_default();
        by_resource.entry(resource.to_owned()).or_insert(policy)
    }
}

/// What the config demands of one resource.
struct Policy {
    /// The resource as the config names it (`secrets`, `deployments.apps`).
    name: CompactString,
    /// The transformer chain that reads it (with a config).
    chain: Option<Arc<Chain>>,
    /// Plaintext is a violation: the first provider encrypts (without a
    /// config: it is a Secret).
    requires_encryption: bool,
}

impl<'c> Scanner<'c> {
    /// A scanner for keys under `prefix`, verifying with `config` when given.
    pub fn new(config: Option<&'c EncryptionConfig>, prefix: &str) -> Self {
        Self {
            config,
            mapper: KeyMapper::new(prefix),
            chains: Mutex::new(HashMap::new()),
            policies: RwLock::new(PolicyCache::default()),
        }
    }

    fn policy(&self, object: &kube::ObjectView<'_>) -> Result<Arc<Policy>, ScanError> {
        let known = self.policies.read().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = known.get(object.group, object.resource) {
            return Ok(p.clone());
        }
        drop(known);
        let gr = &GroupResource::new(object.group, object.resource);
        let providers = self.config.map(|c| c.providers_for(gr)).unwrap_or_default();
        let requires_encryption = match self.config {
            Some(_) => providers.first().is_some_and(|p| !matches!(p, ProviderConfig::Identity)),
            None => gr.group.is_empty() && gr.resource == "secrets",
        };
        let chain = match self.config {
            Some(_) => Some(self.chain(gr, &providers)?),
            None => None,
        };
        let name = object.resource_name().into();
        let policy = Arc::new(Policy { name, chain, requires_encryption });
        let mut policies = self.policies.write().unwrap_or_else(|e| e.into_inner());
        Ok(policies.keep(object.group, object.resource, policy).clone())
    }

    fn chain(
        &self,
        gr: &GroupResource,
        providers: &[&'c ProviderConfig],
    ) -> Result<Arc<Chain>, ScanError> {
        let id: Vec<usize> =
            providers.iter().map(|p| *p as *const ProviderConfig as usize).collect();
        let mut chains = self.chains.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = chains.get(&id) {
            return Ok(c.clone());
        }
        let chain = Arc::new(
            Chain::new(providers)
                .map_err(|source| ScanError::Config { resource: gr.to_string(), source })?,
        );
        chains.insert(id, chain.clone());
        Ok(chain)
    }

    /// Classifies one record: a current value (`current` is `None`) or an
    /// older revision, given what the current view holds for its key.
    /// Keys outside the prefix give `None`.
    pub fn classify(
        &self,
        record: &Record<'_>,
        current: Option<CurrentState>,
    ) -> Result<Option<Finding>, ScanError> {
        self.classify_cached(&mut PolicyCache::default(), record, current)
    }

    /// [`Self::classify`] with the policies this caller (one thread) has
    /// met kept in `cache`.
    pub fn classify_cached(
        &self,
        cache: &mut PolicyCache,
        record: &Record<'_>,
        current: Option<CurrentState>,
    ) -> Result<Option<Finding>, ScanError> {
        let history = current.is_some();
        // kube-apiserver writes only UTF-8 keys. A key that is not (planted
        // by hand, or corrupt) is mapped through its lossy text, so that a
        // plaintext value under `secrets/` is still judged as a Secret.
        let lossy_key;
        let mut view = self.mapper.view(&record.key);
        if view.is_err() && std::str::from_utf8(&record.key).is_err() {
            lossy_key = String::from_utf8_lossy(&record.key).into_owned();
            view = self.mapper.view(lossy_key.as_bytes());
        }
        let (object, policy) = match view {
            Ok(o) => {
                let policy = match cache.get(o.group, o.resource) {
                    Some(policy) => policy,
                    None => {
                        let policy = self.policy(&o)?;
                        cache.keep(o.group, o.resource, policy)
                    }
                };
                (Some(o), Some(&**policy))
            }
            Err(kube::KeyError::OutsidePrefix { .. }) => return Ok(None),
            Err(_) => (None, None),
        };
        let requires_encryption = policy.as_ref().is_some_and(|p| p.requires_encryption);
        // An object's key was checked as UTF-8 by the key mapper.
        let key = match object {
            Some(o) => o.key.to_owned(),
            None => String::from_utf8_lossy(&record.key).into_owned(),
        };
        let (namespace, name) = match object {
            Some(o) => (o.namespace, Some(o.name)),
            None => (None, None),
        };
        let mut f = Finding {
            resource: policy.as_ref().map(|p| p.name.clone()),
            namespace: namespace.map(CompactString::from),
            name: name.map(CompactString::from),
            revision: record.mod_revision,
            history,
            size: record.value.len(),
            ..Finding::new(key, State::Plaintext)
        };
        match prefix::parse(&record.value) {
            prefix::StoredValue::Plaintext(value) => {
                describe_encoding(&mut f, kube::classify(value));
                match current {
                    None if requires_encryption => f.problems.push(Problem::Plaintext),
                    // Plaintext still in the file of an object that is
                    // encrypted now, or of a deleted object that must be.
                    Some(CurrentState::Encrypted) => f.problems.push(Problem::HistoryLeak),
                    Some(CurrentState::Deleted) if requires_encryption => {
                        f.problems.push(Problem::HistoryLeak)
                    }
                    _ => {}
                }
            }
            prefix::StoredValue::Encrypted { kind, name, body, .. } => {
                f.state = State::Encrypted;
                f.provider = Some(kind.as_str());
                f.key_name = Some(CompactString::from_utf8_lossy(name));
                if kind == prefix::ProviderKind::KmsV2
                    && let Ok(obj) = kmsv2::decode(body)
                {
                    f.kms_key_id = Some(obj.key_id.into());
                }
                if let Some(chain) = policy.as_ref().and_then(|p| p.chain.as_ref()) {
                    verify(&mut f, chain, &record.value, &record.key);
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
                f.provider = Some(kind.as_str());
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
}

/// Decrypts `value` with `chain` and records what it proves in `f`.
fn verify(f: &mut Finding, chain: &Chain, value: &[u8], aad: &[u8]) {
    // aescbc has no MAC: a wrong key passes the padding check about 1 time
    // in 256, so its output must also look like a Kubernetes object. The
    // encoding found for the accepted plaintext is kept for the finding.
    let mut encoding = None;
    let mut plausible = |o: &crate::crypto::Opened| {
        if o.key.authenticates() {
            encoding = None;
            return true;
        }
        let e = kube::classify(&o.plaintext);
        let ok = e.is_plausible();
        encoding = Some(e);
        ok
    };
    match chain.open_checked(value, aad, &mut plausible) {
        Ok(mut opened) => {
            f.verification = Verification::Verified;
            f.stale = opened.stale;
            // Usually the prefix named the key already: no new string then.
            if let KeyUsed::Local { name, .. } | KeyUsed::Kms { name, .. } = &opened.key
                && f.key_name.as_deref() != Some(name.as_str())
            {
                f.key_name = Some(name.as_str().into());
            }
            if let KeyUsed::Kms { key_id, .. } = &opened.key
                && !key_id.is_empty()
                && f.kms_key_id.as_deref() != Some(key_id.as_str())
            {
                f.kms_key_id = Some(key_id.as_str().into());
            }
            // `open_checked` returns on the first accepted plaintext, so a
            // kept encoding is that plaintext's.
            let encoding = encoding.take().unwrap_or_else(|| kube::classify(&opened.plaintext));
            describe_encoding(f, encoding);
            crate::secret::wipe(&mut opened.plaintext);
        }
        Err(e) if e.is_unverifiable() => f.verification = Verification::Unverified(e.to_string()),
        Err(e) if !chain.is_covered() => {
            f.verification = Verification::Failed(format!(
                "{} is not covered by the config, so kube-apiserver reads it as plaintext \
                     and fails ({e})",
                f.resource.as_deref().unwrap_or_default()
            ))
        }
        Err(e) => f.verification = Verification::Failed(e.to_string()),
    }
}

fn describe_encoding(f: &mut Finding, enc: kube::Encoding) {
    f.encoding = Some(enc.name());
    (f.api_version, f.kind) = match enc {
        kube::Encoding::Protobuf { api_version, kind } => (Some(api_version), Some(kind)),
        kube::Encoding::Json { api_version, kind, .. }
        | kube::Encoding::Cbor { api_version, kind } => {
            (api_version.map(Into::into), kind.map(Into::into))
        }
        _ => (None, None),
    };
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
    // A snapshot whose trailer was hashed while it was read: the findings
    // only count if the file is what was saved.
    source.finish()?;
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

/// Whether `f` is of a resource the scan asked for (all when `resources` is empty).
fn wanted(resources: &[String], f: &Finding) -> bool {
    resources.is_empty() || f.resource.as_ref().is_some_and(|r| resources.iter().any(|w| w == r))
}

impl Pass<'_, '_> {
    /// One pass over `query`, as a three-stage pipeline so that reading,
    /// decrypting and reporting overlap: a reader thread fills batches from
    /// the source, worker threads each take the next batch and classify and
    /// count all of it, and this thread reports the findings in source
    /// order. With each batch, the reader queues for this thread the
    /// receiver its worker will answer on, so the answers are read in the
    /// order the batches were made, whichever worker finishes first. Both
    /// queues hold at most [`IN_FLIGHT`] batches, so memory stays bounded by
    /// the batch size; a worker's answer never waits, so no stage can block
    /// another for good.
    ///
    /// Whole batches per worker, rather than each batch split over a rayon
    /// pool by a classifier thread, mean fewer hand-offs between threads:
    /// at 1 KiB values the scan took 14–18% less CPU (`docs/performance.md`).
    fn run(
        &mut self,
        source: &mut dyn RecordSource,
        query: Query,
        history: bool,
    ) -> Result<(), ScanError> {
        use std::sync::mpsc::{Receiver, sync_channel};
        let records = source.records(&query)?;
        let scanner = self.scanner;
        // Read by the workers during the history pass; the current pass
        // fills `seen` instead.
        let now_owned = std::mem::take(&mut self.now);
        let now = &now_owned;
        let mut seen: HashMap<Vec<u8>, (i64, bool)> = HashMap::new();
        let workers = self.options.workers();
        // Batches go to whichever worker is free; the receiver of each
        // batch's result goes, in source order, to this thread.
        let (work_tx, work_rx) = sync_channel::<(Batch<'_>, Reply<'_>)>(IN_FLIGHT);
        let work_rx = Mutex::new(work_rx);
        let result = std::thread::scope(|s| -> Result<(), ScanError> {
            // Owned by this closure, so that an early return drops it and
            // the workers already started stop instead of waiting for work.
            let work_tx = work_tx;
            let (order_tx, order_rx) = sync_channel::<Receiver<Classified<'_>>>(IN_FLIGHT);
            let resources = &self.options.resources;
            let thread = |name: &str| std::thread::Builder::new().name(name.to_string());
            // Workers first: a reader with no one to take its batches
            // would wait for good.
            let mut counters = Vec::with_capacity(workers);
            for _ in 0..workers {
                let work_rx = &work_rx;
                let counter = thread("atrest-worker").spawn_scoped(s, move || {
                    let mut tally = Tally::default();
                    let mut cache = PolicyCache::default();
                    loop {
                        let next = work_rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                        let Ok((batch, reply)) = next else { break };
                        let classified = classify_batch(batch, |r| {
                            let f = classify_one(scanner, &mut cache, r, history.then_some(now))?;
                            Ok(f.filter(|f| wanted(resources, f)))
                        });
                        classified.findings.iter().flatten().flatten().for_each(|f| tally.add(f));
                        // Fails only when the reporting thread has stopped
                        // (an error): no one waits for this answer then.
                        let _ = reply.send(classified);
                    }
                    tally
                });
                counters.push(counter.map_err(ScanError::Threads)?);
            }
            thread("atrest-reader")
                .spawn_scoped(s, move || {
                    let mut records = records;
                    loop {
                        let batch: Batch<'_> = records.by_ref().take(BATCH).collect();
                        if batch.is_empty() {
                            return;
                        }
                        // A failed request to a live etcd ends the stream.
                        let stop = batch.iter().any(ends_scan);
                        let (reply, result) = sync_channel(1);
                        if work_tx.send((batch, reply)).is_err()
                            || order_tx.send(result).is_err()
                            || stop
                        {
                            return;
                        }
                    }
                })
                .map_err(ScanError::Threads)?;
            for result in order_rx {
                let Ok(classified) = result.recv() else { break };
                let Classified { mut batch, mut findings, reversed } = classified;
                // A failed request to a live etcd: the scan would silently
                // miss the rest, so it stops (exit 2) instead of reporting
                // one unreadable record and passing.
                if let Some(pos) = batch.iter().position(ends_scan)
                    && let Err(e) = batch.swap_remove(pos)
                {
                    return Err(ScanError::Source(e));
                }
                self.read += batch.len() as u64;
                (self.progress)(self.read);
                for (record, f) in batch.iter().zip(in_source_order(&mut findings, reversed)) {
                    let f = match f {
                        Ok(Some(f)) => &*f,
                        Ok(None) => continue,
                        // Moved out to be returned: the batch is dropped unread.
                        Err(_) => return std::mem::replace(f, Ok(None)).map(drop),
                    };
                    if let (false, true, Ok(rec)) = (history, self.options.all_revisions, record) {
                        seen.insert(
                            rec.key.to_vec(),
                            (rec.mod_revision, f.state == State::Encrypted),
                        );
                    }
                    self.reporter.finding(f)?;
                }
            }
            for counter in counters {
                match counter.join() {
                    Ok(tally) => self.census.merge(tally.into_census()),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            Ok(())
        });
        self.now = if history { now_owned } else { seen };
        result
    }
}

/// A failed request to a live etcd: the stream ends there, and so does the
/// scan (reading on would silently miss the rest of the keyspace).
fn ends_scan(record: &Result<Record<'_>, SourceError>) -> bool {
    matches!(record, Err(SourceError::Live { .. } | SourceError::Unreachable { .. }))
}

/// Records read in one go.
type Batch<'a> = Vec<Result<Record<'a>, SourceError>>;

/// Where a worker sends a classified batch back.
type Reply<'a> = std::sync::mpsc::SyncSender<Classified<'a>>;

/// A batch and what the scanner made of each of its records.
struct Classified<'a> {
    batch: Batch<'a>,
    findings: Vec<Result<Option<Finding>, ScanError>>,
    /// `findings` runs from the batch's last record to its first.
    reversed: bool,
}

/// `findings` in source order, borrowed: a finding is reported where the
/// worker left it, not moved out first.
fn in_source_order<T>(findings: &mut [T], reversed: bool) -> Box<dyn Iterator<Item = &mut T> + '_> {
    if reversed { Box::new(findings.iter_mut().rev()) } else { Box::new(findings.iter_mut()) }
}

/// Classifies every record of `batch` with `classify`, walking it upwards
/// in memory so the hardware prefetcher streams the values (a snapshot's
/// current view comes out top-down).
fn classify_batch<'a>(
    batch: Batch<'a>,
    mut classify: impl FnMut(&Result<Record<'a>, SourceError>) -> Result<Option<Finding>, ScanError>,
) -> Classified<'a> {
    let reversed = descends_in_memory(&batch);
    let findings = if reversed {
        batch.iter().rev().map(&mut classify).collect()
    } else {
        batch.iter().map(&mut classify).collect()
    };
    Classified { batch, findings, reversed }
}

/// True when the batch's values lie at falling addresses: a bbolt walk from
/// the newest revision down reads its leaf pages from the top.
fn descends_in_memory(batch: &Batch<'_>) -> bool {
    let address = |r: &Result<Record<'_>, SourceError>| match r {
        Ok(r) if !r.value.is_empty() => Some(r.value.as_ptr() as usize),
        _ => None,
    };
    let first = batch.iter().find_map(address);
    let last = batch.iter().rev().find_map(address);
    matches!((first, last), (Some(first), Some(last)) if first > last)
}

/// Batches waiting in each of the pipeline's queues.
const IN_FLIGHT: usize = 4;

/// Classifies one record of a pass; `now` (history passes only) holds the
/// revision and encrypted-or-not of each current key.
fn classify_one(
    scanner: &Scanner<'_>,
    cache: &mut PolicyCache,
    record: &Result<Record<'_>, SourceError>,
    now: Option<&HashMap<Vec<u8>, (i64, bool)>>,
) -> Result<Option<Finding>, ScanError> {
    let rec = match record {
        Ok(rec) => rec,
        Err(e) => return Ok(Some(unreadable_record(e, now.is_some()))),
    };
    if rec.tombstone {
        return Ok(None);
    }
    let current = match now.map(|n| n.get(&rec.key[..])) {
        None => None,
        // The history holds the current revisions too: seen already.
        Some(Some(&(rev, _))) if rev == rec.mod_revision => return Ok(None),
        Some(Some(&(_, true))) => Some(CurrentState::Encrypted),
        Some(Some(&(_, false))) => Some(CurrentState::NotEncrypted),
        Some(None) => Some(CurrentState::Deleted),
    };
    scanner.classify_cached(cache, rec, current)
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
            let ok = Record::created(&b"/registry/secrets/ns/a"[..], &b"k8s\x00"[..], 2);
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
        let mut src = Failing { info: SourceInfo::new(SourceKind::Live, "127.0.0.1:2379".into()) };
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

    /// Records whose values borrow from one buffer, at rising or falling
    /// addresses, like a snapshot's history and current view.
    struct Borrowed {
        info: SourceInfo,
        values: Vec<u8>,
        descending: bool,
        /// The record (in source order) whose key names a Secret.
        secret_at: Option<usize>,
    }

    impl RecordSource for Borrowed {
        fn info(&self) -> &SourceInfo {
            &self.info
        }
        fn records(&mut self, _: &Query) -> Result<Records<'_>, SourceError> {
            let n = self.values.len() / 8;
            let order: Vec<usize> =
                if self.descending { (0..n).rev().collect() } else { (0..n).collect() };
            let (values, secret_at) = (&self.values, self.secret_at);
            Ok(Box::new(order.into_iter().enumerate().map(move |(at, i)| {
                let resource = if Some(at) == secret_at { "secrets" } else { "configmaps" };
                let key = format!("/registry/{resource}/ns/o{i:05}").into_bytes();
                Ok(Record::created(key, &values[i * 8..i * 8 + 8], 2))
            })))
        }
    }

    #[derive(Default)]
    struct Keys(Vec<String>);
    impl Reporter for Keys {
        fn begin(&mut self, _: &Header) -> std::io::Result<()> {
            Ok(())
        }
        fn finding(&mut self, f: &Finding) -> std::io::Result<()> {
            self.0.push(f.key.clone());
            Ok(())
        }
        fn finish(&mut self, _: &Summary) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Takes `.0` findings, then fails on the next one.
    struct FailsAfter(usize);
    impl Reporter for FailsAfter {
        fn begin(&mut self, _: &Header) -> std::io::Result<()> {
            Ok(())
        }
        fn finding(&mut self, _: &Finding) -> std::io::Result<()> {
            self.0 = self.0.checked_sub(1).ok_or(std::io::ErrorKind::StorageFull)?;
            Ok(())
        }
        fn finish(&mut self, _: &Summary) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_provider_that_cannot_be_built_stops_the_scan_with_its_error() {
        use crate::config::{KeySet, NamedKey, ResourceEntry};
        // A config the loader would refuse (a 7-byte AES key), built by
        // hand: the error comes from a worker mid-batch and must be the
        // scan's result, after the findings before it were reported.
        let key =
            NamedKey { name: "k".into(), secret: crate::secret::SecretBytes::new(vec![7; 7]) };
        let cfg = EncryptionConfig {
            entries: vec![ResourceEntry {
                resources: vec![GroupResource::parse("secrets")],
                providers: vec![ProviderConfig::AesGcm(KeySet { keys: vec![key] })],
            }],
        };
        for jobs in [1, 3] {
            let mut src = Borrowed {
                info: SourceInfo::new(SourceKind::Snapshot, "mem".into()),
                values: b"k8s\x00xyz".repeat(3 * BATCH),
                descending: false,
                secret_at: Some(BATCH + 7),
            };
            let mut keys = Keys::default();
            let err = run(
                &mut src,
                &Scanner::new(Some(&cfg), "/registry"),
                &ScanOptions { jobs, ..ScanOptions::default() },
                Header::default(),
                &mut keys,
                &mut |_| {},
            )
            .unwrap_err();
            assert!(
                matches!(&err, ScanError::Config { resource, .. } if resource == "secrets"),
                "{err}"
            );
            assert_eq!(keys.0.len(), BATCH + 7, "findings before the failing one are reported");
        }
    }

    #[test]
    fn a_failing_report_stops_reader_and_workers() {
        // Reader and workers are mid-pass when the reporting thread gives
        // up: the scan must return the error, not wait for them for good.
        for jobs in [1, 3] {
            let mut src = Borrowed {
                info: SourceInfo::new(SourceKind::Snapshot, "mem".into()),
                values: b"k8s\x00xyz".repeat(20 * BATCH),
                descending: false,
                secret_at: None,
            };
            let result = run(
                &mut src,
                &Scanner::new(None, "/registry"),
                &ScanOptions { jobs, ..ScanOptions::default() },
                Header::default(),
                &mut FailsAfter(BATCH + 3),
                &mut |_| {},
            );
            assert!(
                matches!(&result, Err(ScanError::Output(e)) if e.kind() == std::io::ErrorKind::StorageFull),
                "jobs {jobs}: {:?}",
                result.map(|s| s.failed)
            );
        }
    }

    #[test]
    fn findings_keep_source_order_whichever_way_the_values_lie() {
        // Several workers finish batches out of order; one worker cannot.
        for (descending, jobs) in [(false, 1), (true, 1), (false, 3), (true, 3), (false, 8)] {
            let values = b"k8s\x00xyz".repeat(20 * BATCH + 7);
            let mut src = Borrowed {
                info: SourceInfo::new(SourceKind::Snapshot, "mem".into()),
                values,
                descending,
                secret_at: None,
            };
            let expected: Vec<String> = src
                .records(&Query::current())
                .unwrap()
                .map(|r| String::from_utf8(r.unwrap().key.into_owned()).unwrap())
                .collect();
            let first = src.records(&Query::current()).unwrap().take(BATCH).collect::<Batch<'_>>();
            assert_eq!(descends_in_memory(&first), descending);
            let mut keys = Keys::default();
            run(
                &mut src,
                &Scanner::new(None, "/registry"),
                &ScanOptions { jobs, ..ScanOptions::default() },
                Header::default(),
                &mut keys,
                &mut |_| {},
            )
            .unwrap();
            assert_eq!(keys.0, expected, "descending: {descending}, jobs: {jobs}");
        }
    }
}
