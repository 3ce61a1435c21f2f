//! `SeaStore` behaviour, written once in `cases` and run on SQLite and on PostgreSQL.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use plait_storage::entities::quarantined_update;
use plait_storage::migration::Migrator;
use plait_storage::{DocStore, NewUpdate, SeaStore};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use sea_orm_migration::MigratorTrait;
use yrs::Doc;

use common::{edit, nested_arrays, rebuilt, text_of};

fn update(doc: &str, data: Vec<u8>) -> NewUpdate {
    NewUpdate {
        doc: doc.to_owned(),
        data: Bytes::from(data),
        authors: None,
    }
}

fn limits() -> plait_protocol::session::DocLimits {
    plait_protocol::session::DocLimits::default()
}

/// `sql` with PostgreSQL's `$1` placeholders, as SQLite wants them too (`?`).
/// Moves a log row's date `age` into the past.
async fn date_back(store: &SeaStore, seq: i64, age: std::time::Duration) -> anyhow::Result<()> {
    use plait_storage::entities::document_update;
    use sea_orm::sea_query::Expr;
    let then = chrono::Utc::now() - age;
    document_update::Entity::update_many()
        .col_expr(document_update::Column::CreatedAt, Expr::value(then))
        .filter(document_update::Column::Seq.eq(seq))
        .exec(store.connection())
        .await?;
    Ok(())
}

fn backend_sql(store: &SeaStore, sql: &str) -> String {
    match store.connection().get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => sql.to_owned(),
        _ => sql.replace("$1", "?"),
    }
}

/// The quarantined updates of `doc`, in the order they were moved.
async fn quarantined(
    store: &SeaStore,
    doc: &str,
) -> anyhow::Result<Vec<quarantined_update::Model>> {
    Ok(quarantined_update::Entity::find()
        .filter(quarantined_update::Column::DocumentName.eq(doc))
        .order_by_asc(quarantined_update::Column::Id)
        .all(store.connection())
        .await?)
}

fn assert_strictly_increasing(seqs: &[i64]) {
    for pair in seqs.windows(2) {
        assert!(pair[0] < pair[1], "seqs not strictly increasing: {seqs:?}");
    }
}

mod cases {
    use super::*;

    /// Nodes started at the same moment against a fresh database all come up, each with the
    /// schema in place.
    pub async fn nodes_starting_together_all_migrate(url: String) -> anyhow::Result<()> {
        let (a, b, c, d) = tokio::join!(
            SeaStore::connect(&url),
            SeaStore::connect(&url),
            SeaStore::connect(&url),
            SeaStore::connect(&url)
        );
        let stores = [a?, b?, c?, d?];
        let doc = Doc::new();
        for (i, store) in stores.iter().enumerate() {
            store
                .append(&[update("together", edit(&doc, &i.to_string()))])
                .await?;
        }
        let loaded = stores[0].load("together").await?.expect("written");
        assert_eq!(text_of(rebuilt(loaded).doc()), "0123");
        Ok(())
    }

    pub async fn append_load_round_trip(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        store.ping().await?;
        let doc = Doc::new();
        let batch = vec![
            update("notes", edit(&doc, "hello")),
            update("notes", edit(&doc, " world")),
        ];
        let seqs = store.append(&batch).await?;
        assert_eq!(seqs.len(), 2);
        assert_strictly_increasing(&seqs);

        let stored = store.load("notes").await?.expect("document exists");
        assert_eq!(stored.snapshot, None);
        assert_eq!(stored.snapshot_seq, 0);
        let logged: Vec<i64> = stored.updates.iter().map(|(s, _)| *s).collect();
        assert_eq!(logged, seqs);
        assert_eq!(stored.updates[0].1, batch[0].data.to_vec());
        assert_eq!(text_of(rebuilt(stored).doc()), "hello world");
        Ok(())
    }

