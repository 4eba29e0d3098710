//! Bedrock's error types and the gateway error each one becomes.
//!
//! Both backends use this table: the Bedrock backend for real exceptions, the
//! simulated backend for injected ones, so a client's error handling sees
//! exactly the same statuses from either. Validation reads it too, to check
//! the simulation controls' `fail_with`.

use super::{ErrorKind, GatewayError, UpstreamError};
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
