//! All-purpose clusters: tagged with `custom_tags`, edited whole by `clusters/edit`.

use super::{KindSpec, whole_object};
use crate::model::Kind;

/// What tandem knows of clusters.
pub const SPEC: KindSpec = KindSpec {
    kind: Kind::Clusters,
    singular: "cluster",
    tags_field: Some("custom_tags"),
    id_field: "cluster_id",
    name_field: "cluster_name",
    numeric_id: false,
    editable: None,
    permissions_type: Some("clusters"),
    permission_levels: &["CAN_ATTACH_TO", "CAN_RESTART", "CAN_MANAGE"],
    schema: include_str!("../../schemas/cluster.schema.json"),
    edit_body: whole_object,
};
