//! The [`Backend`] trait: the only thing the gRPC layer talks to.
//!
//! A backend receives validated domain requests and answers with domain
//! results. It never sees protobuf. Two live here: [`simulated`] (offline,
//! deterministic when asked) and [`bedrock`] (Amazon Bedrock through the AWS
//! SDK). Tests put their own mocks behind the same trait.

pub mod bedrock;
pub mod simulated;

use crate::domain::{Generation, GenerationRequest, ModelFilter, ModelInfo, StreamEvent};
use crate::error::GatewayError;
use crate::model::ModelDirectory;
use futures::stream::BoxStream;
use std::sync::Arc;

/// A stream of generation events: deltas, then one `Complete`, or an error
/// that ends it. Dropping the stream must stop the upstream work at once:
/// that is how a client's cancel reaches Bedrock.
pub type EventStream = BoxStream<'static, Result<StreamEvent, GatewayError>>;

/// A started generation stream.
pub struct GenerationStream {
    /// The backend's request ID, known once the upstream call is accepted, so
    /// it can go out in the response headers before the first token.
    pub request_id: String,
    /// The events.
    pub events: EventStream,
}

impl std::fmt::Debug for GenerationStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerationStream")
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

/// A source of text generation, with the directory of its models.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A short name shown to clients in every response: "bedrock", "simulated".
    fn name(&self) -> &'static str;

    /// Generates a whole completion.
    async fn generate(&self, request: GenerationRequest) -> Result<Generation, GatewayError>;

    /// Starts a streamed completion. Errors that happen before the first
    /// event (bad model, throttling) come back here, not in the stream.
    async fn generate_stream(
        &self,
        request: GenerationRequest,
    ) -> Result<GenerationStream, GatewayError>;

    /// The backend's models: validation resolves every request's model
    /// through it, and ListModels and GetModel read it. Built once.
    fn models(&self) -> &Arc<ModelDirectory>;

    /// Counts the input tokens `request` would be charged: what its
    /// generation would report as input, cache reads and cache writes
    /// together. Validation has already checked that the model counts
    /// tokens. Backends without a counter of their own (test mocks) use
    /// the gateway's documented estimate.
    async fn count_tokens(&self, request: &GenerationRequest) -> Result<u32, GatewayError> {
        Ok(crate::domain::estimate_input_tokens(request))
    }

    /// Whether the backend honours the simulation controls
    /// (`gateway_simulation`); validation refuses them for any other.
    fn accepts_simulation(&self) -> bool {
        false
    }

    /// Lists the models that pass `filter`: the directory's answer.
    async fn list_models(&self, filter: &ModelFilter) -> Result<Vec<ModelInfo>, GatewayError> {
        self.models().list(filter).await
    }

    /// One model by any identifier (a profile answers with the model behind
    /// it), or NOT_FOUND: the directory's answer.
    async fn get_model(&self, model_id: &str) -> Result<ModelInfo, GatewayError> {
        self.models().get(model_id).await
    }

    /// Whether the backend can serve now (credentials resolved, catalogue
    /// loaded). The server polls this for the readiness health status.
    async fn ready(&self) -> bool {
        true
    }
}
