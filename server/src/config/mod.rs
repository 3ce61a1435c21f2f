//! Command line and environment configuration.
//!
//! Every flag has an environment fallback so the same binary can be configured by a process
//! manager (systemd, Kubernetes) or by hand; `plait --help` lists them all.

mod cli;
mod secret;
mod serve;
mod values;
mod webhook;

mod revoke;
pub use cli::{Action, Cli, Command, TokenArgs};
pub use revoke::RevokeArgs;
pub use secret::{Secret, SecretArgs, SecretError, MIN_SECRET_LEN};
pub use serve::{Config, LogFormat};
pub use values::AllowedOrigins;
pub use webhook::WebhookArgs;

#[cfg(test)]
mod tests;
