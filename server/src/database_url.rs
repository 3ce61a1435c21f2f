//! Database URLs as the operator may see them: without the password.
//!
//! Exists because the URL is printed in the log and written into the unsaved file (as the label
//! of the database its updates belong to), and neither is a place for a secret.

use url::Url;

/// The URL with its password replaced by `***`, for the log.
pub fn redacted(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Only URLs with a host have a password, and those always accept a new one.
            let _ = parsed.set_password(Some("***"));
            parsed.into()
        }
        Ok(_) => url.to_owned(),
        // Nothing to connect with, but it may still hold a secret: show only where it starts.
        Err(_) => "(not a valid URL)".to_owned(),
    }
}

/// The URL without its password: the label of the database in the unsaved file, which stays
/// the same when the password is rotated.
pub fn without_password(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(None);
            parsed.into()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        let url = "postgres://plait:s3cret@db.internal:5432/docs?sslmode=require";
        assert_eq!(
            redacted(url),
            "postgres://plait:***@db.internal:5432/docs?sslmode=require"
        );
        assert_eq!(
            without_password(url),
            "postgres://plait@db.internal:5432/docs?sslmode=require"
        );
        assert_eq!(
            redacted("postgres://a:b@c:d@host/x"),
            "postgres://a:***@host/x"
        );
        assert_eq!(
            redacted("postgres://a:s3cret@host:port/x"),
            "(not a valid URL)"
        );
    }

    #[test]
    fn urls_without_a_password_are_unchanged() {
        for url in [
            "sqlite://plait.db?mode=rwc",
            "sqlite::memory:",
            "postgres://postgres@127.0.0.1:5432/test",
            "memory:",
        ] {
            assert_eq!(redacted(url), url);
            assert_eq!(without_password(url), url);
        }
    }

    #[test]
    fn a_rotated_password_keeps_the_label() {
        assert_eq!(
            without_password("postgres://plait:old@db/docs"),
            without_password("postgres://plait:new@db/docs")
        );
    }
}
