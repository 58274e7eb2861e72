//! `atrest completions`: shell completion scripts (clap_complete).

use std::io::Write as _;

use anyhow::Context as _;
use clap::{CommandFactory, ValueEnum};
use clap_complete::Shell;

use super::ui::Ui;

#[derive(Clone, Copy, ValueEnum)]
enum ShellArg {
    Bash,
    Zsh,
    Fish,
}

/// Print a shell completion script for atrest to stdout.
///
/// Input: the shell name. Output: the script on stdout; nothing is installed.
/// Load it in the current shell or save it where your shell looks for
/// completions.
///
/// Exit codes: 0 printed; 2 unknown shell or stdout not writable.
///
/// Examples:
///   source <(atrest completions bash)
///   atrest completions zsh > "${fpath[1]}/_atrest"
///   atrest completions fish > ~/.config/fish/completions/atrest.fish
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The shell: bash, zsh or fish.
    #[arg(value_enum)]
    shell: ShellArg,
}

pub fn run(args: Args, ui: &Ui) -> anyhow::Result<u8> {
    let shell = match args.shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
    };
    let mut cmd = super::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "atrest", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script).and_then(|()| out.flush()).context("cannot write to stdout")?;
    ui.detail(format_args!("{shell} completion script: {} bytes", script.len()));
    Ok(super::EXIT_OK)
}
