//! AWS SDK failures into gateway errors.
//!
//! Bedrock's own exceptions go through the shared table in `error::bedrock`; what the
//! SDK raises before or around the HTTP exchange (no credentials, connection
//! refused, timeouts, unreadable responses) is classified here, each with a
//! message that says what went wrong and where.

use crate::error::bedrock as errors;
use crate::error::{ErrorKind, GatewayError, UpstreamError};
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_smithy_runtime_api::client::result::SdkError;

/// Converts an SDK error. `request_id` is Bedrock's request ID when the
/// caller already knows it (mid-stream errors carry none of their own).
pub(crate) fn from_sdk<E, R>(
    operation: &str,
    err: SdkError<E, R>,
    request_id: Option<String>,
) -> GatewayError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let detail = DisplayErrorContext(&err).to_string();
    let broken_connection = connection_broke(&err);
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let request_id = request_id.or_else(|| {
                aws_sdk_bedrockruntime::operation::RequestId::request_id(e.meta()).map(str::to_owned)
            });
            match error_type(e) {
                Some(error_type) => {
                    let message = e.message().unwrap_or_default().to_owned();
                    errors::from_bedrock(&error_type, &message, request_id)
                }
                // Not one of Bedrock's errors but an answer the SDK could not
                // deserialize (e.g. a 200 whose JSON is cut short).
                None => GatewayError::new(
                    ErrorKind::Internal,
                    format!("Bedrock's {operation} response could not be read: {detail}"),
                )
                .with_upstream(UpstreamError {
                    error_type: "MalformedResponse".into(),
                    request_id,
                }),
            }
        }
        SdkError::TimeoutError(_) => GatewayError::new(
            ErrorKind::DeadlineExceeded,
            format!("Bedrock {operation} timed out in the AWS SDK: {detail}"),
        ),
        SdkError::DispatchFailure(ref failure) if failure.is_timeout() => GatewayError::new(
            ErrorKind::DeadlineExceeded,
            format!("Bedrock {operation} timed out connecting: {detail}"),
        ),
        SdkError::DispatchFailure(_) => GatewayError::new(
            ErrorKind::Unavailable,
            format!("cannot reach Bedrock for {operation}: {detail}"),
        )
        .with_retry_after(errors::RETRY_AFTER),
        // The connection dropped mid-answer: transient, like a refused connection.
        SdkError::ResponseError(_) if broken_connection => GatewayError::new(
            ErrorKind::Unavailable,
            format!("the connection to Bedrock broke during the {operation} response: {detail}"),
        )
        .with_retry_after(errors::RETRY_AFTER),
        SdkError::ResponseError(_) => GatewayError::new(
            ErrorKind::Internal,
            format!("Bedrock's {operation} response could not be read: {detail}"),
        ),
        SdkError::ConstructionFailure(_) if mentions_credentials(&detail) => GatewayError::new(
            ErrorKind::Unavailable,
            format!(
                "the gateway has no usable AWS credentials for {operation}: {detail}. \
                 Configure them through the standard chain (environment, profile, SSO, \
                 web identity, ECS or IMDS)"
            ),
        ),
        _ => GatewayError::new(
            ErrorKind::Internal,
            format!("Bedrock {operation} failed in the AWS SDK: {detail}"),
        ),
    }
}

/// Bedrock's error type: the `x-amzn-errortype` the SDK read or, for an
/// exception inside an event stream (which the SDK hands over as its typed
/// error without that metadata), the modelled type's name, which its Display
/// starts with ("ThrottlingException: ...").
fn error_type<E: ProvideErrorMetadata + std::fmt::Display>(e: &E) -> Option<String> {
    if let Some(code) = e.code() {
        return Some(code.to_owned());
    }
    let shown = e.to_string();
    let name = shown.split(':').next().unwrap_or_default().trim();
    errors::kind_of(name).map(|_| name.to_owned())
}

/// Whether an I/O error (a reset, an unexpected EOF) caused `err`, as opposed
/// to bytes that arrived but could not be understood.
fn connection_broke(err: &dyn std::error::Error) -> bool {
    let mut cause = err.source();
    while let Some(e) = cause {
        if e.is::<std::io::Error>() {
            return true;
        }
        cause = e.source();
    }
    false
}

fn mentions_credentials(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    lower.contains("credential") || lower.contains("identity")
}
