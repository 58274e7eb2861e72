//! Full verify scan of a large aesgcm snapshot made with a real etcd by
//! `scripts/bench-setup-scan` (cached outside the repo): objects/s and MB/s
//! next to `openssl speed -evp aes-256-gcm` x cores, measured in alternating
//! rounds (`ATREST_BENCH_ROUNDS`, default 5) so that each share compares
//! figures taken within seconds of each other;
//! a live scan against `etcdctl get --prefix /registry -w json > /dev/null`
//! on the same etcd; and the binary's peak RSS (`/usr/bin/time -v`) for every
//! cached data set. Prints a skip message when the data set is missing.
//! `ATREST_BENCH_SET=scan-110000-8192` picks another cached data set.
//! `ATREST_BENCH_SCAN=live cargo bench --bench scan` runs only the
//! live part, `ATREST_BENCH_SCAN=snapshot` only the snapshot figures (no
//! criterion run, no live etcd, no peak-RSS runs).
//!
//! Linked with the binary's allocator (mimalloc, `src/main.rs`), so the
//! library figures are those of the shipped tool.

mod support;

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use atrest::etcd::live::{LiveOptions, LiveSource};
use atrest::etcd::{OpenOptions, RecordSource, open_source};
use atrest::report::{Header, Reporter, Summary};
use atrest::scan::finding::Finding;
use atrest::scan::{ScanOptions, Scanner};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use support::best_of;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_SET: &str = "scan-100000-1024";

fn cache() -> PathBuf {
    if let Ok(d) = std::env::var("ATREST_BENCH_DIR") {
        return d.into();
    }
    let base = std::env::var("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache")
    });
    base.join("atrest-bench")
}

/// Counts findings; checks every object verified.
#[derive(Default)]
struct Count {
    objects: u64,
    bytes: u64,
    verified: u64,
}

impl Reporter for Count {
    fn begin(&mut self, _: &Header) -> io::Result<()> {
        Ok(())
    }
    fn finding(&mut self, f: &Finding) -> io::Result<()> {
        self.objects += 1;
        self.bytes += f.size as u64;
        if f.verification == atrest::scan::finding::Verification::Verified {
            self.verified += 1;
        }
        Ok(())
    }
    fn finish(&mut self, _: &Summary) -> io::Result<()> {
        Ok(())
    }
}

fn scan(source: &mut dyn RecordSource, cfg: &atrest::config::EncryptionConfig) -> Count {
    let scanner = Scanner::new(Some(cfg), "/registry");
    let header = atrest::scan::engine::header(source.info(), "/registry");
    let mut c = Count::default();
    atrest::scan::run(source, &scanner, &ScanOptions::default(), header, &mut c, &mut |_| {})
        .expect("scan");
    c
}

