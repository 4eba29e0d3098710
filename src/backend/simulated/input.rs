//! How the simulated model counts its input, and where its cached prefixes
//! end.
//!
//! One walk over the request, in Bedrock's prompt order (tools, then the
//! system prompt, then the turns), counts the input tokens:
//!
//! - text counts its whitespace-led tokens (see `token_spans`): the system
//!   prompt, text blocks, each tool's name, description and input schema
//!   (as compact JSON), tool calls' inputs (as compact JSON), tool results'
//!   text and JSON, and the text of replayed reasoning blocks;
//! - each image and document, in a turn or in a tool result, counts one
//!   token per 750 bytes, at least one (a stand-in for a model's own count);
//! - redacted reasoning, cache points, tool-call IDs and the tool choice
//!   count nothing, and neither does an output schema (CountTokens cannot
//!   carry one, and both must agree);
//! - the whole request counts at least one token.
//!
//! Only when the request has cache points does the walk also hash what it
//! reads: at each point, the SHA-256 of the model and everything before the
//! point (cache points themselves excluded) names that prefix in the prompt
//! cache. A request without cache points is counted without hashing.

use super::token_spans;
use crate::domain::{
    CachePoint, ContentBlock, GenerationRequest, Reasoning, Role, ToolResultContent,
    ToolResultStatus,
};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// A cached prefix's name: the first 128 bits of its SHA-256.
pub(super) type PrefixKey = u128;

/// The prefix that ends at one cache point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CachePrefix {
    /// The input tokens before the point.
    pub tokens: u32,
    /// The prefix's name (model and content).
    pub key: PrefixKey,
    /// How long the point asks the prefix to live.
    pub ttl: Duration,
}

/// A request's input, counted.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Counted {
    /// All input tokens (at least 1).
    pub total: u32,
    /// The prefixes that end at the cache points, in prompt order (empty
    /// unless asked for and the request has cache points).
    pub prefixes: Vec<CachePrefix>,
}

/// Whether the request marks any cache point: after the tools, after the
/// system prompt, or in a turn. Plain-text requests answer without looking
/// at their turns.
pub(super) fn has_cache_points(request: &GenerationRequest) -> bool {
    request
        .tool_config
        .as_ref()
        .is_some_and(|t| t.cache_point.is_some())
        || request.options().system_cache_point.is_some()
        || (request.has_non_text_blocks()
            && request
                .messages
                .iter()
                .flat_map(|m| &m.content)
                .any(|b| matches!(b, ContentBlock::CachePoint(_))))
}

/// Counts `request`'s input tokens; with `prefixes`, also names the prefix
/// that ends at each cache point (which hashes the whole request up to the
/// last one, so ask only when it has cache points).
pub(super) fn count(request: &GenerationRequest, prefixes: bool) -> Counted {
    let mut walk = Walk {
        tokens: 0,
        hasher: prefixes.then(|| {
            let mut h = Sha256::new();
            h.update(b"bedrock-gateway simulated prompt cache v1\0");
            put(&mut h, b'm', request.target.resolved_model_id().as_bytes());
            h
        }),
        prefixes: Vec::new(),
    };
    if let Some(config) = &request.tool_config {
        for tool in &config.tools {
            walk.text(b't', &tool.name);
            walk.text(b'd', tool.description.as_deref().unwrap_or(""));
            walk.text(b'j', &tool.input_schema.to_string());
        }
        if let Some(point) = config.cache_point {
            walk.point(point);
        }
    }
    if let Some(system) = &request.system {
        walk.text(b's', system);
    }
    if let Some(point) = request.options().system_cache_point {
        walk.point(point);
    }
    for message in &request.messages {
        walk.tag(match message.role {
            Role::User => b'U',
            Role::Assistant => b'A',
        });
        for block in &message.content {
            match block {
                ContentBlock::Text(t) => walk.text(b'x', t),
                ContentBlock::Image(i) => walk.bytes(b'i', i.format.name(), &i.data),
                ContentBlock::Document(d) => {
                    walk.hash(b'n', d.name.as_bytes());
                    walk.bytes(b'o', d.format.name(), &d.data);
                }
                ContentBlock::ToolUse(u) => {
                    walk.hash(b'u', u.id.as_bytes());
                    walk.hash(b'u', u.name.as_bytes());
                    walk.text(b'k', &u.input.to_string());
                }
                ContentBlock::ToolResult(r) => {
                    walk.hash(b'r', r.tool_use_id.as_bytes());
                    walk.hash(
                        b'r',
                        match r.status {
                            None => b"-",
                            Some(ToolResultStatus::Success) => b"s",
                            Some(ToolResultStatus::Error) => b"e",
                        },
                    );
                    for c in &r.content {
                        match c {
                            ToolResultContent::Text(t) => walk.text(b'x', t),
                            ToolResultContent::Json(j) => walk.text(b'k', &j.to_string()),
                            ToolResultContent::Image(i) => {
                                walk.bytes(b'i', i.format.name(), &i.data)
                            }
                            ToolResultContent::Document(d) => {
                                walk.hash(b'n', d.name.as_bytes());
                                walk.bytes(b'o', d.format.name(), &d.data);
                            }
                        }
                    }
                }
                ContentBlock::Reasoning(Reasoning::Text { text, signature }) => {
                    walk.text(b'z', text);
                    walk.hash(b'g', signature.as_deref().unwrap_or("").as_bytes());
                }
                ContentBlock::Reasoning(Reasoning::Redacted(bytes)) => walk.hash(b'R', bytes),
                ContentBlock::CachePoint(point) => walk.point(*point),
            }
        }
    }
    Counted {
        total: walk.tokens.max(1),
        prefixes: walk.prefixes,
    }
}

/// Tokens of text: its whitespace-led tokens.
pub(super) fn text_tokens(text: &str) -> u32 {
    u32::try_from(token_spans(text).count()).unwrap_or(u32::MAX)
}

/// Tokens of an image or a document: one per 750 bytes, at least one.
pub(super) fn bytes_tokens(len: usize) -> u32 {
    u32::try_from((len / 750).max(1)).unwrap_or(u32::MAX)
}

/// The walk's state: tokens so far, and the hash of what was read when
/// prefixes are named.
struct Walk {
    tokens: u32,
    hasher: Option<Sha256>,
    prefixes: Vec<CachePrefix>,
}

impl Walk {
    fn text(&mut self, tag: u8, text: &str) {
        self.tokens = self.tokens.saturating_add(text_tokens(text));
        self.hash(tag, text.as_bytes());
    }

    fn bytes(&mut self, tag: u8, format: &str, data: &[u8]) {
        self.tokens = self.tokens.saturating_add(bytes_tokens(data.len()));
        self.hash(tag, format.as_bytes());
        self.hash(tag, data);
    }

    fn tag(&mut self, tag: u8) {
        self.hash(tag, &[]);
    }

    fn hash(&mut self, tag: u8, bytes: &[u8]) {
        if let Some(h) = &mut self.hasher {
            put(h, tag, bytes);
        }
    }

    fn point(&mut self, point: CachePoint) {
        if let Some(h) = &self.hasher {
            let digest = h.clone().finalize();
            let mut key = [0u8; 16];
            key.copy_from_slice(&digest[..16]);
            self.prefixes.push(CachePrefix {
                tokens: self.tokens,
                key: u128::from_le_bytes(key),
                ttl: point.effective_ttl().duration(),
            });
        }
    }
}

/// Feeds one field, tagged and length-prefixed so no two requests' fields
/// run together into the same bytes.
fn put(h: &mut Sha256, tag: u8, bytes: &[u8]) {
    h.update([tag]);
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}
