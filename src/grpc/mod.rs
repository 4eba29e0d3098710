//! The tonic service: protobuf in, validation, one backend call, protobuf out.
//!
//! This is the only module (with `validation` and `server`) that knows
//! protobuf types. Each handler validates first, so nothing invalid reaches a
//! backend, then bounds the backend call by the caller's deadline.

mod convert;
pub mod deadline;

use crate::backend::{Backend, GenerationStream};
use crate::domain::StreamEvent;
use crate::error::{ErrorKind, GatewayError};
use crate::pb::{self, text_generation_service_server::TextGenerationService};
use crate::validation::{self, Limits};
use deadline::Deadline;
use futures::stream::BoxStream;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Instant;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Request, Response, Status};

/// Response header naming the backend that answered ("simulated", "bedrock").
pub const BACKEND_HEADER: &str = "x-bedrock-gateway-backend";
/// Response header carrying the backend's request ID.
pub const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// The `TextGenerationService` implementation.
#[derive(Clone)]
pub struct GatewayService {
    backend: Arc<dyn Backend>,
    limits: Limits,
    backend_header: MetadataValue<tonic::metadata::Ascii>,
}

impl std::fmt::Debug for GatewayService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayService")
            .field("backend", &self.backend.name())
            .field("limits", &self.limits)
            .finish()
    }
}

impl GatewayService {
    /// A service over `backend`.
    pub fn new(backend: Arc<dyn Backend>, limits: Limits) -> Self {
        let backend_header = MetadataValue::from_static(backend.name());
        GatewayService {
            backend,
            limits,
            backend_header,
        }
    }

    fn headers(&self, metadata: &mut MetadataMap, request_id: &str) {
        metadata.insert(BACKEND_HEADER, self.backend_header.clone());
        if let Ok(v) = MetadataValue::try_from(request_id) {
            metadata.insert(REQUEST_ID_HEADER, v);
        }
    }
}

fn deadline_exceeded(deadline: &Deadline, what: &str) -> GatewayError {
    GatewayError::new(
        ErrorKind::DeadlineExceeded,
        format!(
            "the call's deadline (grpc-timeout {:?}) passed {what}",
            deadline.requested
        ),
    )
}

/// Runs `fut`, giving up with DEADLINE_EXCEEDED at the caller's deadline.
async fn within<T>(
    deadline: Option<Deadline>,
    fut: impl std::future::Future<Output = Result<T, GatewayError>>,
) -> Result<T, GatewayError> {
    match deadline {
        None => fut.await,
        Some(d) => tokio::time::timeout_at(d.at, fut)
            .await
            .unwrap_or_else(|_| Err(deadline_exceeded(&d, "before the backend answered"))),
    }
}

/// Logs the outcome of one call. Prompt and completion text are never logged.
fn log_outcome(rpc: &'static str, model: &str, started: Instant, result: Result<(), &GatewayError>) {
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(()) => tracing::info!(rpc, model, latency_ms, code = "OK", "call finished"),
        Err(e) => tracing::warn!(
            rpc,
            model,
            latency_ms,
            code = crate::error::code_name(GatewayError::code_of(e.kind())),
            error = %e,
            "call failed"
        ),
    }
}

#[tonic::async_trait]
impl TextGenerationService for GatewayService {
    async fn generate(
        &self,
        request: Request<pb::GenerateRequest>,
    ) -> Result<Response<pb::GenerateResponse>, Status> {
        let started = Instant::now();
        let deadline = request.extensions().get::<Deadline>().copied();
        let request = validation::generate_request(request.into_inner(), &self.limits)?;
        let model = request.model_id.clone();
        let result = within(deadline, self.backend.generate(request)).await;
        log_outcome("Generate", &model, started, result.as_ref().map(|_| ()));
        let generation = result?;
        let request_id = generation.completion.request_id.clone();
        let mut response =
            Response::new(convert::generate_response(generation, self.backend.name()));
        self.headers(response.metadata_mut(), &request_id);
        Ok(response)
    }

    type GenerateStreamStream = BoxStream<'static, Result<pb::GenerateStreamResponse, Status>>;

    async fn generate_stream(
        &self,
        request: Request<pb::GenerateStreamRequest>,
    ) -> Result<Response<Self::GenerateStreamStream>, Status> {
        let started = Instant::now();
        let deadline = request.extensions().get::<Deadline>().copied();
        let request = validation::generate_stream_request(request.into_inner(), &self.limits)?;
        let model = request.model_id.clone();
        let result = within(deadline, self.backend.generate_stream(request)).await;
        let GenerationStream { request_id, events } = match result {
            Ok(s) => s,
            Err(e) => {
                log_outcome("GenerateStream", &model, started, Err(&e));
                return Err(e.into());
            }
        };
        let relay = Relay {
            events,
            deadline,
            started,
            first_token: None,
            backend: self.backend.name(),
            model,
            done: false,
        };
        let stream = futures::stream::unfold(relay, Relay::next).boxed();
        let mut response = Response::new(stream);
        self.headers(response.metadata_mut(), &request_id);
        Ok(response)
    }

    async fn list_models(
        &self,
        request: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        let deadline = request.extensions().get::<Deadline>().copied();
        let filter = validation::list_models_request(request.into_inner());
        let models = within(deadline, self.backend.list_models(&filter)).await?;
        Ok(Response::new(pb::ListModelsResponse {
            models: models.into_iter().map(convert::model).collect(),
        }))
    }

    async fn get_model(
        &self,
        request: Request<pb::GetModelRequest>,
    ) -> Result<Response<pb::GetModelResponse>, Status> {
        let deadline = request.extensions().get::<Deadline>().copied();
        let model_id = validation::get_model_request(request.into_inner())?;
        let model = within(deadline, self.backend.get_model(&model_id)).await?;
        Ok(Response::new(pb::GetModelResponse {
            model: Some(convert::model(model)),
        }))
    }
}

/// Relays backend events to the client. When the client goes away, tonic
/// drops this relay, which drops `events`, which stops the backend at once.
struct Relay {
    events: crate::backend::EventStream,
    deadline: Option<Deadline>,
    started: Instant,
    first_token: Option<std::time::Duration>,
    backend: &'static str,
    model: String,
    done: bool,
}

impl Relay {
    async fn next(mut self) -> Option<(Result<pb::GenerateStreamResponse, Status>, Self)> {
        if self.done {
            return None;
        }
        let next = match self.deadline {
            None => self.events.next().await,
            Some(d) => match tokio::time::timeout_at(d.at, self.events.next()).await {
                Ok(next) => next,
                Err(_) => Some(Err(deadline_exceeded(&d, "while the stream was open"))),
            },
        };
        let item = match next {
            Some(Ok(StreamEvent::Delta(text))) => {
                self.first_token.get_or_insert_with(|| self.started.elapsed());
                Ok(convert::delta(text))
            }
            Some(Ok(StreamEvent::Complete(c))) => {
                self.done = true;
                log_outcome("GenerateStream", &self.model, self.started, Ok(()));
                Ok(convert::complete(c, self.backend, self.first_token))
            }
            Some(Err(e)) => {
                self.done = true;
                log_outcome("GenerateStream", &self.model, self.started, Err(&e));
                Err(e.into_status())
            }
            None => {
                // A backend must end with Complete or an error; ending silently
                // would leave the client without a stop reason.
                self.done = true;
                let e = GatewayError::new(
                    ErrorKind::Internal,
                    "the backend ended the stream without a completion event",
                );
                log_outcome("GenerateStream", &self.model, self.started, Err(&e));
                Err(e.into_status())
            }
        };
        Some((item, self))
    }
}
