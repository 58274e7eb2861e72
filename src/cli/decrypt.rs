//! `atrest decrypt` (not implemented yet).

/// Not implemented yet.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("atrest decrypt is not implemented yet")
}
