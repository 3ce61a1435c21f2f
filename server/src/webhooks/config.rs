//! [`WebhookConfig`]: the `--webhook-*` flags checked, in the form the delivery task uses.

use std::time::Duration;

use sha2::{Digest, Sha256};
use url::Url;

use super::schedule::RetrySchedule;
use super::sign::{SecretError, SigningKey};
use crate::config::WebhookArgs;

/// How often the task looks for due events when it found none (and closes debounced ones).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Delivered events are deleted this long after delivery: long enough for an operator to look
/// at `/api/webhooks/pending` around an incident, short enough to keep the table small.
pub const KEEP_DELIVERED: Duration = Duration::from_secs(24 * 3600);

/// Why the webhook flags cannot be used. Start-up stops on it rather than running without the
/// webhooks the operator asked for.
#[derive(Debug, thiserror::Error)]
pub enum WebhookConfigError {
    #[error("--webhook-url (PLAIT_WEBHOOK_URLS) needs --webhook-secret (PLAIT_WEBHOOK_SECRET)")]
    NoSecret,
    #[error("{0}")]
    Secret(#[from] SecretError),
    #[error("--webhook-url {url:?} is not an http:// or https:// URL: {reason}")]
    BadUrl { url: String, reason: String },
}

/// One receiver.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: Url,
    /// Names the receiver in the database (`webhook_deliveries.target`) and in logs: a hash of
    /// the URL, which may carry a credential (`https://user:pass@...`, `?token=`).
    pub key: String,
}

impl Target {
    /// The URL without credentials or query, for logs.
    pub fn display(&self) -> String {
        format!(
            "{}://{}{}",
            self.url.scheme(),
            self.url.host_str().unwrap_or(""),
            self.url.port().map(|p| format!(":{p}")).unwrap_or_default()
        )
    }
}

/// What the delivery task runs with.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub targets: Vec<Target>,
    pub key: SigningKey,
    pub debounce: Duration,
    /// One POST's limit (connect, send, response).
    pub timeout: Duration,
    pub schedule: RetrySchedule,
}

impl WebhookConfig {
    /// `Ok(None)` when no URL is configured (webhooks off; a lone secret is harmless).
    pub fn from_args(args: &WebhookArgs) -> Result<Option<WebhookConfig>, WebhookConfigError> {
        let urls: Vec<&str> = args
            .webhook_urls
            .iter()
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
            .collect();
        if urls.is_empty() {
            return Ok(None);
        }
        let secret = args
            .webhook_secret
            .as_ref()
            .ok_or(WebhookConfigError::NoSecret)?;
        let key = SigningKey::parse(&secret.0)?;
        let mut targets: Vec<Target> = Vec::new();
        for raw in urls {
            let url = parse_url(raw)?;
            let key = target_key(url.as_str());
            // The same receiver twice would get every event twice.
            if !targets.iter().any(|t| t.key == key) {
                targets.push(Target { url, key });
            }
        }
        Ok(Some(WebhookConfig {
            targets,
            key,
            debounce: args.webhook_debounce,
            timeout: args.webhook_timeout,
            schedule: RetrySchedule {
                first: args.webhook_retry_first,
                max: args.webhook_retry_max.max(args.webhook_retry_first),
                window: args.webhook_retry_window,
            },
        }))
    }

    /// How long a claim holds an event: every receiver is called at once, each for at most
    /// `timeout`, plus room for the database round trips before and after. An event whose
    /// node died is retried by another once this is over.
    pub fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(10)
    }
}

fn parse_url(raw: &str) -> Result<Url, WebhookConfigError> {
    let bad = |reason: String| WebhookConfigError::BadUrl {
        url: raw.to_owned(),
        reason,
    };
    let url = Url::parse(raw).map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!("the scheme is {:?}", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".to_owned()));
    }
    Ok(url)
}

/// A receiver's name in the database: the first 16 bytes of SHA-256 of its URL, in hex.
pub fn target_key(url: &str) -> String {
    Sha256::digest(url.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn args(urls: &[&str], secret: Option<&str>) -> WebhookArgs {
        WebhookArgs {
            webhook_urls: urls.iter().map(|u| u.to_string()).collect(),
            webhook_secret: secret.map(Secret::from),
            ..WebhookArgs::default()
        }
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn no_url_means_off_even_with_a_secret() {
        assert!(WebhookConfig::from_args(&args(&[], Some(SECRET)))
            .unwrap()
            .is_none());
        assert!(WebhookConfig::from_args(&args(&[" "], None))
            .unwrap()
            .is_none());
    }

    #[test]
    fn urls_need_a_long_enough_secret() {
        let err = WebhookConfig::from_args(&args(&["http://x/"], None)).unwrap_err();
        assert!(matches!(err, WebhookConfigError::NoSecret), "{err}");
        let err = WebhookConfig::from_args(&args(&["http://x/"], Some("short"))).unwrap_err();
        assert!(err.to_string().contains("at least 32"), "{err}");
    }

    #[test]
    fn urls_are_checked_and_deduplicated() {
        let err = WebhookConfig::from_args(&args(&["ftp://x/"], Some(SECRET))).unwrap_err();
        assert!(matches!(err, WebhookConfigError::BadUrl { .. }), "{err}");
        let err = WebhookConfig::from_args(&args(&["not a url"], Some(SECRET))).unwrap_err();
        assert!(matches!(err, WebhookConfigError::BadUrl { .. }), "{err}");
        let config = WebhookConfig::from_args(&args(
            &[
                "http://a.example/hook",
                "http://a.example/hook",
                "https://b.example/",
            ],
            Some(SECRET),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(config.targets.len(), 2);
        assert_eq!(config.targets[0].key.len(), 32);
        assert_ne!(config.targets[0].key, config.targets[1].key);
    }

    #[test]
    fn logs_show_no_credentials() {
        let config = WebhookConfig::from_args(&args(
            &["https://user:pw@hooks.example:8443/in?token=abc"],
            Some(SECRET),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(config.targets[0].display(), "https://hooks.example:8443");
    }
}
