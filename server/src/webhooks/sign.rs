//! Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
//! (<https://www.standardwebhooks.com/>, "Signature scheme").
//!
//! Signed with `hmac` + `sha2` + `base64`, already in the tree; the tests check the output
//! against the specification's published example and the reference library
//! (`standardwebhooks`) verifies it in the end-to-end tests.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a Standard Webhooks secret (`whsec_<base64 of the key>`).
pub const WHSEC_PREFIX: &str = "whsec_";
/// Shortest plain-string secret: the HMAC-SHA256 output size, as for the auth secret.
pub const MIN_PLAIN_SECRET: usize = 32;
/// Shortest decoded `whsec_` key: 192 bits, what Standard Webhooks' generators produce.
pub const MIN_WHSEC_KEY: usize = 24;

/// Why `--webhook-secret` cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error(
        "the webhook secret is {0} bytes long; at least {MIN_PLAIN_SECRET} are required \
         (generate one with `openssl rand -base64 48`)"
    )]
    TooShort(usize),
    #[error("the webhook secret starts with `whsec_` but the rest is not base64")]
    NotBase64,
    #[error(
        "the webhook secret's `whsec_` key decodes to {0} bytes; at least {MIN_WHSEC_KEY} are \
         required"
    )]
    KeyTooShort(usize),
}

/// The HMAC key events are signed with. `Debug` never prints it.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

impl SigningKey {
    /// The key of a configured secret: `whsec_<base64>` is decoded (the Standard Webhooks form,
    /// so a receiver's library takes the same string); anything else is used as it is, its
    /// UTF-8 bytes being the key, and must be at least [`MIN_PLAIN_SECRET`] bytes long.
    pub fn parse(secret: &str) -> Result<SigningKey, SecretError> {
        if let Some(encoded) = secret.strip_prefix(WHSEC_PREFIX) {
            let key = STANDARD
                .decode(encoded.trim())
                .map_err(|_| SecretError::NotBase64)?;
            if key.len() < MIN_WHSEC_KEY {
                return Err(SecretError::KeyTooShort(key.len()));
            }
            return Ok(SigningKey(key));
        }
        if secret.len() < MIN_PLAIN_SECRET {
            return Err(SecretError::TooShort(secret.len()));
        }
        Ok(SigningKey(secret.as_bytes().to_vec()))
    }

    /// The `webhook-signature` header value for one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // new_from_slice fails only for key sizes HMAC cannot take, and HMAC takes any size.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification (and of its reference libraries'
    /// tests): this secret, id, timestamp and body give this signature.
    #[test]
    fn signs_the_specification_example() {
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    /// The vector in the Rust reference library's own test.
    #[test]
    fn signs_the_reference_library_example() {
        let key = SigningKey::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(
            key.sign("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn a_plain_secret_is_its_own_bytes() {
        let plain = "0123456789abcdef0123456789abcdef";
        let key = SigningKey::parse(plain).unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(plain.as_bytes()).unwrap();
        mac.update(b"evt_1.10.{}");
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(key.sign("evt_1", 10, b"{}"), expected);
    }

    #[test]
    fn short_or_undecodable_secrets_are_refused() {
        assert_eq!(
            SigningKey::parse("too short").unwrap_err(),
            SecretError::TooShort(9)
        );
        assert_eq!(
            SigningKey::parse("whsec_!!!").unwrap_err(),
            SecretError::NotBase64
        );
        assert_eq!(
            SigningKey::parse("whsec_AAAA").unwrap_err(),
            SecretError::KeyTooShort(3)
        );
        assert!(format!("{:?}", SigningKey::parse(&"x".repeat(32)).unwrap()).contains("***"));
    }
}
