//! The OpenAPI 3.1 description of the HTTP API, served at `GET /api/openapi.json`.
//!
//! utoipa assembles it at compile time from the annotations next to each handler
//! (`#[utoipa::path]`) and from the handlers' own request and response types (`ToSchema`,
//! `IntoParams`); the webhook admin routes bring theirs with their router
//! (`webhooks::routes`, an `OpenApiRouter`). This module only lists the handlers, adds the
//! security schemes and serves the result. Its tests list the routes of the real router
//! ([`crate::app`]) and fail when one is not described, or is described with other methods.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::ErrorBody;

/// The handlers' descriptions, with everything that is not in one of them.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Plait",
        description = "A Yjs collaboration server: documents over WebSockets (y-websocket and \
            Hocuspocus), stored in SQL. Every route is here; errors are JSON `{\"error\": \
            \"...\"}` with the status, except where a response says plain text (refusals by the \
            HTTP layer itself: a body too large, a request that is not a WebSocket upgrade). \
            Document names with `/` are percent-encoded in the `/api/docs/{doc}` paths \
            (`team-a%2Fnotes`). With authentication on (`--auth-secret`), requests carry an \
            access token (`plait token`): `Authorization: Bearer`, or `?token=`."
    ),
    paths(
        crate::routes::websocket,
        crate::routes::hocuspocus::upgrade,
        crate::routes::hocuspocus::post_stateless,
        crate::routes::healthz,
        crate::routes::readyz,
        crate::routes::metrics::render,
        crate::routes::changes::list,
        crate::routes::changes::stream,
        crate::routes::docs::get_stats,
        crate::routes::docs::get_update,
        crate::routes::docs::post_update,
        crate::routes::content::get_json,
        crate::routes::content::put_json,
        crate::routes::catalog::list,
        crate::routes::catalog::search,
        crate::routes::trash::delete,
        crate::routes::trash::undelete,
        crate::routes::history::get,
        crate::routes::versions::list,
        crate::routes::versions::create,
        crate::routes::versions::get_update,
        crate::routes::versions::get_json,
        crate::routes::versions::restore,
        crate::routes::past::restore,
        crate::routes::versions::delete,
        crate::routes::revocations::revoke,
        json,
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "documents", description = "Read, write and message documents over HTTP"),
        (name = "websocket", description = "The WebSocket endpoints editors connect to"),
        (name = "history", description = "Versions of a document: list, cut, read, restore"),
        (name = "changes", description = "The change feed: every stored update, in commit order"),
        (name = "webhooks", description = "Webhook delivery, for operators (a `*` token)"),
        (name = "operations", description = "Health, readiness, metrics, revocations and this \
            description"),
    ),
)]
struct ApiDoc;

/// The access token, as `Authorization: Bearer` or `?token=`.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(
                "An access token (an HS256 JWT signed with the server's `--auth-secret`, e.g. \
                 from `plait token`) as `Authorization: Bearer <token>`. Its `doc` claim is the \
                 documents it covers (a name, or a prefix ending in `*`) and `mode` is `read` or \
                 `write`. Needed only when the server runs with an auth secret: without one, \
                 every request is accepted (the empty security requirement).",
            ))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "The same access token as the `token` query parameter, for clients that cannot \
                 set headers (a browser's WebSocket or EventSource). `Authorization` wins when \
                 both are sent.",
            ))),
        );
    }
}

/// The whole description: the handlers listed above and the webhook admin routes.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi().merge_from(crate::webhooks::routes().into_openapi())
}

/// `GET /api/openapi.json`: the description, built once.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "openapi",
    tag = "operations",
    summary = "This description of the API (OpenAPI 3.1)",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object,
        content_type = "application/json")),
)]
pub async fn json() -> impl IntoResponse {
    static BODY: OnceLock<String> = OnceLock::new();
    // Cannot fail: the description is plain data.
    let body = BODY.get_or_init(|| document().to_json().unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/json")], body.as_str())
}

#[cfg(test)]
mod tests;
