//! A live etcd cluster as a [`RecordSource`] (etcd-client over gRPC).
//!
//! This module owns connecting like `etcdctl` does (endpoints, TLS with
//! kubeadm's etcd PKI, user/password) and paginated range reads pinned at one
//! revision, so the view stays consistent while the cluster keeps writing.
//! Every request has a timeout and a few retries; an unreachable cluster
//! gives `cannot reach etcd at …: …` instead of a hang.
//!
//! Pages are sized in bytes, not keys: etcd 3.4 walks the whole rest of the
//! range in its index on every paged request, so many small pages cost
//! O(n²/page). The first request asks for a few keys; each next one asks for
//! as many keys as fit [`LiveOptions::page_bytes`] at the bytes per key seen
//! in the last page (at most 8× the last request and
//! [`LiveOptions::page_size`] keys). The client's receive limit is 4× the
//! target ([`receive_limit`]); a response above it halves the request and
//! asks again. A task on the source's own one-worker tokio runtime fetches
//! the next page while the caller consumes the current one.
//!
//! **Memory bound**: at most three decoded pages at a time (the one being
//! consumed, one queued, one being received) plus the raw bytes of the
//! arriving one while it decodes, each normally about `page_bytes` (16 MiB by
//! default) and never above the receive limit: ~64 MiB typical, 4 ×
//! `receive_limit(page_bytes)` worst case.
//!
//! Callers (the scanner's reader thread) iterate synchronously and need no async
//! code; the source must not be used from inside another tokio runtime's
//! async context.

use std::path::PathBuf;
use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, GetOptions, Identity, KvClient, TlsOptions,
};
use tokio::sync::mpsc;

use super::{Query, Record, RecordSource, Records, SourceError, SourceInfo, SourceKind, View};

/// How to reach the cluster.
#[derive(Clone)]
pub struct LiveOptions {
    /// Endpoints, `host:port` or `http(s)://host:port`.
    pub endpoints: Vec<String>,
    /// CA bundle (PEM) to verify the server.
    pub cacert: Option<PathBuf>,
    /// Client certificate (PEM).
    pub cert: Option<PathBuf>,
    /// Client private key (PEM; RSA, EC or PKCS#8).
    pub key: Option<PathBuf>,
    /// User name for etcd authentication.
    pub user: Option<String>,
    /// Password for etcd authentication.
    pub password: Option<String>,
    /// Read at this revision instead of the current one.
    pub revision: Option<i64>,
    /// The most keys per range request (with `page_bytes` 0: the keys of
    /// every request).
    pub page_size: i64,
    /// Target bytes per range response; 0 sizes pages by `page_size` only.
    pub page_bytes: u64,
    /// Timeout for connecting.
    pub connect_timeout: Duration,
    /// Timeout for each request.
    pub request_timeout: Duration,
    /// Retries after a failed request (unavailable, timeout).
    pub retries: u32,
}

impl std::fmt::Debug for LiveOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveOptions")
            .field("endpoints", &self.endpoints)
            .field("cacert", &self.cacert)
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("revision", &self.revision)
            .field("page_size", &self.page_size)
            .field("page_bytes", &self.page_bytes)
            .finish_non_exhaustive()
    }
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            endpoints: vec!["127.0.0.1:2379".into()],
            cacert: None,
            cert: None,
            key: None,
            user: None,
            password: None,
            revision: None,
            page_size: 100_000,
            page_bytes: 16 << 20,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            retries: 2,
        }
    }
}

/// The end of the range holding every key that starts with `prefix`
/// (etcd's `GetPrefixRangeEnd`); `[0]` for the empty prefix.
pub fn prefix_range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// A connected cluster.
pub struct LiveSource {
    rt: tokio::runtime::Runtime,
    client: Client,
    options: LiveOptions,
    info: SourceInfo,
    label: String,
}

fn retryable(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        etcd_client::Error::GRpcStatus(s) => matches!(
            s.code(),
            tonic::Code::Unavailable
                | tonic::Code::DeadlineExceeded
                | tonic::Code::Unknown
                | tonic::Code::Cancelled
        ),
        _ => false,
    }
}

fn describe(e: &etcd_client::Error) -> String {
    match e {
        etcd_client::Error::GRpcStatus(s) => format!("{:?}: {}", s.code(), s.message()),
        other => {
            let mut out = other.to_string();
            let mut src = std::error::Error::source(other);
            while let Some(s) = src {
                out.push_str(": ");
                out.push_str(&s.to_string());
                src = s.source();
            }
            out
        }
    }
}

