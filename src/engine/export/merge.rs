//! Export's pure merging of several workspaces into one configuration: objects paired across
//! workspaces ([`pair`]), each made configuration the way a single export makes it
//! ([`prepare`]), and the workspaces' values walked side by side ([`walk`]). Where a value
//! differs, [`merge`] writes a per-workspace variable and a `${var.x}` reference to it, or keeps
//! the first workspace's value with a note when no variable can say it (a list of another
//! length, a field only one workspace sets). `compare` walks two workspaces the same way.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::clean::{
    clean, placeholder_variable, raw_ids, replace_ids, unique_key, word_characters,
};
use crate::config::Variable;
use crate::model::live::Grant;
use crate::model::{Kind, Resources};
use crate::plan::diff::list_key;

/// One object as read from a workspace, before it becomes configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Its kind.
    pub kind: Kind,
    /// Its ID (a scope's name).
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Its logical key, when tandem manages it for the environment (its tags say so).
    pub managed_key: Option<String>,
    /// Its fields as read (a scope's: its name and ACLs).
    pub body: Map<String, Value>,
    /// Its direct grants.
    pub grants: Vec<Grant>,
    /// A scope's secret keys (values cannot be read).
    pub secrets: BTreeSet<String>,
}

/// What one workspace holds.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkspaceObjects {
    /// Workspace name.
    pub workspace: String,
    /// Whether it is passive (tandem sets its role fields: see `KindSpec::role_fields`).
    pub passive: bool,
    /// Its objects.
    pub objects: Vec<Observed>,
}

/// One logical resource and the object standing for it in each workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    /// Its kind.
    pub kind: Kind,
    /// Its logical key.
    pub key: String,
    /// The first member's name.
    pub name: String,
    /// Per workspace (in the order given), the index of its object there, if it has one.
    pub members: Vec<Option<usize>>,
}

/// Pairs the objects of several workspaces: objects tandem manages by their logical key, then
/// the others by kind and name (an unmanaged look-alike joins a managed object of its name).
/// Keys come from the managed objects' tags, else from names (`Nightly ETL` → `nightly_etl`),
/// unique per kind; the first workspace's objects are keyed first.
pub fn pair(workspaces: &[WorkspaceObjects]) -> Vec<Slot> {
    let mut slots: Vec<Slot> = Vec::new();
    let mut used: BTreeMap<Kind, BTreeSet<String>> = BTreeMap::new();
    for managed in [true, false] {
        for (w, ws) in workspaces.iter().enumerate() {
            for (i, o) in ws.objects.iter().enumerate() {
                if o.managed_key.is_some() != managed {
                    continue;
                }
                let open = slots.iter_mut().find(|s| {
                    s.kind == o.kind
                        && s.members[w].is_none()
                        && match &o.managed_key {
                            Some(key) => &s.key == key,
                            None => s.name == o.name,
                        }
                });
                if let Some(slot) = open {
                    slot.members[w] = Some(i);
                    continue;
                }
                let taken = used.entry(o.kind).or_default();
                let key = match &o.managed_key {
                    Some(key) if taken.insert(key.clone()) => key.clone(),
                    Some(key) => unique_key(key, taken),
                    None => unique_key(&o.name, taken),
                };
                let mut members = vec![None; workspaces.len()];
                members[w] = Some(i);
                slots.push(Slot {
                    kind: o.kind,
                    key,
                    name: o.name.clone(),
                    members,
                });
            }
        }
    }
    slots
}

/// Every workspace's objects as configuration, by slot (same order as the slots).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prepared {
    /// Per slot, per workspace: the object's body as configuration (cleaned, IDs of paired
    /// objects replaced by references, grants as `permissions`; a scope's name and ACLs).
    pub bodies: Vec<Vec<Option<Map<String, Value>>>>,
    /// IDs no paired object has (left out by a filter), as `kind.key: field id`.
    pub unresolved: Vec<String>,
}

