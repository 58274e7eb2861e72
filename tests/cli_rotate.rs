//! `atrest rotate` as a user runs it: the real binary on real files.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use atrest::rotation::apply::FileLock;
use atrest::rotation::archive::read_archive;
use atrest::rotation::{doc, file_hash, stage};
use atrest::secret::SecretBytes;

const NEW: &str = "key-20261128T171000Z";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/rotation").join(name)
}

fn atrest(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(args)
        .env_remove("ATREST_ARCHIVE_PASSPHRASE")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn copy_fixture(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join("enc.yaml");
    fs::copy(fixture(name), &p).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".bak"))
        .collect();
    v.sort();
    v
}

fn stage_of(p: &Path) -> stage::Stage {
    let t = fs::read_to_string(p).unwrap();
    stage::derive(&doc::parse(&t).unwrap(), None)[0].stage
}

#[test]
fn dry_run_by_default_write_with_backup_then_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = copy_fixture(dir.path(), "aescbc.yaml");
    let c = cfg.to_str().unwrap();
    let before = fs::read(&cfg).unwrap();

    let o = atrest(&["rotate", "prepare", c, "--key-name", NEW]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("PLAN") && out.contains("dry run"), "{out}");
    assert!(out.contains(&format!("+            - name: {NEW}")), "{out}");
    assert!(
        out.contains("<redacted>") && !out.contains("AQEBAQEB"),
        "secrets never printed: {out}"
    );
    assert_eq!(fs::read(&cfg).unwrap(), before, "dry run writes nothing");
    assert!(backups(dir.path()).is_empty());

    let o = atrest(&["rotate", "prepare", c, "--key-name", NEW, "--write"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(stage_of(&cfg), stage::Stage::Prepared);
    let b = backups(dir.path());
    assert_eq!(b.len(), 1);
    assert_eq!(fs::read(&b[0]).unwrap(), before);
    for p in [&cfg, &b[0]] {
        assert_eq!(fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(fs::read_to_string(&cfg).unwrap().contains("# the first key"));
    let prepared = fs::read(&cfg).unwrap();

    let o = atrest(&["rotate", "prepare", c, "--yes"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).contains("nothing to do"), "{}", text(&o));
    assert_eq!(fs::read(&cfg).unwrap(), prepared, "re-running a finished step changes nothing");
    assert_eq!(backups(dir.path()).len(), 1);

    // Refusal: prune before promote, exit 1 with advice.
    let o = atrest(&["rotate", "prune", c, "--force"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("rotate promote"), "{}", text(&o));

    let o = atrest(&["rotate", "promote", c, "--write", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["outcome"], "change");
    assert_eq!(v["written"]["hash_after"], file_hash(&fs::read(&cfg).unwrap()));
    assert_eq!(stage_of(&cfg), stage::Stage::Promoted);
}

#[test]
fn prune_needs_evidence_and_archives_retired_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = copy_fixture(dir.path(), "aescbc.yaml");
    let c = cfg.to_str().unwrap();
    for step in [vec!["prepare", c, "--key-name", NEW, "--write"], vec!["promote", c, "--write"]] {
        let mut args = vec!["rotate"];
        args.extend(step);
        assert_eq!(atrest(&args).status.code(), Some(0));
    }
    let in_use = fixture("evidence-key1-in-use.json");
    let o = atrest(&["rotate", "prune", c, "--evidence", in_use.to_str().unwrap(), "--write"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("1 object(s) still stored as aescbc/key1"), "{}", text(&o));
    assert_eq!(stage_of(&cfg), stage::Stage::Promoted);

    let o = atrest(&["rotate", "status", c, "--evidence", in_use.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).contains("prune blocked: 1 object(s) under aescbc/key1"), "{}", text(&o));
    // On the original file, the objects under the (absent) new key are reported unreadable.
    let o = atrest(&[
        "rotate",
        "status",
        fixture("aescbc.yaml").to_str().unwrap(),
        "--evidence",
        in_use.to_str().unwrap(),
    ]);
    assert!(
        text(&o).contains(&format!("UNREADABLE: 1 object(s) stored as aescbc/{NEW}")),
        "{}",
        text(&o)
    );

    let clean = fixture("evidence-reencrypted.json");
    let pass_file = dir.path().join("pass");
    fs::write(&pass_file, "s3cret phrase\n").unwrap();
    let archive = dir.path().join("retired.json");
    let o = atrest(&[
        "rotate",
        "prune",
        c,
        "--evidence",
        clean.to_str().unwrap(),
        "--key-archive",
        archive.to_str().unwrap(),
        "--passphrase-file",
        pass_file.to_str().unwrap(),
        "--write",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("sealed"), "{}", text(&o));
    assert_eq!(stage_of(&cfg), stage::Stage::Steady);
    assert_eq!(fs::metadata(&archive).unwrap().permissions().mode() & 0o777, 0o600);
    let keys = read_archive(&archive, Some(&SecretBytes::from_slice(b"s3cret phrase"))).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!((keys[0].provider.as_str(), keys[0].name.as_str()), ("aescbc", "key1"));
    assert_eq!(keys[0].secret.expose(), &[1u8; 32][..]);
    assert!(read_archive(&archive, Some(&SecretBytes::from_slice(b"wrong"))).is_err());
    // An independent implementation (libsodium via PyNaCl) opens what atrest sealed.
    let py = r#"
import base64, json, sys
import nacl.pwhash.argon2id as a, nacl.bindings as s
d = json.load(open(sys.argv[1]))['sealed']; p = d['params']
k = a.kdf(32, b's3cret phrase', base64.b64decode(d['salt']), opslimit=p['t_cost'], memlimit=p['m_cost'] * 1024)
aad = f"atrest-key-archive v1 argon2id m={p['m_cost']} t={p['t_cost']} p={p['p_cost']} salt={d['salt']}".encode()
pt = s.crypto_aead_xchacha20poly1305_ietf_decrypt(base64.b64decode(d['ciphertext']), aad, base64.b64decode(d['nonce']), k)
k0 = json.loads(pt)[0]
print(k0['provider'], k0['name'], base64.b64decode(k0['secret']) == bytes([1]) * 32)
"#;
    let o = Command::new("python3").args(["-c", py, archive.to_str().unwrap()]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "aescbc key1 True", "{}", text(&o));
    assert!(read_archive(&archive, None).is_err());

    let o = atrest(&["rotate", "prune", c, "--evidence", clean.to_str().unwrap(), "--write"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).contains("nothing to do"));
}

#[test]
fn status_compares_node_files_by_hash() {
    let dir = tempfile::tempdir().unwrap();
    let n1 = dir.path().join("node1.yaml");
    let n2 = dir.path().join("node2.yaml");
    let n3 = dir.path().join("node3.yaml");
    for n in [&n1, &n2, &n3] {
        fs::copy(fixture("aescbc.yaml"), n).unwrap();
    }
    let args = |extra: &[&str]| {
        let mut a = vec![
            "rotate",
            "status",
            n1.to_str().unwrap(),
            n2.to_str().unwrap(),
            n3.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        atrest(&a)
    };
    let o = args(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("all 3 files are byte-identical"));
    let h = file_hash(&fs::read(&n1).unwrap());
    assert!(text(&o).contains(&h));
    // The same hash as `atrest hash` (and kube-apiserver's last_config_info).
    let hash = atrest(&["hash", n1.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&hash.stdout).trim(), h);

    // node2 is prepared, the others are not: exit 1, node2 named with both stages.
    assert_eq!(
        atrest(&["rotate", "prepare", n2.to_str().unwrap(), "--write"]).status.code(),
        Some(0)
    );
    let o = args(&["--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["identical"], false);
    assert_eq!(v["differences"].as_array().unwrap().len(), 1);
    assert_eq!(v["differences"][0]["path"], n2.to_str().unwrap());
    let how = v["differences"][0]["how"].as_str().unwrap();
    assert!(how.contains("prepared") && how.contains("steady"), "{how}");
    assert_eq!(v["files"][1]["hash"], file_hash(&fs::read(&n2).unwrap()));
    assert_eq!(v["files"][0]["entries"][0]["stage"], "steady");
    assert_eq!(v["files"][1]["entries"][0]["stage"], "prepared");
    let o = args(&[]);
    assert!(text(&o).contains(&format!("DIFFERS: {}", n2.display())), "{}", text(&o));
}

#[test]
fn concurrent_writers_are_serialised_by_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = copy_fixture(dir.path(), "aescbc.yaml");
    let c = cfg.to_str().unwrap().to_string();
    let before = fs::read(&cfg).unwrap();
    // While we hold the lock, a writer waits and the file does not change.
    let lock = FileLock::acquire(&cfg).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_atrest"))
        .args(["rotate", "prepare", &c, "--write"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert!(child.try_wait().unwrap().is_none(), "the writer must wait for the lock");
    assert_eq!(fs::read(&cfg).unwrap(), before);
    drop(lock);
    assert!(child.wait().unwrap().success());
    assert_eq!(stage_of(&cfg), stage::Stage::Prepared);

    // Two promotes at once: exactly one writes, the other finds it done.
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_atrest"))
            .args(["rotate", "promote", &c, "--write"])
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert!(a.status.success() && b.status.success());
    let noops = [&a, &b]
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stdout).contains("nothing to do"))
        .count();
    assert_eq!(noops, 1, "one run promotes, the other sees it done");
    assert_eq!(stage_of(&cfg), stage::Stage::Promoted);
    assert_eq!(backups(dir.path()).len(), 2);
}

#[test]
fn kill_9_during_write_leaves_old_or_new_file_and_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let old = fs::read(fixture("aescbc.yaml")).unwrap();
    // Measure one full run to spread the kill moments over it.
    let probe = copy_fixture(dir.path(), "aescbc.yaml");
    let t0 = Instant::now();
    assert!(atrest(&["rotate", "prepare", probe.to_str().unwrap(), "--write"]).status.success());
    let full = t0.elapsed();
    let mut outcomes = [0usize; 2];
    for i in 0..20u32 {
        let d = tempfile::tempdir().unwrap();
        let cfg = copy_fixture(d.path(), "aescbc.yaml");
        let mut child = Command::new(env!("CARGO_BIN_EXE_atrest"))
            .args(["rotate", "prepare", cfg.to_str().unwrap(), "--write"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Deterministic spread from 0 to 120% of a full run.
        std::thread::sleep(full * (i * 6) / 100);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let now = fs::read(&cfg).unwrap();
        let t = String::from_utf8(now.clone()).expect("UTF-8");
        let parsed = doc::parse(&t).expect("never a partial file");
        assert!(doc::check(&parsed).is_empty());
        if now == old {
            outcomes[0] += 1;
        } else {
            outcomes[1] += 1;
            assert_eq!(stage::derive(&parsed, None)[0].stage, stage::Stage::Prepared);
            let b = backups(d.path());
            assert_eq!(b.len(), 1, "the backup exists whenever the new file does");
            assert_eq!(fs::read(&b[0]).unwrap(), old);
        }
        // A later run cleans up and completes (or finds the step done).
        let o = atrest(&["rotate", "prepare", cfg.to_str().unwrap(), "--write"]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(stage_of(&cfg), stage::Stage::Prepared);
        let leftovers: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }
    eprintln!(
        "kill -9 outcomes: old file {} times, new file {} times (full run {full:?})",
        outcomes[0], outcomes[1]
    );
}

#[test]
fn runbook_and_help_teach() {
    let o = atrest(&[
        "rotate",
        "runbook",
        fixture("multi.yaml").to_str().unwrap(),
        "--nodes",
        "3",
        "--reload",
        "auto",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.starts_with("# Encryption-at-rest rotation runbook"));
    assert!(md.contains("kubectl get secrets -A -o json | kubectl replace -f -"));
    assert!(md.contains(
        "apiserver_encryption_config_controller_automatic_reload_last_timestamp_seconds"
    ));
    assert!(md.contains("--fail-on stale"));
    assert!(md.contains("etcd backup made before the prune"));
    let o = atrest(&["rotate", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let h = String::from_utf8_lossy(&o.stdout);
    assert!(h.contains("Example") && h.contains("Exit codes"), "{h}");
    let o = atrest(&["rotate", "status", "/nonexistent/enc.yaml"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_symlinked_config_is_edited_in_place_behind_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let real = copy_fixture(dir.path(), "secretbox.yaml");
    let link = dir.path().join("link.yaml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let o = atrest(&["rotate", "prepare", link.to_str().unwrap(), "--write"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(stage_of(&real), stage::Stage::Prepared);
}

/// A backup that cannot be written whole (here: the file-size limit stops
/// it after 4 KiB) fails the run and leaves no `.bak` that looks like a
/// good one, no temporary file, and the config untouched.
#[test]
fn a_failed_backup_leaves_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = copy_fixture(dir.path(), "aescbc.yaml");
    let mut big = fs::read_to_string(&cfg).unwrap();
    for i in 0..200 {
        big.push_str(&format!("# padding line {i:03} to make the file larger than 4 KiB\n"));
    }
    fs::write(&cfg, &big).unwrap();
    assert!(big.len() > 8192);
    let script = r#"trap '' XFSZ; ulimit -f 4; exec "$0" "$@""#;
    let o = Command::new("bash")
        .args(["-c", script, env!("CARGO_BIN_EXE_atrest"), "rotate", "prepare"])
        .args([cfg.to_str().unwrap(), "--key-name", NEW, "--write"])
        .env_remove("ATREST_ARCHIVE_PASSPHRASE")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("backup"), "{}", text(&o));
    assert_eq!(fs::read_to_string(&cfg).unwrap(), big, "the config is untouched");
    let left: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "enc.yaml" && n != "enc.yaml.lock")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
