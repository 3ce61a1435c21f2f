//! Documents as data on SQLite and PostgreSQL: the projection table (written only forward, by
//! several nodes at once, found stale when the log moves past it), search with each database's
//! engine, the list, and the trash (marker rows in the change feed, outbox events, refused
//! `plait_write`, purge).

mod common;

use plait_storage::catalog::{Catalog, Projection, Trashed};
use plait_storage::changes::{ChangeKind, NameFilter};
use plait_storage::{DocStore, NewUpdate, SeaStore};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::json;

fn update(doc: &str, client: u64, text: &str) -> NewUpdate {
    NewUpdate {
        doc: doc.to_owned(),
        data: plait_testkit::ydoc::text_update(client, "t", text).into(),
        authors: None,
    }
}

fn projection(doc: &str, seq: i64, text: &str) -> Projection {
    Projection {
        doc: doc.to_owned(),
        seq,
        content: json!({ "t": text }),
        text: text.to_owned(),
    }
}

fn catalog(store: &SeaStore) -> &dyn Catalog {
    store.catalog().expect("the SQL store keeps a catalog")
}

fn all() -> NameFilter {
    NameFilter::default()
}

mod cases {
    use super::*;

    pub async fn projections_move_forward_only_and_go_stale(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let cat = catalog(&store);
        let seqs = store
            .append(&[update("a", 1, "hello"), update("b", 2, "other")])
            .await?;
        assert_eq!(
            cat.stale_projections(None, 100).await?,
            ["a", "b"],
            "documents without a projection are stale, in name order"
        );
        // Pages: the sweep goes on after the documents it left to their tasks.
        assert_eq!(cat.stale_projections(None, 1).await?, ["a"]);
        assert_eq!(cat.stale_projections(Some("a"), 100).await?, ["b"]);
        assert!(cat.stale_projections(Some("b"), 100).await?.is_empty());

        assert!(
            cat.write_projection(&projection("a", seqs[0], "hello"))
                .await?
        );
        assert_eq!(cat.stale_projections(None, 100).await?, ["b"]);
        let read = cat.projection("a").await?.expect("written");
        assert_eq!(read, projection("a", seqs[0], "hello"));

        // The same content at the same position is not written again; an older one never.
        assert!(
            !cat.write_projection(&projection("a", seqs[0], "hello"))
                .await?
        );
        assert!(
            !cat.write_projection(&projection("a", seqs[0] - 1, "old"))
                .await?
        );
        assert_eq!(
            cat.projection("a").await?.map(|p| p.text),
            Some("hello".into())
        );
        // A document never written has no row to project onto.
        assert!(!cat.write_projection(&projection("nobody", 1, "x")).await?);

        // A row after the projection makes it stale again, until a later one is written.
        let later = store.append(&[update("a", 1, " world")]).await?;
        assert!(cat
            .stale_projections(None, 100)
            .await?
            .contains(&"a".to_owned()));
        assert!(
            cat.write_projection(&projection("a", later[0], "hello world"))
                .await?
        );
        assert!(!cat
            .stale_projections(None, 100)
            .await?
            .contains(&"a".to_owned()));
        // A compaction moves no content: still current.
        store.compact("a").await?;
        assert!(!cat
            .stale_projections(None, 100)
            .await?
            .contains(&"a".to_owned()));

        // An application reads the table with its own SQL; content is JSON to the database.
        let backend = store.connection().get_database_backend();
        let sql = match backend {
            DatabaseBackend::Postgres => "SELECT content->>'t' AS t FROM document_projections WHERE name = 'a'",
            _ => "SELECT json_extract(content, '$.t') AS t FROM document_projections WHERE name = 'a'",
        };
        let row = store
            .connection()
            .query_one_raw(Statement::from_string(backend, sql))
            .await?
            .expect("the row");
        assert_eq!(row.try_get::<String>("", "t")?, "hello world");
        Ok(())
    }

