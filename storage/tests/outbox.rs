//! The webhook outbox (`sea_store::outbox`) on SQLite and PostgreSQL: the rows the triggers
//! write with each append, the debounce, claims and their leases, retries, failure, pruning.

mod common;

use std::collections::HashSet;

use bytes::Bytes;
use plait_storage::entities::webhook_outbox;
use plait_storage::sea_store::outbox::{AfterFailure, Outbox, OutboxEvent};
use plait_storage::{DocStore, NewUpdate, SeaStore};
use sea_orm::{EntityTrait, QueryOrder};
use yrs::Doc;

use common::edit;

fn update(doc: &str, text: &str) -> NewUpdate {
    NewUpdate {
        doc: doc.to_owned(),
        data: Bytes::from(edit(&Doc::new(), text)),
        authors: None,
    }
}

/// Every row of the outbox, in id order.
async fn rows(store: &SeaStore) -> anyhow::Result<Vec<OutboxEvent>> {
    Ok(webhook_outbox::Entity::find()
        .order_by_asc(webhook_outbox::Column::Id)
        .all(store.connection())
        .await?)
}

fn outbox(store: &SeaStore) -> Outbox {
    store.outbox().expect("a SQL store has an outbox")
}

/// Long enough that nothing claimed in a test comes back by itself.
const LEASE: i64 = 60_000;
/// A debounce no test waits for.
const FOREVER: i64 = 3_600_000;

mod cases {
    use super::*;

