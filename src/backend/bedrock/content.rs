//! Content blocks, tools and output schemas between the domain and the
//! Converse types of the AWS SDK. Image and document bytes go into the SDK's
//! `Blob` as the same shared `Bytes` the gRPC decoder produced: no copy
//! until the SDK base64-encodes them into the request body. Redacted
//! reasoning travels the same way, both ways: the domain's `Bytes` into the
//! `Blob`, and the answer's `Blob` back into `Bytes`.

use super::converse::document;
use crate::domain::{
    CachePoint, CacheTtl, ContentBlock, Document, DocumentFormat, Image, ImageFormat, OutputSchema,
    Reasoning, ToolChoice, ToolConfig, ToolResult, ToolResultContent, ToolResultStatus, ToolUse,
};
use crate::error::{ErrorKind, GatewayError};
use aws_sdk_bedrockruntime::types as sdk;
use aws_smithy_types::Blob;

fn built<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Result<T, GatewayError> {
    r.map_err(|e| {
        GatewayError::new(
            ErrorKind::Internal,
            format!("building a Converse {what}: {e}"),
        )
    })
}

/// A turn's blocks as Converse content blocks.
pub(super) fn blocks(content: &[ContentBlock]) -> Result<Vec<sdk::ContentBlock>, GatewayError> {
    content.iter().map(block).collect()
}

fn block(b: &ContentBlock) -> Result<sdk::ContentBlock, GatewayError> {
    Ok(match b {
        ContentBlock::Text(t) => sdk::ContentBlock::Text(t.clone()),
        ContentBlock::Image(i) => sdk::ContentBlock::Image(image(i)?),
        ContentBlock::Document(d) => sdk::ContentBlock::Document(document_block(d)?),
        ContentBlock::ToolUse(t) => sdk::ContentBlock::ToolUse(tool_use(t)?),
        ContentBlock::ToolResult(r) => sdk::ContentBlock::ToolResult(tool_result(r)?),
        ContentBlock::Reasoning(r) => sdk::ContentBlock::ReasoningContent(reasoning(r)?),
        ContentBlock::CachePoint(c) => sdk::ContentBlock::CachePoint(cache_point(*c)?),
    })
}

/// A reasoning block, replayed unchanged: text with its signature, or the
/// redacted bytes as the same shared `Bytes`.
fn reasoning(r: &Reasoning) -> Result<sdk::ReasoningContentBlock, GatewayError> {
    Ok(match r {
        Reasoning::Text { text, signature } => {
            sdk::ReasoningContentBlock::ReasoningText(built(
                "reasoning block",
                sdk::ReasoningTextBlock::builder()
                    .text(text.clone())
                    .set_signature(signature.clone())
                    .build(),
            )?)
        }
        Reasoning::Redacted(bytes) => {
            sdk::ReasoningContentBlock::RedactedContent(Blob::from_maybe_shared(bytes.clone()))
        }
    })
}

/// A cache point: Converse's `cachePoint{type: default, ttl}`, the TTL left
/// out when the caller left it to Bedrock's default.
pub(super) fn cache_point(c: CachePoint) -> Result<sdk::CachePointBlock, GatewayError> {
    built(
        "cache point",
        sdk::CachePointBlock::builder()
            .r#type(sdk::CachePointType::Default)
            .set_ttl(c.ttl.map(|ttl| match ttl {
                CacheTtl::FiveMinutes => sdk::CacheTtl::FiveMinutes,
                CacheTtl::OneHour => sdk::CacheTtl::OneHour,
            }))
            .build(),
    )
}

fn image(i: &Image) -> Result<sdk::ImageBlock, GatewayError> {
    let format = match i.format {
        ImageFormat::Png => sdk::ImageFormat::Png,
        ImageFormat::Jpeg => sdk::ImageFormat::Jpeg,
        ImageFormat::Gif => sdk::ImageFormat::Gif,
        ImageFormat::Webp => sdk::ImageFormat::Webp,
    };
    built(
        "image block",
        sdk::ImageBlock::builder()
            .format(format)
            .source(sdk::ImageSource::Bytes(Blob::from_maybe_shared(
                i.data.clone(),
            )))
            .build(),
    )
}

