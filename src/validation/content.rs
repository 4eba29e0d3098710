//! The general rules of content blocks, tools and output schemas: what
//! Bedrock requires of any model, checked before the call. (What a given
//! model accepts, such as images or tools at all, is `model::rules`'s job;
//! this module notes where each feature is first used so those rules can
//! name the field.)

use super::json::struct_to_json;
use crate::domain::{
    CachePoint, CacheTtl, ContentBlock, Document, DocumentFormat, Image, ImageFormat,
    OutputSchema, Reasoning, Role, Tool, ToolChoice, ToolConfig, ToolResult, ToolResultContent,
    ToolResultStatus, ToolUse, MAX_DOCUMENTS, MAX_DOCUMENT_BYTES, MAX_IMAGES, MAX_IMAGE_BYTES,
};
use crate::error::FieldViolation;
use crate::pb;
use std::collections::{HashMap, HashSet};

/// Bedrock's limit on a document name's length, in characters.
pub const MAX_DOCUMENT_NAME_CHARS: usize = 200;
/// Bedrock's limit on tool names and tool-use IDs, in characters.
pub const MAX_TOOL_NAME_CHARS: usize = 64;

/// Where a request first uses each feature a model may lack: the field
/// path, for the model rules to name. All `None` for a plain-text request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    /// The first image block (or tool-result image).
    pub image: Option<String>,
    /// The first document block (or tool-result document).
    pub document: Option<String>,
    /// `tool_config`, or else the first tool-use or tool-result block.
    pub tools: Option<String>,
    /// `output_schema`, when set.
    pub output_schema: Option<String>,
    /// The first reasoning block (a replayed answer's reasoning).
    pub reasoning_block: Option<String>,
    /// Every cache point, in Bedrock's order (tools, system, turns): its
    /// path and its time to live as Bedrock applies it.
    pub cache_points: Vec<(String, CacheTtl)>,
}

impl Features {
    /// Whether the request uses any of them.
    pub fn any(&self) -> bool {
        self.image.is_some()
            || self.document.is_some()
            || self.tools.is_some()
            || self.output_schema.is_some()
            || self.reasoning_block.is_some()
            || !self.cache_points.is_empty()
    }
}

/// What the blocks of a whole conversation add up to, gathered turn by turn.
#[derive(Debug, Default)]
pub(super) struct Census {
    pub(super) features: Features,
    images: usize,
    documents: usize,
    /// The path of the first image (and document) over Bedrock's count.
    image_over: Option<String>,
    document_over: Option<String>,
    /// Each document name and where it was first used (Bedrock refuses
    /// duplicates).
    document_names: HashMap<String, String>,
    /// Bytes of text in tool calls' inputs and tool results (JSON counted
    /// as serialised), for the input limit.
    pub(super) tool_text_bytes: usize,
    /// The tool-use IDs of the turn before the one being read, when it was
    /// the assistant's.
    previous_calls: Vec<String>,
    /// The same, for lookups: a hostile request may hold many thousands.
    previous_ids: HashSet<String>,
    /// The tool-use IDs of the turn being read.
    calls: Vec<String>,
    /// The first tool-use or tool-result block's path.
    first_tool_block: Option<String>,
}

impl Census {
    /// Starts a new turn: the calls just read become the previous turn's.
    pub(super) fn next_turn(&mut self) {
        self.previous_calls = std::mem::take(&mut self.calls);
        self.previous_ids = self.previous_calls.iter().cloned().collect();
    }

    /// Ends turn `i`: a user turn after tool calls must answer every one of
    /// them (Bedrock refuses the conversation otherwise).
    pub(super) fn end_turn(
        &self,
        i: usize,
        role: Option<Role>,
        turn: &[ContentBlock],
        v: &mut Vec<FieldViolation>,
    ) {
        if role != Some(Role::User) || self.previous_calls.is_empty() {
            return;
        }
        let answered: HashSet<&str> = turn
            .iter()
            .filter_map(|b| match b {
                ContentBlock::ToolResult(r) => Some(r.tool_use_id.as_str()),
                _ => None,
            })
            .collect();
        let missing: Vec<&String> = self
            .previous_calls
            .iter()
            .filter(|id| !answered.contains(id.as_str()))
            .collect();
        if !missing.is_empty() {
            v.push(FieldViolation::new(
                format!("messages[{i}]"),
                format!(
                    "must answer every tool call of the assistant turn before it with a tool_result \
                     block, got none for {}; add a tool_result for each (status \
                     TOOL_RESULT_STATUS_ERROR if the tool was not run)",
                    some_of(&missing)
                ),
            ));
        }
    }

