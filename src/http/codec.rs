//! Between HTTP bodies and gRPC frames: the lazily converted request body,
//! the reader of a gRPC response's frames and status, and the JSON forms of
//! messages and statuses. JSON is the canonical proto3 mapping, through
//! `prost-reflect` over the compiled-in descriptor set, so it never drifts
//! from the proto.

use super::Rpc;
use crate::pb;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body_util::BodyExt;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use serde_json::{json, Value};
use tonic::body::Body;
use tonic::{Code, Status};

/// The messages of each RPC, and the google.rpc error details, loaded once.
#[derive(Debug)]
pub(super) struct Schema {
    inputs: Vec<MessageDescriptor>,
    outputs: Vec<MessageDescriptor>,
    details: DescriptorPool,
}

impl Schema {
    pub(super) fn load() -> Schema {
        let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set is compiled in and checked by a unit test");
        let service = pool
            .get_service_by_name(pb::SERVICE_NAME)
            .expect("the descriptor set holds the service");
        let method = |rpc: Rpc| {
            service
                .methods()
                .find(|m| m.name() == rpc.name())
                .unwrap_or_else(|| panic!("the service has {}", rpc.name()))
        };
        Schema {
            inputs: Rpc::ALL.into_iter().map(|r| method(r).input()).collect(),
            outputs: Rpc::ALL.into_iter().map(|r| method(r).output()).collect(),
            details: DescriptorPool::decode(pb::ERROR_DETAILS_DESCRIPTOR_SET)
                .expect("the error details descriptor set is compiled in"),
        }
    }

    /// The request message of `rpc`.
    pub(super) fn input(&self, rpc: Rpc) -> MessageDescriptor {
        self.inputs[rpc as usize].clone()
    }

    /// The response message of `rpc` (one stream message, for streams);
    /// none for other services, whose answers pass as protobuf.
    pub(super) fn output(&self, rpc: Option<Rpc>) -> Output {
        Output {
            message: rpc.map(|rpc| self.outputs[rpc as usize].clone()),
            details: self.details.clone(),
        }
    }
}

/// What a translated answer needs: its message type and the error details'
/// types (a pool is a reference count, so this is cheap to hand out).
#[derive(Debug, Clone)]
pub(super) struct Output {
    message: Option<MessageDescriptor>,
    details: DescriptorPool,
}

/// How a translated request's body becomes the protobuf message.
#[derive(Debug)]
pub(super) enum Decode {
    /// The body is the message in JSON (empty means an empty message).
    Json,
    /// The body is the message in protobuf.
    Proto,
    /// The body is one Connect envelope holding the message in JSON.
    EnvelopedJson,
    /// The body is one Connect envelope holding the message in protobuf.
    EnvelopedProto,
    /// The query string's parameters, each converted by its field's type
    /// ([`query_fields`]); no body.
    Query(Vec<(String, String)>),
    /// The message's fields from the path, as JSON; no body.
    Given(Value),
    /// The body is already gRPC frames (Connect envelopes in protobuf): it
    /// streams through unread, as a bidirectional stream needs.
    Passthrough,
}

/// The inner gRPC request's body: one frame holding the message, made when
/// tonic first reads it (after the edge admitted the call). A body that
/// cannot become the message ends in an error status, which tonic answers
/// with and the edge logs as a refusal.
/// `input` is the RPC's request message; without one (another service)
/// only protobuf bodies are routed here.
pub(super) fn request_body(body: Body, decode: Decode, input: Option<MessageDescriptor>, limit: usize) -> Body {
    if let Decode::Passthrough = decode {
        return body;
    }
    let frame = async move {
        let input = || input.clone().ok_or_else(|| super::status(Code::Unimplemented, "JSON is served for the gateway's own RPCs"));
        let message = match decode {
            Decode::Query(pairs) => {
                let input = input()?;
                from_json_value(query_fields(pairs, &input)?, &input)?
            }
            Decode::Given(fields) => from_json_value(fields, &input()?)?,
            other => {
                let bytes = read_bounded(body, limit).await?;
                match other {
                    Decode::Json => from_json(&bytes, &input()?)?,
                    Decode::Proto => bytes,
                    Decode::EnvelopedJson => from_json(&unenvelope(bytes)?, &input()?)?,
                    Decode::EnvelopedProto => unenvelope(bytes)?,
                    Decode::Query(_) | Decode::Given(_) | Decode::Passthrough => unreachable!("handled above"),
                }
            }
        };
        Ok::<_, Status>(hyper::body::Frame::data(grpc_frame(&message)))
    };
    Body::new(http_body_util::StreamBody::new(futures::stream::once(frame)))
}

