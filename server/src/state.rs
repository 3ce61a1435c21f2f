//! The application state every handler shares, in one struct.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use plait_storage::catalog::Catalog;
use plait_storage::history::History;
use plait_storage::store::DocStore;
use plait_storage::writer::Writer;
use tokio_util::sync::CancellationToken;

use crate::auth::revocations::Revocations;
use crate::auth::Authenticator;
use crate::config::Config;
use crate::error::AppError;
use crate::penalty::PenaltyBox;
use crate::projection::{Projector, Refresher};
use crate::registry::Registry;

/// Shared by all handlers; cheap to clone (everything inside is reference-counted).
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub registry: Arc<Registry>,
    pub store: Arc<dyn DocStore>,
    pub writer: Writer,
    /// Cancelled when the server begins to shut down: connections close, documents stop.
    pub shutdown: CancellationToken,
    /// Verifies access tokens; `None` when authentication is off (local use). Behind an `Arc`
    /// like the rest: every connection's task holds a clone of this struct, so it stays small.
    pub auth: Option<Arc<Authenticator>>,
    /// Open WebSocket connections, for `--max-connections`.
    pub connections: Arc<AtomicUsize>,
    /// Peers recently closed for size or rate, refused at the upgrade for a while.
    pub penalties: Arc<PenaltyBox>,
    /// Revoked subjects, and the open connections a revocation closes.
    pub revocations: Arc<Revocations>,
    /// Writes the projection table (none for a store without one).
    pub projector: Option<Arc<Projector>>,
    /// Renders the documents whose projection is stale (see [`crate::projection::refresh`]).
    pub refresher: Arc<Refresher>,
}

impl AppState {
    /// The store's documents as data (projection, search, list, trash); 501 for a store
    /// without them (the `memory:` database).
    pub fn catalog(&self) -> Result<&dyn Catalog, AppError> {
        self.store.catalog().ok_or(AppError::NotSupported(
            "this server's store keeps no catalog, trash or search (the `memory:` database)",
        ))
    }

    /// The store's history (versions, authors); 501 for a store without it.
    pub fn history(&self) -> Result<&dyn History, AppError> {
        self.store.history().ok_or(AppError::NotSupported(
            "this server's store keeps no history or versions (the `memory:` database)",
        ))
    }

    /// Wires the registry to a store and a running writer.
    pub fn new(
        config: Config,
        store: Arc<dyn DocStore>,
        writer: Writer,
        auth: Option<Authenticator>,
        shutdown: CancellationToken,
    ) -> Self {
        let projector = Projector::start(store.clone(), shutdown.clone());
        let registry = Registry::new(
            store.clone(),
            writer.clone(),
            &config,
            shutdown.clone(),
            projector.clone(),
        );
        AppState {
            config: Arc::new(config),
            registry,
            store,
            writer,
            shutdown,
            auth: auth.map(Arc::new),
            connections: Arc::new(AtomicUsize::new(0)),
            penalties: Arc::new(PenaltyBox::default()),
            revocations: Arc::default(),
            projector,
            refresher: Arc::default(),
        }
    }
}
