//! HCL resource files into the same spanned [`Node`] shape a YAML resource file has.
//!
//! `job "k" { ... }` becomes `resources.jobs.k`; repeated blocks with singular names become the
//! API's plural lists (always lists, even when written once); template strings keep their `${...}`
//! text so one reference resolver serves both formats.

use std::collections::HashMap;

use hcl::edit::Span as _;
use hcl::edit::expr::{Expression, ObjectKey, TraversalOperator};
use hcl::edit::structure::{Block, BlockLabel, Body, Structure};
use hcl::edit::template::Element;

use super::diagnostic::{Problem, did_you_mean};
use super::node::{FileId, Key, Node, NodeValue, Span};
use super::source::SourceFile;
use crate::model::Kind;

/// Top-level block names and the resource kind each declares (`job` declares `jobs`).
pub fn resource_blocks() -> impl Iterator<Item = (&'static str, &'static str)> {
    Kind::reading_order().map(|kind| (kind.spec().hcl_block, kind.as_str()))
}

/// `a, b and c`.
fn in_words(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Repeatable blocks and the list field they build.
pub const LIST_BLOCKS: &[(&str, &str)] = &[
    ("task", "tasks"),
    ("job_cluster", "job_clusters"),
    ("library", "libraries"),
    ("depends_on", "depends_on"),
    ("permission", "permissions"),
    ("acl", "acls"),
    ("environment", "environments"),
    ("parameter", "parameters"),
    ("init_script", "init_scripts"),
    ("rule", "rules"),
];

/// Labelled blocks and the map field they build (`secret "k" {}` → `secrets.k`).
pub const MAP_BLOCKS: &[(&str, &str)] = &[("secret", "secrets")];

/// Roots a bare (unquoted) traversal may start from.
const REFERENCE_ROOTS: &[&str] = &["resources", "var", "workspace"];

/// Parses one HCL resource file into `{resources: {<kind>: {<key>: ...}}}`.
pub fn parse(file_id: FileId, file: &SourceFile) -> Result<Node, Vec<Problem>> {
    let text: &str = &file.text;
    let body = hcl::edit::parser::parse_body(text).map_err(|e| {
        let location = e.location();
        // An unclosed block is reported past the last line; point at the file's last character.
        let end = text.trim_end().len().saturating_sub(1);
        let offset = file.offset_of(location.line(), location.column()).min(end);
        let message = e.message().replace("found redefined attribute", "found an attribute set twice");
        vec![
            Problem::new(
                Span::new(file_id, offset, 1),
                format!("HCL syntax error: {message}"),
                "here",
            )
            .help("check braces, quotes and the `name = value` / `block \"label\" { }` forms near this position"),
        ]
    })?;
    let mut converter = Converter {
        file_id,
        text,
        problems: Vec::new(),
    };
    let root = converter.resource_file(&body);
    if converter.problems.is_empty() {
        Ok(root)
    } else {
        Err(converter.problems)
    }
}

struct Converter<'a> {
    file_id: FileId,
    text: &'a str,
    problems: Vec<Problem>,
}

