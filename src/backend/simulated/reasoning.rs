//! The simulated model's extended thinking.
//!
//! With `reasoning` asked for, the answer starts with a reasoning block: a
//! few sentences on how the model will answer (the subject, the shape of
//! the answer, one sentence drawn like the composer's, so temperature 0
//! always thinks the same), cut to `budget_tokens`. Its signature is the
//! base64 of SHA-256 over a fixed key and the text, so the same text always
//! has the same signature. When the last user turn contains
//! [`REDACT_MARKER`], the block is redacted instead: 64 opaque bytes derived
//! the same way. Either way its tokens count as output, as Bedrock counts
//! reasoning.

use base64::Engine as _;
use super::{contains_ignoring_case, token_spans};
use crate::domain::{ContentBlock, GenerationRequest, Reasoning, Role};
use bytes::Bytes;
use sha2::{Digest, Sha256};

/// The text in the last user turn that makes the reasoning redacted.
pub(super) const REDACT_MARKER: &str = "[[redacted]]";

/// The key the simulated signatures are made with.
const SIGNING_KEY: &[u8] = b"bedrock-gateway simulated reasoning signature v1";

/// A planned reasoning block.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Thought {
    /// The reasoning text (also behind a redacted block: it is what was
    /// "thought" and what the tokens count).
    pub text: String,
    /// How many tokens `text` holds.
    pub tokens: usize,
    /// The block the answer carries: the text with its signature, or the
    /// redacted bytes.
    pub block: Reasoning,
}

impl Thought {
    /// The block as the answer's content.
    pub(super) fn content(&self) -> ContentBlock {
        ContentBlock::Reasoning(self.block.clone())
    }
}

/// Thinks about `request`, within `budget` tokens. `subject` is the topic
/// of the last user turn; `rng` is seeded from the request at temperature
/// 0.
pub(super) fn think(
    request: &GenerationRequest,
    subject: &str,
    budget: usize,
    rng: &mut fastrand::Rng,
) -> Thought {
    let last = request.messages.last().filter(|m| m.role == Role::User);
    let blocks = last.map_or(&[][..], |m| m.content.as_slice());
    let prompt = request.last_user_text();
    let mut sentences = vec![format!("The user asks about {subject}.")];
    let attachments = blocks
        .iter()
        .filter(|b| matches!(b, ContentBlock::Image(_) | ContentBlock::Document(_)))
        .count();
    if attachments > 0 {
        sentences.push(format!(
            "They sent {attachments} attachment{}, so I will acknowledge {} first.",
            if attachments == 1 { "" } else { "s" },
            if attachments == 1 { "it" } else { "each" },
        ));
    }
    let shape = if blocks
        .iter()
        .any(|b| matches!(b, ContentBlock::ToolResult(_)))
    {
        "The tool results are in, so I will say what each tool returned.".to_owned()
    } else if let Some(config) = &request.tool_config {
        let names: Vec<&str> = config.tools.iter().map(|t| t.name.as_str()).collect();
        format!(
            "I can call {}; I will call one if the question needs it.",
            names.join(", ")
        )
    } else if request.output_schema.is_some() {
        "The answer must be JSON that follows the schema, so I will fill in its properties."
            .to_owned()
    } else if ["poem", "verse", "haiku", "sonnet", "song", "rhyme"]
        .iter()
        .any(|w| contains_ignoring_case(&prompt, w))
    {
        "They want a poem, so I will write three stanzas of four lines.".to_owned()
    } else {
        "I will answer in a few sentences of plain prose.".to_owned()
    };
    sentences.push(shape);
    sentences.push(CLOSINGS[rng.usize(..CLOSINGS.len())].to_owned());
    let mut text = sentences.join(" ");
    let mut tokens = 0;
    let mut end = 0;
    for token in token_spans(&text) {
        if tokens == budget {
            break;
        }
        tokens += 1;
        end += token.len();
    }
    text.truncate(end);
    let block = if prompt.contains(REDACT_MARKER) {
        Reasoning::Redacted(redacted(&text))
    } else {
        Reasoning::Text {
            signature: Some(signature(&text)),
            text: text.clone(),
        }
    };
    Thought {
        text,
        tokens,
        block,
    }
}

const CLOSINGS: &[&str] = &[
    "Clear and concrete beats long and vague.",
    "The essentials first, then the detail.",
    "A short, honest answer is better than a padded one.",
    "Keep the tone friendly and the facts straight.",
];

/// The signature of reasoning `text`: base64 of SHA-256 over the key and
/// the text.
pub(super) fn signature(text: &str) -> String {
    let mut h = Sha256::new();
    h.update(SIGNING_KEY);
    h.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// Redacted reasoning: 64 bytes, SHA-256 over the key, a label and the
/// text, then SHA-256 of that.
fn redacted(text: &str) -> Bytes {
    let mut h = Sha256::new();
    h.update(SIGNING_KEY);
    h.update(b"redacted\0");
    h.update(text.as_bytes());
    let first = h.finalize();
    let second = Sha256::digest(first);
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&first);
    out.extend_from_slice(&second);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_stable_per_text() {
        assert_eq!(signature("x").len(), 44);
        assert_eq!(signature("x"), signature("x"));
        assert_ne!(signature("x"), signature("y"));
    }
}
