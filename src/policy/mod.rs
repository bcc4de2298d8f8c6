//! The role step: what a workspace must hold given its role ([`desired_for`]: placement,
//! substitution and overrides together). Pure.
//!
//! On a passive workspace tandem forces jobs to `max_concurrent_runs: 0` with every schedule,
//! trigger and continuous setting paused, holds back all job permissions but the owner's, keeps
//! pools at `min_idle_instances: 0` and clusters terminated. These win over the resource's own
//! fields; only the resource's `passive:` block changes them. Every override is recorded so the
//! plan can show it.

mod role_step;

pub use crate::kinds::jobs::holds_back_grants;
pub use role_step::{RoleStepError, desired_for, resolved_for};

use std::collections::BTreeMap;

use serde::Serialize;

use crate::kinds;
use crate::model::{Resources, Role};

pub use crate::model::passive::{ClusterTarget, Override, OverrideSource};

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

/// Applies the role's overrides to `resources` (already placed and substituted for the
/// workspace: see [`desired_for`]).
fn for_role(mut resources: Resources, role: Role) -> WorkspaceDesired {
    let mut overrides = Vec::new();
    let cluster_targets = resources
        .clusters
        .iter()
        .map(|(key, cluster)| {
            let target = match role {
                Role::Active => ClusterTarget::AsIs,
                Role::Passive => kinds::clusters::passive_target(key, cluster, &mut overrides),
            };
            (key.clone(), target)
        })
        .collect();
    if role == Role::Passive {
        for (key, job) in &mut resources.jobs {
            kinds::jobs::make_passive(key, job, &mut overrides);
        }
        for (key, pool) in &mut resources.instance_pools {
            kinds::instance_pools::make_passive(key, pool, &mut overrides);
        }
    }
    WorkspaceDesired {
        role,
        resources,
        cluster_targets,
        overrides,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::Kind;

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