impl Converter<'_> {
    fn span(&self, range: Option<std::ops::Range<usize>>) -> Span {
        let range = range.unwrap_or(0..0);
        Span::new(self.file_id, range.start, range.end - range.start)
    }

    fn resource_file(&mut self, body: &Body) -> Node {
        let whole = Span::new(self.file_id, 0, 0);
        let mut kinds: Vec<(Key, Entries)> = Vec::new();
        for structure in body.iter() {
            match structure {
                Structure::Attribute(attr) => {
                    let span = self.span(attr.key.span());
                    self.problems.push(
                        Problem::new(
                            span,
                            format!("unexpected attribute `{}` at the top level of an HCL resource file", attr.key.as_str()),
                            "not inside a resource block",
                        )
                        .help("declare resources with blocks: job \"key\" { }, cluster \"key\" { }, instance_pool \"key\" { }, secret_scope \"key\" { }"),
                    );
                }
                Structure::Block(block) => self.resource_block(block, &mut kinds),
            }
        }
        let kinds = kinds
            .into_iter()
            .map(|(key, entries)| {
                let span = key.span;
                (key, Node::new(entries.into_value(), span))
            })
            .collect();
        Node::new(
            NodeValue::Map(vec![(
                Key {
                    name: "resources".into(),
                    span: whole,
                },
                Node::new(NodeValue::Map(kinds), whole),
            )]),
            whole,
        )
    }

    fn resource_block(&mut self, block: &Block, kinds: &mut Vec<(Key, Entries)>) {
        let ident = block.ident.as_str();
        let ident_span = self.span(block.ident.span());
        let Some((_, kind)) = resource_blocks().find(|(b, _)| *b == ident) else {
            let mut problem = Problem::new(
                ident_span,
                format!("unknown resource block `{ident}`"),
                "unknown block type",
            );
            let blocks: Vec<&str> = resource_blocks().map(|(b, _)| b).collect();
            problem = match did_you_mean(ident, blocks.iter().copied()) {
                Some(s) => problem.help(format!("did you mean `{s}`?")),
                None => problem.help(format!("resource blocks are {}", in_words(&blocks))),
            };
            self.problems.push(problem);
            return;
        };
        let [label] = block.labels.as_slice() else {
            self.problems.push(
                Problem::new(
                    ident_span,
                    format!(
                        "`{ident}` block needs exactly one label, its logical key (found {})",
                        block.labels.len()
                    ),
                    "label missing or extra",
                )
                .help(format!("write `{ident} \"my_key\" {{ ... }}`")),
            );
            return;
        };
        let key = self.label_key(label);
        let value = self.body(&block.body, self.span(block.span()));
        let index = match kinds.iter().position(|(k, _)| k.name == *kind) {
            Some(i) => i,
            None => {
                let key = Key {
                    name: (*kind).to_string(),
                    span: ident_span,
                };
                kinds.push((key, Entries::default()));
                kinds.len() - 1
            }
        };
        let entries = &mut kinds[index].1;
        if let Some(first) = entries.position(&key.name) {
            let first = entries.key(first).span;
            self.problems.push(
                Problem::new(
                    key.span,
                    format!("`{ident} \"{}\"` is declared twice in this file", key.name),
                    "second declaration",
                )
                .related(first, "first declared here")
                .help("merge the two blocks or give one of them another key"),
            );
            return;
        }
        entries.push(key, value);
    }

    fn label_key(&self, label: &BlockLabel) -> Key {
        match label {
            BlockLabel::Ident(ident) => Key {
                name: ident.as_str().to_string(),
                span: self.span(ident.span()),
            },
            BlockLabel::String(s) => Key {
                name: s.value().to_string(),
                span: self.span(s.span()),
            },
        }
    }

    fn body(&mut self, body: &Body, span: Span) -> Node {
        let mut entries = Entries::default();
        // Fields built from repeated blocks, which later blocks of the same name add to: the
        // field's position in `entries` and what the blocks built so far.
        let mut block_fields: Vec<(&'static str, usize, BlockField)> = Vec::new();
        for structure in body.iter() {
            match structure {
                Structure::Attribute(attr) => {
                    let key = Key {
                        name: attr.key.as_str().to_string(),
                        span: self.span(attr.key.span()),
                    };
                    let value = self.expression(&attr.value);
                    self.insert_unique(&mut entries, key, value);
                }
                Structure::Block(block) => {
                    self.nested_block(block, &mut entries, &mut block_fields)
                }
            }
        }
        for (_, index, built) in block_fields {
            entries.set_value(index, built.into_value());
        }
        Node::new(entries.into_value(), span)
    }

    fn insert_unique(&mut self, entries: &mut Entries, key: Key, value: Node) {
        if let Some(first) = entries.position(&key.name) {
            let first = entries.key(first).span;
            self.problems.push(
                Problem::new(key.span, format!("`{}` is set twice", key.name), "set again here")
                    .related(first, "first set here")
                    .help("keep one of the two; a field may be given as an attribute or as blocks, not both"),
            );
            return;
        }
        entries.push(key, value);
    }

    fn nested_block(
        &mut self,
        block: &Block,
        entries: &mut Entries,
        block_fields: &mut Vec<(&'static str, usize, BlockField)>,
    ) {
        let ident = block.ident.as_str();
        let ident_span = self.span(block.ident.span());
        let block_span = self.span(block.span());
        let map_field = MAP_BLOCKS
            .iter()
            .find(|(b, _)| *b == ident)
            .map(|(_, f)| *f);
        let list_field = LIST_BLOCKS
            .iter()
            .find(|(b, _)| *b == ident)
            .map(|(_, f)| *f);
        let label = match (map_field, block.labels.as_slice()) {
            (Some(_), [label]) => Some(self.label_key(label)),
            (Some(_), _) => {
                self.problems.push(
                    Problem::new(
                        ident_span,
                        format!("`{ident}` block needs exactly one label"),
                        "label missing",
                    )
                    .help(format!("write `{ident} \"name\" {{ ... }}`")),
                );
                return;
            }
            (None, []) => None,
            (None, _) => {
                self.problems.push(
                    Problem::new(
                        ident_span,
                        format!("`{ident}` block takes no label"),
                        "unexpected label",
                    )
                    .help(format!("write `{ident} {{ ... }}`")),
                );
                return;
            }
        };
        let value = self.body(&block.body, block_span);
        let Some(field) = map_field.or(list_field) else {
            if let Some(first) = entries.position(ident) {
                let first = entries.key(first).span;
                self.problems.push(
                    Problem::new(
                        ident_span,
                        format!("`{ident}` block may appear only once"),
                        "repeated block",
                    )
                    .related(first, "first given here")
                    .help("merge the two blocks into one"),
                );
                return;
            }
            let key = Key {
                name: ident.to_string(),
                span: ident_span,
            };
            entries.push(key, value);
            return;
        };
        let slot = match block_fields.iter().position(|(f, _, _)| *f == field) {
            Some(slot) => slot,
            None => {
                if let Some(first) = entries.position(field) {
                    let first = entries.key(first).span;
                    self.problems.push(
                        Problem::new(
                            ident_span,
                            format!("`{field}` is set twice"),
                            "given again as a block",
                        )
                        .related(first, "first set here")
                        .help("use either the attribute or the blocks, not both"),
                    );
                    return;
                }
                let key = Key {
                    name: field.to_string(),
                    span: ident_span,
                };
                let (empty, built) = if map_field.is_some() {
                    (
                        NodeValue::Map(Vec::new()),
                        BlockField::Map(Entries::default()),
                    )
                } else {
                    (NodeValue::Seq(Vec::new()), BlockField::List(Vec::new()))
                };
                let index = entries.push(key, Node::new(empty, ident_span));
                block_fields.push((field, index, built));
                block_fields.len() - 1
            }
        };
        match (&mut block_fields[slot].2, label) {
            (BlockField::List(items), None) => items.push(value),
            (BlockField::Map(map), Some(key)) => self.insert_unique(map, key, value),
            _ => {}
        }
    }

    fn expression(&mut self, expr: &Expression) -> Node {
        let span = self.span(expr.span());
        let value = match expr {
            Expression::Null(_) => NodeValue::Null,
            Expression::Bool(b) => NodeValue::Bool(*b.value()),
            Expression::Number(n) => {
                let n = n.value();
                match n.as_i64() {
                    Some(i) => NodeValue::Int(i),
                    None => NodeValue::Float(n.as_f64().unwrap_or(f64::NAN)),
                }
            }
            Expression::String(s) => NodeValue::Str(escape_dollar_braces(s.value())),
            Expression::Array(items) => {
                NodeValue::Seq(items.iter().map(|e| self.expression(e)).collect())
            }
            Expression::Object(object) => {
                let mut entries = Entries::default();
                for (key, value) in object.iter() {
                    let key = match key {
                        ObjectKey::Ident(ident) => Key {
                            name: ident.as_str().to_string(),
                            span: self.span(ident.span()),
                        },
                        ObjectKey::Expression(Expression::String(s)) => Key {
                            name: s.value().to_string(),
                            span: self.span(s.span()),
                        },
                        ObjectKey::Expression(other) => {
                            self.unsupported(
                                other,
                                "an object key must be a name or a quoted string",
                            );
                            continue;
                        }
                    };
                    let value = self.expression(value.expr());
                    self.insert_unique(&mut entries, key, value);
                }
                entries.into_value()
            }
            Expression::StringTemplate(template) => {
                match self.template_text(template.iter(), "string") {
                    Some(text) => NodeValue::Str(text),
                    None => NodeValue::Null,
                }
            }
            Expression::HeredocTemplate(heredoc) => {
                let mut heredoc = (**heredoc).clone();
                heredoc.dedent();
                match self.template_text(heredoc.template.iter(), "heredoc") {
                    Some(text) => NodeValue::Str(text),
                    None => NodeValue::Null,
                }
            }
            Expression::Parenthesis(inner) => return self.expression(inner.inner()),
            Expression::Traversal(_) => match self.reference_text(expr) {
                Some(path) => NodeValue::Str(format!("${{{path}}}")),
                None => {
                    self.unsupported(expr, "only references to resources.<kind>.<key>.id, var.<name> and workspace.<name|role> may be written without quotes");
                    NodeValue::Null
                }
            },
            Expression::Variable(v) => {
                self.problems.push(
                    Problem::new(span, format!("bare name `{}` is not a value", v.as_str()), "not a value")
                        .help(format!("quote it if it is text: \"{}\"; references look like resources.<kind>.<key>.id or var.<name>", v.as_str())),
                );
                NodeValue::Null
            }
            other => {
                self.unsupported(other, "tandem does not evaluate HCL expressions; write a literal value or a ${...} reference");
                NodeValue::Null
            }
        };
        Node::new(value, span)
    }

    fn unsupported(&mut self, expr: &Expression, help: &str) {
        let span = self.span(expr.span());
        let text = self
            .text
            .get(span.start..span.start + span.len)
            .unwrap_or("");
        self.problems.push(
            Problem::new(
                span,
                format!("unsupported HCL expression `{}`", text.trim()),
                "not a literal or reference",
            )
            .help(help.to_string()),
        );
    }

    /// `resources.clusters.shared.id` for a bare traversal rooted at a reference root.
    fn reference_text(&self, expr: &Expression) -> Option<String> {
        let Expression::Traversal(traversal) = expr else {
            return None;
        };
        let Expression::Variable(root) = &traversal.expr else {
            return None;
        };
        if !REFERENCE_ROOTS.contains(&root.as_str()) {
            return None;
        }
        let mut path = root.as_str().to_string();
        for operator in &traversal.operators {
            match operator.value() {
                TraversalOperator::GetAttr(ident) => {
                    path.push('.');
                    path.push_str(ident.as_str());
                }
                _ => return None,
            }
        }
        Some(path)
    }

    /// The text of a template with interpolations written back as `${...}`.
    fn template_text<'t>(
        &mut self,
        elements: impl Iterator<Item = &'t Element>,
        what: &str,
    ) -> Option<String> {
        let mut out = String::new();
        for element in elements {
            match element {
                Element::Literal(literal) => out.push_str(&escape_dollar_braces(literal.value())),
                Element::Interpolation(interpolation) => {
                    let span = self.span(interpolation.expr.span());
                    match self.reference_text(&interpolation.expr) {
                        Some(path) => {
                            out.push_str("${");
                            out.push_str(&path);
                            out.push('}');
                        }
                        None => {
                            let text = self
                                .text
                                .get(span.start..span.start + span.len)
                                .unwrap_or("");
                            self.problems.push(
                                Problem::new(span, format!("unsupported interpolation `${{{}}}` in a {what}", text.trim()), "not a reference")
                                    .help("interpolations may only be references: ${resources.<kind>.<key>.id}, ${var.<name>}, ${workspace.name}, ${workspace.role}"),
                            );
                            return None;
                        }
                    }
                }
                Element::Directive(directive) => {
                    let span = self.span(directive.span());
                    self.problems.push(
                        Problem::new(span, format!("template directives (%{{if}}, %{{for}}) are not supported in a {what}"), "directive")
                            .help("write the text out; tandem does not evaluate templates"),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }
}

/// A mapping being built: entries in source order, found by name through an index once there
/// are more than a few (a file of 80,000 jobs would otherwise compare every key with each one
/// before it, and parse in quadratic time).
#[derive(Default)]
struct Entries {
    list: Vec<(Key, Node)>,
    index: HashMap<String, usize>,
}

/// Below this many entries a scan beats hashing.
const INDEX_FROM: usize = 8;

impl Entries {
    fn position(&self, name: &str) -> Option<usize> {
        if self.index.is_empty() {
            self.list.iter().position(|(k, _)| k.name == name)
        } else {
            self.index.get(name).copied()
        }
    }

    fn key(&self, index: usize) -> &Key {
        &self.list[index].0
    }

    /// Appends an entry (whose name is not there yet) and returns its position.
    fn push(&mut self, key: Key, value: Node) -> usize {
        let at = self.list.len();
        if !self.index.is_empty() {
            self.index.insert(key.name.clone(), at);
        }
        self.list.push((key, value));
        if self.index.is_empty() && self.list.len() > INDEX_FROM {
            self.index = self
                .list
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.name.clone(), i))
                .collect();
        }
        at
    }

    fn set_value(&mut self, index: usize, value: NodeValue) {
        self.list[index].1.value = value;
    }

    fn into_value(self) -> NodeValue {
        NodeValue::Map(self.list)
    }
}

/// What repeated blocks build: a list (`task { }` → `tasks`) or a map (`secret "k" { }`).
enum BlockField {
    List(Vec<Node>),
    Map(Entries),
}

impl BlockField {
    fn into_value(self) -> NodeValue {
        match self {
            BlockField::List(items) => NodeValue::Seq(items),
            BlockField::Map(entries) => entries.into_value(),
        }
    }
}

/// HCL unescapes `$${` to a literal `${` in the parsed string; put the escape back so the
/// reference resolver sees the same text a YAML file would carry.
fn escape_dollar_braces(s: &str) -> String {
    s.replace("${", "$${")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<serde_json::Value, Vec<Problem>> {
        let file = SourceFile::new("t.hcl".into(), text.into());
        parse(FileId(0), &file).map(|n| n.to_json())
    }

    #[test]
    fn blocks_become_resources_and_lists() {
        let json = load(
            r#"
job "etl" {
  name = "ETL"
  max_concurrent_runs = 2
  tags = { team = "x" }
  task {
    task_key = "a"
    existing_cluster_id = resources.clusters.shared.id
    notebook_task { notebook_path = "/p/${var.team}" }
    depends_on { task_key = "b" }
  }
  schedule {
    quartz_cron_expression = "0 0 * * * ?"
    timezone_id = "UTC"
  }
}
secret_scope "s" {
  name = "s"
  secret "k" { env = "K" }
}
"#,
        )
        .unwrap();
        let job = &json["resources"]["jobs"]["etl"];
        assert_eq!(job["max_concurrent_runs"], 2);
        assert_eq!(job["tags"]["team"], "x");
        assert_eq!(job["tasks"][0]["task_key"], "a");
        assert_eq!(
            job["tasks"][0]["existing_cluster_id"],
            "${resources.clusters.shared.id}"
        );
        assert_eq!(
            job["tasks"][0]["notebook_task"]["notebook_path"],
            "/p/${var.team}"
        );
        assert_eq!(job["tasks"][0]["depends_on"][0]["task_key"], "b");
        assert_eq!(job["schedule"]["timezone_id"], "UTC");
        assert_eq!(
            json["resources"]["secret_scopes"]["s"]["secrets"]["k"]["env"],
            "K"
        );
    }

    #[test]
    fn unsupported_expressions_are_reported() {
        let problems = load("job \"a\" {\n  name = upper(\"x\")\n}\n").unwrap_err();
        assert!(
            problems[0].message.contains("unsupported HCL expression"),
            "{}",
            problems[0].message
        );
        let problems = load("job \"a\" {\n  schedule {}\n  schedule {}\n}\n").unwrap_err();
        assert!(problems[0].message.contains("only once"));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let problems = load("job \"a\" {\n  name = \n}\n").unwrap_err();
        assert!(problems[0].message.starts_with("HCL syntax error"));
    }
}
