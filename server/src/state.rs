//! The application state every handler shares, in one struct.

use std::sync::Arc;

use plait_storage::store::DocStore;
use plait_storage::writer::Writer;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
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
}

impl AppState {
    /// Wires the registry to a store and a running writer.
    pub fn new(
        config: Config,
        store: Arc<dyn DocStore>,
        writer: Writer,
        shutdown: CancellationToken,
    ) -> Self {
        let registry = Registry::new(
            store.clone(),
            writer.clone(),
            config.idle_unload,
            1024,
            shutdown.clone(),
        );
        AppState {
            config: Arc::new(config),
            registry,
            store,
            writer,
            shutdown,
        }
    }
}
