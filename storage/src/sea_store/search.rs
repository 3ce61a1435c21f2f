//! Full-text search over the projections and the list of documents (see [`crate::catalog`]).
//!
//! Search uses each database's own engine: PostgreSQL's `tsvector` (`simple` configuration,
//! `plainto_tsquery`, `ts_headline` for the snippet), SQLite's FTS5 (`snippet()`, ordered by its
//! `rank`). Either way the query is rebuilt from its words ([`query_words`]): every word must
//! occur, and no engine operator a user typed is read as one.

use sea_orm::{ConnectionTrait, DatabaseBackend, QueryResult};

use super::projections::{optional_date, Sql};
use super::SeaStore;
use crate::catalog::{query_words, Listed, SearchHit};
use crate::changes::NameFilter;
use crate::error::StorageError;
use crate::migration::m20261206_000006_documents_as_data::SEARCH_CHARS;
use crate::store::Seq;

impl SeaStore {
    pub(super) async fn search_projections(
        &self,
        query: &str,
        names: &NameFilter,
        limit: u64,
    ) -> Result<Vec<SearchHit>, StorageError> {
        let words = query_words(query);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut sql;
        match self.backend() {
            DatabaseBackend::Postgres => {
                sql = Sql::new(&format!(
                    "SELECT p.name AS name, p.seq AS seq, p.updated_at AS updated_at, \
                     ts_headline('simple', left(p.plain_text, {SEARCH_CHARS}), q, \
                       'MaxFragments=2, MaxWords=18, MinWords=6, StartSel=**, StopSel=**, \
                        FragmentDelimiter=\" … \"') AS snippet \
                     FROM document_projections p JOIN documents d ON d.id = p.document_id, \
                          plainto_tsquery('simple', "
                ));
                sql.bind(words.join(" "))
                    .push(") q WHERE p.search @@ q AND d.deleted_at IS NULL");
                sql.names("p.name", names)
                    .push(" ORDER BY ts_rank(p.search, q) DESC, p.name LIMIT ")
                    .bind(limit);
            }
            _ => {
                // Each word as an FTS5 string (quotes doubled): a phrase of one word, and
                // several phrases side by side must all match.
                let fts: Vec<String> = words
                    .iter()
                    .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
                    .collect();
                sql = Sql::new(
                    "SELECT p.name AS name, p.seq AS seq, p.updated_at AS updated_at, \
                     snippet(document_search, 0, '**', '**', ' … ', 16) AS snippet \
                     FROM document_search \
                     JOIN document_projections p ON p.document_id = document_search.rowid \
                     JOIN documents d ON d.id = p.document_id \
                     WHERE document_search MATCH ",
                );
                sql.bind(fts.join(" ")).push(" AND d.deleted_at IS NULL");
                sql.names("p.name", names)
                    .push(" ORDER BY document_search.rank, p.name LIMIT ")
                    .bind(limit);
            }
        }
        let rows = self.db.query_all_raw(sql.build(self.backend())).await?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                Some(SearchHit {
                    doc: row.try_get("", "name").ok()?,
                    snippet: row.try_get("", "snippet").unwrap_or_default(),
                    seq: row.try_get("", "seq").unwrap_or(0),
                    updated_at: optional_date(row, "updated_at"),
                })
            })
            .collect())
    }

    pub(super) async fn list_documents(
        &self,
        names: &NameFilter,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<Listed>, StorageError> {
        // The figures of each listed document come from the (document_id, seq) index: a page
        // costs one probe per document, whatever the size of the log.
        let mut sql = Sql::new(
            "SELECT d.name AS name, d.snapshot_seq AS snapshot_seq, \
             CAST(COALESCE(LENGTH(d.snapshot), 0) AS BIGINT) AS snapshot_bytes, \
             d.created_at AS created_at, d.updated_at AS updated_at, \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM document_updates u \
               WHERE u.document_id = d.id AND u.seq > d.snapshot_seq) AS log_updates, \
             (SELECT CAST(COALESCE(SUM(LENGTH(u.data)), 0) AS BIGINT) FROM document_updates u \
               WHERE u.document_id = d.id AND u.seq > d.snapshot_seq) AS log_bytes, \
             (SELECT MAX(u.seq) FROM document_updates u WHERE u.document_id = d.id) AS last_seq \
             FROM documents d WHERE d.deleted_at IS NULL",
        );
        sql.names("d.name", names);
        if let Some(after) = after {
            sql.push(" AND d.name > ").bind(after.to_owned());
        }
        sql.push(" ORDER BY d.name LIMIT ")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = self.db.query_all_raw(sql.build(self.backend())).await?;
        Ok(rows.iter().filter_map(listed).collect())
    }
}

fn listed(row: &QueryResult) -> Option<Listed> {
    let count = |column: &str| {
        row.try_get::<Option<i64>>("", column)
            .ok()
            .flatten()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0)
    };
    let snapshot_seq: Seq = row.try_get("", "snapshot_seq").unwrap_or(0);
    let last_row: Option<Seq> = row.try_get("", "last_seq").ok().flatten();
    let (snapshot_bytes, log_bytes) = (count("snapshot_bytes"), count("log_bytes"));
    Some(Listed {
        doc: row.try_get("", "name").ok()?,
        bytes: snapshot_bytes + log_bytes,
        snapshot_bytes,
        log_bytes,
        log_updates: count("log_updates"),
        snapshot_seq,
        last_seq: last_row.unwrap_or(0).max(snapshot_seq),
        created_at: optional_date(row, "created_at"),
        updated_at: optional_date(row, "updated_at"),
    })
}
