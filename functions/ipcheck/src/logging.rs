//! Log output: JSON lines with the event's fields at the top level (so CloudWatch Logs
//! Insights queries say `record = "anomaly"`, not `fields.record`), or plain text locally.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The level filter: `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls), else
/// `RUST_LOG`, else INFO.
pub fn filter() -> EnvFilter {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    EnvFilter::try_new(level.to_ascii_lowercase()).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Installs the global subscriber writing to `writer`: JSON when `json`, text otherwise.
pub fn init<W>(json: bool, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_target(false)
        .with_writer(writer);
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}

/// Whether Lambda asked for JSON logs (`AWS_LAMBDA_LOG_FORMAT=JSON`).
pub fn json_requested() -> bool {
    std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"))
}
