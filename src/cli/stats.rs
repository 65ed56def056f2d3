//! `checkpost stats` (not built yet).

use std::process::ExitCode;

/// Flags of `checkpost stats`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'checkpost stats' is not implemented yet")
}