    pub async fn seqs_increase_across_docs_and_calls(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let (a, b) = (Doc::new(), Doc::new());
        let mut all = Vec::new();
        for round in 0..3 {
            let batch = vec![
                update("a", edit(&a, &format!("a{round}"))),
                update("b", edit(&b, &format!("b{round}"))),
                update("a", edit(&a, "!")),
            ];
            all.extend(store.append(&batch).await?);
        }
        assert_eq!(all.len(), 9);
        assert_strictly_increasing(&all);
        assert!(store.append(&[]).await?.is_empty());
        let a_loaded = rebuilt(store.load("a").await?.expect("a exists"));
        let b_loaded = rebuilt(store.load("b").await?.expect("b exists"));
        assert_eq!(text_of(a_loaded.doc()), "a0!a1!a2!");
        assert_eq!(text_of(b_loaded.doc()), "b0b1b2");
        Ok(())
    }

    pub async fn unknown_doc_is_absent(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        store
            .append(&[update("known", edit(&Doc::new(), "x"))])
            .await?;
        assert!(store.load("unknown").await?.is_none());
        assert!(store.stats("unknown").await?.is_none());
        assert!(store.updates_after("unknown", 0, 10).await?.is_empty());
        // Compacting a document that does not exist is a no-op, not an error.
        store.compact("unknown").await?;
        assert!(store.load("unknown").await?.is_none());
        Ok(())
    }

    pub async fn compaction_keeps_content_and_trims_log(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let doc = Doc::new();
        let mut seqs = Vec::new();
        for word in ["one ", "two ", "three "] {
            seqs.extend(store.append(&[update("d", edit(&doc, word))]).await?);
        }
        store.compact("d").await?;
        let stored = store.load("d").await?.expect("exists");
        assert_eq!(stored.snapshot_seq, seqs[2]);
        assert!(stored.snapshot.is_some());
        assert!(stored.updates.is_empty(), "covered rows must be deleted");
        assert!(store.updates_after("d", 0, 100).await?.is_empty());
        assert_eq!(text_of(rebuilt(stored).doc()), "one two three ");

        // Rows appended after compaction load on top of the snapshot, and their seq is past
        // the snapshot even though the highest row was deleted (no seq reuse).
        let later = store.append(&[update("d", edit(&doc, "four"))]).await?;
        assert!(later[0] > seqs[2], "seq reused after compaction: {later:?}");
        let stored = store.load("d").await?.expect("exists");
        assert_eq!(stored.updates.len(), 1);
        assert_eq!(stored.updates[0].0, later[0]);
        assert_eq!(text_of(rebuilt(stored).doc()), "one two three four");

        // A second compaction folds the new row into the existing snapshot.
        store.compact("d").await?;
        let stored = store.load("d").await?.expect("exists");
        assert_eq!(stored.snapshot_seq, later[0]);
        assert!(stored.updates.is_empty());
        assert_eq!(text_of(rebuilt(stored).doc()), "one two three four");
        // Compacting with nothing new changes nothing.
        store.compact("d").await?;
        assert_eq!(
            store.load("d").await?.expect("exists").snapshot_seq,
            later[0]
        );
        Ok(())
    }

    pub async fn corrupt_row_is_skipped(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let doc = Doc::new();
        let good1 = edit(&doc, "abc");
        let good2 = edit(&doc, "def");
        let seqs = store
            .append(&[
                update("c", good1),
                update("c", vec![0xff, 0xff, 0xff, 0xff, 0x01]),
                update("c", vec![]),
                update("c", good2),
            ])
            .await?;
        assert_eq!(seqs.len(), 4);
        let stored = store.load("c").await?.expect("exists");
        assert_eq!(stored.updates.len(), 4);
        assert_eq!(text_of(rebuilt(stored).doc()), "abcdef");
        // Compaction also survives the corrupt row and keeps the good content.
        store.compact("c").await?;
        let stored = store.load("c").await?.expect("exists");
        assert!(stored.updates.is_empty());
        assert_eq!(text_of(rebuilt(stored).doc()), "abcdef");
        Ok(())
    }