impl LiveSource {
    /// Connects, authenticates and pins the revision.
    pub fn connect(options: LiveOptions) -> Result<LiveSource, SourceError> {
        let tls = options.cacert.is_some() || options.cert.is_some() || options.key.is_some();
        let endpoints: Vec<String> = options
            .endpoints
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
            .map(|e| {
                if e.contains("://") {
                    e.to_string()
                } else if tls {
                    format!("https://{e}")
                } else {
                    format!("http://{e}")
                }
            })
            .collect();
        let label = endpoints.join(",");
        let live = |detail: String| SourceError::Live { endpoints: label.clone(), detail };
        if endpoints.is_empty() {
            return Err(live("no endpoints given".into()));
        }
        let mut co = ConnectOptions::new()
            .with_connect_timeout(options.connect_timeout)
            .with_timeout(options.request_timeout)
            .with_keep_alive(Duration::from_secs(10), options.request_timeout);
        if tls {
            let read = |p: &PathBuf, what: &str| {
                std::fs::read(p)
                    .map_err(|e| live(format!("cannot read {what} {}: {e}", p.display())))
            };
            let mut t = TlsOptions::new();
            if let Some(ca) = &options.cacert {
                t = t.ca_certificate(Certificate::from_pem(read(ca, "--cacert")?));
            }
            match (&options.cert, &options.key) {
                (Some(c), Some(k)) => {
                    t = t.identity(Identity::from_pem(read(c, "--cert")?, read(k, "--key")?));
                }
                (None, None) => {}
                _ => return Err(live("--cert and --key must be given together".into())),
            }
            co = co.with_tls(t);
        }
        match (&options.user, &options.password) {
            (Some(u), Some(p)) => co = co.with_user(u.clone(), p.clone()),
            (Some(u), None) => match u.split_once(':') {
                Some((name, pw)) => co = co.with_user(name, pw),
                None => {
                    return Err(live(
                        "--user needs a password (--password or user:password)".into(),
                    ));
                }
            },
            (None, Some(_)) => return Err(live("--password needs --user".into())),
            (None, None) => {}
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("atrest-etcd")
            .enable_all()
            .build()
            .map_err(|e| live(format!("cannot start the I/O runtime: {e}")))?;
        let unreachable =
            |detail: String| SourceError::Unreachable { endpoints: label.clone(), detail };
        let mut client = rt.block_on(async {
            match tokio::time::timeout(
                options.connect_timeout.saturating_add(options.request_timeout),
                Client::connect(&endpoints, Some(co)),
            )
            .await
            {
                Ok(Ok(c)) => Ok(c),
                Ok(Err(e)) if retryable(&e) => Err(unreachable(describe(&e))),
                Ok(Err(e)) => Err(live(describe(&e))),
                Err(_) => Err(unreachable(format!(
                    "no answer within {:?}",
                    options.connect_timeout.saturating_add(options.request_timeout)
                ))),
            }
        })?;
        // One cheap range to learn the current revision and ids (retried).
        let header = {
            let mut attempt = 0;
            loop {
                let r = rt.block_on(async {
                    tokio::time::timeout(
                        options.request_timeout,
                        client.get(
                            vec![0u8],
                            Some(GetOptions::new().with_count_only().with_range(vec![0u8])),
                        ),
                    )
                    .await
                });
                match r {
                    Ok(Ok(resp)) => break resp.header().cloned(),
                    Ok(Err(e)) if !retryable(&e) => return Err(live(describe(&e))),
                    Ok(Err(e)) if attempt >= options.retries => {
                        return Err(unreachable(describe(&e)));
                    }
                    Err(_) if attempt >= options.retries => {
                        return Err(unreachable(format!(
                            "no answer within {:?}",
                            options.request_timeout
                        )));
                    }
                    _ => {}
                }
                attempt += 1;
                std::thread::sleep(Duration::from_millis(200 << attempt.min(4)));
            }
        };
        let mut info = SourceInfo::new(SourceKind::Live, label.clone());
        if let Some(h) = &header {
            info.revision = Some(options.revision.unwrap_or(h.revision()));
            info.cluster_id = Some(h.cluster_id());
            info.member_id = Some(h.member_id());
        }
        Ok(LiveSource { rt, client, options, info, label })
    }

    /// The KV client with a receive limit that fits the largest page.
    fn kv(&self) -> KvClient {
        self.client.kv_client().max_decoding_message_size(receive_limit(self.options.page_bytes))
    }
}

/// The receive limit for responses of about `page_bytes`: four times the
/// target (a page can overshoot when values grow along the range), at least
/// gRPC's usual 4 MiB, at most 1 GiB.
pub fn receive_limit(page_bytes: u64) -> usize {
    let l = page_bytes.saturating_mul(4).clamp(4 << 20, 1 << 30);
    usize::try_from(l).unwrap_or(1 << 30)
}

/// Keys in the first request of a byte-sized scan (no estimate yet).
const FIRST_PAGE_KEYS: i64 = 256;
/// A page asks for at most this many times the keys of the previous one.
const GROWTH: i64 = 8;
/// Protobuf framing per key-value in a range response (revisions, version,
/// lease, tags and lengths), for the bytes-per-key estimate.
const KV_OVERHEAD: u64 = 32;

/// Keys to ask for next: what fits `page_bytes` at the bytes per key of the
/// last page, at most `GROWTH` times the last request and `max_keys`.
fn next_limit(page_bytes: u64, max_keys: i64, last_limit: i64, keys: usize, bytes: u64) -> i64 {
    let max_keys = max_keys.max(1);
    if page_bytes == 0 {
        return max_keys;
    }
    if keys == 0 {
        return last_limit.clamp(1, max_keys);
    }
    let per_key = (bytes / keys as u64).max(1);
    let fit = i64::try_from(page_bytes / per_key).unwrap_or(i64::MAX);
    fit.min(last_limit.saturating_mul(GROWTH)).clamp(1, max_keys)
}

/// Whether `e` is the client refusing a response above its receive limit.
fn too_large(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(s)
        if s.code() == tonic::Code::OutOfRange && s.message().contains("message length too large"))
}

