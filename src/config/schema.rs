//! The JSON Schemas in `schemas/`, compiled once, and their errors turned into [`Problem`]s that
//! point at the offending key or value and say what to do.

use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::paths::LocationSegment;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use super::diagnostic::{Problem, did_you_mean};
use super::node::{Node, NodeValue, PathSegment, Span, display_path};
use crate::model::Kind;

/// Which schema a document is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    /// One resource of a kind.
    Resource(Kind),
    /// An environment file.
    Environment,
}

struct Compiled {
    source: Value,
    validator: Validator,
}

fn source_text(kind: SchemaKind) -> &'static str {
    match kind {
        SchemaKind::Resource(kind) => kind.spec().schema,
        SchemaKind::Environment => include_str!("../../schemas/environment.schema.json"),
    }
}

fn compiled(kind: SchemaKind) -> &'static Compiled {
    static CELLS: [OnceLock<Compiled>; Kind::ALL.len() + 1] =
        [const { OnceLock::new() }; Kind::ALL.len() + 1];
    let index = match kind {
        SchemaKind::Resource(kind) => Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0),
        SchemaKind::Environment => Kind::ALL.len(),
    };
    CELLS[index].get_or_init(|| {
        // The schemas are part of the binary and covered by tests; a broken one is a build defect.
        let source: Value =
            serde_json::from_str(source_text(kind)).expect("bundled schema is valid JSON");
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&source)
            .expect("bundled schema compiles");
        Compiled { source, validator }
    })
}

/// The bundled schema text for `kind` (for `tandem schema` and tests).
pub fn schema_source(kind: SchemaKind) -> &'static Value {
    &compiled(kind).source
}

/// Checks `instance` (the JSON of `node`) against the schema and returns one problem per error.
/// `what` names the document in messages (`job \`etl\``).
/// `root_span` is where problems with the document as a whole point (a resource's key).
pub fn check(
    kind: SchemaKind,
    node: &Node,
    instance: &Value,
    what: &str,
    root_span: Span,
) -> Vec<Problem> {
    let compiled = compiled(kind);
    if compiled.validator.is_valid(instance) {
        return Vec::new();
    }
    let mut problems = Vec::new();
    for error in compiled.validator.iter_errors(instance) {
        translate(
            &compiled.source,
            node,
            &error,
            what,
            root_span,
            &mut problems,
        );
    }
    problems
}

fn instance_path(error: &ValidationError) -> Vec<PathSegment> {
    error
        .instance_path()
        .iter()
        .map(|segment| match segment {
            LocationSegment::Property(p) => PathSegment::Key(p.into_owned()),
            LocationSegment::Index(i) => PathSegment::Index(i),
        })
        .collect()
}

fn field_name(path: &[PathSegment], what: &str) -> String {
    if path.is_empty() {
        what.to_string()
    } else {
        format!("`{}`", display_path(path))
    }
}

