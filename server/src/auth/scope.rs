//! Which document names a token's `doc` claim covers.
//!
//! The rule is deliberately tiny so an operator can predict it without reading code:
//! - a scope without a trailing `*` is an exact document name: `notes` covers `notes` only;
//! - a trailing `*` turns the rest into a plain string prefix: `team-a/*` covers every name that
//!   starts with `team-a/` (`team-a/x`, `team-a/x/y`) but not `team-a` itself nor `team-ab`;
//!   `*` alone covers every document (an operator or backend token).
//!
//! `*` anywhere else is an ordinary character, and there are no other wildcards: globbing in the
//! middle of a name would make a scope's reach hard to audit.

/// Whether `scope` (a token's `doc` claim) covers the document called `doc`.
pub fn covers(scope: &str, doc: &str) -> bool {
    match scope.strip_suffix('*') {
        Some(prefix) => doc.starts_with(prefix),
        None => scope == doc,
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn exact_scope_covers_only_that_name() {
        assert!(covers("notes", "notes"));
        assert!(!covers("notes", "notes2"));
        assert!(!covers("notes", "note"));
        assert!(!covers("notes", "notes/x"));
    }

    #[test]
    fn prefix_scope_covers_names_below_it_only() {
        assert!(covers("team-a/*", "team-a/x"));
        assert!(covers("team-a/*", "team-a/x/y"));
        assert!(!covers("team-a/*", "team-b/x"));
        assert!(!covers("team-a/*", "team-a"));
        assert!(!covers("team-a/*", "team-ab/x"));
    }

    #[test]
    fn lone_star_covers_everything_and_inner_star_is_literal() {
        assert!(covers("*", "anything/at/all"));
        assert!(covers("a*b", "a*b"));
        assert!(!covers("a*b", "axb"));
    }
}
