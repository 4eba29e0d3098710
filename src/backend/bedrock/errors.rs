//! Bedrock's error types and the gateway error each one becomes.
//!
//! Both backends use this table: the Bedrock backend for real exceptions, the
//! simulated backend for injected ones, so a client's error handling sees
//! exactly the same statuses from either.

use crate::error::{ErrorKind, GatewayError, UpstreamError};
use std::time::Duration;

/// How long a throttled or not-ready caller is told to wait before retrying.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Every Bedrock error type the gateway knows, with its kind. The README's
/// error table is this list.
pub const KNOWN_ERRORS: &[(&str, ErrorKind)] = &[
    ("ValidationException", ErrorKind::InvalidArgument),
    ("ResourceNotFoundException", ErrorKind::NotFound),
    ("AccessDeniedException", ErrorKind::PermissionDenied),
    ("ThrottlingException", ErrorKind::ResourceExhausted),
    ("ServiceQuotaExceededException", ErrorKind::ResourceExhausted),
    ("ModelNotReadyException", ErrorKind::Unavailable),
    ("ServiceUnavailableException", ErrorKind::Unavailable),
    ("ModelTimeoutException", ErrorKind::DeadlineExceeded),
    ("ModelErrorException", ErrorKind::Internal),
    ("ModelStreamErrorException", ErrorKind::Internal),
    ("InternalServerException", ErrorKind::Internal),
    // The gateway's own AWS credentials were refused: an operator problem that
    // a retry will not fix.
    ("UnrecognizedClientException", ErrorKind::PermissionDenied),
    ("InvalidSignatureException", ErrorKind::PermissionDenied),
    ("ExpiredTokenException", ErrorKind::PermissionDenied),
    ("MissingAuthenticationTokenException", ErrorKind::PermissionDenied),
];

/// The kind of a Bedrock error type, if the gateway knows it.
pub fn kind_of(error_type: &str) -> Option<ErrorKind> {
    KNOWN_ERRORS
        .iter()
        .find(|(name, _)| *name == error_type)
        .map(|&(_, kind)| kind)
}

/// The gateway error for a Bedrock error. Unknown types are INTERNAL, with the
/// type kept in ErrorInfo so nothing is lost.
pub fn from_bedrock(error_type: &str, message: &str, request_id: Option<String>) -> GatewayError {
    let kind = kind_of(error_type).unwrap_or(ErrorKind::Internal);
    let text = if message.is_empty() {
        format!("Bedrock returned {error_type}")
    } else {
        format!("Bedrock returned {error_type}: {message}")
    };
    let mut err = GatewayError::new(kind, text).with_upstream(UpstreamError {
        error_type: error_type.to_owned(),
        request_id,
    });
    if matches!(kind, ErrorKind::ResourceExhausted | ErrorKind::Unavailable) {
        err = err.with_retry_after(RETRY_AFTER);
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn the_documented_table_holds() {
        let code = |t: &str| GatewayError::code_of(from_bedrock(t, "m", None).kind());
        assert_eq!(code("ValidationException"), Code::InvalidArgument);
        assert_eq!(code("ResourceNotFoundException"), Code::NotFound);
        assert_eq!(code("AccessDeniedException"), Code::PermissionDenied);
        assert_eq!(code("ThrottlingException"), Code::ResourceExhausted);
        assert_eq!(code("ServiceQuotaExceededException"), Code::ResourceExhausted);
        assert_eq!(code("ModelNotReadyException"), Code::Unavailable);
        assert_eq!(code("ServiceUnavailableException"), Code::Unavailable);
        assert_eq!(code("ModelTimeoutException"), Code::DeadlineExceeded);
        assert_eq!(code("ModelErrorException"), Code::Internal);
        assert_eq!(code("InternalServerException"), Code::Internal);
        assert_eq!(code("SomethingNewException"), Code::Internal);
    }

    #[test]
    fn throttling_carries_a_retry_hint_and_the_request_id() {
        let status = from_bedrock("ThrottlingException", "Too many requests", Some("r-9".into()))
            .into_status();
        assert!(status.message().contains("ThrottlingException"));
        assert!(status.message().contains("Too many requests"));
        use tonic_types::StatusExt;
        assert!(status.get_details_retry_info().is_some());
        assert_eq!(status.metadata().get("x-amzn-requestid").unwrap(), "r-9");
    }
}
