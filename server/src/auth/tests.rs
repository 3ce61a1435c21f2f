//! Unit tests for minting and verifying tokens.

use super::*;
use axum::http::StatusCode;
use proptest::prelude::*;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const OTHER_SECRET: &[u8] = b"fedcba9876543210fedcba9876543210";
const HOUR: Duration = Duration::from_secs(3600);

fn auth() -> Authenticator {
    Authenticator::new(SECRET)
}

fn now_secs() -> u64 {
    unix_seconds(SystemTime::now())
}

fn b64(json: &str) -> String {
    URL_SAFE_NO_PAD.encode(json)
}

/// Signs any JSON payload with the test secret, as a third-party backend might.
fn sign_json(header: Header, payload: &serde_json::Value) -> String {
    jsonwebtoken::encode(&header, payload, &EncodingKey::from_secret(SECRET)).unwrap()
}

#[test]
fn mint_then_verify_round_trips_mode_and_expiry() {
    let a = auth();
    let token = a.mint("notes", Mode::Write, HOUR).unwrap();
    let access = a.verify(&token, "notes").unwrap();
    assert_eq!(access.mode, Mode::Write);
    assert_eq!(access.subject, None);
    let left = access
        .expires_at
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    assert!(left > Duration::from_secs(3590) && left <= HOUR, "{left:?}");

    let read = a.mint("notes", Mode::Read, HOUR).unwrap();
    assert_eq!(a.verify(&read, "notes").unwrap().mode, Mode::Read);
}

#[test]
fn read_tokens_cannot_write() {
    let a = auth();
    let read = a
        .verify(&a.mint("d", Mode::Read, HOUR).unwrap(), "d")
        .unwrap();
    let err = read.require_write("d").unwrap_err();
    assert_eq!(err, AuthError::ReadOnly { doc: "d".into() });
    assert_eq!(err.status(), StatusCode::FORBIDDEN);
    assert!(!read.mode.can_write());

    let write = a
        .verify(&a.mint("d", Mode::Write, HOUR).unwrap(), "d")
        .unwrap();
    assert_eq!(write.require_write("d"), Ok(()));
}

#[test]
fn expired_tokens_are_refused_after_a_few_seconds_of_skew() {
    let a = auth();
    let exp = now_secs() - 100;
    let token = a
        .sign(&Claims {
            sub: Some("alice".into()),
            doc: "d".into(),
            mode: Mode::Write,
            exp,
            iat: (exp - 10) as f64,
        })
        .unwrap();
    let err = a.verify(&token, "d").unwrap_err();
    assert_eq!(err, AuthError::Expired);
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);

    let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
    let ok = a.verify_at(&token, "d", at(exp + 3)).unwrap();
    assert_eq!(ok.subject.as_deref(), Some("alice"));
    assert_eq!(ok.expires_at, at(exp));
    assert_eq!(
        a.verify_at(&token, "d", at(exp + 6)),
        Err(AuthError::Expired)
    );
}

