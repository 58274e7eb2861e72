//! How much atrest says on stderr: the global `--quiet` and `--verbose`.
//!
//! One meaning for every subcommand (documented in `atrest --help` and
//! `docs/exit-codes.md`):
//! * `--quiet`: errors and warnings only. No progress bar, no notes, no
//!   `hint:` lines. Stdout (the requested output) and the exit code do not
//!   change.
//! * default: errors, warnings, notes and hints.
//! * `--verbose`: also details — which file or source was opened, which
//!   provider/key name read a value, how long it took. Never key material or
//!   plaintext.
//!
//! Every line goes through [`Ui`], so a subcommand cannot forget the flags.

use std::fmt::Arguments;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// The three levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    /// `--quiet`.
    Quiet,
    /// Neither flag.
    Normal,
    /// `--verbose`.
    Verbose,
}

/// The stderr side of a run.
pub struct Ui {
    verbosity: Verbosity,
    start: Instant,
}

impl Ui {
    /// A UI at `verbosity`; the clock for [`Ui::elapsed`] starts now.
    pub fn new(verbosity: Verbosity) -> Self {
        Self { verbosity, start: Instant::now() }
    }

    /// `--quiet` was given.
    pub fn quiet(&self) -> bool {
        self.verbosity == Verbosity::Quiet
    }

    /// `--verbose` was given.
    pub fn verbose(&self) -> bool {
        self.verbosity == Verbosity::Verbose
    }

    /// Whether to draw a progress bar: not with `--quiet`, and only when
    /// stderr is a terminal.
    pub fn progress(&self) -> bool {
        !self.quiet() && std::io::stderr().is_terminal()
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// An informational line (`atrest: note: ...`), suppressed by `--quiet`.
    pub fn note(&self, args: Arguments<'_>) {
        if !self.quiet() {
            line(format_args!("atrest: note: {args}"));
        }
    }

    /// A `hint: ...` line (what to do next), suppressed by `--quiet`.
    pub fn hint(&self, args: Arguments<'_>) {
        if !self.quiet() {
            line(format_args!("hint: {args}"));
        }
    }

    /// A detail (`atrest: ...`), only with `--verbose`.
    pub fn detail(&self, args: Arguments<'_>) {
        if self.verbose() {
            line(format_args!("atrest: {args}"));
        }
    }

    /// A warning (`atrest: warning: ...`): always, also with `--quiet`,
    /// because it says the result may not mean what it seems.
    pub fn warn(&self, args: Arguments<'_>) {
        line(format_args!("atrest: warning: {args}"));
    }
}

/// One line on stderr; a stderr that went away is not worth a panic.
fn line(args: Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

/// Seconds with millisecond precision, for timing details.
pub fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}
