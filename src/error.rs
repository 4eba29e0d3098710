//! One error type for the whole service, and its single mapping to a gRPC status.
//!
//! Validation and every backend produce [`GatewayError`]. [`GatewayError::into_status`]
//! is the only place that chooses a gRPC code: one exhaustive match over
//! [`ErrorKind`], so a new kind cannot be added without deciding its code.
//! Details ride along as google.rpc messages (tonic-types): BadRequest field
//! violations, RetryInfo, ResourceInfo and ErrorInfo.

use std::fmt;
use std::time::Duration;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The ErrorInfo domain of errors that Bedrock itself returned.
pub const UPSTREAM_DOMAIN: &str = "bedrock.amazonaws.com";
/// The ErrorInfo domain of errors the gateway raised on its own.
pub const GATEWAY_DOMAIN: &str = "bedrock-gateway";

/// A status travels in HTTP/2 trailers, which clients cap (tonic and hyper at
/// 16 KiB, grpc-java at 8 KiB): past the cap the caller gets a protocol
/// error instead of the status. Requests can make errors long (thousands of
/// violations, values echoed back), so a status is bounded: the message to
/// this many bytes (up to 3 KiB once percent-encoded)...
pub const MAX_STATUS_MESSAGE_BYTES: usize = 1024;
/// ...and the BadRequest violations to this many bytes of fields and
/// descriptions, each cut to [`MAX_VIOLATION_PART_BYTES`]; the message still
/// counts every violation.
pub const MAX_VIOLATION_DETAIL_BYTES: usize = 2048;
/// The most bytes of one violation's field or description, or of a resource name.
pub const MAX_VIOLATION_PART_BYTES: usize = 256;

/// `s` cut to at most `max` bytes on a character boundary, marked when cut.
fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    const MARK: &str = "…";
    let mut end = max.saturating_sub(MARK.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARK}", &s[..end])
}

/// What went wrong, in the terms a caller acts on. Each kind maps to exactly
/// one gRPC code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request broke a rule. Nothing was sent upstream (or upstream refused it).
    InvalidArgument,
    /// The model or another named resource does not exist.
    NotFound,
    /// The gateway's identity may not do this.
    PermissionDenied,
    /// The caller did not prove who it is.
    Unauthenticated,
    /// Throttled, over quota or over a gateway limit; retry later.
    ResourceExhausted,
    /// Not ready or not reachable; retrying may work.
    Unavailable,
    /// A deadline passed, the caller's or the model's.
    DeadlineExceeded,
    /// The backend or the gateway failed.
    Internal,
}

