//! The change feed over the log (`ChangeLog`), on SQLite and PostgreSQL: pages in position
//! order, snapshots where rows were compacted, name filters, the log trigger's notification, and
//! the gap-free property under concurrent committers.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use plait_cluster::payload::{self, Payload, StoredDocs};
use plait_storage::changes::{Change, ChangeKind, ChangeLog, NameFilter};
use plait_storage::{DocStore, NewUpdate, SeaStore, Seq};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use yrs::updates::decoder::Decode;
use yrs::{Doc, Transact, Update};

use common::{edit, text_of};

fn update(doc: &str, data: Vec<u8>) -> NewUpdate {
    NewUpdate {
        doc: doc.to_owned(),
        data: Bytes::from(data),
        authors: None,
    }
}

fn all() -> NameFilter {
    NameFilter::default()
}

/// Every change after `after`, page by page (`limit` per page).
async fn read_all(
    log: &dyn ChangeLog,
    mut after: Seq,
    limit: u64,
    names: &NameFilter,
) -> anyhow::Result<Vec<Change>> {
    let mut out = Vec::new();
    loop {
        let page = log.changes(after, limit, names).await?;
        let Some(last) = page.last() else {
            return Ok(out);
        };
        assert!(page.len() as u64 <= limit);
        after = last.seq;
        out.extend(page);
    }
}

/// Applies changes to one document per name, as a consumer would.
fn apply(docs: &mut std::collections::BTreeMap<String, Doc>, changes: &[Change]) {
    for change in changes {
        let doc = docs.entry(change.doc.clone()).or_default();
        let update = Update::decode_v1(&change.update).expect("a change decodes");
        doc.transact_mut().apply_update(update).expect("applies");
    }
}

/// Appends `n` edits to each of `names`, one batch per round; returns the writers' docs.
async fn write_rounds(store: &SeaStore, names: &[&str], rounds: usize) -> anyhow::Result<Vec<Doc>> {
    let docs: Vec<Doc> = names.iter().map(|_| Doc::new()).collect();
    for round in 0..rounds {
        let batch: Vec<NewUpdate> = names
            .iter()
            .zip(&docs)
            .map(|(name, doc)| update(name, edit(doc, &format!("{round},"))))
            .collect();
        store.append(&batch).await?;
    }
    Ok(docs)
}

mod cases {
    use super::*;

    pub async fn pages_follow_the_log_and_snapshots_stand_in_for_compacted_rows(
        url: String,
    ) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let log = store.change_log().expect("the SQL store keeps a feed");
        let writers = write_rounds(&store, &["a", "b"], 6).await?;
        let early = read_all(log, 0, 3, &all()).await?;
        assert_eq!(early.len(), 12);
        assert!(
            early.windows(2).all(|w| w[0].seq < w[1].seq),
            "position order"
        );
        assert!(early.iter().all(|c| c.kind == ChangeKind::Update));
        let cursor = early[4].seq;

        store.compact("a").await?;
        for round in 6..8 {
            store
                .append(&[update("a", edit(&writers[0], &format!("{round},")))])
                .await?;
        }
        // A consumer from the beginning: a's snapshot, then its later rows; b's rows whole.
        let fresh = read_all(log, 0, 1000, &all()).await?;
        let kinds: Vec<(&str, ChangeKind)> =
            fresh.iter().map(|c| (c.doc.as_str(), c.kind)).collect();
        assert_eq!(
            kinds
                .iter()
                .filter(|(d, k)| *d == "a" && *k == ChangeKind::Snapshot)
                .count(),
            1
        );
        let mut rebuilt = Default::default();
        apply(&mut rebuilt, &fresh);
        // A consumer that had read up to `cursor` before the compaction, resuming there.
        let mut resumed = Default::default();
        apply(&mut resumed, &early[..5]);
        apply(&mut resumed, &read_all(log, cursor, 2, &all()).await?);
        for docs in [&rebuilt, &resumed] {
            let a = text_of(&docs["a"]);
            assert_eq!(a, text_of(&writers[0]));
            assert!(a.ends_with("5,6,7,"));
            assert_eq!(text_of(&docs["b"]), text_of(&writers[1]));
        }
        Ok(())
    }

    pub async fn names_filter_by_exact_prefix(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let log = store.change_log().expect("a feed");
        let names = [
            "team-a/x", "team-a/y", "team-b/x", "Team-a/z", "team-a%", "team-a",
        ];
        write_rounds(&store, &names, 1).await?;
        let docs = |filter: NameFilter| async move {
            let changes = read_all(log, 0, 100, &filter).await?;
            anyhow::Ok(changes.into_iter().map(|c| c.doc).collect::<Vec<_>>())
        };
        let prefix = |p: &str| NameFilter {
            prefix: p.to_owned(),
            exact: None,
        };
        assert_eq!(docs(prefix("team-a/")).await?, ["team-a/x", "team-a/y"]);
        assert_eq!(
            docs(prefix("team-a%")).await?,
            ["team-a%"],
            "% is no wildcard"
        );
        assert_eq!(docs(prefix("")).await?.len(), names.len());
        let exact = NameFilter {
            prefix: "team".into(),
            exact: Some("team-a".into()),
        };
        assert_eq!(docs(exact).await?, ["team-a"]);
        Ok(())
    }

    /// Two stores (two nodes, or a node and another process) and a third writer appending at
    /// once, a reader paging the feed meanwhile: the reader sees every row, none skipped.
    pub async fn concurrent_committers_never_make_a_reader_skip_a_row(
        url: String,
    ) -> anyhow::Result<()> {
        let stores = [
            Arc::new(SeaStore::connect(&url).await?),
            Arc::new(SeaStore::connect(&url).await?),
        ];
        let raw = SeaStore::connect(&url).await?;
        let done = Arc::new(AtomicBool::new(false));
        let mut writers = Vec::new();
        for (i, store) in stores.iter().enumerate() {
            let store = store.clone();
            writers.push(tokio::spawn(async move {
                let doc = Doc::new();
                for round in 0..150 {
                    // Several rows per transaction, several documents: positions interleave.
                    let batch: Vec<NewUpdate> = (0..4)
                        .map(|k| update(&format!("race-{i}-{k}"), edit(&doc, &format!("{round}"))))
                        .collect();
                    store.append(&batch).await?;
                }
                anyhow::Ok(())
            }));
        }
        let other = tokio::spawn(async move {
            let db = raw.connection();
            let doc = Doc::new();
            for round in 0..150 {
                insert_as_other_program(db, "race-other", &edit(&doc, &format!("{round}"))).await?;
            }
            anyhow::Ok(())
        });
        let reader = {
            let store = stores[0].clone();
            let done = done.clone();
            tokio::spawn(async move {
                let log = store.change_log().expect("a feed");
                let mut seen = Vec::new();
                let mut after = 0;
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let page = log.changes(after, 7, &all()).await?;
                    if let Some(last) = page.last() {
                        after = last.seq;
                    } else if finished {
                        return anyhow::Ok(seen);
                    } else {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    seen.extend(page.into_iter().map(|c| c.seq));
                }
            })
        };
        for writer in writers {
            writer.await??;
        }
        other.await??;
        done.store(true, Ordering::Release);
        let seen = reader.await??;
        let stored = stored_seqs(stores[0].connection()).await?;
        assert_eq!(stored.len(), 2 * 150 * 4 + 150);
        let seen_set: BTreeSet<Seq> = seen.iter().copied().collect();
        assert_eq!(seen_set.len(), seen.len(), "no row twice");
        let missed: Vec<&Seq> = stored.difference(&seen_set).collect();
        assert!(missed.is_empty(), "the reader skipped rows {missed:?}");
        Ok(())
    }
}

