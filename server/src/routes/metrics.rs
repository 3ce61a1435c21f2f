//! `GET /metrics`: the Prometheus text format (the metrics themselves: `crate::metrics`).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::metrics::{handle, DOCUMENTS_LOADED, PENDING_BYTES, PENDING_UPDATES};
use crate::state::AppState;

/// `GET /metrics`: the Prometheus text format. The gauges of state the server keeps anyway are
/// read now.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    description = "Every metric in the Prometheus text format (the README lists them). Served \
        here unless `--metrics-bind` gives it its own address (then only there).",
    responses((status = 200, description = "The Prometheus text exposition format",
        body = String, content_type = "text/plain; version=0.0.4; charset=utf-8")),
)]
pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    let handle = handle();
    metrics::gauge!(DOCUMENTS_LOADED).set(state.registry.loaded_names().len() as f64);
    metrics::gauge!(PENDING_UPDATES).set(state.writer.pending() as f64);
    metrics::gauge!(PENDING_BYTES).set(state.writer.pending_bytes() as f64);
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}
