//! Helpers shared by the benches that time whole-file work (`bbolt`, `scan`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `f` `n` times (at least once): the best wall time and the last result.
pub fn best_of<T>(n: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = None;
    let mut last = None;
    for _ in 0..n.max(1) {
        let t = Instant::now();
        let v = f();
        let d = t.elapsed();
        best = Some(best.map_or(d, |b: Duration| b.min(d)));
        last = Some(v);
    }
    (best.unwrap(), last.unwrap())
}

/// Puts `path` in one defined page-cache state: drops its cached pages
/// (`dd iflag=nocache`), then reads it once. A fresh read fills the page
/// cache through readahead (in large folios on kernels whose filesystem
/// supports them), which is the state a snapshot is in after it was copied
/// or read once; a file etcd just wrote with small writes can sit in 4 KiB
/// pages instead, where mapping it costs more (docs/performance.md).
pub fn read_once_afresh(path: &Path) {
    for cmd in ["dd if=\"$0\" iflag=nocache count=0 status=none", "cat \"$0\" > /dev/null"] {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        assert!(ok.is_ok_and(|s| s.success()), "{cmd} ({})", path.display());
    }
}
