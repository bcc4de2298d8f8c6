//! Drift across an environment: what each workspace's plan reveals, secrets rewritten out of
//! band (newer than tandem's record), roles that disagree, and unmanaged look-alikes.

use std::collections::BTreeMap;

use super::planner::WorkspaceContext;
use super::state;
use crate::model::{Kind, ResourceId};
use crate::plan::Plan;
use crate::plan::drift::{self, Drift, DriftKind};

/// Every drift found in the planned workspaces.
pub fn environment_drift(plan: &Plan, contexts: &BTreeMap<String, WorkspaceContext>) -> Vec<Drift> {
    let mut out = Vec::new();
    for workspace_plan in &plan.workspaces {
        out.extend(drift::from_plan(workspace_plan));
        if let Some(ctx) = contexts.get(&workspace_plan.workspace) {
            out.extend(context_drift(
                &workspace_plan.workspace,
                workspace_plan.role,
                ctx,
            ));
        }
    }
    out.sort_by(|a, b| {
        (a.kind, &a.workspace, &a.resource).cmp(&(b.kind, &b.workspace, &b.resource))
    });
    out
}

fn context_drift(workspace: &str, role: crate::model::Role, ctx: &WorkspaceContext) -> Vec<Drift> {
    let mut out = Vec::new();
    let drift = |resource: Option<ResourceId>, kind, detail: String, remedy: &str| Drift {
        workspace: workspace.into(),
        resource,
        kind,
        detail,
        remedy: remedy.into(),
    };
    if let Some(record) = &ctx.read.record {
        if record.role != role {
            out.push(drift(
                None,
                DriftKind::RoleMismatch,
                format!("state record says {}, the environment file says {}", record.role.as_str(), role.as_str()),
                "merge the promotion commit that set `active:`, or promote again; run `tandem status`",
            ));
        }
        for (key, scope) in &ctx.desired.resources.secret_scopes {
            let (Some(live), Some(written)) = (
                ctx.read.live.secret_scopes.get(key),
                record.secrets.get(scope.name()),
            ) else {
                continue;
            };
            for (secret, updated) in &live.secrets {
                if let Some(w) = written.get(secret)
                    && *updated > w.last_updated
                {
                    let detail = format!(
                        "secret {secret} was rewritten outside tandem at {} (after tandem's last write at {})",
                        state::rfc3339(*updated),
                        state::rfc3339(w.last_updated)
                    );
                    // apply compares the source with tandem's record, which still matches:
                    // only adopt takes a rewritten secret back.
                    let remedy = "find out who wrote it; tandem adopt writes the value from its source again and records it";
                    let resource = ResourceId {
                        kind: Kind::SecretScopes,
                        key: key.clone(),
                    };
                    out.push(drift(Some(resource), DriftKind::Secret, detail, remedy));
                }
            }
        }
    }
    let live = &ctx.read.live;
    for kind in Kind::tagged() {
        let Some(unmanaged) = ctx.read.live.unmanaged.get(kind.as_str()) else {
            continue;
        };
        let name_field = kind.spec().name_field;
        for (key, fields, _) in ctx.desired.resources.objects(kind) {
            let Some(name) = fields.get(name_field).and_then(|n| n.as_str()) else {
                continue;
            };
            if let Some(id) = unmanaged.get(name) {
                let managed = live.objects(kind).is_some_and(|o| o.contains_key(key));
                // adopt only takes an object over when tandem has none for the key yet.
                let remedy = if managed {
                    "rename or delete it: tandem never touches objects without its tags, so it stays"
                } else {
                    "tandem adopt takes it over (tags it) instead of apply creating a second one"
                };
                out.push(drift(
                    Some(ResourceId {
                        kind,
                        key: key.clone(),
                    }),
                    DriftKind::Lookalike,
                    format!("an object without tandem's tags is also called \"{name}\" (id {id})"),
                    remedy,
                ));
            }
        }
    }
    out
}