    /// A row that cannot be applied (not an update; nested past what a stack survives) is
    /// reported by the replay and moved to `quarantined_updates` with its bytes and reason; the
    /// next load no longer meets it, and the document's figures count it.
    pub async fn refused_rows_move_to_quarantine(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let doc = Doc::new();
        let garbage = vec![0xde, 0xad, 0xbe, 0xef];
        let seqs = store
            .append(&[
                update("q", edit(&doc, "kept")),
                update("q", garbage.clone()),
                update("q", nested_arrays(5_000)),
            ])
            .await?;
        let replayed = store.load("q").await?.expect("exists").replay(limits());
        assert_eq!(text_of(replayed.state.doc()), "kept");
        let refused: Vec<i64> = replayed.refused.iter().map(|r| r.seq).collect();
        assert_eq!(refused, vec![seqs[1], seqs[2]]);
        store.quarantine("q", &replayed.refused).await?;
        // Moving again changes nothing: the rows are gone from the log.
        store.quarantine("q", &replayed.refused).await?;
        let stored = store.load("q").await?.expect("exists");
        assert_eq!(stored.updates.len(), 1);
        assert!(stored.replay(limits()).refused.is_empty());
        assert_eq!(store.stats("q").await?.expect("exists").quarantined, 2);
        let kept = quarantined(&store, "q").await?;
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].seq, seqs[1]);
        assert_eq!(kept[0].data.as_deref(), Some(&garbage[..]));
        assert!(!kept[0].is_snapshot);
        assert!(kept[1].reason.contains("levels deep"), "{}", kept[1].reason);
        Ok(())
    }

    /// Compaction folds what applies into the snapshot and moves the rest to quarantine: a row
    /// that does not decode, and one whose dependencies no row holds, are kept, not dropped.
    pub async fn compaction_quarantines_what_it_cannot_fold(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let doc = Doc::new();
        let kept = edit(&doc, "kept ");
        let _never_stored = edit(&doc, "missing ");
        let depends = edit(&doc, "depends");
        let seqs = store
            .append(&[
                update("f", kept),
                update("f", vec![1, 2, 3]),
                update("f", depends),
            ])
            .await?;
        // Stored long enough ago that its dependency is not on its way any more.
        date_back(&store, seqs[2], plait_storage::store::IN_FLIGHT * 2).await?;
        store.compact("f").await?;
        let stored = store.load("f").await?.expect("exists");
        assert!(stored.updates.is_empty(), "the log was folded");
        assert_eq!(text_of(rebuilt(stored).doc()), "kept ");
        let moved: Vec<(i64, bool)> = quarantined(&store, "f")
            .await?
            .iter()
            .map(|q| (q.seq, q.reason.contains("depends on content")))
            .collect();
        assert_eq!(moved, vec![(seqs[1], false), (seqs[2], true)]);
        Ok(())
    }

    /// A row whose dependency is not stored yet, but may be on its way to another node's commit
    /// (it is young), is neither folded nor moved to quarantine, and nor is anything after it;
    /// once the dependency is stored, the next compaction folds it all.
    pub async fn compaction_leaves_a_row_whose_dependency_may_still_come(
        url: String,
    ) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let doc = Doc::new();
        let kept = edit(&doc, "kept ");
        let other_nodes = edit(&doc, "relayed ");
        let depends = edit(&doc, "depends ");
        let after = edit(&doc, "after");
        let seqs = store
            .append(&[update("w", kept), update("w", depends), update("w", after)])
            .await?;
        store.compact("w").await?;
        let stored = store.load("w").await?.expect("exists");
        assert_eq!(stored.snapshot_seq, seqs[0], "folded up to the waiting row");
        let log: Vec<i64> = stored.updates.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(
            log,
            vec![seqs[1], seqs[2]],
            "the waiting row and the one after it"
        );
        assert!(
            quarantined(&store, "w").await?.is_empty(),
            "nothing quarantined"
        );
        store.append(&[update("w", other_nodes)]).await?;
        store.compact("w").await?;
        let stored = store.load("w").await?.expect("exists");
        assert!(stored.updates.is_empty(), "the log was folded");
        assert_eq!(text_of(rebuilt(stored).doc()), "kept relayed depends after");
        assert!(quarantined(&store, "w").await?.is_empty());
        Ok(())
    }

    /// A snapshot that does not decode is reported at the position it covered, moved to
    /// quarantine and cleared; the rows after it are served.
    pub async fn a_snapshot_that_does_not_decode_is_quarantined(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let doc = Doc::new();
        store.append(&[update("s", edit(&doc, "old"))]).await?;
        store.compact("s").await?;
        let later = Doc::new();
        store.append(&[update("s", edit(&later, "new"))]).await?;
        store
            .connection()
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                store.connection().get_database_backend(),
                backend_sql(
                    &store,
                    "UPDATE documents SET snapshot = $1 WHERE name = 's'",
                ),
                [vec![9u8, 9, 9].into()],
            ))
            .await?;
        let replayed = store.load("s").await?.expect("exists").replay(limits());
        assert_eq!(text_of(replayed.state.doc()), "new");
        assert_eq!(replayed.refused.len(), 1);
        assert!(replayed.refused[0].snapshot);
        store.quarantine("s", &replayed.refused).await?;
        let stored = store.load("s").await?.expect("exists");
        assert_eq!(stored.snapshot, None, "cleared once kept in quarantine");
        let kept = quarantined(&store, "s").await?;
        assert_eq!(kept.len(), 1);
        assert!(kept[0].is_snapshot);
        assert_eq!(kept[0].data.as_deref(), Some(&[9u8, 9, 9][..]));
        Ok(())
    }

    pub async fn stats_report_log_and_snapshot(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let doc = Doc::new();
        let (u1, u2) = (edit(&doc, "12345"), edit(&doc, "678"));
        let bytes = (u1.len() + u2.len()) as u64;
        let seqs = store.append(&[update("s", u1), update("s", u2)]).await?;
        let stats = store.stats("s").await?.expect("exists");
        assert_eq!(stats.name, "s");
        assert_eq!(stats.log_updates, 2);
        assert_eq!(stats.log_bytes, bytes);
        assert_eq!(stats.snapshot_bytes, 0);
        assert_eq!(stats.snapshot_seq, 0);
        assert_eq!(stats.last_seq, seqs[1]);
        let written = stats.last_write_at.expect("written");
        assert!(Some(written) >= stats.created_at && stats.created_at.is_some());

        store.compact("s").await?;
        let stats = store.stats("s").await?.expect("exists");
        assert_eq!(stats.log_updates, 0);
        assert_eq!(stats.log_bytes, 0);
        assert!(stats.snapshot_bytes > 0);
        assert_eq!(stats.snapshot_seq, seqs[1]);
        assert_eq!(stats.last_seq, seqs[1]);
        Ok(())
    }

    pub async fn updates_after_pages_the_log(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let (doc, other) = (Doc::new(), Doc::new());
        let mut batch = Vec::new();
        for i in 0..5 {
            batch.push(update("feed", edit(&doc, &i.to_string())));
            batch.push(update("other", edit(&other, "x")));
        }
        let seqs = store.append(&batch).await?;
        let feed_seqs: Vec<i64> = seqs.iter().step_by(2).copied().collect();

        let page = store.updates_after("feed", feed_seqs[0], 2).await?;
        let got: Vec<i64> = page.iter().map(|(s, _)| *s).collect();
        assert_eq!(got, feed_seqs[1..3]);
        assert_eq!(page[0].1, batch[2].data.to_vec());
        let rest = store.updates_after("feed", feed_seqs[2], 100).await?;
        let got: Vec<i64> = rest.iter().map(|(s, _)| *s).collect();
        assert_eq!(got, feed_seqs[3..]);
        assert!(store
            .updates_after("feed", feed_seqs[4], 100)
            .await?
            .is_empty());
        Ok(())
    }

    /// Two connections (two server nodes) append to one document at once, while one of them
    /// also compacts: nothing may be lost and both see every update.
    pub async fn two_nodes_append_concurrently(url: String) -> anyhow::Result<()> {
        let node_a = Arc::new(SeaStore::connect(&url).await?);
        let node_b = Arc::new(SeaStore::connect(&url).await?);
        const PER_NODE: usize = 30;

        let writer = |store: Arc<SeaStore>, ch: &'static str, compact: bool| async move {
            let doc = Doc::new();
            let mut seqs = Vec::new();
            for i in 0..PER_NODE {
                seqs.extend(store.append(&[update("shared", edit(&doc, ch))]).await?);
                if compact && i % 7 == 3 {
                    store.compact("shared").await?;
                }
            }
            anyhow::Ok(seqs)
        };
        let a = tokio::spawn(writer(Arc::clone(&node_a), "a", true));
        let b = tokio::spawn(writer(Arc::clone(&node_b), "b", false));
        let (seqs_a, seqs_b) = (a.await??, b.await??);
        assert_strictly_increasing(&seqs_a);
        assert_strictly_increasing(&seqs_b);
        let mut all: Vec<i64> = seqs_a.iter().chain(&seqs_b).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 2 * PER_NODE, "two nodes got the same seq");

        for node in [&node_a, &node_b] {
            let text = text_of(rebuilt(node.load("shared").await?.expect("exists")).doc());
            assert_eq!(text.matches('a').count(), PER_NODE, "lost updates: {text}");
            assert_eq!(text.matches('b').count(), PER_NODE, "lost updates: {text}");
        }
        node_b.compact("shared").await?;
        let text = text_of(rebuilt(node_a.load("shared").await?.expect("exists")).doc());
        assert_eq!(text.len(), 2 * PER_NODE);
        Ok(())
    }

    pub async fn migration_down_and_up(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        store.append(&[update("m", edit(&Doc::new(), "x"))]).await?;
        Migrator::down(store.connection(), None).await?;
        Migrator::up(store.connection(), None).await?;
        let fresh = SeaStore::connect(&url).await?;
        assert!(
            fresh.load("m").await?.is_none(),
            "down must drop the tables"
        );
        fresh.append(&[update("m", edit(&Doc::new(), "y"))]).await?;
        assert_eq!(fresh.load("m").await?.expect("exists").updates.len(), 1);
        Ok(())
    }
}

