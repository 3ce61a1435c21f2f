//! The description covers the router exactly: every route of [`crate::app`] is described with
//! the methods it answers, and nothing else is; and it is served as OpenAPI 3.1.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{header, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use plait_storage::memory::MemoryStore;
use plait_storage::store::DocStore;
use plait_storage::writer::{Writer, WriterConfig};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use utoipa::openapi::path::PathItem;

use super::document;
use crate::config::Config;
use crate::error::AppError;
use crate::routes::ErrorBody;
use crate::state::AppState;

/// A server on the in-memory store, without authentication (as `plait --database-url memory:`).
fn state() -> AppState {
    let store: Arc<dyn DocStore> = Arc::new(MemoryStore::default());
    let writer = Writer::spawn(store.clone(), WriterConfig::default());
    let config = Config::for_tests(crate::MEMORY_URL);
    AppState::new(config, store, writer, None, CancellationToken::new())
}

/// The paths of every route of `router`, as axum spells them (`/ws/{*doc}`). axum has no API
/// to list them, but its `Debug` output names each as `RouteId(n): "/path"`; the test checks
/// that known routes are found, so a change of that format fails it rather than hiding routes.
fn routed_paths(router: &Router) -> BTreeSet<String> {
    let debug = format!("{router:?}");
    let mut paths = BTreeSet::new();
    for piece in debug.split("RouteId(").skip(1) {
        let Some((_, tail)) = piece.split_once(')') else {
            continue;
        };
        if let Some(path) = tail.strip_prefix(": \"") {
            if let Some(end) = path.find('"') {
                paths.insert(path[..end].to_owned());
            }
        }
    }
    paths
}

/// The web demo's static files (and `/`): the front-end, not the API. And axum's catch-all for
/// its fallback (the 404), which it lists among the routes.
fn not_api(path: &str) -> bool {
    path == "/"
        || crate::web_demo::FILES.iter().any(|file| file.path == path)
        || path == "/{*__private__axum_fallback}"
}

/// axum's `{*doc}` (a wildcard: the rest of the path) is OpenAPI's `{doc}`.
fn openapi_path(axum_path: &str) -> String {
    axum_path.replace("{*", "{")
}

/// A request path that matches `path`, every parameter filled in.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push_str("probe");
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// The methods the router answers at `path`: a request with a method no route has answers 405
/// with the `Allow` header listing them (axum adds `HEAD` to every `GET`; it is left out).
async fn routed_methods(router: &Router, path: &str) -> BTreeSet<String> {
    let probe = Method::from_bytes(b"PROBE").expect("a valid extension method");
    let request = Request::builder()
        .method(probe)
        .uri(concrete(path))
        .body(Body::empty())
        .expect("a valid request");
    let response = send(router, request).await;
    assert_eq!(
        response.status(),
        StatusCode::METHOD_NOT_ALLOWED,
        "{path}: an unknown method should be refused with 405 and an Allow header"
    );
    let allow = response
        .headers()
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    allow
        .split(',')
        .map(|m| m.trim().to_ascii_uppercase())
        .filter(|m| !m.is_empty() && m != "HEAD")
        .collect()
}

/// The methods the description gives `item`.
fn described_methods(item: &PathItem) -> BTreeSet<String> {
    [
        ("GET", &item.get),
        ("PUT", &item.put),
        ("POST", &item.post),
        ("DELETE", &item.delete),
        ("OPTIONS", &item.options),
        ("HEAD", &item.head),
        ("PATCH", &item.patch),
        ("TRACE", &item.trace),
    ]
    .into_iter()
    .filter(|(_, operation)| operation.is_some())
    .map(|(method, _)| method.to_owned())
    .collect()
}