fn document_block(d: &Document) -> Result<sdk::DocumentBlock, GatewayError> {
    let format = match d.format {
        DocumentFormat::Pdf => sdk::DocumentFormat::Pdf,
        DocumentFormat::Csv => sdk::DocumentFormat::Csv,
        DocumentFormat::Doc => sdk::DocumentFormat::Doc,
        DocumentFormat::Docx => sdk::DocumentFormat::Docx,
        DocumentFormat::Xls => sdk::DocumentFormat::Xls,
        DocumentFormat::Xlsx => sdk::DocumentFormat::Xlsx,
        DocumentFormat::Html => sdk::DocumentFormat::Html,
        DocumentFormat::Txt => sdk::DocumentFormat::Txt,
        DocumentFormat::Md => sdk::DocumentFormat::Md,
    };
    built(
        "document block",
        sdk::DocumentBlock::builder()
            .format(format)
            .name(d.name.clone())
            .source(sdk::DocumentSource::Bytes(Blob::from_maybe_shared(
                d.data.clone(),
            )))
            .build(),
    )
}

fn tool_use(t: &ToolUse) -> Result<sdk::ToolUseBlock, GatewayError> {
    built(
        "tool-use block",
        sdk::ToolUseBlock::builder()
            .tool_use_id(t.id.clone())
            .name(t.name.clone())
            .input(document(&t.input))
            .build(),
    )
}

fn tool_result(r: &ToolResult) -> Result<sdk::ToolResultBlock, GatewayError> {
    let content = r
        .content
        .iter()
        .map(|c| {
            Ok(match c {
                ToolResultContent::Text(t) => sdk::ToolResultContentBlock::Text(t.clone()),
                ToolResultContent::Json(j) => sdk::ToolResultContentBlock::Json(document(j)),
                ToolResultContent::Image(i) => sdk::ToolResultContentBlock::Image(image(i)?),
                ToolResultContent::Document(d) => {
                    sdk::ToolResultContentBlock::Document(document_block(d)?)
                }
            })
        })
        .collect::<Result<Vec<_>, GatewayError>>()?;
    built(
        "tool-result block",
        sdk::ToolResultBlock::builder()
            .tool_use_id(r.tool_use_id.clone())
            .set_content(Some(content))
            .set_status(r.status.map(|s| match s {
                ToolResultStatus::Success => sdk::ToolResultStatus::Success,
                ToolResultStatus::Error => sdk::ToolResultStatus::Error,
            }))
            .build(),
    )
}

/// The request's tools as Converse's `toolConfig`. AUTO is Bedrock's
/// default and is left out, since not every model accepts `toolChoice`.
pub(super) fn tool_config(config: &ToolConfig) -> Result<sdk::ToolConfiguration, GatewayError> {
    let tools = config
        .tools
        .iter()
        .map(|t| {
            built(
                "tool",
                sdk::ToolSpecification::builder()
                    .name(t.name.clone())
                    .set_description(t.description.clone())
                    .input_schema(sdk::ToolInputSchema::Json(document(&t.input_schema)))
                    .build(),
            )
            .map(sdk::Tool::ToolSpec)
        })
        .chain(config.cache_point.map(|c| cache_point(c).map(sdk::Tool::CachePoint)))
        .collect::<Result<Vec<_>, GatewayError>>()?;
    let choice = match &config.choice {
        ToolChoice::Auto => None,
        ToolChoice::Any => Some(sdk::ToolChoice::Any(sdk::AnyToolChoice::builder().build())),
        ToolChoice::Tool(name) => Some(sdk::ToolChoice::Tool(built(
            "tool choice",
            sdk::SpecificToolChoice::builder()
                .name(name.clone())
                .build(),
        )?)),
    };
    built(
        "tool configuration",
        sdk::ToolConfiguration::builder()
            .set_tools(Some(tools))
            .set_tool_choice(choice)
            .build(),
    )
}