    pub async fn search_finds_every_word_within_the_names(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let cat = catalog(&store);
        let texts = [
            (
                "team-a/plan",
                "The quarterly roadmap mentions Kubernetes and caching",
            ),
            ("team-a/notes", "Notes about caching layers"),
            (
                "team-b/plan",
                "Roadmap for the café: croissants, caching nothing",
            ),
        ];
        for (i, (doc, text)) in texts.iter().enumerate() {
            let seq = store.append(&[update(doc, i as u64 + 1, text)]).await?[0];
            cat.write_projection(&projection(doc, seq, text)).await?;
        }
        let names = |hits: Vec<plait_storage::catalog::SearchHit>| {
            let mut names: Vec<String> = hits.into_iter().map(|h| h.doc).collect();
            names.sort();
            names
        };
        assert_eq!(
            names(cat.search("caching", &all(), 10).await?),
            ["team-a/notes", "team-a/plan", "team-b/plan"]
        );
        assert_eq!(
            names(cat.search("ROADMAP caching", &all(), 10).await?),
            ["team-a/plan", "team-b/plan"],
            "every word, any case"
        );
        let team_a = NameFilter {
            prefix: "team-a/".into(),
            exact: None,
        };
        assert_eq!(
            names(cat.search("roadmap", &team_a, 10).await?),
            ["team-a/plan"]
        );
        let hits = cat.search("kubernetes", &all(), 10).await?;
        assert_eq!(hits.len(), 1);
        assert!(
            hits[0].snippet.contains("**Kubernetes**"),
            "the match is marked: {:?}",
            hits[0].snippet
        );
        // What a user types is words, never the engine's operators.
        for hostile in [
            r#""unbalanced"#,
            "a OR b",
            "NEAR(x y)",
            "-caching",
            "*",
            "caching:*",
        ] {
            cat.search(hostile, &all(), 10).await?;
        }
        // And any text at all: neither engine ever reads a query as its own syntax.
        let alphabet: Vec<char> = "\"'*:^-+()[]{}&|!~<>=,.;\\/%_ aZé日\u{0}\u{202e}OR AND NOT NEAR"
            .chars()
            .collect();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..300 {
            let mut query = String::new();
            for _ in 0..(seed % 24) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                query.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            cat.search(&query, &all(), 10).await?;
        }
        assert!(cat.search("  ", &all(), 10).await?.is_empty());
        assert_eq!(
            cat.search("caching", &all(), 1).await?.len(),
            1,
            "the limit"
        );
        Ok(())
    }

    pub async fn list_pages_by_name_with_figures(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let cat = catalog(&store);
        for (i, doc) in ["x/1", "x/2", "x/3", "y/1"].iter().enumerate() {
            store
                .append(&[update(doc, i as u64 + 1, "some text")])
                .await?;
        }
        store.append(&[update("x/2", 9, "more")]).await?;
        let x = NameFilter {
            prefix: "x/".into(),
            exact: None,
        };
        let first = cat.list(&x, None, 2).await?;
        assert_eq!(
            first.iter().map(|l| l.doc.as_str()).collect::<Vec<_>>(),
            ["x/1", "x/2"]
        );
        assert_eq!(first[1].log_updates, 2);
        assert!(first[1].log_bytes > 0 && first[1].bytes == first[1].log_bytes);
        assert!(first[1].last_seq > first[0].last_seq);
        assert!(first[0].created_at.is_some() && first[0].updated_at.is_some());
        let rest = cat.list(&x, Some("x/2"), 2).await?;
        assert_eq!(
            rest.iter().map(|l| l.doc.as_str()).collect::<Vec<_>>(),
            ["x/3"]
        );
        store.compact("x/2").await?;
        let compacted = cat.list(&x, Some("x/1"), 1).await?;
        assert_eq!(compacted[0].log_updates, 0);
        assert!(
            compacted[0].snapshot_bytes > 0 && compacted[0].bytes == compacted[0].snapshot_bytes
        );
        Ok(())
    }

