//! `checkpost serve` (not built yet).

use std::process::ExitCode;

/// Flags of `checkpost serve`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'checkpost serve' is not implemented yet")
}
