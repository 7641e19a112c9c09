//! A small JSON Schema reader, enough for the schemas schemars writes, to hold real
//! reports to the committed schemas.

/// The ways `value` breaks `schema` (a small JSON Schema reader: `$ref` into `$defs`,
/// `anyOf`/`oneOf`, `type`, `const`, `enum`, `properties`, `required`, `items`,
/// `additionalProperties`; an object's keys the schema does not name are errors too,
/// since the schemas must name every field the reports print).
pub fn violations(
    value: &serde_json::Value,
    schema: &serde_json::Value,
    root: &serde_json::Value,
    at: &str,
) -> Vec<String> {
    use serde_json::Value;
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/$defs/");
        return violations(value, &root["$defs"][name], root, at);
    }
    if schema == &Value::Bool(true) {
        return vec![];
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = schema[key].as_array() {
            if options
                .iter()
                .any(|o| violations(value, o, root, at).is_empty())
            {
                return vec![];
            }
            return vec![format!("{at}: {value} matches none of {key}")];
        }
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        return vec![format!("{at}: {value} is not {c}")];
    }
    if let Some(e) = schema["enum"].as_array()
        && !e.contains(value)
    {
        return vec![format!("{at}: {value} is not one of {e:?}")];
    }
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty()
        && !types
            .iter()
            .any(|t| *t == kind || (*t == "number" && kind == "integer"))
    {
        return vec![format!("{at}: a {kind}, the schema says {types:?}")];
    }
    let mut out = Vec::new();
    match value {
        Value::Object(map) => {
            let properties = schema["properties"].as_object();
            for (key, v) in map {
                match properties.and_then(|p| p.get(key)) {
                    Some(s) => out.extend(violations(v, s, root, &format!("{at}.{key}"))),
                    None => match schema.get("additionalProperties") {
                        Some(s) if s.is_object() => {
                            out.extend(violations(v, s, root, &format!("{at}.{key}")))
                        }
                        _ => out.push(format!("{at}.{key}: not in the schema")),
                    },
                }
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                if !map.contains_key(required.as_str().unwrap()) {
                    out.push(format!("{at}: {required} is required"));
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                out.extend(violations(v, &schema["items"], root, &format!("{at}[{i}]")));
            }
        }
        _ => {}
    }
    out
}
