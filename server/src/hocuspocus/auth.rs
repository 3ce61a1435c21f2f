//! A document's token on a Hocuspocus socket: the first one decides whether the document is
//! served and how, later ones renew it.

use axum::extract::ws::Message as WsMessage;
use bytes::Bytes;
use plait_protocol::codes;
use plait_protocol::hocuspocus::{self, Frame};
use plait_protocol::name::DocName;
use tracing::info;

use super::events::join_doc;
use super::socket::{leave, refresh_at, HpSocket, Stop};
use crate::auth::Access;
use crate::document::CloseReason;

/// What a token grants for one document.
enum Granted {
    /// Served (authentication off: `None`).
    Yes(Option<Access>),
    /// Refused, with the reason the provider is told.
    No(String),
}

impl HpSocket {
    fn check(&self, name: &DocName, token: &str) -> Granted {
        let Some(auth) = &self.state.auth else {
            return Granted::Yes(None);
        };
        let verified = auth
            .verify(token, name.as_str())
            .and_then(|access| self.state.revocations.check(&access).map(|()| access));
        match verified {
            Ok(access) => Granted::Yes(Some(access)),
            Err(error) => {
                info!(doc = %name, reason = error.reason(), "Hocuspocus access refused");
                Granted::No(error.reason().to_owned())
            }
        }
    }

    pub(super) async fn deny(&mut self, address: &str, reason: &str) -> Result<(), Stop> {
        crate::metrics::refused("hocuspocus_document");
        self.docs.take_waiting(address);
        let frame = hocuspocus::permission_denied(address, reason);
        self.write(vec![WsMessage::Binary(Bytes::from(frame))])
            .await
    }

    /// The first token for `address`: refused (`PermissionDenied`, the socket stays open), or
    /// `Authenticated` and the document is joined.
    pub(super) async fn authenticate(&mut self, address: &str, token: &str) -> Result<(), Stop> {
        let name = match DocName::parse(Frame::document_of(address)) {
            Ok(name) => name,
            Err(error) => {
                return self
                    .deny(address, &format!("invalid document name: {error}"))
                    .await
            }
        };
        if !self.docs.waiting.contains_key(address) && !self.docs.has_room() {
            let reason = format!(
                "at most {} documents on one connection",
                self.docs.max_documents()
            );
            return self.deny(address, &reason).await;
        }
        let access = match self.check(&name, token) {
            Granted::Yes(access) => access,
            Granted::No(reason) => return self.deny(address, &reason).await,
        };
        if let Some(wait) = self.state.penalties.remaining(self.peer, name.as_str()) {
            let reason = format!(
                "reconnecting too soon after a refused update; retry in {} s",
                wait.as_secs().max(1)
            );
            return self.deny(address, &reason).await;
        }
        let read_only = access.as_ref().is_some_and(|a| !a.mode.can_write());
        let author = crate::document::author(
            access.as_ref().and_then(|a| a.subject.as_deref()),
            "hocuspocus",
        );
        // A read-only token cannot add to the backlog, so it may still open the document.
        if !read_only && self.state.writer.is_full() {
            return Err(Some(CloseReason::new(
                codes::TRY_AGAIN_LATER,
                "the database is not taking updates; retry later",
            )));
        }
        if self.state.registry.attached(&name) >= self.state.config.max_connections_per_doc {
            return self
                .deny(address, "document connection limit reached; retry later")
                .await;
        }
        let frame = hocuspocus::authenticated(address, read_only);
        self.write(vec![WsMessage::Binary(Bytes::from(frame))])
            .await?;
        let expires_at = access.as_ref().map(|a| a.expires_at);
        let watched = access
            .as_ref()
            .and_then(|a| self.state.revocations.watch(a, self.revoked.0.clone()));
        let slot = self
            .docs
            .start_joining(address, name.clone(), read_only, expires_at, watched);
        let state = self.state.clone();
        self.joins
            .push(Box::pin(join_doc(state, name, read_only, author, slot)));
        Ok(())
    }

    /// A later token for a joined document (the answer to a token request, or unasked): the
    /// same scope renews it; another scope joins the document again with that scope; a refused
    /// one stops serving it.
    pub(super) async fn renew(&mut self, slot: u64, token: &str) -> Result<(), Stop> {
        let Some(joined) = self.docs.joined.get(&slot) else {
            return Ok(());
        };
        let (name, address, read_only) = (
            joined.name.clone(),
            joined.address.clone(),
            joined.read_only,
        );
        match self.check(&name, token) {
            Granted::Yes(access) => {
                let now_read_only = access.as_ref().is_some_and(|a| !a.mode.can_write());
                if now_read_only == read_only {
                    let watched = access
                        .as_ref()
                        .and_then(|a| self.state.revocations.watch(a, self.revoked.0.clone()));
                    if let Some(joined) = self.docs.joined.get_mut(&slot) {
                        joined.watched = watched;
                        let expires_at = access.map(|a| a.expires_at);
                        // The same token again (a provider with a fixed token): not asked again,
                        // or the requests would come ever closer together until it expires.
                        let later = match (joined.expires_at, expires_at) {
                            (Some(old), Some(new)) => new > old,
                            _ => true,
                        };
                        joined.expires_at = expires_at;
                        joined.refresh_at = expires_at.filter(|_| later).map(refresh_at);
                    }
                    return Ok(());
                }
                if let Some(joined) = self.docs.remove_joined(slot) {
                    leave(&joined).await;
                }
                self.authenticate(&address, token).await
            }
            Granted::No(reason) => {
                if let Some(joined) = self.docs.remove_joined(slot) {
                    leave(&joined).await;
                }
                let frames = vec![
                    WsMessage::Binary(Bytes::from(hocuspocus::permission_denied(
                        &address, &reason,
                    ))),
                    WsMessage::Binary(Bytes::from(hocuspocus::close(&address, &reason))),
                ];
                self.write(frames).await
            }
        }
    }
}
