//! A real etcd for tests: `/usr/bin/etcd` on 127.0.0.1 with free ports and a
//! temp data dir, healthy before `start` returns, killed and reaped by PID on
//! drop. The TLS variant makes a throwaway CA, a server cert for 127.0.0.1
//! and client certs with an RSA (PKCS#1) and an EC (SEC1) key using the
//! `openssl` CLI, and requires client certificates.
//!
//! Use from a test file with `mod support;` and `support::etcd::Etcd::start()`.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ETCD: &str = "/usr/bin/etcd";
pub const ETCDCTL: &str = "/usr/bin/etcdctl";

/// Certificates of a TLS etcd.
pub struct TlsFiles {
    pub ca: PathBuf,
    pub ca_key: PathBuf,
    pub rsa_cert: PathBuf,
    pub rsa_key: PathBuf,
    pub ec_cert: PathBuf,
    pub ec_key: PathBuf,
}

pub struct Etcd {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:PORT` (no scheme).
    pub endpoint: String,
    pub tls: Option<TlsFiles>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A free port on 127.0.0.1 other than `taken` (a second port for the same
/// etcd: the kernel may hand the one just released out again).
pub fn free_port_except(taken: u16) -> u16 {
    std::iter::repeat_with(free_port).find(|p| *p != taken).unwrap()
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Makes a CA, a server cert for 127.0.0.1 and two client certs in `dir`.
pub fn make_pki(dir: &Path) -> TlsFiles {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=atrest-test-ca",
            "-days",
            "2",
        ],
    );
    let sign = |name: &str, cn: &str, ext: &str| {
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={cn}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.crt"),
                "-days",
                "2",
                "-extfile",
                ext,
            ],
        );
    };
    openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key"]);
    sign("server", "etcd-server", "server.ext");
    openssl(dir, &["genrsa", "-traditional", "-out", "client-rsa.key", "2048"]);
    sign("client-rsa", "kube-apiserver-etcd-client", "client.ext");
    openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "client-ec.key"]);
    sign("client-ec", "kube-apiserver-etcd-client", "client.ext");
    TlsFiles {
        ca: dir.join("ca.crt"),
        ca_key: dir.join("ca.key"),
        rsa_cert: dir.join("client-rsa.crt"),
        rsa_key: dir.join("client-rsa.key"),
        ec_cert: dir.join("client-ec.crt"),
        ec_key: dir.join("client-ec.key"),
    }
}

/// Launches tried before a test gives up (see [`Etcd::launch`]).
const LAUNCH_ATTEMPTS: usize = 5;

impl Etcd {
    /// A plain-HTTP etcd.
    pub fn start() -> Etcd {
        Self::launch(false, &[])
    }

    /// An etcd that requires TLS client certificates.
    pub fn start_tls() -> Etcd {
        Self::launch(true, &[])
    }

    /// A plain-HTTP etcd with extra command-line flags
    /// (`--max-request-bytes 8388608`).
    pub fn start_with(flags: &[&str]) -> Etcd {
        Self::launch(false, flags)
    }

    /// Starts etcd on two free ports. `free_port` hands out a port that is
    /// free now, so a parallel test can take it before etcd binds it: etcd
    /// then exits, and the launch is tried again on new ports (up to
    /// [`LAUNCH_ATTEMPTS`] times) instead of waiting out the health timeout.
    fn launch(tls: bool, flags: &[&str]) -> Etcd {
        for _ in 0..LAUNCH_ATTEMPTS {
            let cport = free_port();
            let pport = free_port_except(cport);
            if let Some(etcd) = Self::launch_on(tls, flags, cport, pport) {
                return etcd;
            }
        }
        panic!("etcd exited at start {LAUNCH_ATTEMPTS} times (ports taken?)");
    }

    /// One launch on the given client and peer ports: `None` if etcd exits
    /// before it is healthy (a port was taken).
    pub fn launch_on(tls: bool, flags: &[&str], cport: u16, pport: u16) -> Option<Etcd> {
        let dir = tempfile::tempdir().unwrap();
        let tls = tls.then(|| make_pki(dir.path()));
        let scheme = if tls.is_some() { "https" } else { "http" };
        let curl = format!("{scheme}://127.0.0.1:{cport}");
        let purl = format!("http://127.0.0.1:{pport}");
        let mut cmd = Command::new(ETCD);
        cmd.args(["--name", "t", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &curl, "--advertise-client-urls", &curl])
            .args(["--listen-peer-urls", &purl, "--initial-advertise-peer-urls", &purl])
            .args([
                "--initial-cluster",
                &format!("t={purl}"),
                "--logger",
                "zap",
                "--log-outputs",
                "stderr",
            ])
            .args(flags)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(t) = &tls {
            cmd.arg("--cert-file").arg(dir.path().join("server.crt"));
            cmd.arg("--key-file").arg(dir.path().join("server.key"));
            cmd.arg("--trusted-ca-file").arg(&t.ca);
            cmd.arg("--client-cert-auth");
        }
        let child = cmd.spawn().expect("start /usr/bin/etcd");
        let mut etcd =
            Etcd { child: Some(child), dir, endpoint: format!("127.0.0.1:{cport}"), tls };
        etcd.wait_healthy().then_some(etcd)
    }

    /// True once our etcd answers a health check; false if it exited first
    /// (a health answer from an etcd that is not ours does not count).
    fn wait_healthy(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.exited() {
                return false;
            }
            let ok = self
                .etcdctl()
                .args(["endpoint", "health", "--command-timeout=1s"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return !self.exited();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("etcd at {} did not become healthy", self.endpoint);
    }

    /// Whether the etcd process has exited. It is reaped then and
    /// forgotten, so that `stop` never signals a PID that is reused.
    fn exited(&mut self) -> bool {
        let gone = self.child.as_mut().is_none_or(|c| c.try_wait().ok().flatten().is_some());
        if gone {
            self.child = None;
        }
        gone
    }

    /// `etcdctl` preset with the endpoint (and the RSA client cert for TLS).
    pub fn etcdctl(&self) -> Command {
        let mut c = Command::new(ETCDCTL);
        c.env("ETCDCTL_API", "3");
        match &self.tls {
            None => {
                c.arg(format!("--endpoints=http://{}", self.endpoint));
            }
            Some(t) => {
                c.arg(format!("--endpoints=https://{}", self.endpoint));
                c.arg(format!("--cacert={}", t.ca.display()));
                c.arg(format!("--cert={}", t.rsa_cert.display()));
                c.arg(format!("--key={}", t.rsa_key.display()));
            }
        }
        c
    }

    /// Runs etcdctl, asserts success, returns stdout.
    pub fn ctl(&self, args: &[&str]) -> Vec<u8> {
        let out = self.etcdctl().args(args).output().unwrap();
        assert!(out.status.success(), "etcdctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    /// Writes arbitrary key/value bytes (etcdctl's arguments cannot carry
    /// every byte) in transactions of at most 100 puts (etcd's limit is 128);
    /// returns the revision after the last one. Plain HTTP only.
    pub fn put_all(&self, kvs: &[(Vec<u8>, Vec<u8>)]) -> i64 {
        use etcd_client::{Client, Txn, TxnOp};
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut c = Client::connect([format!("http://{}", self.endpoint)], None).await.unwrap();
            let mut rev = 0;
            for chunk in kvs.chunks(100) {
                let ops: Vec<TxnOp> =
                    chunk.iter().map(|(k, v)| TxnOp::put(k.clone(), v.clone(), None)).collect();
                let r = c.txn(Txn::new().and_then(ops)).await.unwrap();
                rev = r.header().unwrap().revision();
            }
            rev
        })
    }

    /// The member's backend file.
    pub fn data_db(&self) -> PathBuf {
        self.dir.path().join("data/member/snap/db")
    }

    /// Stops etcd by PID: SIGTERM (etcd commits its backend and exits),
    /// SIGKILL after 10 s, then reaps it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}
