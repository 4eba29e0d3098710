//! The Amazon Bedrock backend, over the AWS SDK for Rust.
//!
//! - `converse`: Converse / ConverseStream (the default API).
//! - `invoke`: InvokeModel / InvokeModelWithResponseStream with native bodies.
//! - `native`: the per-family JSON codecs (Titan, Claude, Llama, Mistral).
//! - `model_rules`: Bedrock's model-specific rules, checked before any call.
//! - `control_plane`: the cached model catalogue and inference profiles.
//! - `errors`, `sdk_errors`: Bedrock exceptions and SDK failures to gateway errors.
//!
//! Credentials and region come from aws-config's standard chain; the
//! `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_BEDROCK` and
//! `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` overrides that aws-config honours work
//! for both the control plane and the runtime. SDK clients are built once.

mod control_plane;
mod converse;
pub mod errors;
mod invoke;
pub mod model_rules;
pub mod native;
mod sdk_errors;

use super::{Backend, GenerationStream};
use crate::catalogue::PROFILE_PREFIXES;
use crate::domain::{BedrockApi, Generation, GenerationRequest, ModelFilter, ModelInfo};
use crate::error::GatewayError;
use control_plane::ControlPlane;
use std::sync::Arc;
use std::time::Duration;

/// Settings for the Bedrock backend.
#[derive(Debug, Clone)]
pub struct BedrockConfig {
    /// The region; `None` uses aws-config's chain.
    pub region: Option<String>,
    /// Attempts per call, first included, for throttling and 5xx errors
    /// (the SDK's standard retry strategy with exponential backoff).
    pub max_attempts: u32,
    /// How long a fetched model catalogue is used before it is refreshed.
    pub catalogue_ttl: Duration,
    /// How long opening a connection to Bedrock may take.
    pub connect_timeout: Duration,
}

impl Default for BedrockConfig {
    fn default() -> Self {
        BedrockConfig {
            region: None,
            max_attempts: 3,
            catalogue_ttl: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

/// What to call: the identifier sent to Bedrock and the model behind it.
#[derive(Debug, Clone)]
pub(crate) struct Invocation {
    /// Sent to Bedrock: the caller's identifier, or the inference profile it
    /// was routed to.
    pub(crate) model_id: String,
    /// The foundation model's own ID, for choosing codecs and rules.
    pub(crate) base_model_id: String,
}

/// Amazon Bedrock.
#[derive(Debug)]
pub struct BedrockBackend {
    runtime: aws_sdk_bedrockruntime::Client,
    control: Arc<ControlPlane>,
    /// The geography prefix of this region's cross-region profiles ("us").
    geography: Option<&'static str>,
}

impl BedrockBackend {
    /// Loads aws-config's standard chain (environment, profile, SSO, web
    /// identity, ECS, IMDS) and builds the clients.
    pub async fn from_env(config: BedrockConfig) -> Self {
        let retry = aws_config::retry::RetryConfig::standard().with_max_attempts(config.max_attempts.max(1));
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(config.connect_timeout)
            .build();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .retry_config(retry)
            .timeout_config(timeouts);
        if let Some(region) = &config.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let sdk = loader.load().await;
        Self::from_sdk_config(&sdk, &config)
    }

    /// Builds the clients from an already loaded SDK configuration (tests
    /// pass one pointing at a fake Bedrock).
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, config: &BedrockConfig) -> Self {
        let region = sdk.region().map(|r| r.as_ref().to_owned());
        match &region {
            Some(r) => tracing::info!(region = %r, "Bedrock backend"),
            None => tracing::warn!("no AWS region configured; Bedrock calls will fail until one is set"),
        }
        Self::from_clients(
            aws_sdk_bedrockruntime::Client::new(sdk),
            aws_sdk_bedrock::Client::new(sdk),
            region.as_deref(),
            config.catalogue_ttl,
        )
    }

    /// Builds the backend from ready clients (operation-level mocks use this).
    pub fn from_clients(
        runtime: aws_sdk_bedrockruntime::Client,
        control: aws_sdk_bedrock::Client,
        region: Option<&str>,
        catalogue_ttl: Duration,
    ) -> Self {
        BedrockBackend {
            runtime,
            control: Arc::new(ControlPlane::new(control, catalogue_ttl)),
            geography: region.and_then(geography),
        }
    }

    /// Decides what to invoke. Explicit profile IDs and ARNs pass through
    /// unchanged. A base model that cannot be invoked on demand is routed to
    /// the system-defined cross-region profile of this region's geography,
    /// when the catalogue says so and the profile exists. The catalogue used
    /// is whatever is cached: routing never waits on the control plane.
    fn route(&self, model_id: &str) -> Invocation {
        let base = native::base_model_id(model_id).to_owned();
        let explicit = model_id.starts_with("arn:")
            || PROFILE_PREFIXES.iter().any(|p| model_id.starts_with(p));
        if !explicit {
            if let (Some(snapshot), Some(geo)) = (self.control.peek(), self.geography) {
                if let Some(model) = snapshot.catalogue.get(model_id) {
                    if !model.supports_on_demand() {
                        for prefix in [geo, "global"] {
                            let profile = format!("{prefix}.{model_id}");
                            if snapshot.profiles.contains(&profile) {
                                tracing::debug!(model_id, profile, "routed to an inference profile");
                                return Invocation {
                                    model_id: profile,
                                    base_model_id: base,
                                };
                            }
                        }
                    }
                }
            }
        }
        Invocation {
            model_id: model_id.to_owned(),
            base_model_id: base,
        }
    }
}

/// The cross-region profile prefix for a region: `us-east-1` → `us`.
fn geography(region: &str) -> Option<&'static str> {
    [
        ("us-gov-", "us-gov"),
        ("us-", "us"),
        ("eu-", "eu"),
        ("ap-", "apac"),
        ("ca-", "ca"),
    ]
    .iter()
    .find(|(prefix, _)| region.starts_with(prefix))
    .map(|&(_, geo)| geo)
}

#[async_trait::async_trait]
impl Backend for BedrockBackend {
    fn name(&self) -> &'static str {
        "bedrock"
    }

