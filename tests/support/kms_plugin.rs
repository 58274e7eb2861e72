//! A real KMS plugin for tests: a gRPC server on a temporary unix socket (or
//! a Linux abstract socket) speaking both `/v1beta1.KeyManagementService/*`
//! and `/v2.KeyManagementService/*`, hand-routed by path with tonic's server
//! `Grpc` and the library's hand-written prost messages.
//!
//! Like upstream's `Base64Plugin`, its "encryption" is base64, so a wrapped
//! DEK or seed is readable by an independent implementation. The key ID,
//! annotations, reported versions and health are settable at run time (to
//! test staleness after rotation and version checks); call counters let
//! tests prove that the provider caches. It runs on its own thread and
//! runtime and stops when dropped.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use atrest::crypto::kms::proto::{v1beta1, v2};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use tonic::body::Body;
use tonic::codegen::http;
use tonic::codegen::tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

/// The annotation upstream's Base64Plugin attaches.
pub const LOCAL_KEK_ANNOTATION: &str = "local-kek.kms.kubernetes.io";

/// Mutable plugin behaviour and counters.
#[derive(Debug, Clone)]
pub struct PluginState {
    pub key_id: String,
    pub annotations: BTreeMap<String, Vec<u8>>,
    pub v1_version: String,
    pub v2_version: String,
    pub healthz: String,
    pub status_calls: usize,
    pub encrypt_calls: usize,
    pub decrypt_calls: usize,
    pub version_calls: usize,
    /// `(key_id, annotations)` of the last v2 Decrypt.
    pub last_decrypt: Option<(String, BTreeMap<String, Vec<u8>>)>,
}

impl Default for PluginState {
    fn default() -> Self {
        Self {
            key_id: "1".into(),
            annotations: [(LOCAL_KEK_ANNOTATION.to_string(), b"encrypted-local-kek".to_vec())]
                .into(),
            v1_version: "v1beta1".into(),
            v2_version: "v2".into(),
            healthz: "ok".into(),
            status_calls: 0,
            encrypt_calls: 0,
            decrypt_calls: 0,
            version_calls: 0,
            last_decrypt: None,
        }
    }
}

/// A running plugin; dropping it stops the server and removes the socket.
pub struct KmsPlugin {
    /// The `unix://` endpoint to put in a `KmsConfig`.
    pub endpoint: String,
    state: Arc<Mutex<PluginState>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

type St = Arc<Mutex<PluginState>>;

fn b64_decode(data: &[u8]) -> Result<Vec<u8>, Status> {
    B64.decode(data).map_err(|e| Status::invalid_argument(format!("not base64: {e}")))
}

async fn route(st: St, req: http::Request<Body>) -> http::Response<Body> {
    macro_rules! unary {
        ($req_ty:ty, $resp_ty:ty, $f:expr) => {{
            let st = st.clone();
            let svc = tower::service_fn(move |r: Request<$req_ty>| {
                let st = st.clone();
                async move {
                    let f: fn(&mut PluginState, $req_ty) -> Result<$resp_ty, Status> = $f;
                    let mut guard = st.lock().map_err(|_| Status::internal("poisoned"))?;
                    f(&mut guard, r.into_inner()).map(Response::new)
                }
            });
            tonic::server::Grpc::new(ProstCodec::<$resp_ty, $req_ty>::default())
                .unary(svc, req)
                .await
        }};
    }
    match req.uri().path() {
        v2::STATUS_PATH => unary!(v2::StatusRequest, v2::StatusResponse, |s, _| {
            s.status_calls += 1;
            Ok(v2::StatusResponse {
                version: s.v2_version.clone(),
                healthz: s.healthz.clone(),
                key_id: s.key_id.clone(),
            })
        }),
        v2::ENCRYPT_PATH => unary!(v2::EncryptRequest, v2::EncryptResponse, |s, r| {
            s.encrypt_calls += 1;
            Ok(v2::EncryptResponse {
                ciphertext: B64.encode(&r.plaintext).into_bytes(),
                key_id: s.key_id.clone(),
                annotations: s.annotations.clone(),
            })
        }),
        v2::DECRYPT_PATH => unary!(v2::DecryptRequest, v2::DecryptResponse, |s, r| {
            s.decrypt_calls += 1;
            if r.key_id.is_empty() {
                return Err(Status::invalid_argument("key_id is empty"));
            }
            s.last_decrypt = Some((r.key_id.clone(), r.annotations.clone()));
            Ok(v2::DecryptResponse { plaintext: b64_decode(&r.ciphertext)? })
        }),
        v1beta1::VERSION_PATH => {
            unary!(v1beta1::VersionRequest, v1beta1::VersionResponse, |s, _| {
                s.version_calls += 1;
                Ok(v1beta1::VersionResponse {
                    version: s.v1_version.clone(),
                    runtime_name: "atrest-test-base64".into(),
                    runtime_version: "0.1.0".into(),
                })
            })
        }
        v1beta1::ENCRYPT_PATH => {
            unary!(v1beta1::EncryptRequest, v1beta1::EncryptResponse, |s, r| {
                s.encrypt_calls += 1;
                Ok(v1beta1::EncryptResponse { cipher: B64.encode(&r.plain).into_bytes() })
            })
        }
        v1beta1::DECRYPT_PATH => {
            unary!(v1beta1::DecryptRequest, v1beta1::DecryptResponse, |s, r| {
                s.decrypt_calls += 1;
                Ok(v1beta1::DecryptResponse { plain: b64_decode(&r.cipher)? })
            })
        }
        other => Status::unimplemented(format!("no method {other}")).into_http(),
    }
}

impl KmsPlugin {
    /// Starts a plugin on `<tempdir>/kms.sock`.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kms.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind unix socket");
        let mut p = Self::serve(listener, format!("unix://{}", path.display()));
        p._dir = Some(dir);
        p
    }

    /// Starts a plugin on a fresh Linux abstract socket (`unix:///@name`).
    pub fn start_abstract() -> Self {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("atrest-kms-test-{}-{:016x}", std::process::id(), rand_u64());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .expect("abstract addr");
        let listener =
            std::os::unix::net::UnixListener::bind_addr(&addr).expect("bind abstract socket");
        Self::serve(listener, format!("unix:///@{name}"))
    }

    fn serve(listener: std::os::unix::net::UnixListener, endpoint: String) -> Self {
        listener.set_nonblocking(true).expect("nonblocking");
        let state: St = Arc::new(Mutex::new(PluginState::default()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("plugin runtime");
            rt.block_on(async move {
                let listener = tokio::net::UnixListener::from_std(listener).expect("listener");
                let svc = tower::service_fn(move |req: http::Request<Body>| {
                    let st = st.clone();
                    async move { Ok::<_, Infallible>(route(st, req).await) }
                });
                let _ = tonic::transport::Server::builder()
                    .serve_with_incoming_shutdown(svc, UnixListenerStream::new(listener), async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Self { endpoint, state, stop: Some(stop), thread: Some(thread), _dir: None }
    }

    /// Changes the plugin's state (key ID, annotations, versions, health).
    pub fn update(&self, f: impl FnOnce(&mut PluginState)) {
        f(&mut self.state.lock().expect("state"));
    }

    /// A snapshot of the state and counters.
    pub fn state(&self) -> PluginState {
        self.state.lock().expect("state").clone()
    }
}

impl Drop for KmsPlugin {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("rng");
    u64::from_le_bytes(b)
}
