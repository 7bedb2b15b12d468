//! JSON Schema (the subset Cairn's prompts use) to a GBNF grammar, so that a local model
//! decoding under llama.cpp's grammar sampler can only write replies of the schema's shape:
//! a router can only name offered chunk IDs, an answer can only cite offered sentence IDs.
//!
//! Supported: objects (every listed property, in order; `required` is implied), arrays
//! (`items`, `minItems`, `maxItems`), strings (free, with `minLength`/`maxLength`, or
//! one of an `enum`; free strings are capped at [`MAX_STRING_CHARS`] characters so a
//! looping model ends), integers,
//! numbers and booleans. Anything else is an error, and the caller decodes without a
//! grammar (the reply is still validated afterwards). Pure Rust, so it is tested without
//! llama.cpp.

use std::fmt::Write as _;

use serde_json::Value;

/// Longest free string the grammar lets a model write.
pub const MAX_STRING_CHARS: usize = 600;

/// Why a schema could not be turned into a grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema not supported for grammar decoding: {0}")]
pub struct Unsupported(pub String);

/// The GBNF grammar (root rule `root`) of replies that match `schema`.
pub fn schema_to_gbnf(schema: &Value) -> Result<String, Unsupported> {
    let mut rules = Vec::new();
    let root = rule(schema, "root", &mut rules)?;
    let mut out = format!("root ::= {root}\n");
    for (name, body) in &rules {
        let _ = writeln!(out, "{name} ::= {body}");
    }
    out.push_str(&format!(
        "ws ::= [ \\t\\n]{{0,4}}\nstring ::= \"\\\"\" char{{0,{MAX_STRING_CHARS}}} \"\\\"\"\n\
         char ::= [^\"\\\\\\x00-\\x1f] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{{4}})\n\
         integer ::= \"-\"? ([0-9] | [1-9] [0-9]{{0,15}})\n\
         number ::= integer (\".\" [0-9]{{1,16}})? ([eE] [-+]? [0-9]{{1,3}})?\n\
         boolean ::= \"true\" | \"false\"\n"
    ));
    Ok(out)
}

/// The expression for `schema`; sub-rules it needs are pushed to `rules`.
fn rule(schema: &Value, name: &str, rules: &mut Vec<(String, String)>) -> Result<String, Unsupported> {
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        let literals: Vec<String> = options
            .iter()
            .map(|o| serde_json::to_string(o).map(|json| gbnf_literal(&json)))
            .collect::<Result<_, _>>()
            .map_err(|e| Unsupported(e.to_string()))?;
        if literals.is_empty() {
            return Err(Unsupported(format!("{name}: an empty enum")));
        }
        return Ok(format!("({})", literals.join(" | ")));
    }
    let kind = schema.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "string" => {
            let max = schema
                .get("maxLength")
                .and_then(Value::as_u64)
                .map_or(MAX_STRING_CHARS, |m| (m as usize).min(MAX_STRING_CHARS));
            let min = schema.get("minLength").and_then(Value::as_u64).map_or(0, |m| (m as usize).min(max));
            if (min, max) == (0, MAX_STRING_CHARS) {
                Ok("string".into())
            } else {
                Ok(format!("\"\\\"\" char{{{min},{max}}} \"\\\"\""))
            }
        }
        "integer" => Ok("integer".into()),
        "number" => Ok("number".into()),
        "boolean" => Ok("boolean".into()),
        "object" => {
            let props = schema
                .get("properties")
                .and_then(Value::as_object)
                .ok_or_else(|| Unsupported(format!("{name}: an object without properties")))?;
            let mut parts = vec!["\"{\" ws".to_owned()];
            for (i, (key, sub)) in props.iter().enumerate() {
                let child = format!("{name}-{}", sanitize(key));
                let expr = rule(sub, &child, rules)?;
                rules.push((child.clone(), expr));
                let comma = if i == 0 { "" } else { "\",\" ws " };
                let key_json = serde_json::to_string(key).map_err(|e| Unsupported(e.to_string()))?;
                parts.push(format!("{comma}{} ws \":\" ws {child} ws", gbnf_literal(&key_json)));
            }
            parts.push("\"}\"".into());
            Ok(parts.join(" "))
        }
        "array" => {
            let items = schema.get("items").ok_or_else(|| Unsupported(format!("{name}: an array without items")))?;
            let child = format!("{name}-item");
            let expr = rule(items, &child, rules)?;
            rules.push((child.clone(), expr));
            let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
            let max = schema.get("maxItems").and_then(Value::as_u64).map(|m| m as usize);
            if max.is_some_and(|m| m < min) {
                return Err(Unsupported(format!("{name}: maxItems < minItems")));
            }
            let more = format!("(\",\" ws {child} ws)");
            let tail = match (min, max) {
                (_, Some(0)) => return Ok("\"[\" ws \"]\"".into()),
                (0, None) | (1, None) => format!("{more}*"),
                (m, None) => format!("{more}{{{},}}", m - 1),
                (m, Some(x)) => format!("{more}{{{},{}}}", m.saturating_sub(1), x - 1),
            };
            let list = format!("{child} ws {tail}");
            Ok(if min == 0 { format!("\"[\" ws ({list})? \"]\"") } else { format!("\"[\" ws {list} \"]\"") })
        }
        other => Err(Unsupported(format!("{name}: type {other:?}"))),
    }
}

/// A GBNF string literal matching `text` exactly.
fn gbnf_literal(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A rule-name-safe form of a property name.
fn sanitize(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_answer_schema_becomes_a_grammar_with_enum_ids() {
        let schema = json!({
            "type": "object",
            "properties": {
                "answer": {"type": "string"},
                "claims": {"type": "array", "maxItems": 3, "items": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string"},
                        "cites": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "string", "enum": ["s1", "s2"]}}
                    }
                }}
            }
        });
        let g = schema_to_gbnf(&schema).unwrap();
        assert!(g.starts_with("root ::= \"{\" ws \"\\\"answer\\\"\""), "{g}");
        assert!(g.contains("root-claims-item-cites-item ::= (\"\\\"s1\\\"\" | \"\\\"s2\\\"\")"), "{g}");
        assert!(g.contains("{0,2}"), "maxItems 3 is one item and at most two more: {g}");
        assert!(
            g.contains("root-claims ::= \"[\" ws (root-claims-item ws (\",\" ws root-claims-item ws){0,2})? \"]\""),
            "{g}"
        );
    }

    #[test]
    fn a_minimum_length_is_kept() {
        let g = schema_to_gbnf(&json!({"type": "string", "minLength": 8})).unwrap();
        assert!(g.starts_with("root ::= \"\\\"\" char{8,600} \"\\\"\""), "{g}");
    }

    #[test]
    fn unsupported_shapes_are_refused_not_guessed() {
        assert!(schema_to_gbnf(&json!({"type": "object"})).is_err());
        assert!(schema_to_gbnf(&json!({"oneOf": []})).is_err());
        assert!(
            schema_to_gbnf(&json!({"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 1}))
                .is_err()
        );
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(gbnf_literal("\"a\\b\""), "\"\\\"a\\\\b\\\"\"");
    }
}