/// Makes each workspace's objects configuration, IDs replaced by references to the slots.
pub fn prepare(workspaces: &[WorkspaceObjects], slots: &[Slot]) -> Prepared {
    let mut prepared = Prepared::default();
    let ids: Vec<BTreeMap<(Kind, String), String>> = (0..workspaces.len())
        .map(|w| {
            slots
                .iter()
                .filter_map(|s| {
                    let o = &workspaces[w].objects[s.members[w]?];
                    Some(((s.kind, o.id.clone()), s.key.clone()))
                })
                .collect()
        })
        .collect();
    for slot in slots {
        let mut row = Vec::with_capacity(workspaces.len());
        for (w, ws) in workspaces.iter().enumerate() {
            let Some(o) = slot.members[w].map(|i| &ws.objects[i]) else {
                row.push(None);
                continue;
            };
            let mut body = if o.kind.spec().tags_field.is_some() {
                clean(o.kind, &o.body)
            } else {
                o.body.clone()
            };
            replace_ids(&mut body, &ids[w]);
            for (field, id) in raw_ids(&body) {
                let at = if workspaces.len() > 1 {
                    format!(" (in {})", ws.workspace)
                } else {
                    String::new()
                };
                let entry = format!("{}.{}: {field} {id}{at}", slot.kind, slot.key);
                if !prepared.unresolved.contains(&entry) {
                    prepared.unresolved.push(entry);
                }
            }
            if !o.grants.is_empty() {
                body.insert(
                    "permissions".into(),
                    serde_json::to_value(&o.grants).unwrap_or_default(),
                );
            }
            row.push(Some(body));
        }
        prepared.bodies.push(row);
    }
    prepared
}

/// What to keep where the workspaces' values differ, given the place's path and the values.
pub type Divergence<'a> = dyn FnMut(&str, &[Option<&Value>]) -> Option<Value> + 'a;

/// Walks the workspaces' values of one place side by side (`None`: the workspace has no value
/// there), maps by key and keyed lists (`tasks` by `task_key`) entry by entry, other lists of
/// one length item by item, and returns the value to keep: the common one where all agree,
/// and where they do not, what `at` makes of them (it is given the place's path, as
/// `tasks[ingest].notebook_task.notebook_path`). The first value is the one kept by default.
pub fn walk(values: &[Option<&Value>], path: &str, at: &mut Divergence) -> Option<Value> {
    let first = values.first().copied().flatten();
    if values.iter().all(|v| *v == first) {
        return first.cloned();
    }
    let maps: Option<Vec<&Map<String, Value>>> = values
        .iter()
        .map(|v| v.and_then(Value::as_object))
        .collect();
    if let Some(maps) = maps {
        let mut out = Map::new();
        for field in union(maps.iter().map(|m| m.keys().cloned())) {
            let inner: Vec<Option<&Value>> = maps.iter().map(|m| m.get(&field)).collect();
            if let Some(v) = walk(&inner, &join(path, &field), at) {
                out.insert(field, v);
            }
        }
        return Some(Value::Object(out));
    }
    let lists: Option<Vec<&Vec<Value>>> =
        values.iter().map(|v| v.and_then(Value::as_array)).collect();
    if let Some(lists) = lists {
        let field = path.rsplit('.').next().unwrap_or(path);
        if let Some(entries) = list_key(field).and_then(|k| keyed(&lists, k)) {
            let order = union(entries.iter().map(|e| e.keys().cloned()));
            let mut out = Vec::new();
            for entry in order {
                let inner: Vec<Option<&Value>> =
                    entries.iter().map(|e| e.get(&entry).copied()).collect();
                out.extend(walk(&inner, &format!("{path}[{entry}]"), at));
            }
            return Some(Value::Array(out));
        }
        let length = lists[0].len();
        if lists.iter().all(|l| l.len() == length) {
            let out = (0..length)
                .filter_map(|i| {
                    let inner: Vec<Option<&Value>> = lists.iter().map(|l| l.get(i)).collect();
                    walk(&inner, &format!("{path}[{i}]"), at)
                })
                .collect();
            return Some(Value::Array(out));
        }
    }
    at(path, values)
}

/// `path.field`, or `field` at the top.
fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// The keys of every list, each once, in the order they are first met.
fn union(lists: impl Iterator<Item = impl Iterator<Item = String>>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for key in lists.flatten() {
        if seen.insert(key.clone()) {
            out.push(key);
        }
    }
    out
}