/// The whole body, refused past `limit` bytes as tonic refuses a message
/// over `--max-message-bytes`.
async fn read_bounded(body: Body, limit: usize) -> Result<Bytes, Status> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(super::status(Code::OutOfRange, format!(
            "the request body is larger than --max-message-bytes ({limit} bytes)"
        ))),
        Err(e) => Err(super::status(Code::Cancelled, format!("the request body did not arrive whole: {e}"))),
    }
}

/// The message of a Connect streaming request: exactly one uncompressed
/// envelope (a flags byte, a big-endian length, the message).
fn unenvelope(mut bytes: Bytes) -> Result<Bytes, Status> {
    if bytes.len() < 5 {
        return Err(super::status(Code::InvalidArgument, "a Connect streaming request holds one enveloped message"));
    }
    let flags = bytes.get_u8();
    let len = bytes.get_u32() as usize;
    if flags & 1 != 0 {
        return Err(super::status(Code::Unimplemented, "compressed Connect messages are not supported"));
    }
    if bytes.len() != len {
        return Err(super::status(Code::InvalidArgument, "a Connect streaming request holds exactly one enveloped message"));
    }
    Ok(bytes)
}

fn from_json(bytes: &[u8], input: &MessageDescriptor) -> Result<Bytes, Status> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Bytes::new());
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let message = DynamicMessage::deserialize(input.clone(), &mut de)
        .and_then(|m| de.end().map(|()| m))
        .map_err(|e| not_the_message(input, &e))?;
    Ok(message.encode_to_vec().into())
}

/// Query parameters as the message's JSON, each by its field's type from
/// the descriptor: booleans `true` or `false`, strings as they are, numbers
/// and enum names as strings (which the proto3 JSON mapping reads), repeated
/// fields from each occurrence. A parameter that names no field (by its
/// proto or JSON name) is refused, naming every such parameter.
pub(super) fn query_fields(pairs: Vec<(String, String)>, input: &MessageDescriptor) -> Result<Value, Status> {
    let mut fields = serde_json::Map::new();
    let mut unknown = Vec::new();
    for (key, value) in pairs {
        let Some(field) = input.get_field_by_name(&key).or_else(|| input.get_field_by_json_name(&key)) else {
            unknown.push(key);
            continue;
        };
        let value = match field.kind() {
            prost_reflect::Kind::Bool => match value.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => {
                    return Err(super::status(
                        Code::InvalidArgument,
                        format!("query parameter `{key}` is a boolean (true or false), got {value:?}"),
                    ))
                }
            },
            _ => Value::String(value),
        };
        if field.is_list() {
            let entry = fields.entry(field.name()).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(values) = entry {
                values.push(value);
            }
        } else {
            fields.insert(field.name().to_owned(), value);
        }
    }
    if !unknown.is_empty() {
        let known: Vec<String> = input.fields().map(|f| f.name().to_owned()).collect();
        return Err(super::status(
            Code::InvalidArgument,
            format!(
                "unknown query parameter{} {}: {} takes {}",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "),
                input.full_name(),
                known.join(", ")
            ),
        ));
    }
    Ok(Value::Object(fields))
}

fn from_json_value(fields: Value, input: &MessageDescriptor) -> Result<Bytes, Status> {
    let message = DynamicMessage::deserialize(input.clone(), fields).map_err(|e| not_the_message(input, &e))?;
    Ok(message.encode_to_vec().into())
}