/// What one scan reads and how.
struct Plan {
    kv: KvClient,
    end: Vec<u8>,
    revision: i64,
    page_bytes: u64,
    max_keys: i64,
    timeout: Duration,
    retries: u32,
    label: String,
}

/// One message from the fetch task to the iterator.
enum Msg {
    Page(Vec<Record<'static>>),
    Failed(SourceError),
    End,
}

impl Plan {
    /// One range request from `from` with at most `*limit` keys, with
    /// timeouts and retries; a response above the receive limit halves
    /// `*limit` and asks again.
    async fn fetch(
        &mut self,
        from: &[u8],
        limit: &mut i64,
    ) -> Result<(Vec<Record<'static>>, bool), SourceError> {
        let mut attempt = 0;
        loop {
            let opts = GetOptions::new()
                .with_range(self.end.clone())
                .with_revision(self.revision)
                .with_limit(*limit);
            let r =
                tokio::time::timeout(self.timeout, self.kv.get(from.to_vec(), Some(opts))).await;
            let err = match r {
                Ok(Ok(mut resp)) => {
                    let more = resp.more();
                    let recs = resp.take_kvs().into_iter().map(record).collect();
                    return Ok((recs, more));
                }
                Ok(Err(e)) if too_large(&e) && *limit > 1 => {
                    *limit = (*limit / 2).max(1);
                    continue;
                }
                Ok(Err(e)) if too_large(&e) => {
                    return Err(SourceError::Live {
                        endpoints: self.label.clone(),
                        detail: format!(
                            "one key-value is larger than the receive limit: {}; raise --page-bytes",
                            describe(&e)
                        ),
                    });
                }
                Ok(Err(e)) if !retryable(&e) => {
                    return Err(SourceError::Live {
                        endpoints: self.label.clone(),
                        detail: describe(&e),
                    });
                }
                Ok(Err(e)) => describe(&e),
                Err(_) => format!("no answer within {:?}", self.timeout),
            };
            if attempt >= self.retries {
                return Err(SourceError::Unreachable {
                    endpoints: self.label.clone(),
                    detail: err,
                });
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(200 << attempt.min(4))).await;
        }
    }

    /// Fetches every page from `start`, one ahead of the consumer: `tx` holds
    /// one page, so at most one page waits while the next one is received.
    async fn run(mut self, start: Vec<u8>, tx: mpsc::Sender<Msg>) {
        let mut from = start;
        let mut limit = if self.page_bytes == 0 {
            self.max_keys.max(1)
        } else {
            FIRST_PAGE_KEYS.min(self.max_keys).max(1)
        };
        loop {
            let (recs, more) = match self.fetch(&from, &mut limit).await {
                Ok(x) => x,
                Err(e) => {
                    let _ = tx.send(Msg::Failed(e)).await;
                    return;
                }
            };
            let bytes: u64 =
                recs.iter().map(|r| (r.key.len() + r.value.len()) as u64 + KV_OVERHEAD).sum();
            limit = next_limit(self.page_bytes, self.max_keys, limit, recs.len(), bytes);
            let next = match (more, recs.last()) {
                (true, Some(last)) => {
                    let mut k = last.key.to_vec();
                    k.push(0);
                    Some(k)
                }
                _ => None,
            };
            if !recs.is_empty() && tx.send(Msg::Page(recs)).await.is_err() {
                return;
            }
            match next {
                Some(k) => from = k,
                None => {
                    let _ = tx.send(Msg::End).await;
                    return;
                }
            }
        }
    }
}

fn record(kv: etcd_client::KeyValue) -> Record<'static> {
    let (c, m, v, l) = (kv.create_revision(), kv.mod_revision(), kv.version(), kv.lease());
    let (key, value) = kv.into_key_value();
    Record {
        key: key.into(),
        value: value.into(),
        create_revision: c,
        mod_revision: m,
        version: v,
        lease: l,
        sub_revision: 0,
        tombstone: false,
    }
}