/// Each list's entries by their `key` field, if every entry is an object naming itself once.
fn keyed<'a>(lists: &[&'a Vec<Value>], key: &str) -> Option<Vec<Entries<'a>>> {
    lists
        .iter()
        .map(|list| {
            let mut entries = Entries::default();
            for item in list.iter() {
                let name = item.get(key)?.as_str()?.to_string();
                if entries.get(&name).is_some() {
                    return None;
                }
                entries.0.push((name, item));
            }
            Some(entries)
        })
        .collect()
}

/// A keyed list's entries in their order.
#[derive(Default)]
struct Entries<'a>(Vec<(String, &'a Value)>);

impl<'a> Entries<'a> {
    fn get(&self, name: &str) -> Option<&&'a Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(n, _)| n)
    }
}

/// The value at a dotted `path` of `body`.
fn at_path<'a>(body: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let (parent, field) = match path.rsplit_once('.') {
        Some((parent, field)) => (at_path(body, parent)?.as_object()?, field),
        None => (body, path),
    };
    parent.get(field)
}

/// The object holding the field a dotted `path` names, and that field's name.
fn parent_mut<'a>(
    body: &'a mut Map<String, Value>,
    path: &'a str,
) -> Option<(&'a mut Map<String, Value>, &'a str)> {
    match path.split_once('.') {
        Some((head, rest)) => parent_mut(body.get_mut(head)?.as_object_mut()?, rest),
        None => Some((body, path)),
    }
}

/// Drops the fields tandem sets by role (see `KindSpec::role_fields`) from `body`.
pub fn without_role_fields(kind: Kind, body: &mut Map<String, Value>) {
    for path in kind.spec().role_fields {
        if let Some((parent, field)) = parent_mut(body, path) {
            parent.remove(field);
        }
    }
}

/// Gives a passive workspace's `body` the active workspace's values of the fields tandem sets
/// by role, so only what a person set is compared. A field the active one leaves out goes.
fn with_active_role_fields(kind: Kind, body: &mut Map<String, Value>, active: &Map<String, Value>) {
    for path in kind.spec().role_fields {
        let wanted = at_path(active, path).cloned();
        // A block the passive object lacks (no schedule) is not made up for one field of it.
        if let Some((parent, field)) = parent_mut(body, path) {
            match wanted {
                Some(v) => {
                    parent.insert(field.to_string(), v);
                }
                None => {
                    parent.remove(field);
                }
            }
        }
    }
}

/// The configuration merged from several workspaces.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Merged {
    /// The resources, keyed by the slots' keys.
    pub resources: Resources,
    /// Variables to add to the environment file: name → workspace → value.
    pub variables: BTreeMap<String, BTreeMap<String, Value>>,
    /// What a person should look at (values no variable could hold, objects only some
    /// workspaces have, secrets whose values cannot be compared).
    pub notes: Vec<String>,
    /// IDs no exported object has (see [`Prepared::unresolved`]).
    pub unresolved: Vec<String>,
}