    /// The request-wide rules, once every turn is read: the image and
    /// document counts, and that tool blocks come with a tool config.
    pub(super) fn finish(&mut self, has_tool_config: bool, v: &mut Vec<FieldViolation>) {
        if let Some(path) = self.image_over.take() {
            v.push(FieldViolation::new(
                path,
                format!(
                    "is image {} of the request, over Bedrock's limit of {MAX_IMAGES} images per \
                     request ({} in all); send fewer images or split the work across requests",
                    MAX_IMAGES + 1,
                    self.images
                ),
            ));
        }
        if let Some(path) = self.document_over.take() {
            v.push(FieldViolation::new(
                path,
                format!(
                    "is document {} of the request, over Bedrock's limit of {MAX_DOCUMENTS} documents \
                     per request ({} in all); send fewer documents or split the work across requests",
                    MAX_DOCUMENTS + 1,
                    self.documents
                ),
            ));
        }
        if let (Some(block), false) = (&self.first_tool_block, has_tool_config) {
            v.push(FieldViolation::new(
                "tool_config",
                format!(
                    "must be set when the conversation holds tool_use or tool_result blocks \
                     ({block} is one), got none; declare the tools the conversation used"
                ),
            ));
        }
        if self.features.tools.is_none() {
            self.features.tools = self.first_tool_block.take();
        }
    }
}

/// Reads one turn's blocks (`messages[i].blocks`) for a turn by `role`.
pub(super) fn blocks(
    i: usize,
    role: Option<Role>,
    blocks: Vec<pb::ContentBlock>,
    census: &mut Census,
    v: &mut Vec<FieldViolation>,
) -> Vec<ContentBlock> {
    use pb::content_block::Block;
    let mut out = Vec::with_capacity(blocks.len());
    for (j, pb::ContentBlock { block }) in blocks.into_iter().enumerate() {
        let path = format!("messages[{i}].blocks[{j}]");
        let Some(block) = block else {
            v.push(FieldViolation::new(
                path,
                "must set one of text, image, document, tool_use, tool_result, reasoning or \
                 cache_point, got none",
            ));
            continue;
        };
        let kind = match &block {
            Block::Text(_) => "text",
            Block::Image(_) => "image",
            Block::Document(_) => "document",
            Block::ToolUse(_) => "tool_use",
            Block::ToolResult(_) => "tool_result",
            Block::Reasoning(_) => "reasoning",
            Block::CachePoint(_) => "cache_point",
        };
        let path = format!("{path}.{kind}");
        check_role(&path, kind, role, v);
        let read = match block {
            Block::Text(text) => {
                if text.trim().is_empty() {
                    v.push(FieldViolation::new(&path, format!("must not be blank, got {text:?}")));
                }
                Some(ContentBlock::Text(text))
            }
            Block::Image(image) => census.image(image, &path, v).map(ContentBlock::Image),
            Block::Document(doc) => census.document(doc, &path, v).map(ContentBlock::Document),
            Block::ToolUse(call) => {
                census.first_tool_block.get_or_insert_with(|| path.clone());
                let call = tool_use(call, &path, v);
                census.tool_text_bytes += json_len(&call.input);
                census.calls.push(call.id.clone());
                Some(ContentBlock::ToolUse(call))
            }
            Block::ToolResult(result) => {
                census.first_tool_block.get_or_insert_with(|| path.clone());
                census
                    .tool_result(result, &path, v)
                    .map(ContentBlock::ToolResult)
            }
            Block::Reasoning(reasoning) => {
                census.features.reasoning_block.get_or_insert_with(|| path.clone());
                let reasoning = reasoning_of(reasoning, &path, v);
                // Replayed reasoning is input too, for the input limit.
                if let Some(Reasoning::Text { text, .. }) = &reasoning {
                    census.tool_text_bytes += text.len();
                }
                reasoning.map(ContentBlock::Reasoning)
            }
            Block::CachePoint(point) => {
                if j == 0 {
                    v.push(FieldViolation::new(
                        &path,
                        "must follow another block of the turn (it marks the end of what is \
                         cached), got it first; put it after the blocks to cache",
                    ));
                }
                let point = cache_point(point, &path, v);
                census.features.cache_points.push((path, point.effective_ttl()));
                Some(ContentBlock::CachePoint(point))
            }
        };
        out.extend(read);
    }
    let has_document = out.iter().any(|b| matches!(b, ContentBlock::Document(_)));
    if has_document && !out.iter().any(|b| matches!(b, ContentBlock::Text(_))) {
        v.push(FieldViolation::new(
            format!("messages[{i}].blocks"),
            "must hold a text block beside a document (Bedrock's rule), got none; add one that \
             says what to do with the document",
        ));
    }
    out
}

