//! `revocations` on SQLite and PostgreSQL: rows from Plait and from any program's plain INSERT
//! reach every node's feed (PostgreSQL: the table's trigger notifies; SQLite: the
//! `data_version` watch), and the latest revocation of each subject is what a start loads.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plait_cluster::NodeEvent;
use plait_storage::{DocStore, SeaStore};
use sea_orm::ConnectionTrait;

/// The next revocation the feed hears, skipping whatever else it says.
async fn next_revocation(
    feed: &mut Box<dyn plait_storage::bus::Feed>,
) -> anyhow::Result<(String, i64)> {
    let holds = |_: &plait_protocol::name::DocName| false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let event = tokio::time::timeout_at(deadline, feed.next(&holds)).await??;
        if let NodeEvent::Revoked { subject, at_ms } = event {
            return Ok((subject, at_ms));
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

mod cases {
    use super::*;

    pub async fn revocations_reach_the_other_nodes_feeds(url: String) -> anyhow::Result<()> {
        let node = SeaStore::connect(&url).await?;
        let other = SeaStore::connect(&url).await?;
        let bus = other.bus(None).expect("a SQL store has a bus");
        let mut feed = bus.listen().await?;

        let log = node
            .revocation_log()
            .expect("a SQL store keeps revocations");
        let before = now_ms();
        let row = log.revoke("alice", Some("left the team")).await?;
        assert_eq!(row.subject, "alice");
        assert_eq!(row.reason.as_deref(), Some("left the team"));
        assert!(
            (before - 5_000..=now_ms() + 5_000).contains(&row.revoked_at_ms),
            "the database's clock in milliseconds: {}",
            row.revoked_at_ms
        );
        assert_eq!(
            next_revocation(&mut feed).await?,
            ("alice".into(), row.revoked_at_ms)
        );

        // Another program's plain INSERT: the time defaults to the database's clock.
        node.connection()
            .execute_unprepared("INSERT INTO revocations (subject, reason) VALUES ('bob é', 'sql')")
            .await?;
        let (subject, at) = next_revocation(&mut feed).await?;
        assert_eq!(subject, "bob é");
        assert!(at >= row.revoked_at_ms);

        // An empty subject is refused by the table itself.
        let empty = node
            .connection()
            .execute_unprepared("INSERT INTO revocations (subject) VALUES ('')")
            .await;
        assert!(empty.is_err(), "an empty subject was stored");
        Ok(())
    }

    pub async fn a_start_loads_each_subjects_latest_revocation(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let log = store
            .revocation_log()
            .expect("a SQL store keeps revocations");
        assert!(log.latest().await?.is_empty());
        assert_eq!(log.last_id().await?, 0);
        store
            .connection()
            .execute_unprepared(
                "INSERT INTO revocations (subject, revoked_at_ms) VALUES ('a', 10), ('a', 30), ('b', 20)",
            )
            .await?;
        let mut latest = log.latest().await?;
        latest.sort();
        assert_eq!(latest, vec![("a".to_owned(), 30), ("b".to_owned(), 20)]);
        let after = log.after(1).await?;
        assert_eq!(after.len(), 2);
        assert_eq!(log.last_id().await?, after[1].id);
        Ok(())
    }
}

on_both_backends!(
    revocations_reach_the_other_nodes_feeds,
    a_start_loads_each_subjects_latest_revocation,
);