async fn send(router: &Router, request: Request<Body>) -> Response {
    match router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

async fn body_text(response: Response) -> String {
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("the body is read");
    String::from_utf8(bytes.to_vec()).expect("a UTF-8 body")
}

#[tokio::test]
async fn every_route_is_described_with_its_methods_and_nothing_else() {
    let router = crate::app(state());
    let routed = routed_paths(&router);
    for known in [
        "/healthz",
        "/ws/{*doc}",
        "/api/docs/{doc}/update",
        "/api/webhooks/failed",
    ] {
        assert!(
            routed.contains(known),
            "the router's routes could not be read from its Debug output (found {routed:?})"
        );
    }
    let doc = document();
    let described = &doc.paths.paths;
    let mut api = BTreeSet::new();
    for path in routed.iter().filter(|p| !not_api(p)) {
        let name = openapi_path(path);
        let Some(item) = described.get(&name) else {
            panic!(
                "the route {path} is not in the OpenAPI description: annotate its handler with \
                 #[utoipa::path] and list it in openapi.rs (`paths(...)`)"
            );
        };
        let methods = routed_methods(&router, path).await;
        assert_eq!(
            methods,
            described_methods(item),
            "{path}: the methods routed and the methods described differ"
        );
        api.insert(name);
    }
    let extra: Vec<&String> = described.keys().filter(|p| !api.contains(*p)).collect();
    assert!(extra.is_empty(), "described but not routed: {extra:?}");
}

#[tokio::test]
async fn the_description_is_served_as_openapi_3_1() {
    let router = crate::app(state());
    let request = Request::get("/api/openapi.json")
        .body(Body::empty())
        .expect("a valid request");
    let response = send(&router, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    let text = body_text(response).await;
    let json: serde_json::Value = serde_json::from_str(&text).expect("the description is JSON");
    assert_eq!(json["openapi"], "3.1.0");
    assert_eq!(json["info"]["title"], "Plait");
    for scheme in ["bearer", "token"] {
        assert!(
            json["components"]["securitySchemes"][scheme].is_object(),
            "security scheme {scheme}"
        );
    }
    assert_eq!(
        json["components"]["securitySchemes"]["token"]["in"],
        "query"
    );
    for schema in [
        "ErrorBody",
        "Readiness",
        "UpdateOutcome",
        "Change",
        "WebhookEvent",
    ] {
        assert!(
            json["components"]["schemas"][schema].is_object(),
            "schema {schema}"
        );
    }
    let changes = &json["paths"]["/api/changes"]["get"]["parameters"];
    let names: BTreeSet<&str> = changes
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, BTreeSet::from(["after", "limit", "prefix"]));
}

/// What every description should say: a response per outcome, a body for every refusal, 401
/// where a token is checked, and every `{param}` of the path as a path parameter.
#[test]
fn every_operation_describes_its_refusals_and_parameters() {
    let doc = document();
    let mut operation_ids = BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        let operations = [&item.get, &item.post, &item.put, &item.delete, &item.patch];
        for operation in operations.into_iter().flatten() {
            let id = operation.operation_id.clone().unwrap_or_default();
            assert!(
                operation_ids.insert(id.clone()),
                "{path}: operationId {id:?} is not unique"
            );
            assert!(operation.summary.is_some(), "{path}: no summary");
            let responses = &operation.responses.responses;
            assert!(
                responses.keys().any(|s| s.starts_with('2') || s == "101"),
                "{path}: no success response"
            );
            for (status, response) in responses {
                let utoipa::openapi::RefOr::T(response) = response else {
                    continue;
                };
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        !response.content.is_empty(),
                        "{path} {status}: a refusal without a body"
                    );
                }
            }
            let secured = operation
                .security
                .as_ref()
                .is_some_and(|requirements| requirements.len() > 1);
            if secured {
                assert!(
                    responses.contains_key("401"),
                    "{path}: checks a token but describes no 401"
                );
            }
            let in_path: BTreeSet<String> = operation
                .parameters
                .iter()
                .flatten()
                .filter_map(|p| match p {
                    utoipa::openapi::RefOr::T(p) => Some(p),
                    utoipa::openapi::RefOr::Ref(_) => None,
                })
                .filter(|p| p.parameter_in == utoipa::openapi::path::ParameterIn::Path)
                .map(|p| p.name.clone())
                .collect();
            let named: BTreeSet<String> = path
                .split('{')
                .skip(1)
                .filter_map(|s| s.split_once('}').map(|(name, _)| name.to_owned()))
                .collect();
            assert_eq!(in_path, named, "{path}: path parameters");
        }
    }
}

/// The error schema is what `AppError` really answers, for statuses with and without
/// `Retry-After`.
#[tokio::test]
async fn refusals_answer_the_error_schema() {
    for error in [
        AppError::NotFound,
        AppError::BadQuery("invalid cursor \"x\"".into()),
        AppError::Penalized(3),
        AppError::Backlog,
        AppError::NotSupported("no feed"),
        AppError::OriginNotAllowed,
    ] {
        let expected = error.to_string();
        let text = body_text(error.into_response()).await;
        let body: ErrorBody = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{text} is not an ErrorBody: {e}"));
        assert_eq!(body.error, expected);
    }
}

/// The typed bodies write exactly the JSON the handlers wrote before they had types: the same
/// fields, keys in alphabetical order (they went through a `serde_json::Value`).
#[tokio::test]
async fn typed_bodies_keep_their_bytes() {
    let router = crate::app(state());
    let get = |uri: &str| {
        Request::get(uri)
            .body(Body::empty())
            .expect("a valid request")
    };
    let stats = body_text(send(&router, get("/api/docs/team-a%2Fnotes")).await).await;
    assert_eq!(
        stats,
        "{\"connections\":0,\"created_at\":null,\"last_seq\":0,\"last_write_at\":null,\
         \"loaded\":false,\"log_bytes\":0,\"log_updates\":0,\"name\":\"team-a/notes\",\
         \"pending\":0,\"quarantined\":0,\"snapshot_bytes\":0,\"snapshot_seq\":0,\"stored\":false}"
    );
    let ready = body_text(send(&router, get("/readyz")).await).await;
    assert_eq!(
        ready,
        "{\"accepting_edits\":true,\"database\":\"ok\",\"pending_updates\":0,\"writer\":\"ok\"}"
    );

    let update = {
        use yrs::{Doc, GetString as _, ReadTxn as _, StateVector, Text as _, Transact as _};
        let doc = Doc::new();
        let text = doc.get_or_insert_text("t");
        text.insert(&mut doc.transact_mut(), 0, "hi");
        assert_eq!(text.get_string(&doc.transact()), "hi");
        let update = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        update
    };
    let post = |body: Vec<u8>| {
        Request::post("/api/docs/notes/update")
            .body(Body::from(body))
            .expect("a valid request")
    };
    let applied = body_text(send(&router, post(update.clone())).await).await;
    assert_eq!(applied, "{\"applied\":true,\"durable\":true,\"seq\":1}");
    let again = body_text(send(&router, post(update)).await).await;
    assert_eq!(again, "{\"applied\":false,\"durable\":true}");

    let stateless = Request::post("/api/docs/notes/stateless")
        .body(Body::from("hello"))
        .expect("a valid request");
    let sent = send(&router, stateless).await;
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    assert_eq!(
        body_text(sent).await,
        "{\"bytes\":5,\"doc\":\"notes\",\"loaded_here\":true}"
    );
}