async fn on_sqlite<F, Fut>(case: F) -> anyhow::Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let file = common::SqliteFile::new()?;
    assert!(!file.path().exists());
    // Without `mode=rwc`: `SeaStore::connect` must create the file anyway.
    case(format!("sqlite://{}", file.path().display())).await?;
    assert!(file.path().exists(), "connect must create the SQLite file");
    Ok(())
}

async fn on_postgres<F, Fut>(case: F) -> anyhow::Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let db = common::PgDatabase::create().await?;
    case(db.url()?).await
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() -> anyhow::Result<()> {
                    on_sqlite(cases::$case).await
                }
            )*
        }
        mod postgres {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() -> anyhow::Result<()> {
                    on_postgres(cases::$case).await
                }
            )*
        }
    };
}

on_both_backends!(
    append_load_round_trip,
    seqs_increase_across_docs_and_calls,
    unknown_doc_is_absent,
    compaction_keeps_content_and_trims_log,
    corrupt_row_is_skipped,
    refused_rows_move_to_quarantine,
    compaction_quarantines_what_it_cannot_fold,
    compaction_leaves_a_row_whose_dependency_may_still_come,
    a_snapshot_that_does_not_decode_is_quarantined,
    stats_report_log_and_snapshot,
    updates_after_pages_the_log,
    two_nodes_append_concurrently,
    migration_down_and_up,
    nodes_starting_together_all_migrate,
);

