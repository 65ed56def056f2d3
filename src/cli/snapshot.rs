//! `checkpost snapshot` (not built yet).

use std::process::ExitCode;

/// Flags of `checkpost snapshot`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'checkpost snapshot' is not implemented yet")
}