/// Images, documents and tool results belong to user turns; tool calls to
/// the assistant's.
fn check_role(path: &str, kind: &str, role: Option<Role>, v: &mut Vec<FieldViolation>) {
    let (wanted, wanted_name) = match kind {
        "tool_use" | "reasoning" => (Role::Assistant, "ROLE_ASSISTANT"),
        "image" | "document" | "tool_result" => (Role::User, "ROLE_USER"),
        _ => return,
    };
    if let Some(role) = role.filter(|r| *r != wanted) {
        let got = match role {
            Role::User => "ROLE_USER",
            Role::Assistant => "ROLE_ASSISTANT",
        };
        v.push(FieldViolation::new(
            path,
            format!(
                "{} {kind} block belongs in a {wanted_name} turn, got it in a {got} turn",
                article(kind)
            ),
        ));
    }
}

impl Census {
    fn image(
        &mut self,
        image: pb::Image,
        path: &str,
        v: &mut Vec<FieldViolation>,
    ) -> Option<Image> {
        self.images += 1;
        if self.images == MAX_IMAGES + 1 {
            self.image_over = Some(path.to_owned());
        }
        self.features.image.get_or_insert_with(|| path.to_owned());
        image_of(image, path, v)
    }

    fn document(
        &mut self,
        doc: pb::Document,
        path: &str,
        v: &mut Vec<FieldViolation>,
    ) -> Option<Document> {
        self.documents += 1;
        if self.documents == MAX_DOCUMENTS + 1 {
            self.document_over = Some(path.to_owned());
        }
        self.features.document.get_or_insert_with(|| path.to_owned());
        let doc = document_of(doc, path, v)?;
        if self.documents > MAX_DOCUMENTS {
            // Refused by count already; naming every duplicate past the
            // limit would bury that under thousands of violations.
            return Some(doc);
        }
        match self.document_names.get(&doc.name) {
            Some(first) => v.push(FieldViolation::new(
                format!("{path}.name"),
                format!(
                    "must be unique among the request's documents (Bedrock's rule), got {:?}, \
                     already the name of {first}; rename one",
                    doc.name
                ),
            )),
            None => {
                self.document_names.insert(doc.name.clone(), path.to_owned());
            }
        }
        Some(doc)
    }

    fn tool_result(
        &mut self,
        result: pb::ToolResult,
        path: &str,
        v: &mut Vec<FieldViolation>,
    ) -> Option<ToolResult> {
        use pb::tool_result_content::Content;
        let pb::ToolResult {
            tool_use_id,
            content,
            status,
        } = result;
        if tool_use_id.is_empty() {
            v.push(FieldViolation::new(
                format!("{path}.tool_use_id"),
                "must name the tool_use block it answers, got \"\"",
            ));
        } else if !self.previous_ids.contains(&tool_use_id) {
            let calls = if self.previous_calls.is_empty() {
                "none".to_owned()
            } else {
                some_of(&self.previous_calls.iter().collect::<Vec<_>>())
            };
            v.push(FieldViolation::new(
                format!("{path}.tool_use_id"),
                format!(
                    "must be the id of a tool_use block in the assistant turn just before, got \
                     {tool_use_id:?} (that turn's calls: {calls})"
                ),
            ));
        }
        if content.is_empty() {
            v.push(FieldViolation::new(
                format!("{path}.content"),
                "must hold at least one piece of the result, got none",
            ));
        }
        let mut out = Vec::with_capacity(content.len());
        for (k, pb::ToolResultContent { content }) in content.into_iter().enumerate() {
            let at = format!("{path}.content[{k}]");
            match content {
                None => v.push(FieldViolation::new(
                    at,
                    "must set one of text, json, image or document, got none",
                )),
                Some(Content::Text(text)) => {
                    if text.trim().is_empty() {
                        v.push(FieldViolation::new(
                            format!("{at}.text"),
                            format!("must not be blank, got {text:?}"),
                        ));
                    }
                    self.tool_text_bytes += text.len();
                    out.push(ToolResultContent::Text(text));
                }
                Some(Content::Json(s)) => {
                    let json = struct_to_json(s, &format!("{at}.json"), 1, v);
                    self.tool_text_bytes += json_len(&json);
                    out.push(ToolResultContent::Json(json))
                }
                Some(Content::Image(image)) => out.extend(
                    self.image(image, &format!("{at}.image"), v)
                        .map(ToolResultContent::Image),
                ),
                Some(Content::Document(doc)) => out.extend(
                    self.document(doc, &format!("{at}.document"), v)
                        .map(ToolResultContent::Document),
                ),
            }
        }
        let status = match pb::ToolResultStatus::try_from(status) {
            Ok(pb::ToolResultStatus::Unspecified) => None,
            Ok(pb::ToolResultStatus::Success) => Some(ToolResultStatus::Success),
            Ok(pb::ToolResultStatus::Error) => Some(ToolResultStatus::Error),
            Err(_) => {
                v.push(FieldViolation::new(
                    format!("{path}.status"),
                    format!("must be TOOL_RESULT_STATUS_SUCCESS or TOOL_RESULT_STATUS_ERROR (or unset), got {status}"),
                ));
                None
            }
        };
        Some(ToolResult {
            tool_use_id,
            content: out,
            status,
        })
    }
}

