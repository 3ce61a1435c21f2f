//! The webhook flags (`--webhook-*`): where events go, the signing secret, the debounce and the
//! retry schedule. Checked and turned into what the delivery task runs with by
//! `webhooks::config::WebhookConfig::from_args`.

use std::time::Duration;

use clap::Args;

use super::secret::Secret;
use super::values::positive_duration;

/// Webhooks: off unless at least one `--webhook-url` is given.
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Receives `document.created` and `document.changed` events as signed JSON POSTs (Standard
    /// Webhooks). Repeatable; the environment form is comma-separated. Needs `--webhook-secret`.
    #[arg(
        long = "webhook-url",
        env = "PLAIT_WEBHOOK_URLS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub webhook_urls: Vec<String>,

    /// The key events are signed with (`webhook-signature`, HMAC-SHA256): at least 32 bytes,
    /// used as given (its UTF-8 bytes are the key), or `whsec_<base64>` (the Standard Webhooks
    /// form, whose decoded bytes are the key, at least 24 of them).
    #[arg(long, env = "PLAIT_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<Secret>,

    /// A `document.changed` event is sent this long after the document's last change (and at
    /// most 10 s after its first, under continuous typing).
    #[arg(long, env = "PLAIT_WEBHOOK_DEBOUNCE", default_value = "2s", value_parser = humantime::parse_duration)]
    pub webhook_debounce: Duration,

    /// How long one POST may take before it counts as failed and is retried.
    #[arg(long, env = "PLAIT_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = positive_duration)]
    pub webhook_timeout: Duration,

    /// The wait after the first failed attempt; it doubles after each failure (with jitter) up
    /// to `--webhook-retry-max`.
    #[arg(long, env = "PLAIT_WEBHOOK_RETRY_FIRST", default_value = "5s", value_parser = positive_duration, hide = true)]
    pub webhook_retry_first: Duration,

    /// The longest wait between two attempts.
    #[arg(long, env = "PLAIT_WEBHOOK_RETRY_MAX", default_value = "1h", value_parser = positive_duration, hide = true)]
    pub webhook_retry_max: Duration,

    /// How long an event is retried from its first attempt before it is kept as failed (see
    /// `GET /api/webhooks/failed`).
    #[arg(long, env = "PLAIT_WEBHOOK_RETRY_WINDOW", default_value = "24h", value_parser = positive_duration, hide = true)]
    pub webhook_retry_window: Duration,
}

impl Default for WebhookArgs {
    /// Webhooks off, every other value its flag's default.
    fn default() -> Self {
        WebhookArgs {
            webhook_urls: Vec::new(),
            webhook_secret: None,
            webhook_debounce: Duration::from_secs(2),
            webhook_timeout: Duration::from_secs(10),
            webhook_retry_first: Duration::from_secs(5),
            webhook_retry_max: Duration::from_secs(3600),
            webhook_retry_window: Duration::from_secs(24 * 3600),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::config::Cli;

    fn parse(args: &[&str]) -> super::WebhookArgs {
        let cli = Cli::try_parse_from(std::iter::once("plait").chain(args.iter().copied()))
            .expect("valid arguments");
        cli.into_config().webhooks
    }

    #[test]
    fn urls_repeat_or_come_comma_separated() {
        let args = parse(&[
            "--webhook-url",
            "http://a.example/hook",
            "--webhook-url",
            "http://b.example/x,http://c.example/y",
        ]);
        assert_eq!(
            args.webhook_urls,
            [
                "http://a.example/hook",
                "http://b.example/x",
                "http://c.example/y"
            ]
        );
    }

    #[test]
    fn defaults_are_off_with_a_two_second_debounce_and_a_day_of_retries() {
        let args = parse(&[]);
        assert!(args.webhook_urls.is_empty());
        assert!(args.webhook_secret.is_none());
        assert_eq!(args.webhook_debounce, std::time::Duration::from_secs(2));
        assert_eq!(
            args.webhook_retry_window,
            std::time::Duration::from_secs(24 * 3600)
        );
        let durations = parse(&["--webhook-debounce", "500ms", "--webhook-retry-first", "1s"]);
        assert_eq!(
            durations.webhook_debounce,
            std::time::Duration::from_millis(500)
        );
        assert!(format!("{:?}", parse(&["--webhook-secret", "s3cret"])).contains("***"));
    }
}
