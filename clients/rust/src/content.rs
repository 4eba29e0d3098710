//! Files sent as content blocks: `--image` and `--document`, their formats
//! (from the file extension) and document names, and `--tool-result`.
//!
//! Files are read while the command line is parsed, so a missing file or an
//! extension the client cannot name is a usage error (exit code 2) before
//! any connection is made. Sizes, counts and signatures are the gateway's
//! rules: it checks them and names the offending block.

use crate::pb;
use std::path::{Path, PathBuf};

/// The image extensions `--image` accepts, for help and error messages.
pub const IMAGE_EXTENSIONS: &str = "png, jpg, jpeg, gif, webp";

/// The document extensions `--document` accepts, for help and error messages.
pub const DOCUMENT_EXTENSIONS: &str = "pdf, csv, doc, docx, xls, xlsx, html, htm, txt, md";

/// The longest document name Bedrock takes.
pub const MAX_DOCUMENT_NAME_CHARS: usize = 200;

/// The name used when a file's stem has nothing usable left.
pub const FALLBACK_DOCUMENT_NAME: &str = "document";

/// The image format for a file extension (ignoring case), if it is one.
pub fn image_format(extension: &str) -> Option<pb::ImageFormat> {
    use pb::ImageFormat as F;
    Some(match extension.to_ascii_lowercase().as_str() {
        "png" => F::Png,
        "jpg" | "jpeg" => F::Jpeg,
        "gif" => F::Gif,
        "webp" => F::Webp,
        _ => return None,
    })
}

/// The document format for a file extension (ignoring case), if it is one.
pub fn document_format(extension: &str) -> Option<pb::DocumentFormat> {
    use pb::DocumentFormat as F;
    Some(match extension.to_ascii_lowercase().as_str() {
        "pdf" => F::Pdf,
        "csv" => F::Csv,
        "doc" => F::Doc,
        "docx" => F::Docx,
        "xls" => F::Xls,
        "xlsx" => F::Xlsx,
        "html" | "htm" => F::Html,
        "txt" => F::Txt,
        "md" => F::Md,
        _ => return None,
    })
}

/// A document name from a file stem, in Bedrock's alphabet: ASCII letters
/// and digits, single spaces, `-`, `(`, `)`, `[` and `]`. A run of
/// whitespace becomes one space (none at either end); a run of any other
/// characters (`_`, `.`, accented letters, ...) becomes one `-`. The result
/// is cut to 200 characters and is never empty ("document" if nothing is left).
pub fn document_name(stem: &str) -> String {
    let mut out = String::new();
    let mut space = false;
    let mut replaced = false;
    for c in stem.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            replaced = false;
            continue;
        }
        let keep = c.is_ascii_alphanumeric() || "-()[]".contains(c);
        if !keep && replaced {
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(if keep { c } else { '-' });
        replaced = !keep;
    }
    // Every character is ASCII now, so bytes are characters.
    out.truncate(MAX_DOCUMENT_NAME_CHARS);
    let out = out.trim_end();
    if out.is_empty() {
        FALLBACK_DOCUMENT_NAME.to_owned()
    } else {
        out.to_owned()
    }
}

/// Makes the names unique, as Bedrock wants: the second `notes` becomes
/// `notes (2)`, the third `notes (3)`, still within 200 characters.
pub fn unique_names(names: &mut [String]) {
    let mut seen = std::collections::HashSet::new();
    for name in names.iter_mut() {
        if seen.insert(name.clone()) {
            continue;
        }
        for n in 2.. {
            let suffix = format!(" ({n})");
            let mut base = name.clone();
            base.truncate(MAX_DOCUMENT_NAME_CHARS - suffix.len());
            let candidate = format!("{}{suffix}", base.trim_end());
            if seen.insert(candidate.clone()) {
                *name = candidate;
                break;
            }
        }
    }
}

/// What a file is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// An image block.
    Image(pb::ImageFormat),
    /// A document block.
    Document(pb::DocumentFormat),
}

/// One `--image PATH` or `--document PATH`, read when parsed. Its Debug
/// output shows the size, never the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct FileArg {
    /// The path as given.
    pub path: PathBuf,
    /// Image or document, and its format.
    pub kind: FileKind,
    /// The file's bytes.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for FileArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileArg")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("bytes", &self.data.len())
            .finish()
    }
}

impl FileArg {
    /// The document name of a document: its file stem, sanitised.
    pub fn stem_name(&self) -> String {
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        document_name(&stem)
    }
}

/// The file's extension, or a usage error naming the file and what is accepted.
fn extension<'a>(path: &'a Path, flag: &str, accepted: &str) -> Result<&'a str, String> {
    path.extension().and_then(|e| e.to_str()).ok_or_else(|| {
        format!(
            "`{}` has no file extension, which {flag} needs to tell the format; \
                 it accepts {accepted}",
            path.display()
        )
    })
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

