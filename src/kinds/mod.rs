//! One home per resource kind: what tandem knows of each kind of workspace object — the field
//! holding its tags (tandem's ownership mark), its ID, the fields its edit takes and how an edit
//! is written, its permissions object type and levels, its schema, the defaults export drops,
//! and what a passive workspace holds of it. Pure data and pure functions: planning, applying,
//! exporting and validating read them here instead of naming kinds.
//!
//! A new kind adds a module here, its line in `model`'s `kinds!` table and its typed struct,
//! its client endpoints (`client::api`), its entry in `engine::objects`, its schema, its
//! emulator routes and its tests.

pub mod clusters;
pub mod instance_pools;
pub mod jobs;
pub mod secret_scopes;

use serde_json::{Map, Value, json};

use crate::model::Kind;

/// What tandem knows of one kind.
#[derive(Debug)]
pub struct KindSpec {
    /// The kind.
    pub kind: Kind,
    /// The singular noun for messages (`job`).
    pub singular: &'static str,
    /// The short nouns counting objects of the kind in summaries (`pool`, `pools`).
    pub counted: (&'static str, &'static str),
    /// The HCL block declaring one (`job "etl" { ... }`).
    pub hcl_block: &'static str,
    /// The field of the API object holding tandem's tags (None: the kind carries no tags, and
    /// the state record says which objects are tandem's).
    pub tags_field: Option<&'static str>,
    /// The field holding the object's ID in API bodies.
    pub id_field: &'static str,
    /// The field holding the object's display name.
    pub name_field: &'static str,
    /// IDs are numbers in API bodies (a job's), not text.
    pub numeric_id: bool,
    /// The fields the kind's edit accepts (None: every field); a change elsewhere means
    /// delete and create.
    pub editable: Option<&'static [&'static str]>,
    /// The object type of the Permissions API (None: the kind has ACLs instead).
    pub permissions_type: Option<&'static str>,
    /// Permission levels, lowest first.
    pub permission_levels: &'static [&'static str],
    /// The JSON Schema of the kind's configuration (`schemas/<kind>.schema.json`).
    pub schema: &'static str,
    /// Drops, from an exported object (or any map inside it), the values the service fills in
    /// by itself for this kind only (the defaults every kind shares are dropped by export).
    pub drop_own_defaults: fn(body: &mut Map<String, Value>),
    /// The body of the kind's edit of the live object `id` to `body` (desired and tagged).
    pub edit_body: fn(spec: &KindSpec, id: &str, body: Map<String, Value>) -> Value,
    /// Fields (dotted paths) whose values tandem sets by the workspace's role: an active and a
    /// passive workspace hold different values there by design (export and compare look past
    /// them).
    pub role_fields: &'static [&'static str],
}

impl KindSpec {
    /// `id` as the API's bodies hold it (a number for jobs).
    pub fn id_value(&self, id: &str) -> Value {
        if self.numeric_id {
            id.parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(id))
        } else {
            json!(id)
        }
    }

    /// Whether a change to the top-level field `field` can be made by an edit.
    pub fn can_edit(&self, field: &str) -> bool {
        self.editable.is_none_or(|fields| fields.contains(&field))
    }
}

impl Kind {
    /// What tandem knows of this kind.
    pub fn spec(self) -> &'static KindSpec {
        match self {
            Kind::Jobs => &jobs::SPEC,
            Kind::Clusters => &clusters::SPEC,
            Kind::InstancePools => &instance_pools::SPEC,
            Kind::SecretScopes => &secret_scopes::SPEC,
        }
    }

    /// The kinds whose objects carry tandem's tags and have IDs, in apply order.
    pub fn tagged() -> impl DoubleEndedIterator<Item = Kind> {
        Kind::ALL
            .into_iter()
            .filter(|k| k.spec().tags_field.is_some())
    }
}

impl Kind {
    /// Every kind in the order people read them: jobs, then the clusters and pools they use,
    /// then the kinds without tags (secret scopes). Summaries, help and written files use it.
    pub fn reading_order() -> impl Iterator<Item = Kind> {
        Kind::tagged().rev().chain(
            Kind::ALL
                .into_iter()
                .filter(|k| k.spec().tags_field.is_none()),
        )
    }
}

/// No defaults of the kind's own.
fn no_own_defaults(_body: &mut Map<String, Value>) {}

/// An edit body holding the whole object and its ID (an edit that replaces every field).
fn whole_object(spec: &KindSpec, id: &str, mut edit: Map<String, Value>) -> Value {
    edit.insert(spec.id_field.into(), spec.id_value(id));
    Value::Object(edit)
}

/// An edit body holding the editable fields only, and the ID.
fn editable_fields(spec: &KindSpec, id: &str, mut edit: Map<String, Value>) -> Value {
    edit.retain(|k, _| spec.can_edit(k));
    edit.insert(spec.id_field.into(), spec.id_value(id));
    Value::Object(edit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_spec() {
        for kind in Kind::ALL {
            assert_eq!(kind.spec().kind, kind);
        }
        assert_eq!(
            Kind::tagged().collect::<Vec<_>>(),
            [Kind::InstancePools, Kind::Clusters, Kind::Jobs]
        );
    }

    #[test]
    fn edits_are_written_the_way_each_kind_takes_them() {
        let Value::Object(body) = json!({"name": "n", "node_type_id": "x", "custom_tags": {}})
        else {
            unreachable!()
        };
        let jobs = Kind::Jobs.spec();
        assert_eq!(
            (jobs.edit_body)(jobs, "42", body.clone()),
            json!({"job_id": 42, "new_settings": body})
        );
        let clusters = Kind::Clusters.spec();
        let mut cluster = body.clone();
        cluster.insert("cluster_id".into(), json!("0101-x"));
        assert_eq!(
            (clusters.edit_body)(clusters, "0101-x", body.clone()),
            Value::Object(cluster)
        );
        let pools = Kind::InstancePools.spec();
        assert_eq!(
            (pools.edit_body)(pools, "p-1", body.clone()),
            json!({"node_type_id": "x", "custom_tags": {}, "instance_pool_id": "p-1"}),
            "a pool's edit takes its editable fields only"
        );
        assert!(!pools.can_edit("name"));
        assert!(clusters.can_edit("spark_version"));
    }
}
