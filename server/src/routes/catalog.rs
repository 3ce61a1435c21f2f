//! The documents as a collection: `GET /api/docs` (the list, paged by name) and
//! `GET /api/search` (full text, with the database's own engine), both limited to what the
//! token's scope covers. Deleted documents are in neither.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use plait_storage::catalog::{Listed, SearchHit};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::scope::{page_limit, reader};
use super::{json_body, ErrorBody};
use crate::document::Render;
use crate::error::AppError;
use crate::projection::refresh::refresh;
use crate::state::AppState;

/// Documents per page of the list when the query names no limit, and the most it may name.
const LIST_LIMIT: u64 = 100;
const LIST_MAX: u64 = 1000;
/// Search results when the query names no limit, and the most it may name.
const SEARCH_LIMIT: u64 = 20;
const SEARCH_MAX: u64 = 100;

fn rfc3339(at: Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    at.map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// The query of `GET /api/docs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only names starting with this (within the token's `doc` scope).
    #[param(example = "team-a/")]
    prefix: Option<String>,
    /// Names after this one (a page's `next`); omitted: from the first.
    after: Option<String>,
    /// The most documents in the page: 1 to 1000; default 100.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

/// One document of the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedDocument {
    name: String,
    /// Bytes stored: the snapshot and the log rows after it.
    bytes: u64,
    snapshot_bytes: u64,
    log_bytes: u64,
    /// Log rows not yet folded into the snapshot.
    log_updates: u64,
    /// The log position the snapshot covers.
    snapshot_seq: i64,
    /// The highest log position written for it.
    last_seq: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    created_at: Option<String>,
    /// When it was last written (RFC 3339).
    #[schema(value_type = Option<String>, format = DateTime)]
    updated_at: Option<String>,
}

impl From<Listed> for ListedDocument {
    fn from(l: Listed) -> Self {
        ListedDocument {
            name: l.doc,
            bytes: l.bytes,
            snapshot_bytes: l.snapshot_bytes,
            log_bytes: l.log_bytes,
            log_updates: l.log_updates,
            snapshot_seq: l.snapshot_seq,
            last_seq: l.last_seq,
            created_at: rfc3339(l.created_at),
            updated_at: rfc3339(l.updated_at),
        }
    }
}

/// A page of the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentList {
    /// In name order.
    documents: Vec<ListedDocument>,
    /// The `after` of the next page; null on the last.
    next: Option<String>,
}

/// `GET /api/docs?prefix=&after=&limit=`.
#[utoipa::path(
    get,
    path = "/api/docs",
    operation_id = "listDocuments",
    tag = "documents",
    summary = "List documents, with their figures",
    description = "The documents the token covers (all without authentication), in name order, \
        a page at a time: pass a page's `next` as `after` for the next one. Deleted documents \
        are not listed.",
    params(ListQuery),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "A page of documents", body = DocumentList),
        (status = 400, description = "An invalid limit", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 501, description = "The `memory:` database keeps no list", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    let limit = page_limit(query.limit.as_deref(), LIST_LIMIT, LIST_MAX)?;
    let reader = reader(&state, &headers, &uri, query.prefix)?;
    let catalog = state.catalog()?;
    let listed = match &reader.names {
        Some(names) => catalog.list(names, query.after.as_deref(), limit).await?,
        None => Vec::new(),
    };
    let next = (listed.len() as u64 == limit)
        .then(|| listed.last().map(|l| l.doc.clone()))
        .flatten();
    let body = DocumentList {
        documents: listed.into_iter().map(ListedDocument::from).collect(),
        next,
    };
    Ok(json_body(&body).into_response())
}

/// The query of `GET /api/search`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words to find: a document matches when its text holds every one (any case; punctuation
    /// and operators are ignored).
    #[param(example = "roadmap caching")]
    q: Option<String>,
    /// Only names starting with this (within the token's `doc` scope).
    #[param(example = "team-a/")]
    prefix: Option<String>,
    /// The most results: 1 to 100; default 20.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// One document the search found.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResult {
    name: String,
    /// Text around the matches, each match between `**` and `**` (plain text, not HTML).
    snippet: String,
    /// The log position the searched text reflects.
    seq: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    updated_at: Option<String>,
}

impl From<SearchHit> for SearchResult {
    fn from(h: SearchHit) -> Self {
        SearchResult {
            name: h.doc,
            snippet: h.snippet,
            seq: h.seq,
            updated_at: rfc3339(h.updated_at),
        }
    }
}

/// The answer of a search.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    /// Best match first.
    results: Vec<SearchResult>,
}

/// `GET /api/search?q=&prefix=&limit=`.
#[utoipa::path(
    get,
    path = "/api/search",
    operation_id = "searchDocuments",
    tag = "documents",
    summary = "Search the documents' text",
    description = "Full-text search with the database's own engine (PostgreSQL `tsvector`, \
        SQLite FTS5) over the projection table: documents whose text holds every word of `q`, \
        best first, limited to what the token covers. Documents changed while no node held \
        them are rendered before the answer; one being edited is found within seconds of the \
        edit (a settle of 1 s, at most 5 s under continuous typing). The first 250 000 \
        characters of each document are indexed.",
    params(SearchQuery),
    security((), ("bearer" = []), ("token" = [])),
    responses(
        (status = 200, description = "The documents found", body = SearchResults),
        (status = 400, description = "No words in `q`, or an invalid limit", body = ErrorBody),
        (status = 401, description = "Authentication is on and the token is missing, malformed, not signed with the server's secret, expired or revoked", body = ErrorBody),
        (status = 501, description = "The `memory:` database keeps no search", body = ErrorBody),
        (status = 503, description = "The database is unavailable", body = ErrorBody),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    Query(query): Query<SearchQuery>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AppError> {
    let limit = page_limit(query.limit.as_deref(), SEARCH_LIMIT, SEARCH_MAX)?;
    let q = query.q.unwrap_or_default();
    if plait_storage::catalog::query_words(&q).is_empty() {
        return Err(AppError::BadQuery(
            "the query `q` holds no words to search for".into(),
        ));
    }
    let reader = reader(&state, &headers, &uri, query.prefix)?;
    let catalog = state.catalog()?;
    refresh(&state, Render::Now).await?;
    let hits = match &reader.names {
        Some(names) => catalog.search(&q, names, limit).await?,
        None => Vec::new(),
    };
    let body = SearchResults {
        results: hits.into_iter().map(SearchResult::from).collect(),
    };
    Ok(json_body(&body).into_response())
}
