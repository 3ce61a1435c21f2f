//! What a request that reads many documents (the change feed, the list, search, a history) may
//! see: the query's name prefix within its token's `doc` scope, and how much at once: its page
//! limit.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, Uri};
use plait_storage::changes::NameFilter;
use tracing::info;

use crate::auth::{token_from_request, AuthError};
use crate::error::AppError;
use crate::state::AppState;

/// What the request may see: the query's prefix within the token's scope. `None` when the two
/// cannot overlap (the answer is then empty), and when the token expires.
/// The `limit` of a page: `default` when absent, at most `max` (more reads as `max`); 0 or not a
/// number is refused with the reason.
pub(crate) fn page_limit(text: Option<&str>, default: u64, max: u64) -> Result<u64, AppError> {
    let Some(text) = text else {
        return Ok(default);
    };
    match text.trim().parse::<u64>() {
        Ok(0) | Err(_) => Err(AppError::BadQuery(format!(
            "invalid limit {:?}: a number from 1 to {max}",
            text.chars().take(40).collect::<String>()
        ))),
        Ok(n) => Ok(n.min(max)),
    }
}

pub(crate) struct Reader {
    pub names: Option<NameFilter>,
    pub expires: Option<SystemTime>,
}

pub(crate) fn reader(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    prefix: Option<String>,
) -> Result<Reader, AppError> {
    let wanted = prefix.unwrap_or_default();
    // No document name holds a control character, and PostgreSQL refuses a NUL in text.
    if wanted.chars().any(char::is_control) {
        return Err(AppError::BadQuery(
            "the prefix holds a control character; no document name does".into(),
        ));
    }
    let Some(auth) = &state.auth else {
        return Ok(Reader {
            names: Some(NameFilter {
                prefix: wanted,
                exact: None,
            }),
            expires: None,
        });
    };
    let token = token_from_request(headers, uri.query()).ok_or(AuthError::Missing)?;
    let claims = auth
        .verify_claims(&token)
        .and_then(|claims| state.revocations.check_claims(&claims).map(|()| claims))
        .inspect_err(|e| {
            info!(reason = e.reason(), "change feed access refused");
        })?;
    let expires = UNIX_EPOCH.checked_add(Duration::from_secs(claims.exp));
    Ok(Reader {
        names: within_scope(&claims.doc, wanted),
        expires,
    })
}

/// The names both a token's scope and the query's prefix cover.
pub(super) fn within_scope(scope: &str, wanted: String) -> Option<NameFilter> {
    match scope.strip_suffix('*') {
        Some(allowed) if wanted.starts_with(allowed) => Some(NameFilter {
            prefix: wanted,
            exact: None,
        }),
        Some(allowed) if allowed.starts_with(&wanted) => Some(NameFilter {
            prefix: allowed.to_owned(),
            exact: None,
        }),
        Some(_) => None,
        None => scope.starts_with(&wanted).then(|| NameFilter {
            prefix: wanted,
            exact: Some(scope.to_owned()),
        }),
    }
}
