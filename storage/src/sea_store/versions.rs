//! The versions' queries (see [`crate::history`]).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, QueryResult, Statement};

use super::projections::{optional_date, Sql};
use super::SeaStore;
use crate::error::StorageError;
use crate::history::{LogEntry, NewVersion, Version, VersionKind};
use crate::migration::m20261206_000008_history_retention::HISTORY_UPDATE;
use crate::store::Seq;

/// The columns a [`Version`] is read from.
const COLUMNS: &str = "v.id AS id, v.kind AS kind, v.name AS name, v.seq AS seq, \
    v.created_at AS created_at, v.created_by AS created_by, v.authors AS authors, \
    CAST(LENGTH(v.state) AS BIGINT) AS bytes";

impl SeaStore {
    pub(super) async fn cut_version(
        &self,
        doc: &str,
        version: &NewVersion,
    ) -> Result<Option<Version>, StorageError> {
        let authors = self.authors_since_version(doc, version.seq).await?;
        let mut sql = Sql::new(
            "INSERT INTO document_versions \
             (document_id, kind, name, seq, state, created_at, created_by, authors) SELECT id, ",
        );
        sql.bind(version.kind.as_str())
            .push(", ")
            .bind(version.name.clone())
            .push(", ")
            .bind(version.seq)
            .push(", ")
            .bind(version.state.clone())
            .push(", ")
            .bind(Utc::now())
            .push(", ")
            .bind(version.created_by.clone())
            .push(", ")
            .bind(authors)
            .push(" FROM documents WHERE name = ")
            .bind(doc.to_owned())
            .push(" RETURNING id");
        let Some(row) = self.db.query_one_raw(sql.build(self.backend())).await? else {
            return Ok(None);
        };
        let id: i64 = row.try_get("", "id")?;
        Ok(self.version_row(doc, id).await?.map(|(v, _)| v))
    }

    /// Who wrote `doc`'s update rows after its latest version at or before `seq`, up to `seq`
    /// (the history's and the log's): one JSON array, each author once, in order of first
    /// appearance; `None` if no row names an author.
    async fn authors_since_version(
        &self,
        doc: &str,
        seq: Seq,
    ) -> Result<Option<String>, StorageError> {
        let mut sql = Sql::new(
            "SELECT COALESCE(MAX(v.seq), 0) AS seq FROM document_versions v \
             JOIN documents d ON d.id = v.document_id WHERE d.name = ",
        );
        sql.bind(doc.to_owned()).push(" AND v.seq <= ").bind(seq);
        let previous: Seq = match self.db.query_one_raw(sql.build(self.backend())).await? {
            Some(row) => row.try_get("", "seq").unwrap_or(0),
            None => 0,
        };
        let mut sql = Sql::new("SELECT seq, authors FROM (");
        for (i, table) in ["document_history", "document_updates"].iter().enumerate() {
            if i > 0 {
                sql.push(" UNION ALL ");
            }
            sql.push(&format!(
                "SELECT u.seq AS seq, u.authors AS authors FROM {table} u \
                 JOIN documents d ON d.id = u.document_id WHERE d.name = "
            ))
            .bind(doc.to_owned())
            .push(" AND u.kind = 0 AND u.authors IS NOT NULL AND u.seq > ")
            .bind(previous)
            .push(" AND u.seq <= ")
            .bind(seq);
        }
        sql.push(") r ORDER BY seq");
        let rows = self.db.query_all_raw(sql.build(self.backend())).await?;
        let mut seen = Vec::<serde_json::Value>::new();
        for row in rows {
            let Ok(text) = row.try_get::<String>("", "authors") else {
                continue;
            };
            let Ok(serde_json::Value::Array(authors)) = serde_json::from_str(&text) else {
                continue;
            };
            for author in authors {
                if !seen.contains(&author) {
                    seen.push(author);
                }
            }
        }
        Ok((!seen.is_empty()).then(|| serde_json::Value::Array(seen).to_string()))
    }

