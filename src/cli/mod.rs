//! The command line: argument parsing, rendering and exit codes.
//!
//! Each subcommand lives in a file of its own, parses its arguments with
//! clap, calls one library function and renders the result. This is the only
//! place that uses `anyhow`, colours and progress bars.
//!
//! Exit codes (documented in `docs/exit-codes.md`):
//! * `0` — success: the check passed, the value was read, the file written;
//! * `1` — the check ran and failed: invalid config, value that does not
//!   decrypt, lint or scan findings at the `--fail-on` level;
//! * `2` — the input could not be used: unreadable file, bad arguments,
//!   unreachable source.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `println!` that returns the write error instead of panicking when stdout
/// is closed (`atrest lint ... | head`); `run` ends a broken pipe quietly.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod completions;
mod decrypt;
mod encrypt;
mod extract;
mod generate;
mod hash;
mod inspect;
mod lint;
mod man;
mod records;
mod scan;
mod source;

mod rotate;
mod validate;
mod yaml;

/// Exit code: the check passed.
#[allow(dead_code)]
pub const EXIT_OK: u8 = 0;
/// Exit code: the check ran and found a problem.
#[allow(dead_code)]
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: the input could not be used.
pub const EXIT_INPUT: u8 = 2;

/// Kubernetes encryption at rest: generate, validate and rotate
/// EncryptionConfiguration files, and prove what etcd really stores.
#[derive(Parser)]
#[command(name = "atrest", version, about, long_about = None, propagate_version = true)]
#[command(after_help = "Exit codes: 0 success, 1 check failed (findings), 2 unusable input.")]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Scan(Box<scan::Args>),
    Extract(Box<extract::Args>),
    Validate(validate::Args),
    Lint(lint::Args),
    Generate(generate::Args),
    Rotate(rotate::Args),
    Encrypt(encrypt::Args),
    Decrypt(decrypt::Args),
    Inspect(inspect::Args),
    Records(records::Args),
    Hash(hash::Args),
    Completions(completions::Args),
    Man(man::Args),
}

/// Parses arguments, runs the subcommand and maps the outcome to an exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Encrypt(a) => encrypt::run(a),
        Command::Decrypt(a) => decrypt::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Lint(a) => lint::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Hash(a) => hash::run(a),
        Command::Records(a) => records::run(a),
        Command::Scan(a) => scan::run(*a),

        Command::Rotate(a) => rotate::run(a),
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => man::run(a),

        Command::Extract(a) => extract::run(*a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) if broken_pipe(&err) => ExitCode::from(EXIT_OK),
        Err(err) => {
            eprintln!("atrest: error: {}", error_line(&err));
            if let Some(hint) = error_hint(&err) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(EXIT_INPUT)
        }
    }
}

/// The reader of stdout went away (`atrest ... | head`): not an error, as
/// for other Unix filters.
fn broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes on one line, each cause once (an error whose
/// message already ends with its source's text is not repeated).
fn error_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.is_empty() {
            line = text;
        } else if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

/// What to do next, for the mistakes operators make most.
fn error_hint(err: &anyhow::Error) -> Option<&'static str> {
    for cause in err.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::NotFound => {
                    Some("check the path (relative paths start from the current directory)")
                }
                std::io::ErrorKind::PermissionDenied => Some(
                    "kubeadm keeps keys and enc.yaml readable by root only: run as root (sudo) \
                     on the control-plane node",
                ),
                _ => None,
            };
        }
        if let Some(atrest::etcd::SourceError::Unreachable { .. }) = cause.downcast_ref() {
            return Some(
                "check --endpoints (https:// for TLS) and that etcd listens there; pass \
                 --cacert, --cert and --key for TLS; raise --timeout on a slow link",
            );
        }
    }
    None
}
