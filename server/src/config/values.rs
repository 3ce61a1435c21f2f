//! Parsers of the values flags take, with the reasons a wrong one is refused.

use std::time::Duration;

use plait_protocol::update_check::MAX_NESTING_LIMIT;

use crate::auth::normalize_origin;

/// `--max-nesting-depth`: 1 to [`MAX_NESTING_LIMIT`] (deeper would exhaust a thread's stack).
pub(super) fn nesting_depth(s: &str) -> Result<usize, String> {
    match positive_usize(s)? {
        n if n > MAX_NESTING_LIMIT => Err(format!(
            "must be at most {MAX_NESTING_LIMIT}: yrs reads and deletes nested values by \
             recursion, and deeper nesting would exhaust a thread's stack"
        )),
        n => Ok(n),
    }
}

pub(super) fn positive_usize(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A humantime duration (`30s`, `15m`, `1h`) that is not zero: a zero timeout or TTL is always
/// a mistake.
pub(super) fn positive_duration(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be longer than zero".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (examples: 30s, 15m, 1h)")),
    }
}

/// The `--allowed-origins` list, normalised (lower-case, no trailing `/`). Dereferences to
/// `[String]` for [`origin_allowed`](crate::auth::origin_allowed). A newtype rather than a clap
/// list so that an empty `PLAIT_ALLOWED_ORIGINS=` means "any origin" instead of an error, and
/// stray commas are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(pub Vec<String>);

impl AllowedOrigins {
    /// Parses a comma-separated list of `scheme://host[:port]` origins; blank entries are skipped.
    pub fn parse(list: &str) -> Result<AllowedOrigins, String> {
        list.split(',')
            .filter(|entry| !entry.trim().is_empty())
            .map(parse_origin)
            .collect::<Result<_, _>>()
            .map(AllowedOrigins)
    }
}

impl std::ops::Deref for AllowedOrigins {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0
    }
}

/// One entry of `--allowed-origins`: `scheme://host[:port]`, as browsers send it in `Origin`.
fn parse_origin(s: &str) -> Result<String, String> {
    let origin = normalize_origin(s);
    let Some((scheme, host)) = origin.split_once("://") else {
        return Err(format!(
            "{s:?} is not an origin; write it as scheme://host[:port], e.g. https://app.example.com"
        ));
    };
    if scheme.is_empty() || host.is_empty() || host.contains('/') {
        return Err(format!(
            "{s:?} is not an origin (no path allowed); e.g. https://app.example.com"
        ));
    }
    Ok(origin)
}