/// The output schema as Converse's `outputConfig`: a `json_schema` text
/// format whose schema travels as a JSON string.
pub(super) fn output_config(schema: &OutputSchema) -> Result<sdk::OutputConfig, GatewayError> {
    let definition = built(
        "JSON schema",
        sdk::JsonSchemaDefinition::builder()
            .schema(schema.schema.to_string())
            .set_name(schema.name.clone())
            .set_description(schema.description.clone())
            .build(),
    )?;
    let format = built(
        "output format",
        sdk::OutputFormat::builder()
            .r#type(sdk::OutputFormatType::JsonSchema)
            .structure(sdk::OutputFormatStructure::JsonSchema(definition))
            .build(),
    )?;
    Ok(sdk::OutputConfig::builder().text_format(format).build())
}

/// An answer's blocks into the domain, moved rather than copied: text,
/// tool calls and reasoning (text with its signature, or the redacted bytes
/// as they came), in order. Blocks of kinds this contract does not carry
/// yet (citations, images) are left out.
pub(super) fn answer(content: Vec<sdk::ContentBlock>) -> Vec<ContentBlock> {
    content
        .into_iter()
        .filter_map(|b| match b {
            sdk::ContentBlock::Text(t) => Some(ContentBlock::Text(t)),
            sdk::ContentBlock::ToolUse(t) => Some(ContentBlock::ToolUse(ToolUse {
                input: json(&t.input),
                id: t.tool_use_id,
                name: t.name,
            })),
            sdk::ContentBlock::ReasoningContent(r) => match r {
                sdk::ReasoningContentBlock::ReasoningText(t) => {
                    Some(ContentBlock::Reasoning(Reasoning::Text {
                        text: t.text,
                        signature: t.signature,
                    }))
                }
                sdk::ReasoningContentBlock::RedactedContent(b) => {
                    Some(ContentBlock::Reasoning(Reasoning::Redacted(b.into_bytes())))
                }
                // A kind of reasoning newer than this SDK: nothing to carry.
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The SDK's Document as JSON.
pub(super) fn json(d: &aws_smithy_types::Document) -> serde_json::Value {
    use aws_smithy_types::{Document as D, Number};
    match d {
        D::Null => serde_json::Value::Null,
        D::Bool(b) => serde_json::Value::Bool(*b),
        D::Number(Number::PosInt(u)) => serde_json::Value::from(*u),
        D::Number(Number::NegInt(i)) => serde_json::Value::from(*i),
        D::Number(Number::Float(f)) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        D::String(s) => serde_json::Value::String(s.clone()),
        D::Array(a) => serde_json::Value::Array(a.iter().map(json).collect()),
        D::Object(o) => {
            serde_json::Value::Object(o.iter().map(|(k, v)| (k.clone(), json(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn image_and_document_bytes_reach_the_sdk_without_a_copy() {
        let data = Bytes::from(b"\x89PNG\r\n\x1a\n rest of the file".to_vec());
        let block = image(&Image {
            format: ImageFormat::Png,
            data: data.clone(),
        })
        .unwrap();
        let Some(sdk::ImageSource::Bytes(blob)) = block.source else {
            panic!("inline bytes")
        };
        assert_eq!(
            blob.as_ref().as_ptr(),
            data.as_ptr(),
            "the Blob shares the decoded bytes"
        );
        let doc = document_block(&Document {
            format: DocumentFormat::Txt,
            name: "n".into(),
            data: data.clone(),
        })
        .unwrap();
        let Some(sdk::DocumentSource::Bytes(blob)) = doc.source else {
            panic!("inline bytes")
        };
        assert_eq!(blob.as_ref().as_ptr(), data.as_ptr());
    }
}