    /// The append's own transaction writes one `document.created` per new document and one open
    /// `document.changed` per document, widened by later appends.
    pub async fn appends_write_created_and_one_open_changed_event(
        url: String,
    ) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let first = store
            .append(&[update("a", "1"), update("a", "2"), update("b", "x")])
            .await?;
        let later = store.append(&[update("a", "3")]).await?;
        let rows = rows(&store).await?;
        let created: Vec<&str> = rows
            .iter()
            .filter(|r| r.kind == "document.created")
            .map(|r| r.doc_name.as_str())
            .collect();
        assert_eq!(created.len(), 2, "{rows:?}");
        assert!(created.contains(&"a") && created.contains(&"b"));
        assert!(rows
            .iter()
            .filter(|r| r.kind == "document.created")
            .all(|r| !r.is_open));
        let changed_a: Vec<&OutboxEvent> = rows
            .iter()
            .filter(|r| r.kind == "document.changed" && r.doc_name == "a")
            .collect();
        assert_eq!(changed_a.len(), 1, "{rows:?}");
        let a = changed_a[0];
        assert!(a.is_open);
        assert_eq!(a.updates, 3);
        assert_eq!(a.first_seq, first[0]);
        assert_eq!(a.last_seq, later[0]);
        assert!(a.first_ms <= a.last_ms);
        Ok(())
    }

    /// An open event closes after the debounce; the next append opens a new one.
    pub async fn debounce_closes_and_the_next_append_opens_anew(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let outbox = outbox(&store);
        store.append(&[update("d", "1")]).await?;
        assert_eq!(
            outbox.close_due(FOREVER).await?,
            0,
            "quiet for less than the debounce"
        );
        assert_eq!(outbox.close_due(0).await?, 1);
        let seq = store.append(&[update("d", "2")]).await?[0];
        let changed: Vec<OutboxEvent> = rows(&store)
            .await?
            .into_iter()
            .filter(|r| r.kind == "document.changed")
            .collect();
        assert_eq!(changed.len(), 2);
        assert!(!changed[0].is_open && changed[1].is_open);
        assert_eq!((changed[1].first_seq, changed[1].last_seq), (seq, seq));
        assert_eq!(changed[1].updates, 1);
        Ok(())
    }

    /// Under continuous changes an event still closes 10 s after its first one.
    pub async fn an_event_open_for_ten_seconds_closes_under_continuous_changes(
        url: String,
    ) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let outbox = outbox(&store);
        store.append(&[update("busy", "1")]).await?;
        // Pretend its first change was 11 s ago and its last just now.
        let now = outbox.now_ms().await?;
        webhook_outbox::Entity::update_many()
            .col_expr(webhook_outbox::Column::FirstMs, (now - 11_000).into())
            .col_expr(webhook_outbox::Column::LastMs, now.into())
            .exec(store.connection())
            .await?;
        assert_eq!(outbox.close_due(FOREVER).await?, 1);
        Ok(())
    }

    /// A claim takes due events once (its lease), oldest first, a document's events in order,
    /// and counts the attempt; an expired lease lets the event be claimed again, same id.
    pub async fn claims_lease_events_in_order(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let outbox = outbox(&store);
        store.append(&[update("c", "1"), update("c", "2")]).await?;
        assert!(
            outbox
                .claim(10, LEASE)
                .await?
                .iter()
                .all(|e| e.kind == "document.created"),
            "an open event is not due"
        );
        // Take the created event back (as if its lease had ended) and close the changed one.
        webhook_outbox::Entity::update_many()
            .col_expr(webhook_outbox::Column::NextAttemptMs, 0.into())
            .exec(store.connection())
            .await?;
        outbox.close_due(0).await?;
        let claimed = outbox.claim(10, 0).await?;
        assert_eq!(
            claimed.len(),
            1,
            "the changed event waits for the created one"
        );
        let created = &claimed[0];
        assert_eq!(created.kind, "document.created");
        assert_eq!(created.attempts, 2);
        assert!(created.first_attempt_ms.is_some());
        // Lease 0: due again at once; the same row, one attempt more.
        let again = outbox.claim(10, LEASE).await?;
        assert_eq!(again.len(), 1);
        assert_eq!((again[0].id, again[0].attempts), (created.id, 3));
        assert!(outbox.claim(10, LEASE).await?.is_empty(), "leased");
        // The stale claim (attempt 2) can no longer mark it; the current one can.
        assert!(!outbox.mark_delivered(created).await?);
        assert!(outbox.mark_delivered(&again[0]).await?);
        let next = outbox.claim(10, LEASE).await?;
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].kind, "document.changed");
        assert_eq!(next[0].updates, 2);
        Ok(())
    }

    /// A failure is retried later, then failed for good after the window, listed, requeued.
    pub async fn failures_retry_then_fail_and_can_be_requeued(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let outbox = outbox(&store);
        store.append(&[update("f", "1")]).await?;
        let event = outbox.claim(1, LEASE).await?.remove(0);
        let before = outbox.now_ms().await?;
        let outcome = outbox
            .retry_or_fail(&event, 5_000, FOREVER, "HTTP 500 Internal Server Error")
            .await?;
        let AfterFailure::Retry { next_attempt_ms } = outcome else {
            panic!("expected a retry, got {outcome:?}");
        };
        assert!(next_attempt_ms >= before + 5_000);
        assert!(outbox.claim(1, LEASE).await?.is_empty(), "not due yet");
        let pending = outbox.pending(10).await?;
        assert_eq!(
            pending[0].last_error.as_deref(),
            Some("HTTP 500 Internal Server Error")
        );
        // A claim that is no longer current changes nothing.
        let stale = OutboxEvent {
            attempts: event.attempts - 1,
            ..event.clone()
        };
        assert_eq!(
            outbox.retry_or_fail(&stale, 0, 0, "x").await?,
            AfterFailure::LostClaim
        );
        // Window 0: the next failure is the last.
        assert_eq!(
            outbox
                .retry_or_fail(&event, 0, 0, "could not connect")
                .await?,
            AfterFailure::Failed
        );
        let failed = outbox.failed(10).await?;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].id, event.id);
        assert_eq!(failed[0].last_error.as_deref(), Some("could not connect"));
        assert!(
            outbox.claim(1, LEASE).await?.is_empty(),
            "failed events are not retried"
        );
        assert!(outbox.requeue(event.id).await?);
        assert!(
            !outbox.requeue(event.id).await?,
            "only failed events are requeued"
        );
        let again = outbox.claim(1, LEASE).await?;
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].id, event.id);
        assert!(outbox.failed(10).await?.is_empty());
        Ok(())
    }

    /// Receivers that accepted are remembered until the event is delivered; delivered events
    /// are pruned after the retention, failed ones are kept.
    pub async fn accepted_receivers_and_pruning(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let outbox = outbox(&store);
        store.append(&[update("p", "1"), update("q", "1")]).await?;
        let claimed = outbox.claim(10, LEASE).await?;
        assert_eq!(claimed.len(), 2);
        outbox.record_accepted(claimed[0].id, "receiver-1").await?;
        outbox.record_accepted(claimed[0].id, "receiver-1").await?;
        assert_eq!(outbox.accepted_by(claimed[0].id).await?, ["receiver-1"]);
        assert!(outbox.mark_delivered(&claimed[0]).await?);
        assert!(outbox.accepted_by(claimed[0].id).await?.is_empty());
        outbox.retry_or_fail(&claimed[1], 0, 0, "down").await?;
        assert_eq!(
            outbox.prune_delivered(FOREVER).await?,
            0,
            "kept for a while"
        );
        assert_eq!(outbox.prune_delivered(0).await?, 1);
        let left: Vec<i64> = rows(&store).await?.iter().map(|r| r.id).collect();
        assert!(!left.contains(&claimed[0].id));
        assert!(left.contains(&claimed[1].id), "failed events are kept");
        Ok(())
    }

    /// Two nodes claiming at the same time never get the same event.
    pub async fn concurrent_claims_never_overlap(url: String) -> anyhow::Result<()> {
        const DOCS: usize = 60;
        let store = SeaStore::connect(&url).await?;
        let batch: Vec<NewUpdate> = (0..DOCS).map(|i| update(&format!("doc{i}"), "x")).collect();
        store.append(&batch).await?;
        let node_a = outbox(&SeaStore::connect(&url).await?);
        let node_b = outbox(&SeaStore::connect(&url).await?);
        let claim_all = |outbox: Outbox| async move {
            let mut ids = Vec::new();
            loop {
                let claimed = outbox.claim(3, LEASE).await?;
                if claimed.is_empty() {
                    return anyhow::Ok(ids);
                }
                ids.extend(claimed.iter().map(|e| e.id));
            }
        };
        let (a, b) = tokio::join!(
            tokio::spawn(claim_all(node_a)),
            tokio::spawn(claim_all(node_b))
        );
        let (a, b) = (a??, b??);
        let all: HashSet<i64> = a.iter().chain(&b).copied().collect();
        assert_eq!(a.len() + b.len(), DOCS, "each created event claimed once");
        assert_eq!(all.len(), DOCS, "no event claimed by both: {a:?} {b:?}");
        Ok(())
    }
}

on_both_backends!(
    appends_write_created_and_one_open_changed_event,
    debounce_closes_and_the_next_append_opens_anew,
    an_event_open_for_ten_seconds_closes_under_continuous_changes,
    claims_lease_events_in_order,
    failures_retry_then_fail_and_can_be_requeued,
    accepted_receivers_and_pruning,
    concurrent_claims_never_overlap,
);
