//! One error type for the whole service, in the terms a caller acts on.
//!
//! The edge, validation, admission and every backend produce [`GatewayError`].
//! It knows no transport: `grpc::status` is the one place that turns an
//! [`ErrorKind`] into a gRPC code and the error's parts (field violations,
//! retry hint, resource, upstream error) into google.rpc details.
//! [`bedrock`] is Bedrock's error table, which both backends use.

pub mod bedrock;

use std::fmt;
use std::time::Duration;

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
    /// The request is valid, but the model cannot do what it asks (such as
    /// counting tokens); retrying will not help, another model might.
    FailedPrecondition,
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

    /// UNAUTHENTICATED: the caller presented no API key, or one that is not valid.
    pub fn unauthenticated(why: impl Into<String>) -> Self {
        GatewayError::new(ErrorKind::Unauthenticated, why)
    }

    /// NOT_FOUND for a named resource of `resource_type`.
    pub fn not_found(resource_type: &str, name: &str, message: impl Into<String>) -> Self {
        let mut e = GatewayError::new(ErrorKind::NotFound, message);
        e.0.resource = Some((resource_type.to_owned(), name.to_owned()));
        e
    }

    /// FAILED_PRECONDITION: the model named `model_id` cannot do what the
    /// call asks (such as counting tokens).
    pub fn model_cannot(model_id: &str, message: impl Into<String>) -> Self {
        let mut e = GatewayError::new(ErrorKind::FailedPrecondition, message);
        e.0.resource = Some(("bedrock foundation model".to_owned(), model_id.to_owned()));
        e
    }

    /// PERMISSION_DENIED: the caller's policy does not allow the named
    /// resource of `resource_type`.
    pub fn denied(resource_type: &str, name: &str, message: impl Into<String>) -> Self {
        let mut e = GatewayError::new(ErrorKind::PermissionDenied, message);
        e.0.resource = Some((resource_type.to_owned(), name.to_owned()));
        e
    }

    /// Adds a sentence of context to the message.
    pub fn with_context(mut self, context: &str) -> Self {
        self.0.message.push_str("; ");
        self.0.message.push_str(context);
        self
    }

    /// Whether the call that failed with this error surely generated
    /// nothing: it was refused or failed before the model ran. A deadline
    /// or an internal failure may come after output was (partly) produced.
    pub fn generated_nothing(&self) -> bool {
        !matches!(self.0.kind, ErrorKind::DeadlineExceeded | ErrorKind::Internal)
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

    /// The retry hint, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// The resource this error is about, as (type, name), if any.
    pub fn resource(&self) -> Option<(&str, &str)> {
        self.0.resource.as_ref().map(|(t, n)| (t.as_str(), n.as_str()))
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
