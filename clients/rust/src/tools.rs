//! `--tools FILE`, `--tool-choice` and `--json-schema FILE`.
//!
//! The files are read and parsed while the command line is parsed, so a
//! file that is missing, is not JSON or has the wrong shape is a usage error
//! (exit code 2) naming the file and the place in it. Whether a tool's name
//! or schema is acceptable is the gateway's rule; it reports each broken
//! rule with its field (`tool_config.tools[1].name`).

use crate::pb;
use crate::request::json_object_to_struct;
use serde_json::Value;

/// The tools of `--tools FILE`.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolsArg(pub Vec<pb::Tool>);

/// `--tool-choice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoiceArg {
    /// The model decides whether to call a tool.
    Auto,
    /// The model must call a tool, of its choice.
    Any,
    /// The model must call this tool.
    Tool(String),
}

impl ToolChoiceArg {
    /// The ToolChoice message.
    pub fn to_pb(&self) -> pb::ToolChoice {
        let (mode, tool_name) = match self {
            ToolChoiceArg::Auto => (pb::ToolChoiceMode::Auto, String::new()),
            ToolChoiceArg::Any => (pb::ToolChoiceMode::Any, String::new()),
            ToolChoiceArg::Tool(name) => (pb::ToolChoiceMode::Tool, name.clone()),
        };
        pb::ToolChoice {
            mode: mode as i32,
            tool_name,
        }
    }
}

/// The JSON Schema of `--json-schema FILE`.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaArg(pub prost_types::Struct);

/// `auto`, `any` or `tool:NAME` (the keywords ignore case, the name does not).
pub fn parse_tool_choice(s: &str) -> Result<ToolChoiceArg, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(ToolChoiceArg::Auto);
    }
    if s.eq_ignore_ascii_case("any") {
        return Ok(ToolChoiceArg::Any);
    }
    if let Some((keyword, name)) = s.split_once(':') {
        if keyword.eq_ignore_ascii_case("tool") {
            if name.is_empty() {
                return Err("`tool:` needs the tool's name, e.g. tool:get_weather".to_owned());
            }
            return Ok(ToolChoiceArg::Tool(name.to_owned()));
        }
    }
    Err(format!(
        "`{s}` is not a tool choice: use auto, any or tool:NAME"
    ))
}

/// Reads a JSON file (or stdin for `-`), for the file flags.
pub fn read_json(path: &str) -> Result<Value, String> {
    let text = if path == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read `{path}`: {e}"))?
    };
    serde_json::from_str(&text).map_err(|e| format!("`{path}` is not JSON: {e}"))
}

/// The value parser of `--tools`.
pub fn parse_tools_file(path: &str) -> Result<ToolsArg, String> {
    let json = read_json(path)?;
    tools_from_json(json).map_err(|e| format!("`{path}`: {e}"))
}

/// Tools from the file's JSON: an array of tools, or an object holding one
/// as `tools` (Bedrock's toolConfig). Each tool is
/// `{"name": ..., "description": ..., "input_schema": {...}}`; `inputSchema`
/// may stand for `input_schema`, the schema may be wrapped as `{"json": {...}}`,
/// and the whole tool as `{"toolSpec": {...}}`, as Bedrock spells them.
pub fn tools_from_json(json: Value) -> Result<ToolsArg, String> {
    let (items, prefix) = match json {
        Value::Array(items) => (items, String::new()),
        Value::Object(mut map) if map.contains_key("tools") => {
            let tools = map.remove("tools").unwrap_or_default();
            if let Some(key) = map.keys().next() {
                return Err(format!(
                    "unknown key `{key}` beside `tools` (use --tool-choice for the choice)"
                ));
            }
            match tools {
                Value::Array(items) => (items, "tools".to_owned()),
                _ => return Err("`tools` must be an array of tools".to_owned()),
            }
        }
        _ => {
            return Err(
                r#"must hold a JSON array of tools: [{"name": ..., "description": ..., "input_schema": {...}}]"#
                    .to_owned(),
            )
        }
    };
    if items.is_empty() {
        return Err("holds no tools".to_owned());
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| tool_from_json(item).map_err(|e| format!("{prefix}[{i}]{e}")))
        .collect::<Result<_, _>>()
        .map(ToolsArg)
}

