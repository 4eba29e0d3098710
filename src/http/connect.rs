//! The Connect protocol's answers, from the inner gRPC response
//! (<https://connectrpc.com/docs/protocol>): unary calls answer the message
//! (JSON or protobuf) or Connect's JSON error with the HTTP status Connect
//! assigns its code; server streams answer enveloped messages and end with
//! the end-of-stream message carrying the error, if any, and the trailers.

use super::codec::{envelope, early_status, GrpcBody, Output};
use super::pass_on_headers;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use serde_json::{json, Value};
use tonic::body::Body;
use tonic::{Code, Status};

/// Connect's name of a code (note `canceled`, with one `l`).
pub(super) fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "canceled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

/// The HTTP status Connect assigns a code; the JSON routes use the same.
pub(super) fn http_status(code: Code) -> StatusCode {
    let n = match code {
        Code::Ok => 200,
        Code::Cancelled => 499,
        Code::Unknown | Code::Internal | Code::DataLoss => 500,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
        Code::DeadlineExceeded => 504,
        Code::NotFound => 404,
        Code::AlreadyExists | Code::Aborted => 409,
        Code::PermissionDenied => 403,
        Code::ResourceExhausted => 429,
        Code::Unimplemented => 501,
        Code::Unavailable => 503,
        Code::Unauthenticated => 401,
    };
    StatusCode::from_u16(n).expect("a valid status code")
}

/// A response with `status`, `content_type` and `body`.
pub(super) fn respond(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Body::new(http_body_util::Full::new(bytes.into()))
}

/// A Connect unary answer.
pub(super) async fn unary(response: Response<Body>, json: bool, output: &Output) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let error = |status: &Status| super::error_response(super::Dialect::ConnectUnary { json }, output, status, None);
    let mut answer = match early_status(&parts.headers) {
        Some(status) => error(&status),
        None => {
            let mut grpc = GrpcBody::new(body);
            let message = grpc.next().await;
            // Drain to the trailers (a unary answer has one message).
            let rest = match &message {
                Ok(Some(_)) => grpc.next().await.map(|_| ()),
                _ => Ok(()),
            };
            let status = match (&message, &rest) {
                (Err(e), _) | (_, Err(e)) => e.clone(),
                _ => grpc.status(),
            };
            match (status.code(), message) {
                (Code::Ok, Ok(Some(message))) => {
                    let mut answer = if json {
                        match output.to_json(message) {
                            Ok(body) => respond(StatusCode::OK, "application/json", full(body)),
                            Err(e) => error(&e),
                        }
                    } else {
                        respond(StatusCode::OK, "application/proto", full(message))
                    };
                    // Connect unary sends trailers as `trailer-` headers.
                    if let Some(trailers) = grpc.trailers() {
                        for (name, value) in trailers {
                            if name.as_str().starts_with("grpc-") {
                                continue;
                            }
                            if let Ok(n) = HeaderName::from_bytes(format!("trailer-{name}").as_bytes()) {
                                answer.headers_mut().append(n, value.clone());
                            }
                        }
                    }
                    answer
                }
                (Code::Ok, _) => error(&super::status(Code::Internal, "the service answered no message")),
                _ => error(&status),
            }
        }
    };
    let mut headers = http::HeaderMap::new();
    pass_on_headers(&parts.headers, &mut headers);
    answer.headers_mut().extend(headers);
    answer
}

/// A Connect server-streaming answer: always HTTP 200; each message in an
/// envelope; last, the end-of-stream envelope (flag 2) with the error and
/// the trailers as metadata. The body owns the inner gRPC body, so a client
/// that goes away drops the call.
pub(super) fn stream(response: Response<Body>, json: bool, output: Output) -> Response<Body> {
    let early = early_status(response.headers());
    let (parts, body) = response.into_parts();
    let content_type = if json { "application/connect+json" } else { "application/connect+proto" };
    struct State {
        grpc: GrpcBody,
        output: Output,
        json: bool,
        early: Option<Status>,
        done: bool,
    }
    let state = State {
        grpc: GrpcBody::new(body),
        output,
        json,
        early,
        done: false,
    };
    let events = futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let status = if let Some(status) = st.early.take() {
            status
        } else {
            match st.grpc.next().await {
                Ok(Some(message)) => {
                    let payload = if st.json { st.output.to_json(message).map(Bytes::from) } else { Ok(message) };
                    match payload {
                        Ok(payload) => {
                            return Some((Ok::<_, Status>(hyper::body::Frame::data(envelope(0, &payload))), st));
                        }
                        Err(e) => e,
                    }
                }
                Ok(None) => st.grpc.status(),
                Err(e) => e,
            }
        };
        st.done = true;
        let mut end = json!({});
        if status.code() != Code::Ok {
            end["error"] = st.output.connect_error_json(&status);
        }
        if let Some(trailers) = st.grpc.trailers() {
            let mut metadata = serde_json::Map::new();
            for (name, value) in trailers {
                if name.as_str().starts_with("grpc-") {
                    continue;
                }
                if let Ok(v) = value.to_str() {
                    let entry = metadata.entry(name.as_str()).or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(values) = entry {
                        values.push(json!(v));
                    }
                }
            }
            if !metadata.is_empty() {
                end["metadata"] = Value::Object(metadata);
            }
        }
        let end = serde_json::to_vec(&end).unwrap_or_default();
        Some((Ok(hyper::body::Frame::data(envelope(2, &end))), st))
    });
    let mut answer = respond(StatusCode::OK, content_type, Body::new(http_body_util::StreamBody::new(events)));
    pass_on_headers(&parts.headers, answer.headers_mut());
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_connects_names_and_http_statuses() {
        assert_eq!(code_name(Code::Cancelled), "canceled");
        assert_eq!(code_name(Code::InvalidArgument), "invalid_argument");
        assert_eq!(http_status(Code::InvalidArgument), StatusCode::BAD_REQUEST);
        assert_eq!(http_status(Code::ResourceExhausted), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(http_status(Code::Unauthenticated), StatusCode::UNAUTHORIZED);
        assert_eq!(http_status(Code::DeadlineExceeded), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(http_status(Code::Unavailable), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(http_status(Code::Cancelled).as_u16(), 499);
    }
}
