//! What a conversation turn or an answer holds besides plain text: images,
//! documents, tool calls and their results, and the request's tool and
//! output-schema settings. Made by `validation`, so every value here meets
//! Bedrock's rules already (formats set and matching their bytes, names in
//! Bedrock's alphabet, tool results answering the calls before them).
//! Reasoning blocks and cache points live here too: the first is part of an
//! answer and of a replayed turn, the second marks where a cached prefix
//! ends.

pub use crate::model::capabilities::CacheTtl;
use bytes::Bytes;
use std::fmt;

/// One piece of a turn or of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentBlock {
    /// Non-empty text.
    Text(String),
    /// An image (user turns).
    Image(Image),
    /// A document (user turns).
    Document(Document),
    /// A tool call by the model (assistant turns and answers).
    ToolUse(ToolUse),
    /// A tool's result (user turns).
    ToolResult(ToolResult),
    /// The model's reasoning (answers and replayed assistant turns).
    Reasoning(Reasoning),
    /// The end of a cached prefix (after another block of the same turn).
    CachePoint(CachePoint),
}

/// A piece of the model's reasoning: text with the signature Bedrock gave it,
/// or bytes its provider redacted. Replayed turns carry it unchanged.
#[derive(Clone, PartialEq, Eq)]
pub enum Reasoning {
    /// Reasoning text, with its signature (always set when replayed; an
    /// answer's block has one unless Bedrock sent none).
    Text {
        /// The reasoning.
        text: String,
        /// Bedrock's signature over it.
        signature: Option<String>,
    },
    /// Encrypted reasoning: opaque, never shown, never dropped.
    Redacted(Bytes),
}

/// A prompt-cache checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CachePoint {
    /// The time to live; `None` is Bedrock's default (5 minutes).
    pub ttl: Option<CacheTtl>,
}

impl CachePoint {
    /// The time to live Bedrock applies: the one asked for, else 5 minutes.
    pub fn effective_ttl(self) -> CacheTtl {
        self.ttl.unwrap_or(CacheTtl::FiveMinutes)
    }
}

impl ContentBlock {
    /// The block's kind, as metrics label it.
    pub fn kind(&self) -> BlockKind {
        match self {
            ContentBlock::Text(_) => BlockKind::Text,
            ContentBlock::Image(_) => BlockKind::Image,
            ContentBlock::Document(_) => BlockKind::Document,
            ContentBlock::ToolUse(_) => BlockKind::ToolUse,
            ContentBlock::ToolResult(_) => BlockKind::ToolResult,
            ContentBlock::Reasoning(_) => BlockKind::Reasoning,
            ContentBlock::CachePoint(_) => BlockKind::CachePoint,
        }
    }

    /// The text, for a text block.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            ContentBlock::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// The kinds of content block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockKind {
    /// Text.
    Text,
    /// An image.
    Image,
    /// A document.
    Document,
    /// A tool call.
    ToolUse,
    /// A tool result.
    ToolResult,
    /// Reasoning.
    Reasoning,
    /// A cache point.
    CachePoint,
}

impl BlockKind {
    /// Every kind, in the proto's order.
    pub const ALL: [BlockKind; 7] = [
        BlockKind::Text,
        BlockKind::Image,
        BlockKind::Document,
        BlockKind::ToolUse,
        BlockKind::ToolResult,
        BlockKind::Reasoning,
        BlockKind::CachePoint,
    ];

    /// The proto's field name: "text", "image", "tool_use", ...
    pub fn name(self) -> &'static str {
        match self {
            BlockKind::Text => "text",
            BlockKind::Image => "image",
            BlockKind::Document => "document",
            BlockKind::ToolUse => "tool_use",
            BlockKind::ToolResult => "tool_result",
            BlockKind::Reasoning => "reasoning",
            BlockKind::CachePoint => "cache_point",
        }
    }
}

/// An image's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// GIF.
    Gif,
    /// WebP.
    Webp,
}