/// One tool; errors start with the place inside the tool (`.name: ...`) or
/// `: ` for the tool as a whole.
fn tool_from_json(item: Value) -> Result<pb::Tool, String> {
    let Value::Object(mut map) = item else {
        return Err(": must be a JSON object with name and input_schema".to_owned());
    };
    let mut at = String::new();
    if map.len() == 1 {
        if let Some(spec) = map.remove("toolSpec") {
            let Value::Object(spec) = spec else {
                return Err(".toolSpec: must be a JSON object".to_owned());
            };
            map = spec;
            at = ".toolSpec".to_owned();
        }
    }
    let name = match map.remove("name") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(format!("{at}.name: must be a string")),
        None => return Err(format!("{at}: has no `name`")),
    };
    let description = match map.remove("description") {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err(format!("{at}.description: must be a string")),
    };
    let (key, schema) = match (map.remove("input_schema"), map.remove("inputSchema")) {
        (Some(_), Some(_)) => {
            return Err(format!("{at}: has both `input_schema` and `inputSchema`"))
        }
        (Some(s), None) => ("input_schema", s),
        (None, Some(s)) => ("inputSchema", s),
        (None, None) => {
            return Err(format!(
                "{at}: has no `input_schema` (a JSON Schema object for the tool's input, \
                 e.g. {{\"type\": \"object\", \"properties\": {{}}}})"
            ))
        }
    };
    let schema = match schema {
        Value::Object(mut s) => match s.remove("json") {
            Some(Value::Object(inner)) if s.is_empty() => inner,
            Some(other) => {
                s.insert("json".to_owned(), other);
                s
            }
            None => s,
        },
        _ => return Err(format!("{at}.{key}: must be a JSON Schema object")),
    };
    if let Some(unknown) = map.keys().next() {
        return Err(format!(
            "{at}: unknown key `{unknown}` (a tool has name, description and input_schema)"
        ));
    }
    Ok(pb::Tool {
        name,
        description,
        input_schema: Some(json_object_to_struct(&schema)),
    })
}

