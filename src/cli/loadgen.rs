//! `checkpost loadgen` (not built yet).

use std::process::ExitCode;

/// Flags of `checkpost loadgen`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'checkpost loadgen' is not implemented yet")
}
