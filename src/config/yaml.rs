//! YAML files into spanned [`Node`] trees, with serde-saphyr's hardened parser.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use super::diagnostic::Problem;
use super::node::{FileId, Key, Node, NodeValue, Span};
use super::source::SourceFile;

/// Parses one YAML document. An empty file is an empty mapping.
pub fn parse(file_id: FileId, file: &SourceFile) -> Result<Node, Problem> {
    let text: &str = &file.text;
    if text.trim().is_empty()
        || text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(Node::new(
            NodeValue::Map(Vec::new()),
            Span::new(file_id, 0, 0),
        ));
    }
    // YAML 1.2 booleans only: `yes`, `on`, `y` stay text (as keys and as values).
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    // The safety budget grows with the file (itself capped at 32 MiB): a big file written out in
    // full fits, while alias expansion (a "YAML bomb") stays within a constant factor of the
    // file's size, so parsing stays linear in it.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = budget.max_nodes.max(text.len());
    budget.max_events = budget.max_events.max(text.len().saturating_mul(2));
    options.budget = Some(budget);
    match serde_saphyr::from_str_with_options::<Spanned<Raw>>(text, options) {
        Ok(raw) => Ok(raw.into_node(file_id, file)),
        Err(error) => Err(syntax_problem(file_id, file, &error)),
    }
}

fn syntax_problem(file_id: FileId, file: &SourceFile, error: &serde_saphyr::Error) -> Problem {
    let offset = error.location().map(|l| offset_of(file, &l)).unwrap_or(0);
    let rendered = error.without_snippet().to_string();
    // serde-saphyr's message may carry its own " at line X column Y"; we print positions ourselves.
    let message = rendered
        .split(" at line ")
        .next()
        .unwrap_or(&rendered)
        .trim()
        .to_string();
    let lower = message.to_lowercase();
    let (message, help) = if let Some(detail) = message.split("budget breached: ").nth(1) {
        // e.g. "Nodes { nodes: 250001 }": name the limit without the library's type names.
        let what = detail
            .split_whitespace()
            .next()
            .unwrap_or("size")
            .to_lowercase();
        let count: String = detail.chars().filter(char::is_ascii_digit).collect();
        (
            format!(
                "YAML refused: the document exceeds tandem's safety budget for {what} ({count})"
            ),
            "aliases expand this file far beyond its size (a \"YAML bomb\"); write the values out or use fewer aliases",
        )
    } else if let Some(key) = lower.strip_prefix("duplicate mapping key: ") {
        let key = key.split(", set").next().unwrap_or(key);
        (
            format!("YAML syntax error: duplicate key `{key}` in a mapping"),
            "each key may appear once in a mapping; remove or rename the repeated key",
        )
    } else if lower.contains("multiple yaml documents") {
        (
            "a config file holds one YAML document; this one has another after `---`".to_string(),
            "split the documents into separate files, or remove the `---` line",
        )
    } else {
        (
            format!("YAML syntax error: {message}"),
            "check indentation, quoting and the `key: value` form near this position",
        )
    };
    Problem::new(Span::new(file_id, offset, 1), message, "here").help(help)
}

fn offset_of(file: &SourceFile, location: &Location) -> usize {
    if let Some(b) = location.span().byte_offset() {
        return b as usize;
    }
    file.offset_of(location.line() as usize, location.column() as usize)
}

/// A YAML value as deserialized, before spans are turned into byte offsets.
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<String>, Spanned<Raw>)>),
}

trait IntoNode {
    fn into_node(self, file_id: FileId, file: &SourceFile) -> Node;
}

impl IntoNode for Spanned<Raw> {
    fn into_node(self, file_id: FileId, file: &SourceFile) -> Node {
        let span = span_of(file_id, file, &self.referenced);
        let value = match self.value {
            Raw::Null => NodeValue::Null,
            Raw::Bool(b) => NodeValue::Bool(b),
            Raw::Int(i) => NodeValue::Int(i),
            Raw::Float(f) => NodeValue::Float(f),
            Raw::Str(s) => NodeValue::Str(s),
            Raw::Seq(items) => NodeValue::Seq(
                items
                    .into_iter()
                    .map(|i| i.into_node(file_id, file))
                    .collect(),
            ),
            Raw::Map(entries) => NodeValue::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        let key = Key {
                            span: span_of(file_id, file, &k.referenced),
                            name: k.value,
                        };
                        (key, v.into_node(file_id, file))
                    })
                    .collect(),
            ),
        };
        Node::new(value, span)
    }
}

