//! Instance pools: tagged with `custom_tags`; `instance-pools/edit` takes some fields only, so a
//! change to any other one replaces the pool; a passive workspace keeps no idle instance.

use serde_json::json;

use super::{KindSpec, editable_fields};
use crate::model::passive::{Override, OverrideSource};
use crate::model::{InstancePool, Kind, ResourceId};

/// Pool fields `instance-pools/edit` accepts.
pub const EDITABLE: &[&str] = &[
    "instance_pool_name",
    "node_type_id",
    "custom_tags",
    "min_idle_instances",
    "max_capacity",
    "idle_instance_autotermination_minutes",
    "remote_disk_throughput",
    "total_initial_remote_disk_size",
];

/// What tandem knows of instance pools.
pub const SPEC: KindSpec = KindSpec {
    kind: Kind::InstancePools,
    singular: "instance pool",
    counted: ("pool", "pools"),
    hcl_block: "instance_pool",
    tags_field: Some("custom_tags"),
    id_field: "instance_pool_id",
    name_field: "instance_pool_name",
    numeric_id: false,
    editable: Some(EDITABLE),
    permissions_type: Some("instance-pools"),
    permission_levels: &["CAN_ATTACH_TO", "CAN_MANAGE"],
    schema: include_str!("../../schemas/instance_pool.schema.json"),
    drop_own_defaults,
    edit_body: editable_fields,
    role_fields: &["min_idle_instances"],
};

/// A pool's instances terminate after 60 idle minutes unless told otherwise.
fn drop_own_defaults(body: &mut serde_json::Map<String, serde_json::Value>) {
    if body.get("idle_instance_autotermination_minutes") == Some(&json!(60)) {
        body.remove("idle_instance_autotermination_minutes");
    }
}

/// Makes `pool` passive: no idle instance (unless its `passive:` block says how many).
pub fn make_passive(key: &str, pool: &mut InstancePool, overrides: &mut Vec<Override>) {
    let (idle, source) = match pool.passive.as_ref().and_then(|p| p.min_idle_instances) {
        Some(n) => (n, OverrideSource::PassiveBlock),
        None => (0, OverrideSource::Passive),
    };
    let configured = pool
        .spec
        .get("min_idle_instances")
        .cloned()
        .unwrap_or(json!(0));
    if configured != json!(idle) || source == OverrideSource::PassiveBlock {
        overrides.push(Override {
            resource: ResourceId {
                kind: Kind::InstancePools,
                key: key.to_string(),
            },
            field: "min_idle_instances".into(),
            configured,
            applied: json!(idle),
            source,
        });
    }
    pool.spec.insert("min_idle_instances".into(), json!(idle));
}