/// Merges what the workspaces hold into one configuration for `environment` (every workspace
/// name of the environment, in its order; `existing`: its variables, reused where one holds
/// exactly the values needed). The first workspace leads: where values differ in a way no
/// variable can say, its value is kept. With one workspace, its objects are exported as they
/// are (role fields included), every secret reading one `{env: SCOPE_KEY}`.
pub fn merge(
    workspaces: &[WorkspaceObjects],
    environment: &[String],
    existing: &BTreeMap<String, Variable>,
) -> Merged {
    let slots = pair(workspaces);
    let prepared = prepare(workspaces, &slots);
    let mut merged = Merged {
        unresolved: prepared.unresolved.clone(),
        ..Merged::default()
    };
    let mut variables = Variables {
        environment,
        existing,
        added: BTreeMap::new(),
    };
    let several = workspaces.len() > 1;
    for (slot, row) in slots.iter().zip(prepared.bodies) {
        let present: Vec<usize> = (0..workspaces.len())
            .filter(|&w| row[w].is_some())
            .collect();
        let mut bodies: Vec<Map<String, Value>> = row.into_iter().flatten().collect();
        let id = format!("{}.{}", slot.kind, slot.key);
        let names = |list: &[usize]| {
            list.iter()
                .map(|&w| workspaces[w].workspace.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let Some((base, others)) = bodies.split_first_mut() else {
            continue;
        };
        let lead = present[0];
        if !workspaces[lead].passive {
            for (body, &w) in others.iter_mut().zip(&present[1..]) {
                if workspaces[w].passive {
                    with_active_role_fields(slot.kind, body, base);
                }
            }
        }
        let values: Vec<Value> = bodies.into_iter().map(Value::Object).collect();
        let refs: Vec<Option<&Value>> = values.iter().map(Some).collect();
        let mut at = |path: &str, found: &[Option<&Value>]| {
            let per: Vec<(&str, &Value)> = present
                .iter()
                .zip(found)
                .filter_map(|(&w, v)| Some((workspaces[w].workspace.as_str(), (*v)?)))
                .collect();
            // tandem's own typed fields hold no references; a value some workspaces lack
            // cannot be a variable either.
            let own_field = matches!(top(path), "permissions" | "acls");
            if !own_field
                && per.len() == found.len()
                && let Some(v) = variables.reference(path, &per)
            {
                return Some(v);
            }
            merged.notes.push(format!(
                "{id}: `{path}` differs between {} in a way a variable cannot say; exported {}'s (`tandem compare` shows both)",
                names(&present),
                workspaces[lead].workspace
            ));
            found[0].cloned()
        };
        let mut value = walk(&refs, "", &mut at).unwrap_or_else(|| json!({}));
        if several && present.len() < workspaces.len() {
            let missing: Vec<usize> = (0..workspaces.len())
                .filter(|w| !present.contains(w))
                .collect();
            if present == [0] && !workspaces[0].passive {
                value["placement"] = json!("active_only");
                merged.notes.push(format!(
                    "{id} exists only in the active workspace {}: exported with `placement: active_only` (remove it to deploy it to every workspace)",
                    workspaces[0].workspace
                ));
            } else {
                merged.notes.push(format!(
                    "{id} exists only in {}, not in {}: exported, so apply creates it there (delete the file or set `placement` if it should not be)",
                    names(&present),
                    names(&missing)
                ));
            }
        }
        if slot.kind == Kind::SecretScopes {
            let keys = union(present.iter().map(|&w| {
                let o = slot.members[w].map(|i| &workspaces[w].objects[i]);
                o.into_iter().flat_map(|o| o.secrets.iter().cloned())
            }));
            let mut secrets = Map::new();
            for key in keys {
                let lacking: Vec<usize> = present
                    .iter()
                    .copied()
                    .filter(|&w| {
                        slot.members[w]
                            .is_some_and(|i| !workspaces[w].objects[i].secrets.contains(&key))
                    })
                    .collect();
                if !lacking.is_empty() {
                    merged.notes.push(format!(
                        "{id}: secret {key} is missing in {}: apply writes it there from its source",
                        names(&lacking)
                    ));
                }
                let source = if several {
                    per_workspace_source(&slot.name, &key, environment)
                } else {
                    json!({"env": placeholder_variable(&slot.name, &key)})
                };
                secrets.insert(key, source);
            }
            if !secrets.is_empty() {
                value["secrets"] = Value::Object(secrets);
            }
        }
        if let Err(e) = merged
            .resources
            .insert_json(slot.kind, slot.key.clone(), value)
        {
            merged.notes.push(format!("{id} was not exported: {e}"));
        }
    }
    if several && !merged.resources.secret_scopes.is_empty() {
        merged.notes.push(
            "secret values cannot be read, so whether they differ between workspaces cannot be told: each workspace reads its own variable ({env: SCOPE_KEY_WORKSPACE}); where the values are the same, one {env: ...} for every workspace will do".into(),
        );
    }
    merged.variables = variables.added;
    merged
}

/// The top-level field of a path (`tasks` of `tasks[a].x`).
fn top(path: &str) -> &str {
    path.split(['.', '[']).next().unwrap_or(path)
}

/// A secret's source per workspace: `{<ws>: {env: SCOPE_KEY_WS}}` for every workspace.
fn per_workspace_source(scope: &str, key: &str, environment: &[String]) -> Value {
    let sources: Map<String, Value> = environment
        .iter()
        .map(|ws| {
            let variable = placeholder_variable(scope, &format!("{key}_{ws}"));
            (ws.clone(), json!({"env": variable}))
        })
        .collect();
    Value::Object(sources)
}

/// The variables a merge uses: the environment file's, and the ones it adds.
struct Variables<'a> {
    environment: &'a [String],
    existing: &'a BTreeMap<String, Variable>,
    added: BTreeMap<String, BTreeMap<String, Value>>,
}

impl Variables<'_> {
    /// The value referring to a variable for the workspaces' differing scalars `per` at `path`
    /// (strings that share a beginning and an end keep them, around the reference), or `None`
    /// when they are not scalars of one type.
    fn reference(&mut self, path: &str, per: &[(&str, &Value)]) -> Option<Value> {
        let field = path
            .rsplit('.')
            .next()
            .unwrap_or(path)
            .split('[')
            .next()
            .unwrap_or_default();
        let strings: Option<Vec<&str>> = per.iter().map(|(_, v)| v.as_str()).collect();
        if let Some(strings) = strings {
            if strings.iter().any(|s| s.contains("${")) {
                return None;
            }
            let (prefix, middles, suffix) = factor(&strings);
            let values = per
                .iter()
                .zip(middles)
                .map(|((ws, _), m)| (ws.to_string(), json!(m)))
                .collect();
            let name = self.name(field, values);
            return Some(json!(format!("{prefix}${{var.{name}}}{suffix}")));
        }
        let numbers = per.iter().all(|(_, v)| v.is_number());
        let booleans = per.iter().all(|(_, v)| v.is_boolean());
        if !(numbers || booleans) {
            return None;
        }
        let values = per
            .iter()
            .map(|(ws, v)| (ws.to_string(), (*v).clone()))
            .collect();
        let name = self.name(field, values);
        Some(json!(format!("${{var.{name}}}")))
    }

    /// The name of a variable holding `values` (workspace → value; a workspace without a value
    /// gets the first one's): an existing or added variable with exactly these values, or a new
    /// one named after `field`.
    fn name(&mut self, field: &str, mut values: BTreeMap<String, Value>) -> String {
        let fallback = self
            .environment
            .iter()
            .find_map(|ws| values.get(ws))
            .or_else(|| values.values().next())
            .cloned()
            .unwrap_or(Value::Null);
        for ws in self.environment {
            values.entry(ws.clone()).or_insert_with(|| fallback.clone());
        }
        let same = |v: &Variable| matches!(v, Variable::PerWorkspace(m) if *m == values);
        if let Some((name, _)) = self.existing.iter().find(|(_, v)| same(v)) {
            return name.clone();
        }
        if let Some((name, _)) = self.added.iter().find(|(_, v)| **v == values) {
            return name.clone();
        }
        let base = variable_name(field);
        let mut name = base.clone();
        let mut n = 2;
        while self.existing.contains_key(&name) || self.added.contains_key(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.added.insert(name.clone(), values);
        name
    }
}

/// A variable name (`[a-z][a-z0-9_]*`) from a field's name.
fn variable_name(field: &str) -> String {
    let mut name = word_characters(field, false);
    if !name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
        name.insert_str(0, "v_");
    }
    name
}