impl ImageFormat {
    /// Bedrock's name, which is also the file extension: "png", "jpeg", ...
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Gif => "gif",
            ImageFormat::Webp => "webp",
        }
    }

    /// Whether `data` starts with this format's file signature.
    pub fn matches(self, data: &[u8]) -> bool {
        match self {
            ImageFormat::Png => data.starts_with(b"\x89PNG\r\n\x1a\n"),
            ImageFormat::Jpeg => data.starts_with(b"\xff\xd8\xff"),
            ImageFormat::Gif => data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a"),
            ImageFormat::Webp => {
                data.len() >= 12 && data.starts_with(b"RIFF") && &data[8..12] == b"WEBP"
            }
        }
    }

    /// The format whose signature `data` starts with, if any.
    pub fn sniff(data: &[u8]) -> Option<ImageFormat> {
        [
            ImageFormat::Png,
            ImageFormat::Jpeg,
            ImageFormat::Gif,
            ImageFormat::Webp,
        ]
        .into_iter()
        .find(|f| f.matches(data))
    }
}

/// An inline image. `data` matches `format`'s signature and is at most
/// [`MAX_IMAGE_BYTES`](crate::domain::MAX_IMAGE_BYTES). Its `Debug` shows
/// the size, never the bytes, so no log line can hold them.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    /// The encoding.
    pub format: ImageFormat,
    /// The file's bytes, shared with the decoded request (never copied to
    /// be passed along).
    pub data: Bytes,
}

/// A document's file type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentFormat {
    /// PDF.
    Pdf,
    /// Comma-separated values.
    Csv,
    /// Word 97-2003.
    Doc,
    /// Word (OOXML).
    Docx,
    /// Excel 97-2003.
    Xls,
    /// Excel (OOXML).
    Xlsx,
    /// HTML.
    Html,
    /// Plain text.
    Txt,
    /// Markdown.
    Md,
}

impl DocumentFormat {
    /// Bedrock's name, which is also the file extension: "pdf", "csv", ...
    pub fn name(self) -> &'static str {
        match self {
            DocumentFormat::Pdf => "pdf",
            DocumentFormat::Csv => "csv",
            DocumentFormat::Doc => "doc",
            DocumentFormat::Docx => "docx",
            DocumentFormat::Xls => "xls",
            DocumentFormat::Xlsx => "xlsx",
            DocumentFormat::Html => "html",
            DocumentFormat::Txt => "txt",
            DocumentFormat::Md => "md",
        }
    }

    /// The file signature a binary format's files start with, and how to
    /// name it; `None` for text formats, which have none.
    pub fn signature(self) -> Option<(&'static [u8], &'static str)> {
        const OLE: &[u8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1";
        match self {
            DocumentFormat::Pdf => Some((b"%PDF-", "%PDF-")),
            DocumentFormat::Docx | DocumentFormat::Xlsx => {
                Some((b"PK\x03\x04", "a ZIP archive (PK\\x03\\x04)"))
            }
            DocumentFormat::Doc | DocumentFormat::Xls => {
                Some((OLE, "an OLE compound file (D0 CF 11 E0 A1 B1 1A E1)"))
            }
            _ => None,
        }
    }
}

/// An inline document. `name` follows Bedrock's rule and `data` is at most
/// [`MAX_DOCUMENT_BYTES`](crate::domain::MAX_DOCUMENT_BYTES). Its `Debug`
/// shows the size, never the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    /// The file type.
    pub format: DocumentFormat,
    /// The name the model sees.
    pub name: String,
    /// The file's bytes, shared with the decoded request.
    pub data: Bytes,
}

/// A tool call by the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolUse {
    /// Bedrock's ID for the call.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The input: a JSON object.
    pub input: serde_json::Value,
}

/// How a tool call went, when the caller says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolResultStatus {
    /// It worked.
    Success,
    /// It failed.
    Error,
}