    pub async fn trash_hides_marks_the_feed_and_purges(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        let cat = catalog(&store);
        let seq = store.append(&[update("gone", 1, "secret plans")]).await?[0];
        store.append(&[update("kept", 2, "secret too")]).await?;
        cat.write_projection(&projection("gone", seq, "secret plans"))
            .await?;

        let Trashed::Done {
            seq: deleted_seq,
            deleted_at: Some(_),
        } = cat.delete("gone").await?
        else {
            panic!("the first deletion deletes");
        };
        assert!(deleted_seq > seq);
        assert!(matches!(
            cat.delete("gone").await?,
            Trashed::Unchanged {
                deleted_at: Some(_)
            }
        ));
        assert_eq!(cat.delete("never").await?, Trashed::NotFound);
        // Gone from the projection, search and the list; the load says deleted.
        assert_eq!(cat.projection("gone").await?, None);
        assert!(cat
            .search("secret", &all(), 10)
            .await?
            .iter()
            .all(|h| h.doc != "gone"));
        assert!(cat
            .list(&all(), None, 10)
            .await?
            .iter()
            .all(|l| l.doc != "gone"));
        assert!(!cat
            .stale_projections(None, 10)
            .await?
            .contains(&"gone".to_owned()));
        assert!(
            !cat.write_projection(&projection("gone", deleted_seq, "x"))
                .await?
        );
        let stored = store.load("gone").await?.expect("kept in the trash");
        assert!(stored.deleted_at.is_some());
        assert_eq!(
            common::text_of(common::rebuilt(stored).doc()),
            "secret plans"
        );

        // The feed shows the deletion at its position; the outbox has the event.
        let log = store.change_log().expect("a feed");
        let kinds: Vec<(String, ChangeKind)> = log
            .changes(seq, 100, &all())
            .await?
            .into_iter()
            .map(|c| (c.doc, c.kind))
            .collect();
        assert!(
            kinds.contains(&("gone".into(), ChangeKind::Delete)),
            "{kinds:?}"
        );
        let events = outbox_kinds(&store, "gone").await?;
        assert!(
            events.contains(&"document.deleted".to_owned()),
            "{events:?}"
        );
        assert_eq!(
            events.iter().filter(|k| *k == "document.changed").count(),
            1
        );

        let Trashed::Done {
            seq: back,
            deleted_at: None,
        } = cat.undelete("gone").await?
        else {
            panic!("undeleted");
        };
        assert!(back > deleted_seq);
        assert!(matches!(
            cat.undelete("gone").await?,
            Trashed::Unchanged { deleted_at: None }
        ));
        assert!(cat
            .stale_projections(None, 10)
            .await?
            .contains(&"gone".to_owned()));
        assert!(outbox_kinds(&store, "gone")
            .await?
            .contains(&"document.undeleted".to_owned()));
        let after = log.changes(deleted_seq, 100, &all()).await?;
        assert!(after
            .iter()
            .any(|c| c.doc == "gone" && c.kind == ChangeKind::Undelete));

        // A compaction folds the updates but keeps the markers: the feed still tells a consumer
        // from before the deletion that it happened, then gives the snapshot.
        store.append(&[update("gone", 7, "again")]).await?;
        store.compact("gone").await?;
        let kinds: Vec<ChangeKind> = log
            .changes(0, 100, &all())
            .await?
            .into_iter()
            .filter(|c| c.doc == "gone")
            .map(|c| c.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                ChangeKind::Delete,
                ChangeKind::Undelete,
                ChangeKind::Snapshot
            ]
        );
        let state = common::rebuilt(store.load("gone").await?.expect("kept"));
        let text = common::text_of(state.doc());
        assert!(
            text.contains("secret plans") && text.contains("again"),
            "{text}"
        );

