//! Jobs: tagged with `tags`, edited by `jobs/reset` (the whole settings), numeric IDs.

use serde_json::{Map, Value, json};

use super::KindSpec;
use crate::model::Kind;

/// What tandem knows of jobs.
pub const SPEC: KindSpec = KindSpec {
    kind: Kind::Jobs,
    singular: "job",
    tags_field: Some("tags"),
    id_field: "job_id",
    name_field: "name",
    numeric_id: true,
    editable: None,
    permissions_type: Some("jobs"),
    permission_levels: &["CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE", "IS_OWNER"],
    schema: include_str!("../../schemas/job.schema.json"),
    edit_body: reset,
};

/// `jobs/reset` takes the job's ID and every setting (`new_settings`).
fn reset(spec: &KindSpec, id: &str, body: &Map<String, Value>) -> Value {
    json!({"job_id": spec.id_value(id), "new_settings": body})
}
