//! The role step: the environment's resources as one workspace in one role must hold them —
//! placement (`active_only` resources leave passive workspaces), variables and `${workspace.*}`
//! substituted in place, and the role's overrides — typed from end to end. Resource references
//! (`${resources...}`) stay for apply, which alone knows the IDs.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{WorkspaceDesired, for_role};
use crate::config::refs::{Scope, substitute};
use crate::model::{
    Cluster, InstancePool, Job, Permission, Placement, Principal, Resources, Role, SecretAcl,
    SecretScope, SecretSource, ValueSource,
};

/// A value that substitution turned into something its field cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("the resources of workspace {workspace} could not be built for its role: {reason}")]
#[diagnostic(help(
    "check the variables this workspace substitutes (`${{var.…}}`, `${{workspace.…}}`): a value must fit the field it lands in; nothing was written"
))]
pub struct RoleStepError {
    /// The workspace.
    pub workspace: String,
    /// What does not fit where.
    pub reason: String,
}

/// Everything the workspace `scope` describes must hold in `role`; an error (never an empty
/// desired state, which would plan deleting everything tandem manages there) when a variable
/// makes a field hold what it cannot.
pub fn desired_for(
    resources: &Resources,
    scope: &dyn Scope,
    role: Role,
) -> Result<WorkspaceDesired, RoleStepError> {
    Ok(for_role(resolved_for(resources, scope, role)?, role))
}

/// The resources deployed to the workspace `scope` describes in `role`, with its variables
/// substituted: what its configuration says, before the role's overrides.
pub fn resolved_for(
    resources: &Resources,
    scope: &dyn Scope,
    role: Role,
) -> Result<Resources, RoleStepError> {
    let placed = |placement: Placement| role == Role::Active || placement == Placement::Both;
    let text = |s: &String| text(s, scope);
    let permissions = |list: &[Permission]| -> Result<Vec<Permission>, RoleStepError> {
        list.iter()
            .map(|p| {
                let principal = match &p.principal {
                    Principal::UserName(n) => Principal::UserName(text(n)?),
                    Principal::GroupName(n) => Principal::GroupName(text(n)?),
                    Principal::ServicePrincipalName(n) => Principal::ServicePrincipalName(text(n)?),
                };
                Ok(Permission {
                    principal,
                    level: text(&p.level)?,
                })
            })
            .collect()
    };
    let source = |s: &ValueSource| -> Result<ValueSource, RoleStepError> {
        Ok(match s {
            ValueSource::Env(name) => ValueSource::Env(text(name)?),
            ValueSource::File(path) => ValueSource::File(text(path)?),
        })
    };
    let mut out = Resources::default();
    for (key, job) in resources.jobs.iter().filter(|(_, j)| placed(j.placement)) {
        let job = Job {
            settings: fields(&job.settings, scope),
            permissions: permissions(&job.permissions)?,
            passive: job.passive.clone(),
            placement: job.placement,
        };
        out.jobs.insert(key.clone(), job);
    }
    for (key, cluster) in resources
        .clusters
        .iter()
        .filter(|(_, c)| placed(c.placement))
    {
        let cluster = Cluster {
            spec: fields(&cluster.spec, scope),
            permissions: permissions(&cluster.permissions)?,
            start_on_promote: cluster.start_on_promote,
            passive: cluster.passive.clone(),
            placement: cluster.placement,
        };
        out.clusters.insert(key.clone(), cluster);
    }
    for (key, pool) in resources
        .instance_pools
        .iter()
        .filter(|(_, p)| placed(p.placement))
    {
        let pool = InstancePool {
            spec: fields(&pool.spec, scope),
            permissions: permissions(&pool.permissions)?,
            passive: pool.passive.clone(),
            placement: pool.placement,
        };
        out.instance_pools.insert(key.clone(), pool);
    }
    for (key, scope_) in resources
        .secret_scopes
        .iter()
        .filter(|(_, s)| placed(s.placement))
    {
        let secrets = scope_
            .secrets
            .iter()
            .map(|(name, s)| {
                let s = match s {
                    SecretSource::Uniform(s) => SecretSource::Uniform(source(s)?),
                    SecretSource::PerWorkspace(by) => SecretSource::PerWorkspace(
                        by.iter()
                            .map(|(w, s)| Ok((w.clone(), source(s)?)))
                            .collect::<Result<BTreeMap<_, _>, RoleStepError>>()?,
                    ),
                };
                Ok((name.clone(), s))
            })
            .collect::<Result<_, RoleStepError>>()?;
        let acls = scope_
            .acls
            .iter()
            .map(|a| {
                Ok(SecretAcl {
                    principal: text(&a.principal)?,
                    permission: text(&a.permission)?,
                })
            })
            .collect::<Result<_, RoleStepError>>()?;
        let secret_scope = SecretScope {
            spec: fields(&scope_.spec, scope),
            secrets,
            acls,
            placement: scope_.placement,
        };
        out.secret_scopes.insert(key.clone(), secret_scope);
    }
    Ok(out)
}

