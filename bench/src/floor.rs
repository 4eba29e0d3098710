//! The floor: a bare tonic server for `TextGenerationService` with the
//! gateway's own request and response messages, and nothing else. No
//! validation, no backend, no middleware, no logging: what is left is the cost
//! of gRPC itself (HTTP/2, protobuf, tonic, tokio) on this machine.
//!
//! `Generate` answers a fixed 16-token `GenerateResponse`; `GenerateStream`
//! answers a fixed stream of `--stream-tokens` deltas and one completion.

use crate::pb::text_generation_service_server::{
    TextGenerationService, TextGenerationServiceServer,
};
use crate::pb::{
    content_block, generate_stream_response::Event, ContentBlock, CountTokensRequest,
    CountTokensResponse, GenerateRequest, GenerateResponse, GenerateStreamRequest,
    GenerateStreamResponse, GenerationComplete, GetModelRequest, GetModelResponse,
    ListModelsRequest, ListModelsResponse, StopReason, TextDelta, Usage,
};
use std::pin::Pin;
use tonic::{Request, Response, Status};

/// The words the floor's fixed answers are made of (one token each).
const WORDS: [&str; 16] = [
    "Above", " the", " sky,", " the", " morning", " opens", " wide,", "\nI", " watch", " the",
    " sky", " where", " quiet", " colours", " hide,", "\nand",
];

/// Flags of `gateway-bench floor`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct FloorArgs {
    /// Address to serve on (port 0: any free port; the chosen address is
    /// printed as a JSON "floor listening" line on stderr).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// Deltas per GenerateStream answer, before the completion.
    #[arg(long, default_value_t = 64)]
    stream_tokens: usize,
    /// Leave Nagle's algorithm on for accepted connections (tonic's `serve`
    /// turns it off; `serve_with_incoming` over a plain listener leaves it on).
    #[arg(long)]
    no_nodelay: bool,
}

struct Floor {
    unary: GenerateResponse,
    stream: Vec<GenerateStreamResponse>,
}

fn completion(output_tokens: u32) -> (Usage, String, prost_types::Duration) {
    (
        Usage {
            input_tokens: 5,
            output_tokens,
            total_tokens: 5 + output_tokens,
            ..Default::default()
        },
        // A fixed UUID-sized request ID, so the message size matches the gateway's.
        "00000000-0000-4000-8000-000000000000".to_owned(),
        prost_types::Duration {
            seconds: 0,
            nanos: 12_345,
        },
    )
}

impl Floor {
    fn new(stream_tokens: usize) -> Floor {
        let (usage, request_id, latency) = completion(16);
        let unary = GenerateResponse {
            text: WORDS.concat(),
            stop_reason: StopReason::MaxTokens as i32,
            usage: Some(usage),
            invoked_model_id: "amazon.titan-text-express-v1".to_owned(),
            backend_latency: Some(latency),
            request_id,
            backend: "floor".to_owned(),
            raw_stop_reason: "max_tokens".to_owned(),
            resolved_model_id: "amazon.titan-text-express-v1".to_owned(),
            // The answer's blocks, as the gateway sends them with the text.
            content: vec![ContentBlock {
                block: Some(content_block::Block::Text(WORDS.concat())),
            }],
            service_tier: 0,
            latency: 0,
            guardrail_trace: None,
        };
        let mut stream: Vec<GenerateStreamResponse> = (0..stream_tokens)
            .map(|i| GenerateStreamResponse {
                event: Some(Event::Delta(TextDelta {
                    text: WORDS[i % WORDS.len()].to_owned(),
                    index: 0,
                })),
            })
            .collect();
        let (usage, request_id, latency) = completion(stream_tokens as u32);
        stream.push(GenerateStreamResponse {
            event: Some(Event::Complete(GenerationComplete {
                stop_reason: StopReason::MaxTokens as i32,
                usage: Some(usage),
                invoked_model_id: "amazon.titan-text-express-v1".to_owned(),
                backend_latency: Some(latency),
                request_id,
                backend: "floor".to_owned(),
                raw_stop_reason: "max_tokens".to_owned(),
                time_to_first_token: Some(latency),
                resolved_model_id: "amazon.titan-text-express-v1".to_owned(),
                tool_uses: Vec::new(),
                service_tier: 0,
                latency: 0,
                guardrail_trace: None,
            })),
        });
        Floor { unary, stream }
    }
}

type EventStream =
    Pin<Box<dyn futures::Stream<Item = Result<GenerateStreamResponse, Status>> + Send>>;

#[tonic::async_trait]
impl TextGenerationService for Floor {
    async fn generate(
        &self,
        _request: Request<GenerateRequest>,
    ) -> Result<Response<GenerateResponse>, Status> {
        Ok(Response::new(self.unary.clone()))
    }

    type GenerateStreamStream = EventStream;

    async fn generate_stream(
        &self,
        _request: Request<GenerateStreamRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let events = self.stream.clone();
        Ok(Response::new(Box::pin(futures::stream::iter(
            events.into_iter().map(Ok),
        ))))
    }

    async fn list_models(
        &self,
        _request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        Ok(Response::new(ListModelsResponse::default()))
    }

    async fn get_model(
        &self,
        _request: Request<GetModelRequest>,
    ) -> Result<Response<GetModelResponse>, Status> {
        Err(Status::not_found("the floor has no models"))
    }

    async fn count_tokens(
        &self,
        _request: Request<CountTokensRequest>,
    ) -> Result<Response<CountTokensResponse>, Status> {
        // The floor measures serving Generate and GenerateStream; it has no
        // model to count with.
        Err(Status::unimplemented("the floor counts no tokens"))
    }
}

/// Serves the floor until killed.
pub(crate) async fn serve(args: FloorArgs) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("bind {}: {e}", args.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!(
        "{}",
        serde_json::json!({"message": "floor listening", "addr": addr.to_string()})
    );
    let incoming =
        tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(!args.no_nodelay));
    tonic::transport::Server::builder()
        .add_service(TextGenerationServiceServer::new(Floor::new(
            args.stream_tokens,
        )))
        .serve_with_incoming(incoming)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_answers_have_the_promised_sizes() {
        let f = Floor::new(64);
        assert_eq!(f.unary.usage.unwrap().output_tokens, 16);
        assert_eq!(f.stream.len(), 65);
        assert!(matches!(f.stream[64].event, Some(Event::Complete(_))));
    }
}
