//! The one mapping from [`GatewayError`] to a gRPC [`Status`].
//!
//! [`code_of`] is the only place a gRPC code is chosen: one exhaustive match
//! over [`ErrorKind`], so a new kind cannot be added without deciding its
//! code. [`to_status`] adds the error's parts as google.rpc details
//! (tonic-types): BadRequest field violations, RetryInfo, ResourceInfo,
//! PreconditionFailure (for FAILED_PRECONDITION) and ErrorInfo, bounded so
//! they always fit in HTTP/2 trailers.

use crate::error::{ErrorKind, GatewayError};
use crate::metrics::code_name;
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

/// The gRPC code of a kind. The one place codes are chosen.
pub fn code_of(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::InvalidArgument => Code::InvalidArgument,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::PermissionDenied => Code::PermissionDenied,
        ErrorKind::Unauthenticated => Code::Unauthenticated,
        ErrorKind::FailedPrecondition => Code::FailedPrecondition,
        ErrorKind::ResourceExhausted => Code::ResourceExhausted,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::DeadlineExceeded => Code::DeadlineExceeded,
        ErrorKind::Internal => Code::Internal,
    }
}

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

/// The status a caller receives, with google.rpc details.
pub fn to_status(e: &GatewayError) -> Status {
    let code = code_of(e.kind());
    let message = bounded(e.message(), MAX_STATUS_MESSAGE_BYTES);
    let mut details = ErrorDetails::new();
    let mut detail_bytes = 0;
    for v in e.violations() {
        let field = bounded(&v.field, MAX_VIOLATION_PART_BYTES);
        let description = bounded(&v.description, MAX_VIOLATION_PART_BYTES);
        detail_bytes += field.len() + description.len();
        if detail_bytes > MAX_VIOLATION_DETAIL_BYTES {
            break;
        }
        details.add_bad_request_violation(field, description);
    }
    if let Some(after) = e.retry_after() {
        details.set_retry_info(Some(after));
    }
    if let Some((resource_type, name)) = e.resource() {
        details.set_resource_info(
            resource_type,
            bounded(name, MAX_VIOLATION_PART_BYTES),
            "",
            bounded(e.message(), MAX_VIOLATION_PART_BYTES),
        );
        if e.kind() == ErrorKind::FailedPrecondition {
            details.add_precondition_failure_violation(
                "MODEL_CAPABILITY",
                bounded(name, MAX_VIOLATION_PART_BYTES),
                bounded(e.message(), MAX_VIOLATION_PART_BYTES),
            );
        }
    }
    let mut metadata = MetadataMap::new();
    match e.upstream() {
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

impl From<GatewayError> for Status {
    fn from(e: GatewayError) -> Status {
        to_status(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{bedrock, FieldViolation, UpstreamError};
    use std::time::Duration;

    #[test]
    fn field_violations_survive_the_trip_through_status() {
        let status = Status::from(GatewayError::invalid(vec![
            FieldViolation::new("parameters.top_p", "must be in [0, 1], got 1.5"),
            FieldViolation::new("model_id", "must not be empty"),
        ]));
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
        let status = Status::from(
            GatewayError::new(ErrorKind::ResourceExhausted, "slow down")
                .with_retry_after(Duration::from_secs(2))
                .with_upstream(UpstreamError {
                    error_type: "ThrottlingException".into(),
                    request_id: Some("req-1".into()),
                }),
        );
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

    #[test]
    fn unauthenticated_is_its_own_code_with_gateway_error_info() {
        let status = Status::from(GatewayError::unauthenticated("no key"));
        assert_eq!(status.code(), Code::Unauthenticated);
        let info = status
            .get_error_details()
            .error_info()
            .cloned()
            .expect("ErrorInfo");
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("UNAUTHENTICATED", GATEWAY_DOMAIN)
        );
    }

    #[test]
    fn the_bedrock_error_table_maps_to_these_codes() {
        let code = |t: &str| code_of(bedrock::from_bedrock(t, "m", None).kind());
        assert_eq!(code("ValidationException"), Code::InvalidArgument);
        assert_eq!(code("ResourceNotFoundException"), Code::NotFound);
        assert_eq!(code("AccessDeniedException"), Code::PermissionDenied);
        assert_eq!(code("ThrottlingException"), Code::ResourceExhausted);
        assert_eq!(
            code("ServiceQuotaExceededException"),
            Code::ResourceExhausted
        );
        assert_eq!(code("ModelNotReadyException"), Code::Unavailable);
        assert_eq!(code("ServiceUnavailableException"), Code::Unavailable);
        assert_eq!(code("ModelTimeoutException"), Code::DeadlineExceeded);
        assert_eq!(code("ModelErrorException"), Code::Internal);
        assert_eq!(code("InternalServerException"), Code::Internal);
        assert_eq!(code("SomethingNewException"), Code::Internal);
    }

    #[test]
    fn throttling_carries_a_retry_hint_and_the_request_id() {
        let status = Status::from(bedrock::from_bedrock(
            "ThrottlingException",
            "Too many requests",
            Some("r-9".into()),
        ));
        assert!(status.message().contains("ThrottlingException"));
        assert!(status.message().contains("Too many requests"));
        assert!(status.get_details_retry_info().is_some());
        assert_eq!(status.metadata().get("x-amzn-requestid").unwrap(), "r-9");
    }
}
