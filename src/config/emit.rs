//! Writing resources back out as YAML or HCL resource files that load to the same model.
//!
//! Used to check that both formats mean the same thing, and by anything that writes config for
//! people to commit.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::hcl::{LIST_BLOCKS, MAP_BLOCKS, resource_blocks};
use crate::model::Resources;

/// Errors writing a resource file.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EmitError {
    /// The YAML serializer failed.
    #[error("cannot write YAML: {0}")]
    Yaml(String),
    /// The model could not be turned into JSON.
    #[error("cannot serialise resources: {0}")]
    Json(#[from] serde_json::Error),
}

/// A YAML resource file (`resources:` → kind → key) holding `resources`.
pub fn to_yaml(resources: &Resources) -> Result<String, EmitError> {
    let document = serde_json::json!({ "resources": resources });
    serde_saphyr::to_string(&document).map_err(|e| EmitError::Yaml(e.to_string()))
}

/// An HCL resource file holding `resources`: one labelled block per resource, repeated blocks
/// for list fields, `secret "key" {}` blocks for secrets.
pub fn to_hcl(resources: &Resources) -> Result<String, EmitError> {
    let json = serde_json::to_value(resources)?;
    let mut out = String::new();
    for (block, kind) in resource_blocks() {
        let Some(Value::Object(items)) = json.get(kind) else {
            continue;
        };
        for (key, body) in items {
            let _ = writeln!(out, "{block} {} {{", quote(key));
            if let Value::Object(fields) = body {
                write_body(&mut out, fields, 1);
            }
            out.push_str("}\n\n");
        }
    }
    Ok(out)
}

fn write_body(out: &mut String, fields: &Map<String, Value>, depth: usize) {
    let indent = "  ".repeat(depth);
    for (name, value) in fields {
        let list_block = LIST_BLOCKS.iter().find(|(_, f)| f == name).map(|(b, _)| *b);
        let map_block = MAP_BLOCKS.iter().find(|(_, f)| f == name).map(|(b, _)| *b);
        match (value, list_block, map_block) {
            (Value::Array(items), Some(block), _)
                if !items.is_empty() && items.iter().all(|i| block_body(i).is_some()) =>
            {
                for item in items {
                    let _ = writeln!(out, "{indent}{block} {{");
                    if let Some(body) = block_body(item) {
                        write_body(out, body, depth + 1);
                    }
                    let _ = writeln!(out, "{indent}}}");
                }
            }
            (Value::Object(entries), _, Some(block))
                if entries.values().all(|v| block_body(v).is_some()) =>
            {
                for (label, item) in entries {
                    let _ = writeln!(out, "{indent}{block} {} {{", quote(label));
                    if let Some(body) = block_body(item) {
                        write_body(out, body, depth + 1);
                    }
                    let _ = writeln!(out, "{indent}}}");
                }
            }
            (Value::Object(entries), None, None)
                if block_body(value).is_some() && !is_ident_clash(name) =>
            {
                let _ = writeln!(out, "{indent}{name} {{");
                write_body(out, entries, depth + 1);
                let _ = writeln!(out, "{indent}}}");
            }
            _ => {
                let _ = writeln!(
                    out,
                    "{indent}{} = {}",
                    attribute_name(name),
                    expression(value, depth)
                );
            }
        }
    }
}

/// Block names that are also list or map blocks' singular names would be misread on load.
fn is_ident_clash(name: &str) -> bool {
    LIST_BLOCKS.iter().any(|(b, _)| *b == name) || MAP_BLOCKS.iter().any(|(b, _)| *b == name)
}

/// The object as a block body, if every key can be an attribute name.
fn block_body(value: &Value) -> Option<&Map<String, Value>> {
    match value {
        Value::Object(map)
            if map.keys().all(|k| {
                is_identifier(k) && !is_ident_clash(k)
                    || LIST_BLOCKS.iter().any(|(_, f)| f == k)
                    || MAP_BLOCKS.iter().any(|(_, f)| f == k)
            }) =>
        {
            Some(map)
        }
        _ => None,
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !matches!(s, "true" | "false" | "null" | "for" | "in" | "if")
}

fn attribute_name(name: &str) -> String {
    if is_identifier(name) {
        name.to_string()
    } else {
        quote(name)
    }
}

fn expression(value: &Value, depth: usize) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(|i| expression(i, depth + 1)).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            if map.is_empty() {
                return "{}".into();
            }
            let indent = "  ".repeat(depth + 1);
            let mut out = String::from("{\n");
            for (k, v) in map {
                let key = if is_identifier(k) {
                    k.clone()
                } else {
                    quote(k)
                };
                let _ = writeln!(out, "{indent}{key} = {}", expression(v, depth + 1));
            }
            let _ = write!(out, "{}}}", "  ".repeat(depth));
            out
        }
    }
}

/// An HCL quoted string. `${` stays an interpolation (tandem's references), `$${` stays an
/// escape, and `%{` is escaped since tandem has no template directives.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '%' if chars.peek() == Some(&'{') => out.push_str("%%"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
