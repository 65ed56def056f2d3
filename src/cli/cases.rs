//! `checkpost cases` (not built yet).

use std::process::ExitCode;

/// Flags of `checkpost cases`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs the subcommand.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("'checkpost cases' is not implemented yet")
}