/// `openssl speed -evp aes-256-gcm` at `bytes`-sized blocks, bytes/s on one
/// core; `decrypt` adds `-decrypt` (what a verify scan does).
fn openssl_gcm(bytes: usize, decrypt: bool) -> Option<f64> {
    let mut args = vec!["speed", "-seconds", "2"];
    if decrypt {
        args.push("-decrypt");
    }
    let n = bytes.to_string();
    args.extend(["-bytes", &n, "-evp", "aes-256-gcm"]);
    let out = Command::new("openssl").args(&args).stderr(Stdio::null()).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // last line: "AES-256-GCM   1234567.89k"  (1000s of bytes per second)
    let line = text.lines().rev().find(|l| l.to_ascii_uppercase().starts_with("AES-256-GCM"))?;
    let k = line.split_whitespace().last()?.trim_end_matches('k').parse::<f64>().ok()?;
    Some(k * 1000.0)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct LiveEtcd {
    child: Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl Drop for LiveEtcd {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

/// Restores the snapshot into a temp dir and serves it on free ports.
fn serve(snapshot: &Path) -> LiveEtcd {
    let dir = tempfile::tempdir_in(snapshot.parent().unwrap()).unwrap();
    let (c, p) = (free_port(), free_port());
    let peer = format!("http://127.0.0.1:{p}");
    let data = dir.path().join("data");
    let ok = Command::new("/usr/bin/etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["snapshot", "restore"])
        .arg(snapshot)
        .arg("--data-dir")
        .arg(&data)
        .args(["--name", "bench", "--initial-cluster", &format!("bench={peer}")])
        .args(["--initial-advertise-peer-urls", &peer, "--skip-hash-check"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "etcdctl snapshot restore");
    let url = format!("http://127.0.0.1:{c}");
    let child = Command::new("/usr/bin/etcd")
        .args(["--name", "bench", "--data-dir"])
        .arg(&data)
        .args(["--listen-client-urls", &url, "--advertise-client-urls", &url])
        .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
        .args([
            "--initial-cluster",
            &format!("bench={peer}"),
            "--quota-backend-bytes",
            "8589934592",
        ])
        .args(["--max-request-bytes", "67108864", "--logger", "zap", "--log-outputs", "stderr"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let e = LiveEtcd { child, endpoint: format!("127.0.0.1:{c}"), _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let ok = etcdctl(&e.endpoint)
            .args(["endpoint", "health"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if ok.is_ok_and(|s| s.success()) {
            return e;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("restored etcd did not become healthy");
}

fn etcdctl(endpoint: &str) -> Command {
    let mut c = Command::new("/usr/bin/etcdctl");
    c.env("ETCDCTL_API", "3").arg(format!("--endpoints=http://{endpoint}"));
    c
}

/// Peak memory of `atrest scan` on `dir`'s snapshot: `/usr/bin/time -v`'s
/// maximum RSS (KiB; includes the memory-mapped snapshot pages, which are
/// file-backed and reclaimable) and the peak anonymous RSS (KiB; heap and
/// stacks) polled from /proc/<pid>/status every 20 ms.
fn peak_rss(dir: &Path) -> Option<(u64, u64, Duration)> {
    let t = Instant::now();
    let mut child = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(env!("CARGO_BIN_EXE_atrest"))
        .arg("scan")
        .arg(dir.join("snapshot.db"))
        .arg("--config")
        .arg(dir.join("config.yaml"))
        .args(["--format", "json", "--output", "/dev/null", "--quiet", "--fail-on", "none"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let time_pid = child.id();
    let mut anon = 0u64;
    loop {
        if child.try_wait().ok()?.is_some() {
            break;
        }
        // The scanner is /usr/bin/time's child.
        let children =
            std::fs::read_to_string(format!("/proc/{time_pid}/task/{time_pid}/children"))
                .unwrap_or_default();
        for pid in children.split_whitespace() {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            for l in status.lines() {
                if let Some(v) = l.strip_prefix("RssAnon:") {
                    let kib: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    anon = anon.max(kib);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = t.elapsed();
    let out = child.wait_with_output().ok()?;
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.contains("Maximum resident set size"))?;
    Some((line.rsplit(':').next()?.trim().parse().ok()?, anon, took))
}

/// User + system CPU seconds of a process so far (`/proc/PID/stat`, in
/// clock ticks of 1/100 s as on every Linux we run on).
fn proc_cpu(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let f: Vec<f64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    // Fields 14 and 15 of the line: utime and stime (12 and 13 after ")").
    (f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0)) / 100.0
}

/// Wall time, maximum RSS (KiB) and user + system CPU seconds (`/usr/bin/time
/// -v`) of a command whose stdout goes to /dev/null; panics when it fails.
fn time_v(cmd: &mut Command) -> (f64, u64, f64) {
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let mut t = Command::new("/usr/bin/time");
    t.arg("-v").arg(program).args(args);
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            t.env(k, v);
        }
    }
    let start = Instant::now();
    let out = t.stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap();
    let took = start.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let field = |name: &str| -> Option<String> {
        err.lines()
            .find(|l| l.contains(name))
            .and_then(|l| Some(l.rsplit(':').next()?.trim().to_string()))
    };
    let num = |name: &str| field(name).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let rss = field("Maximum resident set size").and_then(|v| v.parse().ok()).unwrap_or(0);
    let cpu = num("User time (seconds)") + num("System time (seconds)");
    (took, rss, cpu)
}

/// Live: the same data served by a real etcd. Each round runs `etcdctl get
/// --prefix /registry -w json > /dev/null`, the `atrest scan --endpoints`
/// binary (both with their max RSS), and the library's verify scan and bare
/// record stream at several page sizes, so that load from other processes
/// hits all alike; prints the best time, the range, and the range of the
/// ratio to etcdctl's time in the same round. `ATREST_BENCH_LIVE_ROUNDS`
/// (default 3) and `ATREST_BENCH_PAGE_MIB` (comma-separated page targets in
/// MiB, default `16,4`) tune it.
fn live(snapshot: &Path, cfg: &atrest::config::EncryptionConfig, objects: u64) {
    let etcd = serve(snapshot);
    let config = snapshot.with_file_name("config.yaml");
    let rounds: usize =
        std::env::var("ATREST_BENCH_LIVE_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let mibs: Vec<u64> = std::env::var("ATREST_BENCH_PAGE_MIB")
        .ok()
        .map(|v| v.split(',').filter_map(|m| m.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![16, 4]);
    // (label, options, scan or only read the records)
    let mut runs: Vec<(String, LiveOptions, bool)> = Vec::new();
    for &mib in &mibs {
        let o = LiveOptions {
            endpoints: vec![etcd.endpoint.clone()],
            page_bytes: mib << 20,
            ..LiveOptions::default()
        };
        runs.push((format!("library verify scan, pages of {mib} MiB"), o.clone(), true));
        runs.push((format!("library records only, pages of {mib} MiB"), o, false));
    }
    // The former fixed page of 2 500 keys (below 4 MiB at ~1.2 KiB per value).
    runs.push((
        "library verify scan, pages of 2500 keys".into(),
        LiveOptions {
            endpoints: vec![etcd.endpoint.clone()],
            page_size: 2_500,
            page_bytes: 0,
            ..LiveOptions::default()
        },
        true,
    ));
    let (mut ctl, mut ctl_rss, mut bin, mut bin_rss) = (vec![], vec![], vec![], vec![]);
    let mut took: Vec<Vec<f64>> = vec![Vec::new(); runs.len()];
    // CPU seconds of (client, etcd) per run.
    let (mut ctl_cpu, mut bin_cpu) = (vec![], vec![]);
    let mut cpu: Vec<Vec<(f64, f64)>> = vec![Vec::new(); runs.len()];
    let etcd_pid = etcd.child.id().to_string();
    let etcd_cpu = || proc_cpu(&etcd_pid);
    let self_cpu = || proc_cpu("self");
    for _ in 0..rounds {
        let e0 = etcd_cpu();
        let (t, rss, c) = time_v(
            etcdctl(&etcd.endpoint).args(["get", "--prefix", "/registry"]).args(["-w", "json"]),
        );
        ctl.push(t);
        ctl_rss.push(rss);
        ctl_cpu.push((c, etcd_cpu() - e0));
        let e0 = etcd_cpu();
        let (t, rss, c) = time_v(
            Command::new(env!("CARGO_BIN_EXE_atrest"))
                .args(["scan", "--endpoints", &etcd.endpoint, "--config"])
                .arg(&config)
                .args(["--format", "json", "--output", "/dev/null", "--quiet"]),
        );
        bin.push(t);
        bin_rss.push(rss);
        bin_cpu.push((c, etcd_cpu() - e0));
        for (i, (_, o, verify)) in runs.iter().enumerate() {
            let (e0, s0) = (etcd_cpu(), self_cpu());
            let t = Instant::now();
            let mut src = LiveSource::connect(o.clone()).expect("live");
            let n = if *verify {
                let c = scan(&mut src, cfg);
                assert_eq!(c.verified, c.objects, "every object verifies");
                c.objects
            } else {
                let q = atrest::etcd::Query::current().with_prefix(b"/registry/".to_vec());
                let mut n = 0u64;
                for r in src.records(&q).expect("records") {
                    r.expect("record");
                    n += 1;
                }
                n
            };
            took[i].push(t.elapsed().as_secs_f64());
            cpu[i].push((self_cpu() - s0, etcd_cpu() - e0));
            assert_eq!(n, objects);
        }
    }
    let range = |v: &[f64]| {
        let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = v.iter().cloned().fold(0.0, f64::max);
        (lo, hi)
    };
    let mib = |kib: &[u64]| {
        let (lo, hi) = (kib.iter().min().unwrap_or(&0), kib.iter().max().unwrap_or(&0));
        format!("{:.0}-{:.0} MiB", *lo as f64 / 1024.0, *hi as f64 / 1024.0)
    };
    // Median CPU seconds of the client and of etcd.
    let cpus = |v: &[(f64, f64)]| {
        let client: Vec<f64> = v.iter().map(|p| p.0).collect();
        let etcd: Vec<f64> = v.iter().map(|p| p.1).collect();
        format!("CPU {:.2}s client + {:.2}s etcd (medians)", median(&client), median(&etcd))
    };
    let (clo, chi) = range(&ctl);
    println!(
        "scan/live: etcdctl get --prefix /registry -w json > /dev/null: best {clo:.2}s \
         (range {clo:.2}-{chi:.2}s over {rounds} rounds), max RSS {}, {}",
        mib(&ctl_rss),
        cpus(&ctl_cpu)
    );
    let report = |label: &str, t: &[f64], extra: String| {
        let (lo, hi) = range(t);
        let ratios: Vec<f64> = t.iter().zip(&ctl).map(|(a, c)| a / c).collect();
        let (rlo, rhi) = range(&ratios);
        println!(
            "scan/live ({label}): best {lo:.2}s (range {lo:.2}-{hi:.2}s), {:.0} objects/s; \
             {rlo:.2}-{rhi:.2}x etcdctl's time in the same round{extra}",
            objects as f64 / lo,
        );
    };
    report(
        "binary: atrest scan --endpoints --config --format json",
        &bin,
        format!(", max RSS {}, {}", mib(&bin_rss), cpus(&bin_cpu)),
    );
    for ((label, _, _), (t, c)) in runs.iter().zip(took.iter().zip(&cpu)) {
        report(label, t, format!(", {}", cpus(c)));
    }
}

/// How a bench scan treats the snapshot's SHA-256 trailer.
#[derive(Clone, Copy)]
enum Trailer {
    /// Hashed while the records are read, as `atrest scan` opens a snapshot.
    WhileReading,
    /// Not checked (`--skip-trailer-check`): the verify scan alone.
    Skipped,
    /// Hashed before reading, as the other commands open a snapshot.
    First,
}

impl Trailer {
    const ALL: [Trailer; 3] = [Self::WhileReading, Self::Skipped, Self::First];

    fn label(self) -> &'static str {
        match self {
            Self::WhileReading => "with trailer check",
            Self::Skipped => "--skip-trailer-check",
            Self::First => "trailer hashed before reading",
        }
    }
}

fn open_snapshot(snapshot: &Path, trailer: Trailer) -> Box<dyn RecordSource> {
    let o = match trailer {
        Trailer::WhileReading => {
            OpenOptions { check_trailer_while_reading: true, ..OpenOptions::default() }
        }
        Trailer::Skipped => OpenOptions { skip_trailer_check: true, ..OpenOptions::default() },
        Trailer::First => OpenOptions::default(),
    };
    open_source(snapshot, &o).expect("snapshot")
}

/// The shares one trailer mode reached, one entry per round, in %.
#[derive(Clone, Default)]
struct Shares {
    /// Wall-clock rate against OpenSSL x cores, encrypt and decrypt.
    enc: Vec<f64>,
    dec: Vec<f64>,
    /// Rate per CPU-second against OpenSSL's per-core figure.
    enc_cpu: Vec<f64>,
    dec_cpu: Vec<f64>,
}

impl Shares {
    /// Adds one round: `[wall encrypt, wall decrypt, per-CPU encrypt, per-CPU decrypt]`.
    fn push(&mut self, [enc, dec, enc_cpu, dec_cpu]: [f64; 4]) {
        self.enc.push(enc);
        self.dec.push(dec);
        self.enc_cpu.push(enc_cpu);
        self.dec_cpu.push(dec_cpu);
    }
}

/// The median of `v` (the mean of the middle two for an even count; NaN
/// when empty).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The median and the range of `v`, as `median (lo-hi)`.
fn spread(v: &[f64], unit: &str) -> String {
    let lo = v.iter().copied().min_by(f64::total_cmp).unwrap_or(f64::NAN);
    let hi = v.iter().copied().max_by(f64::total_cmp).unwrap_or(f64::NAN);
    format!("{:.0}{unit} ({lo:.0}-{hi:.0})", median(v))
}

/// The full verify scan of `snapshot` in each trailer mode, against
/// `openssl speed -evp aes-256-gcm` measured in the same round.
///
/// This machine's speed moves by a factor of two within minutes (OpenSSL's
/// own per-core figure did), so OpenSSL and the scans are measured in
/// rounds (`ATREST_BENCH_ROUNDS`, default 5), each share is taken against
/// the OpenSSL figures of its own round, and the summary gives the median
/// and the range of the per-round shares. In each round every mode runs
/// three scans: the best wall time gives the wall-clock share against
/// OpenSSL x cores, and the mean CPU seconds (user + system, all threads)
/// per scan give the share per CPU-second against OpenSSL's per-core figure
/// (`openssl speed` divides by its own user CPU time, so this compares like
/// with like when the machine lends the process less than its cores).
fn snapshot_shares(snapshot: &Path, cfg: &atrest::config::EncryptionConfig) -> Count {
    let count = scan(open_snapshot(snapshot, Trailer::WhileReading).as_mut(), cfg);
    assert_eq!(count.verified, count.objects, "every object verifies");
    let avg = count.bytes as f64 / count.objects as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rounds: usize =
        std::env::var("ATREST_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5).max(1);
    let mut shares = vec![Shares::default(); Trailer::ALL.len()];
    let block = avg.round() as usize;
    for round in 1..=rounds {
        let gcm = [openssl_gcm(block, false), openssl_gcm(block, true)];
        let [Some(enc), Some(dec)] = gcm else {
            println!("scan/snapshot: openssl speed did not report; no shares");
            return count;
        };
        println!(
            "round {round}: openssl speed -evp aes-256-gcm at {avg:.0}-byte blocks: {:.1} MB/s \
             encrypt, {:.1} MB/s decrypt per core",
            enc / 1e6,
            dec / 1e6
        );
        for (trailer, shares) in Trailer::ALL.into_iter().zip(&mut shares) {
            let cpu0 = proc_cpu("self");
            let (took, _) = best_of(3, || scan(open_snapshot(snapshot, trailer).as_mut(), cfg));
            let cpu = (proc_cpu("self") - cpu0) / 3.0;
            let secs = took.as_secs_f64();
            let (rate, cpu_rate) = (count.bytes as f64 / secs, count.bytes as f64 / cpu);
            let wall = |g: f64| 100.0 * rate / (g * cores as f64);
            let per_cpu = |g: f64| 100.0 * cpu_rate / g;
            let this = [wall(enc), wall(dec), per_cpu(enc), per_cpu(dec)];
            println!(
                "  scan/snapshot ({}): {} objects, {:.1} MiB of values in {secs:.3}s: {:.0} \
                 objects/s, {:.1} MB/s; {cpu:.2} CPU-s per scan; share of openssl x {cores}: \
                 {:.0}% encrypt, {:.0}% decrypt; per CPU-second {:.0}% / {:.0}%",
                trailer.label(),
                count.objects,
                count.bytes as f64 / 1048576.0,
                count.objects as f64 / secs,
                rate / 1e6,
                this[0],
                this[1],
                this[2],
                this[3],
            );
            shares.push(this);
        }
    }
    for (trailer, s) in Trailer::ALL.into_iter().zip(&shares) {
        println!(
            "scan/snapshot ({}) over {rounds} rounds, median (range): share of openssl x {cores} \
             {} encrypt, {} decrypt; per CPU-second {} encrypt, {} decrypt",
            trailer.label(),
            spread(&s.enc, "%"),
            spread(&s.dec, "%"),
            spread(&s.enc_cpu, "%"),
            spread(&s.dec_cpu, "%"),
        );
    }
    count
}

fn bench(c: &mut Criterion) {
    // `cargo test --all-targets` runs bench binaries without `--bench`: the
    // minutes of setup-dependent measurement belong to `cargo bench` only.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let set = std::env::var("ATREST_BENCH_SET").unwrap_or_else(|_| DEFAULT_SET.to_string());
    let dir = cache().join(set);
    let snapshot = dir.join("snapshot.db");
    if !snapshot.exists() {
        eprintln!(
            "scan bench skipped: {} is missing; run scripts/bench-setup-scan (about 2 minutes)",
            snapshot.display()
        );
        return;
    }
    let cfg = atrest::config::load::load_path(&dir.join("config.yaml")).expect("bench config");
    if std::env::var("ATREST_BENCH_SCAN").is_ok_and(|v| v == "live") {
        let info: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("info.json")).expect("info.json"))
                .expect("info.json");
        live(&snapshot, &cfg, info["objects"].as_u64().expect("objects"));
        return;
    }
    support::read_once_afresh(&snapshot);
    let count = snapshot_shares(&snapshot, &cfg);
    if std::env::var("ATREST_BENCH_SCAN").is_ok_and(|v| v == "snapshot") {
        return;
    }

    let mut g = c.benchmark_group("scan");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(count.objects));
    g.bench_function("verify-snapshot-aesgcm", |b| {
        b.iter(|| scan(open_snapshot(&snapshot, Trailer::WhileReading).as_mut(), &cfg))
    });
    g.finish();

    live(&snapshot, &cfg, count.objects);

    // Peak memory of the binary for every cached data set.
    let mut sets: Vec<PathBuf> = std::fs::read_dir(cache())
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    sets.retain(|p| p.join("snapshot.db").exists());
    sets.sort();
    for set in sets {
        let size = std::fs::metadata(set.join("snapshot.db")).map_or(0, |m| m.len());
        match peak_rss(&set) {
            Some((kib, anon, took)) => println!(
                "scan/peak-rss: {} ({:.0} MiB snapshot): max RSS {:.1} MiB (incl. mapped file pages), \
                 peak anonymous RSS {:.1} MiB, {:.1}s (binary, --format json)",
                set.file_name().unwrap().to_string_lossy(),
                size as f64 / 1048576.0,
                kib as f64 / 1024.0,
                anon as f64 / 1024.0,
                took.as_secs_f64()
            ),
            None => {
                println!("scan/peak-rss: /usr/bin/time -v did not report for {}", set.display())
            }
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