fn span_of(file_id: FileId, file: &SourceFile, location: &Location) -> Span {
    let start = offset_of(file, location);
    let len = location.span().byte_len().map(|l| l as usize).unwrap_or(1);
    Span::new(file_id, start, len)
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        Ok(i64::try_from(v)
            .map(Raw::Int)
            .unwrap_or(Raw::Float(v as f64)))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
        Ok(i64::try_from(v)
            .map(Raw::Int)
            .unwrap_or(Raw::Float(v as f64)))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
        Ok(i64::try_from(v)
            .map(Raw::Int)
            .unwrap_or(Raw::Float(v as f64)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw, E> {
        Ok(Raw::Str(String::from_utf8_lossy(v).into_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value = map.next_value::<Spanned<Raw>>()?;
            let key = Spanned::new(key.value.0, key.referenced, key.defined);
            entries.push((key, value));
        }
        Ok(Raw::Map(entries))
    }
}

/// A mapping key: YAML allows non-string keys (`1: x`, `true: y`); we read them as their text.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<KeyText, E> {
                Ok(KeyText(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
                Ok(KeyText(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText("null".to_string()))
            }
            fn visit_none<E: de::Error>(self) -> Result<KeyText, E> {
                Ok(KeyText("null".to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<KeyText, A::Error> {
                Err(de::Error::custom("a mapping cannot be used as a key"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<KeyText, A::Error> {
                Err(de::Error::custom("a list cannot be used as a key"))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::node::PathSegment;

    fn load(text: &str) -> Result<Node, Problem> {
        let file = SourceFile::new("t.yaml".into(), text.into());
        parse(FileId(0), &file)
    }

    #[test]
    fn every_value_knows_its_line_and_column() {
        let text = "resources:\n  jobs:\n    etl:\n      name: \"ETL\"\n      max_concurrent_runs: 3\n      tags: [a, b]\n";
        let node = load(text).unwrap();
        let file = SourceFile::new("t.yaml".into(), text.into());
        let path = [
            PathSegment::Key("resources".into()),
            PathSegment::Key("jobs".into()),
            PathSegment::Key("etl".into()),
            PathSegment::Key("max_concurrent_runs".into()),
        ];
        let (value, key) = node.locate(&path);
        assert_eq!(value.value, NodeValue::Int(3));
        assert_eq!(file.line_col(value.span.start), (5, 28));
        assert_eq!(file.line_col(key.unwrap().span.start), (5, 7));
        let (name, _) = node.locate(&path[..3]);
        assert_eq!(name.get("name").unwrap().as_str(), Some("ETL"));
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let text = "resources:\n  jobs:\n    etl: [unclosed\n";
        let problem = load(text).unwrap_err();
        assert!(
            problem.message.starts_with("YAML syntax error"),
            "{}",
            problem.message
        );
        assert!(problem.span.start > 10);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let problem = load(&text).unwrap_err();
        assert!(problem.message.contains("YAML"), "{}", problem.message);
    }

    #[test]
    fn a_big_file_written_out_fits_the_budget() {
        // 300,001 nodes: beyond the default budget, well within one for a file this size.
        let mut text = String::from("items:\n");
        for i in 0..300_000 {
            text.push_str(&format!("  - v{i}\n"));
        }
        let node = load(&text).unwrap();
        assert_eq!(
            node.get("items")
                .map(|n| matches!(&n.value, NodeValue::Seq(items) if items.len() == 300_000)),
            Some(true)
        );
    }

    #[test]
    fn yaml_1_1_booleans_stay_text() {
        let node = load("y: 1\nyes: 2\non: 3\nflag: yes\nreal: true\n").unwrap();
        let json = node.to_json();
        assert_eq!(json["y"], 1);
        assert_eq!(json["yes"], 2);
        assert_eq!(json["on"], 3);
        assert_eq!(json["flag"], "yes");
        assert_eq!(json["real"], true);
    }

    #[test]
    fn empty_and_comment_only_files_are_empty_maps() {
        assert_eq!(load("").unwrap().value, NodeValue::Map(vec![]));
        assert_eq!(load("# nothing\n\n").unwrap().value, NodeValue::Map(vec![]));
    }
}
