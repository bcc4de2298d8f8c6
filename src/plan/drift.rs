//! Drift: differences between what a workspace holds and the configuration, explained as what
//! happened outside tandem, each with a one-line remedy. Computed from a plan (what apply would
//! change) plus what only the live state shows (secrets rewritten out of band, unmanaged look-alikes).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Action, FieldChange, WorkspacePlan};
use crate::model::{ResourceId, Role};

/// Kinds of drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// The workspace's record says one role, the environment file another.
    RoleMismatch,
    /// A passive workspace would run something: a job unpaused or with concurrency, a running
    /// cluster, a warm pool. The most urgent kind.
    PassiveBreach,
    /// Fields changed outside tandem (the UI, another tool).
    Changed,
    /// A managed object no longer exists (or the configuration was never applied).
    Missing,
    /// An object tandem manages exists but the configuration no longer declares it here.
    Extra,
    /// Permissions or secret ACLs differ.
    Access,
    /// A secret was written outside tandem, or its value no longer matches the source.
    Secret,
    /// An object without tandem's tags has the same name as a managed one.
    Lookalike,
}

impl DriftKind {
    /// Its name, the same in every format (`passive_breach`).
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::RoleMismatch => "role_mismatch",
            DriftKind::PassiveBreach => "passive_breach",
            DriftKind::Changed => "changed",
            DriftKind::Missing => "missing",
            DriftKind::Extra => "extra",
            DriftKind::Access => "access",
            DriftKind::Secret => "secret",
            DriftKind::Lookalike => "lookalike",
        }
    }
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// Workspace.
    pub workspace: String,
    /// Resource (none for workspace-wide drift).
    pub resource: Option<ResourceId>,
    /// What kind.
    pub kind: DriftKind,
    /// What differs.
    pub detail: String,
    /// What to do.
    pub remedy: String,
}

fn breach(change: &FieldChange) -> bool {
    let field = change.path.as_str();
    (field == "max_concurrent_runs" && change.before.as_i64().is_some_and(|n| n > 0))
        || (field.ends_with("pause_status") && change.before.as_str() == Some("UNPAUSED"))
        || (field == "min_idle_instances" && change.before.as_i64().is_some_and(|n| n > 0))
}

