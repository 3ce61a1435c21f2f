//! What backups and checks read: the read-only open, the consistent cut and the check's
//! diagnosis, written once in `cases` and run on SQLite and on PostgreSQL.

mod common;

use bytes::Bytes;
use plait_storage::check::{check, Problem};
use plait_storage::sea_store::open::OpenError;
use plait_storage::{DocStore, NewUpdate, SeaStore};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};
use yrs::{Doc, ReadTxn, Transact};

use common::edit;

fn update(doc: &str, data: Vec<u8>) -> NewUpdate {
    NewUpdate {
        doc: doc.to_owned(),
        data: Bytes::from(data),
        authors: None,
    }
}

/// Runs `sql` (written with `$1`, `$2` placeholders) with `values` on `store`'s database.
async fn exec(store: &SeaStore, sql: &str, values: Vec<Value>) -> anyhow::Result<()> {
    let backend = store.connection().get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => sql.to_owned(),
        _ => sql.replace("$1", "?").replace("$2", "?"),
    };
    store
        .connection()
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// How many rows `sql` (a `SELECT COUNT(*) AS n ...`) counts.
async fn count(store: &SeaStore, sql: &str) -> anyhow::Result<i64> {
    let backend = store.connection().get_database_backend();
    let row = store
        .connection()
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row from {sql}"))?;
    Ok(row.try_get("", "n")?)
}

/// The update of `doc`'s client that adds `text` after what it already made, without what
/// came before: stored alone, it depends on content no row holds.
fn dependent_edit(doc: &Doc, text: &str) -> Vec<u8> {
    edit(doc, "first");
    let before = doc.transact().state_vector();
    edit(doc, text);
    doc.transact().encode_state_as_update_v1(&before)
}

/// A log row whose document does not exist. The foreign key forbids it; it is written the
/// ways it can happen: on SQLite by a connection that does not enforce foreign keys (the
/// `sqlite3` shell's default), on PostgreSQL with triggers (and so the key) switched off.
async fn insert_orphan(store: &SeaStore, url: &str) -> anyhow::Result<()> {
    let sql = "INSERT INTO document_updates (document_id, data, created_at) \
               SELECT 999999, data, created_at FROM document_updates LIMIT 1";
    match store.connection().get_database_backend() {
        DatabaseBackend::Postgres => {
            let txn = sea_orm::TransactionTrait::begin(store.connection()).await?;
            txn.execute_unprepared("SET LOCAL session_replication_role = replica")
                .await?;
            txn.execute_unprepared(sql).await?;
            txn.commit().await?;
        }
        _ => {
            let mut options = sea_orm::ConnectOptions::new(url.to_owned());
            options
                .max_connections(1)
                .map_sqlx_sqlite_opts(|o| o.foreign_keys(false));
            let unchecked = sea_orm::Database::connect(options).await?;
            unchecked.execute_unprepared(sql).await?;
            unchecked.close().await?;
        }
    }
    Ok(())
}

mod cases {
    use super::*;

    pub async fn a_cut_reads_every_document_as_a_load_does(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let (a, b) = (Doc::new(), Doc::new());
        store.append(&[update("a/one", edit(&a, "x"))]).await?;
        store.append(&[update("b/été ✓", edit(&b, "y"))]).await?;
        let folded = store.append(&[update("a/one", edit(&a, "z"))]).await?[0];
        store.compact("a/one").await?;
        let last = store.append(&[update("a/one", edit(&a, "w"))]).await?[0];

        let reader = SeaStore::open_existing(&url).await?;
        let cut = reader.cut().await?;
        assert_eq!(cut.position().await?, last);
        let listed = cut.documents().await?;
        let names: Vec<String> = listed.iter().filter_map(|l| l.name.clone().ok()).collect();
        assert_eq!(names, ["a/one", "b/été ✓"]);
        assert!(listed.iter().all(|l| l.snapshot_format == Some(1)));
        for name in &names {
            let doc = cut.read(name).await?.expect("listed, so readable");
            assert_eq!(Some(&doc.stored), store.load(name).await?.as_ref());
        }
        let a_doc = cut.read("a/one").await?.expect("exists");
        assert_eq!(a_doc.last_seq, last);
        assert_eq!(a_doc.stored.snapshot_seq, folded);
        assert!(cut.read("missing").await?.is_none());
        assert!(cut.orphans().await?.is_empty());
        cut.finish().await?;
        Ok(())
    }

