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

mod decrypt;
mod encrypt;
mod extract;
mod generate;
mod hash;
mod inspect;
mod lint;
mod records;
mod scan;
mod source;
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
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Encrypt(encrypt::Args),
    Decrypt(decrypt::Args),
    Inspect(inspect::Args),
    Validate(validate::Args),
    Lint(lint::Args),
    Generate(generate::Args),
    Hash(hash::Args),
    Records(records::Args),
    Scan(Box<scan::Args>),
    Extract(Box<extract::Args>),
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
        Command::Extract(a) => extract::run(*a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("atrest: error: {err:#}");
            ExitCode::from(EXIT_INPUT)
        }
    }
}
