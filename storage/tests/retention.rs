//! History kept past compaction and pruned past the retention window, on SQLite and
//! PostgreSQL: a compaction moves the rows it folds to `document_history` (the log keeps nothing
//! at or below the snapshot), the history still lists them with their authors, the document is
//! rebuilt as it was at every position, a prune folds the old rows into a base and deletes the
//! automatic versions (named ones stay), table sizes drop, and positions below the base answer
//! `Gone` unless a version was cut exactly there.

mod common;

use chrono::{Duration, SubsecRound, Utc};
use plait_storage::history::{At, History, NewVersion, Past, VersionKind};
use plait_storage::{DocStore, NewUpdate, SeaStore, StoredDoc};
use sea_orm::{ConnectionTrait, Statement};
use yrs::Doc;

fn history(store: &SeaStore) -> &dyn History {
    store.history().expect("the SQL store keeps history")
}

/// Appends `texts` to document `d` one row each (authored by `author-i`); returns each row's
/// position and the text after it.
async fn write(store: &SeaStore, doc: &Doc, texts: &[&str]) -> anyhow::Result<Vec<(i64, String)>> {
    let mut seen = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let update = NewUpdate {
            doc: "d".to_owned(),
            data: common::edit(doc, text).into(),
            authors: Some(format!(r#"[{{"sub":"author-{i}","via":"ws"}}]"#).into()),
        };
        let seq = store.append(&[update]).await?[0];
        seen.push((seq, common::text_of(doc)));
    }
    Ok(seen)
}

/// The text of `d` as `past` rebuilds it at `at`; `None` if the point is gone.
async fn text_at(store: &SeaStore, at: At) -> anyhow::Result<Option<String>> {
    match history(store).past("d", at).await? {
        Some(Past::State {
            base,
            base_seq,
            rows,
            ..
        }) => {
            let stored = StoredDoc::from_base(base, base_seq, rows);
            let doc = common::rebuilt(stored);
            let encoded = doc.encode_state();
            let rebuilt = plait_testkit::ydoc::doc_from_update(&encoded)?;
            Ok(Some(common::text_of(&rebuilt)))
        }
        Some(Past::Gone { .. }) => Ok(None),
        other => anyhow::bail!("unexpected {other:?}"),
    }
}

async fn count(store: &SeaStore, sql: &str) -> anyhow::Result<i64> {
    let db = store.connection();
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .expect("a count");
    Ok(row.try_get("", "n")?)
}

mod cases {
    use super::*;

    pub async fn compaction_keeps_the_rows_as_history(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let doc = Doc::new();
        let seen = write(&store, &doc, &["a", "b", "c", "d"]).await?;
        store.compact("d").await?;
        let log_rows = count(&store, "SELECT COUNT(*) AS n FROM document_updates").await?;
        assert_eq!(
            log_rows, 0,
            "the log keeps nothing at or below the snapshot"
        );
        let later = write(&store, &doc, &["e"]).await?;

        let listed = history(&store).log("d", 0, 100).await?;
        let seqs: Vec<i64> = listed.iter().map(|e| e.seq).collect();
        let expected: Vec<i64> = seen.iter().chain(&later).map(|(s, _)| *s).collect();
        assert_eq!(seqs, expected, "compacted rows and the log's, in order");
        assert_eq!(
            listed[1].authors.as_deref(),
            Some(r#"[{"sub":"author-1","via":"ws"}]"#),
            "a compacted row keeps its author"
        );
        for (seq, text) in seen.iter().chain(&later) {
            assert_eq!(
                text_at(&store, At::Position(*seq)).await?.as_deref(),
                Some(text.as_str())
            );
        }
        assert_eq!(text_at(&store, At::Position(0)).await?.as_deref(), Some(""));
        let future = Utc::now() + Duration::hours(1);
        assert_eq!(
            text_at(&store, At::Time(future)).await?.as_deref(),
            Some("abcde")
        );
        let past = Utc::now() - Duration::hours(1);
        assert_eq!(
            text_at(&store, At::Time(past)).await?.as_deref(),
            Some(""),
            "before it was written"
        );

        // The time the history shows for a row (to the millisecond) includes that row, and
        // every other row stored within that millisecond.
        let texts: Vec<&(i64, String)> = seen.iter().chain(&later).collect();
        for entry in &listed {
            let shown = entry.at.expect("a time").trunc_subsecs(3);
            let last_by_then = listed
                .iter()
                .filter(|e| e.at.expect("a time").trunc_subsecs(3) <= shown)
                .map(|e| e.seq)
                .max()
                .expect("this row at least");
            assert!(last_by_then >= entry.seq);
            let expected = texts
                .iter()
                .find(|(s, _)| *s == last_by_then)
                .expect("a row");
            assert_eq!(
                text_at(&store, At::Time(shown)).await?.as_deref(),
                Some(expected.1.as_str()),
                "at the time of row {}",
                entry.seq
            );
        }

        // A second compaction moves the next rows; the first ones stay.
        store.compact("d").await?;
        assert_eq!(history(&store).log("d", 0, 100).await?.len(), 5);
        assert_eq!(
            text_at(&store, At::Position(seen[1].0)).await?.as_deref(),
            Some("ab")
        );
        Ok(())
    }

    pub async fn a_prune_folds_old_rows_and_automatic_versions(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let h = history(&store);
        let doc = Doc::new();
        let seen = write(&store, &doc, &["a", "b", "c"]).await?;
        let state = common::rebuilt(store.load("d").await?.expect("written")).encode_state();
        let version = |kind, name: Option<&str>| NewVersion {
            kind,
            name: name.map(str::to_owned),
            seq: seen[2].0,
            state: state.clone(),
            created_by: None,
        };
        h.cut("d", &version(VersionKind::Named, Some("keep me")))
            .await?;
        h.cut("d", &version(VersionKind::Auto, None)).await?;
        h.cut("d", &version(VersionKind::Restore, None)).await?;
        store.compact("d").await?;
        let recent = write(&store, &doc, &["d"]).await?;
        let history_bytes =
            "SELECT CAST(COALESCE(SUM(LENGTH(data)), 0) AS BIGINT) AS n FROM document_history";
        let rows_before = count(&store, "SELECT COUNT(*) AS n FROM document_history").await?;
        assert_eq!(rows_before, 3);

        let mut due = h
            .due_for_pruning(Utc::now() - Duration::hours(1), 10)
            .await?;
        assert!(due.is_empty(), "nothing is that old: {due:?}");
        let everything = Utc::now() + Duration::seconds(1);
        due = h.due_for_pruning(everything, 10).await?;
        assert_eq!(due, ["d"]);
        let pruned = h.prune("d", everything).await?;
        assert_eq!((pruned.rows, pruned.versions), (3, 2));
        assert_eq!(
            count(&store, "SELECT COUNT(*) AS n FROM document_history").await?,
            1,
            "the base"
        );
        assert!(count(&store, history_bytes).await? > 0);
        let kinds: Vec<_> = h.versions("d").await?.into_iter().map(|v| v.kind).collect();
        assert_eq!(kinds, [VersionKind::Named], "named versions stay");
        assert!(h.due_for_pruning(everything, 10).await?.is_empty());

        // The base answers its own position and every later one; before it, only the named
        // version's position.
        assert_eq!(
            text_at(&store, At::Position(seen[0].0)).await?,
            None,
            "pruned"
        );
        assert_eq!(
            text_at(&store, At::Position(seen[2].0)).await?.as_deref(),
            Some("abc")
        );
        assert_eq!(
            text_at(&store, At::Position(recent[0].0)).await?.as_deref(),
            Some("abcd")
        );
        assert!(h.log("d", 0, 100).await?.iter().all(|e| e.seq > seen[2].0));

        // Later rows fold onto the base.
        store.compact("d").await?;
        h.prune("d", Utc::now() + Duration::seconds(1)).await?;
        assert_eq!(
            count(&store, "SELECT COUNT(*) AS n FROM document_history").await?,
            1
        );
        assert_eq!(
            text_at(&store, At::Position(recent[0].0)).await?.as_deref(),
            Some("abcd")
        );
        Ok(())
    }

    pub async fn retention_zero_keeps_only_the_current_state(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let doc = Doc::new();
        write(&store, &doc, &["a", "b"]).await?;
        store.compact("d").await?;
        assert_eq!(
            count(&store, "SELECT COUNT(*) AS n FROM document_history").await?,
            2
        );
        store.keep_history(false);
        let seen = write(&store, &doc, &["c"]).await?;
        store.compact("d").await?;
        assert_eq!(
            count(&store, "SELECT COUNT(*) AS n FROM document_history").await?,
            0
        );
        assert_eq!(
            text_at(&store, At::Position(seen[0].0)).await?.as_deref(),
            Some("abc")
        );
        assert_eq!(
            text_at(&store, At::Position(seen[0].0 - 1)).await?,
            None,
            "gone"
        );

        // History again from then on: the snapshot becomes the base at the next compaction.
        store.keep_history(true);
        let more = write(&store, &doc, &["d"]).await?;
        store.compact("d").await?;
        assert_eq!(
            text_at(&store, At::Position(seen[0].0)).await?.as_deref(),
            Some("abc")
        );
        assert_eq!(
            text_at(&store, At::Position(more[0].0)).await?.as_deref(),
            Some("abcd")
        );
        Ok(())
    }

    pub async fn versions_record_their_authors(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let h = history(&store);
        let doc = Doc::new();
        let first = write(&store, &doc, &["a", "b"]).await?;
        let version = |seq| NewVersion {
            kind: VersionKind::Auto,
            name: None,
            seq,
            state: vec![0, 0],
            created_by: None,
        };
        let v1 = h.cut("d", &version(first[1].0)).await?.expect("cut");
        store.compact("d").await?;
        let second = write(&store, &doc, &["c"]).await?;
        let v2 = h.cut("d", &version(second[0].0)).await?.expect("cut");
        assert_eq!(
            v1.authors.as_deref(),
            Some(r#"[{"sub":"author-0","via":"ws"},{"sub":"author-1","via":"ws"}]"#)
        );
        assert_eq!(
            v2.authors.as_deref(),
            Some(r#"[{"sub":"author-0","via":"ws"}]"#),
            "only the rows since the version before"
        );
        assert_eq!(h.versions("d").await?[0].authors, v1.authors);
        Ok(())
    }
}

on_both_backends!(
    compaction_keeps_the_rows_as_history,
    a_prune_folds_old_rows_and_automatic_versions,
    retention_zero_keeps_only_the_current_state,
    versions_record_their_authors,
);
