//! SCIM filters (RFC 7644 §3.4.2.2) as the workspace SCIM API takes them: comparisons with `eq`,
//! `ne`, `co`, `sw` and `pr`, combined with `and` / `or` and parentheses; attribute names match
//! in any case (`userName`, `username`), sub-attributes of multi-valued attributes by path
//! (`emails.value`); string values compare case-insensitively. Anything else is refused, never
//! silently matched against nothing.

use serde_json::Value;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `a and b`.
    And(Box<Filter>, Box<Filter>),
    /// `a or b`.
    Or(Box<Filter>, Box<Filter>),
    /// `<path> pr`.
    Present(Vec<String>),
    /// `<path> <op> <value>`.
    Compare {
        /// The attribute path (`emails`, `value`).
        path: Vec<String>,
        /// The operator.
        op: Op,
        /// The value.
        value: Value,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Contains.
    Co,
    /// Starts with.
    Sw,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Word(String),
    Text(String),
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped) => value.push(escaped),
                            None => return Err("unterminated string".into()),
                        },
                        Some(c) => value.push(c),
                        None => return Err("unterminated string".into()),
                    }
                }
                out.push(Token::Text(value));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    attributes: &'a [&'a str],
}

impl Parser<'_> {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.atom()?;
        while self.peek_word("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.atom()?));
        }
        Ok(left)
    }

    fn atom(&mut self) -> Result<Filter, String> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("missing closing parenthesis".into()),
                }
            }
            Some(Token::Word(attribute)) => self.comparison(&attribute),
            Some(other) => Err(format!("expected an attribute, found {other:?}")),
            None => Err("the filter ends too early".into()),
        }
    }

    fn comparison(&mut self, attribute: &str) -> Result<Filter, String> {
        if !self
            .attributes
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attribute))
        {
            return Err(format!("unsupported attribute {attribute}"));
        }
        let path: Vec<String> = attribute.split('.').map(str::to_string).collect();
        let op = match self.next() {
            Some(Token::Word(op)) => op.to_ascii_lowercase(),
            _ => return Err(format!("expected an operator after {attribute}")),
        };
        let op = match op.as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            other => return Err(format!("unsupported operator {other}")),
        };
        let value = match self.next() {
            Some(Token::Text(text)) => Value::String(text),
            Some(Token::Word(word)) => match word.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => word
                    .parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| format!("unsupported value {word}"))?,
            },
            _ => return Err(format!("expected a value after {attribute} {op:?}")),
        };
        Ok(Filter::Compare { path, op, value })
    }
}

/// Parses `text`, allowing only `attributes` (any case). The error says what is wrong.
pub fn parse(text: &str, attributes: &[&str]) -> Result<Filter, String> {
    let mut parser = Parser {
        tokens: tokens(text)?,
        at: 0,
        attributes,
    };
    let filter = parser.or()?;
    if parser.at < parser.tokens.len() {
        return Err("unexpected text after the filter".into());
    }
    Ok(filter)
}

/// The values at `path` in `resource`: attribute names in any case, every element of a list.
fn values<'v>(resource: &'v Value, path: &[String]) -> Vec<&'v Value> {
    let Some((first, rest)) = path.split_first() else {
        return vec![resource];
    };
    let found = resource
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(first)))
        .map(|(_, v)| v);
    match found {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().flat_map(|i| values(i, rest)).collect(),
        Some(v) => values(v, rest),
    }
}

fn compare(actual: &Value, op: Op, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::String(a), Value::String(e)) => {
            let (a, e) = (a.to_lowercase(), e.to_lowercase());
            match op {
                Op::Eq => a == e,
                Op::Ne => a != e,
                Op::Co => a.contains(&e),
                Op::Sw => a.starts_with(&e),
            }
        }
        _ => match op {
            Op::Eq => actual == expected,
            Op::Ne => actual != expected,
            Op::Co | Op::Sw => false,
        },
    }
}

impl Filter {
    /// Whether `resource` (a SCIM resource as served) matches.
    pub fn matches(&self, resource: &Value) -> bool {
        match self {
            Filter::And(a, b) => a.matches(resource) && b.matches(resource),
            Filter::Or(a, b) => a.matches(resource) || b.matches(resource),
            Filter::Present(path) => values(resource, path)
                .iter()
                .any(|v| !matches!(v, Value::String(s) if s.is_empty())),
            Filter::Compare { path, op, value } => {
                let found = values(resource, path);
                if *op == Op::Ne {
                    // `ne` holds when no value equals (an absent attribute included).
                    return !found.iter().any(|v| compare(v, Op::Eq, value));
                }
                found.iter().any(|v| compare(v, *op, value))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const USER: &[&str] = &["userName", "displayName", "emails.value", "active", "id"];

    fn user() -> Value {
        json!({
            "id": "7",
            "userName": "dana@example.com",
            "displayName": "Dana",
            "active": true,
            "emails": [{"value": "dana@example.com", "primary": true}],
        })
    }

    fn holds(text: &str) -> bool {
        parse(text, USER).expect(text).matches(&user())
    }

    #[test]
    fn comparisons_ignore_the_case_of_names_and_values() {
        assert!(holds(r#"userName eq "Dana@Example.com""#));
        assert!(holds(r#"username EQ "dana@example.com""#));
        assert!(holds(r#"emails.value co "EXAMPLE""#));
        assert!(holds(r#"displayName sw "da""#));
        assert!(holds(r#"userName ne "someone@example.com""#));
        assert!(!holds(r#"userName ne "dana@example.com""#));
        assert!(holds("active eq true"));
        assert!(!holds("active eq false"));
        assert!(holds("displayName pr"));
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_group() {
        assert!(holds(
            r#"userName eq "nobody" or displayName eq "Dana" and active eq true"#
        ));
        assert!(!holds(
            r#"(userName eq "nobody" or displayName eq "Dana") and active eq false"#
        ));
        assert!(holds(
            r#"(userName eq "nobody" or displayName eq "Dana") and active eq true"#
        ));
    }

    #[test]
    fn what_cannot_be_evaluated_is_refused() {
        for bad in [
            r#"userName gt "a""#,
            r#"nickName eq "d""#,
            r#"userName eq "unterminated"#,
            r#"userName eq"#,
            r#"(userName eq "a""#,
            r#"userName eq "a" extra"#,
            "",
        ] {
            assert!(parse(bad, USER).is_err(), "{bad}");
        }
    }
}
