//! Reading credentials and the origin from an incoming request.

use axum::http::header::{AUTHORIZATION, ORIGIN};
use axum::http::HeaderMap;
use percent_encoding::percent_decode_str;

/// The access token a request carries, if any: `Authorization: Bearer <token>` (HTTP clients),
/// else the `token` query parameter (browsers: a WebSocket cannot set headers, and y-websocket's
/// `params: { token }` option appends `?token=...`). The query value is percent-decoded.
///
/// An empty value, a non-Bearer `Authorization` header or a value that is not valid UTF-8 counts
/// as no token; the caller then answers [`AuthError::Missing`](super::AuthError::Missing).
pub fn token_from_request(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    bearer(headers).or_else(|| query.and_then(query_token))
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    // RFC 9110: the auth scheme is case-insensitive.
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    non_empty(token.trim())
}

fn query_token(query: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "token")
        .and_then(|(_, value)| percent_decode_str(value).decode_utf8().ok())
        .and_then(|token| non_empty(token.trim()))
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// Cross-site WebSocket hijacking guard: whether a request's `Origin` is acceptable.
///
/// Browsers attach cookies and ambient credentials to a cross-site WebSocket upgrade and do not
/// apply CORS to it, so a hostile page could otherwise talk to the server as its visitor. Browsers
/// always send `Origin` on an upgrade, so:
/// - an empty `allowed` list accepts everything (local use, the default);
/// - a request without `Origin` comes from a non-browser client and is accepted (it cannot be a
///   hijacked browser session; the token check still applies);
/// - otherwise the origin must equal one entry, compared case-insensitively and ignoring a
///   trailing `/`. The literal origin `null` (sandboxed frames, `file://`) passes only if listed.
pub fn origin_allowed(allowed: &[String], headers: &HeaderMap) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = normalize_origin(origin);
    allowed.iter().any(|a| normalize_origin(a) == origin)
}

/// The comparable form of an origin: trimmed, lower-case, without a trailing `/`.
pub fn normalize_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(axum::http::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn bearer_header_is_read_case_insensitively() {
        let h = headers(&[(AUTHORIZATION, "Bearer abc.def.ghi")]);
        assert_eq!(token_from_request(&h, None).as_deref(), Some("abc.def.ghi"));
        let h = headers(&[(AUTHORIZATION, "bearer   abc.def.ghi ")]);
        assert_eq!(token_from_request(&h, None).as_deref(), Some("abc.def.ghi"));
    }

    #[test]
    fn other_schemes_and_empty_bearer_are_no_token() {
        let h = headers(&[(AUTHORIZATION, "Basic dXNlcjpwYXNz")]);
        assert_eq!(token_from_request(&h, None), None);
        let h = headers(&[(AUTHORIZATION, "Bearer ")]);
        assert_eq!(token_from_request(&h, None), None);
        let h = headers(&[(AUTHORIZATION, "Bearer")]);
        assert_eq!(token_from_request(&h, None), None);
    }

    #[test]
    fn header_wins_over_query() {
        let h = headers(&[(AUTHORIZATION, "Bearer from-header")]);
        assert_eq!(
            token_from_request(&h, Some("token=from-query")).as_deref(),
            Some("from-header")
        );
    }

    #[test]
    fn query_token_is_percent_decoded_among_other_params() {
        let h = HeaderMap::new();
        assert_eq!(
            token_from_request(&h, Some("room=x&token=a%2Eb%2Dc.d_e&z=1")).as_deref(),
            Some("a.b-c.d_e")
        );
        assert_eq!(
            token_from_request(&h, Some("token=abc")).as_deref(),
            Some("abc")
        );
        // '+' is not a space in a y-websocket URL (it uses encodeURIComponent); keep it verbatim.
        assert_eq!(
            token_from_request(&h, Some("token=a+b")).as_deref(),
            Some("a+b")
        );
    }

    #[test]
    fn absent_empty_or_undecodable_query_token_is_none() {
        let h = HeaderMap::new();
        assert_eq!(token_from_request(&h, None), None);
        assert_eq!(token_from_request(&h, Some("")), None);
        assert_eq!(token_from_request(&h, Some("token=")), None);
        assert_eq!(token_from_request(&h, Some("tokens=abc&xtoken=abc")), None);
        assert_eq!(token_from_request(&h, Some("token=%FF%FE")), None);
        assert_eq!(token_from_request(&h, Some("token")), None);
    }

    #[test]
    fn empty_allow_list_accepts_any_origin() {
        let h = headers(&[(ORIGIN, "https://evil.example")]);
        assert!(origin_allowed(&[], &h));
    }

    #[test]
    fn listed_origins_only_when_a_list_is_set() {
        let allowed = vec![
            "https://app.example.com".to_string(),
            "http://localhost:5173/".to_string(),
        ];
        assert!(origin_allowed(
            &allowed,
            &headers(&[(ORIGIN, "https://app.example.com")])
        ));
        assert!(origin_allowed(
            &allowed,
            &headers(&[(ORIGIN, "HTTP://LOCALHOST:5173")])
        ));
        assert!(!origin_allowed(
            &allowed,
            &headers(&[(ORIGIN, "https://evil.example")])
        ));
        assert!(!origin_allowed(
            &allowed,
            &headers(&[(ORIGIN, "https://app.example.com.evil.example")])
        ));
        assert!(!origin_allowed(&allowed, &headers(&[(ORIGIN, "null")])));
        // No Origin: not a browser, so not a hijacked session.
        assert!(origin_allowed(&allowed, &HeaderMap::new()));
    }
}