fn translate(
    schema: &Value,
    node: &Node,
    error: &ValidationError,
    what: &str,
    root_span: Span,
    out: &mut Vec<Problem>,
) {
    let path = instance_path(error);
    let (target, key) = node.locate(&path);
    let value_span = target.span;
    let key_span = match key {
        Some(k) => k.span,
        None if path.is_empty() => root_span,
        None => value_span,
    };
    // Values under `secrets` are never quoted back, whatever is wrong with them.
    let sensitive = path.first() == Some(&PathSegment::Key("secrets".into()));
    let field = field_name(&path, what);
    let problem = match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            let allowed = allowed_properties(schema, &path);
            for name in unexpected {
                let mut child = path.clone();
                child.push(PathSegment::Key(name.clone()));
                let (_, key) = node.locate(&child);
                let span = key.map(|k| k.span).unwrap_or(value_span);
                let place = if path.is_empty() {
                    what.to_string()
                } else {
                    format!("`{}`", display_path(&path))
                };
                let mut problem = Problem::new(
                    span,
                    format!("unknown field `{name}` in {place}"),
                    "unknown field",
                );
                problem = match did_you_mean(name, allowed.iter().map(String::as_str)) {
                    Some(s) => problem.help(format!("did you mean `{s}`?")),
                    None if !allowed.is_empty() && allowed.len() <= 12 => {
                        problem.help(format!("allowed fields: {}", allowed.join(", ")))
                    }
                    None => problem.help("remove it, or check the field name against the Databricks API reference (docs/config.md)"),
                };
                out.push(problem);
            }
            return;
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            Problem::new(
                key_span,
                format!("missing required field `{name}` in {field}"),
                format!("`{name}` missing here"),
            )
            .help(format!("add `{name}`"))
        }
        ValidationErrorKind::Type { kind } => {
            let expected = type_words(&format!("{kind:?}"));
            let described = subschema(schema, &path)
                .and_then(|s| s.get("description"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let expected = if expected == "a list" && described.contains("email addresses") {
                "a list of e-mail addresses".to_string()
            } else {
                expected
            };
            // One value where a list belongs: show it as the one-item list it should be.
            let one_item = match error.instance().as_ref() {
                Value::String(s) if !sensitive => Some(s.to_string()),
                Value::Number(n) if !sensitive => Some(n.to_string()),
                _ => None,
            }
            .filter(|_| expected.starts_with("a list"));
            Problem::new(
                value_span,
                format!(
                    "{field} must be {expected}, found {}",
                    describe(error.instance(), sensitive)
                ),
                format!("expected {expected}"),
            )
            .help(match one_item {
                Some(item) => format!(
                    "write a list, e.g. `[{item}]`: `[a, b]` or `- item` lines (YAML), `[ ... ]` (HCL)"
                ),
                None => type_help(&expected),
            })
        }
        ValidationErrorKind::Enum { options } => {
            let options: Vec<String> = options
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|o| {
                            o.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| o.to_string())
                        })
                        .collect()
                })
                .unwrap_or_default();
            let found = error
                .instance()
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| error.instance().to_string());
            let mut problem = Problem::new(
                value_span,
                format!("invalid value `{found}` for {field}"),
                "not an allowed value",
            );
            problem = match did_you_mean(&found, options.iter().map(String::as_str)) {
                Some(s) if options.len() > 1 => problem.help(format!(
                    "did you mean `{s}`? allowed: {}",
                    options.join(", ")
                )),
                _ => problem.help(format!("allowed values: {}", options.join(", "))),
            };
            problem
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // Our schemas use anyOf only as "<typed value> or a ${...} reference": report the
            // typed branch, saying that a reference would also do.
            if let Some(first) = context.first()
                && !first.is_empty()
            {
                let before = out.len();
                for inner in first {
                    translate(schema, node, inner, what, root_span, out);
                }
                for problem in &mut out[before..] {
                    if problem.message.contains(" must be ")
                        && !problem.message.contains("reference")
                    {
                        let help = problem.help.take().unwrap_or_default();
                        problem.help = Some(
                            format!("{help}; a ${{...}} reference is also accepted")
                                .trim_start_matches("; ")
                                .to_string(),
                        );
                    }
                }
                return;
            }
            Problem::new(
                value_span,
                format!("{field} has an invalid value"),
                "invalid",
            )
        }
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit } => Problem::new(
            value_span,
            format!(
                "{field} must be at least {limit}, found {}",
                error.instance()
            ),
            "too small",
        )
        .help(format!("use a value of {limit} or more")),
        ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => Problem::new(
            value_span,
            format!(
                "{field} must be at most {limit}, found {}",
                error.instance()
            ),
            "too large",
        )
        .help(format!("use a value of {limit} or less")),
        ValidationErrorKind::MaxProperties { limit } => Problem::new(
            key_span,
            format!(
                "{field} has {} entries; at most {limit} are allowed",
                count(target)
            ),
            "too many entries",
        )
        .help(format!("remove entries until there are {limit} or fewer")),
        ValidationErrorKind::MinProperties { limit } => Problem::new(
            key_span,
            format!(
                "{field} needs at least {limit} entr{}",
                if *limit == 1 { "y" } else { "ies" }
            ),
            "too few entries",
        )
        .help("add the missing entries"),
        ValidationErrorKind::MaxItems { limit } => Problem::new(
            key_span,
            format!(
                "{field} has {} items; at most {limit} are allowed",
                count(target)
            ),
            "too many items",
        )
        .help(format!("keep {limit} or fewer")),
        ValidationErrorKind::MinItems { limit } => Problem::new(
            key_span,
            format!(
                "{field} needs at least {limit} item{}",
                if *limit == 1 { "" } else { "s" }
            ),
            "too few items",
        )
        .help("add the missing items"),
        ValidationErrorKind::MaxLength { limit } => Problem::new(
            value_span,
            format!("{field} is longer than {limit} characters"),
            "too long",
        )
        .help(format!("shorten it to {limit} characters or fewer")),
        ValidationErrorKind::MinLength { limit } => Problem::new(
            value_span,
            format!(
                "{field} must have at least {limit} character{}",
                if *limit == 1 { "" } else { "s" }
            ),
            "too short",
        )
        .help("give it a value"),
        ValidationErrorKind::Pattern { pattern } => Problem::new(
            value_span,
            format!(
                "{field} has an invalid format: {}",
                if sensitive {
                    "(hidden)".to_string()
                } else {
                    error.instance().to_string()
                }
            ),
            "invalid format",
        )
        .help(format!("it must match the pattern {pattern}")),
        ValidationErrorKind::PropertyNames { error: inner } => {
            // The offending name is the key itself.
            let name = inner.instance().as_str().unwrap_or_default().to_string();
            let mut child = path.clone();
            child.push(PathSegment::Key(name.clone()));
            let (_, key) = node.locate(&child);
            let span = key.map(|k| k.span).unwrap_or(value_span);
            Problem::new(
                span,
                format!("invalid name `{name}` in {field}"),
                "invalid name",
            )
            .help(format!(
                "names here must match {}",
                property_names_pattern(schema, &path).unwrap_or_else(|| "the schema".into())
            ))
        }
        _ => Problem::new(value_span, format!("{field}: {error}"), "invalid")
            .help("see docs/config.md"),
    };
    out.push(problem);
}

