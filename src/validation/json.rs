//! google.protobuf.Struct and Value into JSON, refusing what JSON cannot
//! hold (NaN, infinities) and nesting deeper than [`MAX_STRUCT_DEPTH`].

use crate::error::FieldViolation;

/// How deep a Struct may nest.
pub const MAX_STRUCT_DEPTH: usize = 32;

/// `s` as a JSON object; each violation names its path under `path`.
pub(super) fn struct_to_json(
    s: prost_types::Struct,
    path: &str,
    depth: usize,
    v: &mut Vec<FieldViolation>,
) -> serde_json::Value {
    let mut map = serde_json::Map::with_capacity(s.fields.len());
    for (key, value) in s.fields {
        let field = format!("{path}.{key}");
        let json = value_to_json(value, &field, depth, v);
        map.insert(key, json);
    }
    serde_json::Value::Object(map)
}

fn value_to_json(
    value: prost_types::Value,
    path: &str,
    depth: usize,
    v: &mut Vec<FieldViolation>,
) -> serde_json::Value {
    use prost_types::value::Kind;
    use serde_json::Value as J;
    if depth > MAX_STRUCT_DEPTH {
        v.push(FieldViolation::new(
            path,
            format!("must nest at most {MAX_STRUCT_DEPTH} levels deep, got deeper"),
        ));
        return J::Null;
    }
    match value.kind {
        None | Some(Kind::NullValue(_)) => J::Null,
        Some(Kind::BoolValue(b)) => J::Bool(b),
        Some(Kind::StringValue(s)) => J::String(s),
        // Struct numbers are all doubles; whole ones go on as JSON integers,
        // since model fields such as `top_k` are integers.
        Some(Kind::NumberValue(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
            J::Number(serde_json::Number::from(n as i64))
        }
        Some(Kind::NumberValue(n)) => match serde_json::Number::from_f64(n) {
            Some(n) => J::Number(n),
            None => {
                v.push(FieldViolation::new(
                    path,
                    format!("must be a finite number, got {n}"),
                ));
                J::Null
            }
        },
        Some(Kind::StructValue(s)) => struct_to_json(s, path, depth + 1, v),
        Some(Kind::ListValue(list)) => J::Array(
            list.values
                .into_iter()
                .enumerate()
                .map(|(i, item)| value_to_json(item, &format!("{path}[{i}]"), depth + 1, v))
                .collect(),
        ),
    }
}