/// The value parser of `--json-schema`: the file must hold a JSON object.
pub fn parse_schema_file(path: &str) -> Result<SchemaArg, String> {
    match read_json(path)? {
        Value::Object(map) => Ok(SchemaArg(json_object_to_struct(&map))),
        _ => Err(format!(
            "`{path}` must hold a JSON Schema object, e.g. {{\"type\": \"object\", \"properties\": {{...}}}}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema_type(t: &pb::Tool) -> Option<&prost_types::value::Kind> {
        t.input_schema.as_ref()?.fields.get("type")?.kind.as_ref()
    }

    #[test]
    fn tools_come_in_the_plain_and_bedrock_shapes() {
        let plain = json!([{
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
        }, {
            "toolSpec": {"name": "b", "inputSchema": {"json": {"type": "object"}}}
        }, {
            "name": "c", "inputSchema": {"type": "object"}
        }]);
        let ToolsArg(tools) = tools_from_json(plain).unwrap();
        assert_eq!(tools.len(), 3);
        assert_eq!(tools[0].name, "get_weather");
        assert_eq!(tools[0].description, "Weather for a city");
        assert_eq!(tools[1].name, "b");
        assert_eq!(tools[1].description, "");
        for t in &tools {
            assert_eq!(
                schema_type(t),
                Some(&prost_types::value::Kind::StringValue("object".into())),
                "{t:?}"
            );
        }
        let wrapped = json!({"tools": [{"toolSpec": {"name": "x", "inputSchema": {"json": {}}}}]});
        assert_eq!(tools_from_json(wrapped).unwrap().0[0].name, "x");
        // A schema that merely has a property called "json" is kept whole.
        let odd = json!([{"name": "x", "input_schema": {"type": "object", "json": 1}}]);
        let t = &tools_from_json(odd).unwrap().0[0];
        assert!(t.input_schema.as_ref().unwrap().fields.contains_key("json"));
    }

    #[test]
    fn malformed_tools_say_where() {
        let err = |v: Value| tools_from_json(v).unwrap_err();
        assert!(err(json!({"name": "x"})).starts_with("must hold a JSON array"));
        assert_eq!(err(json!([])), "holds no tools");
        assert!(err(json!([1])).starts_with("[0]: must be a JSON object"));
        assert_eq!(
            err(json!([{"name": "a", "input_schema": {}}, {"input_schema": {}}])),
            "[1]: has no `name`"
        );
        assert_eq!(
            err(json!([{"name": 3, "input_schema": {}}])),
            "[0].name: must be a string"
        );
        assert!(err(json!([{"name": "a"}])).starts_with("[0]: has no `input_schema`"));
        assert_eq!(
            err(json!([{"name": "a", "input_schema": "object"}])),
            "[0].input_schema: must be a JSON Schema object"
        );
        assert_eq!(
            err(json!([{"name": "a", "input_schema": {}, "input_shema": {}}])),
            "[0]: unknown key `input_shema` (a tool has name, description and input_schema)"
        );
        assert_eq!(
            err(json!([{"toolSpec": {"name": "a"}}]))
                .split(" (")
                .next()
                .unwrap(),
            "[0].toolSpec: has no `input_schema`"
        );
        assert!(err(json!({"tools": [], "toolChoice": {}})).contains("--tool-choice"));
        assert_eq!(
            err(json!({"tools": [{"name": "a", "input_schema": []}]})),
            "tools[0].input_schema: must be a JSON Schema object"
        );
    }

    #[test]
    fn tool_files_that_are_missing_or_not_json_are_named() {
        let err = parse_tools_file("/nonexistent/tools.json").unwrap_err();
        assert!(
            err.starts_with("cannot read `/nonexistent/tools.json`"),
            "{err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tools.json");
        std::fs::write(&path, "[{").unwrap();
        let p = path.to_str().unwrap();
        let err = parse_tools_file(p).unwrap_err();
        assert!(err.starts_with(&format!("`{p}` is not JSON")), "{err}");
        std::fs::write(&path, r#"[{"name": "a"}]"#).unwrap();
        let err = parse_tools_file(p).unwrap_err();
        assert!(
            err.starts_with(&format!("`{p}`: [0]: has no `input_schema`")),
            "{err}"
        );
        std::fs::write(&path, r#"{"type": "object"}"#).unwrap();
        assert!(parse_schema_file(p).is_ok());
        std::fs::write(&path, r#"["object"]"#).unwrap();
        assert!(parse_schema_file(p)
            .unwrap_err()
            .contains("JSON Schema object"));
    }

    #[test]
    fn tool_choices() {
        assert_eq!(parse_tool_choice("auto"), Ok(ToolChoiceArg::Auto));
        assert_eq!(parse_tool_choice("ANY"), Ok(ToolChoiceArg::Any));
        assert_eq!(
            parse_tool_choice("tool:get_weather"),
            Ok(ToolChoiceArg::Tool("get_weather".into()))
        );
        assert_eq!(
            parse_tool_choice("Tool:a:b"),
            Ok(ToolChoiceArg::Tool("a:b".into()))
        );
        assert!(parse_tool_choice("tool:").is_err());
        assert!(parse_tool_choice("get_weather").is_err());
        assert!(parse_tool_choice("none").is_err());
        let c = ToolChoiceArg::Tool("x".into()).to_pb();
        assert_eq!(
            (c.mode, c.tool_name.as_str()),
            (pb::ToolChoiceMode::Tool as i32, "x")
        );
        assert_eq!(
            ToolChoiceArg::Auto.to_pb().mode,
            pb::ToolChoiceMode::Auto as i32
        );
    }
}
