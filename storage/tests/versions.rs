//! `document_versions` on SQLite and PostgreSQL: versions are stored whole and read back,
//! listed oldest first without their state, deleted one at a time, survive a compaction of the
//! log, go with their document's purge, and a document is due for an automatic version only
//! when it changed since its latest one and that one is old enough.

mod common;

use chrono::{Duration, Utc};
use plait_storage::history::{History, NewVersion, VersionKind};
use plait_storage::{DocStore, NewUpdate, SeaStore};

fn update(doc: &str, client: u64, text: &str) -> NewUpdate {
    NewUpdate {
        doc: doc.to_owned(),
        data: plait_testkit::ydoc::text_update(client, "t", text).into(),
        authors: None,
    }
}

fn history(store: &SeaStore) -> &dyn History {
    store.history().expect("the SQL store keeps versions")
}

fn version(kind: VersionKind, name: Option<&str>, seq: i64, state: &[u8]) -> NewVersion {
    NewVersion {
        kind,
        name: name.map(str::to_owned),
        seq,
        state: state.to_vec(),
        created_by: Some("alice".into()),
    }
}

mod cases {
    use super::*;

    pub async fn rows_keep_their_authors(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let authors = r#"[{"sub":"alice","via":"ws"},{"sub":"bob","via":"hocuspocus"}]"#;
        let mut by_two = update("d", 1, "x");
        by_two.authors = Some(authors.into());
        let seqs = store.append(&[by_two, update("d", 2, "y")]).await?;
        let log = history(&store).log("d", 0, 10).await?;
        assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs);
        assert_eq!(log[0].authors.as_deref(), Some(authors));
        assert_eq!(log[1].authors, None, "not known");
        assert!(log[0].bytes > 0 && log[0].at.is_some() && log[0].kind == 0);
        assert_eq!(
            history(&store).log("d", seqs[0], 10).await?.len(),
            1,
            "after"
        );
        assert_eq!(history(&store).log("d", 0, 1).await?.len(), 1, "limit");
        Ok(())
    }

    pub async fn versions_are_kept_whole_apart_from_the_log(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let h = history(&store);
        let seq = store.append(&[update("d", 1, "first")]).await?[0];
        let state = store.load("d").await?.expect("written");
        let state = common::rebuilt(state).encode_state();
        let named = h
            .cut(
                "d",
                &version(VersionKind::Named, Some("before review"), seq, &state),
            )
            .await?
            .expect("the document exists");
        assert_eq!(named.kind, VersionKind::Named);
        assert_eq!(named.name.as_deref(), Some("before review"));
        assert_eq!((named.seq, named.bytes), (seq, state.len() as u64));
        assert_eq!(named.created_by.as_deref(), Some("alice"));
        assert!(named.created_at.is_some());
        assert!(h
            .cut("nobody", &version(VersionKind::Auto, None, 1, &state))
            .await?
            .is_none());

        store.append(&[update("d", 2, "second")]).await?;
        store.compact("d").await?;
        let auto = h
            .cut("d", &version(VersionKind::Auto, None, seq + 1, b"\x00\x00"))
            .await?
            .expect("cut");
        let listed = h.versions("d").await?;
        assert_eq!(
            listed.iter().map(|v| v.id).collect::<Vec<_>>(),
            [named.id, auto.id]
        );
        // The compaction did not touch the version: read back byte for byte.
        let (read, bytes) = h.version("d", named.id).await?.expect("kept");
        assert_eq!((read, bytes), (named.clone(), state));
        assert!(h.version("other", named.id).await?.is_none(), "by document");

        assert!(h.delete_version("d", auto.id).await?);
        assert!(!h.delete_version("d", auto.id).await?);
        assert_eq!(h.versions("d").await?.len(), 1);

        // The purge takes a deleted document's versions with it.
        let cat = store.catalog().expect("catalog");
        cat.delete("d").await?;
        cat.purge(Utc::now() + Duration::hours(1)).await?;
        store.append(&[update("d", 3, "reborn")]).await?;
        assert!(h.versions("d").await?.is_empty());
        Ok(())
    }

    pub async fn a_document_is_due_when_changed_since_an_old_enough_version(
        url: String,
    ) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let h = history(&store);
        store
            .append(&[update("a", 1, "x"), update("b", 2, "y")])
            .await?;
        let later = Utc::now() + Duration::hours(1);
        let earlier = Utc::now() - Duration::hours(1);
        let mut due = h.due_for_version(later, 10).await?;
        due.sort();
        assert_eq!(
            due,
            ["a", "b"],
            "never versioned, and around for the interval"
        );
        assert!(h.due_for_version(earlier, 10).await?.is_empty(), "too new");
        assert_eq!(h.due_for_version(later, 1).await?.len(), 1, "the limit");

        h.cut("a", &version(VersionKind::Auto, None, 1, b"\x00\x00"))
            .await?;
        // Versioned and unchanged since: not due, however old the version.
        assert_eq!(h.due_for_version(later, 10).await?, ["b"]);
        store.append(&[update("a", 3, "z")]).await?;
        let mut due = h.due_for_version(later, 10).await?;
        due.sort();
        assert_eq!(due, ["a", "b"], "changed since its version");
        Ok(())
    }
}

on_both_backends!(
    rows_keep_their_authors,
    versions_are_kept_whole_apart_from_the_log,
    a_document_is_due_when_changed_since_an_old_enough_version,
);