fn describe(changes: &[FieldChange]) -> String {
    changes
        .iter()
        .map(|c| {
            format!(
                "{}: {} (config: {})",
                c.path,
                short(&c.before),
                short(&c.after)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn short(v: &serde_json::Value) -> String {
    let text = if v.is_null() {
        "(none)".to_string()
    } else {
        v.to_string()
    };
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// The drift a workspace's plan reveals. A resource that is missing is reported once: the
/// grants, secrets and ACLs its creation would bring are part of that one difference.
pub fn from_plan(plan: &WorkspacePlan) -> Vec<Drift> {
    let apply =
        "tandem apply restores the configured state (or change the configuration to keep it)"
            .to_string();
    let missing: BTreeSet<&ResourceId> = plan
        .actions
        .iter()
        .filter(|a| matches!(a.action, Action::Create { .. } | Action::CreateScope { .. }))
        .map(|a| &a.resource)
        .collect();
    let mut out = Vec::new();
    for planned in &plan.actions {
        let creates = matches!(
            planned.action,
            Action::Create { .. } | Action::CreateScope { .. }
        );
        if missing.contains(&planned.resource) && !creates {
            continue;
        }
        let resource = planned.resource.clone();
        let push = |out: &mut Vec<Drift>, kind, detail: String, remedy: &str| {
            out.push(Drift {
                workspace: plan.workspace.clone(),
                resource: Some(resource.clone()),
                kind,
                detail,
                remedy: remedy.to_string(),
            })
        };
        match &planned.action {
            Action::Update { changes, .. } | Action::Replace { changes, .. } => {
                let passive = plan.role == Role::Passive;
                let (breaches, others): (Vec<FieldChange>, Vec<FieldChange>) =
                    changes.iter().cloned().partition(|c| passive && breach(c));
                if !breaches.is_empty() {
                    push(
                        &mut out,
                        DriftKind::PassiveBreach,
                        format!("passive workspace would run it: {}", describe(&breaches)),
                        "tandem apply makes it passive again now; find out who changed it",
                    );
                }
                if !others.is_empty() {
                    push(&mut out, DriftKind::Changed, describe(&others), &apply);
                }
            }
            Action::Create { .. } => push(
                &mut out,
                DriftKind::Missing,
                "does not exist in this workspace".into(),
                "tandem apply creates it (it was deleted outside tandem, or the configuration was not applied yet)",
            ),
            Action::CreateScope { name } => push(
                &mut out,
                DriftKind::Missing,
                format!("secret scope {name} does not exist"),
                "tandem apply creates it and writes its secrets",
            ),
            Action::Delete { id, reason } => push(
                &mut out,
                DriftKind::Extra,
                format!("id {id}: {reason}"),
                "tandem apply deletes it; or add it back to the configuration",
            ),
            Action::DeleteScope { name } => push(
                &mut out,
                DriftKind::Extra,
                format!("secret scope {name} is no longer configured"),
                "tandem apply deletes it",
            ),
            Action::Start { .. } => push(
                &mut out,
                DriftKind::Changed,
                "cluster is terminated but should run".into(),
                "tandem apply starts it",
            ),
            Action::Terminate { .. } => {
                let kind = if plan.role == Role::Passive {
                    DriftKind::PassiveBreach
                } else {
                    DriftKind::Changed
                };
                push(
                    &mut out,
                    kind,
                    "cluster is running on a passive workspace".into(),
                    "tandem apply terminates it; find out who started it",
                )
            }
            Action::SetPermissions { before, after, .. } => {
                let show = |g: &[crate::model::live::Grant]| {
                    g.iter()
                        .map(|g| format!("{} {}", g.principal.name(), g.level))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                push(
                    &mut out,
                    DriftKind::Access,
                    format!(
                        "grants are [{}], configured [{}]",
                        show(before),
                        show(after)
                    ),
                    "tandem apply sets the configured grants",
                )
            }
            Action::PutAcl {
                principal,
                before,
                permission,
                ..
            } => push(
                &mut out,
                DriftKind::Access,
                format!(
                    "ACL {principal}: {} (config: {permission})",
                    before.as_deref().unwrap_or("(none)")
                ),
                "tandem apply sets the ACL",
            ),
            Action::DeleteAcl {
                principal, before, ..
            } => push(
                &mut out,
                DriftKind::Access,
                format!("ACL {principal} {before} is not configured"),
                "tandem apply removes it",
            ),
            Action::PutSecret { key, reason, .. } => {
                let (detail, remedy) = match reason.as_str() {
                    "new" => (
                        format!("secret {key} does not exist"),
                        "tandem apply writes the value from its source",
                    ),
                    "changed" => (
                        format!(
                            "secret {key}: its source holds a different value than the one written"
                        ),
                        "tandem apply writes the value from its source",
                    ),
                    "unrecorded" => (
                        format!("secret {key} was not written by tandem"),
                        "tandem adopt keeps the workspace's value and records it; adopt --overwrite-secrets (or apply) writes the value from its source",
                    ),
                    // A source this run cannot read (no secrets in a scheduled job) is not a
                    // difference: the value simply cannot be compared here. Rewrites are still
                    // found by their timestamps.
                    _ => continue,
                };
                push(&mut out, DriftKind::Secret, detail, remedy)
            }
            Action::DeleteSecret { key, .. } => push(
                &mut out,
                DriftKind::Extra,
                format!("secret {key} is not configured"),
                "tandem apply deletes it",
            ),
        }
    }
    // A secret this run cannot compare is no drift, unless the workspace lacks it altogether
    // (and its scope exists: a missing scope is one difference already).
    for s in &plan.not_compared {
        if !s.exists && !missing.contains(&s.resource) {
            out.push(Drift {
                workspace: plan.workspace.clone(),
                resource: Some(s.resource.clone()),
                kind: DriftKind::Secret,
                detail: format!("secret {} does not exist", s.key),
                remedy: "tandem apply writes the value from its source".into(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::Kind;
    use crate::model::live::Grant;
    use crate::plan::PlannedAction;

    #[test]
    fn a_kind_has_one_name_in_every_format() {
        for kind in [
            DriftKind::RoleMismatch,
            DriftKind::PassiveBreach,
            DriftKind::Changed,
            DriftKind::Missing,
            DriftKind::Extra,
            DriftKind::Access,
            DriftKind::Secret,
            DriftKind::Lookalike,
        ] {
            assert_eq!(
                serde_json::to_value(kind).expect("json"),
                json!(kind.as_str())
            );
        }
    }

    fn plan(role: Role, actions: Vec<(Kind, &str, Action)>) -> WorkspacePlan {
        WorkspacePlan {
            workspace: "w".into(),
            role,
            actions: actions
                .into_iter()
                .map(|(kind, key, action)| PlannedAction {
                    resource: ResourceId {
                        kind,
                        key: key.into(),
                    },
                    action,
                })
                .collect(),
            overrides: Vec::new(),
            live_fingerprint: String::new(),
            config_digests: std::collections::BTreeMap::new(),
            not_compared: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn kinds(drifts: &[Drift]) -> Vec<(String, DriftKind)> {
        drifts
            .iter()
            .map(|d| (d.resource.as_ref().expect("resource").to_string(), d.kind))
            .collect()
    }

    #[test]
    fn a_missing_resource_is_one_difference() {
        let grants = Action::SetPermissions {
            id: None,
            before: Vec::new(),
            after: vec![Grant {
                principal: crate::model::Principal::GroupName("g".into()),
                level: "CAN_VIEW".into(),
            }],
            keep_owner: true,
            before_unread: false,
        };
        let put = |reason: &str| Action::PutSecret {
            scope: "s".into(),
            key: "k".into(),
            reason: reason.into(),
            source: None,
        };
        let drifts = from_plan(&plan(
            Role::Active,
            vec![
                (Kind::Jobs, "gone", Action::Create { body: json!({}) }),
                (Kind::Jobs, "gone", grants),
                (
                    Kind::SecretScopes,
                    "s",
                    Action::CreateScope { name: "s".into() },
                ),
                (Kind::SecretScopes, "s", put("new")),
            ],
        ));
        assert_eq!(
            kinds(&drifts),
            [
                ("jobs.gone".to_string(), DriftKind::Missing),
                ("secret_scopes.s".to_string(), DriftKind::Missing)
            ]
        );
    }

    #[test]
    fn an_unreadable_source_is_not_drift_but_an_unrecorded_secret_is() {
        let put = |reason: &str| {
            (
                Kind::SecretScopes,
                "s",
                Action::PutSecret {
                    scope: "s".into(),
                    key: "k".into(),
                    reason: reason.into(),
                    source: None,
                },
            )
        };
        let drifts = from_plan(&plan(
            Role::Active,
            vec![put("unchecked"), put("unrecorded")],
        ));
        assert_eq!(drifts.len(), 1);
        assert!(drifts[0].detail.contains("not written by tandem"));
    }

    #[test]
    fn a_secret_not_compared_is_drift_only_when_the_workspace_lacks_it() {
        let scope = ResourceId {
            kind: Kind::SecretScopes,
            key: "s".into(),
        };
        let uncompared = |key: &str, exists: bool| crate::plan::UncomparedSecret {
            resource: scope.clone(),
            scope: "s".into(),
            key: key.into(),
            source: None,
            exists,
            reason: "environment variable K is not set or empty".into(),
        };
        let mut p = plan(Role::Active, Vec::new());
        p.not_compared = vec![uncompared("there", true), uncompared("gone", false)];
        let drifts = from_plan(&p);
        assert_eq!(
            kinds(&drifts),
            [("secret_scopes.s".to_string(), DriftKind::Secret)]
        );
        assert_eq!(drifts[0].detail, "secret gone does not exist");
        // In a scope that is missing, the scope is the one difference.
        p.actions.push(PlannedAction {
            resource: scope.clone(),
            action: Action::CreateScope { name: "s".into() },
        });
        assert_eq!(
            kinds(&from_plan(&p)),
            [("secret_scopes.s".to_string(), DriftKind::Missing)]
        );
    }

    #[test]
    fn only_a_passive_workspace_breaches_and_only_by_running_more() {
        let update = |before: serde_json::Value| Action::Update {
            id: "1".into(),
            changes: vec![
                FieldChange {
                    path: "max_concurrent_runs".into(),
                    before,
                    after: json!(0),
                },
                FieldChange {
                    path: "timeout_seconds".into(),
                    before: json!(5),
                    after: json!(10),
                },
            ],
            body: json!({}),
        };
        let passive = from_plan(&plan(
            Role::Passive,
            vec![(Kind::Jobs, "j", update(json!(3)))],
        ));
        assert_eq!(
            passive.iter().map(|d| d.kind).collect::<Vec<_>>(),
            [DriftKind::PassiveBreach, DriftKind::Changed]
        );
        assert!(!passive[0].detail.contains("timeout_seconds"));
        let active = from_plan(&plan(
            Role::Active,
            vec![(Kind::Jobs, "j", update(json!(3)))],
        ));
        assert_eq!(
            active.iter().map(|d| d.kind).collect::<Vec<_>>(),
            [DriftKind::Changed]
        );
        let terminate = from_plan(&plan(
            Role::Passive,
            vec![(
                Kind::Clusters,
                "c",
                Action::Terminate {
                    id: Some("c".into()),
                },
            )],
        ));
        assert_eq!(terminate[0].kind, DriftKind::PassiveBreach);
    }
}
