//! Instance pools: tagged with `custom_tags`; `instance-pools/edit` takes some fields only, so a
//! change to any other one replaces the pool.

use super::{KindSpec, editable_fields};
use crate::model::Kind;

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
    tags_field: Some("custom_tags"),
    id_field: "instance_pool_id",
    name_field: "instance_pool_name",
    numeric_id: false,
    editable: Some(EDITABLE),
    permissions_type: Some("instance-pools"),
    permission_levels: &["CAN_ATTACH_TO", "CAN_MANAGE"],
    schema: include_str!("../../schemas/instance_pool.schema.json"),
    edit_body: editable_fields,
};
