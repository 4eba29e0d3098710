//! Logging setup: tracing with a RUST_LOG-style filter, pretty or JSON
//! ([`JsonLines`]).
//!
//! Log lines are written by a background thread (tracing-appender's
//! non-blocking writer), so a request never waits on stderr; if the writer
//! falls behind, lines are dropped rather than slowing calls down.

mod json_lines;

pub use json_lines::JsonLines;

use crate::config::LogFormat;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Logs go to stderr so stdout stays free.
/// Keep the returned guard alive for the life of the process: dropping it
/// flushes the lines still queued.
pub fn init(format: LogFormat, filter: &str) -> WorkerGuard {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|e| {
        eprintln!("invalid log filter {filter:?} ({e}); using `info`");
        EnvFilter::new("info")
    });
    let (writer, guard) = tracing_appender::non_blocking(std::io::BufWriter::with_capacity(
        64 * 1024,
        std::io::stderr(),
    ));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .init(),
    }
    guard
}
