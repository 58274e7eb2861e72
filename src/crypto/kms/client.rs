//! A blocking gRPC client for a KMS plugin on a `unix://` socket.
//!
//! This module owns the transport: endpoint parsing (including Linux
//! abstract sockets, `unix:///@name`), a small private tokio runtime, a
//! lazily connected tonic channel, and one generic unary call with the
//! configured timeout. The [`crate::crypto::Provider`] trait is synchronous,
//! so calls block; a call made from inside another tokio runtime runs on a
//! scoped helper thread instead of nesting runtimes. It knows nothing about
//! DEKs or envelopes.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::crypto::CryptoError;

/// Where a plugin listens, parsed from its `unix://` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketAddress {
    /// A socket file path.
    Path(PathBuf),
    /// A Linux abstract socket name (without the leading `@`).
    Abstract(String),
}

/// Parses a KMS endpoint like kube-apiserver (`k8s.io/kms/pkg/util.ParseEndpoint`):
/// only `unix://` URLs; a path starting `/@` names a Linux abstract socket.
pub fn parse_endpoint(endpoint: &str) -> Result<SocketAddress, String> {
    let Some(rest) = endpoint.strip_prefix("unix://") else {
        let scheme = endpoint.split_once("://").map_or("", |(s, _)| s);
        return Err(format!("unsupported scheme {scheme:?} for KMS provider"));
    };
    if !rest.starts_with('/') {
        return Err(format!(
            "endpoint {endpoint:?} must be unix:// followed by an absolute path, e.g. unix:///var/run/kms.sock"
        ));
    }
    if let Some(name) = rest.strip_prefix("/@") {
        if name.is_empty() {
            return Err(format!("endpoint {endpoint:?} names an empty abstract socket"));
        }
        return Ok(SocketAddress::Abstract(name.to_string()));
    }
    Ok(SocketAddress::Path(PathBuf::from(rest)))
}

async fn connect(addr: SocketAddress) -> std::io::Result<tokio::net::UnixStream> {
    match addr {
        SocketAddress::Path(p) => tokio::net::UnixStream::connect(p).await,
        SocketAddress::Abstract(name) => connect_abstract(&name),
    }
}

#[cfg(target_os = "linux")]
fn connect_abstract(name: &str) -> std::io::Result<tokio::net::UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    let std_stream = std::os::unix::net::UnixStream::connect_addr(&addr)?;
    std_stream.set_nonblocking(true)?;
    tokio::net::UnixStream::from_std(std_stream)
}

#[cfg(not(target_os = "linux"))]
fn connect_abstract(_name: &str) -> std::io::Result<tokio::net::UnixStream> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract unix sockets exist only on Linux",
    ))
}

/// A connection to one plugin. `Send + Sync`; calls block the calling thread.
pub struct PluginClient {
    name: String,
    endpoint: String,
    timeout: Duration,
    channel: Channel,
    // `Option` only so that `Drop` can shut it down without blocking.
    runtime: Option<tokio::runtime::Runtime>,
}

impl PluginClient {
    /// Prepares a client for provider `name` at `endpoint`. Does not connect:
    /// the socket is dialled on the first call.
    pub fn new(name: &str, endpoint: &str, timeout: Duration) -> Result<Self, CryptoError> {
        let err = |message: String| CryptoError::Kms { provider: name.to_string(), message };
        let addr = parse_endpoint(endpoint).map_err(err)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("atrest-kms")
            .enable_all()
            .build()
            .map_err(|e| err(format!("cannot start the KMS client runtime: {e}")))?;
        // The URI is required by tonic but unused: the connector dials the socket.
        let ep = Endpoint::from_static("http://kms.plugin.invalid")
            .connect_timeout(timeout)
            .timeout(timeout);
        let channel = {
            let _guard = runtime.enter();
            ep.connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                let addr = addr.clone();
                async move { connect(addr).await.map(TokioIo::new) }
            }))
        };
        Ok(Self {
            name: name.to_string(),
            endpoint: endpoint.to_string(),
            timeout,
            channel,
            runtime: Some(runtime),
        })
    }

    /// The provider name this client serves.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One unary call to `path`, bounded by the configured timeout.
    pub fn unary<Req, Resp>(&self, path: &'static str, req: Req) -> Result<Resp, CryptoError>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        let channel = self.channel.clone();
        let timeout = self.timeout;
        let fut = async move {
            let call = async move {
                let mut grpc = tonic::client::Grpc::new(channel);
                grpc.ready().await.map_err(|e| tonic::Status::from_error(e.into()))?;
                let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
                grpc.unary(tonic::Request::new(req), PathAndQuery::from_static(path), codec).await
            };
            tokio::time::timeout(timeout, call).await
        };
        match self.block_on(fut)? {
            Err(_) => Err(self.unreachable(&format!("no answer within {timeout:?}"))),
            Ok(Ok(resp)) => Ok(resp.into_inner()),
            Ok(Err(status)) => Err(self.status_error(path, &status)),
        }
    }

    fn block_on<F>(&self, fut: F) -> Result<F::Output, CryptoError>
    where
        F: Future + Send,
        F::Output: Send,
    {
        let Some(rt) = self.runtime.as_ref() else {
            return Err(self.unreachable("client runtime is shut down"));
        };
        if tokio::runtime::Handle::try_current().is_err() {
            return Ok(rt.block_on(fut));
        }
        // Inside someone else's runtime: never nest; block a helper thread instead.
        std::thread::scope(|s| s.spawn(|| rt.block_on(fut)).join())
            .map_err(|_| self.unreachable("client thread panicked"))
    }

    fn unreachable(&self, why: &str) -> CryptoError {
        CryptoError::KmsUnreachable {
            provider: self.name.clone(),
            message: format!("cannot reach KMS plugin {:?} at {}: {why}", self.name, self.endpoint),
        }
    }

    fn status_error(&self, path: &str, status: &tonic::Status) -> CryptoError {
        let mut detail = status.message().to_string();
        let mut source = std::error::Error::source(status);
        while let Some(s) = source {
            let text = s.to_string();
            if !detail.contains(&text) {
                detail.push_str(": ");
                detail.push_str(&text);
            }
            source = s.source();
        }
        match status.code() {
            // Connection failures, and the client-side deadline (tonic reports
            // its own timeout as Cancelled), mean the plugin did not answer.
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
                self.unreachable(&detail)
            }
            code => CryptoError::Kms {
                provider: self.name.clone(),
                message: format!(
                    "KMS plugin {:?} at {} failed {path}: {code:?}: {detail}",
                    self.name, self.endpoint
                ),
            },
        }
    }
}

impl Drop for PluginClient {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_like_upstream() {
        assert_eq!(
            parse_endpoint("unix:///var/run/kms.sock"),
            Ok(SocketAddress::Path("/var/run/kms.sock".into()))
        );
        assert_eq!(parse_endpoint("unix:///@kms"), Ok(SocketAddress::Abstract("kms".into())));
        assert!(
            parse_endpoint("tcp://127.0.0.1:1").unwrap_err().contains("unsupported scheme \"tcp\"")
        );
        assert!(parse_endpoint("/var/run/kms.sock").is_err());
        assert!(parse_endpoint("unix://relative.sock").is_err());
        assert!(parse_endpoint("unix:///@").is_err());
    }
}
