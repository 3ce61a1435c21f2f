//! Plait server: the y-websocket endpoint, the HTTP API and the registry of loaded documents.
//!
//! # Layout
//! - [`config`]: command line / environment configuration.
//! - `routes`: thin HTTP and WebSocket-upgrade handlers.
//! - `accept`: the accept loop (TCP_NODELAY, header read timeout, peer address).
//! - `linger`: a closed connection's socket is read to its end, so its close frame arrives.
//! - `auth`: access tokens (JWT) and the origin check.
//! - [`backup`]: `plait export`, `plait import` and `plait check` (backups and moves).
//! - `rate`: the per-connection message rate limit (token bucket).
//! - `penalty`: refuses quick reconnects after a permanent (44xx) refusal.
//! - `database_url`: database URLs without their password (logs, the unsaved file).
//! - `client_addr`: the client's address behind the reverse proxies the operator trusts.
//! - `connection`: one WebSocket connection (read, decode, hand over, write).
//! - `document`: the task that owns one loaded document and its connections.
//! - `registry`: name -> loaded document, loading each once.
//! - `cluster`: several nodes on one database: what this node broadcasts, what it hears.
//! - `state`: the shared application state.
//! - `shutdown`: SIGINT / SIGTERM.
//! - `error`: [`ServerError`] and the HTTP `AppError`.
//! - `web_demo`: the demo front-end, embedded at build time by `build.rs`.

pub mod accept;
pub mod auth;
pub mod backup;
pub mod client_addr;
mod cluster;
pub mod config;
mod connection;
pub mod database_url;
mod document;
pub mod error;
mod hocuspocus;
mod linger;
pub mod metrics;
mod openapi;
mod past;
mod penalty;
mod projection;
mod rate;
mod registry;
mod routes;
pub mod shutdown;
mod state;
mod trash;
mod versions;
mod web_demo;
mod webhooks;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::routing::{get, post};
use axum::Router;
use plait_cluster::NodeKey;
use plait_storage::bus::Bus;
use plait_storage::error::StorageError;
use plait_storage::memory::MemoryStore;
use plait_storage::sea_store::SeaStore;
use plait_storage::store::{DocStore, NewUpdate};
use plait_storage::unsaved;
use plait_storage::writer::{Writer, WriterConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;
use tracing::{error, info, warn};

use crate::auth::Authenticator;

pub use config::Config;
pub use error::ServerError;
pub use state::AppState;

/// The whole HTTP surface. Tests call it directly (`tower::ServiceExt::oneshot`) without a socket.
pub fn app(state: AppState) -> Router {
    let body_limit = state.config.max_message_size;
    Router::new()
        .route("/ws/{*doc}", get(routes::websocket))
        .route("/hocuspocus", get(routes::hocuspocus::upgrade))
        .route(
            "/api/docs/{doc}/stateless",
            post(routes::hocuspocus::post_stateless),
        )
        .route("/api/revocations", post(routes::revocations::revoke))
        .route("/healthz", get(routes::healthz))
        .merge(metrics_route(&state))
        .route("/readyz", get(routes::readyz))
        .route("/api/openapi.json", get(openapi::json))
        .route("/api/changes", get(routes::changes::list))
        .route("/api/changes/stream", get(routes::changes::stream))
        .route("/api/docs", get(routes::catalog::list))
        .route("/api/search", get(routes::catalog::search))
        .route(
            "/api/docs/{doc}",
            get(routes::docs::get_stats).delete(routes::trash::delete),
        )
        .route(
            "/api/docs/{doc}/json",
            get(routes::content::get_json).put(routes::content::put_json),
        )
        .route("/api/docs/{doc}/undelete", post(routes::trash::undelete))
        .route("/api/docs/{doc}/history", get(routes::history::get))
        .route("/api/docs/{doc}/restore", post(routes::past::restore))
        .route(
            "/api/docs/{doc}/versions",
            get(routes::versions::list).post(routes::versions::create),
        )
        .route(
            "/api/docs/{doc}/versions/{id}",
            axum::routing::delete(routes::versions::delete),
        )
        .route(
            "/api/docs/{doc}/versions/{id}/update",
            get(routes::versions::get_update),
        )
        .route(
            "/api/docs/{doc}/versions/{id}/json",
            get(routes::versions::get_json),
        )
        .route(
            "/api/docs/{doc}/versions/{id}/restore",
            post(routes::versions::restore),
        )
        .route(
            "/api/docs/{doc}/update",
            get(routes::docs::get_update).post(routes::docs::post_update),
        )
        .layer(DefaultBodyLimit::max(body_limit))
        .merge(web_demo::router())
        .merge(webhooks::routes())
        // The span records the path only: the query may carry an access token.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
        }))
        .with_state(state)
}

