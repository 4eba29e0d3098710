//! The direct path: the AWS SDK for Rust calling Converse on the fake Bedrock,
//! configured as the gateway configures it (aws-config defaults, standard
//! retries with 3 attempts, a 3 s connect timeout), with dummy credentials.

use crate::load::{CallOk, Caller};
use aws_sdk_bedrockruntime::config::Credentials;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message,
};
use std::time::Duration;

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
        endpoint: &str,
        model_id: &str,
        prompt: &str,
        max_tokens: i32,
        expect_tokens: i32,
    ) -> Self {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
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
        SdkConverse {
            client: aws_sdk_bedrockruntime::Client::new(&sdk),
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