/// Splits strings that differ into what they share at the beginning and at the end (cut at word
/// boundaries: `lake@east.dfs` and `lake@west.dfs` share `lake@` and `.dfs`) and what differs.
fn factor(strings: &[&str]) -> (String, Vec<String>, String) {
    let chars: Vec<Vec<char>> = strings.iter().map(|s| s.chars().collect()).collect();
    let shortest = chars.iter().map(Vec::len).min().unwrap_or(0);
    let word = |c: Option<&char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let mut prefix = 0;
    while prefix < shortest && chars.iter().all(|c| c[prefix] == chars[0][prefix]) {
        prefix += 1;
    }
    // Never inside a word, nor right after a `$` (which would escape the reference).
    while prefix > 0
        && (chars[0][prefix - 1] == '$'
            || word(chars[0].get(prefix - 1)) && chars.iter().any(|c| word(c.get(prefix))))
    {
        prefix -= 1;
    }
    let mut suffix = 0;
    while prefix + suffix < shortest
        && chars
            .iter()
            .all(|c| c[c.len() - 1 - suffix] == chars[0][chars[0].len() - 1 - suffix])
    {
        suffix += 1;
    }
    while suffix > 0 && {
        let cut = |c: &Vec<char>| c.len() - suffix;
        word(chars[0].get(cut(&chars[0])))
            && chars.iter().any(|c| cut(c) > 0 && word(c.get(cut(c) - 1)))
    } {
        suffix -= 1;
    }
    let text = |c: &[char]| c.iter().collect::<String>();
    let middles = chars
        .iter()
        .map(|c| text(&c[prefix..c.len() - suffix]))
        .collect();
    (
        text(&chars[0][..prefix]),
        middles,
        text(&chars[0][chars[0].len() - suffix..]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Principal;

    fn object(kind: Kind, id: &str, name: &str, body: Value) -> Observed {
        Observed {
            kind,
            id: id.into(),
            name: name.into(),
            managed_key: None,
            body: body.as_object().cloned().expect("object"),
            grants: Vec::new(),
            secrets: BTreeSet::new(),
        }
    }

    fn job(id: &str, name: &str, cluster: &str, root: &str, runs: u32, paused: bool) -> Observed {
        let pause = if paused { "PAUSED" } else { "UNPAUSED" };
        object(
            Kind::Jobs,
            id,
            name,
            json!({"name": name, "max_concurrent_runs": runs,
                   "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC", "pause_status": pause},
                   "tasks": [{"task_key": "ingest", "existing_cluster_id": cluster,
                              "notebook_task": {"notebook_path": "/Repos/etl/ingest", "base_parameters": {"root": root}}}]}),
        )
    }

    fn cluster(id: &str, workers: u32) -> Observed {
        object(
            Kind::Clusters,
            id,
            "Shared",
            json!({"cluster_name": "Shared", "spark_version": "15.4", "num_workers": workers}),
        )
    }

    fn scope(keys: &[&str]) -> Observed {
        let mut s = object(
            Kind::SecretScopes,
            "etl",
            "etl",
            json!({"name": "etl", "acls": [{"principal": "data-eng", "permission": "READ"}]}),
        );
        s.secrets = keys.iter().map(|k| k.to_string()).collect();
        s
    }

    fn pair_of(primary: Vec<Observed>, secondary: Vec<Observed>) -> Vec<WorkspaceObjects> {
        vec![
            WorkspaceObjects {
                workspace: "primary".into(),
                passive: false,
                objects: primary,
            },
            WorkspaceObjects {
                workspace: "secondary".into(),
                passive: true,
                objects: secondary,
            },
        ]
    }

    fn names() -> Vec<String> {
        vec!["primary".into(), "secondary".into()]
    }

    #[test]
    fn a_path_that_differs_becomes_a_per_workspace_variable_and_role_fields_do_not() {
        let east = "abfss://lake@east.dfs.core.windows.net/raw";
        let west = "abfss://lake@west.dfs.core.windows.net/raw";
        let workspaces = pair_of(
            vec![
                job("1", "Nightly", "c-east", east, 2, false),
                cluster("c-east", 2),
            ],
            vec![
                job("9", "Nightly", "c-west", west, 0, true),
                cluster("c-west", 4),
            ],
        );
        let merged = merge(&workspaces, &names(), &BTreeMap::new());

        let nightly = &merged.resources.jobs["nightly"].settings;
        assert_eq!(
            nightly["tasks"][0]["notebook_task"]["base_parameters"]["root"],
            "abfss://lake@${var.root}.dfs.core.windows.net/raw"
        );
        // IDs became references in each workspace, so they agree.
        assert_eq!(
            nightly["tasks"][0]["existing_cluster_id"],
            "${resources.clusters.shared.id}"
        );
        // The passive side's zero and pause are tandem's, not a difference.
        assert_eq!(nightly["max_concurrent_runs"], 2);
        assert!(nightly["schedule"].get("pause_status").is_none());
        assert_eq!(
            merged.resources.clusters["shared"].spec["num_workers"],
            "${var.num_workers}"
        );
        assert_eq!(
            merged.variables,
            BTreeMap::from([
                (
                    "root".to_string(),
                    BTreeMap::from([
                        ("primary".to_string(), json!("east")),
                        ("secondary".to_string(), json!("west"))
                    ])
                ),
                (
                    "num_workers".to_string(),
                    BTreeMap::from([
                        ("primary".to_string(), json!(2)),
                        ("secondary".to_string(), json!(4))
                    ])
                ),
            ])
        );
        assert!(merged.notes.is_empty(), "{:?}", merged.notes);
    }

    #[test]
    fn an_existing_variable_with_the_same_values_is_reused_and_names_never_clash() {
        let workspaces = pair_of(
            vec![
                job("1", "A", "c", "/mnt/east/a", 1, false),
                job("2", "B", "c", "/mnt/east/b", 1, false),
            ],
            vec![
                job("8", "A", "c", "/mnt/west/a", 0, true),
                job("9", "B", "c", "/mnt/west/b", 0, true),
            ],
        );
        let region = Variable::PerWorkspace(BTreeMap::from([
            ("primary".to_string(), json!("east")),
            ("secondary".to_string(), json!("west")),
        ]));
        let root = Variable::Uniform(json!("/elsewhere"));
        let existing = BTreeMap::from([("region".to_string(), region), ("root".to_string(), root)]);
        let merged = merge(&workspaces, &names(), &existing);
        for key in ["a", "b"] {
            let root = &merged.resources.jobs[key].settings["tasks"][0]["notebook_task"]["base_parameters"]
                ["root"];
            assert_eq!(root, &json!(format!("/mnt/${{var.region}}/{key}")));
        }
        assert!(merged.variables.is_empty(), "{:?}", merged.variables);

        let mut other = existing.clone();
        other.remove("region");
        let merged = merge(&workspaces, &names(), &other);
        assert_eq!(
            merged.variables.keys().collect::<Vec<_>>(),
            ["root_2"],
            "one variable for both jobs, named around the existing `root`"
        );
    }

    #[test]
    fn values_no_variable_can_hold_keep_the_first_workspaces_with_a_note() {
        let mut with_timeout = job("9", "Nightly", "c", "/r", 0, true);
        with_timeout
            .body
            .insert("timeout_seconds".into(), json!(60));
        let mut p = job("1", "Nightly", "c", "/r", 1, false);
        p.grants = vec![Grant {
            principal: Principal::GroupName("data-eng".into()),
            level: "CAN_VIEW".into(),
        }];
        let mut s_grants = with_timeout.clone();
        s_grants.grants = vec![Grant {
            principal: Principal::GroupName("analysts".into()),
            level: "CAN_VIEW".into(),
        }];
        // A passive job's grants are tandem's to hold back: the same grants as the active's.
        let merged = merge(
            &pair_of(vec![p.clone()], vec![s_grants]),
            &names(),
            &BTreeMap::new(),
        );
        let nightly = &merged.resources.jobs["nightly"];
        assert_eq!(nightly.permissions.len(), 1);
        assert!(nightly.settings.get("timeout_seconds").is_none());
        assert_eq!(merged.notes.len(), 1, "{:?}", merged.notes);
        assert!(
            merged.notes[0]
                .starts_with("jobs.nightly: `timeout_seconds` differs between primary, secondary"),
            "{:?}",
            merged.notes
        );
        // Between two active-looking workspaces (the first passive), grants are compared.
        let mut workspaces = pair_of(vec![p], vec![with_timeout]);
        workspaces[0].passive = true;
        let merged = merge(&workspaces, &names(), &BTreeMap::new());
        assert!(
            merged.notes.iter().any(|n| n.contains("`permissions`")),
            "{:?}",
            merged.notes
        );
    }

    #[test]
    fn objects_only_some_workspaces_hold_are_placed_or_noted() {
        let only_active = object(Kind::Jobs, "5", "Backfill", json!({"name": "Backfill"}));
        let only_passive = object(Kind::Jobs, "6", "DR drill", json!({"name": "DR drill"}));
        let merged = merge(
            &pair_of(vec![only_active], vec![only_passive]),
            &names(),
            &BTreeMap::new(),
        );
        assert_eq!(
            merged.resources.jobs["backfill"].placement,
            crate::model::Placement::ActiveOnly
        );
        assert_eq!(
            merged.resources.jobs["dr_drill"].placement,
            crate::model::Placement::Both
        );
        assert_eq!(merged.notes.len(), 2, "{:?}", merged.notes);
        assert!(merged.notes[1].contains("jobs.dr_drill exists only in secondary, not in primary"));
    }

    #[test]
    fn secrets_get_a_source_per_workspace_when_several_are_read() {
        let merged = merge(
            &pair_of(
                vec![scope(&["api_key"])],
                vec![scope(&["api_key", "west_only"])],
            ),
            &names(),
            &BTreeMap::new(),
        );
        let etl = serde_json::to_value(&merged.resources.secret_scopes["etl"]).expect("json");
        assert_eq!(
            etl["secrets"]["api_key"],
            json!({"primary": {"env": "ETL_API_KEY_PRIMARY"}, "secondary": {"env": "ETL_API_KEY_SECONDARY"}})
        );
        assert!(etl["secrets"].get("west_only").is_some());
        assert!(
            merged.notes.contains(&"secret_scopes.etl: secret west_only is missing in primary: apply writes it there from its source".to_string()),
            "{:?}",
            merged.notes
        );
        assert_eq!(etl["acls"][0]["principal"], "data-eng");
        assert!(merged.notes.iter().any(|n| n.contains("cannot be read")));

        // One workspace: one source, as ever.
        let single = vec![pair_of(vec![scope(&["k"])], vec![]).remove(0)];
        let merged = merge(&single, &names(), &BTreeMap::new());
        let etl = serde_json::to_value(&merged.resources.secret_scopes["etl"]).expect("json");
        assert_eq!(etl["secrets"]["k"], json!({"env": "ETL_K"}));
        assert!(merged.notes.is_empty(), "{:?}", merged.notes);
    }

    #[test]
    fn managed_objects_pair_by_key_and_look_alikes_by_name() {
        let mut managed = object(Kind::Jobs, "1", "ETL east", json!({"name": "ETL east"}));
        managed.managed_key = Some("etl".into());
        let mut managed_west = object(Kind::Jobs, "2", "ETL west", json!({"name": "ETL west"}));
        managed_west.managed_key = Some("etl".into());
        let lookalike = object(Kind::Jobs, "3", "ETL east", json!({"name": "ETL east"}));
        let workspaces = vec![
            WorkspaceObjects {
                workspace: "a".into(),
                passive: false,
                objects: vec![managed],
            },
            WorkspaceObjects {
                workspace: "b".into(),
                passive: true,
                objects: vec![managed_west],
            },
            WorkspaceObjects {
                workspace: "c".into(),
                passive: true,
                objects: vec![lookalike],
            },
        ];
        let slots = pair(&workspaces);
        assert_eq!(slots.len(), 1, "{slots:?}");
        assert_eq!(slots[0].key, "etl");
        assert_eq!(slots[0].members, [Some(0), Some(0), Some(0)]);
    }

    #[test]
    fn strings_are_cut_at_word_boundaries() {
        assert_eq!(
            factor(&[
                "abfss://lake@east.dfs.net/raw",
                "abfss://lake@west.dfs.net/raw"
            ]),
            (
                "abfss://lake@".into(),
                vec!["east".into(), "west".into()],
                ".dfs.net/raw".into()
            )
        );
        assert_eq!(
            factor(&["10", "12"]),
            (String::new(), vec!["10".into(), "12".into()], String::new())
        );
        assert_eq!(
            factor(&["cost$a", "cost$b"]),
            ("cost".into(), vec!["$a".into(), "$b".into()], "".into())
        );
        assert_eq!(
            factor(&["/mnt/data", "/mnt/data-dr"]),
            ("/mnt/data".into(), vec!["".into(), "-dr".into()], "".into())
        );
    }

    #[test]
    fn keyed_lists_are_walked_entry_by_entry() {
        let a = json!({"tasks": [{"task_key": "x", "n": 1}, {"task_key": "y", "n": 2}]});
        let b = json!({"tasks": [{"task_key": "y", "n": 3}, {"task_key": "x", "n": 1}]});
        let mut seen = Vec::new();
        let kept = walk(&[Some(&a), Some(&b)], "", &mut |path, values| {
            seen.push((
                path.to_string(),
                values.iter().map(|v| v.cloned()).collect::<Vec<_>>(),
            ));
            values[0].cloned()
        });
        assert_eq!(
            seen,
            [(
                "tasks[y].n".to_string(),
                vec![Some(json!(2)), Some(json!(3))]
            )]
        );
        assert_eq!(kept, Some(a));
    }
}
