//! A live etcd cluster as a [`RecordSource`] (etcd-client over gRPC).
//!
//! This module owns connecting like `etcdctl` does (endpoints, TLS with
//! kubeadm's etcd PKI, user/password) and paginated range reads pinned at one
//! revision, so the view stays consistent while the cluster keeps writing.
//! Memory is bounded by one page of keys. Every request has a timeout and a
//! few retries; an unreachable cluster gives `cannot reach etcd at …: …`
//! instead of a hang. The source owns a single-threaded tokio runtime and
//! fetches pages on demand from a synchronous iterator, so callers (the
//! rayon-based scanner) need no async code; it must not be used from inside
//! another tokio runtime's async context.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, GetOptions, Identity, TlsOptions};

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
    /// Keys per range request.
    pub page_size: i64,
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
            page_size: 500,
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
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| live(format!("cannot start the I/O runtime: {e}")))?;
        let unreachable =
            |detail: String| SourceError::Unreachable { endpoints: label.clone(), detail };
        let mut client = rt.block_on(async {
            match tokio::time::timeout(
                options.connect_timeout + options.request_timeout,
                Client::connect(&endpoints, Some(co)),
            )
            .await
            {
                Ok(Ok(c)) => Ok(c),
                Ok(Err(e)) if retryable(&e) => Err(unreachable(describe(&e))),
                Ok(Err(e)) => Err(live(describe(&e))),
                Err(_) => Err(unreachable(format!(
                    "no answer within {:?}",
                    options.connect_timeout + options.request_timeout
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

    fn fetch(
        &mut self,
        from: &[u8],
        end: &[u8],
        revision: i64,
    ) -> Result<(Vec<Record<'static>>, bool), SourceError> {
        let mut attempt = 0;
        loop {
            let opts = GetOptions::new()
                .with_range(end.to_vec())
                .with_revision(revision)
                .with_limit(self.options.page_size.max(1));
            let timeout = self.options.request_timeout;
            let client = &mut self.client;
            let r = self.rt.block_on(async {
                tokio::time::timeout(timeout, client.get(from.to_vec(), Some(opts))).await
            });
            let err = match r {
                Ok(Ok(mut resp)) => {
                    let more = resp.more();
                    let recs = resp
                        .take_kvs()
                        .into_iter()
                        .map(|kv| {
                            let (c, m, v, l) =
                                (kv.create_revision(), kv.mod_revision(), kv.version(), kv.lease());
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
                        })
                        .collect();
                    return Ok((recs, more));
                }
                Ok(Err(e)) if !retryable(&e) => {
                    return Err(SourceError::Live {
                        endpoints: self.label.clone(),
                        detail: describe(&e),
                    });
                }
                Ok(Err(e)) => describe(&e),
                Err(_) => format!("no answer within {timeout:?}"),
            };
            if attempt >= self.options.retries {
                return Err(SourceError::Unreachable {
                    endpoints: self.label.clone(),
                    detail: err,
                });
            }
            attempt += 1;
            std::thread::sleep(Duration::from_millis(200 << attempt.min(4)));
        }
    }
}

struct Pages<'s> {
    src: &'s mut LiveSource,
    next_key: Option<Vec<u8>>,
    end: Vec<u8>,
    revision: i64,
    buf: VecDeque<Record<'static>>,
}

impl Iterator for Pages<'_> {
    type Item = Result<Record<'static>, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.buf.pop_front() {
                return Some(Ok(r));
            }
            let from = self.next_key.take()?;
            match self.src.fetch(&from, &self.end, self.revision) {
                Ok((recs, more)) => {
                    if more && let Some(last) = recs.last() {
                        let mut k = last.key.to_vec();
                        k.push(0);
                        self.next_key = Some(k);
                    }
                    self.buf.extend(recs);
                }
                Err(e) => return Some(Err(e)),
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
        Ok(super::owned_records(Pages {
            src: self,
            next_key: Some(start),
            end,
            revision,
            buf: VecDeque::new(),
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
}