/// One piece of a tool result.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolResultContent {
    /// Non-empty text.
    Text(String),
    /// A JSON object.
    Json(serde_json::Value),
    /// An image.
    Image(Image),
    /// A document.
    Document(Document),
}

/// The result of a tool call. `tool_use_id` names a call of the assistant
/// turn just before, and `content` is not empty.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The call answered.
    pub tool_use_id: String,
    /// The result.
    pub content: Vec<ToolResultContent>,
    /// How it went, if said.
    pub status: Option<ToolResultStatus>,
}

/// One tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// Unique in the request, `^[a-zA-Z0-9_-]{1,64}$`.
    pub name: String,
    /// What it does, when given.
    pub description: Option<String>,
    /// A JSON Schema object with `"type": "object"`.
    pub input_schema: serde_json::Value,
}

/// Which tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// The model decides.
    #[default]
    Auto,
    /// Some tool, of the model's choice.
    Any,
    /// This tool (one of the request's).
    Tool(String),
}

/// The tools of a request: at least one, with unique names.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolConfig {
    /// The tools.
    pub tools: Vec<Tool>,
    /// The choice.
    pub choice: ToolChoice,
    /// A cache point after the tools, when asked for.
    pub cache_point: Option<CachePoint>,
}

impl ToolConfig {
    /// The tool named `name`, if declared.
    pub fn tool(&self, name: &str) -> Option<&Tool> {
        self.tools.iter().find(|t| t.name == name)
    }
}

/// The JSON schema an answer's text must follow.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSchema {
    /// A JSON Schema object.
    pub schema: serde_json::Value,
    /// Its name, when given.
    pub name: Option<String>,
    /// Its description, when given.
    pub description: Option<String>,
}

impl fmt::Debug for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Image")
            .field("format", &self.format)
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl fmt::Debug for Reasoning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reasoning::Text { text, signature } => f
                .debug_struct("Reasoning")
                .field("text", text)
                .field("signature", signature)
                .finish(),
            Reasoning::Redacted(bytes) => f
                .debug_struct("Reasoning")
                .field("redacted_bytes", &bytes.len())
                .finish(),
        }
    }
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("format", &self.format)
            .field("name", &self.name)
            .field("bytes", &self.data.len())
            .finish()
    }
}

/// A short, byte-free description of a block for logs: text as is, an image
/// or document by format and size (their bytes are never logged).
pub struct Summary<'a>(pub &'a ContentBlock);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ContentBlock::Text(t) => f.write_str(t),
            ContentBlock::Image(i) => {
                write!(f, "[image {} {} bytes]", i.format.name(), i.data.len())
            }
            ContentBlock::Document(d) => {
                write!(
                    f,
                    "[document {} {:?} {} bytes]",
                    d.format.name(),
                    d.name,
                    d.data.len()
                )
            }
            ContentBlock::ToolUse(t) => write!(f, "[tool_use {} {} {}]", t.id, t.name, t.input),
            ContentBlock::ToolResult(r) => {
                write!(f, "[tool_result {}", r.tool_use_id)?;
                for c in &r.content {
                    match c {
                        ToolResultContent::Text(t) => write!(f, " {t}")?,
                        ToolResultContent::Json(j) => write!(f, " {j}")?,
                        ToolResultContent::Image(i) => {
                            write!(f, " [image {} {} bytes]", i.format.name(), i.data.len())?
                        }
                        ToolResultContent::Document(d) => write!(
                            f,
                            " [document {} {:?} {} bytes]",
                            d.format.name(),
                            d.name,
                            d.data.len()
                        )?,
                    }
                }
                f.write_str("]")
            }
            ContentBlock::Reasoning(Reasoning::Text { text, .. }) => write!(f, "[reasoning {text}]"),
            ContentBlock::Reasoning(Reasoning::Redacted(b)) => {
                write!(f, "[reasoning redacted {} bytes]", b.len())
            }
            ContentBlock::CachePoint(c) => write!(f, "[cache_point {}]", c.effective_ttl().name()),
        }
    }
}
