//! The JSON routes' answers, from the inner gRPC response: one JSON object
//! (the response message, or a google.rpc.Status with the HTTP status
//! Connect assigns its code), or, for `POST /v1/generate:stream`,
//! Server-Sent Events.
//!
//! SSE: each stream message is one event named after the `event` oneof's
//! field that is set (`delta`, `complete`, `tool_use_start`,
//! `tool_use_delta`, `reasoning_delta`), its `data:` that field's message in
//! proto3 JSON; an error ends the stream with `event: error` and a
//! google.rpc.Status. Nothing else (no `[DONE]` sentinel): `complete` or
//! `error` is always last. A call refused before its first message answers
//! the code's HTTP status with that one error event, so `curl --fail` and
//! fetch callers see the refusal in the status too.

use super::codec::{early_status, GrpcBody, Output};
use super::connect::respond;
use super::pass_on_headers;
use bytes::{BufMut, Bytes, BytesMut};
use http::header::{HeaderValue, CACHE_CONTROL};
use http::{Response, StatusCode};
use tonic::body::Body;
use tonic::{Code, Status};

fn full(bytes: impl Into<Bytes>) -> Body {
    Body::new(http_body_util::Full::new(bytes.into()))
}

/// A unary JSON answer.
pub(super) async fn unary(response: Response<Body>, output: &Output) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let error = |status: &Status| super::error_response(super::Dialect::Json, output, status, None);
    let mut answer = match early_status(&parts.headers) {
        Some(status) => error(&status),
        None => {
            let mut grpc = GrpcBody::new(body);
            let result = async {
                let message = grpc.next().await?;
                grpc.next().await?;
                Ok::<_, Status>(message)
            }
            .await;
            let status = grpc.status();
            match result {
                Err(e) => error(&e),
                Ok(_) if status.code() != Code::Ok => error(&status),
                Ok(Some(message)) => match output.to_json(message) {
                    Ok(body) => respond(StatusCode::OK, "application/json", full(body)),
                    Err(e) => error(&e),
                },
                Ok(None) => error(&super::status(Code::Internal, "the service answered no message")),
            }
        }
    };
    pass_on_headers(&parts.headers, answer.headers_mut());
    answer
}

/// One SSE event: `event: <name>`, `data: <json>`, a blank line. JSON from
/// serde_json has no raw line breaks, so one `data:` line holds it.
fn event(name: &str, data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(name.len() + data.len() + 16);
    out.put_slice(b"event: ");
    out.put_slice(name.as_bytes());
    out.put_slice(b"\ndata: ");
    out.put_slice(data);
    out.put_slice(b"\n\n");
    out.freeze()
}

pub(super) fn error_event(output: &Output, status: &Status) -> Bytes {
    event("error", &serde_json::to_vec(&output.status_json(status)).unwrap_or_default())
}

/// A Server-Sent Events answer. The body owns the inner gRPC body, so a
/// client that goes away drops the call and with it the backend stream.
pub(super) fn sse(response: Response<Body>, output: Output) -> Response<Body> {
    let (parts, body) = response.into_parts();
    if let Some(status) = early_status(&parts.headers) {
        let mut answer = super::error_response(super::Dialect::Sse, &output, &status, None);
        pass_on_headers(&parts.headers, answer.headers_mut());
        return answer;
    }
    struct State {
        grpc: GrpcBody,
        output: Output,
        done: bool,
    }
    let state = State {
        grpc: GrpcBody::new(body),
        output,
        done: false,
    };
    let events = futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let status = match st.grpc.next().await {
            Ok(Some(message)) => match st.output.event_to_json(message) {
                Ok((name, json)) => return Some((Ok::<_, Status>(hyper::body::Frame::data(event(&name, &json))), st)),
                Err(e) => e,
            },
            Ok(None) => st.grpc.status(),
            Err(e) => e,
        };
        st.done = true;
        if status.code() == Code::Ok {
            // `complete` was the last event; nothing more to say.
            return None;
        }
        Some((Ok(hyper::body::Frame::data(error_event(&st.output, &status))), st))
    });
    let mut answer = respond(StatusCode::OK, "text/event-stream", Body::new(http_body_util::StreamBody::new(events)));
    answer.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    pass_on_headers(&parts.headers, answer.headers_mut());
    answer
}
