//! A format-neutral document tree in which every key and value knows where it was written.
//!
//! YAML and HCL files are both parsed into [`Node`]s, so schema validation, reference checks and
//! model building run once for both formats and every diagnostic can point at a line and column.

use serde_json::Value;

/// Index of a file in the [`super::source::SourceSet`] of one load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// The file the range belongs to.
    pub file: FileId,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Length in bytes (at least 1 when rendered).
    pub len: usize,
}

impl Span {
    /// A span covering `start..start+len` of `file`.
    pub fn new(file: FileId, start: usize, len: usize) -> Self {
        Span { file, start, len }
    }
}

/// A mapping key with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key as written.
    pub name: String,
    /// Where the key was written.
    pub span: Span,
}

/// A value with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: NodeValue,
    /// Where the value was written (for a mapping or sequence, where it starts).
    pub span: Span,
}

/// The shapes a configuration value can take.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    /// `null` or an empty YAML value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction or exponent.
    Float(f64),
    /// A string (HCL templates arrive here as their `${...}` text).
    Str(String),
    /// A list.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<(Key, Node)>),
}

/// One step of a path into a [`Node`] tree, as in a JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

impl Node {
    /// A node of `value` at `span`.
    pub fn new(value: NodeValue, span: Span) -> Self {
        Node { value, span }
    }

    /// The entries of a mapping, or `None` for other shapes.
    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            NodeValue::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The string of a string node.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The entry named `name` of a mapping, with its key.
    pub fn entry(&self, name: &str) -> Option<(&Key, &Node)> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(k, v)| (k, v))
    }

    /// The value of the entry named `name` of a mapping.
    pub fn get(&self, name: &str) -> Option<&Node> {
        self.entry(name).map(|(_, v)| v)
    }

    /// A human name for the node's shape, as used in "expected X, found Y".
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "boolean",
            NodeValue::Int(_) => "integer",
            NodeValue::Float(_) => "number",
            NodeValue::Str(_) => "string",
            NodeValue::Seq(_) => "list",
            NodeValue::Map(_) => "mapping",
        }
    }

    /// Converts the tree to plain JSON (the form schemas and the model work on).
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.name.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Follows `path` and returns the deepest node reached and, when the last step was a key, that
    /// key: diagnostics label the key for problems about a field and the value otherwise.
    pub fn locate<'a>(&'a self, path: &[PathSegment]) -> (&'a Node, Option<&'a Key>) {
        let mut node = self;
        let mut key = None;
        for segment in path {
            let next = match (segment, &node.value) {
                (PathSegment::Key(name), NodeValue::Map(entries)) => entries
                    .iter()
                    .find(|(k, _)| &k.name == name)
                    .map(|(k, v)| (Some(k), v)),
                (PathSegment::Index(i), NodeValue::Seq(items)) => items.get(*i).map(|v| (None, v)),
                _ => None,
            };
            match next {
                Some((k, v)) => {
                    key = k;
                    node = v;
                }
                None => break,
            }
        }
        (node, key)
    }

    /// Calls `visit` for every string in the tree with its path.
    pub fn walk_strings<'a>(
        &'a self,
        path: &mut Vec<PathSegment>,
        visit: &mut dyn FnMut(&[PathSegment], &'a str, Span),
    ) {
        match &self.value {
            NodeValue::Str(s) => visit(path, s, self.span),
            NodeValue::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(PathSegment::Index(i));
                    item.walk_strings(path, visit);
                    path.pop();
                }
            }
            NodeValue::Map(entries) => {
                for (k, v) in entries {
                    path.push(PathSegment::Key(k.name.clone()));
                    v.walk_strings(path, visit);
                    path.pop();
                }
            }
            _ => {}
        }
    }
}

/// Renders a path as a dotted field name (`tasks[0].notebook_task`), for messages.
pub fn display_path(path: &[PathSegment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            PathSegment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSegment::Index(i) => {
                out.push_str(&format!("[{i}]"));
            }
        }
    }
    out
}