/// The consumer side: pages arrive from the fetch task on the source's runtime.
struct Pages {
    rx: mpsc::Receiver<Msg>,
    buf: std::vec::IntoIter<Record<'static>>,
    task: tokio::task::JoinHandle<()>,
    done: bool,
    label: String,
}

impl Drop for Pages {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Iterator for Pages {
    type Item = Result<Record<'static>, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.buf.next() {
                return Some(Ok(r));
            }
            if self.done {
                return None;
            }
            match self.rx.blocking_recv() {
                Some(Msg::Page(p)) => self.buf = p.into_iter(),
                Some(Msg::End) => self.done = true,
                Some(Msg::Failed(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                // The task ended without saying so (it panicked): never a
                // silently short scan.
                None => {
                    self.done = true;
                    return Some(Err(SourceError::Live {
                        endpoints: self.label.clone(),
                        detail: "the page fetcher stopped before the end of the range".into(),
                    }));
                }
            }
        }
    }
}

impl RecordSource for LiveSource {
    fn info(&self) -> &SourceInfo {
        &self.info
    }

    fn records(&mut self, query: &Query) -> Result<Records<'_>, SourceError> {
        if query.view == View::History {
            return Err(SourceError::Unsupported(
                "live etcd serves only current values through range reads; for history read a snapshot (etcdctl snapshot save)"
                    .into(),
            ));
        }
        let revision = self.info.revision.unwrap_or(0);
        let (start, end) = if query.prefix.is_empty() {
            (vec![0u8], vec![0u8])
        } else {
            (query.prefix.clone(), prefix_range_end(&query.prefix))
        };
        let plan = Plan {
            kv: self.kv(),
            end,
            revision,
            page_bytes: self.options.page_bytes,
            max_keys: self.options.page_size,
            timeout: self.options.request_timeout,
            retries: self.options.retries,
            label: self.label.clone(),
        };
        let (tx, rx) = mpsc::channel(1);
        let task = self.rt.spawn(plan.run(start, tx));
        Ok(super::owned_records(Pages {
            rx,
            buf: Vec::new().into_iter(),
            task,
            done: false,
            label: self.label.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_range_end_matches_etcd() {
        assert_eq!(prefix_range_end(b"/registry/"), b"/registry0");
        assert_eq!(prefix_range_end(b"a\xff"), b"b");
        assert_eq!(prefix_range_end(b"\xff\xff"), vec![0]);
        assert_eq!(prefix_range_end(b""), vec![0]);
    }

    #[test]
    fn page_limits_follow_bytes_per_key() {
        // 1000 keys of 1 KiB in the last page, 16 MiB target: 16 384 keys,
        // but at most 8x the last request.
        assert_eq!(next_limit(16 << 20, 100_000, 256, 256, 256 * 1024), 2048);
        assert_eq!(next_limit(16 << 20, 100_000, 2048, 2048, 2048 * 1024), 16_384);
        // Capped by page_size; never below one key.
        assert_eq!(next_limit(16 << 20, 5000, 2048, 2048, 2048 * 1024), 5000);
        assert_eq!(next_limit(100, 100_000, 10, 10, 10 * 4096), 1);
        // Byte target 0: every request has page_size keys.
        assert_eq!(next_limit(0, 500, 1, 1, 10), 500);
        // An empty page keeps the last limit.
        assert_eq!(next_limit(1 << 20, 500, 40, 0, 0), 40);
    }

    #[test]
    fn receive_limit_is_four_pages_within_bounds() {
        assert_eq!(receive_limit(16 << 20), 64 << 20);
        assert_eq!(receive_limit(0), 4 << 20);
        assert_eq!(receive_limit(u64::MAX), 1 << 30);
    }
}