fn not_the_message(input: &MessageDescriptor, e: &serde_json::Error) -> Status {
    super::status(Code::InvalidArgument, format!("the request is not a {} in proto3 JSON: {e}", input.full_name()))
}

/// One uncompressed gRPC (or Connect) envelope around `message`.
pub(super) fn envelope(flags: u8, message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(flags);
    out.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(message);
    out.freeze()
}

fn grpc_frame(message: &[u8]) -> Bytes {
    envelope(0, message)
}

/// Reads a gRPC response body: its messages, then its status.
pub(super) struct GrpcBody {
    body: Body,
    buf: BytesMut,
    trailers: Option<http::HeaderMap>,
    ended: bool,
}

impl GrpcBody {
    pub(super) fn new(body: Body) -> Self {
        GrpcBody {
            body,
            buf: BytesMut::new(),
            trailers: None,
            ended: false,
        }
    }

    /// The next message, or `None` once the body has ended.
    pub(super) async fn next(&mut self) -> Result<Option<Bytes>, Status> {
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
                if self.buf.len() >= 5 + len {
                    let compressed = self.buf[0] & 1 != 0;
                    self.buf.advance(5);
                    let message = self.buf.split_to(len).freeze();
                    if compressed {
                        // The inner request never offers compression.
                        return Err(super::status(Code::Internal, "a compressed message from the service"));
                    }
                    return Ok(Some(message));
                }
            }
            if self.ended {
                if !self.buf.is_empty() {
                    return Err(super::status(Code::Internal, "the service's response ended inside a message"));
                }
                return Ok(None);
            }
            match self.body.frame().await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => self.buf.extend_from_slice(&data),
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            self.trailers = Some(trailers);
                        }
                    }
                },
                Some(Err(status)) => return Err(status),
                None => self.ended = true,
            }
        }
    }

    /// The call's status, from the trailers, once [`GrpcBody::next`] has
    /// returned `None`.
    pub(super) fn status(&self) -> Status {
        self.trailers
            .as_ref()
            .and_then(Status::from_header_map)
            .unwrap_or_else(|| super::status(Code::Unknown, "the call ended without a status"))
    }

    /// The trailers, for the metadata Connect passes on.
    pub(super) fn trailers(&self) -> Option<&http::HeaderMap> {
        self.trailers.as_ref()
    }
}

/// A trailers-only response's status (a call refused before any message).
pub(super) fn early_status(headers: &http::HeaderMap) -> Option<Status> {
    Status::from_header_map(headers)
}

impl Output {
    fn descriptor(&self) -> Result<MessageDescriptor, Status> {
        self.message
            .clone()
            .ok_or_else(|| super::status(Code::Unimplemented, "JSON is served for the gateway's own RPCs"))
    }

    /// A response message as canonical proto3 JSON.
    pub(super) fn to_json(&self, message: Bytes) -> Result<Vec<u8>, Status> {
        let message = DynamicMessage::decode(self.descriptor()?, message)
            .map_err(|e| super::status(Code::Internal, format!("an undecodable message from the service: {e}")))?;
        serde_json::to_vec(&message).map_err(|e| super::status(Code::Internal, format!("a message JSON cannot hold: {e}")))
    }

    /// A stream message as its one set field of the `event` oneof: the
    /// field's name (the SSE event name) and its message in JSON.
    pub(super) fn event_to_json(&self, message: Bytes) -> Result<(String, Vec<u8>), Status> {
        let message = DynamicMessage::decode(self.descriptor()?, message)
            .map_err(|e| super::status(Code::Internal, format!("an undecodable message from the service: {e}")))?;
        let (field, value) = message
            .fields()
            .next()
            .ok_or_else(|| super::status(Code::Internal, "a stream message with no event set"))?;
        let json = match value.as_message() {
            Some(inner) => serde_json::to_vec(inner),
            None => serde_json::to_vec(&message),
        }
        .map_err(|e| super::status(Code::Internal, format!("a message JSON cannot hold: {e}")))?;
        Ok((field.name().to_owned(), json))
    }