        // Purge: only what is deleted and older than the cutoff. A compaction leaves the trash
        // as it is.
        cat.delete("gone").await?;
        let before = store.load("gone").await?.expect("in the trash");
        store.compact("gone").await?;
        let after_compaction = store.load("gone").await?.expect("in the trash");
        assert_eq!(
            after_compaction.updates, before.updates,
            "nothing folded in the trash"
        );
        let past = chrono::Utc::now() - chrono::Duration::hours(1);
        assert!(cat.purge(past).await?.is_empty(), "deleted moments ago");
        let future = chrono::Utc::now() + chrono::Duration::hours(1);
        assert_eq!(cat.purge(future).await?, ["gone"]);
        assert!(store.load("gone").await?.is_none());
        assert!(store.load("kept").await?.is_some());
        assert_eq!(cat.undelete("gone").await?, Trashed::NotFound);
        Ok(())
    }

    pub async fn plait_write_refuses_a_deleted_document(url: String) -> anyhow::Result<()> {
        let store = SeaStore::connect(&url).await?;
        if store.connection().get_database_backend() != DatabaseBackend::Postgres {
            return Ok(()); // plait_write is PostgreSQL's
        }
        let cat = catalog(&store);
        store.append(&[update("d", 1, "x")]).await?;
        cat.delete("d").await?;
        let refused = store
            .connection()
            .execute_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                "SELECT plait_write('d', '\\x0000'::bytea)",
            ))
            .await;
        let error = refused.expect_err("refused").to_string();
        assert!(error.contains("is deleted"), "{error}");
        Ok(())
    }

    /// Three nodes render the same new documents at once (they all received the same updates),
    /// so each document's first projection is written three times concurrently: every write
    /// succeeds, and the row is there. On PostgreSQL a loser of that race was refused by the
    /// name's unique index (`ON CONFLICT` settles the primary key only), which the projector
    /// took for an outage.
    pub async fn first_projections_written_by_several_nodes_at_once(
        url: String,
    ) -> anyhow::Result<()> {
        let nodes = [
            std::sync::Arc::new(SeaStore::connect(&url).await?),
            std::sync::Arc::new(SeaStore::connect(&url).await?),
            std::sync::Arc::new(SeaStore::connect(&url).await?),
        ];
        for round in 0..10 {
            let docs: Vec<String> = (0..20).map(|i| format!("race-{round}-{i}")).collect();
            let updates: Vec<NewUpdate> = docs.iter().map(|d| update(d, 1, "x")).collect();
            let seqs = nodes[0].append(&updates).await?;
            let mut writes = tokio::task::JoinSet::new();
            for (doc, seq) in docs.iter().zip(&seqs) {
                for node in &nodes {
                    let (node, row) = (node.clone(), projection(doc, *seq, "x"));
                    writes.spawn(async move {
                        let written = catalog(&node).write_projection(&row).await;
                        written.map_err(|error| format!("{}: {error}", row.doc))
                    });
                }
            }
            while let Some(written) = writes.join_next().await {
                if let Err(error) = written? {
                    panic!("round {round}: {error}");
                }
            }
            for doc in &docs {
                assert!(catalog(&nodes[1]).projection(doc).await?.is_some(), "{doc}");
            }
        }
        Ok(())
    }
}

async fn outbox_kinds(store: &SeaStore, doc: &str) -> anyhow::Result<Vec<String>> {
    let backend = store.connection().get_database_backend();
    let rows = store
        .connection()
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            "SELECT kind FROM webhook_outbox WHERE doc_name = $1 ORDER BY id",
            [doc.into()],
        ))
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| r.try_get::<String>("", "kind").ok())
        .collect())
}

on_both_backends!(
    projections_move_forward_only_and_go_stale,
    first_projections_written_by_several_nodes_at_once,
    search_finds_every_word_within_the_names,
    list_pages_by_name_with_figures,
    trash_hides_marks_the_feed_and_purges,
    plait_write_refuses_a_deleted_document,
);
