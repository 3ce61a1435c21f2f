//! Revoked subjects: their tokens issued before the revocation are refused, and their open
//! connections closed (4401), on every node.
//!
//! Why in memory as well as in the database: every upgrade and `/api` request checks it, and the
//! database is asked only at start (every revocation so far) and by the bus afterwards (a
//! PostgreSQL trigger's notification, SQLite's `data_version` watch), which hears rows any
//! program adds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use plait_protocol::codes;
use tracing::info;

use super::{Access, AuthError, Claims};
use crate::document::CloseReason;

/// A subject's revocation time, milliseconds since the Unix epoch.
type Millis = i64;

/// What a connection registered to be closed by a revocation of its subject.
struct Watcher {
    /// Its token's `iat`, in milliseconds: a revocation closes tokens issued before it.
    issued_ms: f64,
    close: flume::Sender<CloseReason>,
}

/// See the module documentation.
#[derive(Default)]
pub struct Revocations {
    /// The latest revocation of each revoked subject.
    revoked: DashMap<String, Millis>,
    /// The open connections of each subject, by a number of their own.
    open: DashMap<String, HashMap<u64, Watcher>>,
    next: AtomicU64,
}

/// Refused: `iat` is before the subject's revocation (a token without `iat` counts as issued
/// at the epoch). A whole-second `iat` in the very second of the revocation counts as before it.
fn revoked_before(issued_secs: f64, revoked_at: Millis) -> bool {
    issued_secs * 1000.0 < revoked_at as f64
}

impl Revocations {
    /// Refuses an access whose token's subject was revoked after the token was issued.
    pub fn check(&self, access: &Access) -> Result<(), AuthError> {
        self.check_subject(access.subject.as_deref(), access.issued_at)
    }

    /// [`Revocations::check`] for claims verified without a document (the change feed).
    pub fn check_claims(&self, claims: &Claims) -> Result<(), AuthError> {
        self.check_subject(claims.sub.as_deref(), claims.iat)
    }

    fn check_subject(&self, subject: Option<&str>, issued_secs: f64) -> Result<(), AuthError> {
        let Some(subject) = subject else {
            return Ok(());
        };
        match self.revoked.get(subject) {
            Some(at) if revoked_before(issued_secs, *at) => Err(AuthError::Revoked),
            _ => Ok(()),
        }
    }

    /// `subject`'s tokens issued before `at` no longer count: its open connections with such a
    /// token are asked to close. Returns how many.
    pub fn revoke(&self, subject: &str, at: Millis) -> usize {
        self.revoked
            .entry(subject.to_owned())
            .and_modify(|latest| *latest = (*latest).max(at))
            .or_insert(at);
        let mut closed = 0;
        if let Some(open) = self.open.get(subject) {
            for watcher in open.values() {
                if revoked_before(watcher.issued_ms / 1000.0, at) {
                    let reason = CloseReason::new(codes::UNAUTHORIZED, "access revoked");
                    closed += usize::from(watcher.close.try_send(reason).is_ok());
                }
            }
        }
        if closed > 0 {
            info!(
                subject,
                at, closed, "access revoked: closing the subject's connections"
            );
        }
        closed
    }

    /// Registers a connection of `access`'s subject to be closed through `close` if it is
    /// revoked; `None` for a token without a subject. The registration ends with the guard.
    pub fn watch(
        self: &Arc<Self>,
        access: &Access,
        close: flume::Sender<CloseReason>,
    ) -> Option<Watched> {
        let subject = access.subject.clone()?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let watcher = Watcher {
            issued_ms: access.issued_at * 1000.0,
            close,
        };
        self.open
            .entry(subject.clone())
            .or_default()
            .insert(id, watcher);
        Some(Watched {
            revocations: self.clone(),
            subject,
            id,
        })
    }
}

/// A registered connection; dropping it ends the registration.
pub struct Watched {
    revocations: Arc<Revocations>,
    subject: String,
    id: u64,
}

impl Drop for Watched {
    fn drop(&mut self) {
        let open = &self.revocations.open;
        if let Some(mut watchers) = open.get_mut(&self.subject) {
            watchers.remove(&self.id);
        }
        open.remove_if(&self.subject, |_, watchers| watchers.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::auth::Mode;

    fn access(subject: &str, issued_at: f64) -> Access {
        Access {
            mode: Mode::Write,
            expires_at: SystemTime::now() + Duration::from_secs(60),
            subject: Some(subject.to_owned()),
            issued_at,
        }
    }

    #[test]
    fn tokens_issued_before_a_revocation_are_refused_and_later_ones_accepted() {
        let revocations = Arc::new(Revocations::default());
        revocations.revoke("alice", 1_000_500);
        assert_eq!(
            revocations.check(&access("alice", 1000.4)),
            Err(AuthError::Revoked)
        );
        assert_eq!(revocations.check(&access("alice", 1000.6)), Ok(()));
        // Whole seconds: the revocation's own second counts as before it.
        assert_eq!(
            revocations.check(&access("alice", 1000.0)),
            Err(AuthError::Revoked)
        );
        assert_eq!(revocations.check(&access("bob", 1.0)), Ok(()));
        // An earlier revocation arriving late does not move the time back.
        revocations.revoke("alice", 10);
        assert_eq!(
            revocations.check(&access("alice", 1000.4)),
            Err(AuthError::Revoked)
        );
    }

    #[test]
    fn a_revocation_closes_the_subjects_older_connections_only() {
        let revocations = Arc::new(Revocations::default());
        let (old_tx, old) = flume::bounded(1);
        let (new_tx, new) = flume::bounded(1);
        let (bob_tx, bob) = flume::bounded(1);
        let _a = revocations.watch(&access("alice", 10.0), old_tx);
        let _b = revocations.watch(&access("alice", 30.0), new_tx);
        let _c = revocations.watch(&access("bob", 10.0), bob_tx);
        assert_eq!(revocations.revoke("alice", 20_000), 1);
        assert_eq!(old.try_recv().map(|r| r.code), Ok(codes::UNAUTHORIZED));
        assert!(new.try_recv().is_err());
        assert!(bob.try_recv().is_err());
        drop((_a, _b));
        assert!(revocations.open.get("alice").is_none(), "registrations end");
    }
}
