//! `atrest man`: manual pages in roff (clap_mangen), one per subcommand.

use std::path::PathBuf;

use anyhow::Context;
use clap::CommandFactory;

use super::ui::Ui;

/// Write the manual pages: atrest.1 and one page per subcommand
/// (atrest-scan.1, atrest-rotate-status.1, ...).
///
/// Input: --out-dir, created when missing. Output: the pages in that
/// directory, one path per line on stdout. Without --out-dir, atrest.1 is
/// printed to stdout.
///
/// Exit codes: 0 written; 2 the directory cannot be created or written.
///
/// Examples:
///   atrest man --out-dir /usr/local/share/man/man1
///   atrest man | man -l -
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Write every page into this directory instead of atrest.1 to stdout.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

pub fn run(args: Args, ui: &Ui) -> anyhow::Result<u8> {
    let cmd = super::Cli::command();
    let Some(dir) = args.out_dir else {
        let mut out = std::io::stdout().lock();
        clap_mangen::Man::new(cmd).render(&mut out).context("cannot write the page to stdout")?;
        return Ok(super::EXIT_OK);
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create {}; pick a writable --out-dir", dir.display()))?;
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    page_names(&cmd, &mut pages);
    clap_mangen::generate_to(cmd, &dir)
        .with_context(|| format!("cannot write pages into {}", dir.display()))?;
    pages.sort();
    ui.detail(format_args!("wrote {} pages into {}", pages.len(), dir.display()));
    for p in pages {
        outln!("{}", dir.join(p).display())?;
    }
    Ok(super::EXIT_OK)
}

/// The file names clap_mangen gives the pages of `cmd` and its subcommands
/// (`atrest-rotate-status.1`); `cmd` must be built.
fn page_names(cmd: &clap::Command, out: &mut Vec<String>) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        page_names(sub, out);
    }
    out.push(format!("{}.1", cmd.get_display_name().unwrap_or(cmd.get_name())));
}