fn image_of(image: pb::Image, path: &str, v: &mut Vec<FieldViolation>) -> Option<Image> {
    let pb::Image { format, data } = image;
    let format = match pb::ImageFormat::try_from(format) {
        Ok(pb::ImageFormat::Png) => Some(ImageFormat::Png),
        Ok(pb::ImageFormat::Jpeg) => Some(ImageFormat::Jpeg),
        Ok(pb::ImageFormat::Gif) => Some(ImageFormat::Gif),
        Ok(pb::ImageFormat::Webp) => Some(ImageFormat::Webp),
        _ => {
            let hint = ImageFormat::sniff(&data)
                .map(|f| {
                    format!(
                        "; the data looks like IMAGE_FORMAT_{}",
                        f.name().to_uppercase()
                    )
                })
                .unwrap_or_default();
            v.push(FieldViolation::new(
                format!("{path}.format"),
                format!("must be IMAGE_FORMAT_PNG, _JPEG, _GIF or _WEBP, got {format}{hint}"),
            ));
            None
        }
    };
    let data_path = format!("{path}.data");
    if data.is_empty() {
        v.push(FieldViolation::new(
            data_path,
            "must hold the image file's bytes, got 0 bytes",
        ));
        return None;
    }
    if data.len() > MAX_IMAGE_BYTES {
        v.push(FieldViolation::new(
            &data_path,
            format!(
                "must be at most {MAX_IMAGE_BYTES} bytes (Bedrock's 3.75 MB image limit), got {} bytes; \
                 scale or compress the image",
                data.len()
            ),
        ));
    }
    let format = format?;
    if !format.matches(&data) {
        let looks = ImageFormat::sniff(&data)
            .map(|f| {
                format!(
                    "; the data looks like IMAGE_FORMAT_{}",
                    f.name().to_uppercase()
                )
            })
            .unwrap_or_else(|| format!("; it starts with {}", hex_prefix(&data)));
        v.push(FieldViolation::new(
            data_path,
            format!(
                "must be a {} file (format IMAGE_FORMAT_{}), but the bytes lack its signature{looks}; \
                 set `format` to match the file or send the file it names",
                format.name().to_uppercase(),
                format.name().to_uppercase()
            ),
        ));
        return None;
    }
    Some(Image { format, data })
}

