//! Where the token-signing secret comes from: a flag, a file, or their environment variables.

use std::fmt;
use std::path::PathBuf;

use clap::Args;

/// Shortest accepted auth secret. HS256 keys shorter than the 32-byte hash output make brute
/// force of a captured token cheaper than it needs to be (RFC 7518 §3.2).
pub const MIN_SECRET_LEN: usize = 32;

/// Where the token-signing secret comes from. Shared by `serve` and `token` so an operator
/// configures it once (usually through the environment) for both.
#[derive(Debug, Clone, Default, Args)]
pub struct SecretArgs {
    /// Enables authentication: every WebSocket and `/api` request then needs an HS256 token
    /// signed with this secret (at least 32 bytes). Prefer the file or environment form: a flag
    /// is visible to other local users in the process list.
    #[arg(
        long,
        env = "PLAIT_AUTH_SECRET",
        hide_env_values = true,
        conflicts_with = "auth_secret_file"
    )]
    pub auth_secret: Option<Secret>,

    /// Like `--auth-secret`, read from a file (a trailing newline is ignored). Suits Docker and
    /// Kubernetes secrets.
    #[arg(long, env = "PLAIT_AUTH_SECRET_FILE")]
    pub auth_secret_file: Option<PathBuf>,
}

impl SecretArgs {
    /// Neither form was given.
    pub fn is_empty(&self) -> bool {
        self.auth_secret.is_none() && self.auth_secret_file.is_none()
    }

    /// The secret's bytes, `None` if authentication is off, or why the configured one is unusable.
    pub fn resolve(&self) -> Result<Option<Vec<u8>>, SecretError> {
        let secret = match (&self.auth_secret, &self.auth_secret_file) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => return Err(SecretError::Both),
            (Some(secret), None) => secret.0.as_bytes().to_vec(),
            (None, Some(path)) => {
                let mut bytes = std::fs::read(path).map_err(|source| SecretError::Read {
                    path: path.clone(),
                    source,
                })?;
                // `echo secret > file` and editors add a final newline; it is not part of the key.
                while matches!(bytes.last(), Some(b'\n' | b'\r')) {
                    bytes.pop();
                }
                bytes
            }
        };
        if secret.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort { len: secret.len() });
        }
        Ok(Some(secret))
    }
}

/// The auth secret as given on the command line or in the environment. A newtype so that
/// `Debug` (and therefore `{:?}` of the whole [`Config`]) never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Why the configured auth secret cannot be used. Start-up stops on it rather than silently
/// running without authentication.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Too short to be a safe HMAC key.
    #[error(
        "the auth secret is {len} bytes long; at least {MIN_SECRET_LEN} are required \
         (generate one with `openssl rand -base64 48`)"
    )]
    TooShort {
        /// Its length in bytes.
        len: usize,
    },
    /// The secret file could not be read.
    #[error("cannot read the auth secret file {path}: {source}")]
    Read {
        /// The configured path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Both `--auth-secret` and `--auth-secret-file` (or their variables) were set.
    #[error("set either --auth-secret (PLAIT_AUTH_SECRET) or --auth-secret-file (PLAIT_AUTH_SECRET_FILE), not both")]
    Both,
}