/// SQLite stores any value in any column: an update that is an integer, a date that is text.
/// Each value is read on its own, so the document is served, the row reported, and the stats
/// answer with the date they cannot read left out.
#[tokio::test]
async fn sqlite_values_of_the_wrong_type_do_not_make_a_document_unreadable() -> anyhow::Result<()> {
    let file = common::SqliteFile::new()?;
    let store = SeaStore::connect(&file.url()).await?;
    let doc = Doc::new();
    store.append(&[update("w", edit(&doc, "served"))]).await?;
    for sql in [
        "INSERT INTO document_updates (document_id, data, created_at) \
         SELECT id, 42, created_at FROM documents WHERE name = 'w'",
        "UPDATE documents SET created_at = 'not a date' WHERE name = 'w'",
    ] {
        store.connection().execute_unprepared(sql).await?;
    }
    let stored = store.load("w").await?.expect("exists");
    assert_eq!(stored.unreadable.len(), 1);
    let replayed = stored.replay(limits());
    assert_eq!(text_of(replayed.state.doc()), "served");
    assert_eq!(replayed.refused.len(), 1);
    assert!(
        replayed.refused[0].reason.contains("not bytes"),
        "{:?}",
        replayed.refused
    );
    let stats = store.stats("w").await?.expect("exists");
    assert_eq!(stats.created_at, None);
    store.quarantine("w", &replayed.refused).await?;
    assert!(store
        .load("w")
        .await?
        .expect("exists")
        .unreadable
        .is_empty());
    assert_eq!(store.stats("w").await?.expect("exists").quarantined, 1);
    // Compaction reads the same way.
    store.compact("w").await?;
    Ok(())
}

