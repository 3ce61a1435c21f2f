//! The web demo, embedded in the binary at build time (see `build.rs`), served at `/`.
//!
//! Layout: `build.rs` generates `$OUT_DIR/web_assets.rs` listing each built file; this module turns
//! that list into routes. Hashed files under `/assets/` never change under their name, so they are
//! cached for a year; everything else (`index.html`, `sw.js`) is revalidated on every load so a new
//! deploy shows at once.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// One file of the built front-end, compiled into the binary so deployment is a single file.
pub struct EmbeddedFile {
    /// URL path, starting with `/` (e.g. `/assets/index-3f2a.js`).
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// Routes for every embedded file, with `/` serving `index.html`.
///
/// Generic over the state so the application can `.merge()` it before or after `with_state`.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let mut router = Router::new();
    for file in FILES {
        router = router.route(file.path, get(move || async move { respond(file) }));
        if file.path == "/index.html" {
            router = router.route("/", get(move || async move { respond(file) }));
        }
    }
    router
}

fn respond(file: &'static EmbeddedFile) -> Response {
    let cache = if file.path.starts_with("/assets/") {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(file.content_type),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        file.body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn get_path(path: &str) -> Response {
        let req = Request::get(path)
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("request for {path}: {e}"));
        match router::<()>().oneshot(req).await {
            Ok(res) => res,
            Err(never) => match never {},
        }
    }

    fn header_of(res: &Response, name: header::HeaderName) -> &str {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn root_serves_index_html_uncached() {
        let res = get_path("/").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            header_of(&res, header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(header_of(&res, header::CACHE_CONTROL), "no-cache");
    }

    #[tokio::test]
    async fn hashed_assets_are_immutable_with_their_type() {
        let assets: Vec<_> = FILES
            .iter()
            .filter(|f| f.path.starts_with("/assets/"))
            .collect();
        // A placeholder build (PLAIT_SKIP_WEB_BUILD=1) has no assets; the real one must have JS.
        if FILES.len() > 1 {
            assert!(assets.iter().any(|f| f.path.ends_with(".js")));
        }
        for file in assets {
            let res = get_path(file.path).await;
            assert_eq!(res.status(), StatusCode::OK, "{}", file.path);
            assert_eq!(header_of(&res, header::CONTENT_TYPE), file.content_type);
            assert_eq!(header_of(&res, header::CACHE_CONTROL), IMMUTABLE);
        }
    }

    #[tokio::test]
    async fn unknown_asset_is_not_found() {
        assert_eq!(
            get_path("/assets/missing.js").await.status(),
            StatusCode::NOT_FOUND
        );
    }
}
