//! The `plait` binary: parses the command line, then serves or mints a token. The only place
//! `anyhow` is used.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use plait_server::auth::Authenticator;
use plait_server::config::{Action, Cli, Config, TokenArgs};
use tracing_subscriber::EnvFilter;

/// Exit status for a usage or configuration mistake, as clap uses for bad arguments.
const EXIT_USAGE: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().into_action() {
        Action::Token(args) => token(&args),
        Action::Serve(config) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
                )
                .init();
            match serve(*config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("Error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // Resolved here too so a bad secret stops start-up before the port is taken.
    match config
        .auth_secret()
        .context("invalid authentication settings")?
    {
        Some(_) => tracing::info!(
            allowed_origins = ?&*config.allowed_origins,
            "authentication is enabled: every WebSocket and /api request needs a token"
        ),
        None => tracing::warn!(
            "authentication is disabled: anyone who can reach this address can read and write \
             every document (set --auth-secret to require tokens)"
        ),
    }
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    tracing::info!(
        "Plait listening on http://{} (database: {})",
        listener.local_addr().unwrap_or(config.bind),
        plait_server::database_url::redacted(&config.database_url)
    );
    plait_server::run(listener, config, plait_server::shutdown::signal())
        .await
        .context("server failed")
}

/// `plait token`: prints only the token (newline-terminated) so `TOKEN=$(plait token ...)` works;
/// everything else goes to stderr.
fn token(args: &TokenArgs) -> ExitCode {
    let secret = match args.auth.resolve() {
        Ok(Some(secret)) => secret,
        Ok(None) => {
            eprintln!(
                "error: no secret to sign with; set --auth-secret / PLAIT_AUTH_SECRET or \
                 --auth-secret-file / PLAIT_AUTH_SECRET_FILE to the server's secret"
            );
            return ExitCode::from(EXIT_USAGE);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let authenticator = Authenticator::new(&secret);
    let minted = match &args.sub {
        None => authenticator.mint(&args.doc, args.mode, args.ttl),
        Some(sub) => authenticator.mint_for(sub, &args.doc, args.mode, args.ttl),
    };
    let token = match minted {
        Ok(token) => token,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match writeln!(std::io::stdout().lock(), "{token}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write the token: {e}");
            ExitCode::FAILURE
        }
    }
}
