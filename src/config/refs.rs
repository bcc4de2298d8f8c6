//! `${...}` references inside strings: finding them, checking them, and substituting the ones
//! known before apply (variables and the workspace's name and role).

use serde_json::Value;

use crate::model::{Kind, ResourceId};

/// What a `${...}` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `${resources.<kind>.<key>.id}`: the object's ID in each workspace, known at apply time.
    ResourceId(ResourceId),
    /// `${var.<name>}`.
    Var(String),
    /// `${workspace.name}`.
    WorkspaceName,
    /// `${workspace.role}`.
    WorkspaceRole,
}

/// One `${...}` found in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    /// Byte range of the whole `${...}` in the string.
    pub range: std::ops::Range<usize>,
    /// The text between the braces.
    pub text: String,
    /// What it names, or why it names nothing.
    pub reference: Result<Reference, ReferenceError>,
}

/// Why a `${...}` is not a valid reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferenceError {
    /// `${` without a closing `}`.
    Unclosed,
    /// Not one of the supported forms; carries a hint.
    Malformed(String),
    /// `resources.<kind>` with an unknown kind.
    UnknownKind(String),
}

impl ReferenceError {
    /// A sentence saying what is wrong.
    pub fn message(&self, text: &str) -> String {
        match self {
            ReferenceError::Unclosed => format!("`${{{text}` is not closed with `}}`"),
            ReferenceError::Malformed(hint) => {
                format!("`${{{text}}}` is not a valid reference: {hint}")
            }
            ReferenceError::UnknownKind(kind) => {
                format!("`${{{text}}}` names an unknown resource kind `{kind}`")
            }
        }
    }
}

/// Finds every `${...}` in `s`; `$${` is an escaped literal and is skipped.
pub fn scan(s: &str) -> Vec<Occurrence> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'$' && bytes[i + 1] == b'$' && bytes.get(i + 2) == Some(&b'{') {
            i += 3;
            continue;
        }
        if bytes[i] == b'$' && bytes[i + 1] == b'{' {
            let start = i;
            match s[i + 2..].find('}') {
                Some(end) => {
                    let text = s[i + 2..i + 2 + end].to_string();
                    let reference = parse(text.trim());
                    i = i + 2 + end + 1;
                    out.push(Occurrence {
                        range: start..i,
                        text,
                        reference,
                    });
                }
                None => {
                    out.push(Occurrence {
                        range: start..s.len(),
                        text: s[i + 2..].to_string(),
                        reference: Err(ReferenceError::Unclosed),
                    });
                    break;
                }
            }
            continue;
        }
        i += 1;
    }
    out
}

