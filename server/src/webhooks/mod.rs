//! Webhooks: `document.created` and `document.changed` events POSTed, signed the Standard
//! Webhooks way, to the `--webhook-url`s, from the transactional outbox.
//!
//! The events are not written here: the database's triggers write them (`webhook_outbox`) in
//! the transaction of every append to the log, whoever appends. So an event exists exactly when
//! its changes are committed, and no crash, `kill -9` included, can lose one in between. This
//! module only delivers them: at least once, under a `webhook-id` that stays the same across
//! retries, one node at a time per event (a lease taken with `FOR UPDATE SKIP LOCKED`), and
//! each document's events in order.
//!
//! # Layout
//! - `config`: the flags checked ([`WebhookConfig`]), receivers and their keys;
//! - `sign`: the signature (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`);
//! - `schedule`: the retry schedule (exponential backoff with jitter, the window);
//! - `deliver`: the body, the headers and the POSTs of one event;
//! - `task`: the loop (close debounced events, claim, deliver, record, prune);
//! - `admin`: `GET /api/webhooks/failed`, `GET /api/webhooks/pending`,
//!   `POST /api/webhooks/{id}/retry`.

mod admin;
mod config;
mod deliver;
mod schedule;
mod sign;
mod task;

use std::sync::Arc;

use plait_storage::store::DocStore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

pub use admin::routes;
pub use config::WebhookConfig;

use crate::config::Config;
use crate::error::ServerError;

/// Starts the delivery task if `--webhook-url`s are configured and the store has an outbox (SQL;
/// the memory store has none, and then only a warning says so). It stops on `shutdown`.
/// A flag that cannot be used stops the start-up.
pub fn start(
    config: &Config,
    store: &Arc<dyn DocStore>,
    shutdown: CancellationToken,
) -> Result<Option<JoinHandle<()>>, ServerError> {
    let Some(webhooks) = WebhookConfig::from_args(&config.webhooks)
        .map_err(|e| ServerError::Config(e.to_string()))?
    else {
        return Ok(None);
    };
    let Some(outbox) = store.outbox() else {
        warn!("--webhook-url is set but the store has no outbox (`memory:`): no webhooks are sent");
        return Ok(None);
    };
    let deliverer =
        deliver::Deliverer::new(&webhooks).map_err(|e| ServerError::Config(e.to_string()))?;
    Ok(Some(tokio::spawn(task::run(
        outbox, deliverer, webhooks, shutdown,
    ))))
}

/// Waits for the task [`start`] spawned to stop (after the shutdown token was cancelled).
pub async fn stopped(task: Option<JoinHandle<()>>) {
    if let Some(task) = task {
        if let Err(e) = task.await {
            warn!(error = %e, "the webhook task ended abnormally");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use plait_storage::memory::MemoryStore;
    use plait_storage::store::DocStore;
    use tokio_util::sync::CancellationToken;

    use crate::config::{Config, Secret};

    fn config(url: Option<&str>, secret: Option<&str>) -> Config {
        let mut config = Config::for_tests("memory:");
        config.webhooks.webhook_urls = url.into_iter().map(str::to_owned).collect();
        config.webhooks.webhook_secret = secret.map(Secret::from);
        config
    }

    #[tokio::test]
    async fn off_without_urls_and_without_an_outbox() {
        let store: Arc<dyn DocStore> = Arc::new(MemoryStore::default());
        let token = CancellationToken::new();
        assert!(super::start(&config(None, None), &store, token.clone())
            .unwrap()
            .is_none());
        // The memory store has no outbox: a warning, no task, no error.
        let secret = Some("0123456789abcdef0123456789abcdef");
        assert!(
            super::start(&config(Some("http://127.0.0.1:9/"), secret), &store, token)
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_url_without_a_secret_stops_the_start() {
        let store: Arc<dyn DocStore> = Arc::new(MemoryStore::default());
        let err = super::start(
            &config(Some("http://127.0.0.1:9/"), None),
            &store,
            CancellationToken::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("--webhook-secret"), "{err}");
    }
}
