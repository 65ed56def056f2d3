//! `checkpost scan` (not built yet).

use std::process::ExitCode;

/// Flags of `checkpost scan`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'checkpost scan' is not implemented yet")
}
