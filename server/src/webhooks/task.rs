//! The delivery loop: every [`POLL_INTERVAL`], close the debounced events, claim the due ones,
//! post them, record the outcome.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use plait_storage::sea_store::outbox::{AfterFailure, Outbox, OutboxEvent};
use plait_storage::StorageError;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::config::{WebhookConfig, KEEP_DELIVERED, POLL_INTERVAL};
use super::deliver::{webhook_id, Deliverer};

/// Events claimed per round, all posted at once (see [`WebhookConfig::lease`]).
const BATCH: u64 = 32;
/// How often delivered events older than [`KEEP_DELIVERED`] are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// The longest pause after the database failed, doubling from [`POLL_INTERVAL`].
const MAX_ERROR_PAUSE: Duration = Duration::from_secs(10);

/// Runs until `shutdown`. A round in flight at that moment is dropped: its claims run out with
/// their lease and the events are delivered again after the restart, under the same ids.
pub async fn run(
    outbox: Outbox,
    deliverer: Deliverer,
    config: WebhookConfig,
    shutdown: CancellationToken,
) {
    let mut task = Task {
        outbox,
        deliverer,
        config,
        last_prune: None,
        error_pause: None,
    };
    info!(
        receivers = task.deliverer.targets().len(),
        debounce = ?task.config.debounce,
        "webhook delivery started"
    );
    loop {
        let pause = tokio::select! {
            _ = shutdown.cancelled() => break,
            pause = task.round() => pause,
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(pause) => {}
        }
    }
    info!("webhook delivery stopped");
}

struct Task {
    outbox: Outbox,
    deliverer: Deliverer,
    config: WebhookConfig,
    last_prune: Option<Instant>,
    /// The last pause after a database error; `None` while the database answers.
    error_pause: Option<Duration>,
}

impl Task {
    /// One round; returns how long to wait before the next.
    async fn round(&mut self) -> Duration {
        match self.deliver_due().await {
            Ok(claimed) => {
                if self.error_pause.take().is_some() {
                    info!("webhook delivery: the database answers again");
                }
                // A full batch means more may be due: go on at once.
                if claimed == BATCH {
                    Duration::ZERO
                } else {
                    POLL_INTERVAL
                }
            }
            Err(e) => {
                let pause = self
                    .error_pause
                    .map_or(POLL_INTERVAL, |p| (p * 2).min(MAX_ERROR_PAUSE));
                self.error_pause = Some(pause);
                warn!(error = %e, retry_in = ?pause, "webhook delivery: database error");
                pause
            }
        }
    }

    /// Closes, prunes, claims and delivers; returns how many events were claimed.
    async fn deliver_due(&mut self) -> Result<u64, StorageError> {
        let debounce_ms = millis(self.config.debounce);
        let closed = self.outbox.close_due(debounce_ms).await?;
        if closed > 0 {
            debug!(closed, "webhook events closed after their debounce");
        }
        if self.last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            self.last_prune = Some(Instant::now());
            let pruned = self.outbox.prune_delivered(millis(KEEP_DELIVERED)).await?;
            if pruned > 0 {
                debug!(pruned, "delivered webhook events deleted");
            }
        }
        let claimed = self
            .outbox
            .claim(BATCH, millis(self.config.lease()))
            .await?;
        let count = claimed.len() as u64;
        let results =
            futures_util::future::join_all(claimed.iter().map(|event| self.deliver(event))).await;
        // Every event was tried; a database error on one is reported after the rest.
        results.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(count)
    }

    /// One claimed event to the receivers that have not accepted it yet.
    async fn deliver(&self, event: &OutboxEvent) -> Result<(), StorageError> {
        let accepted: HashSet<String> = if self.deliverer.targets().len() > 1 {
            self.outbox
                .accepted_by(event.id)
                .await?
                .into_iter()
                .collect()
        } else {
            HashSet::new()
        };
        let now_s = chrono::Utc::now().timestamp();
        let answers = self.deliverer.post(event, &accepted, now_s).await;
        let mut failures = Vec::new();
        let mut newly_accepted = Vec::new();
        for answer in &answers {
            match &answer.result {
                Ok(()) => newly_accepted.push(answer.target),
                Err(reason) => {
                    warn!(
                        event = %webhook_id(event.id),
                        doc = %event.doc_name,
                        receiver = %answer.target.display(),
                        attempt = event.attempts,
                        reason = %reason,
                        "webhook delivery failed"
                    );
                    failures.push(format!("{}: {reason}", answer.target.display()));
                }
            }
        }
        let delivered = answers.len() - failures.len();
        metrics::counter!(crate::metrics::WEBHOOK_DELIVERIES, "outcome" => "delivered")
            .increment(delivered as u64);
        metrics::counter!(crate::metrics::WEBHOOK_DELIVERIES, "outcome" => "failed")
            .increment(failures.len() as u64);
        if failures.is_empty() {
            if !self.outbox.mark_delivered(event).await? {
                debug!(event = %webhook_id(event.id), "delivered after the claim ran out");
            }
            return Ok(());
        }
        // Only now does a partial success need remembering: the retry skips these receivers.
        for target in newly_accepted {
            self.outbox.record_accepted(event.id, &target.key).await?;
        }
        let attempt = u32::try_from(event.attempts).unwrap_or(u32::MAX);
        let delay = self.config.schedule.delay_now(attempt);
        let outcome = self
            .outbox
            .retry_or_fail(
                event,
                millis(delay),
                millis(self.config.schedule.window),
                &failures.join("; "),
            )
            .await?;
        match outcome {
            AfterFailure::Retry { .. } => debug!(
                event = %webhook_id(event.id),
                retry_in = ?delay,
                "webhook delivery will be retried"
            ),
            AfterFailure::Failed => error!(
                event = %webhook_id(event.id),
                doc = %event.doc_name,
                attempts = event.attempts,
                last_error = %failures.join("; "),
                "webhook delivery failed for good after the retry window; see /api/webhooks/failed"
            ),
            AfterFailure::LostClaim => debug!(
                event = %webhook_id(event.id),
                "the claim ran out during the attempt; another node has the event"
            ),
        }
        Ok(())
    }
}

/// Milliseconds for SQL, at most about 300 years: added to the clock, they must not overflow a
/// BIGINT whatever a flag says.
fn millis(d: Duration) -> i64 {
    const MAX_MS: u128 = 10_000_000_000_000;
    d.as_millis().min(MAX_MS) as i64
}
