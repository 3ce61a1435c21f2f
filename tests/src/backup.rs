//! What the backup tests share: documents to move (names no file system takes as they are,
//! content of every kind, a snapshot and rows after it), their comparison, a fresh database of
//! either kind, and SHA-256 computed apart from the exporter's own code.

use std::collections::BTreeMap;

use anyhow::{ensure, Context, Result};
use bytes::Bytes;
use plait_storage::{DocStore, NewUpdate, SeaStore};
use yrs::types::xml::{XmlElementPrelim, XmlTextPrelim};
use yrs::{Doc, GetString, Map, ReadTxn, StateVector, Text, Transact, TransactionMut, XmlFragment};

use crate::db::{PgDatabase, SqliteFile};
use crate::ydoc;

/// Names that no file system takes as they are: `/`, `..`, spaces, `%`, non-ASCII.
pub const NAMES: [&str; 5] = [
    "plain",
    "team/notes/été ✓",
    "../../etc/passwd",
    "日本語/ノート 100%",
    "a/b/c/d/e/f",
];

/// A document's content and CRDT identity, for comparing two copies.
#[derive(Debug, PartialEq)]
pub struct Content {
    pub text: String,
    pub xml: String,
    pub map: BTreeMap<String, String>,
    pub state_vector: StateVector,
    pub snapshot: yrs::Snapshot,
}

/// `doc`'s content and identity.
pub fn content(doc: &Doc) -> Content {
    // Roots first: getting one may need a write transaction.
    let (text, map) = (ydoc::text(doc, "t"), ydoc::map(doc, "m"));
    let xml = doc.get_or_insert_xml_fragment("x");
    let txn = doc.transact();
    Content {
        text,
        xml: xml.get_string(&txn),
        map,
        state_vector: txn.state_vector(),
        snapshot: txn.snapshot(),
    }
}

/// Every document `url` holds, rebuilt the way the server rebuilds it.
pub async fn contents(url: &str, names: &[&str]) -> Result<BTreeMap<String, Content>> {
    let store = SeaStore::connect(url).await?;
    let mut all = BTreeMap::new();
    for name in names {
        let stored = store
            .load(name)
            .await?
            .with_context(|| format!("{name:?} is missing from {url}"))?;
        let rebuilt = stored.rebuild();
        ensure!(!rebuilt.has_rejects(), "{name:?}: {rebuilt:?}");
        all.insert(
            (*name).to_owned(),
            content(&ydoc::doc_from_update(&rebuilt.state)?),
        );
    }
    Ok(all)
}

/// The updates of two clients editing one document: text typed and partly deleted, an XML
/// paragraph, a map entry overwritten (a deletion in the delete set).
pub fn edits(seed: u64) -> Vec<Vec<u8>> {
    let (one, two) = (
        Doc::with_client_id(seed * 10 + 1),
        Doc::with_client_id(seed * 10 + 2),
    );
    // Roots are taken before any transaction: taking one opens a transaction of its own.
    let (text_one, text_two) = (one.get_or_insert_text("t"), two.get_or_insert_text("t"));
    let (xml, map_one, map_two) = (
        one.get_or_insert_xml_fragment("x"),
        one.get_or_insert_map("m"),
        two.get_or_insert_map("m"),
    );
    let mut updates = Vec::new();
    let mut step = |doc: &Doc, change: &dyn Fn(&mut TransactionMut)| {
        let before = doc.transact().state_vector();
        change(&mut doc.transact_mut());
        let update = doc.transact().encode_state_as_update_v1(&before);
        // Each client sees the other's edits, so later ones depend on earlier ones.
        for other in [&one, &two] {
            let _ = ydoc::apply(other, &update);
        }
        updates.push(update);
    };
    step(&one, &|txn| {
        text_one.insert(txn, 0, &format!("hello {seed} world"))
    });
    step(&two, &|txn| text_two.remove_range(txn, 0, 6));
    step(&one, &|txn| {
        let p = xml.insert(txn, 0, XmlElementPrelim::empty("p"));
        p.push_back(txn, XmlTextPrelim::new("paragraph"));
    });
    step(&two, &|txn| {
        map_two.insert(txn, "k", "first");
    });
    step(&one, &|txn| {
        map_one.insert(txn, "k", "second");
    });
    updates
}

/// Stores the [`NAMES`] documents in `url`: each with a compacted snapshot and log rows after
/// it, as a server leaves them.
pub async fn populate(url: &str) -> Result<()> {
    let store = SeaStore::connect(url).await?;
    for (seed, name) in NAMES.iter().enumerate() {
        let updates = edits(seed as u64);
        let (folded, rest) = updates.split_at(3);
        for data in folded {
            store.append(&[update(name, data)]).await?;
        }
        store.compact(name).await?;
        for data in rest {
            store.append(&[update(name, data)]).await?;
        }
    }
    Ok(())
}

/// One update of document `name`, to append.
pub fn update(name: &str, data: &[u8]) -> NewUpdate {
    NewUpdate {
        doc: name.to_owned(),
        data: Bytes::copy_from_slice(data),
        authors: None,
    }
}

/// A fresh database of either kind (dropped or removed with the value), for the tests run on
/// each.
pub enum FreshDb {
    Sqlite(SqliteFile),
    Postgres(PgDatabase),
}

impl FreshDb {
    /// A new PostgreSQL database if `postgres`, else a new SQLite file.
    pub async fn create(postgres: bool) -> Result<FreshDb> {
        Ok(if postgres {
            FreshDb::Postgres(PgDatabase::create().await?)
        } else {
            FreshDb::Sqlite(SqliteFile::new()?)
        })
    }

    /// Its URL.
    pub fn url(&self) -> Result<String> {
        match self {
            FreshDb::Sqlite(file) => Ok(file.url()),
            FreshDb::Postgres(db) => db.url(),
        }
    }
}

/// The SHA-256 of `bytes` in lowercase hex, as an export's manifest gives it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
