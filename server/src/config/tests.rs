//! Parsing tests for the command line. They parse argument lists only and do not set environment
//! variables (the test threads share one environment).

use super::*;
use crate::auth::Mode;
use clap::Parser;
use std::net::SocketAddr;
use std::time::Duration;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("plait").chain(args.iter().copied()))
}

/// The server's configuration from `plait ARGS`, which must parse as `serve`.
fn serve(args: &[&str]) -> Box<Config> {
    match parse(args).unwrap().into_action() {
        Action::Serve(config) => config,
        other => panic!("expected serve, got {other:?}"),
    }
}

const LONG: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn plain_plait_serves_with_auth_off_and_the_documented_limits() {
    let config = serve(&[]);
    assert!(config.auth_secret().unwrap().is_none());
    assert!(config.allowed_origins.is_empty());
    assert_eq!(
        (
            config.max_doc_size,
            config.max_connections,
            config.max_connections_per_doc,
            config.message_rate,
            config.message_burst,
            config.handshake_timeout,
            config.idle_timeout,
        ),
        (
            64 * 1024 * 1024,
            10_000,
            500,
            200,
            1000,
            Duration::from_secs(10),
            Duration::from_secs(60),
        )
    );
    let t = Config::for_tests("sqlite::memory:");
    assert_eq!(
        (t.max_doc_size, t.max_connections, t.max_connections_per_doc),
        (
            config.max_doc_size,
            config.max_connections,
            config.max_connections_per_doc
        )
    );
    assert_eq!(
        (
            t.message_rate,
            t.message_burst,
            t.handshake_timeout,
            t.idle_timeout
        ),
        (
            config.message_rate,
            config.message_burst,
            config.handshake_timeout,
            config.idle_timeout
        )
    );
}

#[test]
fn serve_subcommand_and_into_config_still_work() {
    let config = parse(&[
        "serve",
        "--bind",
        "127.0.0.1:9999",
        "--max-connections",
        "7",
    ])
    .unwrap()
    .into_config();
    assert_eq!(config.bind, SocketAddr::from(([127, 0, 0, 1], 9999)));
    assert_eq!(config.max_connections, 7);
}

#[test]
fn secret_from_flag_must_be_long_enough() {
    let config = parse(&["--auth-secret", "short"]).unwrap().into_config();
    assert!(matches!(
        config.auth_secret(),
        Err(SecretError::TooShort { len: 5 })
    ));
    let config = parse(&["--auth-secret", LONG]).unwrap().into_config();
    assert_eq!(
        config.auth_secret().unwrap(),
        Some(LONG.as_bytes().to_vec())
    );
}

#[test]
fn secret_flag_and_file_are_mutually_exclusive() {
    let err = parse(&["--auth-secret", LONG, "--auth-secret-file", "/x"]).unwrap_err();
    assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    let both = SecretArgs {
        auth_secret: Some(LONG.into()),
        auth_secret_file: Some("/x".into()),
    };
    assert!(matches!(both.resolve(), Err(SecretError::Both)));
}