/// Every revocation so far, into the server's memory (the bus hears the later ones).
async fn load_revocations(state: &AppState) -> Result<(), ServerError> {
    let Some(log) = state.store.revocation_log() else {
        return Ok(());
    };
    for (subject, at) in log.latest().await? {
        state.revocations.revoke(&subject, at);
    }
    Ok(())
}

/// `GET /metrics` on the main address, unless `--metrics-bind` gives it its own.
fn metrics_route(state: &AppState) -> Router<AppState> {
    metrics::handle();
    match state.config.metrics_bind {
        Some(_) => Router::new(),
        None => Router::new().route("/metrics", get(routes::metrics::render)),
    }
}

/// Serves `GET /metrics` alone on `--metrics-bind` until `shutdown`.
async fn serve_metrics(
    addr: std::net::SocketAddr,
    state: AppState,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| ServerError::Config(format!("cannot listen on {addr} for metrics: {e}")))?;
    info!(%addr, "metrics at /metrics");
    let router = Router::new()
        .route("/metrics", get(routes::metrics::render))
        .with_state(state);
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            warn!(%error, "the metrics listener failed");
        }
    });
    Ok(())
}

/// How long shutdown waits for the document tasks to stop (each only closes its connections and
/// hands the writer what it holds).
const DOCUMENTS_STOP: std::time::Duration = std::time::Duration::from_secs(2);

/// The `--database-url` that selects the in-memory store instead of SQL.
pub const MEMORY_URL: &str = "memory:";

/// Opens the database named in the configuration (running migrations) and serves until
/// `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    // `memory:` keeps everything in process memory: for benchmarks that compare the cost of
    // persistence, and throwaway demos. Nothing survives a restart.
    let mut config = config;
    let (store, bus): (Arc<dyn DocStore>, Option<Arc<dyn Bus>>) =
        if config.database_url == MEMORY_URL {
            tracing::warn!("database is `memory:`: nothing will survive a restart");
            // Never fails, so it leaves nothing unsaved; and replaying into it would move a real
            // database's unsaved updates into memory, to be lost at exit.
            config.unsaved_file = None;
            (Arc::new(MemoryStore::default()), None)
        } else {
            // Nodes that share the auth secret sign what they broadcast to each other with it.
            let secret = config
                .auth_secret()
                .map_err(|e| ServerError::Config(e.to_string()))?;
            let key = secret.as_deref().map(NodeKey::derive);
            let store = SeaStore::connect(&config.database_url).await?;
            store.keep_history(!config.history_retention.is_zero());
            store.sqlite_nice(config.sqlite_nice);
            let bus = store.bus(key);
            (Arc::new(store), bus)
        };
    run_with_store(listener, config, store, bus, shutdown).await
}

