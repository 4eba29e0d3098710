//! The direct path: the AWS SDK for Rust calling Converse on the fake Bedrock,
//! configured as the gateway configures it (aws-config defaults, standard
//! retries with 3 attempts, a 3 s connect timeout), with dummy credentials.

use crate::load::{CallOk, Caller, DeltaGaps};
use aws_sdk_bedrockruntime::config::Credentials;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseStreamOutput,
    InferenceConfiguration, Message,
};
use std::time::{Duration, Instant};

/// A Bedrock endpoint: its URL and, for a fake serving TLS, the PEM of the
/// CA to trust (the gateway gets the same as `SSL_CERT_FILE`).
pub(crate) struct Endpoint<'a> {
    pub(crate) url: &'a str,
    pub(crate) ca_pem: Option<&'a str>,
}

impl<'a> Endpoint<'a> {
    /// A plain `http://` endpoint.
    pub(crate) fn plain(url: &'a str) -> Self {
        Endpoint { url, ca_pem: None }
    }
}

/// The SDK's default HTTPS client (rustls, ALPN h2 and http/1.1, as the
/// gateway's) trusting only `ca_pem`.
fn trusting(ca_pem: &str) -> aws_sdk_bedrockruntime::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let context = TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(ca_pem.as_bytes().to_vec()))
        .build()
        .expect("a TLS context for the fake's CA");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(context)
        .build_https()
}

/// An SDK client for `endpoint`, configured as the gateway configures its own.
async fn client(endpoint: &Endpoint<'_>) -> aws_sdk_bedrockruntime::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(pem) = endpoint.ca_pem {
        loader = loader.http_client(trusting(pem));
    }
    let sdk = loader
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint.url)
        .credentials_provider(Credentials::new(
            "AKIDTEST",
            "dummy-secret",
            None,
            None,
            "bench",
        ))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .build(),
        )
        .load()
        .await;
    aws_sdk_bedrockruntime::Client::new(&sdk)
}

/// Converse calls straight to an endpoint.
pub(crate) struct SdkConverse {
    client: aws_sdk_bedrockruntime::Client,
    model_id: String,
    prompt: String,
    max_tokens: i32,
    /// The output tokens every answer must report.
    expect_tokens: i32,
}

impl SdkConverse {
    pub(crate) async fn new(
        endpoint: &Endpoint<'_>,
        model_id: &str,
        prompt: &str,
        max_tokens: i32,
        expect_tokens: i32,
    ) -> Self {
        SdkConverse {
            client: client(endpoint).await,
            model_id: model_id.to_owned(),
            prompt: prompt.to_owned(),
            max_tokens,
            expect_tokens,
        }
    }
}

impl Caller for SdkConverse {
    async fn call(&self, _worker: usize) -> Result<CallOk, String> {
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(self.prompt.clone()))
            .build()
            .map_err(|e| e.to_string())?;
        let out = self
            .client
            .converse()
            .model_id(&self.model_id)
            .messages(message)
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(self.max_tokens)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                format!(
                    "converse: {}",
                    aws_sdk_bedrockruntime::error::DisplayErrorContext(e)
                )
            })?;
        let tokens = out.usage().map_or(0, |u| u.output_tokens());
        if tokens != self.expect_tokens {
            return Err(format!(
                "{tokens} output tokens, expected {}",
                self.expect_tokens
            ));
        }
        Ok(CallOk {
            first_message: None,
            tokens: tokens as u64,
        })
    }
}

/// ConverseStream calls straight to an endpoint (the SDK client configured as
/// [`SdkConverse`]'s), every event read: the time to the first text delta is
/// the call's first message, and the gaps between text deltas go to `gaps`.
pub(crate) struct SdkConverseStream {
    client: aws_sdk_bedrockruntime::Client,
    model_id: String,
    prompt: String,
    max_tokens: i32,
    /// The text deltas every stream must deliver (and its usage report).
    expect_deltas: u32,
    pub(crate) gaps: Option<DeltaGaps>,
}

impl SdkConverseStream {
    pub(crate) async fn new(
        endpoint: &Endpoint<'_>,
        model_id: &str,
        prompt: &str,
        max_tokens: i32,
        expect_deltas: u32,
    ) -> Self {
        SdkConverseStream {
            client: client(endpoint).await,
            model_id: model_id.to_owned(),
            prompt: prompt.to_owned(),
            max_tokens,
            expect_deltas,
            gaps: None,
        }
    }
}

impl Caller for SdkConverseStream {
    async fn call(&self, _worker: usize) -> Result<CallOk, String> {
        let started = Instant::now();
        let mut gaps = self.gaps.as_ref().map(|g| g.stream(self.expect_deltas));
        let result = self.stream(started, &mut gaps).await;
        if let (Some(recorder), Some(g)) = (self.gaps.as_ref(), gaps) {
            recorder.finish(started, g);
        }
        result
    }
}

impl SdkConverseStream {
    async fn stream(
        &self,
        started: Instant,
        gaps: &mut Option<crate::load::StreamGaps>,
    ) -> Result<CallOk, String> {
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(self.prompt.clone()))
            .build()
            .map_err(|e| e.to_string())?;
        let mut out = self
            .client
            .converse_stream()
            .model_id(&self.model_id)
            .messages(message)
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(self.max_tokens)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                format!(
                    "converse_stream: {}",
                    aws_sdk_bedrockruntime::error::DisplayErrorContext(e)
                )
            })?;
        let mut first = None;
        let mut deltas = 0u32;
        let mut stopped = false;
        let mut reported = None;
        // Bounded by the fake's events (a few more than the deltas) and the caller's timeout.
        loop {
            let event = out.stream.recv().await.map_err(|e| {
                format!(
                    "converse_stream event: {}",
                    aws_sdk_bedrockruntime::error::DisplayErrorContext(e)
                )
            })?;
            match event {
                None => break,
                Some(ConverseStreamOutput::ContentBlockDelta(d)) => {
                    if !matches!(d.delta(), Some(ContentBlockDelta::Text(_))) {
                        return Err(format!("a delta that is not text: {d:?}"));
                    }
                    if stopped {
                        return Err("a delta after the message stop".into());
                    }
                    if first.is_none() {
                        first = Some(started.elapsed());
                    }
                    if let Some(g) = gaps.as_mut() {
                        g.delta();
                    }
                    deltas += 1;
                }
                Some(ConverseStreamOutput::MessageStop(_)) => stopped = true,
                Some(ConverseStreamOutput::Metadata(m)) => {
                    reported = Some(m.usage().map_or(0, |u| u.output_tokens()));
                }
                Some(_) => {}
            }
        }
        if !stopped {
            return Err(format!(
                "stream ended without a message stop after {deltas} deltas"
            ));
        }
        if deltas != self.expect_deltas {
            return Err(format!("{deltas} deltas, expected {}", self.expect_deltas));
        }
        match reported {
            Some(n) if n == deltas as i32 => Ok(CallOk {
                first_message: first,
                tokens: u64::from(deltas),
            }),
            Some(n) => Err(format!("usage reports {n} tokens after {deltas} deltas")),
            None => Err("no metadata event".into()),
        }
    }
}