fn document_of(doc: pb::Document, path: &str, v: &mut Vec<FieldViolation>) -> Option<Document> {
    let pb::Document { format, name, data } = doc;
    let format = match pb::DocumentFormat::try_from(format) {
        Ok(pb::DocumentFormat::Pdf) => Some(DocumentFormat::Pdf),
        Ok(pb::DocumentFormat::Csv) => Some(DocumentFormat::Csv),
        Ok(pb::DocumentFormat::Doc) => Some(DocumentFormat::Doc),
        Ok(pb::DocumentFormat::Docx) => Some(DocumentFormat::Docx),
        Ok(pb::DocumentFormat::Xls) => Some(DocumentFormat::Xls),
        Ok(pb::DocumentFormat::Xlsx) => Some(DocumentFormat::Xlsx),
        Ok(pb::DocumentFormat::Html) => Some(DocumentFormat::Html),
        Ok(pb::DocumentFormat::Txt) => Some(DocumentFormat::Txt),
        Ok(pb::DocumentFormat::Md) => Some(DocumentFormat::Md),
        _ => {
            v.push(FieldViolation::new(
                format!("{path}.format"),
                format!(
                    "must be one of DOCUMENT_FORMAT_PDF, _CSV, _DOC, _DOCX, _XLS, _XLSX, _HTML, _TXT or _MD, got {format}"
                ),
            ));
            None
        }
    };
    if let Some(why) = document_name_problem(&name) {
        v.push(FieldViolation::new(format!("{path}.name"), why));
    }
    let data_path = format!("{path}.data");
    if data.is_empty() {
        v.push(FieldViolation::new(
            data_path,
            "must hold the document file's bytes, got 0 bytes",
        ));
        return None;
    }
    if data.len() > MAX_DOCUMENT_BYTES {
        v.push(FieldViolation::new(
            &data_path,
            format!(
                "must be at most {MAX_DOCUMENT_BYTES} bytes (Bedrock's 4.5 MB document limit), got {} bytes; \
                 split the document",
                data.len()
            ),
        ));
    }
    let format = format?;
    if let Some((signature, described)) = format.signature() {
        // A PDF's header may follow up to 1024 bytes of anything.
        let found = if format == DocumentFormat::Pdf {
            data[..data.len().min(1024)].windows(signature.len()).any(|w| w == signature)
        } else {
            data.starts_with(signature)
        };
        if !found {
            v.push(FieldViolation::new(
                data_path,
                format!(
                    "must be a {} file, which starts with {described}, but it starts with {}; set \
                     `format` to match the file",
                    format.name().to_uppercase(),
                    hex_prefix(&data)
                ),
            ));
            return None;
        }
    }
    Some(Document { format, name, data })
}

/// Why `name` breaks Bedrock's document-name rule, if it does: 1 to 200
/// characters of ASCII letters and digits, single whitespace characters,
/// hyphens, parentheses and square brackets.
fn document_name_problem(name: &str) -> Option<String> {
    let count = name.chars().count();
    if count == 0 {
        return Some("must name the document (Bedrock requires a name), got \"\"".into());
    }
    if count > MAX_DOCUMENT_NAME_CHARS {
        return Some(format!(
            "must be at most {MAX_DOCUMENT_NAME_CHARS} characters, got {count}"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || c.is_ascii_whitespace() || "-()[]".contains(*c)))
    {
        return Some(format!(
            "may hold only letters, digits, single spaces, hyphens, parentheses and square brackets \
             (Bedrock's rule), got {name:?} with {bad:?}; a file name such as \"report.pdf\" becomes \"report\""
        ));
    }
    if name
        .as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_whitespace() && w[1].is_ascii_whitespace())
    {
        return Some(format!(
            "may not hold two whitespace characters in a row (Bedrock's rule), got {name:?}"
        ));
    }
    None
}

