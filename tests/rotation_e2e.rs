//! Rotation end to end on a real etcd: values written under key A, a scan
//! that blocks the prune, a rewrite under key B, a scan that allows it, and
//! the retired key read back from the archive for an old backup.

mod support;

use std::path::Path;
use std::process::Output;

use etcd_client::Client;
use support::etcd::Etcd;

fn atrest(args: &[&str], stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_atrest"));
    cmd.args(args)
        .env_remove("ATREST_ARCHIVE_PASSPHRASE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    let o = atrest(args, stdin);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

const SECRETS: [&str; 3] = [
    "/registry/secrets/default/db-password",
    "/registry/secrets/kube-system/token",
    "/registry/secrets/team-a/tls",
];

fn plaintext(key: &str) -> Vec<u8> {
    // A protobuf v1 Secret envelope (k8s\0 + runtime.Unknown{typeMeta{v1, Secret}})
    // is enough for the scanner's plausibility check; the raw object is opaque.
    let mut v = b"k8s\x00\x0a\x0c\x0a\x02v1\x12\x06Secret\x12".to_vec();
    let raw = format!("raw object of {key}");
    v.push(raw.len() as u8);
    v.extend_from_slice(raw.as_bytes());
    v.extend_from_slice(b"\x1a\x00\x22\x00");
    v
}

struct Cluster {
    etcd: Etcd,
    rt: tokio::runtime::Runtime,
    client: Client,
}

impl Cluster {
    fn start() -> Cluster {
        let etcd = Etcd::start();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client =
            rt.block_on(Client::connect([format!("http://{}", etcd.endpoint)], None)).unwrap();
        Cluster { etcd, rt, client }
    }

    fn put(&mut self, key: &str, value: &[u8]) {
        self.rt.block_on(self.client.put(key, value, None)).unwrap();
    }

    fn get(&mut self, key: &str) -> Vec<u8> {
        let r = self.rt.block_on(self.client.get(key, None)).unwrap();
        r.kvs()[0].value().to_vec()
    }

    fn snapshot(&self, path: &Path) {
        self.etcd.ctl(&["snapshot", "save", path.to_str().unwrap()]);
    }

    /// What kube-apiserver does on `kubectl replace`: read with the config,
    /// write with its first provider/key.
    fn rewrite_all(&mut self, config: &str) {
        for key in SECRETS {
            let stored = self.get(key);
            let plain = ok(&["decrypt", "--config", config, "--etcd-key", key], Some(&stored));
            let sealed = ok(&["encrypt", "--config", config, "--etcd-key", key], Some(&plain));
            self.put(key, &sealed);
        }
    }
}

#[test]
fn prune_waits_for_the_rewrite_and_the_archive_reads_old_backups() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("enc.yaml");
    let cfg = config.to_str().unwrap();
    ok(&["generate", "--provider", "secretbox", "--key-name", "key1", "-o", cfg], None);

    let mut cluster = Cluster::start();
    for key in SECRETS {
        let sealed = ok(&["encrypt", "--config", cfg, "--etcd-key", key], Some(&plaintext(key)));
        assert!(sealed.starts_with(b"k8s:enc:secretbox:v1:key1:"));
        cluster.put(key, &sealed);
    }

    // Add B, then make it the writer.
    ok(
        &["rotate", "prepare", cfg, "--provider", "secretbox", "--key-name", "key2", "--write"],
        None,
    );
    ok(&["rotate", "promote", cfg, "--write"], None);

    // Everything is still under A: the prune is refused, the file untouched.
    let before = dir.path().join("before.db");
    cluster.snapshot(&before);
    let promoted = std::fs::read(&config).unwrap();
    let o = atrest(&["rotate", "prune", cfg, "--scan", before.to_str().unwrap(), "--write"], None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("refused"), "{err}");
    assert_eq!(std::fs::read(&config).unwrap(), promoted);

    // Status with the same scan names the blocker.
    let st = ok(&["rotate", "status", cfg, "--scan", before.to_str().unwrap()], None);
    let st = String::from_utf8_lossy(&st);
    assert!(st.contains("objects: secretbox/key2 0, secretbox/key1 3"), "{st}");
    assert!(st.contains("prune blocked: 3 object(s) under secretbox/key1"), "{st}");

    // The scan says why: three stale objects under secretbox/key1.
    let o =
        atrest(&["scan", before.to_str().unwrap(), "--config", cfg, "--fail-on", "stale"], None);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("secretbox/key1  3"));

    // Rewrite (kubectl replace), snapshot again: now the prune goes through.
    cluster.rewrite_all(cfg);
    assert!(cluster.get(SECRETS[0]).starts_with(b"k8s:enc:secretbox:v1:key2:"));
    let after = dir.path().join("after.db");
    cluster.snapshot(&after);
    let out = ok(&["rotate", "prune", cfg, "--scan", after.to_str().unwrap(), "--write"], None);
    let out = String::from_utf8_lossy(&out);
    assert!(!out.contains("refused"), "{out}");
    let pruned = std::fs::read_to_string(&config).unwrap();
    assert!(pruned.contains("name: key2") && !pruned.contains("name: key1"), "{pruned}");
    ok(&["validate", cfg], None);
    let archive = dir.path().join("enc.yaml.retired-keys");
    assert!(archive.exists(), "the retired key is archived");

    // The current data is clean under the pruned config ...
    ok(
        &[
            "scan",
            after.to_str().unwrap(),
            "--config",
            cfg,
            "--fail-on",
            "plaintext,undecryptable,stale",
        ],
        None,
    );
    // ... the old backup is not readable without the retired key ...
    let o = atrest(&["scan", before.to_str().unwrap(), "--config", cfg], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("3 undecryptable"));
    // ... and is with the archive.
    ok(
        &[
            "scan",
            before.to_str().unwrap(),
            "--config",
            cfg,
            "--key-archive",
            archive.to_str().unwrap(),
        ],
        None,
    );
    let archive_arg = archive.to_str().unwrap();
    let plain = ok(
        &["extract", before.to_str().unwrap(), "--config", cfg, "--key-archive", archive_arg]
            .into_iter()
            .chain(["--etcd-key", SECRETS[1], "-o", "raw"])
            .collect::<Vec<_>>(),
        None,
    );
    assert_eq!(plain, plaintext(SECRETS[1]));
}
