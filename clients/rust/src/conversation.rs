//! Conversation files: `--messages FILE` reads one, `--save FILE` writes one.
//!
//! The format is the proto3 JSON mapping of `repeated Message`, with the
//! proto's snake_case names, so a saved conversation can be read back, edited
//! by hand or sent with any proto3 JSON tool:
//!
//! ```json
//! [
//!   {"role": "ROLE_USER", "content": "What is the weather in Paris?"},
//!   {"role": "ROLE_ASSISTANT", "blocks": [
//!     {"tool_use": {"id": "tooluse_abc", "name": "get_weather", "input": {"city": "Paris"}}}
//!   ]},
//!   {"role": "ROLE_USER", "blocks": [
//!     {"tool_result": {"tool_use_id": "tooluse_abc", "content": [{"json": {"temp_c": 21}}]}}
//!   ]}
//! ]
//! ```
//!
//! Reading is lenient where it costs nothing: `{"messages": [...]}` as well
//! as a bare array; lowerCamel names (`toolUse`, `toolUseId`); short enum
//! names (`"user"`, `"png"`, `"error"`); and, for images and documents,
//! `"path"` (relative to the file's directory) instead of base64 `"data"`,
//! the format then defaulting from the extension and a document's name from
//! the file stem. Keys it does not know are errors, so a typo is not
//! silently dropped.
//!
//! Reasoning blocks are written as `{"reasoning": {"text", "signature"}}` or
//! `{"reasoning": {"redacted": "<base64>"}}`, so a saved answer replays
//! exactly as Bedrock gave it; `{"cache_point": {"ttl": "1h"}}` blocks (TTL
//! `5m`, `1h` or a `CACHE_TTL_` name, or none) are read and written too.

use crate::content::{document_format, document_name, image_format};
use crate::pb;
use crate::render::{self, Bytes};
use crate::request::json_object_to_struct;
use base64::Engine as _;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The turns of `--messages FILE`. Debug shows how many, not their bytes.
#[derive(Clone, PartialEq)]
pub struct ConversationArg {
    /// The file as given (`-` for stdin).
    pub path: String,
    /// Its turns, in order.
    pub messages: Vec<pb::Message>,
}

impl std::fmt::Debug for ConversationArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConversationArg")
            .field("path", &self.path)
            .field("turns", &self.messages.len())
            .finish()
    }
}

/// The value parser of `--messages`: reads and parses the file (`-` is stdin).
pub fn parse_conversation_file(path: &str) -> Result<ConversationArg, String> {
    let json = crate::tools::read_json(path)?;
    let base = if path == "-" {
        PathBuf::from(".")
    } else {
        Path::new(path)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    };
    let messages = messages_from_json(json, &base).map_err(|e| format!("`{path}`: {e}"))?;
    Ok(ConversationArg {
        path: path.to_owned(),
        messages,
    })
}

/// The conversation as JSON for `--save`: the same format `--messages` reads,
/// with the bytes of images and documents in base64.
pub fn messages_json(messages: &[pb::Message]) -> render::Json {
    render::Json::Array(messages.iter().map(message_json).collect())
}

fn message_json(m: &pb::Message) -> render::Json {
    let role = match pb::Role::try_from(m.role) {
        Ok(r) => render::Json::Leaf(r.as_str_name().into()),
        Err(_) => render::Json::Leaf(m.role.into()),
    };
    let mut fields = vec![("role", role)];
    if !m.content.is_empty() || m.blocks.is_empty() {
        fields.push(("content", render::Json::Leaf(m.content.as_str().into())));
    }
    if !m.blocks.is_empty() {
        fields.push((
            "blocks",
            render::Json::Array(
                m.blocks
                    .iter()
                    .map(|b| render::content_block_json(b, Bytes::Base64))
                    .collect(),
            ),
        ));
    }
    render::Json::Object(fields)
}

/// Writes the conversation to `path`, pretty-printed.
pub fn save(path: &Path, messages: &[pb::Message]) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(&messages_json(messages))?;
    text.push('\n');
    std::fs::write(path, text)
}

/// A JSON object being taken apart: each key is taken once, and whatever is
/// left at the end is an unknown key.
struct Obj {
    map: Map<String, Value>,
    at: String,
}

impl Obj {
    fn new(value: Value, at: String, what: &str) -> Result<Obj, String> {
        match value {
            Value::Object(map) => Ok(Obj { map, at }),
            _ => Err(format!("{}: must be a JSON object ({what})", shown(&at))),
        }
    }

