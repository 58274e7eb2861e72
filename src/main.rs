//! The `atrest` binary: a thin shell over the library (see `src/cli/`).
#![forbid(unsafe_code)]

mod cli;

/// mimalloc instead of glibc malloc: a scan allocates its findings on the
/// worker threads and frees them on the reporting thread, which glibc's
/// per-thread arenas handle slowly (a fifth of a scan's instructions went to
/// malloc and free).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::run()
}
