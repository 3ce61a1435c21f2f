//! The `plait` binary: parses the command line, then serves, mints a token or probes a server.
//! The only place `anyhow` is used.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use plait_server::auth::Authenticator;
use plait_server::backup::args::{CheckArgs, ExportArgs, ImportArgs};
use plait_server::config::{Action, Cli, Config, LogFormat, RevokeArgs, TokenArgs};
use tracing_subscriber::EnvFilter;

/// Exit status for a usage or configuration mistake, as clap uses for bad arguments.
const EXIT_USAGE: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().into_action() {
        Action::Token(args) => token(&args),
        Action::Healthcheck(addr) => healthcheck(addr),
        Action::Export(args) => export(&args).await,
        Action::Import(args) => import(&args).await,
        Action::Check(args) => check(&args).await,
        Action::Revoke(args) => revoke(&args).await,
        Action::Serve(config) => {
            let filter =
                EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
            let logs = tracing_subscriber::fmt().with_env_filter(filter);
            match config.log_format {
                LogFormat::Text => logs.init(),
                LogFormat::Json => logs.json().init(),
            }
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
    let listener = plait_server::accept::bind(config.bind)
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

/// `plait healthcheck`: `GET /readyz` over plain HTTP/1.1; success only on 200. Blocking I/O is
/// fine here: nothing else runs in this process.
/// `plait revoke`: adds the revocation through the storage layer (the servers hear it from the
/// database: PostgreSQL's trigger, SQLite's watch) and prints it.
async fn revoke(args: &RevokeArgs) -> ExitCode {
    let revoked = async {
        let store = plait_storage::SeaStore::connect(&args.database_url)
            .await
            .context("cannot open the database")?;
        let log = plait_storage::DocStore::revocation_log(&store)
            .context("this database keeps no revocations")?;
        log.revoke(&args.sub, args.reason.as_deref())
            .await
            .context("could not store the revocation")
    };
    match revoked.await {
        Ok(row) => {
            println!(
                "revoked {:?}: tokens issued before {} ms since the epoch are refused",
                row.subject, row.revoked_at_ms
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn healthcheck(mut addr: SocketAddr) -> ExitCode {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    match get_readyz(addr, Duration::from_secs(5)) {
        Ok(response) if response.split(' ').nth(1) == Some("200") => ExitCode::SUCCESS,
        Ok(response) => {
            let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
            eprintln!(
                "not ready: {} {body}",
                response.lines().next().unwrap_or("no answer")
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("cannot reach http://{addr}/readyz: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The whole HTTP response to `GET /readyz` (at most 64 KiB).
fn get_readyz(addr: SocketAddr, timeout: Duration) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.take(64 * 1024).read_to_string(&mut response)?;
    Ok(response)
}

/// `plait check` found problems (0: none; 2: the database could not be read).
const EXIT_PROBLEMS: u8 = 1;

/// `plait export`: the summary on stdout, what was left out on stderr.
async fn export(args: &ExportArgs) -> ExitCode {
    match plait_server::backup::export::export(args).await {
        Ok(exported) => {
            for warning in &exported.warnings {
                eprintln!("warning: {warning}");
            }
            print(&exported)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `plait import`: the summary on stdout.
async fn import(args: &ImportArgs) -> ExitCode {
    match plait_server::backup::import::import(args).await {
        Ok(imported) => print(&imported),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `plait check`: the report on stdout; 0 healthy, 1 problems found, 2 could not check.
async fn check(args: &CheckArgs) -> ExitCode {
    let report = match plait_server::backup::check::check(args).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let database = plait_server::database_url::redacted(&args.database_url);
    let printed = print(plait_server::backup::check::Report {
        database: &database,
        report: &report,
    });
    if report.problems.is_empty() {
        printed
    } else {
        ExitCode::from(EXIT_PROBLEMS)
    }
}

/// Prints `text` on stdout (a closed pipe is an error, not a panic).
fn print(text: impl std::fmt::Display) -> ExitCode {
    let text = text.to_string();
    let text = text.trim_end();
    match writeln!(std::io::stdout().lock(), "{text}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
    }
}
