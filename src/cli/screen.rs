//! `checkpost screen` (not built yet).

use std::process::ExitCode;

/// Flags of `checkpost screen`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'checkpost screen' is not implemented yet")
}
