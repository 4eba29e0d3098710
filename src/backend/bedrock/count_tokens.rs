//! CountTokens: the input tokens a request would be charged, counted by
//! Bedrock without generating.
//!
//! The input is built by the same functions as the generation it stands for:
//! a Converse request's conversation by `converse::conversation` (messages,
//! system prompt, tools, cache points, additional fields with `thinking`),
//! an InvokeModel request's native body by `native::encode`. CountTokens
//! takes a foundation model ID, not an inference profile, so the call names
//! the target's resolved foundation model.

use super::converse;
use super::native;
use super::sdk_errors::from_sdk;
use crate::domain::{BedrockApi, GenerationRequest};
use crate::error::{ErrorKind, GatewayError};
use aws_sdk_bedrockruntime::types::{
    ConverseTokensRequest, CountTokensInput, InvokeModelTokensRequest,
};
use aws_smithy_types::Blob;

/// What CountTokens is asked to count for `request`.
fn input(request: &GenerationRequest) -> Result<CountTokensInput, GatewayError> {
    Ok(match request.api {
        BedrockApi::Converse => {
            let c = converse::conversation(request)?;
            CountTokensInput::Converse(
                ConverseTokensRequest::builder()
                    .set_messages(Some(c.messages))
                    .set_system(c.system)
                    .set_tool_config(c.tool_config)
                    .set_additional_model_request_fields(c.additional_fields)
                    .build(),
            )
        }
        BedrockApi::InvokeModel => {
            let family = request.target.capabilities().native.ok_or_else(|| {
                GatewayError::invalid_field(
                    "api",
                    format!(
                        "`{}` has no native InvokeModel body; use BEDROCK_API_CONVERSE for it",
                        request.target.requested
                    ),
                )
            })?;
            let body = native::encode(family, request)?;
            CountTokensInput::InvokeModel(
                InvokeModelTokensRequest::builder()
                    .body(Blob::new(body))
                    .build()
                    .map_err(|e| {
                        GatewayError::new(
                            ErrorKind::Internal,
                            format!("building a CountTokens input: {e}"),
                        )
                    })?,
            )
        }
    })
}

/// The input tokens Bedrock counts for `request`: what its generation would
/// report as input, cache reads and writes together.
pub(crate) async fn count_tokens(
    client: &aws_sdk_bedrockruntime::Client,
    request: &GenerationRequest,
) -> Result<u32, GatewayError> {
    let out = client
        .count_tokens()
        .model_id(request.target.resolved_model_id())
        .input(input(request)?)
        .send()
        .await
        .map_err(|e| from_sdk("CountTokens", e, None))?;
    u32::try_from(out.input_tokens).map_err(|_| {
        GatewayError::new(
            ErrorKind::Internal,
            format!("CountTokens answered {} input tokens, which is not a count", out.input_tokens),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CachePoint, Options, ReasoningConfig};

    #[test]
    fn the_converse_input_is_the_conversation_generate_sends() {
        let mut r = native::test_support::conversation("anthropic.claude-3-7-sonnet-20250219-v1:0");
        r.api = BedrockApi::Converse;
        r.system = Some("Be brief.".into());
        r.options = Some(Box::new(Options {
            system_cache_point: Some(CachePoint::default()),
            reasoning: Some(ReasoningConfig {
                budget_tokens: 2048,
            }),
            ..Options::default()
        }));
        let CountTokensInput::Converse(c) = input(&r).unwrap() else {
            panic!("a Converse input")
        };
        let want = converse::conversation(&r).unwrap();
        assert_eq!(c.messages, Some(want.messages));
        assert_eq!(c.system, want.system);
        assert_eq!(
            c.system.as_ref().map(Vec::len),
            Some(2),
            "text, then the cache point"
        );
        assert_eq!(c.additional_model_request_fields, want.additional_fields);
        assert!(c.additional_model_request_fields.is_some());
    }

    #[test]
    fn an_invoke_model_request_counts_its_native_body() {
        let r = native::test_support::prompt("anthropic.claude-3-haiku-20240307-v1:0", "Hi");
        let CountTokensInput::InvokeModel(i) = input(&r).unwrap() else {
            panic!("an InvokeModel input")
        };
        let family = r.target.capabilities().native.unwrap();
        assert_eq!(
            i.body.as_ref(),
            native::encode(family, &r).unwrap().as_slice()
        );
    }
}
