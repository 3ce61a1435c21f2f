//! Several nodes on one database: what this node tells the others ([`broadcaster`], below the
//! document tasks) and what it hears from them ([`inbound`], above them, with [`catch_up`] for
//! what a notification cannot carry).
//!
//! Exists because a team runs several nodes against one PostgreSQL database, and a document's
//! clients may be spread over them. The words are `plait-cluster`'s and the carrier is the
//! storage's [`Bus`]; this module keeps the documents of this node in step with the others'.
//! A document that is not loaded here needs nothing: its next load reads the database.

pub mod broadcaster;
mod catch_up;
mod inbound;

use std::sync::Arc;

use plait_storage::bus::Bus;
use plait_storage::store::DocStore;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::auth::revocations::Revocations;
use crate::registry::Registry;
use broadcaster::Broadcaster;
use catch_up::catch_up_task;
use inbound::Inbound;

/// Starts hearing and telling the other nodes on `bus`. The first listening connection is made
/// before this returns, so a server that starts healthy hears every update committed after its
/// first document loads; if it fails, the feed task keeps trying and catches up every loaded
/// document once it is connected.
pub async fn start(
    bus: Arc<dyn Bus>,
    store: Arc<dyn DocStore>,
    registry: Arc<Registry>,
    revocations: Arc<Revocations>,
    shutdown: CancellationToken,
) -> Broadcaster {
    let feed = match bus.listen().await {
        Ok(feed) => Some(feed),
        Err(error) => {
            warn!(%error, "cannot listen for other nodes' updates yet; retrying");
            None
        }
    };
    info!("relaying the updates other nodes store in this database");
    if let Err(error) = bus.announce(true).await {
        warn!(%error, "could not announce this node to the others yet");
    }
    let broadcaster = Broadcaster::start(bus.clone(), shutdown.clone());
    let (catch_up, wanted) = flume::unbounded();
    registry.set_catch_up(catch_up.clone());
    tokio::spawn(catch_up_task(
        store.clone(),
        registry.clone(),
        wanted,
        catch_up.clone(),
        shutdown.clone(),
    ));
    let inbound = Inbound {
        bus,
        registry,
        revocations,
        store: store.clone(),
        broadcaster: broadcaster.clone(),
        catch_up,
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = inbound.run(feed) => {}
        }
    });
    broadcaster
}