/// Serves with the given store (tests inject failing stores here) and, where other nodes may
/// share the database, their `bus`, until `shutdown` resolves; then closes every connection and
/// writes everything still pending. What the store does not take by `--shutdown-timeout` goes to
/// the unsaved file, which the next start stores first.
pub async fn run_with_store(
    listener: TcpListener,
    config: Config,
    store: Arc<dyn DocStore>,
    bus: Option<Arc<dyn Bus>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    // Before anything counts: what is counted before the recorder exists is lost.
    metrics::handle();
    let auth = config
        .auth_secret()
        .map_err(|e| ServerError::Config(e.to_string()))?
        .map(|secret| Authenticator::new(&secret));
    let unsaved_file = config.unsaved_file.clone();
    let database = database_url::without_password(&config.database_url);
    if let Some(path) = &unsaved_file {
        replay_unsaved(store.as_ref(), path, &database).await?;
    }
    let writer = Writer::spawn(
        store.clone(),
        WriterConfig {
            flush_interval: config.flush_interval,
            snapshot_threshold: config.snapshot_threshold,
            max_pending: config.max_pending_updates,
            max_pending_bytes: config.max_pending_bytes,
            ..WriterConfig::default()
        },
    );
    let shutdown_timeout = config.shutdown_timeout;
    let header_read_timeout = config.handshake_timeout;
    let token = CancellationToken::new();
    let webhooks = webhooks::start(&config, &store, token.clone())?;
    let state = AppState::new(config, store.clone(), writer.clone(), auth, token.clone());
    if let Some(bus) = bus {
        let registry = state.registry.clone();
        let nodes = bus.carries_nodes();
        let revocations = state.revocations.clone();
        let broadcaster =
            cluster::start(bus, store.clone(), registry, revocations, token.clone()).await;
        // On SQLite the bus only hears other programs: the documents broadcast to no one.
        if nodes {
            state.registry.set_broadcaster(broadcaster);
        }
    }
    // After the bus listens: a revocation added meanwhile is in one or the other.
    load_revocations(&state).await?;
    if state.projector.is_some() {
        tokio::spawn(projection::refresh::sweep(state.clone()));
        tokio::spawn(trash::purge(state.clone()));
        tokio::spawn(versions::auto(state.clone()));
        tokio::spawn(past::retention(state.clone()));
    }
    if let Some(addr) = state.config.metrics_bind {
        serve_metrics(addr, state.clone(), token.clone()).await?;
    }
    let router = app(state.clone());
    info!(addr = ?listener.local_addr().ok(), "serving");
    // The signal stops the accept loop, which closes the listener before it cancels `token`.
    let stop = CancellationToken::new();
    let signal = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        info!("shutting down: closing connections and flushing documents");
        signal.cancel();
    });
    accept::serve(listener, router, header_read_timeout, stop, token.clone()).await;
    webhooks::stopped(webhooks).await;
    state.registry.stopped(DOCUMENTS_STOP).await;
    for name in state.registry.loaded_names() {
        writer.request_compaction(name.as_str());
    }
    let leftover = writer.clone();
    match writer.shutdown(shutdown_timeout).await {
        Ok(()) => {
            info!("all updates stored; bye");
            Ok(())
        }
        Err(e) => {
            error!(error = %e, "shutdown could not store every pending update");
            keep_unsaved(
                leftover.take_unwritten(),
                unsaved_file.as_deref(),
                &database,
                e,
            )
        }
    }
}

/// Writes what an earlier shutdown could not store, before anything is served: a document loaded
/// without them would never see them.
async fn replay_unsaved(
    store: &dyn DocStore,
    path: &Path,
    database: &str,
) -> Result<(), ServerError> {
    let replayed = unsaved::replay(store, path, database).await?;
    if replayed.updates > 0 {
        info!(
            file = %path.display(),
            updates = replayed.updates,
            "stored the updates an earlier shutdown could not write"
        );
    }
    for (other, updates) in &replayed.kept_for {
        warn!(
            file = %path.display(),
            updates,
            database = %other,
            "the unsaved file holds updates for another database; they stay in it until the \
             server starts with that --database-url"
        );
    }
    Ok(())
}

/// The last copy of updates the database did not take goes to the unsaved file; only if that
/// fails too are they lost, and the exit status says so.
fn keep_unsaved(
    unwritten: Vec<NewUpdate>,
    path: Option<&Path>,
    database: &str,
    cause: StorageError,
) -> Result<(), ServerError> {
    let Some(path) = path else {
        return Err(ServerError::Storage(cause));
    };
    if unwritten.is_empty() {
        return Ok(());
    }
    unsaved::save(path, database, &unwritten)?;
    warn!(
        file = %path.display(),
        updates = unwritten.len(),
        "kept the unwritten updates in the unsaved file; the next start stores them"
    );
    Ok(())
}