    /// The value under the first of `keys` (aliases) that is present; two
    /// aliases at once are an error.
    fn take(&mut self, keys: &[&str]) -> Result<Option<(String, Value)>, String> {
        let mut found: Option<(String, Value)> = None;
        for key in keys {
            if let Some(v) = self.map.remove(*key) {
                if let Some((first, _)) = &found {
                    return Err(format!(
                        "{}: has both `{first}` and `{key}`",
                        shown(&self.at)
                    ));
                }
                found = Some(((*key).to_owned(), v));
            }
        }
        Ok(found)
    }

    fn string(&mut self, keys: &[&str]) -> Result<Option<String>, String> {
        match self.take(keys)? {
            None | Some((_, Value::Null)) => Ok(None),
            Some((_, Value::String(s))) => Ok(Some(s)),
            Some((k, _)) => Err(format!("{}.{k}: must be a string", self.at)),
        }
    }

    fn finish(self, expected: &str) -> Result<(), String> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(format!(
                "{}: unknown key `{k}` (expected {expected})",
                shown(&self.at)
            )),
        }
    }
}

/// A location for messages: the top level has no path of its own.
fn shown(at: &str) -> &str {
    if at.is_empty() {
        "the conversation"
    } else {
        at
    }
}

/// Turns from the file's JSON; `base` is where `path` entries are relative to.
pub fn messages_from_json(json: Value, base: &Path) -> Result<Vec<pb::Message>, String> {
    let (items, prefix) = match json {
        Value::Array(items) => (items, String::new()),
        Value::Object(_) => {
            let mut top = Obj::new(json, String::new(), "")?;
            let messages = top.take(&["messages"])?;
            top.finish("`messages`")?;
            match messages {
                Some((_, Value::Array(items))) => (items, "messages".to_owned()),
                _ => return Err("`messages` must be an array of turns".to_owned()),
            }
        }
        _ => {
            return Err(
                r#"must hold a JSON array of turns: [{"role": "user", "content": "..."}, ...]"#
                    .to_owned(),
            )
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| message_from_json(item, format!("{prefix}[{i}]"), base))
        .collect()
}

fn enum_value<T: Copy>(
    at: &str,
    given: &str,
    prefix: &str,
    choices: &[(&str, T)],
) -> Result<T, String> {
    let short = given
        .get(..prefix.len())
        .filter(|p| p.eq_ignore_ascii_case(prefix))
        .map_or(given, |_| &given[prefix.len()..]);
    choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(short))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            format!(
                "{at}: unknown value `{given}` (expected one of {})",
                names.join(", ")
            )
        })
}

fn message_from_json(item: Value, at: String, base: &Path) -> Result<pb::Message, String> {
    let mut obj = Obj::new(item, at.clone(), "a turn with role and content or blocks")?;
    let role = match obj.string(&["role"])? {
        Some(r) => enum_value(
            &format!("{at}.role"),
            &r,
            "ROLE_",
            &[("user", pb::Role::User), ("assistant", pb::Role::Assistant)],
        )?,
        None => return Err(format!("{at}: has no `role` (user or assistant)")),
    };
    let content = obj.string(&["content"])?.unwrap_or_default();
    let blocks = match obj.take(&["blocks"])? {
        None | Some((_, Value::Null)) => Vec::new(),
        Some((_, Value::Array(items))) => items
            .into_iter()
            .enumerate()
            .map(|(i, b)| block_from_json(b, format!("{at}.blocks[{i}]"), base))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(format!("{at}.blocks: must be an array of content blocks")),
    };
    obj.finish("role, content, blocks")?;
    Ok(pb::Message {
        role: role as i32,
        content,
        blocks,
    })
}

const BLOCK_KEYS: &str =
    "one of text, image, document, tool_use, tool_result, reasoning, cache_point";