#[test]
fn secret_file_loses_its_trailing_newline() {
    let dir = std::env::temp_dir().join(format!("plait-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("secret");
    std::fs::write(&path, format!("{LONG}\r\n")).unwrap();
    let config = parse(&["--auth-secret-file", path.to_str().unwrap()])
        .unwrap()
        .into_config();
    let secret = config.auth_secret();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(secret.unwrap(), Some(LONG.as_bytes().to_vec()));
}

#[test]
fn unreadable_secret_file_is_an_error_not_auth_off() {
    let config = parse(&["--auth-secret-file", "/nonexistent/plait/secret"])
        .unwrap()
        .into_config();
    assert!(matches!(
        config.auth_secret(),
        Err(SecretError::Read { .. })
    ));
}

#[test]
fn debug_output_hides_the_secret() {
    let config = Config::for_tests("sqlite::memory:").with_auth_secret(LONG);
    assert!(!format!("{config:?}").contains(LONG));
    assert_eq!(
        config.auth_secret().unwrap(),
        Some(LONG.as_bytes().to_vec())
    );
}

#[test]
fn allowed_origins_are_split_and_normalised() {
    let config = parse(&[
        "--allowed-origins",
        "https://App.Example.com, http://localhost:5173/",
    ])
    .unwrap()
    .into_config();
    assert_eq!(
        *config.allowed_origins,
        ["https://app.example.com", "http://localhost:5173"]
    );
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        axum::http::header::ORIGIN,
        axum::http::HeaderValue::from_static("https://evil.example"),
    );
    assert!(!crate::auth::origin_allowed(
        &config.allowed_origins,
        &headers
    ));
    // Blank means "any origin" (e.g. `PLAIT_ALLOWED_ORIGINS=` in a compose file); stray commas
    // are ignored.
    let config = parse(&["--allowed-origins", ""]).unwrap().into_config();
    assert!(config.allowed_origins.is_empty());
    assert_eq!(
        *AllowedOrigins::parse("https://a.example,, ").unwrap(),
        ["https://a.example"]
    );
    for bad in [
        "app.example.com",
        "https://app.example.com/path",
        "https://",
    ] {
        assert!(parse(&["--allowed-origins", bad]).is_err(), "{bad}");
    }
}

#[test]
fn zero_limits_and_timeouts_are_refused() {
    for args in [
        ["--max-connections", "0"],
        ["--max-doc-size", "0"],
        ["--message-rate", "0"],
        ["--message-burst", "0"],
        ["--idle-timeout", "0s"],
        ["--handshake-timeout", "0s"],
        ["--doc-queue", "0"],
    ] {
        assert!(parse(&args).is_err(), "{args:?}");
    }
}

#[test]
fn doc_queue_defaults_to_1024_and_can_be_set() {
    let queue = |args: &[&str]| serve(args).doc_queue;
    assert_eq!(queue(&[]), 1024);
    assert_eq!(queue(&["--doc-queue", "8"]), 8);
}

#[test]
fn sqlite_nice_defaults_to_10_and_stays_within_nice_values() {
    let nice = |args: &[&str]| serve(args).sqlite_nice;
    assert_eq!(nice(&[]), 10);
    assert_eq!(nice(&["--sqlite-nice", "0"]), 0);
    assert_eq!(nice(&["--sqlite-nice", "19"]), 19);
    for bad in ["20", "-1", "ten"] {
        assert!(parse(&["--sqlite-nice", bad]).is_err(), "{bad} is refused");
    }
}

#[test]
fn token_subcommand_parses_doc_mode_and_ttl() {
    let args = match parse(&[
        "token", "--doc", "team-a/*", "--mode", "read", "--ttl", "15m",
    ])
    .unwrap()
    .into_action()
    {
        Action::Token(args) => args,
        other => panic!("expected token, got {other:?}"),
    };
    assert_eq!(args.doc, "team-a/*");
    assert_eq!(args.mode, Mode::Read);
    assert_eq!(args.ttl, Duration::from_secs(15 * 60));
    assert!(args.auth.is_empty());

    let Action::Token(args) = parse(&["token", "--doc", "d", "--mode", "write"])
        .unwrap()
        .into_action()
    else {
        panic!("expected token");
    };
    assert_eq!(args.ttl, Duration::from_secs(3600));
    assert_eq!(args.mode, Mode::Write);
}

#[test]
fn token_subcommand_refuses_bad_mode_and_ttl() {
    assert!(parse(&["token", "--doc", "d", "--mode", "admin"]).is_err());
    assert!(parse(&["token", "--doc", "d", "--mode", "read", "--ttl", "0s"]).is_err());
    assert!(parse(&["token", "--doc", "d", "--mode", "read", "--ttl", "soon"]).is_err());
    assert!(parse(&["token", "--mode", "read"]).is_err());
}

#[test]
fn token_uses_a_secret_given_before_or_after_the_subcommand() {
    for args in [
        &[
            "--auth-secret",
            LONG,
            "token",
            "--doc",
            "d",
            "--mode",
            "read",
        ][..],
        &[
            "token",
            "--auth-secret",
            LONG,
            "--doc",
            "d",
            "--mode",
            "read",
        ][..],
    ] {
        let Action::Token(token) = parse(args).unwrap().into_action() else {
            panic!("expected token");
        };
        assert_eq!(
            token.auth.resolve().unwrap(),
            Some(LONG.as_bytes().to_vec())
        );
    }
}

#[test]
fn trusted_proxies_default_to_none_and_a_bad_entry_is_refused() {
    assert!(parse(&[]).unwrap().into_config().trusted_proxies.is_empty());
    let config = parse(&["serve", "--trusted-proxies", "127.0.0.1, 10.0.0.0/8"])
        .unwrap()
        .into_config();
    assert!(!config.trusted_proxies.is_empty());
    let err = parse(&["--trusted-proxies", "10.0.0.0/8,proxy.lan"]).unwrap_err();
    assert!(err.to_string().contains("proxy.lan"), "{err}");
}

#[test]
fn the_unsaved_file_defaults_to_the_working_directory() {
    let config = parse(&[]).unwrap().into_config();
    assert_eq!(
        config.unsaved_file.as_deref(),
        Some(std::path::Path::new("plait-unsaved.bin"))
    );
}

#[test]
fn max_pending_updates_defaults_to_a_million_and_zero_lifts_it() {
    assert_eq!(
        parse(&[]).unwrap().into_config().max_pending_updates,
        1_000_000
    );
    let config = parse(&["serve", "--max-pending-updates", "0"])
        .unwrap()
        .into_config();
    assert_eq!(config.max_pending_updates, 0);
    assert!(parse(&["--max-pending-updates", "-1"]).is_err());
}