    pub async fn a_cut_does_not_see_what_commits_after_it_began(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let doc = Doc::new();
        store.append(&[update("d", edit(&doc, "before"))]).await?;
        let reader = SeaStore::open_existing(&url).await?;
        let cut = reader.cut().await?;
        // The first read fixes the cut's view (SQLite begins its snapshot there).
        let position = cut.position().await?;
        store.append(&[update("d", edit(&doc, "after"))]).await?;
        store
            .append(&[update("new", edit(&Doc::new(), "x"))])
            .await?;
        store.compact("d").await?;
        assert_eq!(cut.position().await?, position);
        assert_eq!(cut.documents().await?.len(), 1);
        let seen = cut.read("d").await?.expect("exists");
        assert_eq!(
            (seen.stored.snapshot_seq, seen.stored.updates.len()),
            (0, 1)
        );
        cut.finish().await?;
        Ok(())
    }

    pub async fn a_healthy_database_has_no_problems(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let doc = Doc::new();
        for text in ["a", "b", "c"] {
            store.append(&[update("n/ü", edit(&doc, text))]).await?;
        }
        store.compact("n/ü").await?;
        store.append(&[update("n/ü", edit(&doc, "d"))]).await?;
        store
            .append(&[update("other", edit(&Doc::new(), "e"))])
            .await?;
        let report = check(&SeaStore::open_existing(&url).await?).await?;
        assert_eq!(report.problems, []);
        assert_eq!((report.documents, report.rows, report.snapshots), (2, 2, 1));
        assert_eq!(report.quarantined, 0);

        // A bad row a compaction moved to quarantine is out of the way: counted, no problem.
        store.append(&[update("other", vec![0xde, 0xad])]).await?;
        store.compact("other").await?;
        let report = check(&SeaStore::open_existing(&url).await?).await?;
        assert_eq!(report.problems, []);
        assert_eq!(
            (report.documents, report.snapshots, report.quarantined),
            (2, 2, 1)
        );
        Ok(())
    }

    pub async fn check_reports_each_problem_and_moves_nothing(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        // A garbage row, and one that depends on content no row holds.
        let rows = Doc::new();
        store.append(&[update("rows", edit(&rows, "fine"))]).await?;
        let garbage = store
            .append(&[update("rows", vec![0xde, 0xad, 0xbe, 0xef])])
            .await?[0];
        let incomplete = store
            .append(&[update("rows", dependent_edit(&Doc::new(), "later"))])
            .await?[0];
        // A snapshot that does not decode, then one row after it.
        let snap = Doc::new();
        store.append(&[update("snap", edit(&snap, "x"))]).await?;
        store.compact("snap").await?;
        exec(
            &store,
            "UPDATE documents SET snapshot = $1 WHERE name = $2",
            vec![vec![7u8, 7, 7].into(), "snap".into()],
        )
        .await?;
        // A snapshot position without a snapshot, of an unknown format, and a row below it.
        let gone = Doc::new();
        let shadowed = store.append(&[update("gone", edit(&gone, "x"))]).await?[0];
        let snapshot_seq = store.append(&[update("gone", edit(&gone, "y"))]).await?[0];
        store.compact("gone").await?;
        exec(
            &store,
            "UPDATE documents SET snapshot = NULL, snapshot_format = 2 WHERE name = $1",
            vec!["gone".into()],
        )
        .await?;
        exec(
            &store,
            "INSERT INTO document_updates (seq, document_id, data, created_at) \
             SELECT $1, id, $2, created_at FROM documents WHERE name = 'gone'",
            vec![shadowed.into(), edit(&gone, "z").into()],
        )
        .await?;
        insert_orphan(&store, &url).await?;
        let rows_before = count(&store, "SELECT COUNT(*) AS n FROM document_updates").await?;

        let report = check(&SeaStore::open_existing(&url).await?).await?;
        let found: Vec<(Option<&str>, &Problem)> = report
            .problems
            .iter()
            .map(|f| (f.doc.as_deref(), &f.problem))
            .collect();
        assert!(
            matches!(found[..], [
                (Some("rows"), Problem::Row { seq: s1, .. }),
                (Some("rows"), Problem::Incomplete { seq: s2 }),
                (Some("snap"), Problem::Snapshot { .. }),
                (Some("gone"), Problem::SnapshotFormat { format: Some(2) }),
                (Some("gone"), Problem::MissingSnapshot { seq: s3 }),
                (Some("gone"), Problem::Shadowed { seq: s4, snapshot_seq: s5 }),
                (None, Problem::Orphan { document_id: Some(999999), .. }),
            ] if *s1 == garbage && *s2 == incomplete && *s3 == snapshot_seq
                && *s4 == shadowed && *s5 == snapshot_seq),
            "{found:#?}"
        );
        assert_eq!(report.documents_with_problems(), 3);
        let line = report.problems[0].to_string();
        assert!(
            line.starts_with(&format!("\"rows\": row {garbage} is refused: ")),
            "{line}"
        );
        // Read-only: every row is still where it was, nothing went to quarantine.
        assert_eq!(
            count(&store, "SELECT COUNT(*) AS n FROM document_updates").await?,
            rows_before
        );
        assert_eq!(
            count(&store, "SELECT COUNT(*) AS n FROM quarantined_updates").await?,
            0
        );
        Ok(())
    }