/// The kind of a file from its extension for `flag` (`--image` or
/// `--document`), or a usage error naming the file and the accepted extensions.
pub fn file_kind(path: &Path, image: bool) -> Result<FileKind, String> {
    if image {
        let ext = extension(path, "--image", IMAGE_EXTENSIONS)?;
        image_format(ext).map(FileKind::Image).ok_or_else(|| {
            let hint = if document_format(ext).is_some() {
                " (send documents with --document)"
            } else {
                ""
            };
            format!(
                "`{}`: .{ext} is not an image extension --image knows; it accepts \
                 {IMAGE_EXTENSIONS}{hint}",
                path.display()
            )
        })
    } else {
        let ext = extension(path, "--document", DOCUMENT_EXTENSIONS)?;
        document_format(ext).map(FileKind::Document).ok_or_else(|| {
            let hint = if image_format(ext).is_some() {
                " (send images with --image)"
            } else {
                ""
            };
            format!(
                "`{}`: .{ext} is not a document extension --document knows; it accepts \
                 {DOCUMENT_EXTENSIONS}{hint}",
                path.display()
            )
        })
    }
}

/// The value parser of `--image`: format from the extension, then the bytes.
pub fn parse_image(s: &str) -> Result<FileArg, String> {
    let path = PathBuf::from(s);
    let kind = file_kind(&path, true)?;
    let data = read(&path)?;
    Ok(FileArg { path, kind, data })
}

/// The value parser of `--document`: format from the extension, then the bytes.
pub fn parse_document(s: &str) -> Result<FileArg, String> {
    let path = PathBuf::from(s);
    let kind = file_kind(&path, false)?;
    let data = read(&path)?;
    Ok(FileArg { path, kind, data })
}

/// The content blocks for the files, images first, then documents, each in
/// command-line order; document names are made unique.
pub fn file_blocks(images: &[FileArg], documents: &[FileArg]) -> Vec<pb::ContentBlock> {
    let mut names: Vec<String> = documents.iter().map(FileArg::stem_name).collect();
    unique_names(&mut names);
    let mut names = names.into_iter();
    images
        .iter()
        .chain(documents)
        .map(|f| {
            let block = match f.kind {
                FileKind::Image(format) => pb::content_block::Block::Image(pb::Image {
                    format: format as i32,
                    data: f.data.clone(),
                }),
                FileKind::Document(format) => pb::content_block::Block::Document(pb::Document {
                    format: format as i32,
                    name: names.next().unwrap_or_default(),
                    data: f.data.clone(),
                }),
            };
            pb::ContentBlock { block: Some(block) }
        })
        .collect()
}

/// One `--tool-result ID=VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResultArg {
    /// The `id` of the tool call answered.
    pub tool_use_id: String,
    /// The result: a JSON object, or text.
    pub content: ToolResultValue,
}

/// The value of a `--tool-result`.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolResultValue {
    /// A JSON object, sent as a `json` piece.
    Json(prost_types::Struct),
    /// Anything else, sent as a `text` piece exactly as given.
    Text(String),
}

/// `ID=VALUE`: the value is a `json` piece when it is a JSON object and a
/// `text` piece otherwise (so `21`, `"sunny"` and `sunny, 21 C` are text).
pub fn parse_tool_result(s: &str) -> Result<ToolResultArg, String> {
    let (id, value) = s.split_once('=').ok_or_else(|| {
        format!("`{s}` is not ID=VALUE (ID is the tool call's id, VALUE a JSON object or text)")
    })?;
    if id.is_empty() {
        return Err(format!("`{s}` has an empty tool call id"));
    }
    let content = match serde_json::from_str::<serde_json::Value>(value) {
        Ok(serde_json::Value::Object(map)) => {
            ToolResultValue::Json(crate::request::json_object_to_struct(&map))
        }
        _ => ToolResultValue::Text(value.to_owned()),
    };
    Ok(ToolResultArg {
        tool_use_id: id.to_owned(),
        content,
    })
}

