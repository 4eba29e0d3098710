//! The Amazon Bedrock backend, over the AWS SDK for Rust.
//!
//! - `converse`: Converse / ConverseStream (the default API).
//! - `content`: content blocks (reasoning and cache points included), tools
//!   and output schemas to and from Converse's types.
//! - `guardrail`: the guardrail configuration, and Bedrock's guardrail trace
//!   as JSON in Bedrock's own shape.
//! - `options`: service tiers and latency modes, both ways.
//! - `count_tokens`: CountTokens, over the same conversions as generation.
//! - `invoke`: InvokeModel / InvokeModelWithResponseStream with native bodies.
//! - `native`: the per-family JSON codecs (Titan, Claude, Llama, Mistral).
//! - `control_plane`: the model directory's source (foundation models and
//!   inference profiles); `model::directory` caches and resolves.
//! - `sdk_errors`: SDK failures to gateway errors (through `error::bedrock`'s table).
//! - `connections`: the runtime's SDK clients, one HTTP/2 connection each,
//!   added as calls fill them.
//!
//! Credentials and region come from aws-config's standard chain; the
//! `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_BEDROCK` and
//! `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` overrides that aws-config honours work
//! for both the control plane and the runtime. SDK clients are built once.

mod connections;
mod content;
mod control_plane;
mod converse;
mod count_tokens;
mod guardrail;
mod invoke;
pub mod native;
mod options;
mod sdk_errors;

use super::{Backend, GenerationStream};
use crate::domain::{BedrockApi, Generation, GenerationRequest};
use crate::error::GatewayError;
use crate::model::{DirectoryConfig, ModelDirectory, Unknown};
use connections::RuntimeClients;
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
    /// Calls in flight on one connection to Bedrock Runtime before another
    /// is opened (`connections`).
    pub calls_per_connection: usize,
}

impl Default for BedrockConfig {
    fn default() -> Self {
        BedrockConfig {
            region: None,
            max_attempts: 3,
            catalogue_ttl: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(3),
            calls_per_connection: 100,
        }
    }
}

/// Amazon Bedrock.
#[derive(Debug)]
pub struct BedrockBackend {
    runtime: RuntimeClients,
    models: Arc<ModelDirectory>,
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
        let runtime = aws_sdk_bedrockruntime::config::Builder::from(sdk)
            .retry_partition(retry_partition("bedrock-gateway-runtime"));
        let control = aws_sdk_bedrock::config::Builder::from(sdk)
            .retry_partition(retry_partition("bedrock-gateway-control-plane"))
            .build();
        // An HTTP client in `sdk` (tests give one) is one pool whatever
        // the client: use it as given. Otherwise each runtime client gets
        // a default HTTPS client of its own, and so its own connection.
        let runtime = match sdk.http_client() {
            Some(_) => RuntimeClients::single(aws_sdk_bedrockruntime::Client::from_conf(runtime.build())),
            None => RuntimeClients::growing(
                Box::new(move || {
                    aws_sdk_bedrockruntime::Client::from_conf(
                        runtime.clone().http_client(connections::default_https_client()).build(),
                    )
                }),
                config.calls_per_connection,
            ),
        };
        Self::with_runtime(
            runtime,
            aws_sdk_bedrock::Client::from_conf(control),
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
        Self::with_runtime(RuntimeClients::single(runtime), control, region, catalogue_ttl)
    }

    fn with_runtime(
        runtime: RuntimeClients,
        control: aws_sdk_bedrock::Client,
        region: Option<&str>,
        catalogue_ttl: Duration,
    ) -> Self {
        let config = DirectoryConfig {
            ttl: catalogue_ttl,
            // The catalogue may lag a model released since, and never lists
            // custom or provisioned models: Bedrock judges what it lacks.
            unknown: Unknown::PassThrough,
            geography: region.and_then(geography),
        };
        BedrockBackend {
            runtime,
            models: ModelDirectory::new(Arc::new(ControlPlane::new(control)), config),
        }
    }
}

/// The SDK's retries without the process-wide retry budget.
///
/// The standard strategy shares one token bucket per partition (500
/// tokens, 5 per retry, refunded only when a retried call succeeds), so
/// about 50 calls that fail through all their attempts stop every later
/// call from being retried at all: a gateway under a throttling storm would
/// turn each one-retry hiccup into an error. Here each call is retried up to
/// `--bedrock-max-attempts` with the standard exponential backoff (jittered,
/// from 1 s, at most 20 s), whatever other calls did; the caller's deadline
/// still bounds the whole call, and Bedrock's own throttling is what limits a
/// storm.
fn retry_partition(name: &'static str) -> aws_sdk_bedrockruntime::config::retry::RetryPartition {
    use aws_sdk_bedrockruntime::config::retry::{RetryPartition, TokenBucket};
    RetryPartition::custom(name).token_bucket(TokenBucket::unlimited()).build()
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
        let lease = self.runtime.lease();
        match request.api {
            BedrockApi::Converse => converse::generate(lease.client(), &request).await,
            BedrockApi::InvokeModel => invoke::generate(lease.client(), &request).await,
        }
    }

    /// The stream holds its lease until it is dropped: its connection
    /// carries it until then.
    async fn generate_stream(
        &self,
        request: GenerationRequest,
    ) -> Result<GenerationStream, GatewayError> {
        let lease = self.runtime.lease();
        let mut stream = match request.api {
            BedrockApi::Converse => converse::generate_stream(lease.client(), &request).await?,
            BedrockApi::InvokeModel => invoke::generate_stream(lease.client(), &request).await?,
        };
        stream.events = lease.hold(stream.events);
        Ok(stream)
    }

    /// Bedrock's CountTokens, on the target's foundation model.
    async fn count_tokens(&self, request: &GenerationRequest) -> Result<u32, GatewayError> {
        let lease = self.runtime.lease();
        count_tokens::count_tokens(lease.client(), request).await
    }

    fn models(&self) -> &Arc<ModelDirectory> {
        &self.models
    }

    /// Ready when the catalogue can be had: that needs resolved credentials,
    /// a region and a reachable control plane.
    async fn ready(&self) -> bool {
        match self.models.ready().await {
            Ok(()) => true,
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
