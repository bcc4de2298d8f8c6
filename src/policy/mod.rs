//! The role step: what a workspace must hold given its role ([`desired_for`]: placement,
//! substitution and overrides together). Pure.
//!
//! On a passive workspace tandem forces jobs to `max_concurrent_runs: 0` with every schedule,
//! trigger and continuous setting paused, holds back all job permissions but the owner's, keeps
//! pools at `min_idle_instances: 0` and clusters terminated. These win over the resource's own
//! fields; only the resource's `passive:` block changes them. Every override is recorded so the
//! plan can show it.

mod role_step;

pub use role_step::{RoleStepError, desired_for, resolved_for};

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::model::{
    ClusterState, Job, Kind, PassivePermissions, PauseStatus, ResourceId, Resources, Role,
};

/// Why a value differs from the resource's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverrideSource {
    /// tandem's built-in passive value.
    Passive,
    /// The resource's own `passive:` block.
    PassiveBlock,
}

/// One field set differently from the resource's config because of the workspace's role.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Override {
    /// The resource.
    pub resource: ResourceId,
    /// The field (`max_concurrent_runs`, `schedule.pause_status`, `permissions`, `state`).
    pub field: String,
    /// The value the config gives (null when unset).
    pub configured: Value,
    /// The value applied on this workspace.
    pub applied: Value,
    /// Built-in or the resource's `passive:` block.
    pub source: OverrideSource,
}

/// Whether tandem keeps a cluster running or terminated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterTarget {
    /// Left as it is (active workspaces: people start and stop interactive clusters).
    AsIs,
    /// Terminated (passive workspaces).
    Terminated,
    /// Running (a passive cluster whose `passive:` block says so).
    Running,
}

/// Everything one workspace must hold, overrides applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkspaceDesired {
    /// The workspace's role.
    pub role: Role,
    /// The resources, with the role's values.
    pub resources: Resources,
    /// What each cluster's run state must be.
    pub cluster_targets: BTreeMap<String, ClusterTarget>,
    /// Every override applied.
    pub overrides: Vec<Override>,
}

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

/// Applies the role's overrides to `resources` (already placed and substituted for the
/// workspace: see [`desired_for`]).
fn for_role(mut resources: Resources, role: Role) -> WorkspaceDesired {
    let mut overrides = Vec::new();
    let mut cluster_targets = BTreeMap::new();
    for (key, cluster) in &resources.clusters {
        let target = match role {
            Role::Active => ClusterTarget::AsIs,
            Role::Passive => {
                let (target, source) = match cluster.passive.as_ref().and_then(|p| p.state) {
                    Some(ClusterState::Running) => {
                        (ClusterTarget::Running, OverrideSource::PassiveBlock)
                    }
                    Some(ClusterState::Terminated) => {
                        (ClusterTarget::Terminated, OverrideSource::PassiveBlock)
                    }
                    None => (ClusterTarget::Terminated, OverrideSource::Passive),
                };
                overrides.push(Override {
                    resource: id(Kind::Clusters, key),
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
        };
        cluster_targets.insert(key.clone(), target);
    }
    if role == Role::Active {
        return WorkspaceDesired {
            role,
            resources,
            cluster_targets,
            overrides,
        };
    }
    for (key, job) in &mut resources.jobs {
        let passive = job.passive.clone().unwrap_or_default();
        let resource = id(Kind::Jobs, key);
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
    for (key, pool) in &mut resources.instance_pools {
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
                resource: id(Kind::InstancePools, key),
                field: "min_idle_instances".into(),
                configured,
                applied: json!(idle),
                source,
            });
        }
        pool.spec.insert("min_idle_instances".into(), json!(idle));
    }
    WorkspaceDesired {
        role,
        resources,
        cluster_targets,
        overrides,
    }
}

fn id(kind: Kind, key: &str) -> ResourceId {
    ResourceId {
        kind,
        key: key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources() -> Resources {
        let mut r = Resources::default();
        r.insert_json(Kind::Jobs, "etl".into(), json!({
            "name": "etl", "max_concurrent_runs": 3,
            "schedule": {"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC"},
            "permissions": [{"user_name": "o@x", "level": "IS_OWNER"}, {"group_name": "g", "level": "CAN_VIEW"}]
        })).expect("job");
        r.insert_json(Kind::Jobs, "heartbeat".into(), json!({
            "name": "hb", "trigger": {"periodic": {"interval": 5, "unit": "MINUTES"}},
            "permissions": [{"user_name": "o@x", "level": "IS_OWNER"}, {"group_name": "g", "level": "CAN_VIEW"}],
            "passive": {"max_concurrent_runs": 1, "pause_status": "UNPAUSED", "permissions": "all"}
        })).expect("job");
        r.insert_json(
            Kind::InstancePools,
            "p".into(),
            json!({"instance_pool_name": "p", "node_type_id": "n", "min_idle_instances": 2}),
        )
        .expect("pool");
        r.insert_json(
            Kind::Clusters,
            "c".into(),
            json!({"spark_version": "15.4", "num_workers": 1}),
        )
        .expect("cluster");
        r.insert_json(
            Kind::Clusters,
            "always".into(),
            json!({"spark_version": "15.4", "num_workers": 1, "passive": {"state": "running"}}),
        )
        .expect("cluster");
        r
    }

    #[test]
    fn the_active_side_keeps_the_config() {
        let desired = for_role(resources(), Role::Active);
        assert_eq!(desired.resources, resources());
        assert!(desired.overrides.is_empty());
        assert_eq!(desired.cluster_targets["c"], ClusterTarget::AsIs);
    }

    #[test]
    fn the_passive_side_is_forced_passive() {
        let desired = for_role(resources(), Role::Passive);
        let etl = &desired.resources.jobs["etl"];
        assert_eq!(etl.settings["max_concurrent_runs"], json!(0));
        assert_eq!(etl.settings["schedule"]["pause_status"], "PAUSED");
        assert_eq!(etl.permissions.len(), 1, "only the owner is applied");
        assert!(etl.permissions[0].is_owner());
        assert_eq!(
            desired.resources.instance_pools["p"].spec["min_idle_instances"],
            json!(0)
        );
        assert_eq!(desired.cluster_targets["c"], ClusterTarget::Terminated);
        let fields: Vec<&str> = desired
            .overrides
            .iter()
            .filter(|o| o.resource.key == "etl")
            .map(|o| o.field.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "max_concurrent_runs",
                "schedule.pause_status",
                "permissions"
            ]
        );
    }

    #[test]
    fn a_passive_block_replaces_the_built_in_values() {
        let desired = for_role(resources(), Role::Passive);
        let hb = &desired.resources.jobs["heartbeat"];
        assert_eq!(hb.settings["max_concurrent_runs"], json!(1));
        assert_eq!(hb.settings["trigger"]["pause_status"], "UNPAUSED");
        assert_eq!(hb.permissions.len(), 2);
        assert_eq!(desired.cluster_targets["always"], ClusterTarget::Running);
        assert!(
            desired
                .overrides
                .iter()
                .any(|o| o.resource.key == "heartbeat" && o.source == OverrideSource::PassiveBlock)
        );
    }

    #[test]
    fn a_zero_is_written_even_when_configured() {
        let mut r = Resources::default();
        r.insert_json(
            Kind::Jobs,
            "z".into(),
            json!({"name": "z", "max_concurrent_runs": 0}),
        )
        .expect("job");
        let desired = for_role(r, Role::Passive);
        assert_eq!(
            desired.resources.jobs["z"]
                .settings
                .get("max_concurrent_runs"),
            Some(&json!(0))
        );
    }
}