/// One broken rule: which field, and a sentence naming the rule and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field path, as in the proto: `parameters.temperature`, `messages[2].role`.
    pub field: String,
    /// The rule and the value given, e.g. "must be in [0, 1], got 1.5".
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        FieldViolation {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Where an upstream error came from, so callers can quote it to AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamError {
    /// Bedrock's error type, e.g. `ThrottlingException`.
    pub error_type: String,
    /// Bedrock's `x-amzn-requestid`, when known.
    pub request_id: Option<String>,
}

/// The service's one error type. Boxed so that `Result<T, GatewayError>`
/// stays one pointer wide on the success path.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayError(Box<Inner>);

#[derive(Debug, Clone, PartialEq)]
struct Inner {
    kind: ErrorKind,
    message: String,
    violations: Vec<FieldViolation>,
    retry_after: Option<Duration>,
    resource: Option<(String, String)>,
    upstream: Option<UpstreamError>,
}

impl GatewayError {
    /// An error of `kind` with a message for the caller.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        GatewayError(Box::new(Inner {
            kind,
            message: message.into(),
            violations: Vec::new(),
            retry_after: None,
            resource: None,
            upstream: None,
        }))
    }

    /// INVALID_ARGUMENT listing every broken rule.
    pub fn invalid(violations: Vec<FieldViolation>) -> Self {
        let message = match violations.as_slice() {
            [one] => format!("invalid request: `{}` {}", one.field, one.description),
            many => format!(
                "invalid request: {} rules broken: {}",
                many.len(),
                many.iter()
                    .map(|v| format!("`{}` {}", v.field, v.description))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        let mut e = GatewayError::new(ErrorKind::InvalidArgument, message);
        e.0.violations = violations;
        e
    }

    /// INVALID_ARGUMENT for one field.
    pub fn invalid_field(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::invalid(vec![FieldViolation::new(field, description)])
    }

    /// NOT_FOUND for a model.
    pub fn model_not_found(model_id: &str) -> Self {
        let mut e = GatewayError::new(
            ErrorKind::NotFound,
            format!("model `{model_id}` was not found; ListModels shows the available model IDs"),
        );
        e.0.resource = Some(("bedrock foundation model".to_owned(), model_id.to_owned()));
        e
    }

    /// Adds a retry hint (RESOURCE_EXHAUSTED, UNAVAILABLE).
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.0.retry_after = Some(after);
        self
    }

    /// Records the upstream error this came from.
    pub fn with_upstream(mut self, upstream: UpstreamError) -> Self {
        self.0.upstream = Some(upstream);
        self
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The message for the caller.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Field violations (INVALID_ARGUMENT only).
    pub fn violations(&self) -> &[FieldViolation] {
        &self.0.violations
    }

    /// The upstream error, if any.
    pub fn upstream(&self) -> Option<&UpstreamError> {
        self.0.upstream.as_ref()
    }

    /// The gRPC code of a kind. The one place codes are chosen.
    pub fn code_of(kind: ErrorKind) -> Code {
        match kind {
            ErrorKind::InvalidArgument => Code::InvalidArgument,
            ErrorKind::NotFound => Code::NotFound,
            ErrorKind::PermissionDenied => Code::PermissionDenied,
            ErrorKind::Unauthenticated => Code::Unauthenticated,
            ErrorKind::ResourceExhausted => Code::ResourceExhausted,
            ErrorKind::Unavailable => Code::Unavailable,
            ErrorKind::DeadlineExceeded => Code::DeadlineExceeded,
            ErrorKind::Internal => Code::Internal,
        }
    }

    /// The status a caller receives, with google.rpc details.
    pub fn into_status(self) -> Status {
        let e = *self.0;
        let code = Self::code_of(e.kind);
        let message = bounded(&e.message, MAX_STATUS_MESSAGE_BYTES);
        let mut details = ErrorDetails::new();
        let mut detail_bytes = 0;
        for v in &e.violations {
            let field = bounded(&v.field, MAX_VIOLATION_PART_BYTES);
            let description = bounded(&v.description, MAX_VIOLATION_PART_BYTES);
            detail_bytes += field.len() + description.len();
            if detail_bytes > MAX_VIOLATION_DETAIL_BYTES {
                break;
            }
            details.add_bad_request_violation(field, description);
        }
        if let Some(after) = e.retry_after {
            details.set_retry_info(Some(after));
        }
        if let Some((resource_type, name)) = &e.resource {
            details.set_resource_info(
                resource_type.clone(),
                bounded(name, MAX_VIOLATION_PART_BYTES),
                "",
                bounded(&e.message, MAX_VIOLATION_PART_BYTES),
            );
        }
        let mut metadata = MetadataMap::new();
        match &e.upstream {
            Some(up) => {
                let mut info = std::collections::HashMap::new();
                if let Some(id) = &up.request_id {
                    info.insert("request_id".to_owned(), id.clone());
                    if let Ok(value) = MetadataValue::try_from(id.as_str()) {
                        metadata.insert("x-amzn-requestid", value);
                    }
                }
                details.set_error_info(up.error_type.clone(), UPSTREAM_DOMAIN, info);
            }
            None => {
                details.set_error_info(
                    code_name(code),
                    GATEWAY_DOMAIN,
                    std::collections::HashMap::new(),
                );
            }
        }
        Status::with_error_details_and_metadata(code, message, details, metadata)
    }
}

/// The canonical upper-case name of a code, e.g. `INVALID_ARGUMENT`.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.0.kind, self.0.message)?;
        if let Some(up) = &self.0.upstream {
            write!(f, " (upstream {}", up.error_type)?;
            if let Some(id) = &up.request_id {
                write!(f, ", request {id}")?;
            }
            write!(f, ")")?;
        }
        Ok(())
    }
}

impl std::error::Error for GatewayError {}

impl From<GatewayError> for Status {
    fn from(e: GatewayError) -> Status {
        e.into_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_violations_survive_the_trip_through_status() {
        let status = GatewayError::invalid(vec![
            FieldViolation::new("parameters.top_p", "must be in [0, 1], got 1.5"),
            FieldViolation::new("model_id", "must not be empty"),
        ])
        .into_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let fields: Vec<_> = details
            .bad_request()
            .expect("BadRequest detail")
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["parameters.top_p", "model_id"]);
        assert!(status.message().contains("1.5"), "{}", status.message());
    }

    #[test]
    fn upstream_request_id_reaches_error_info_and_metadata() {
        let status = GatewayError::new(ErrorKind::ResourceExhausted, "slow down")
            .with_retry_after(Duration::from_secs(2))
            .with_upstream(UpstreamError {
                error_type: "ThrottlingException".into(),
                request_id: Some("req-1".into()),
            })
            .into_status();
        assert_eq!(status.code(), Code::ResourceExhausted);
        let details = status.get_error_details();
        let info = details.error_info().expect("ErrorInfo");
        assert_eq!(info.reason, "ThrottlingException");
        assert_eq!(info.domain, UPSTREAM_DOMAIN);
        assert_eq!(info.metadata["request_id"], "req-1");
        assert_eq!(
            details.retry_info().and_then(|r| r.retry_delay),
            Some(Duration::from_secs(2))
        );
        assert_eq!(status.metadata().get("x-amzn-requestid").unwrap(), "req-1");
    }
}
