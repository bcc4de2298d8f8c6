//! Jobs: tagged with `tags`, edited by `jobs/reset` (the whole settings), numeric IDs; on a
//! passive workspace no run starts (`max_concurrent_runs: 0`, every schedule, trigger and
//! continuous setting paused) and only the owner's grant is applied.

use serde_json::{Map, Value, json};

use super::KindSpec;
use crate::model::passive::{Override, OverrideSource};
use crate::model::{Job, Kind, PassivePermissions, PauseStatus, ResourceId};

/// What tandem knows of jobs.
pub const SPEC: KindSpec = KindSpec {
    kind: Kind::Jobs,
    singular: "job",
    counted: ("job", "jobs"),
    hcl_block: "job",
    tags_field: Some("tags"),
    id_field: "job_id",
    name_field: "name",
    numeric_id: true,
    editable: None,
    permissions_type: Some("jobs"),
    permission_levels: &["CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE", "IS_OWNER"],
    schema: include_str!("../../schemas/job.schema.json"),
    drop_own_defaults: super::no_own_defaults,
    edit_body: reset,
    role_fields: &[
        "max_concurrent_runs",
        "schedule.pause_status",
        "trigger.pause_status",
        "continuous.pause_status",
        "permissions",
    ],
};

/// `jobs/reset` takes the job's ID and every setting (`new_settings`).
fn reset(spec: &KindSpec, id: &str, body: Map<String, Value>) -> Value {
    json!({"job_id": spec.id_value(id), "new_settings": body})
}

/// The settings that start runs by themselves: paused on a passive workspace.
const SCHEDULING: [&str; 3] = ["schedule", "trigger", "continuous"];

/// Whether a passive workspace holds back some of this job's grants, so that they differ
/// between the roles and every change of role rewrites them.
pub fn holds_back_grants(job: &Job) -> bool {
    let hold = job
        .passive
        .as_ref()
        .and_then(|p| p.permissions)
        .unwrap_or(PassivePermissions::OwnerOnly)
        == PassivePermissions::OwnerOnly;
    hold && job.permissions.iter().any(|p| !p.is_owner())
}

/// Makes `job` passive: no concurrent run, every schedule paused, grants held back but the
/// owner's — unless its `passive:` block says otherwise. Each change is recorded in `overrides`.
pub fn make_passive(key: &str, job: &mut Job, overrides: &mut Vec<Override>) {
    let passive = job.passive.clone().unwrap_or_default();
    let resource = ResourceId {
        kind: Kind::Jobs,
        key: key.to_string(),
    };
    let (runs, source) = match passive.max_concurrent_runs {
        Some(n) => (n, OverrideSource::PassiveBlock),
        None => (0, OverrideSource::Passive),
    };
    let configured = job
        .settings
        .get("max_concurrent_runs")
        .cloned()
        .unwrap_or(json!(1));
    if configured != json!(runs) || source == OverrideSource::PassiveBlock {
        overrides.push(Override {
            resource: resource.clone(),
            field: "max_concurrent_runs".into(),
            configured,
            applied: json!(runs),
            source,
        });
    }
    // Written even when equal: a zero must reach the API, never be left to a default.
    job.settings
        .insert("max_concurrent_runs".into(), json!(runs));
    let (pause, source) = match passive.pause_status {
        Some(p) => (p, OverrideSource::PassiveBlock),
        None => (PauseStatus::Paused, OverrideSource::Passive),
    };
    let pause_text = if pause == PauseStatus::Paused {
        "PAUSED"
    } else {
        "UNPAUSED"
    };
    for field in SCHEDULING {
        if let Some(Value::Object(block)) = job.settings.get_mut(field) {
            let configured = block
                .get("pause_status")
                .cloned()
                .unwrap_or(json!("UNPAUSED"));
            if configured != json!(pause_text) || source == OverrideSource::PassiveBlock {
                overrides.push(Override {
                    resource: resource.clone(),
                    field: format!("{field}.pause_status"),
                    configured,
                    applied: json!(pause_text),
                    source,
                });
            }
            block.insert("pause_status".into(), json!(pause_text));
        }
    }
    let hold = holds_back_grants(job);
    if !hold
        && passive.permissions == Some(PassivePermissions::All)
        && job.permissions.iter().any(|p| !p.is_owner())
    {
        // The plan says why this job's grants are not held back.
        let all = serde_json::to_value(&job.permissions).unwrap_or(Value::Null);
        overrides.push(Override {
            resource: resource.clone(),
            field: "permissions".into(),
            configured: all.clone(),
            applied: all,
            source: OverrideSource::PassiveBlock,
        });
    }
    if hold {
        let configured = serde_json::to_value(&job.permissions).unwrap_or(Value::Null);
        job.permissions.retain(|p| p.is_owner());
        overrides.push(Override {
            resource: resource.clone(),
            field: "permissions".into(),
            configured,
            applied: serde_json::to_value(&job.permissions).unwrap_or(Value::Null),
            source: OverrideSource::Passive,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_paused_setting_is_a_role_field() {
        for field in SCHEDULING {
            let path = format!("{field}.pause_status");
            assert!(SPEC.role_fields.contains(&path.as_str()), "{path}");
        }
        assert!(SPEC.role_fields.contains(&"max_concurrent_runs"));
    }
}
