//! The caller's deadline, read from `grpc-timeout` when the call arrives.
//!
//! tonic enforces `grpc-timeout` itself, but answers CANCELLED ("Timeout
//! expired") and only until the response headers, not over a streaming body.
//! So a layer records the deadline in the request's extensions at the same
//! moment tonic starts its timer, a [`SAFETY_MARGIN`] early, and the handlers
//! enforce it over the whole call, answering DEADLINE_EXCEEDED.

use std::time::Duration;
use tokio::time::Instant;

/// How much earlier than tonic's own timer the gateway gives up, so its
/// DEADLINE_EXCEEDED always wins the race (tokio's timer has 1 ms ticks).
pub const SAFETY_MARGIN: Duration = Duration::from_millis(2);

/// When the call must be answered by. Present in a request's extensions only
/// when the caller sent `grpc-timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// The instant to give up at.
    pub at: Instant,
    /// The timeout the caller asked for, for messages.
    pub requested: Duration,
}

/// Parses a `grpc-timeout` value: up to 8 digits and a unit (H, M, S, m, u, n).
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The [`Deadline`] of a call, if its headers carry `grpc-timeout`. Called
/// when the request arrives, at the moment tonic starts its own timer.
pub fn from_headers(headers: &http::HeaderMap) -> Option<Deadline> {
    let requested = headers
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_grpc_timeout)?;
    Some(Deadline {
        at: Instant::now() + requested.saturating_sub(SAFETY_MARGIN),
        requested,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_refuses_junk() {
        assert_eq!(parse_grpc_timeout("50m"), Some(Duration::from_millis(50)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_grpc_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse_grpc_timeout("9n"), Some(Duration::from_nanos(9)));
        for junk in ["", "m", "12", "123456789S", "-1S", "1x"] {
            assert_eq!(parse_grpc_timeout(junk), None, "{junk}");
        }
    }
}
