//! Walking a real 100k-key etcd snapshot: current view and full history,
//! against `cat FILE > /dev/null` and `etcdctl snapshot status FILE` timed in
//! the same run. Input: `scripts/bench-setup-etcd` (cached outside the repo);
//! without it the bench prints how to make it and exits.

mod support;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use atrest::etcd::snapshot::BboltSource;
use atrest::etcd::{OpenOptions, Query, RecordSource};
use criterion::{Criterion, Throughput};
use support::best_of;

fn bench_file() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
    });
    cache.join("atrest-bench/etcd-100k.db")
}

fn walk(path: &Path, query: &Query) -> (usize, usize) {
    let opts = OpenOptions { skip_trailer_check: true, ..OpenOptions::default() };
    let mut src = BboltSource::open(path, &opts).expect("open bench snapshot");
    let (mut n, mut bytes) = (0, 0);
    for r in src.records(query).expect("walk") {
        let r = r.expect("record");
        n += 1;
        bytes += r.value.len();
        black_box(&r);
    }
    (n, bytes)
}

fn main() {
    let path = bench_file();
    if !path.exists() {
        eprintln!(
            "bbolt bench skipped: {} is missing; run scripts/bench-setup-etcd",
            path.display()
        );
        return;
    }
    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    // `cargo test --all-targets` runs this binary without --bench: one quick
    // walk of each view through criterion's test mode, no baseline timings.
    if std::env::args().any(|a| a == "--bench") {
        baseline(&path, len);
    }
    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let mut g = c.benchmark_group("bbolt");
    g.throughput(Throughput::Bytes(len));
    g.bench_function("current_view", |b| b.iter(|| walk(&path, &Query::current())));
    g.bench_function("history", |b| b.iter(|| walk(&path, &Query::history())));
    g.finish();
    c.final_summary();
}

/// `cat`, `etcdctl snapshot status` and atrest's walks, timed in one run.
fn baseline(path: &Path, len: u64) {
    let mib = len as f64 / (1 << 20) as f64;
    let run = |cmd: &mut Command| {
        let ok =
            cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
        assert!(ok, "{cmd:?} failed");
    };
    // One defined page-cache state for everything below.
    support::read_once_afresh(path);
    let (cat, ()) =
        best_of(5, || run(Command::new("sh").arg("-c").arg("cat \"$0\" > /dev/null").arg(path)));
    let (status, ()) = best_of(3, || {
        run(Command::new("etcdctl").env("ETCDCTL_API", "3").args(["snapshot", "status"]).arg(path))
    });
    let (t_cur, current) = best_of(5, || walk(path, &Query::current()));
    let (t_hist, history) = best_of(5, || walk(path, &Query::history()));
    let (t_open, ()) = best_of(5, || {
        black_box(
            BboltSource::open(path, &OpenOptions::default()).expect("open with trailer check"),
        );
    });
    let rate = |d: Duration| mib / d.as_secs_f64();
    println!("bbolt bench input: {} ({mib:.1} MiB)", path.display());
    println!(
        "  cat FILE > /dev/null           {:>8.1} ms  {:>7.0} MiB/s",
        cat.as_secs_f64() * 1e3,
        rate(cat)
    );
    println!(
        "  etcdctl snapshot status FILE   {:>8.1} ms  {:>7.0} MiB/s",
        status.as_secs_f64() * 1e3,
        rate(status)
    );
    for (name, t, (n, vb)) in [("current view", t_cur, current), ("history", t_hist, history)] {
        println!(
            "  atrest {name:<14}          {:>8.1} ms  {:>7.0} MiB/s  {:>9.0} records/s  ({n} records, {} MiB of values)  {:.0}% of cat",
            t.as_secs_f64() * 1e3,
            rate(t),
            n as f64 / t.as_secs_f64(),
            vb >> 20,
            100.0 * cat.as_secs_f64() / t.as_secs_f64()
        );
    }
    println!(
        "  atrest open + SHA-256 trailer  {:>8.1} ms  {:>7.0} MiB/s",
        t_open.as_secs_f64() * 1e3,
        rate(t_open)
    );
}
