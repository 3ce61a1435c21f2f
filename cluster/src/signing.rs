//! Signing the broadcasts, so that a role that can only `NOTIFY` cannot edit documents.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key that signs broadcasts, shared by the nodes of one deployment.
///
/// Exists because PostgreSQL lets every role that can connect to the database send a
/// notification: without it, a role that may only read (a change-data-capture reader, an
/// analyst) could put content into every node's documents, and from there, through the clients'
/// next sync, into the database. The nodes share the auth secret (each must verify the same
/// tokens), so the key is derived from it; with authentication off, anyone who reaches a node can
/// write anyway, and broadcasts go unsigned.
#[derive(Clone)]
pub struct NodeKey([u8; 32]);

impl NodeKey {
    /// The key for nodes whose auth secret is `secret`.
    pub fn derive(secret: &[u8]) -> NodeKey {
        let mut mac = Self::hmac(secret);
        // The label is part of the wire: nodes of every version must derive the same key.
        mac.update(b"plait peer relay v1");
        NodeKey(mac.finalize().into_bytes().into())
    }

    fn hmac(key: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        match <Hmac<Sha256> as Mac>::new_from_slice(key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of every length"),
        }
    }

    /// The MAC of one payload, over everything it says (`fields`: its kind, node, document and,
    /// for a part, its numbers; then its data): a presence payload's cannot be passed off as an
    /// update's, nor a part moved to another place.
    fn mac(&self, fields: &[&str], data: &[u8]) -> Hmac<Sha256> {
        let mut mac = Self::hmac(&self.0);
        for field in fields {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        mac.update(data);
        mac
    }
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeKey(..)")
    }
}

/// Appends to `payload`, with a key, the MAC of what it says (see [`NodeKey::mac`]).
pub(crate) fn sign(key: Option<&NodeKey>, payload: &mut String, fields: &[&str], data: &[u8]) {
    if let Some(key) = key {
        let tag = key.mac(fields, data).finalize().into_bytes();
        payload.push(' ');
        payload.push_str(&base64::engine::general_purpose::STANDARD.encode(tag));
    }
}

/// With a key, whether a payload's `tag` is the MAC of what it says; without one, any payload.
pub(crate) fn verify(
    key: Option<&NodeKey>,
    tag: Option<&str>,
    fields: &[&str],
    data: &[u8],
) -> Option<()> {
    let Some(key) = key else {
        return Some(());
    };
    let tag = base64::engine::general_purpose::STANDARD
        .decode(tag?)
        .ok()?;
    key.mac(fields, data).verify_slice(&tag).ok()
}