    pub async fn a_database_without_plait_tables_is_refused_and_left_alone(
        url: String,
    ) -> anyhow::Result<()> {
        // No Plait table yet: `url` names a fresh, empty database (an empty file on SQLite).
        let backend = if url.starts_with("postgres") {
            let db = sea_orm::Database::connect(&url).await?;
            db.close().await?;
            DatabaseBackend::Postgres
        } else {
            let path = url.trim_start_matches("sqlite://");
            let path = path.split('?').next().unwrap_or(path);
            std::fs::File::create(path)?;
            DatabaseBackend::Sqlite
        };
        let refused = SeaStore::open_existing(&url).await;
        assert!(
            matches!(refused, Err(OpenError::NotPlait)),
            "{:?}",
            refused.err()
        );
        // Still empty: not even the migrations' table was created.
        let db = sea_orm::Database::connect(&url).await?;
        let tables = match backend {
            DatabaseBackend::Postgres => {
                "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public'"
            }
            _ => "SELECT COUNT(*) AS n FROM sqlite_master",
        };
        let row = db
            .query_one_raw(Statement::from_string(backend, tables))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no count"))?;
        assert_eq!(row.try_get::<i64>("", "n")?, 0);
        db.close().await?;
        Ok(())
    }
}

on_both_backends!(
    a_cut_reads_every_document_as_a_load_does,
    a_cut_does_not_see_what_commits_after_it_began,
    a_healthy_database_has_no_problems,
    check_reports_each_problem_and_moves_nothing,
    a_database_without_plait_tables_is_refused_and_left_alone,
);

/// SQLite keeps any value in any column: a document whose name is not text cannot be read or
/// served, and the check says which (PostgreSQL's types forbid it).
#[tokio::test]
async fn sqlite_a_name_that_is_not_text_is_reported() -> anyhow::Result<()> {
    let file = common::SqliteFile::new()?;
    let store = SeaStore::connect(&file.url()).await?;
    store
        .append(&[update("fine", edit(&Doc::new(), "x"))])
        .await?;
    store
        .append(&[update("blob", edit(&Doc::new(), "y"))])
        .await?;
    store
        .connection()
        .execute_unprepared("UPDATE documents SET name = X'FF00' WHERE name = 'blob'")
        .await?;
    let report = check(&SeaStore::open_existing(&file.url()).await?).await?;
    assert!(
        matches!(
            &report.problems[..],
            [plait_storage::check::Found {
                doc: None,
                problem: Problem::UnreadableName { id: 2, .. }
            }]
        ),
        "{:?}",
        report.problems
    );
    assert_eq!(report.documents, 2);
    Ok(())
}

#[tokio::test]
async fn a_missing_sqlite_file_is_an_error_not_a_new_database() -> anyhow::Result<()> {
    let file = common::SqliteFile::new()?;
    let refused = SeaStore::open_existing(&file.url()).await;
    assert!(
        matches!(&refused, Err(OpenError::NoFile(path)) if *path == file.path()),
        "{:?}",
        refused.err()
    );
    assert!(!file.path().exists());
    Ok(())
}
