//! `checkpost auth token`: makes a bearer token for one caller. The token is printed once, on
//! stdout; the server's config keeps only its blake3 hash (the TOML block printed on stderr to
//! paste under `[auth]`).

use std::process::ExitCode;

use anyhow::bail;
use checkpost_server::auth::{Role, generate_token};

/// Flags of `checkpost auth`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Generate a random bearer token and the `[[auth.token]]` block holding its hash.
    Token {
        /// Who will hold it, e.g. `counter-d07` (logged with denied calls; unique in the config).
        #[arg(long)]
        name: String,
        /// Comma-separated roles: counter, reviewer, ops, auditor.
        #[arg(long, value_delimiter = ',', required = true, value_parser = parse_role)]
        roles: Vec<Role>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse::<Role>().map_err(|e| e.to_string())
}

/// The TOML block for the config; `name` is escaped as a TOML basic string.
fn toml_block(name: &str, hash_hex: &str, roles: &[Role]) -> String {
    let roles: Vec<String> = roles.iter().map(|r| format!("\"{r}\"")).collect();
    let name = name.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "[[auth.token]]\nname = \"{name}\"\nblake3 = \"{hash_hex}\"\nroles = [{}]\n",
        roles.join(", ")
    )
}

/// Runs the subcommand.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Token { name, mut roles } => {
            if name.trim().is_empty() || name.chars().any(char::is_control) {
                bail!("--name must be a non-empty name without control characters");
            }
            roles.sort();
            roles.dedup();
            let new = generate_token();
            eprintln!(
                "Give this token to {name} (CHECKPOST_TOKEN=… or --token); it is shown only \
                 once and the server keeps only its hash. Paste this into the server config:\n"
            );
            eprintln!("{}", toml_block(&name, &new.hash_hex, &roles));
            println!("{}", new.token);
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_block_is_a_config_the_server_accepts() {
        let new = generate_token();
        let block = toml_block("desk \"7\"", &new.hash_hex, &[Role::Counter, Role::Auditor]);
        let text = format!("[auth]\nenabled = true\n{block}");
        let config =
            checkpost_server::Config::from_toml(&text, "test", std::path::Path::new("/")).unwrap();
        config
            .auth
            .validate("127.0.0.1:1".parse().unwrap())
            .unwrap();
        assert_eq!(config.auth.tokens[0].name, "desk \"7\"");
        assert_eq!(
            config.auth.tokens[0].roles,
            vec![Role::Counter, Role::Auditor]
        );
        assert_eq!(
            config.auth.tokens[0].blake3,
            checkpost_server::auth::token_hash_hex(&new.token)
        );
    }

    #[test]
    fn an_unknown_role_is_refused() {
        assert!(parse_role("admin").unwrap_err().contains("counter"));
    }
}
