//! All-purpose clusters: tagged with `custom_tags`, edited whole by `clusters/edit`; terminated
//! on a passive workspace.

use serde_json::{Value, json};

use super::{KindSpec, whole_object};
use crate::model::passive::{ClusterTarget, Override, OverrideSource};
use crate::model::{Cluster, ClusterState, Kind, ResourceId};

/// What tandem knows of clusters.
pub const SPEC: KindSpec = KindSpec {
    kind: Kind::Clusters,
    singular: "cluster",
    counted: ("cluster", "clusters"),
    hcl_block: "cluster",
    tags_field: Some("custom_tags"),
    id_field: "cluster_id",
    name_field: "cluster_name",
    numeric_id: false,
    editable: None,
    permissions_type: Some("clusters"),
    permission_levels: &["CAN_ATTACH_TO", "CAN_RESTART", "CAN_MANAGE"],
    schema: include_str!("../../schemas/cluster.schema.json"),
    drop_own_defaults: super::no_own_defaults,
    edit_body: whole_object,
    role_fields: &[],
};

/// Whether `cluster` runs on a passive workspace: terminated, unless its `passive:` block says
/// otherwise. Recorded in `overrides`.
pub fn passive_target(
    key: &str,
    cluster: &Cluster,
    overrides: &mut Vec<Override>,
) -> ClusterTarget {
    let (target, source) = match cluster.passive.as_ref().and_then(|p| p.state) {
        Some(ClusterState::Running) => (ClusterTarget::Running, OverrideSource::PassiveBlock),
        Some(ClusterState::Terminated) => (ClusterTarget::Terminated, OverrideSource::PassiveBlock),
        None => (ClusterTarget::Terminated, OverrideSource::Passive),
    };
    overrides.push(Override {
        resource: ResourceId {
            kind: Kind::Clusters,
            key: key.to_string(),
        },
        field: "state".into(),
        configured: Value::Null,
        applied: json!(if target == ClusterTarget::Running {
            "RUNNING"
        } else {
            "TERMINATED"
        }),
        source,
    });
    target
}