#[tokio::test]
async fn sqlite_memory_url_works_with_one_connection() -> anyhow::Result<()> {
    // With more than one pooled connection each would see its own empty in-memory database.
    let store = SeaStore::connect("sqlite::memory:").await?;
    let doc = Doc::new();
    store.append(&[update("mem", edit(&doc, "hi"))]).await?;
    let (first, second) = tokio::join!(store.load("mem"), store.stats("mem"));
    assert_eq!(text_of(rebuilt(first?.expect("exists")).doc()), "hi");
    assert_eq!(second?.expect("exists").log_updates, 1);
    Ok(())
}

/// A node's feed reads the rows other nodes commit only for documents it holds: once it knows a
/// document's id (from the first rows it reads of it), that document's later rows are skipped
/// while it is not held, and read again once it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_reads_only_rows_of_documents_held() -> anyhow::Result<()> {
    use plait_cluster::NodeEvent;
    use plait_protocol::name::DocName;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    let db = common::PgDatabase::create().await?;
    let writer = SeaStore::connect(&db.url()?).await?;
    let reader = SeaStore::connect(&db.url()?).await?;
    let bus = reader.bus(None).expect("PostgreSQL has a bus");
    let mut feed = bus.listen().await?;
    let held_too = AtomicBool::new(false);
    let holds = |doc: &DocName| {
        let doc = doc.as_str();
        doc == "held" || (doc == "other" && held_too.load(Ordering::SeqCst))
    };
    // The next rows the feed hands over, by document and text.
    let mut next_rows = async || -> anyhow::Result<Vec<String>> {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), feed.next(&holds)).await??;
            if let NodeEvent::Stored { rows, .. } = event {
                let mut rows: Vec<String> = rows
                    .into_iter()
                    .map(|u| format!("{}:{}", u.doc, u.data.len()))
                    .collect();
                rows.sort();
                return Ok(rows);
            }
        }
    };
    let doc = Doc::new();
    let (held, other) = (edit(&doc, "h"), edit(&doc, "o!"));
    let row = |name: &str, data: &[u8]| format!("{name}:{}", data.len());

    // Ids not known yet: both read and learned, only the held one handed over.
    writer
        .append(&[update("held", held.clone()), update("other", other.clone())])
        .await?;
    assert_eq!(next_rows().await?, vec![row("held", &held)]);
    // Known now: only the held document's rows are read.
    writer
        .append(&[update("other", other.clone()), update("held", held.clone())])
        .await?;
    assert_eq!(next_rows().await?, vec![row("held", &held)]);
    writer.append(&[update("other", other.clone())]).await?;
    writer.append(&[update("held", held.clone())]).await?;
    assert_eq!(
        next_rows().await?,
        vec![row("held", &held)],
        "other's commit read"
    );
    // Held from now on: read again.
    held_too.store(true, Ordering::SeqCst);
    writer.append(&[update("other", other.clone())]).await?;
    assert_eq!(next_rows().await?, vec![row("other", &other)]);
    Ok(())
}
