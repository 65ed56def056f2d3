//! `checkpost match` (not built yet).

use std::process::ExitCode;

/// Flags of `checkpost match`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'checkpost match' is not implemented yet")
}