/// API fields with every string substituted (a string that is exactly one variable takes the
/// variable's type).
fn fields(fields: &Map<String, Value>, scope: &dyn Scope) -> Map<String, Value> {
    fields
        .iter()
        .map(|(k, v)| (k.clone(), substitute(v, scope)))
        .collect()
}

/// A text field substituted; a variable that makes it something other than text is an error.
fn text(s: &str, scope: &dyn Scope) -> Result<String, RoleStepError> {
    match substitute(&Value::String(s.to_string()), scope) {
        Value::String(t) => Ok(t),
        other => Err(RoleStepError {
            workspace: scope.workspace_name().to_string(),
            reason: format!("`{s}` becomes {other}, where text is expected"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::Kind;

    struct Vars(Map<String, Value>);

    impl Scope for Vars {
        fn var(&self, name: &str) -> Option<&Value> {
            self.0.get(name)
        }
        fn workspace_name(&self) -> &str {
            "west"
        }
        fn workspace_role(&self) -> &str {
            "passive"
        }
    }

    fn vars() -> Vars {
        let Value::Object(map) = json!({"workers": 4, "team": "data-eng", "bucket": "s3://west"})
        else {
            unreachable!()
        };
        Vars(map)
    }

    fn resources() -> Resources {
        let mut r = Resources::default();
        r.insert_json(
            Kind::Jobs,
            "etl".into(),
            json!({
                "name": "etl-${workspace.name}",
                "max_concurrent_runs": 3,
                "tasks": [{"task_key": "t", "existing_cluster_id": "${resources.clusters.c.id}"}],
                "permissions": [{"group_name": "${var.team}", "level": "CAN_MANAGE_RUN"}],
            }),
        )
        .expect("job");
        r.insert_json(
            Kind::Jobs,
            "report".into(),
            json!({"name": "report", "placement": "active_only"}),
        )
        .expect("job");
        r.insert_json(
            Kind::Clusters,
            "c".into(),
            json!({"cluster_name": "c", "num_workers": "${var.workers}", "custom_tags": {"role": "${workspace.role}"}}),
        )
        .expect("cluster");
        r.insert_json(
            Kind::SecretScopes,
            "s".into(),
            json!({"name": "s", "secrets": {"token": {"env": "TOKEN_${workspace.name}"}}, "acls": [{"principal": "${var.team}", "permission": "READ"}]}),
        )
        .expect("scope");
        r
    }

    #[test]
    fn variables_are_substituted_in_every_typed_field() {
        let desired = desired_for(&resources(), &vars(), Role::Active).expect("role step");
        let etl = &desired.resources.jobs["etl"];
        assert_eq!(etl.settings["name"], "etl-west");
        assert_eq!(
            etl.settings["tasks"][0]["existing_cluster_id"], "${resources.clusters.c.id}",
            "resource references wait for apply"
        );
        assert_eq!(etl.permissions[0].principal.name(), "data-eng");
        let c = &desired.resources.clusters["c"];
        assert_eq!(
            c.spec["num_workers"],
            json!(4),
            "a lone variable keeps its type"
        );
        assert_eq!(c.spec["custom_tags"]["role"], "passive");
        let s = &desired.resources.secret_scopes["s"];
        assert_eq!(
            s.secrets["token"].for_workspace("west"),
            Some(&ValueSource::Env("TOKEN_west".into()))
        );
        assert_eq!(s.acls[0].principal, "data-eng");
    }

    #[test]
    fn placement_and_overrides_come_with_the_role() {
        let active = desired_for(&resources(), &vars(), Role::Active).expect("active");
        assert!(active.resources.jobs.contains_key("report"));
        assert_eq!(
            active.resources.jobs["etl"].settings["max_concurrent_runs"],
            3
        );
        let passive = desired_for(&resources(), &vars(), Role::Passive).expect("passive");
        assert!(
            !passive.resources.jobs.contains_key("report"),
            "active_only"
        );
        assert_eq!(
            passive.resources.jobs["etl"].settings["max_concurrent_runs"],
            0
        );
        assert!(!passive.overrides.is_empty());
    }

    #[test]
    fn a_variable_that_cannot_be_text_is_an_error_not_an_empty_state() {
        let mut r = Resources::default();
        r.insert_json(
            Kind::Jobs,
            "j".into(),
            json!({"name": "j", "permissions": [{"group_name": "${var.workers}", "level": "CAN_VIEW"}]}),
        )
        .expect("job");
        let error = desired_for(&r, &vars(), Role::Active).expect_err("a number is no group");
        assert_eq!(error.workspace, "west");
        assert!(
            error.reason.contains("`${var.workers}` becomes 4"),
            "{error}"
        );
    }
}
