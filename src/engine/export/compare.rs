//! `compare`'s pure part: two workspaces' objects paired and made configuration as export makes
//! them (IDs of paired objects as references, server defaults and tandem's tags dropped), the
//! fields tandem sets by role dropped too, then walked side by side.

use serde_json::{Value, json};

use super::merge::{WorkspaceObjects, pair, prepare, walk, without_role_fields};
use crate::model::{Kind, ResourceId};
use crate::plan::report::{FieldDifference, ObjectDifference};

/// What a secret key holds in a compared body: values cannot be read, only keys compared.
const UNREADABLE: &str = "(secret)";

/// Every object that differs between the two workspaces: held by one only, fields that differ,
/// or managed by tandem in one only. In reading order (jobs, clusters, pools, scopes), by key.
pub fn differences(workspaces: &[WorkspaceObjects; 2]) -> Vec<ObjectDifference> {
    let slots = pair(workspaces);
    let prepared = prepare(workspaces, &slots);
    let mut out = Vec::new();
    for (slot, row) in slots.iter().zip(prepared.bodies) {
        let objects: Vec<_> = (0..2)
            .map(|w| slot.members[w].map(|i| &workspaces[w].objects[i]))
            .collect();
        let managed_in: Vec<String> = (0..2)
            .filter(|&w| objects[w].is_some_and(|o| o.managed_key.is_some()))
            .map(|w| workspaces[w].workspace.clone())
            .collect();
        let values: Vec<Option<Value>> = row
            .into_iter()
            .zip(&objects)
            .map(|(body, object)| {
                let mut body = body?;
                without_role_fields(slot.kind, &mut body);
                let secrets = object.map(|o| &o.secrets).filter(|s| !s.is_empty());
                if let Some(secrets) = secrets {
                    let keys = secrets.iter().map(|k| (k.clone(), json!(UNREADABLE)));
                    body.insert("secrets".into(), Value::Object(keys.collect()));
                }
                Some(Value::Object(body))
            })
            .collect();
        let only_in = match (&values[0], &values[1]) {
            (Some(_), None) => Some(workspaces[0].workspace.clone()),
            (None, Some(_)) => Some(workspaces[1].workspace.clone()),
            _ => None,
        };
        let mut fields = Vec::new();
        if only_in.is_none() {
            let refs: Vec<Option<&Value>> = values.iter().map(Option::as_ref).collect();
            walk(&refs, "", &mut |path, found| {
                fields.push(FieldDifference {
                    path: path.to_string(),
                    a: found[0].cloned().unwrap_or(Value::Null),
                    b: found[1].cloned().unwrap_or(Value::Null),
                });
                found[0].cloned()
            });
        }
        // Managed on one side only (a look-alike of tandem's object) is a difference too.
        let one_sided = only_in.is_none() && managed_in.len() == 1;
        if only_in.is_some() || !fields.is_empty() || one_sided {
            out.push(ObjectDifference {
                resource: ResourceId {
                    kind: slot.kind,
                    key: slot.key.clone(),
                },
                name: slot.name.clone(),
                only_in,
                managed_in,
                fields,
            });
        }
    }
    let order: Vec<Kind> = Kind::reading_order().collect();
    out.sort_by_key(|d| {
        let kind = order.iter().position(|k| *k == d.resource.kind);
        (kind, d.resource.key.clone())
    });
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::engine::export::Observed;

    fn job(id: &str, name: &str, cluster: &str, root: &str, passive: bool) -> Observed {
        Observed {
            kind: Kind::Jobs,
            id: id.into(),
            name: name.into(),
            managed_key: None,
            body: json!({"name": name, "max_concurrent_runs": if passive { 0 } else { 3 },
                         "tasks": [{"task_key": "t", "existing_cluster_id": cluster,
                                    "notebook_task": {"notebook_path": "/x", "base_parameters": {"root": root}}}]})
            .as_object()
            .cloned()
            .expect("object"),
            grants: Vec::new(),
            secrets: BTreeSet::new(),
        }
    }

    fn cluster(id: &str, managed: bool) -> Observed {
        Observed {
            kind: Kind::Clusters,
            id: id.into(),
            name: "Shared".into(),
            managed_key: managed.then(|| "shared".to_string()),
            body: json!({"cluster_name": "Shared", "num_workers": 1})
                .as_object()
                .cloned()
                .expect("object"),
            grants: Vec::new(),
            secrets: BTreeSet::new(),
        }
    }

    fn scope(keys: &[&str]) -> Observed {
        Observed {
            kind: Kind::SecretScopes,
            id: "etl".into(),
            name: "etl".into(),
            managed_key: None,
            body: json!({"name": "etl"}).as_object().cloned().expect("object"),
            grants: Vec::new(),
            secrets: keys.iter().map(|k| k.to_string()).collect(),
        }
    }

    #[test]
    fn lists_objects_held_by_one_side_fields_that_differ_and_one_sided_management() {
        let a = WorkspaceObjects {
            workspace: "primary".into(),
            passive: false,
            objects: vec![
                job("1", "Ingest", "c1", "east", false),
                job("2", "Same", "c1", "x", false),
                job("3", "Backfill", "c1", "x", false),
                cluster("c1", true),
                scope(&["api_key", "old"]),
            ],
        };
        let b = WorkspaceObjects {
            workspace: "secondary".into(),
            passive: true,
            objects: vec![
                job("7", "Ingest", "c9", "west", true),
                job("8", "Same", "c9", "x", true),
                cluster("c9", false),
                scope(&["api_key"]),
            ],
        };
        let found = differences(&[a, b]);
        let summary: Vec<String> = found
            .iter()
            .map(|d| {
                format!(
                    "{} only_in={:?} managed_in={:?} fields={:?}",
                    d.resource,
                    d.only_in,
                    d.managed_in,
                    d.fields.iter().map(|f| f.path.as_str()).collect::<Vec<_>>()
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                "jobs.backfill only_in=Some(\"primary\") managed_in=[] fields=[]",
                "jobs.ingest only_in=None managed_in=[] fields=[\"tasks[t].notebook_task.base_parameters.root\"]",
                "clusters.shared only_in=None managed_in=[\"primary\"] fields=[]",
                "secret_scopes.etl only_in=None managed_in=[] fields=[\"secrets.old\"]",
            ]
        );
        // The cluster IDs became the same reference, the passive zero is tandem's: not listed.
        assert_eq!(found[1].fields[0].a, "east");
        assert_eq!(found[1].fields[0].b, "west");
        assert_eq!(found[3].fields[0].b, Value::Null);
    }
}
