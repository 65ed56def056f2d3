//! `checkpost audit` (not built yet).

use std::process::ExitCode;

/// Flags of `checkpost audit`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'checkpost audit' is not implemented yet")
}