/// What another program does: one INSERT of its own (PostgreSQL: `plait_write`; SQLite: the
/// statements README documents).
async fn insert_as_other_program(
    db: &sea_orm::DatabaseConnection,
    name: &str,
    data: &[u8],
) -> anyhow::Result<()> {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            db.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT plait_write($1, $2)",
                [name.into(), data.to_vec().into()],
            ))
            .await?;
        }
        _ => {
            let now = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
            db.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Sqlite,
                format!(
                    "INSERT INTO documents (name, snapshot_seq, snapshot_format, created_at, \
                     updated_at) VALUES (?, 0, 1, {now}, {now}) ON CONFLICT (name) DO NOTHING"
                ),
                [name.into()],
            ))
            .await?;
            db.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Sqlite,
                format!(
                    "INSERT INTO document_updates (document_id, data, created_at) \
                     SELECT id, ?, {now} FROM documents WHERE name = ?"
                ),
                [data.to_vec().into(), name.into()],
            ))
            .await?;
        }
    }
    Ok(())
}

async fn stored_seqs(db: &sea_orm::DatabaseConnection) -> anyhow::Result<BTreeSet<Seq>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT seq FROM document_updates",
        ))
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get::<i64>("", "seq"))
        .collect::<Result<_, _>>()?)
}

/// The log's trigger says, for every INSERT statement, exactly what `payload::stored_payload`
/// says: the writing node (or `-` for another program), the positions and the documents.
#[tokio::test]
async fn the_log_trigger_notifies_each_statement_in_the_payload_format() -> anyhow::Result<()> {
    let db = common::PgDatabase::create().await?;
    let url = db.url()?;
    let store = SeaStore::connect(&url).await?;
    let mut listener = sea_orm::sqlx::postgres::PgListener::connect(&url).await?;
    listener.listen(payload::CHANNEL).await?;

    let seqs = store
        .append(&[
            update("n1", edit(&Doc::new(), "x")),
            update("n2", edit(&Doc::new(), "y")),
        ])
        .await?;
    let heard = listener.recv().await?;
    let Some(Payload::Stored {
        node,
        first,
        last,
        docs,
    }) = payload::parse(heard.payload(), None)
    else {
        panic!("not a stored payload: {}", heard.payload());
    };
    assert_ne!(
        node,
        payload::OTHER_PROGRAM,
        "Plait's own append names its node"
    );
    assert_eq!((first, last), (seqs[0], seqs[1]));
    let StoredDocs::Listed(ids) = &docs else {
        panic!("two documents are listed")
    };
    assert_eq!(ids.len(), 2);
    assert_eq!(
        heard.payload(),
        payload::stored_payload(node, first, last, &docs)
    );

    insert_as_other_program(store.connection(), "n3", &edit(&Doc::new(), "z")).await?;
    let heard = listener.recv().await?;
    let parsed = payload::parse(heard.payload(), None);
    assert!(
        matches!(parsed, Some(Payload::Stored { node: "-", first, last, .. }) if first == last),
        "another program's write: {}",
        heard.payload()
    );
    Ok(())
}

on_both_backends!(
    pages_follow_the_log_and_snapshots_stand_in_for_compacted_rows,
    names_filter_by_exact_prefix,
    concurrent_committers_never_make_a_reader_skip_a_row,
);