/// The tool_result blocks of `--tool-result` values, in order.
pub fn tool_result_blocks(results: &[ToolResultArg]) -> Vec<pb::ContentBlock> {
    results
        .iter()
        .map(|r| {
            let piece = match &r.content {
                ToolResultValue::Json(s) => pb::tool_result_content::Content::Json(s.clone()),
                ToolResultValue::Text(t) => pb::tool_result_content::Content::Text(t.clone()),
            };
            pb::ContentBlock {
                block: Some(pb::content_block::Block::ToolResult(pb::ToolResult {
                    tool_use_id: r.tool_use_id.clone(),
                    content: vec![pb::ToolResultContent {
                        content: Some(piece),
                    }],
                    // Unspecified: Bedrock takes a status from Claude models only.
                    status: pb::ToolResultStatus::Unspecified as i32,
                })),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_name_formats_ignoring_case() {
        use pb::{DocumentFormat as D, ImageFormat as I};
        for (ext, f) in [
            ("png", I::Png),
            ("PNG", I::Png),
            ("jpg", I::Jpeg),
            ("JPEG", I::Jpeg),
            ("gif", I::Gif),
            ("webp", I::Webp),
        ] {
            assert_eq!(image_format(ext), Some(f), "{ext}");
        }
        for (ext, f) in [
            ("pdf", D::Pdf),
            ("csv", D::Csv),
            ("doc", D::Doc),
            ("docx", D::Docx),
            ("xls", D::Xls),
            ("xlsx", D::Xlsx),
            ("html", D::Html),
            ("HTM", D::Html),
            ("txt", D::Txt),
            ("md", D::Md),
        ] {
            assert_eq!(document_format(ext), Some(f), "{ext}");
        }
        for ext in ["bmp", "tiff", "svg", "", "pdf "] {
            assert_eq!(image_format(ext), None, "{ext}");
        }
        for ext in ["png", "rtf", "json", "markdown"] {
            assert_eq!(document_format(ext), None, "{ext}");
        }
    }

    #[test]
    fn unknown_extensions_name_the_file_and_the_choices() {
        let err = file_kind(Path::new("scan.bmp"), true).unwrap_err();
        assert!(
            err.contains("scan.bmp") && err.contains(IMAGE_EXTENSIONS),
            "{err}"
        );
        let err = file_kind(Path::new("a/report.pdf"), true).unwrap_err();
        assert!(err.contains("--document"), "{err}");
        let err = file_kind(Path::new("notes.rtf"), false).unwrap_err();
        assert!(
            err.contains("notes.rtf") && err.contains(DOCUMENT_EXTENSIONS),
            "{err}"
        );
        let err = file_kind(Path::new("photo.JPG"), false).unwrap_err();
        assert!(err.contains("--image"), "{err}");
        let err = file_kind(Path::new("README"), false).unwrap_err();
        assert!(
            err.contains("README") && err.contains("no file extension"),
            "{err}"
        );
        assert_eq!(
            file_kind(Path::new("x.tar.md"), false),
            Ok(FileKind::Document(pb::DocumentFormat::Md))
        );
        let err = parse_image("/nonexistent/dir/cat.png").unwrap_err();
        assert!(
            err.starts_with("cannot read `/nonexistent/dir/cat.png`"),
            "{err}"
        );
    }

    #[test]
    fn document_names_keep_to_bedrocks_alphabet() {
        for (stem, name) in [
            ("Q3 report (final) [v2]", "Q3 report (final) [v2]"),
            ("  two   spaces\tand tab ", "two spaces and tab"),
            ("my_report.v2", "my-report-v2"),
            ("a__b", "a-b"),
            ("Résumé 2024", "R-sum- 2024"),
            ("a - b", "a - b"),
            ("a_ _b", "a- -b"),
            ("--x--", "--x--"),
            ("数据", "-"),
            ("", "document"),
            ("   ", "document"),
        ] {
            assert_eq!(document_name(stem), name, "{stem:?}");
        }
        let long = document_name(&"a ".repeat(150));
        assert!(long.len() <= 200 && !long.ends_with(' '), "{long:?}");
        let valid = |n: &str| {
            !n.is_empty()
                && n.len() <= 200
                && !n.contains("  ")
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || " -()[]".contains(c))
        };
        for stem in ["x\u{0}y", "ünïcödé", "a\n\nb", "\u{200b}", &"é".repeat(300)] {
            let n = document_name(stem);
            assert!(valid(&n), "{stem:?} -> {n:?}");
        }
    }

    #[test]
    fn repeated_names_are_numbered() {
        let mut names = vec![
            "notes".to_owned(),
            "notes".to_owned(),
            "a".to_owned(),
            "notes".to_owned(),
        ];
        unique_names(&mut names);
        assert_eq!(names, ["notes", "notes (2)", "a", "notes (3)"]);
        let mut long = vec!["x".repeat(200), "x".repeat(200)];
        unique_names(&mut long);
        assert_eq!(long[1].len(), 200);
        assert!(long[1].ends_with("x (2)"), "{}", long[1]);
    }

    #[test]
    fn tool_results_are_json_objects_or_text() {
        let r = parse_tool_result(r#"tooluse_1={"temp": 21}"#).unwrap();
        assert_eq!(r.tool_use_id, "tooluse_1");
        match r.content {
            ToolResultValue::Json(s) => assert!(s.fields.contains_key("temp")),
            other => panic!("{other:?}"),
        }
        for text in ["21", "\"sunny\"", "sunny, 21 C", "[1,2]", "a=b", ""] {
            let r = parse_tool_result(&format!("id={text}")).unwrap();
            assert_eq!(r.content, ToolResultValue::Text(text.to_owned()));
        }
        assert!(parse_tool_result("no-equals").is_err());
        assert!(parse_tool_result("={}").is_err());
    }

    #[test]
    fn file_debug_output_hides_the_bytes() {
        let f = FileArg {
            path: "cat.png".into(),
            kind: FileKind::Image(pb::ImageFormat::Png),
            data: vec![137, 80, 78, 71],
        };
        let shown = format!("{f:?}");
        assert!(
            shown.contains("bytes: 4") && !shown.contains("137"),
            "{shown}"
        );
    }
}