fn block_from_json(item: Value, at: String, base: &Path) -> Result<pb::ContentBlock, String> {
    use pb::content_block::Block;
    let mut obj = Obj::new(item, at.clone(), BLOCK_KEYS)?;
    let keys: Vec<String> = obj.map.keys().cloned().collect();
    if keys.len() != 1 {
        return Err(format!("{at}: must have exactly {BLOCK_KEYS}"));
    }
    let key = keys[0].as_str();
    let value = obj.map.remove(key).unwrap_or_default();
    let inner = format!("{at}.{key}");
    let block = match key {
        "text" => match value {
            Value::String(s) => Block::Text(s),
            _ => return Err(format!("{inner}: must be a string")),
        },
        "image" => Block::Image(image_from_json(value, inner, base)?),
        "document" => Block::Document(document_from_json(value, inner, base)?),
        "tool_use" | "toolUse" => {
            let mut o = Obj::new(value, inner.clone(), "id, name, input")?;
            let id = o
                .string(&["id", "toolUseId", "tool_use_id"])?
                .unwrap_or_default();
            let name = o.string(&["name"])?.unwrap_or_default();
            let input = match o.take(&["input"])? {
                None | Some((_, Value::Null)) => None,
                Some((_, Value::Object(m))) => Some(json_object_to_struct(&m)),
                Some(_) => return Err(format!("{inner}.input: must be a JSON object")),
            };
            o.finish("id, name, input")?;
            Block::ToolUse(pb::ToolUse { id, name, input })
        }
        "tool_result" | "toolResult" => {
            Block::ToolResult(tool_result_from_json(value, inner, base)?)
        }
        "reasoning" => {
            const KEYS: &str = "text, signature, redacted";
            let mut o = Obj::new(value, inner.clone(), KEYS)?;
            let text = o.string(&["text"])?.unwrap_or_default();
            let signature = o.string(&["signature"])?.unwrap_or_default();
            let redacted = match o.string(&["redacted"])? {
                None => Vec::new(),
                Some(b64) => base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|e| format!("{inner}.redacted: not base64: {e}"))?,
            };
            o.finish(KEYS)?;
            Block::Reasoning(pb::Reasoning {
                text,
                signature,
                redacted,
            })
        }
        "cache_point" | "cachePoint" => {
            let mut o = Obj::new(value, inner.clone(), "ttl")?;
            let ttl = match o.string(&["ttl"])? {
                None => pb::CacheTtl::Unspecified,
                Some(t) => enum_value(
                    &format!("{inner}.ttl"),
                    &t,
                    "CACHE_TTL_",
                    &[
                        ("5m", pb::CacheTtl::CacheTtl5Minutes),
                        ("1h", pb::CacheTtl::CacheTtl1Hour),
                        ("5_minutes", pb::CacheTtl::CacheTtl5Minutes),
                        ("1_hour", pb::CacheTtl::CacheTtl1Hour),
                        ("unspecified", pb::CacheTtl::Unspecified),
                    ],
                )?,
            };
            o.finish("ttl")?;
            Block::CachePoint(pb::CachePoint { ttl: ttl as i32 })
        }
        _ => return Err(format!("{at}: unknown key `{key}` (expected {BLOCK_KEYS})")),
    };
    Ok(pb::ContentBlock { block: Some(block) })
}