#[test]
fn a_token_from_another_secret_has_a_bad_signature() {
    let token = Authenticator::new(OTHER_SECRET)
        .mint("d", Mode::Write, HOUR)
        .unwrap();
    let err = auth().verify(&token, "d").unwrap_err();
    assert_eq!(err, AuthError::BadSignature);
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn alg_none_is_refused() {
    let payload = format!(
        r#"{{"doc":"d","mode":"write","exp":{},"iat":0}}"#,
        now_secs() + 3600
    );
    for header in [
        r#"{"alg":"none","typ":"JWT"}"#,
        r#"{"alg":"None"}"#,
        r#"{"alg":"NONE","typ":"JWT"}"#,
    ] {
        for sig in ["", "AAAA"] {
            let token = format!("{}.{}.{sig}", b64(header), b64(&payload));
            let err = auth().verify(&token, "d").unwrap_err();
            assert!(
                matches!(&err, AuthError::WrongAlgorithm { alg } if alg.eq_ignore_ascii_case("none")),
                "{header}: {err:?}"
            );
            assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
        }
    }
}

#[test]
fn other_algorithms_are_refused_even_with_the_right_secret() {
    let claims = serde_json::json!({"doc": "d", "mode": "write", "exp": now_secs() + 3600});
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let token = sign_json(Header::new(alg), &claims);
        assert!(
            matches!(
                auth().verify(&token, "d"),
                Err(AuthError::WrongAlgorithm { .. })
            ),
            "{alg:?}"
        );
    }
    // RS/HS confusion: an RS256 header over an HMAC signature.
    let hs = sign_json(Header::new(Algorithm::HS256), &claims);
    let rest = hs.split_once('.').unwrap().1;
    let token = format!("{}.{rest}", b64(r#"{"alg":"RS256","typ":"JWT"}"#));
    assert_eq!(
        auth().verify(&token, "d"),
        Err(AuthError::WrongAlgorithm {
            alg: "RS256".into()
        })
    );
}

#[test]
fn a_tampered_payload_breaks_the_signature() {
    let a = auth();
    let token = a.mint("d", Mode::Read, HOUR).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["mode"] = "write".into();
    claims["doc"] = "*".into();
    let forged = format!("{}.{}.{}", parts[0], b64(&claims.to_string()), parts[2]);
    assert_eq!(a.verify(&forged, "d"), Err(AuthError::BadSignature));
}

#[test]
fn prefix_scope_covers_names_below_the_prefix_only() {
    let a = auth();
    let token = a.mint("team-a/*", Mode::Write, HOUR).unwrap();
    assert!(a.verify(&token, "team-a/x").is_ok());
    assert!(a.verify(&token, "team-a/x/y").is_ok());
    for doc in ["team-b/x", "team-a", "team-ab/x", "x/team-a/y"] {
        let err = a.verify(&token, doc).unwrap_err();
        assert_eq!(err, AuthError::OutOfScope { doc: doc.into() });
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
    }
    let all = a.mint("*", Mode::Read, HOUR).unwrap();
    assert!(a.verify(&all, "anything/at/all").is_ok());
}

#[test]
fn exact_scope_covers_one_document() {
    let a = auth();
    let token = a.mint("notes", Mode::Write, HOUR).unwrap();
    assert!(a.verify(&token, "notes").is_ok());
    for doc in ["notes/x", "note", "notes2", "Notes"] {
        assert_eq!(
            a.verify(&token, doc),
            Err(AuthError::OutOfScope { doc: doc.into() })
        );
    }
}

#[test]
fn empty_scope_cannot_be_minted() {
    assert_eq!(
        auth().mint("", Mode::Read, HOUR),
        Err(AuthError::EmptyScope)
    );
}

#[test]
fn claims_json_shape_is_stable() {
    assert_eq!(serde_json::to_string(&Mode::Read).unwrap(), r#""read""#);
    assert_eq!(serde_json::to_string(&Mode::Write).unwrap(), r#""write""#);
    let claims = Claims {
        sub: None,
        doc: "team-a/*".into(),
        mode: Mode::Read,
        exp: 20,
        iat: 10.0,
    };
    assert_eq!(
        serde_json::to_string(&claims).unwrap(),
        r#"{"doc":"team-a/*","mode":"read","exp":20,"iat":10}"#
    );
}

#[test]
fn third_party_tokens_without_iat_or_with_extra_claims_are_accepted() {
    let token = sign_json(
        Header::new(Algorithm::HS256),
        &serde_json::json!({"doc": "d", "mode": "read", "exp": now_secs() + 60, "team": 7}),
    );
    assert_eq!(auth().verify(&token, "d").unwrap().mode, Mode::Read);
}

#[test]
fn correctly_signed_but_incomplete_claims_are_malformed() {
    let exp = now_secs() + 60;
    for payload in [
        serde_json::json!({"doc": "d", "exp": exp}),
        serde_json::json!({"doc": "d", "mode": "admin", "exp": exp}),
        serde_json::json!({"doc": "d", "mode": "write"}),
        serde_json::json!({"doc": "d", "mode": "write", "exp": "tomorrow"}),
        serde_json::json!({"mode": "write", "exp": exp}),
        serde_json::json!({"doc": "d", "mode": "write", "exp": exp, "nbf": "x"}),
        serde_json::json!([1, 2, 3]),
    ] {
        let token = sign_json(Header::new(Algorithm::HS256), &payload);
        assert_eq!(
            auth().verify(&token, "d"),
            Err(AuthError::Malformed),
            "{payload}"
        );
    }
}

#[test]
fn garbage_of_many_shapes_is_malformed_and_never_echoed() {
    let valid = auth().mint("d", Mode::Write, HOUR).unwrap();
    let (head, _) = valid.split_once('.').unwrap();
    let long = "a".repeat(MAX_TOKEN_LEN + 1);
    let cases = [
        "".to_string(),
        ".".into(),
        "..".into(),
        "...".into(),
        "not-a-token-at-all".into(),
        "a.b".into(),
        "a.b.c".into(),
        "a.b.c.d".into(),
        "é.ü.ö".into(),
        format!("{head}.!!!.sig"),
        format!("{head}.{}.", b64("not json")),
        format!("{}.{}.x", b64("{}"), b64("{}")),
        format!("{}.{}.x", b64(r#"{"alg":7}"#), b64("{}")),
        format!("{valid}.extra"),
        long,
    ];
    for token in cases {
        let err = auth().verify(&token, "d").unwrap_err();
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED, "{token:?}: {err:?}");
        if token.len() > 8 {
            assert!(!format!("{err} {err:?}").contains(&token), "{token:?}");
        }
    }
}

#[test]
fn authenticator_debug_does_not_print_the_secret() {
    let shown = format!("{:?}", auth());
    assert!(!shown.contains("0123456789"), "{shown}");
}

proptest! {
    #[test]
    fn arbitrary_strings_never_verify_or_panic(token in ".{0,300}", doc in ".{0,20}") {
        prop_assert!(auth().verify(&token, &doc).is_err());
    }

    #[test]
    fn jwt_shaped_garbage_never_verifies(
        token in "[A-Za-z0-9_=-]{0,80}\\.[A-Za-z0-9_=-]{0,120}\\.[A-Za-z0-9_=-]{0,60}"
    ) {
        let err = auth().verify(&token, "d").unwrap_err();
        prop_assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn a_flipped_character_in_a_valid_token_is_refused(index in 0usize..200, replacement in "[A-Za-z0-9_-]") {
        let token = auth().mint("d", Mode::Write, HOUR).unwrap();
        let index = index % token.len();
        let mut bytes = token.clone().into_bytes();
        prop_assume!(bytes[index] != b'.' && bytes[index] != replacement.as_bytes()[0]);
        bytes[index] = replacement.as_bytes()[0];
        let forged = String::from_utf8(bytes).unwrap();
        // The signature covers the encoded text, and non-canonical base64 is refused, so any
        // changed character must be caught.
        prop_assert!(auth().verify(&forged, "d").is_err());
    }
}
