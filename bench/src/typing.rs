//! The arguments every typing scenario shares (`fanout`, `crowd`): how long clients type, which
//! part of it is timed, how long to wait for stragglers, and what one insert weighs.

/// One `#[command(flatten)]` so that the same flag means the same thing, with the same default,
/// in every scenario that types.
#[derive(clap::Args, Clone, Debug)]
pub struct Typing {
    /// Seconds of typing (per trial with `fanout --find-max`).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Updates scheduled in the first N seconds of typing are delivered but not timed.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// After typing stops, wait at most N seconds for missing deliveries.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
    /// Bytes per inserted string (stamp + padding).
    #[arg(long, default_value_t = 24)]
    pub payload: usize,
}