    /// The status as a google.rpc.Status in canonical JSON: `code` as a
    /// number, `message`, and each detail as an `Any` (`@type` and the
    /// detail's fields).
    pub(super) fn status_json(&self, status: &Status) -> Value {
        let details: Vec<Value> = self
            .details(status)
            .into_iter()
            .map(|(type_name, value, fields)| {
                let mut any = serde_json::Map::new();
                any.insert("@type".into(), json!(format!("type.googleapis.com/{type_name}")));
                match fields {
                    Some(Value::Object(fields)) => any.extend(fields),
                    _ => {
                        use base64::Engine as _;
                        any.insert("value".into(), json!(base64::engine::general_purpose::STANDARD.encode(value)));
                    }
                }
                Value::Object(any)
            })
            .collect();
        let mut out = json!({ "code": status.code() as i32, "message": status.message() });
        if !details.is_empty() {
            out["details"] = Value::Array(details);
        }
        out
    }

    /// The status as Connect's error JSON: `code` by name, `message`, and
    /// each detail as `type`, base64 `value` and a `debug` JSON view.
    pub(super) fn connect_error_json(&self, status: &Status) -> Value {
        use base64::Engine as _;
        let details: Vec<Value> = self
            .details(status)
            .into_iter()
            .map(|(type_name, value, fields)| {
                let mut d = json!({
                    "type": type_name,
                    "value": base64::engine::general_purpose::STANDARD_NO_PAD.encode(value),
                });
                if let Some(fields) = fields {
                    d["debug"] = fields;
                }
                d
            })
            .collect();
        let mut out = json!({ "code": super::connect::code_name(status.code()) });
        if !status.message().is_empty() {
            out["message"] = json!(status.message());
        }
        if !details.is_empty() {
            out["details"] = Value::Array(details);
        }
        out
    }

    /// The status's google.rpc details: type name, encoded value, and its
    /// fields in JSON when the type is a known google.rpc detail.
    fn details(&self, status: &Status) -> Vec<(String, Bytes, Option<Value>)> {
        if status.details().is_empty() {
            return Vec::new();
        }
        let Ok(rpc_status) = RpcStatus::decode(status.details()) else {
            return Vec::new();
        };
        rpc_status
            .details
            .into_iter()
            .map(|any| {
                let type_name = any.type_url.rsplit('/').next().unwrap_or_default().to_owned();
                let value = Bytes::from(any.value);
                let fields = self
                    .details
                    .get_message_by_name(&type_name)
                    .and_then(|desc| DynamicMessage::decode(desc, value.clone()).ok())
                    .and_then(|m| serde_json::to_value(&m).ok());
                (type_name, value, fields)
            })
            .collect()
    }
}

/// google.rpc.Status, as `grpc-status-details-bin` carries it.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_become_the_message_and_bad_ones_invalid_argument() {
        let schema = Schema::load();
        let input = schema.input(Rpc::Generate);
        let bytes = from_json(br#"{"modelId": "m", "prompt": "hi", "parameters": {"max_tokens": 5}}"#, &input).unwrap();
        let request = pb::GenerateRequest::decode(bytes).unwrap();
        assert_eq!(request.model_id, "m");
        assert_eq!(request.prompt, "hi");
        assert_eq!(request.parameters.unwrap().max_tokens, Some(5));
        let e = from_json(br#"{"model": "m"}"#, &input).unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains("model"), "{}", e.message());
        assert!(from_json(b"  ", &input).unwrap().is_empty());
    }

    #[test]
    fn envelopes_hold_exactly_one_message() {
        assert_eq!(unenvelope(envelope(0, b"abc")).unwrap(), &b"abc"[..]);
        assert_eq!(unenvelope(envelope(1, b"abc")).unwrap_err().code(), tonic::Code::Unimplemented);
        let mut two = envelope(0, b"a").to_vec();
        two.extend_from_slice(&envelope(0, b"b"));
        assert_eq!(unenvelope(two.into()).unwrap_err().code(), tonic::Code::InvalidArgument);
    }
}