/// Up to five IDs, then how many more: messages stay short whatever the
/// request holds.
fn some_of(ids: &[&String]) -> String {
    const SHOWN: usize = 5;
    let shown: Vec<&str> = ids.iter().take(SHOWN).map(|s| s.as_str()).collect();
    match ids.len().saturating_sub(SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// "an" before a vowel ("an image block"), else "a".
fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// The length of `value` as JSON text, without writing it out.
fn json_len(value: &serde_json::Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// The first bytes of `data` in hex, for messages about signatures.
fn hex_prefix(data: &[u8]) -> String {
    let shown: Vec<String> = data.iter().take(8).map(|b| format!("{b:02X}")).collect();
    shown.join(" ")
}

fn tool_use(call: pb::ToolUse, path: &str, v: &mut Vec<FieldViolation>) -> ToolUse {
    let pb::ToolUse { id, name, input } = call;
    if let Some(why) = tool_use_id_problem(&id) {
        v.push(FieldViolation::new(format!("{path}.id"), why));
    }
    if let Some(why) = tool_name_problem(&name) {
        v.push(FieldViolation::new(format!("{path}.name"), why));
    }
    let input = match input {
        Some(s) => struct_to_json(s, &format!("{path}.input"), 1, v),
        None => serde_json::Value::Object(Default::default()),
    };
    ToolUse { id, name, input }
}

/// Bedrock's tool-use ID rule: 1 to 64 of `[a-zA-Z0-9_.:-]` (botocore's
/// `ToolUseId` pattern; IDs from some models hold `.` and `:`).
fn tool_use_id_problem(id: &str) -> Option<String> {
    let ok = (1..=MAX_TOOL_NAME_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
    (!ok).then(|| {
        format!(
            "must be the tool call's id as the model gave it: 1 to {MAX_TOOL_NAME_CHARS} letters, digits, \
             '_', '.', ':' or '-', got {id:?}"
        )
    })
}

/// Bedrock's tool-name rule: `^[a-zA-Z0-9_-]{1,64}$`.
fn tool_name_problem(name: &str) -> Option<String> {
    let ok = (1..=MAX_TOOL_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (!ok).then(|| {
        format!("must match ^[a-zA-Z0-9_-]{{1,{MAX_TOOL_NAME_CHARS}}}$ (Bedrock's tool-name rule), got {name:?}")
    })
}

/// Reads a cache point at `path`: its TTL, if given, must be a known one.
pub(super) fn cache_point(point: pb::CachePoint, path: &str, v: &mut Vec<FieldViolation>) -> CachePoint {
    let pb::CachePoint { ttl } = point;
    let ttl = match pb::CacheTtl::try_from(ttl) {
        Ok(pb::CacheTtl::Unspecified) => None,
        Ok(pb::CacheTtl::CacheTtl5Minutes) => Some(CacheTtl::FiveMinutes),
        Ok(pb::CacheTtl::CacheTtl1Hour) => Some(CacheTtl::OneHour),
        Err(_) => {
            v.push(FieldViolation::new(
                format!("{path}.ttl"),
                format!("must be CACHE_TTL_5_MINUTES or CACHE_TTL_1_HOUR (or unset), got {ttl}"),
            ));
            None
        }
    };
    CachePoint { ttl }
}

/// Reads a replayed reasoning block: text with its signature, or redacted
/// bytes, never both.
fn reasoning_of(reasoning: pb::Reasoning, path: &str, v: &mut Vec<FieldViolation>) -> Option<Reasoning> {
    let pb::Reasoning { text, signature, redacted } = reasoning;
    match (text.is_empty(), redacted.is_empty()) {
        (false, true) => {
            if signature.is_empty() {
                v.push(FieldViolation::new(
                    format!("{path}.signature"),
                    "must be the signature the answer gave this reasoning (Bedrock checks it), \
                     got \"\"; send the block back exactly as it came",
                ));
            }
            Some(Reasoning::Text {
                text,
                signature: (!signature.is_empty()).then_some(signature),
            })
        }
        (true, false) => {
            if !signature.is_empty() {
                v.push(FieldViolation::new(
                    format!("{path}.signature"),
                    format!(
                        "must be empty beside redacted reasoning (only text has a signature), got \
                         a {}-character signature",
                        signature.chars().count()
                    ),
                ));
            }
            Some(Reasoning::Redacted(redacted))
        }
        (true, true) => {
            v.push(FieldViolation::new(
                path,
                "must set `text` (with its `signature`) or `redacted`, got neither",
            ));
            None
        }
        (false, false) => {
            v.push(FieldViolation::new(
                path,
                format!(
                    "must set either `text` or `redacted`, got both ({} characters of text and {} \
                     redacted bytes)",
                    text.chars().count(),
                    redacted.len()
                ),
            ));
            None
        }
    }
}

/// The most cache points Bedrock takes in one request.
pub const MAX_CACHE_POINTS: usize = 4;

/// Bedrock's rules over all of a request's cache points, given in its order
/// (tools, system, turns): at most [`MAX_CACHE_POINTS`], and times to live
/// that never increase (a 1-hour point may not follow a 5-minute one).
pub(super) fn cache_point_rules(points: &[(String, CacheTtl)], v: &mut Vec<FieldViolation>) {
    if let Some((path, _)) = points.get(MAX_CACHE_POINTS) {
        let all: Vec<&str> = points.iter().take(8).map(|(p, _)| p.as_str()).collect();
        v.push(FieldViolation::new(
            path,
            format!(
                "is cache point {} of the request, over Bedrock's limit of {MAX_CACHE_POINTS} \
                 ({} in all: {}{}); keep the {MAX_CACHE_POINTS} that end the longest prefixes",
                MAX_CACHE_POINTS + 1,
                points.len(),
                all.join(", "),
                if points.len() > 8 { ", ..." } else { "" }
            ),
        ));
    }
    let mut shortest: Option<&(String, CacheTtl)> = None;
    for point in points {
        if let Some(earlier) = shortest.filter(|e| e.1 == CacheTtl::FiveMinutes && point.1 == CacheTtl::OneHour) {
            v.push(FieldViolation::new(
                format!("{}.ttl", point.0),
                format!(
                    "must not be longer than the TTL of an earlier cache point (Bedrock's rule: TTLs \
                     never increase from tools to system to turns), got CACHE_TTL_1_HOUR after \
                     CACHE_TTL_5_MINUTES at {}; make the earlier point 1 hour or this one 5 minutes",
                    earlier.0
                ),
            ));
            break;
        }
        if point.1 == CacheTtl::FiveMinutes && shortest.is_none() {
            shortest = Some(point);
        }
    }
}

/// Reads `tool_config`.
pub(super) fn tool_config(config: pb::ToolConfig, v: &mut Vec<FieldViolation>) -> ToolConfig {
    let pb::ToolConfig { tools, tool_choice, cache_point: point } = config;
    let point = point.map(|p| cache_point(p, "tool_config.cache_point", v));
    if tools.is_empty() {
        v.push(FieldViolation::new(
            "tool_config.tools",
            "must declare at least one tool, got none; leave tool_config unset for no tools",
        ));
    }
    let mut seen = HashSet::with_capacity(tools.len());
    let tools: Vec<Tool> = tools
        .into_iter()
        .enumerate()
        .map(|(k, pb::Tool { name, description, input_schema })| {
            let path = format!("tool_config.tools[{k}]");
            if let Some(why) = tool_name_problem(&name) {
                v.push(FieldViolation::new(format!("{path}.name"), why));
            } else if !seen.insert(name.clone()) {
                v.push(FieldViolation::new(
                    format!("{path}.name"),
                    format!("must be unique among the tools, got {name:?} twice; rename one"),
                ));
            }
            let input_schema = match input_schema {
                Some(s) => {
                    let schema = struct_to_json(s, &format!("{path}.input_schema"), 1, v);
                    if schema.get("type").and_then(|t| t.as_str()) != Some("object") {
                        v.push(FieldViolation::new(
                            format!("{path}.input_schema.type"),
                            format!(
                                "must be \"object\" (a tool's input is a JSON object), got {}",
                                schema.get("type").map_or_else(|| "none".to_owned(), |t| t.to_string())
                            ),
                        ));
                    }
                    schema
                }
                None => {
                    v.push(FieldViolation::new(
                        format!("{path}.input_schema"),
                        "must be a JSON Schema for the tool's input, such as {\"type\": \"object\", \
                         \"properties\": {}}, got none",
                    ));
                    serde_json::Value::Null
                }
            };
            Tool {
                name,
                description: (!description.is_empty()).then_some(description),
                input_schema,
            }
        })
        .collect();
    let choice = tool_choice.map_or(ToolChoice::Auto, |c| choice_of(c, &tools, v));
    ToolConfig { tools, choice, cache_point: point }
}

fn choice_of(choice: pb::ToolChoice, tools: &[Tool], v: &mut Vec<FieldViolation>) -> ToolChoice {
    let pb::ToolChoice { mode, tool_name } = choice;
    let mode = match pb::ToolChoiceMode::try_from(mode) {
        Ok(m) => m,
        Err(_) => {
            v.push(FieldViolation::new(
                "tool_config.tool_choice.mode",
                format!("must be TOOL_CHOICE_MODE_AUTO, _ANY or _TOOL, got {mode}"),
            ));
            return ToolChoice::Auto;
        }
    };
    if mode != pb::ToolChoiceMode::Tool {
        if !tool_name.is_empty() {
            v.push(FieldViolation::new(
                "tool_config.tool_choice.tool_name",
                format!(
                    "must be empty unless mode is TOOL_CHOICE_MODE_TOOL, got {tool_name:?} with {}; \
                     set mode to TOOL_CHOICE_MODE_TOOL to force that tool",
                    mode.as_str_name()
                ),
            ));
        }
        return match mode {
            pb::ToolChoiceMode::Any => ToolChoice::Any,
            _ => ToolChoice::Auto,
        };
    }
    if !tools.iter().any(|t| t.name == tool_name) {
        let declared: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        v.push(FieldViolation::new(
            "tool_config.tool_choice.tool_name",
            format!(
                "must name one of the declared tools ({}), got {tool_name:?}",
                declared.join(", ")
            ),
        ));
    }
    ToolChoice::Tool(tool_name)
}

/// The JSON Schema type names.
const SCHEMA_TYPES: [&str; 7] = [
    "object", "array", "string", "number", "integer", "boolean", "null",
];

/// Reads `output_schema`.
pub(super) fn output_schema(schema: pb::OutputSchema, v: &mut Vec<FieldViolation>) -> OutputSchema {
    let pb::OutputSchema {
        json_schema,
        name,
        description,
    } = schema;
    let schema = match json_schema {
        None => {
            v.push(FieldViolation::new(
                "output_schema.json_schema",
                "must be a JSON Schema object, such as {\"type\": \"object\", \"properties\": {...}}, got none",
            ));
            serde_json::Value::Null
        }
        Some(s) => {
            let schema = struct_to_json(s, "output_schema.json_schema", 1, v);
            if schema.as_object().is_some_and(|o| o.is_empty()) {
                v.push(FieldViolation::new(
                    "output_schema.json_schema",
                    "must be a JSON Schema object that says something (a `type`, `properties`, ...), got {}",
                ));
            }
            if let Some(t) = schema.get("type") {
                let names: Vec<&str> = match t {
                    serde_json::Value::String(s) => vec![s.as_str()],
                    serde_json::Value::Array(a) => {
                        a.iter().map(|x| x.as_str().unwrap_or("")).collect()
                    }
                    _ => vec![""],
                };
                if names.is_empty() || names.iter().any(|n| !SCHEMA_TYPES.contains(n)) {
                    v.push(FieldViolation::new(
                        "output_schema.json_schema.type",
                        format!(
                            "must be a JSON Schema type ({}) or a list of them, got {t}",
                            SCHEMA_TYPES.join(", ")
                        ),
                    ));
                }
            }
            schema
        }
    };
    OutputSchema {
        schema,
        name: (!name.is_empty()).then_some(name),
        description: (!description.is_empty()).then_some(description),
    }
}

/// The InvokeModel refusals: native bodies carry text only, so every other
/// block, the tools and the output schema are refused by name.
pub(super) fn native_refusals(
    messages: &[crate::domain::Message],
    has_tool_config: bool,
    has_output_schema: bool,
    v: &mut Vec<FieldViolation>,
) {
    let refuse = |field: String, what: &str, v: &mut Vec<FieldViolation>| {
        v.push(FieldViolation::new(
            field,
            format!(
                "is a Converse feature: BEDROCK_API_INVOKE_MODEL carries only text, got {what}; use \
                 BEDROCK_API_CONVERSE (the default)"
            ),
        ));
    };
    for (i, m) in messages.iter().enumerate() {
        for (j, b) in m.content.iter().enumerate() {
            if !matches!(b, ContentBlock::Text(_)) {
                let kind = b.kind().name();
                refuse(
                    format!("messages[{i}].blocks[{j}].{kind}"),
                    &format!("{} {kind} block", article(kind)),
                    v,
                );
            }
        }
    }
    if has_tool_config {
        refuse("tool_config".into(), "tools", v);
    }
    if has_output_schema {
        refuse("output_schema".into(), "an output schema", v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_names_follow_bedrocks_alphabet() {
        assert_eq!(document_name_problem("Q3 report (final) [v2]-a"), None);
        assert!(document_name_problem("").is_some());
        assert!(document_name_problem("report.pdf").unwrap().contains("'.'"));
        assert!(document_name_problem("two  spaces").is_some());
        assert!(document_name_problem(&"a".repeat(201)).is_some());
    }

    #[test]
    fn tool_names_and_ids_follow_bedrocks_patterns() {
        assert_eq!(tool_name_problem("get_weather-2"), None);
        assert!(tool_name_problem("get weather").is_some());
        assert!(tool_name_problem(&"a".repeat(65)).is_some());
        assert_eq!(tool_use_id_problem("tooluse_Ab3.x:y-z"), None);
        assert!(tool_use_id_problem("").is_some());
        assert!(tool_use_id_problem("has space").is_some());
    }

    #[test]
    fn image_signatures_are_told_apart() {
        assert!(ImageFormat::Png.matches(b"\x89PNG\r\n\x1a\n...."));
        assert!(!ImageFormat::Jpeg.matches(b"\x89PNG\r\n\x1a\n...."));
        assert_eq!(ImageFormat::sniff(b"GIF89a.."), Some(ImageFormat::Gif));
        assert_eq!(
            ImageFormat::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(ImageFormat::Webp)
        );
        assert_eq!(
            ImageFormat::sniff(b"\xff\xd8\xff\xe0"),
            Some(ImageFormat::Jpeg)
        );
        assert_eq!(ImageFormat::sniff(b"hello"), None);
    }
}
