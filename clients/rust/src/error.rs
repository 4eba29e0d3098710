//! The client's errors and how they are reported on stderr.
//!
//! A gRPC error is printed as `error: CODE_NAME: message`, followed by the
//! google.rpc details the gateway attaches (see the proto's service comment),
//! one per line and indented, because those name what to fix: each BadRequest
//! field violation as `  field: description`, then the ErrorInfo reason and
//! any RetryInfo delay.

use crate::render::code_name;
use std::fmt::Write as _;
use std::time::Duration;
use tonic_types::StatusExt as _;

/// Everything that can make a command fail after the command line parsed.
#[derive(Debug)]
pub enum Error {
    /// The gateway could not be reached at all.
    Connect {
        /// The address tried.
        addr: String,
        /// Why it failed.
        source: tonic::transport::Error,
    },
    /// The connection could not be set up from the flags (e.g. a TLS file
    /// that cannot be read); the message says which flag and why.
    Config(String),
    /// The call failed with a gRPC status.
    Status(tonic::Status),
    /// The call failed in the client's own transport, with no status from
    /// the gateway: the connection broke after it was opened, as it does when
    /// a TLS gateway refuses a client certificate (TLS 1.3 checks it after the
    /// client's side of the handshake is done) or is spoken to in plaintext.
    Transport {
        /// The status the client's transport made.
        status: tonic::Status,
        /// The likely cause for this kind of connection.
        hint: &'static str,
    },
    /// The call outlived `--timeout` plus a grace period without the gateway
    /// answering DEADLINE_EXCEEDED itself (for example, a hung connection).
    ClientDeadline(Duration),
    /// The gateway broke the contract, e.g. a stream with no final event.
    Protocol(String),
    /// Writing the output failed.
    Output(std::io::Error),
}

impl From<tonic::Status> for Error {
    fn from(s: tonic::Status) -> Self {
        // tonic's channel enforces the deadline it sends, and when its own
        // timer wins the race against the gateway's answer it reports
        // CANCELLED "Timeout expired". For the user the deadline passed
        // either way, so say so.
        if s.code() == tonic::Code::Cancelled && s.message().starts_with("Timeout expired") {
            return Error::Status(tonic::Status::deadline_exceeded(
                "the --timeout passed before the gateway answered (seen by the client)",
            ));
        }
        Error::Status(s)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Output(e)
    }
}

impl Error {
    /// True when stdout was closed by the reader (`| head`): not a failure
    /// worth a message, the reader simply had enough.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// Attaches `hint` to a status that the client's transport made (one
    /// with a source error) rather than one the gateway sent; every other
    /// error is returned as it was.
    pub fn with_transport_hint(self, hint: &'static str) -> Error {
        match self {
            Error::Status(status) if std::error::Error::source(&status).is_some() => {
                Error::Transport { status, hint }
            }
            other => other,
        }
    }

    /// The lines to print on stderr, without a trailing newline.
    pub fn report(&self) -> String {
        match self {
            Error::Connect { addr, source } => {
                format!("error: cannot connect to {addr}: {}", chain(source))
            }
            Error::Config(message) => format!("error: {message}"),
            Error::Status(status) => status_report(status),
            Error::Transport { status, hint } => {
                format!("{}\n  hint: {hint}", status_report(status))
            }
            Error::ClientDeadline(d) => format!(
                "error: DEADLINE_EXCEEDED: no answer within the --timeout of {} \
                 (given up by the client)",
                humantime::format_duration(*d)
            ),
            Error::Protocol(message) => {
                format!("error: unexpected answer from the gateway: {message}")
            }
            Error::Output(e) => format!("error: cannot write the output: {e}"),
        }
    }
}

/// An error and its sources joined with ": ", skipping a source whose text
/// the previous one already shows (transport errors often repeat themselves).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// `error: CODE: message` and the status's google.rpc details.
pub fn status_report(status: &tonic::Status) -> String {
    let mut out = format!("error: {}", code_name(status.code()));
    let mut message = status.message().to_owned();
    // Statuses made by the client's own transport carry the cause as a source.
    if let Some(source) = std::error::Error::source(status) {
        let cause = chain(source);
        if !message.contains(&cause) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&cause);
        }
    }
    if !message.is_empty() {
        let _ = write!(out, ": {message}");
    }
    let details = status.get_error_details();
    if let Some(bad_request) = details.bad_request() {
        for v in &bad_request.field_violations {
            let _ = write!(out, "\n  {}: {}", v.field, v.description);
        }
    }
    if let Some(info) = details.error_info() {
        let _ = write!(out, "\n  reason: {}", info.reason);
        if !info.domain.is_empty() {
            let _ = write!(out, " (domain {})", info.domain);
        }
        // Sorted, so the same error always prints the same way.
        let mut metadata: Vec<_> = info.metadata.iter().collect();
        metadata.sort();
        for (k, v) in metadata {
            let _ = write!(out, "\n  {k}: {v}");
        }
    }
    if let Some(delay) = details.retry_info().and_then(|r| r.retry_delay) {
        let _ = write!(
            out,
            "\n  retry after: {}",
            humantime::format_duration(delay)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    #[test]
    fn statuses_print_code_message_violations_and_reason() {
        let mut details = ErrorDetails::new();
        details
            .add_bad_request_violation("parameters.temperature", "must be in [0, 1], got 1.5")
            .add_bad_request_violation("model_id", "must not be empty")
            .set_error_info(
                "ThrottlingException",
                "bedrock.amazonaws.com",
                [("request_id".to_owned(), "r-1".to_owned())],
            )
            .set_retry_info(Some(Duration::from_secs(2)));
        let status = tonic::Status::with_error_details(
            tonic::Code::InvalidArgument,
            "invalid request",
            details,
        );
        assert_eq!(
            status_report(&status),
            "error: INVALID_ARGUMENT: invalid request\n\
             \x20 parameters.temperature: must be in [0, 1], got 1.5\n\
             \x20 model_id: must not be empty\n\
             \x20 reason: ThrottlingException (domain bedrock.amazonaws.com)\n\
             \x20 request_id: r-1\n\
             \x20 retry after: 2s"
        );
    }

    #[test]
    fn a_bare_status_is_one_line() {
        let status = tonic::Status::not_found("model `nope` was not found");
        assert_eq!(
            status_report(&status),
            "error: NOT_FOUND: model `nope` was not found"
        );
        assert_eq!(
            status_report(&tonic::Status::unavailable("")),
            "error: UNAVAILABLE"
        );
    }
}