/// Whether the field at `path` takes any string (so substituting one string for another cannot
/// make it invalid).
pub fn accepts_any_string(kind: SchemaKind, path: &[PathSegment]) -> bool {
    let root = &compiled(kind).source;
    let Some(schema) = subschema_typed(root, path) else {
        return true; // unknown fields were reported already
    };
    let string_typed = match schema.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
        _ => true,
    };
    let constraining = [
        "enum",
        "const",
        "pattern",
        "format",
        "minLength",
        "maxLength",
    ];
    string_typed && !constraining.iter().any(|k| schema.get(k).is_some())
}

/// Like [`subschema`], but at the leaf picks the typed branch of `anyOf`, not the reference one.
fn subschema_typed<'a>(root: &'a Value, path: &[PathSegment]) -> Option<&'a Value> {
    let leaf = subschema(root, path)?;
    if let Some(branches) = leaf.get("anyOf").and_then(Value::as_array)
        && let Some(first) = branches.first()
    {
        return resolve(root, first);
    }
    Some(leaf)
}

fn count(node: &Node) -> usize {
    match &node.value {
        NodeValue::Map(entries) => entries.len(),
        NodeValue::Seq(items) => items.len(),
        _ => 0,
    }
}

fn describe(value: &Value, sensitive: bool) -> String {
    match value {
        _ if sensitive => match value {
            Value::Object(_) => "a mapping".into(),
            Value::Array(_) => "a list".into(),
            _ => "a literal value (hidden)".into(),
        },
        Value::String(s) if s.chars().count() <= 40 => format!("string \"{s}\""),
        Value::String(_) => "a string".into(),
        Value::Number(n) if n.is_i64() || n.is_u64() => format!("integer {n}"),
        Value::Number(n) => format!("number {n}"),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Null => "null".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

fn type_words(debug: &str) -> String {
    // TypeKind's Debug looks like `Single(Integer)` or `Multiple(...)`.
    let lower = debug.to_lowercase();
    let mut words = Vec::new();
    for (needle, word) in [
        ("integer", "an integer"),
        ("number", "a number"),
        ("string", "a string"),
        ("boolean", "a boolean"),
        ("object", "a mapping"),
        ("array", "a list"),
        ("null", "null"),
    ] {
        if lower.contains(needle) {
            words.push(word);
        }
    }
    if words.is_empty() {
        debug.to_string()
    } else {
        words.join(" or ")
    }
}

fn type_help(expected: &str) -> String {
    match expected {
        "a mapping" => {
            "write `key: value` entries (YAML) or a block / `{ ... }` object (HCL)".into()
        }
        "a list" => {
            "write a list: `- item` lines or `[a, b]` (YAML), `[ ... ]` or repeated blocks (HCL)"
                .into()
        }
        "a string" => "quote the value".into(),
        "an integer" => "write a whole number without quotes".into(),
        "a boolean" => "write true or false without quotes".into(),
        _ => format!("use {expected}"),
    }
}

/// Follows `path` through the schema (properties, items, additionalProperties, internal $ref,
/// the typed branch of anyOf) to the subschema describing that instance location.
fn subschema<'a>(root: &'a Value, path: &[PathSegment]) -> Option<&'a Value> {
    let mut current = resolve(root, root)?;
    for segment in path {
        current = object_branch(root, current);
        current = match segment {
            PathSegment::Key(k) => {
                current
                    .get("properties")
                    .and_then(|p| p.get(k))
                    .or_else(|| {
                        current
                            .get("additionalProperties")
                            .filter(|v| v.is_object())
                    })?
            }
            PathSegment::Index(_) => current.get("items")?,
        };
        current = resolve(root, current)?;
    }
    Some(object_branch(root, current))
}

fn resolve<'a>(root: &'a Value, mut schema: &'a Value) -> Option<&'a Value> {
    for _ in 0..16 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => schema = root.pointer(reference.strip_prefix('#')?)?,
            None => return Some(schema),
        }
    }
    None
}

fn object_branch<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    for combinator in ["anyOf", "oneOf", "allOf"] {
        if let Some(branches) = schema.get(combinator).and_then(Value::as_array) {
            for branch in branches {
                if let Some(branch) = resolve(root, branch)
                    && (branch.get("properties").is_some() || branch.get("items").is_some())
                {
                    return branch;
                }
            }
        }
    }
    schema
}

fn allowed_properties(root: &Value, path: &[PathSegment]) -> Vec<String> {
    subschema(root, path)
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

fn property_names_pattern(root: &Value, path: &[PathSegment]) -> Option<String> {
    subschema(root, path)?
        .get("propertyNames")?
        .get("pattern")?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_which_fields_take_any_string() {
        let jobs = SchemaKind::Resource(Kind::Jobs);
        assert!(!accepts_any_string(
            jobs,
            &[PathSegment::Key("max_concurrent_runs".into())]
        ));
        assert!(accepts_any_string(jobs, &[PathSegment::Key("name".into())]));
        let pause = [
            PathSegment::Key("schedule".into()),
            PathSegment::Key("pause_status".into()),
        ];
        assert!(!accepts_any_string(jobs, &pause));
    }
}