    pub(super) async fn log_entries(
        &self,
        doc: &str,
        after: i64,
        limit: u64,
    ) -> Result<Vec<LogEntry>, StorageError> {
        // The rows compaction moved to the history, then the log's.
        let mut sql = Sql::new("SELECT seq, created_at, authors, bytes, kind FROM (");
        for (i, table) in ["document_history", "document_updates"].iter().enumerate() {
            if i > 0 {
                sql.push(" UNION ALL ");
            }
            sql.push(&format!(
                "SELECT u.seq AS seq, u.created_at AS created_at, u.authors AS authors, \
                 CAST(LENGTH(u.data) AS BIGINT) AS bytes, u.kind AS kind \
                 FROM {table} u JOIN documents d ON d.id = u.document_id WHERE d.name = "
            ))
            .bind(doc.to_owned())
            .push(" AND u.seq > ")
            .bind(after);
            if i == 0 {
                // Not the base: it is a whole state, not a row anyone wrote.
                sql.push(" AND u.kind = ").bind(HISTORY_UPDATE);
            }
        }
        sql.push(") r ORDER BY seq LIMIT ")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = self.db.query_all_raw(sql.build(self.backend())).await?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                Some(LogEntry {
                    seq: row.try_get("", "seq").ok()?,
                    at: optional_date(row, "created_at"),
                    authors: row.try_get("", "authors").ok().flatten(),
                    bytes: row
                        .try_get::<i64>("", "bytes")
                        .ok()
                        .and_then(|b| u64::try_from(b).ok())
                        .unwrap_or(0),
                    kind: row.try_get("", "kind").unwrap_or(0),
                })
            })
            .collect())
    }

    pub(super) async fn version_list(&self, doc: &str) -> Result<Vec<Version>, StorageError> {
        let mut sql = Sql::new(&format!(
            "SELECT {COLUMNS} FROM document_versions v JOIN documents d ON d.id = v.document_id \
             WHERE d.name = "
        ));
        sql.bind(doc.to_owned()).push(" ORDER BY v.id");
        let rows = self.db.query_all_raw(sql.build(self.backend())).await?;
        Ok(rows.iter().filter_map(version).collect())
    }

    pub(super) async fn version_row(
        &self,
        doc: &str,
        id: i64,
    ) -> Result<Option<(Version, Vec<u8>)>, StorageError> {
        let mut sql = Sql::new(&format!(
            "SELECT {COLUMNS}, v.state AS state FROM document_versions v \
             JOIN documents d ON d.id = v.document_id WHERE d.name = "
        ));
        sql.bind(doc.to_owned()).push(" AND v.id = ").bind(id);
        let Some(row) = self.db.query_one_raw(sql.build(self.backend())).await? else {
            return Ok(None);
        };
        let state: Vec<u8> = row.try_get("", "state")?;
        Ok(version(&row).map(|v| (v, state)))
    }

    pub(super) async fn delete_version_row(
        &self,
        doc: &str,
        id: i64,
    ) -> Result<bool, StorageError> {
        let mut sql = Sql::new(
            "DELETE FROM document_versions WHERE document_id = \
             (SELECT id FROM documents WHERE name = ",
        );
        sql.bind(doc.to_owned()).push(") AND id = ").bind(id);
        let result = self.db.execute_raw(sql.build(self.backend())).await?;
        Ok(result.rows_affected() > 0)
    }

    pub(super) async fn documents_due_for_version(
        &self,
        cut_before: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<String>, StorageError> {
        // Every served document with its dates, compared here: SQLite keeps dates as text in
        // more than one format (another program's INSERT), which SQL would compare as text.
        let rows = self
            .db
            .query_all_raw(Statement::from_string(
                self.backend(),
                "SELECT d.name AS name, d.created_at AS created_at, d.updated_at AS updated_at, \
                 (SELECT MAX(v.created_at) FROM document_versions v WHERE v.document_id = d.id) \
                   AS last_version \
                 FROM documents d WHERE d.deleted_at IS NULL ORDER BY d.id",
            ))
            .await?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(rows
            .iter()
            .filter(|row| {
                let updated = optional_date(row, "updated_at");
                match optional_date(row, "last_version") {
                    // Changed since its latest version, which is old enough.
                    Some(last) => last < cut_before && updated.is_some_and(|u| u > last),
                    // Never versioned: once it has been around for an interval.
                    None => optional_date(row, "created_at").is_some_and(|c| c < cut_before),
                }
            })
            .filter_map(|row| row.try_get::<String>("", "name").ok())
            .take(limit)
            .collect())
    }
}

fn version(row: &QueryResult) -> Option<Version> {
    Some(Version {
        id: row.try_get("", "id").ok()?,
        kind: VersionKind::parse(&row.try_get::<String>("", "kind").unwrap_or_default()),
        name: row.try_get("", "name").ok().flatten(),
        seq: row.try_get("", "seq").unwrap_or(0),
        created_at: optional_date(row, "created_at"),
        created_by: row.try_get("", "created_by").ok().flatten(),
        bytes: row
            .try_get::<i64>("", "bytes")
            .ok()
            .and_then(|b| u64::try_from(b).ok())
            .unwrap_or(0),
        authors: row.try_get("", "authors").ok().flatten(),
    })
}