fn parse(text: &str) -> Result<Reference, ReferenceError> {
    let parts: Vec<&str> = text.split('.').collect();
    let ident = |p: &str| {
        !p.is_empty()
            && p.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    match parts.as_slice() {
        ["resources", kind, key, attr] => {
            let Some(kind) = Kind::parse(kind) else {
                return Err(ReferenceError::UnknownKind((*kind).to_string()));
            };
            if !ident(key) {
                return Err(ReferenceError::Malformed(format!("`{key}` is not a resource key")));
            }
            if *attr != "id" {
                return Err(ReferenceError::Malformed(format!(
                    "only `.id` can be referenced, not `.{attr}`"
                )));
            }
            Ok(Reference::ResourceId(ResourceId {
                kind,
                key: (*key).to_string(),
            }))
        }
        ["resources", ..] => Err(ReferenceError::Malformed(
            "write resources.<kind>.<key>.id".to_string(),
        )),
        ["var", name] if ident(name) => Ok(Reference::Var((*name).to_string())),
        ["var", ..] => Err(ReferenceError::Malformed("write var.<name>".to_string())),
        ["workspace", "name"] => Ok(Reference::WorkspaceName),
        ["workspace", "role"] => Ok(Reference::WorkspaceRole),
        ["workspace", ..] => Err(ReferenceError::Malformed(
            "the workspace offers only `workspace.name` and `workspace.role`".to_string(),
        )),
        _ => Err(ReferenceError::Malformed(
            "references are resources.<kind>.<key>.id, var.<name>, workspace.name or workspace.role (write $${ for a literal ${)".to_string(),
        )),
    }
}

/// What substitution needs to know about one workspace.
pub trait Scope {
    /// The variable's value for this workspace, if defined.
    fn var(&self, name: &str) -> Option<&Value>;
    /// The workspace's name.
    fn workspace_name(&self) -> &str;
    /// `active` or `passive`.
    fn workspace_role(&self) -> &str;
}

/// Replaces variable and workspace references in every string of `value`. Resource references
/// and `$${` escapes are kept for the apply-time pass ([`resolve_resource_ids`]).
pub fn substitute(value: &Value, scope: &dyn Scope) -> Value {
    match value {
        Value::String(s) => substitute_str(s, scope),
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, scope)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), substitute(v, scope)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn substitute_str(s: &str, scope: &dyn Scope) -> Value {
    let occurrences = scan(s);
    if occurrences.is_empty() {
        return Value::String(s.to_string());
    }
    // A string that is exactly one variable takes the variable's type.
    if let [only] = occurrences.as_slice()
        && only.range == (0..s.len())
        && let Ok(Reference::Var(name)) = &only.reference
        && let Some(value) = scope.var(name)
    {
        return value.clone();
    }
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for occurrence in &occurrences {
        out.push_str(&s[last..occurrence.range.start]);
        let replacement = match &occurrence.reference {
            Ok(Reference::Var(name)) => scope.var(name).map(scalar_text),
            Ok(Reference::WorkspaceName) => Some(scope.workspace_name().to_string()),
            Ok(Reference::WorkspaceRole) => Some(scope.workspace_role().to_string()),
            _ => None,
        };
        match replacement {
            Some(text) => out.push_str(&text),
            None => out.push_str(&s[occurrence.range.clone()]),
        }
        last = occurrence.range.end;
    }
    out.push_str(&s[last..]);
    Value::String(out)
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Replaces resource references with IDs from `lookup` and unescapes `$${`. A string that is
/// exactly one reference to a numeric ID (a job ID) becomes a number. Unresolved references are
/// returned as errors naming the resource.
pub fn resolve_resource_ids(
    value: &Value,
    lookup: &dyn Fn(&ResourceId) -> Option<Value>,
) -> Result<Value, ResourceId> {
    match value {
        Value::String(s) => {
            let occurrences = scan(s);
            if let [only] = occurrences.as_slice()
                && only.range == (0..s.len())
                && let Ok(Reference::ResourceId(id)) = &only.reference
            {
                return lookup(id).ok_or_else(|| id.clone());
            }
            let mut out = String::with_capacity(s.len());
            let mut last = 0;
            for occurrence in &occurrences {
                out.push_str(&s[last..occurrence.range.start].replace("$${", "${"));
                match &occurrence.reference {
                    Ok(Reference::ResourceId(id)) => {
                        let id_value = lookup(id).ok_or_else(|| id.clone())?;
                        out.push_str(&scalar_text(&id_value));
                    }
                    _ => out.push_str(&s[occurrence.range.clone()]),
                }
                last = occurrence.range.end;
            }
            out.push_str(&s[last..].replace("$${", "${"));
            Ok(Value::String(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|v| resolve_resource_ids(v, lookup))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| resolve_resource_ids(v, lookup).map(|v| (k.clone(), v)))
            .collect::<Result<serde_json::Map<_, _>, _>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    struct TestScope(BTreeMap<String, Value>);

    impl Scope for TestScope {
        fn var(&self, name: &str) -> Option<&Value> {
            self.0.get(name)
        }
        fn workspace_name(&self) -> &str {
            "secondary"
        }
        fn workspace_role(&self) -> &str {
            "passive"
        }
    }

    fn scope() -> TestScope {
        TestScope(BTreeMap::from([
            ("root".to_string(), json!("abfss://lake@west")),
            ("runs".to_string(), json!(4)),
        ]))
    }

    #[test]
    fn scans_references_and_skips_escapes() {
        let found = scan("a ${var.root}/x $${not} ${resources.jobs.etl.id}");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].reference, Ok(Reference::Var("root".into())));
        assert_eq!(
            found[1].reference,
            Ok(Reference::ResourceId(ResourceId {
                kind: Kind::Jobs,
                key: "etl".into()
            }))
        );
    }

    #[test]
    fn rejects_malformed_references() {
        assert_eq!(scan("${var.x")[0].reference, Err(ReferenceError::Unclosed));
        assert!(matches!(
            scan("${resources.jobz.a.id}")[0].reference,
            Err(ReferenceError::UnknownKind(_))
        ));
        assert!(matches!(
            scan("${resources.jobs.a.name}")[0].reference,
            Err(ReferenceError::Malformed(_))
        ));
        assert!(matches!(
            scan("${foo}")[0].reference,
            Err(ReferenceError::Malformed(_))
        ));
    }

    #[test]
    fn substitutes_variables_with_their_type_when_whole() {
        let input = json!({
            "url": "${var.root}/in/${workspace.name}",
            "runs": "${var.runs}",
            "role": "${workspace.role}",
            "cluster": "${resources.clusters.c.id}",
            "escaped": "$${var.root}"
        });
        let out = substitute(&input, &scope());
        assert_eq!(out["url"], "abfss://lake@west/in/secondary");
        assert_eq!(out["runs"], 4);
        assert_eq!(out["role"], "passive");
        assert_eq!(out["cluster"], "${resources.clusters.c.id}");
        assert_eq!(out["escaped"], "$${var.root}");
    }

    #[test]
    fn resolves_resource_ids_at_apply_time() {
        let input = json!({"job_id": "${resources.jobs.a.id}", "p": "x-${resources.clusters.c.id} $${lit}"});
        let out = resolve_resource_ids(&input, &|id| match id.kind {
            Kind::Jobs => Some(json!(42)),
            _ => Some(json!("0101-abc")),
        })
        .unwrap();
        assert_eq!(out["job_id"], 42);
        assert_eq!(out["p"], "x-0101-abc ${lit}");
        let missing = resolve_resource_ids(&input, &|_| None).unwrap_err();
        assert_eq!(missing.key, "a");
    }
}
