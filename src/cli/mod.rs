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
mod ui;
mod validate;
mod yaml;

use ui::{Ui, Verbosity};

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
#[command(after_help = "\
Exit codes: 0 success, 1 check failed (findings), 2 unusable input.

--quiet and --verbose work with every subcommand, before or after its name:
  --quiet    stderr has errors and warnings only: no progress bar, notes,
             hints; stdout and the exit code do not change
  --verbose  stderr also says what was opened, which provider/key name read
             a value, and how long it took (never keys or plaintext)

Example: atrest scan /backup/snapshot.db --config enc.yaml --quiet")]
pub(crate) struct Cli {
    /// Errors and warnings only on stderr (no progress bar, notes or hints);
    /// stdout and the exit code do not change.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// More on stderr: what was opened, which provider/key name read a value,
    /// timing (never keys or plaintext); scan's text report lists every object.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

impl Command {
    /// The subcommand's name, for messages.
    fn name(&self) -> &'static str {
        match self {
            Command::Scan(_) => "scan",
            Command::Extract(_) => "extract",
            Command::Validate(_) => "validate",
            Command::Lint(_) => "lint",
            Command::Generate(_) => "generate",
            Command::Rotate(_) => "rotate",
            Command::Encrypt(_) => "encrypt",
            Command::Decrypt(_) => "decrypt",
            Command::Inspect(_) => "inspect",
            Command::Records(_) => "records",
            Command::Hash(_) => "hash",
            Command::Completions(_) => "completions",
            Command::Man(_) => "man",
        }
    }
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
    if cli.quiet && cli.verbose {
        // clap checks the conflict only where both flags were given on the
        // same level (`atrest -q scan -v` passes it): the same usage error.
        use clap::CommandFactory as _;
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "the argument '--quiet' cannot be used with '--verbose'",
            )
            .exit();
    }
    let ui = Ui::new(match (cli.quiet, cli.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Normal,
    });
    let name = cli.command.name();
    let result = match cli.command {
        Command::Encrypt(a) => encrypt::run(a, &ui),
        Command::Decrypt(a) => decrypt::run(a, &ui),
        Command::Inspect(a) => inspect::run(a, &ui),
        Command::Validate(a) => validate::run(a, &ui),
        Command::Lint(a) => lint::run(a, &ui),
        Command::Generate(a) => generate::run(a, &ui),
        Command::Hash(a) => hash::run(a, &ui),
        Command::Records(a) => records::run(a, &ui),
        Command::Scan(a) => scan::run(*a, &ui),
        Command::Rotate(a) => rotate::run(a, &ui),
        Command::Completions(a) => completions::run(a, &ui),
        Command::Man(a) => man::run(a, &ui),
        Command::Extract(a) => extract::run(*a, &ui),
    };
    let code = match result {
        Ok(code) => code,
        Err(err) if broken_pipe(&err) => EXIT_OK,
        Err(err) => {
            // A message may carry its own `hint:` lines (see source.rs).
            let line = error_line(&err);
            let mut parts = line.split("\nhint: ");
            eprintln!("atrest: error: {}", parts.next().unwrap_or_default());
            for hint in parts.chain(error_hint(&err)) {
                ui.hint(format_args!("{hint}"));
            }
            EXIT_INPUT
        }
    };
    ui.detail(format_args!("{name} finished in {} (exit {code})", ui::secs(ui.elapsed())));
    ExitCode::from(code)
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