    async fn generate(&self, request: GenerationRequest) -> Result<Generation, GatewayError> {
        let invocation = self.route(&request.model_id);
        model_rules::check(&invocation.base_model_id, &request)?;
        match request.api {
            BedrockApi::Converse => converse::generate(&self.runtime, invocation, &request).await,
            BedrockApi::InvokeModel => invoke::generate(&self.runtime, invocation, &request).await,
        }
    }

    async fn generate_stream(
        &self,
        request: GenerationRequest,
    ) -> Result<GenerationStream, GatewayError> {
        let invocation = self.route(&request.model_id);
        model_rules::check(&invocation.base_model_id, &request)?;
        match request.api {
            BedrockApi::Converse => {
                converse::generate_stream(&self.runtime, invocation, &request).await
            }
            BedrockApi::InvokeModel => {
                invoke::generate_stream(&self.runtime, invocation, &request).await
            }
        }
    }

    async fn list_models(&self, filter: &ModelFilter) -> Result<Vec<ModelInfo>, GatewayError> {
        Ok(self.control.fresh().await?.catalogue.filtered(filter))
    }

    async fn get_model(&self, model_id: &str) -> Result<ModelInfo, GatewayError> {
        self.control.get_model(model_id).await
    }

    /// Ready when the catalogue can be had: that needs resolved credentials,
    /// a region and a reachable control plane.
    async fn ready(&self) -> bool {
        match self.control.fresh().await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "Bedrock backend not ready");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_map_to_their_profile_geography() {
        assert_eq!(geography("us-east-1"), Some("us"));
        assert_eq!(geography("us-gov-west-1"), Some("us-gov"));
        assert_eq!(geography("eu-central-1"), Some("eu"));
        assert_eq!(geography("ap-northeast-1"), Some("apac"));
        assert_eq!(geography("me-south-1"), None);
    }
}
