//! `checkpost mrz` (not built yet).

use std::process::ExitCode;

/// Flags of `checkpost mrz`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'checkpost mrz' is not implemented yet")
}