fn tool_result_from_json(value: Value, at: String, base: &Path) -> Result<pb::ToolResult, String> {
    use pb::tool_result_content::Content;
    const KEYS: &str = "tool_use_id, content, status";
    let mut o = Obj::new(value, at.clone(), KEYS)?;
    let tool_use_id = o.string(&["tool_use_id", "toolUseId"])?.unwrap_or_default();
    let content = match o.take(&["content"])? {
        None | Some((_, Value::Null)) => Vec::new(),
        // A bare string is the common one-piece result.
        Some((_, Value::String(s))) => vec![pb::ToolResultContent {
            content: Some(Content::Text(s)),
        }],
        Some((_, Value::Array(items))) => items
            .into_iter()
            .enumerate()
            .map(|(i, piece)| {
                let at = format!("{at}.content[{i}]");
                const PIECE: &str = "one of text, json, image, document";
                let Value::Object(map) = piece else {
                    return Err(format!("{at}: must be a JSON object with {PIECE}"));
                };
                if map.len() != 1 {
                    return Err(format!("{at}: must have exactly {PIECE}"));
                }
                let (key, value) = map.into_iter().next().unwrap_or_default();
                let inner = format!("{at}.{key}");
                let content = match (key.as_str(), value) {
                    ("text", Value::String(s)) => Content::Text(s),
                    ("text", _) => return Err(format!("{inner}: must be a string")),
                    ("json", Value::Object(m)) => Content::Json(json_object_to_struct(&m)),
                    ("json", _) => return Err(format!("{inner}: must be a JSON object")),
                    ("image", v) => Content::Image(image_from_json(v, inner, base)?),
                    ("document", v) => Content::Document(document_from_json(v, inner, base)?),
                    (other, _) => {
                        return Err(format!("{at}: unknown key `{other}` (expected {PIECE})"))
                    }
                };
                Ok(pb::ToolResultContent {
                    content: Some(content),
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(format!("{at}.content: must be an array of pieces")),
    };
    let status = match o.string(&["status"])? {
        None => pb::ToolResultStatus::Unspecified,
        Some(s) => enum_value(
            &format!("{at}.status"),
            &s,
            "TOOL_RESULT_STATUS_",
            &[
                ("success", pb::ToolResultStatus::Success),
                ("error", pb::ToolResultStatus::Error),
                ("unspecified", pb::ToolResultStatus::Unspecified),
            ],
        )?,
    };
    o.finish(KEYS)?;
    Ok(pb::ToolResult {
        tool_use_id,
        content,
        status: status as i32,
    })
}

/// The bytes of an image or document: base64 `data`, or a file at `path`.
/// Returns them with the path, if one was given.
fn file_bytes(o: &mut Obj, base: &Path) -> Result<(Vec<u8>, Option<PathBuf>), String> {
    let at = o.at.clone();
    let data = o.string(&["data", "bytes"])?;
    let path = o.string(&["path"])?;
    match (data, path) {
        (Some(_), Some(_)) => Err(format!("{at}: has both `data` and `path`")),
        (Some(d), None) => base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .map(|b| (b, None))
            .map_err(|e| format!("{at}.data: not base64: {e}")),
        (None, Some(p)) => {
            let path = base.join(p);
            std::fs::read(&path)
                .map(|b| (b, Some(path.clone())))
                .map_err(|e| format!("{at}.path: cannot read `{}`: {e}", path.display()))
        }
        (None, None) => Err(format!(
            "{at}: has neither `data` (base64) nor `path` (a file)"
        )),
    }
}

fn extension(path: &Option<PathBuf>) -> Option<String> {
    Some(path.as_ref()?.extension()?.to_str()?.to_owned())
}

fn image_from_json(value: Value, at: String, base: &Path) -> Result<pb::Image, String> {
    const KEYS: &str = "format, data or path";
    let mut o = Obj::new(value, at.clone(), KEYS)?;
    let format = o.string(&["format"])?;
    let (data, path) = file_bytes(&mut o, base)?;
    o.finish(KEYS)?;
    let format = match format {
        Some(f) => {
            let short = f
                .get(..13)
                .filter(|p| p.eq_ignore_ascii_case("IMAGE_FORMAT_"))
                .map_or(f.as_str(), |_| &f[13..]);
            image_format(short).ok_or_else(|| {
                format!("{at}.format: unknown image format `{f}` (png, jpeg, gif, webp)")
            })?
        }
        None => extension(&path)
            .and_then(|e| image_format(&e))
            .ok_or_else(|| format!("{at}: has no `format` (png, jpeg, gif, webp)"))?,
    };
    Ok(pb::Image {
        format: format as i32,
        data,
    })
}

fn document_from_json(value: Value, at: String, base: &Path) -> Result<pb::Document, String> {
    const KEYS: &str = "format, name, data or path";
    let mut o = Obj::new(value, at.clone(), KEYS)?;
    let format = o.string(&["format"])?;
    let name = o.string(&["name"])?;
    let (data, path) = file_bytes(&mut o, base)?;
    o.finish(KEYS)?;
    const NAMES: &str = "pdf, csv, doc, docx, xls, xlsx, html, txt, md";
    let format = match format {
        Some(f) => {
            let short = f
                .get(..16)
                .filter(|p| p.eq_ignore_ascii_case("DOCUMENT_FORMAT_"))
                .map_or(f.as_str(), |_| &f[16..]);
            document_format(short)
                .ok_or_else(|| format!("{at}.format: unknown document format `{f}` ({NAMES})"))?
        }
        None => extension(&path)
            .and_then(|e| document_format(&e))
            .ok_or_else(|| format!("{at}: has no `format` ({NAMES})"))?,
    };
    let name = match (name, &path) {
        (Some(n), _) => n,
        (None, Some(p)) => document_name(&p.file_stem().unwrap_or_default().to_string_lossy()),
        (None, None) => return Err(format!("{at}: has no `name`")),
    };
    Ok(pb::Document {
        format: format as i32,
        name,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::content_block::Block;
    use serde_json::json;

    fn parse(v: Value) -> Result<Vec<pb::Message>, String> {
        messages_from_json(v, Path::new("."))
    }

    #[test]
    fn a_saved_conversation_reads_back_the_same() {
        let messages = vec![
            pb::Message {
                role: pb::Role::User as i32,
                content: String::new(),
                blocks: vec![
                    pb::ContentBlock {
                        block: Some(Block::Image(pb::Image {
                            format: pb::ImageFormat::Png as i32,
                            data: b"\x89PNG\r\n\x1a\nrest".to_vec(),
                        })),
                    },
                    pb::ContentBlock {
                        block: Some(Block::Document(pb::Document {
                            format: pb::DocumentFormat::Md as i32,
                            name: "notes".into(),
                            data: b"# hi".to_vec(),
                        })),
                    },
                    pb::ContentBlock {
                        block: Some(Block::Text("weather?".into())),
                    },
                ],
            },
            pb::Message {
                role: pb::Role::Assistant as i32,
                content: String::new(),
                blocks: vec![pb::ContentBlock {
                    block: Some(Block::ToolUse(pb::ToolUse {
                        id: "tooluse_1".into(),
                        name: "get_weather".into(),
                        input: Some(json_object_to_struct(
                            json!({"city": "Paris", "days": 2}).as_object().unwrap(),
                        )),
                    })),
                }],
            },
            pb::Message {
                role: pb::Role::User as i32,
                content: String::new(),
                blocks: vec![pb::ContentBlock {
                    block: Some(Block::ToolResult(pb::ToolResult {
                        tool_use_id: "tooluse_1".into(),
                        content: vec![
                            pb::ToolResultContent {
                                content: Some(pb::tool_result_content::Content::Text("ok".into())),
                            },
                            pb::ToolResultContent {
                                content: Some(pb::tool_result_content::Content::Json(
                                    json_object_to_struct(json!({"t": 21}).as_object().unwrap()),
                                )),
                            },
                        ],
                        status: pb::ToolResultStatus::Error as i32,
                    })),
                }],
            },
            pb::Message {
                role: pb::Role::Assistant as i32,
                content: "It failed.".into(),
                blocks: vec![],
            },
            pb::Message {
                role: pb::Role::User as i32,
                content: String::new(),
                blocks: vec![
                    pb::ContentBlock {
                        block: Some(Block::Text("again, thinking".into())),
                    },
                    pb::ContentBlock {
                        block: Some(Block::CachePoint(pb::CachePoint {
                            ttl: pb::CacheTtl::CacheTtl1Hour as i32,
                        })),
                    },
                ],
            },
            pb::Message {
                role: pb::Role::Assistant as i32,
                content: String::new(),
                blocks: vec![
                    pb::ContentBlock {
                        block: Some(Block::Reasoning(pb::Reasoning {
                            text: "The user wants a retry.".into(),
                            signature: "c2lnbmF0dXJl".into(),
                            redacted: vec![],
                        })),
                    },
                    pb::ContentBlock {
                        block: Some(Block::Reasoning(pb::Reasoning {
                            text: String::new(),
                            signature: String::new(),
                            redacted: vec![0, 1, 2, 0xff],
                        })),
                    },
                    pb::ContentBlock {
                        block: Some(Block::Text("Retrying.".into())),
                    },
                ],
            },
        ];
        let written = serde_json::to_value(messages_json(&messages)).unwrap();
        assert_eq!(written[0]["role"], "ROLE_USER");
        assert_eq!(
            written[0]["blocks"][0]["image"]["format"],
            "IMAGE_FORMAT_PNG"
        );
        assert_eq!(written[0]["blocks"][0]["image"]["data"], "iVBORw0KGgpyZXN0");
        assert_eq!(written[1]["blocks"][0]["tool_use"]["input"]["days"], 2);
        assert_eq!(
            written[2]["blocks"][0]["tool_result"]["status"],
            "TOOL_RESULT_STATUS_ERROR"
        );
        assert_eq!(
            written[3],
            json!({"role": "ROLE_ASSISTANT", "content": "It failed."})
        );
        assert_eq!(
            written[4]["blocks"][1],
            json!({"cache_point": {"ttl": "CACHE_TTL_1_HOUR"}})
        );
        assert_eq!(
            written[5]["blocks"][0],
            json!({"reasoning": {"text": "The user wants a retry.", "signature": "c2lnbmF0dXJl"}})
        );
        assert_eq!(
            written[5]["blocks"][1],
            json!({"reasoning": {"redacted": "AAEC/w=="}})
        );
        assert_eq!(parse(written).unwrap(), messages);
    }

    #[test]
    fn the_reader_takes_short_names_and_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cat.PNG"), b"\x89PNG\r\n\x1a\n").unwrap();
        std::fs::write(dir.path().join("my notes_v2.txt"), b"hello").unwrap();
        let file = dir.path().join("chat.json");
        std::fs::write(
            &file,
            json!({"messages": [
                {"role": "user", "blocks": [
                    {"image": {"path": "cat.PNG"}},
                    {"document": {"path": "my notes_v2.txt"}},
                    {"text": "hi"}
                ]},
                {"role": "Assistant", "blocks": [{"toolUse": {"toolUseId": "t1", "name": "f"}}]},
                {"role": "ROLE_USER", "blocks": [{"toolResult": {"toolUseId": "t1", "content": "done", "status": "success"}}]}
            ]})
            .to_string(),
        )
        .unwrap();
        let c = parse_conversation_file(file.to_str().unwrap()).unwrap();
        assert_eq!(format!("{c:?}").matches("turns: 3").count(), 1);
        let m = &c.messages;
        match &m[0].blocks[0].block {
            Some(Block::Image(i)) => {
                assert_eq!(i.format, pb::ImageFormat::Png as i32);
                assert_eq!(i.data.len(), 8);
            }
            other => panic!("{other:?}"),
        }
        match &m[0].blocks[1].block {
            Some(Block::Document(d)) => {
                assert_eq!(d.format, pb::DocumentFormat::Txt as i32);
                assert_eq!(d.name, "my notes-v2");
                assert_eq!(d.data, b"hello");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(m[1].role, pb::Role::Assistant as i32);
        match &m[1].blocks[0].block {
            Some(Block::ToolUse(t)) => assert_eq!((t.id.as_str(), t.input.is_none()), ("t1", true)),
            other => panic!("{other:?}"),
        }
        match &m[2].blocks[0].block {
            Some(Block::ToolResult(r)) => {
                assert_eq!(r.status, pb::ToolResultStatus::Success as i32);
                assert_eq!(
                    r.content[0].content,
                    Some(pb::tool_result_content::Content::Text("done".into()))
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mistakes_in_a_conversation_say_where() {
        let err = |v: Value| parse(v).unwrap_err();
        assert!(err(json!("hi")).starts_with("must hold a JSON array of turns"));
        assert_eq!(
            err(json!([{"content": "hi"}])),
            "[0]: has no `role` (user or assistant)"
        );
        assert_eq!(
            err(json!([{"role": "system", "content": "x"}])),
            "[0].role: unknown value `system` (expected one of user, assistant)"
        );
        assert_eq!(
            err(json!([{"role": "user", "contnet": "x"}])),
            "[0]: unknown key `contnet` (expected role, content, blocks)"
        );
        assert_eq!(
            err(json!([{"role": "user", "blocks": [{"text": "a", "image": {}}]}])),
            format!("[0].blocks[0]: must have exactly {BLOCK_KEYS}")
        );
        assert_eq!(
            err(json!([{"role": "user", "blocks": [{"video": {}}]}])),
            format!("[0].blocks[0]: unknown key `video` (expected {BLOCK_KEYS})")
        );
        assert_eq!(
            err(json!([{"role": "user", "blocks": [{"image": {"format": "bmp", "data": ""}}]}])),
            "[0].blocks[0].image.format: unknown image format `bmp` (png, jpeg, gif, webp)"
        );
        assert!(err(
            json!([{"role": "user", "blocks": [{"image": {"format": "png", "data": "!!"}}]}])
        )
        .starts_with("[0].blocks[0].image.data: not base64"));
        assert!(err(
            json!([{"role": "user", "blocks": [{"image": {"path": "/nonexistent.png"}}]}])
        )
        .starts_with("[0].blocks[0].image.path: cannot read `/nonexistent.png`"));
        assert_eq!(
            err(
                json!([{"role": "assistant", "blocks": [{"tool_use": {"id": "a", "name": "f", "input": [1]}}]}])
            ),
            "[0].blocks[0].tool_use.input: must be a JSON object"
        );
        assert_eq!(
            err(
                json!([{"role": "user", "blocks": [{"tool_result": {"tool_use_id": "a", "content": [{"json": 1}]}}]}])
            ),
            "[0].blocks[0].tool_result.content[0].json: must be a JSON object"
        );
        assert_eq!(
            err(json!({"messages": [], "system": "x"})),
            "the conversation: unknown key `system` (expected `messages`)"
        );
    }
}
