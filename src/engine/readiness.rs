//! "Would failover work right now?": a verdict and a table of checks over the environment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use super::connect::Connection;
use super::planner::WorkspaceContext;
use super::state;
use crate::client::api::scim;
use crate::client::{ClientError, WorkspaceClient};
use crate::config::Config;
use crate::model::{Kind, Principal, PrincipalKey, Resources, Role};
use crate::plan::{Action, Plan};
use crate::policy;

pub use crate::plan::report::Check;

/// The principals a workspace knows, keyed as it tells them apart ([`PrincipalKey`]).
#[derive(Debug, Default)]
struct Directory {
    principals: BTreeSet<PrincipalKey>,
}

async fn directory(client: &WorkspaceClient) -> Result<Directory, ClientError> {
    let (users, groups, sps) = tokio::try_join!(
        scim::users(client),
        scim::groups(client),
        scim::service_principals(client),
    )?;
    let names = |v: &Value, field: &str| -> Vec<String> {
        v.get("Resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.get(field)?.as_str().map(str::to_string))
            .collect()
    };
    let users = names(&users, "userName")
        .into_iter()
        .map(Principal::UserName);
    let groups = names(&groups, "displayName")
        .into_iter()
        .map(Principal::GroupName);
    let sps = names(&sps, "applicationId")
        .into_iter()
        .map(Principal::ServicePrincipalName);
    Ok(Directory {
        principals: users.chain(groups).chain(sps).map(|p| p.key()).collect(),
    })
}

/// Runs every check. `plan` and `contexts` come from planning with the environment file's roles;
/// `root` is the config root (for counting how many commits a workspace lags).
pub async fn readiness(
    config: &Config,
    root: &Path,
    connections: &[Connection],
    plan: &Plan,
    contexts: &BTreeMap<String, WorkspaceContext>,
) -> Vec<Check> {
    let environment = config.environment.name.as_str();
    let mut checks = Vec::new();
    for f in &plan.failures {
        // A workspace that refused the credentials answered: it is not unreachable.
        checks.push(Check {
            check: if f.authentication {
                "authenticated"
            } else {
                "reachable"
            },
            workspace: f.workspace.clone(),
            ok: false,
            detail: f.described(),
            error: true,
        });
    }
    let active_commit = plan
        .workspaces
        .iter()
        .find(|w| w.role == Role::Active)
        .and_then(|w| contexts.get(&w.workspace))
        .and_then(|c| c.read.record.as_ref())
        .and_then(|r| r.last_applied.as_ref())
        .map(|a| a.commit.clone());
    for connection in connections {
        let name = &connection.spec.name;
        let Some(ctx) = contexts.get(name) else {
            continue;
        };
        let Some(workspace_plan) = plan.workspaces.iter().find(|w| &w.workspace == name) else {
            continue;
        };
        let check = |check, ok, detail: String| Check {
            check,
            workspace: name.clone(),
            ok,
            detail,
            error: false,
        };
        let failed = |check, detail: String| Check {
            check,
            workspace: name.clone(),
            ok: false,
            detail,
            error: true,
        };
        checks.push(check(
            "reachable",
            true,
            connection.client.base().to_string(),
        ));

        // A promotion the environment file does not know about: plan and apply refuse to run.
        let recorded = ctx.read.record.as_ref().map(|r| r.role);
        checks.push(check(
            "role agrees with the environment file",
            recorded.is_none_or(|r| r == workspace_plan.role),
            match recorded {
                Some(r) if r != workspace_plan.role => format!(
                    "state record says {}, the environment file says {}",
                    r.as_str(),
                    workspace_plan.role.as_str()
                ),
                _ => workspace_plan.role.as_str().to_string(),
            },
        ));

        let behind: Vec<String> = workspace_plan
            .actions
            .iter()
            .filter(|a| {
                matches!(
                    a.action,
                    Action::Create { .. }
                        | Action::Update { .. }
                        | Action::Replace { .. }
                        | Action::CreateScope { .. }
                )
            })
            .map(|a| format!("{} ({})", a.resource, a.action.verb()))
            .collect();
        checks.push(check(
            "resources match the configuration",
            behind.is_empty(),
            if behind.is_empty() {
                "every resource exists with its definition (passive overrides aside)".into()
            } else {
                format!("{} differ: {}", behind.len(), behind.join(", "))
            },
        ));

        let missing_secrets: Vec<String> = ctx
            .desired
            .resources
            .secret_scopes
            .iter()
            .flat_map(|(key, scope)| {
                let live = ctx.read.live.secret_scopes.get(key);
                scope
                    .secrets
                    .keys()
                    .filter(move |k| !live.is_some_and(|l| l.secrets.contains_key(*k)))
                    .map(move |k| format!("{}/{k}", scope.name()))
            })
            .collect();
        checks.push(check(
            "every secret key exists",
            missing_secrets.is_empty(),
            if missing_secrets.is_empty() {
                "all configured secrets are present".into()
            } else {
                format!("missing: {}", missing_secrets.join(", "))
            },
        ));

        match directory(&connection.client).await {
            Ok(dir) => {
                // What this workspace holds once it is promoted: every grant, none held back,
                // and the active-only resources too.
                let active = config.workspace_scope(name, Role::Active);
                let unknown = match policy::resolved_for(&config.resources, &active, Role::Active) {
                    Ok(promoted) => unknown_principals(&promoted, &dir),
                    Err(e) => vec![e.to_string()],
                };
                checks.push(check(
                    "every principal exists",
                    unknown.is_empty(),
                    if unknown.is_empty() {
                        "all users, groups and service principals in permissions and ACLs exist"
                            .into()
                    } else {
                        format!("unknown: {}", unknown.join(", "))
                    },
                ));
            }
            Err(e) => checks.push(failed(
                "every principal exists",
                format!("SCIM not readable: {e}"),
            )),
        }

        let unresolved = unresolved_references(ctx);
        checks.push(check(
            "referenced pools and clusters exist",
            unresolved.is_empty(),
            if unresolved.is_empty() {
                "every referenced pool and cluster exists here".into()
            } else {
                format!("missing: {}", unresolved.join(", "))
            },
        ));

        let applied = ctx
            .read
            .record
            .as_ref()
            .and_then(|r| r.last_applied.as_ref())
            .map(|a| a.commit.clone());
        let same = applied.is_some() && applied == active_commit;
        checks.push(check(
            "same config commit as the active workspace",
            same,
            match (&applied, &active_commit) {
                (Some(a), Some(b)) if a == b => short_commit(a),
                (Some(a), Some(b)) => format!(
                    "{} here, {} on the active workspace{}",
                    short_commit(a),
                    short_commit(b),
                    lag(root, a, b)
                ),
                (None, _) => "never applied".into(),
                (Some(_), None) => "the active workspace has no recorded apply".into(),
            },
        ));

        match state::read_lock(&connection.client, environment).await {
            Ok(Some(lock)) if lock.expires_ms < state::now_ms() => checks.push(check(
                "no stale lock",
                false,
                format!(
                    "expired lock held by {} since {}: tandem unlock {name}",
                    lock.holder, lock.since
                ),
            )),
            Ok(Some(lock)) => checks.push(check(
                "no stale lock",
                true,
                format!(
                    "locked by {} ({}) since {}",
                    lock.holder, lock.operation, lock.since
                ),
            )),
            Ok(None) => checks.push(check("no stale lock", true, "unlocked".into())),
            Err(e) => checks.push(failed("no stale lock", e.to_string())),
        }

        let fences: Vec<String> = ctx
            .read
            .record
            .iter()
            .flat_map(|r| {
                r.pending_fences
                    .iter()
                    .map(|f| format!("{} since {}", f.workspace, f.since))
            })
            .collect();
        checks.push(check(
            "no pending fence",
            fences.is_empty(),
            if fences.is_empty() {
                "none".into()
            } else {
                fences.join(", ")
            },
        ));
    }
    checks
}

/// How far `here` lags `active` in the checkout's history (empty when Git cannot say).
fn lag(root: &Path, here: &str, active: &str) -> String {
    let since = |sha| crate::config::source::commits_since(root, sha);
    match (since(here), since(active)) {
        (Some(h), Some(a)) if h > a => {
            let n = h - a;
            format!(" ({n} commit{} behind)", if n == 1 { "" } else { "s" })
        }
        (Some(h), Some(a)) if a > h => {
            let n = a - h;
            format!(" ({n} commit{} ahead)", if n == 1 { "" } else { "s" })
        }
        _ => String::new(),
    }
}

/// The configured principals the workspace does not know, each with a hint when a group is
/// known under another case (group names are case-sensitive).
fn unknown_principals(r: &Resources, dir: &Directory) -> Vec<String> {
    let mut unknown = BTreeSet::new();
    let mut check = |name: &str, key: PrincipalKey| {
        if dir.principals.contains(&key) {
            return;
        }
        let other_case = dir.principals.iter().find_map(|known| match (known, &key) {
            (PrincipalKey::Group(g), PrincipalKey::Group(n)) if g.eq_ignore_ascii_case(n) => {
                Some(g)
            }
            _ => None,
        });
        unknown.insert(match other_case {
            Some(g) => format!("{name} (group names are case-sensitive: the workspace has {g})"),
            None => name.to_string(),
        });
    };
    let grants = Kind::tagged().flat_map(|kind| r.objects(kind).into_iter().flat_map(|o| o.2));
    for g in grants {
        check(g.principal.name(), g.principal.key());
    }
    for acl in r.secret_scopes.values().flat_map(|s| &s.acls) {
        // A bare name: a group may have an `@` in its name too.
        let group = PrincipalKey::Group(acl.principal.clone());
        if !dir.principals.contains(&group) {
            check(&acl.principal, PrincipalKey::of_name(&acl.principal));
        }
    }
    unknown.into_iter().collect()
}

fn unresolved_references(ctx: &WorkspaceContext) -> Vec<String> {
    let json = serde_json::to_value(&ctx.desired.resources).unwrap_or_default();
    let mut found = BTreeSet::new();
    let mut stack = vec![&json];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => {
                for o in crate::config::refs::scan(s) {
                    if let Ok(crate::config::refs::Reference::ResourceId(id)) = o.reference
                        && matches!(id.kind, Kind::Clusters | Kind::InstancePools)
                        && let Some(live) = ctx.read.live.objects(id.kind)
                        && !live.contains_key(&id.key)
                    {
                        found.insert(id.to_string());
                    }
                }
            }
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    found.into_iter().collect()
}

/// A SHA shortened to 7 characters; anything else (`working tree`) as it is.
fn short_commit(commit: &str) -> String {
    if commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit()) {
        commit[..7].to_string()
    } else {
        commit.to_string()
    }
}
