//! Plans: what must change in each workspace for it to hold the configuration, computed from the
//! desired state (role overrides applied) and the live state. Pure; renderers turn plans into
//! text, JSON and Markdown.

pub mod diff;
pub mod drift;
pub mod render;
pub mod report;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::config::refs;
use crate::kinds::KindSpec;
use crate::model::live::{Grant, LiveObject, LiveWorkspace};
use crate::model::{Kind, Permission, PrincipalKey, ResourceId, Role, SecretAcl};
use crate::policy::{ClusterTarget, Override, WorkspaceDesired};
pub use diff::FieldChange;

/// Tag marking an object as tandem's.
pub const TAG_MANAGED: &str = "managed-by";
/// Value of [`TAG_MANAGED`].
pub const TAG_MANAGED_VALUE: &str = "tandem";
/// Tag naming the environment.
pub const TAG_ENV: &str = "tandem-env";
/// Tag naming the logical key.
pub const TAG_KEY: &str = "tandem-key";

/// Version of the plan JSON document.
pub const PLAN_FORMAT_VERSION: u32 = 2;

/// What to do to one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Create the object from `body` (references to objects created in the same run are
    /// resolved when applying).
    Create {
        /// The create request.
        body: Value,
    },
    /// Change the object in place.
    Update {
        /// The object's ID.
        id: String,
        /// What differs.
        changes: Vec<FieldChange>,
        /// The full replacement request.
        body: Value,
    },
    /// Delete and create again (a field that cannot change in place changed).
    Replace {
        /// The object's ID.
        id: String,
        /// What differs.
        changes: Vec<FieldChange>,
        /// The create request.
        body: Value,
    },
    /// Delete the object.
    Delete {
        /// The object's ID.
        id: String,
        /// Why (gone from the config, a duplicate, not placed on this workspace).
        reason: String,
    },
    /// Start a terminated cluster.
    Start {
        /// Cluster ID, or null when created in this run.
        id: Option<String>,
    },
    /// Terminate a cluster.
    Terminate {
        /// Cluster ID, or null when created in this run.
        id: Option<String>,
    },
    /// Replace the object's direct grants.
    SetPermissions {
        /// Object ID, or null when created in this run.
        id: Option<String>,
        /// Grants before.
        before: Vec<Grant>,
        /// Grants after.
        after: Vec<Grant>,
        /// Jobs without an IS_OWNER in the config keep the owner they have.
        keep_owner: bool,
        /// `before` was not read: the run sets the grants whatever they are (a promotion).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        before_unread: bool,
    },
    /// Create a secret scope.
    CreateScope {
        /// The scope's name.
        name: String,
    },
    /// Delete a secret scope tandem created (and its secrets).
    DeleteScope {
        /// The scope's name.
        name: String,
    },
    /// Write a secret's value (read from its source when applying; never in the plan).
    PutSecret {
        /// Scope name.
        scope: String,
        /// Secret key.
        key: String,
        /// `new`, `changed`, `unrecorded` (no fingerprint yet) or `unchecked` (the value could
        /// not be fingerprinted when planning: it is compared when applying, and written only
        /// when it differs).
        reason: String,
        /// Where the value is read from when applying (a variable name or a path, never a value).
        source: Option<crate::model::ValueSource>,
    },
    /// Delete a secret.
    DeleteSecret {
        /// Scope name.
        scope: String,
        /// Secret key.
        key: String,
    },
    /// Grant (or change) a scope ACL.
    PutAcl {
        /// Scope name.
        scope: String,
        /// Principal.
        principal: String,
        /// Permission before, if any.
        before: Option<String>,
        /// Permission after.
        permission: String,
    },
    /// Remove a scope ACL.
    DeleteAcl {
        /// Scope name.
        scope: String,
        /// Principal.
        principal: String,
        /// Permission before.
        before: String,
    },
}

impl Action {
    /// Whether this action removes something.
    pub fn is_destructive(&self) -> bool {
        matches!(
            self,
            Action::Delete { .. }
                | Action::Replace { .. }
                | Action::DeleteScope { .. }
                | Action::DeleteSecret { .. }
        )
    }

    /// A one-word name (`create`, `update`, ...).
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Create { .. } => "create",
            Action::Update { .. } => "update",
            Action::Replace { .. } => "replace",
            Action::Delete { .. } => "delete",
            Action::Start { .. } => "start",
            Action::Terminate { .. } => "terminate",
            Action::SetPermissions { .. } => "set permissions",
            Action::CreateScope { .. } => "create scope",
            Action::DeleteScope { .. } => "delete scope",
            Action::PutSecret { .. } => "put secret",
            Action::DeleteSecret { .. } => "delete secret",
            Action::PutAcl { .. } => "put acl",
            Action::DeleteAcl { .. } => "delete acl",
        }
    }
}

/// One action on one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedAction {
    /// The resource.
    pub resource: ResourceId,
    /// What to do.
    pub action: Action,
}

/// The plan of one workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspacePlan {
    /// Workspace name.
    pub workspace: String,
    /// Its role after this plan.
    pub role: Role,
    /// Actions, in apply order.
    pub actions: Vec<PlannedAction>,
    /// Values set differently from the config because of the role.
    pub overrides: Vec<Override>,
    /// Fingerprint of the live state the plan was computed from (stale-plan check).
    pub live_fingerprint: String,
    /// Things the operator should know (a pending fence, an unreachable workspace, ...).
    pub notes: Vec<String>,
    /// For each resource with an action or a secret not compared (`kind.key`), a digest of its
    /// configuration for this workspace: applying a saved plan refuses when the configuration
    /// has changed since.
    #[serde(default)]
    pub config_digests: BTreeMap<String, String>,
    /// Secrets whose source is absent in this run (a variable not set or empty, a file
    /// missing): their values are not compared, not counted as a change and never written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_compared: Vec<UncomparedSecret>,
}

/// A configured secret whose source is absent in this run: its value cannot be compared with
/// the workspace's, nor written. Applying needs the source (or `--skip-absent-secrets`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UncomparedSecret {
    /// The secret scope resource.
    pub resource: ResourceId,
    /// Scope name.
    pub scope: String,
    /// Secret key.
    pub key: String,
    /// Where the value would be read from (a variable name or a path, never a value).
    pub source: Option<crate::model::ValueSource>,
    /// Whether the workspace holds the secret already (if not, it cannot be created without
    /// its value).
    pub exists: bool,
    /// Why the source is absent (`environment variable X is not set or empty`).
    pub reason: String,
}

impl UncomparedSecret {
    /// One line for people: `secret etl/db_password: not compared (…)`, and what that leaves
    /// undone when the workspace lacks the secret.
    pub fn describe(&self) -> String {
        format!(
            "secret {}/{}: not compared ({}){}",
            self.scope,
            self.key,
            self.reason,
            if self.exists {
                ""
            } else {
                "; not in the workspace yet: applying needs the value to create it"
            }
        )
    }
}

/// A digest of what the configuration says of `id` for one workspace (its role's values, before
/// references are resolved), or of its absence.
pub fn config_digest(desired: &WorkspaceDesired, id: &ResourceId) -> String {
    use sha2::Digest as _;
    let resources = &desired.resources;
    let value = resources.get(id).map(|r| r.to_json());
    match value {
        Some(Ok(bytes)) => sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        Some(Err(_)) => "unserialisable".into(),
        None => "absent".into(),
    }
}

impl WorkspacePlan {
    /// Records the configuration digest of every resource this plan acts on (or leaves a
    /// secret of uncompared).
    pub fn record_config_digests(&mut self, desired: &WorkspaceDesired) {
        self.config_digests = self
            .resources_covered()
            .map(|r| (r.to_string(), config_digest(desired, r)))
            .collect();
    }

    /// The resources this plan acts on, and those with a secret it does not compare.
    pub fn resources_covered(&self) -> impl Iterator<Item = &ResourceId> {
        self.actions
            .iter()
            .map(|a| &a.resource)
            .chain(self.not_compared.iter().map(|s| &s.resource))
    }

    /// Counts per verb.
    pub fn summary(&self) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::new();
        for a in &self.actions {
            *out.entry(a.action.verb()).or_default() += 1;
        }
        out
    }
}

/// What this run knows of a configured secret's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesiredValue {
    /// Its fingerprint under the workspace's key.
    Fingerprint(String),
    /// The source can be read but the value cannot be fingerprinted now (no fingerprint key
    /// yet, or a source tandem refuses): it is compared (or refused) when applying.
    Unchecked,
    /// The source is absent in this run: why (names a variable or a path, never a value).
    Absent(String),
}

/// What is known about desired secrets: each value's fingerprint if its source can be read now,
/// and the fingerprints tandem recorded when it last wrote them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecretKnowledge {
    /// scope name → key → what is known of the value to write (missing: unchecked).
    pub desired: BTreeMap<String, BTreeMap<String, DesiredValue>>,
    /// scope name → key → fingerprint recorded in the state record.
    pub recorded: BTreeMap<String, BTreeMap<String, String>>,
    /// Scope names tandem created before (from the state record).
    pub managed_scopes: BTreeSet<String>,
}

/// Everything needed to plan one workspace.
pub struct PlanInput<'a> {
    /// Workspace name.
    pub workspace: &'a str,
    /// Environment name (for tags).
    pub environment: &'a str,
    /// Desired state, overrides applied.
    pub desired: &'a WorkspaceDesired,
    /// Live state.
    pub live: &'a LiveWorkspace,
    /// Secret fingerprints.
    pub secrets: &'a SecretKnowledge,
    /// The identity tandem runs as (its own scope ACL is never removed).
    pub caller: Option<&'a str>,
    /// The live fingerprint to record.
    pub live_fingerprint: String,
}

/// Computes the plan of one workspace: pools, clusters, jobs, then scopes, secrets and ACLs;
/// permissions after their object; deletions of jobs before the clusters and pools they use.
pub fn plan_workspace(input: &PlanInput) -> WorkspacePlan {
    let mut ids = LiveIds::new(input.live);
    let mut actions = Vec::new();
    for kind in Kind::tagged() {
        let spec = kind.spec();
        let live_objects = input.live.objects(kind);
        for (key, fields, permissions) in input.desired.resources.objects(kind) {
            let mut body = ids.resolve(&Value::Object(fields.clone()));
            if let Some(field) = spec.tags_field {
                body = with_tags(body, field, managed_tags(input.environment, key));
            }
            let resource = rid(kind, key);
            let live = live_objects.and_then(|o| o.get(key));
            plan_object(spec, &resource, body, live, &mut actions);
            if kind == Kind::Clusters {
                plan_cluster_state(input, &resource, live, &mut actions);
            }
            let managed = !permissions.is_empty() || held_back(input, &resource);
            plan_permissions(&resource, permissions, managed, live, &mut actions);
        }
        // A replaced object's ID changes: references to it wait for apply.
        ids.replaced = actions
            .iter()
            .filter(|a| matches!(a.action, Action::Replace { .. }))
            .map(|a| a.resource.clone())
            .collect();
    }

    let mut not_compared = Vec::new();
    plan_scopes(input, &mut actions, &mut not_compared);
    plan_deletions(input, &mut actions);

    WorkspacePlan {
        workspace: input.workspace.to_string(),
        role: input.desired.role,
        actions,
        overrides: input.desired.overrides.clone(),
        live_fingerprint: input.live_fingerprint.clone(),
        config_digests: BTreeMap::new(),
        notes: Vec::new(),
        not_compared,
    }
}

/// Plans one tagged object: created when missing; when fields differ, edited the kind's way,
/// or replaced when a field differs that the kind's edit cannot change.
fn plan_object(
    spec: &KindSpec,
    resource: &ResourceId,
    body: Value,
    live: Option<&LiveObject>,
    actions: &mut Vec<PlannedAction>,
) {
    let Some(live) = live else {
        actions.push(PlannedAction {
            resource: resource.clone(),
            action: Action::Create { body },
        });
        return;
    };
    let changes = diff::compare_object(as_map(&body), &live.body);
    if changes.is_empty() {
        return;
    }
    let action = if changes.iter().any(|c| !spec.can_edit(top(&c.path))) {
        Action::Replace {
            id: live.id.clone(),
            changes,
            body,
        }
    } else {
        Action::Update {
            id: live.id.clone(),
            changes,
            body: (spec.edit_body)(spec, &live.id, into_map(body)),
        }
    };
    actions.push(PlannedAction {
        resource: resource.clone(),
        action,
    });
}

/// Terminates or starts a cluster when its role says it must be stopped or running.
fn plan_cluster_state(
    input: &PlanInput,
    resource: &ResourceId,
    live: Option<&LiveObject>,
    actions: &mut Vec<PlannedAction>,
) {
    let state = live.and_then(|l| l.state.as_deref()).unwrap_or("PENDING");
    let stopped = matches!(state, "TERMINATED" | "TERMINATING");
    let id = live.map(|l| l.id.clone());
    let target = input
        .desired
        .cluster_targets
        .get(&resource.key)
        .copied()
        .unwrap_or(ClusterTarget::AsIs);
    let action = match target {
        ClusterTarget::Terminated if !stopped => Action::Terminate { id },
        ClusterTarget::Running if stopped => Action::Start { id },
        _ => return,
    };
    actions.push(PlannedAction {
        resource: resource.clone(),
        action,
    });
}

/// Plans scopes, their secrets and ACLs; the secrets this run cannot compare go to
/// `not_compared`.
fn plan_scopes(
    input: &PlanInput,
    actions: &mut Vec<PlannedAction>,
    not_compared: &mut Vec<UncomparedSecret>,
) {
    for (key, scope) in &input.desired.resources.secret_scopes {
        let resource = rid(Kind::SecretScopes, key);
        let name = scope.name().to_string();
        let live = input.live.secret_scopes.get(key);
        if live.is_none() {
            actions.push(PlannedAction {
                resource: resource.clone(),
                action: Action::CreateScope { name: name.clone() },
            });
        }
        let desired_values = input.secrets.desired.get(&name);
        let recorded = input.secrets.recorded.get(&name);
        for (secret, source) in &scope.secrets {
            let exists = live.is_some_and(|l| l.secrets.contains_key(secret));
            let want = desired_values.and_then(|d| d.get(secret));
            let had = recorded.and_then(|r| r.get(secret));
            let source = source.for_workspace(input.workspace).cloned();
            let reason = match (exists, want, had) {
                // Neither compared nor written, nor a change: this run has no value.
                (_, Some(DesiredValue::Absent(why)), _) => {
                    not_compared.push(UncomparedSecret {
                        resource: resource.clone(),
                        scope: name.clone(),
                        key: secret.clone(),
                        source: source.clone(),
                        exists,
                        reason: why.clone(),
                    });
                    None
                }
                (false, _, _) => Some("new"),
                (true, Some(DesiredValue::Fingerprint(w)), Some(h)) if w == h => None,
                (true, Some(DesiredValue::Fingerprint(_)), Some(_)) => Some("changed"),
                (true, Some(DesiredValue::Fingerprint(_)), None) => Some("unrecorded"),
                (true, Some(DesiredValue::Unchecked) | None, _) => Some("unchecked"),
            };
            if let Some(reason) = reason {
                actions.push(PlannedAction {
                    resource: resource.clone(),
                    action: Action::PutSecret {
                        scope: name.clone(),
                        key: secret.clone(),
                        reason: reason.into(),
                        source,
                    },
                });
            }
        }
        if let Some(live) = live {
            for secret in live.secrets.keys() {
                if !scope.secrets.contains_key(secret) {
                    actions.push(PlannedAction {
                        resource: resource.clone(),
                        action: Action::DeleteSecret {
                            scope: name.clone(),
                            key: secret.clone(),
                        },
                    });
                }
            }
        }
        let live_acls = live.map(|l| l.acls.clone()).unwrap_or_default();
        // Principals compared as the workspace tells them apart (a stored e-mail is lower-case).
        let live_acl = |principal: &str| {
            let key = PrincipalKey::of_name(principal);
            live_acls
                .iter()
                .find(|(p, _)| PrincipalKey::of_name(p) == key)
                .map(|(_, permission)| permission)
        };
        for SecretAcl {
            principal,
            permission,
        } in &scope.acls
        {
            let before = live_acl(principal);
            if before != Some(permission) {
                actions.push(PlannedAction {
                    resource: resource.clone(),
                    action: Action::PutAcl {
                        scope: name.clone(),
                        principal: principal.clone(),
                        before: before.cloned(),
                        permission: permission.clone(),
                    },
                });
            }
        }
        for (principal, before) in &live_acls {
            let mine = input
                .caller
                .is_some_and(|c| c.eq_ignore_ascii_case(principal));
            let key = PrincipalKey::of_name(principal);
            let configured = scope
                .acls
                .iter()
                .any(|a| PrincipalKey::of_name(&a.principal) == key);
            if !mine && !configured {
                actions.push(PlannedAction {
                    resource: resource.clone(),
                    action: Action::DeleteAcl {
                        scope: name.clone(),
                        principal: principal.clone(),
                        before: before.clone(),
                    },
                });
            }
        }
    }
}

fn plan_deletions(input: &PlanInput, actions: &mut Vec<PlannedAction>) {
    let desired = &input.desired.resources;
    let gone = "not in the configuration for this workspace";
    // Jobs first: they use the clusters and pools deleted after them.
    for kind in Kind::tagged().rev() {
        for (key, live) in input.live.objects(kind).into_iter().flatten() {
            if !desired.contains(&rid(kind, key)) {
                actions.push(PlannedAction {
                    resource: rid(kind, key),
                    action: Action::Delete {
                        id: live.id.clone(),
                        reason: gone.into(),
                    },
                });
            }
        }
    }
    // Scope names are case-insensitive: `Etl` and `etl` are one scope.
    let desired_scopes: BTreeSet<String> = desired
        .secret_scopes
        .values()
        .map(|s| s.name().to_lowercase())
        .collect();
    for name in &input.secrets.managed_scopes {
        if !desired_scopes.contains(&name.to_lowercase()) {
            actions.push(PlannedAction {
                resource: rid(Kind::SecretScopes, name),
                action: Action::DeleteScope { name: name.clone() },
            });
        }
    }
    for (kind, keys) in &input.live.duplicates {
        let Some(kind) = Kind::parse(kind) else {
            continue;
        };
        for (key, ids) in keys {
            for id in ids {
                actions.push(PlannedAction {
                    resource: rid(kind, key),
                    action: Action::Delete {
                        id: id.clone(),
                        reason: "a duplicate of the managed object".into(),
                    },
                });
            }
        }
    }
}

/// Plans the grants of one object: when the config lists permissions, they replace the direct
/// grants (objects whose config lists none keep theirs).
fn plan_permissions(
    resource: &ResourceId,
    wanted: &[Permission],
    managed: bool,
    live: Option<&LiveObject>,
    actions: &mut Vec<PlannedAction>,
) {
    if !managed {
        return; // an object whose config lists no grants keeps whatever it has
    }
    let mut after = Grant::configured(wanted);
    let keep_owner = resource.kind == Kind::Jobs && !after.iter().any(|g| g.level == "IS_OWNER");
    let before: Vec<Grant> = live.map(|l| l.grants.clone()).unwrap_or_default();
    if keep_owner && let Some(owner) = before.iter().find(|g| g.level == "IS_OWNER") {
        after.push(owner.clone());
    }
    after.sort();
    let mut sorted_before = before.clone();
    sorted_before.sort();
    let before_unread = live.is_some_and(|l| l.grants_unread);
    if live.is_none() || before_unread || !Grant::same(&sorted_before, &after) {
        actions.push(PlannedAction {
            resource: resource.clone(),
            action: Action::SetPermissions {
                id: live.map(|l| l.id.clone()),
                before: sorted_before,
                after,
                keep_owner,
                before_unread,
            },
        });
    }
}

/// Whether the role withholds some of this job's configured grants (then its grants are set
/// even when none remain to apply: the held ones must go).
fn held_back(input: &PlanInput, resource: &ResourceId) -> bool {
    input.desired.overrides.iter().any(|o| {
        &o.resource == resource
            && o.field == "permissions"
            && o.source == crate::policy::OverrideSource::Passive
    })
}

/// IDs of live managed objects, for resolving `${resources.<kind>.<key>.id}`.
struct LiveIds<'a> {
    live: &'a LiveWorkspace,
    /// Objects replaced in this run: their IDs change, so references wait for apply.
    replaced: BTreeSet<ResourceId>,
}

impl<'a> LiveIds<'a> {
    fn new(live: &'a LiveWorkspace) -> Self {
        LiveIds {
            live,
            replaced: BTreeSet::new(),
        }
    }

    fn id(&self, target: &ResourceId) -> Option<Value> {
        if self.replaced.contains(target) {
            return None;
        }
        let Some(objects) = self.live.objects(target.kind) else {
            // A scope is referred to by its name.
            return self
                .live
                .secret_scopes
                .get(&target.key)
                .map(|s| json!(s.name));
        };
        let id = &objects.get(&target.key)?.id;
        Some(target.kind.spec().id_value(id))
    }

    /// Resolves references to existing objects; references to objects not yet created stay.
    fn resolve(&self, value: &Value) -> Value {
        match value {
            // A reference to an object created in this run stays until apply knows its ID.
            Value::String(s) if s.contains("${") => {
                refs::resolve_resource_ids(value, &|id| self.id(id))
                    .unwrap_or_else(|_| Value::String(s.clone()))
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.resolve(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.resolve(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// Whether a value still holds a reference to an object created in the same run.
pub fn has_pending_reference(value: &Value) -> bool {
    match value {
        Value::String(s) => refs::scan(s)
            .iter()
            .any(|o| matches!(o.reference, Ok(refs::Reference::ResourceId(_)))),
        Value::Array(items) => items.iter().any(has_pending_reference),
        Value::Object(map) => map.values().any(has_pending_reference),
        _ => false,
    }
}

/// The tags marking an object as tandem's.
pub fn managed_tags(environment: &str, key: &str) -> Map<String, Value> {
    let mut tags = Map::new();
    tags.insert(TAG_MANAGED.into(), json!(TAG_MANAGED_VALUE));
    tags.insert(TAG_ENV.into(), json!(environment));
    tags.insert(TAG_KEY.into(), json!(key));
    tags
}

fn with_tags(mut body: Value, field: &str, tags: Map<String, Value>) -> Value {
    if let Value::Object(map) = &mut body {
        let entry = map
            .entry(field.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(existing) = entry {
            existing.extend(tags);
        }
    }
    body
}

/// The fields of an object body (none when it is not an object).
fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn as_map(value: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    value
        .as_object()
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

fn top(path: &str) -> &str {
    path.split(['.', '[']).next().unwrap_or(path)
}

fn rid(kind: Kind, key: &str) -> ResourceId {
    ResourceId {
        kind,
        key: key.to_string(),
    }
}

/// A workspace that could not be planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkspaceFailure {
    /// Workspace name.
    pub workspace: String,
    /// What went wrong.
    pub error: String,
    /// The guard refused it (its record says active, the environment file passive): nothing
    /// may be applied anywhere until that is resolved.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guard: bool,
    /// Its settings are wrong (credentials, host, or a desired state that cannot be built),
    /// not the workspace down: apply writes nowhere until they are fixed, so a typo never
    /// leaves the pair half-deployed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub misconfigured: bool,
    /// The workspace refused tandem's credentials (401, 403) or none could be had (missing, or
    /// refused by the token endpoint): reported as "authentication failed", not as unreachable.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub authentication: bool,
}

impl WorkspaceFailure {
    /// How the failure is labelled for people: `authentication failed` or `error`.
    pub fn label(&self) -> &'static str {
        if self.authentication {
            AUTHENTICATION_FAILED
        } else {
            "error"
        }
    }

    /// The error, led by `authentication failed: ` when it is one.
    pub fn described(&self) -> String {
        if self.authentication {
            format!("{AUTHENTICATION_FAILED}: {}", self.error)
        } else {
            self.error.clone()
        }
    }
}

/// The label of a workspace that refused tandem's credentials (or for which none could be had).
pub const AUTHENTICATION_FAILED: &str = "authentication failed";

/// The plan of a whole environment: every workspace side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_FORMAT_VERSION`].
    pub format_version: u32,
    /// Environment name.
    pub environment: String,
    /// The active workspace.
    pub active: String,
    /// Config commit (full SHA) or `working tree`.
    pub config_commit: String,
    /// Whether the work tree had uncommitted changes.
    pub config_dirty: bool,
    /// Config files changed since `--base`, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_files: Option<Vec<String>>,
    /// Resources defined in those files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_resources: Vec<ResourceId>,
    /// Per workspace.
    pub workspaces: Vec<WorkspacePlan>,
    /// Workspaces that could not be planned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<WorkspaceFailure>,
    /// Where each resource the plan acts on or overrides is declared (`kind.key` →
    /// `file:line`), so that a saved plan renders as it was planned.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub origins: BTreeMap<String, String>,
}

impl Plan {
    /// Whether any workspace has an action.
    pub fn has_changes(&self) -> bool {
        self.workspaces.iter().any(|w| !w.actions.is_empty())
    }

    /// Every secret not compared, with its workspace.
    pub fn not_compared(&self) -> impl Iterator<Item = (&str, &UncomparedSecret)> {
        self.workspaces.iter().flat_map(|w| {
            w.not_compared
                .iter()
                .map(move |s| (w.workspace.as_str(), s))
        })
    }

    /// Records where the resources it acts on or overrides are declared.
    pub fn record_origins(&mut self, origins: &render::Origins) {
        self.origins = self
            .resources()
            .filter_map(|id| origins.get(id).map(|o| (id.to_string(), o.clone())))
            .collect();
    }

    /// Where the resources it acts on or overrides are declared, as recorded.
    pub fn origins(&self) -> render::Origins {
        self.resources()
            .filter_map(|id| {
                let origin = self.origins.get(&id.to_string())?;
                Some((id.clone(), origin.clone()))
            })
            .collect()
    }

    /// Every resource it acts on or overrides (some more than once).
    fn resources(&self) -> impl Iterator<Item = &ResourceId> {
        self.workspaces.iter().flat_map(|w| {
            w.actions
                .iter()
                .map(|a| &a.resource)
                .chain(w.overrides.iter().map(|o| &o.resource))
        })
    }

    /// Whether any action deletes something.
    pub fn has_deletions(&self) -> bool {
        self.workspaces
            .iter()
            .flat_map(|w| &w.actions)
            .any(|a| a.action.is_destructive())
    }
}

#[cfg(test)]
impl Plan {
    /// A plan of `workspaces` in environment `test`, `primary` active, from the working tree.
    pub(crate) fn of_test(workspaces: Vec<WorkspacePlan>) -> Plan {
        Plan {
            format_version: crate::plan::PLAN_FORMAT_VERSION,
            environment: "test".into(),
            active: "primary".into(),
            config_commit: "working tree".into(),
            config_dirty: false,
            changed_files: None,
            changed_resources: Vec::new(),
            workspaces,
            failures: Vec::new(),
            origins: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Resources;
    use crate::model::live::LiveScope;

    fn desired() -> WorkspaceDesired {
        let resources: Resources = serde_json::from_value(json!({"secret_scopes": {"etl": {
            "name": "etl",
            "secrets": {"present": {"env": "A"}, "absent": {"env": "B"}, "absent_new": {"env": "C"}}
        }}}))
        .expect("resources");
        WorkspaceDesired {
            role: Role::Active,
            resources,
            cluster_targets: BTreeMap::new(),
            overrides: Vec::new(),
        }
    }

    fn live() -> LiveWorkspace {
        let mut live = LiveWorkspace::default();
        live.secret_scopes.insert(
            "etl".into(),
            LiveScope {
                name: "etl".into(),
                secrets: [("present".to_string(), 1), ("absent".to_string(), 1)].into(),
                acls: BTreeMap::new(),
            },
        );
        live
    }

    fn plan_with(values: [(&str, DesiredValue); 3]) -> WorkspacePlan {
        let desired = desired();
        let live = live();
        let secrets = SecretKnowledge {
            desired: [(
                "etl".to_string(),
                values
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            )]
            .into(),
            recorded: [(
                "etl".to_string(),
                [("present".to_string(), "fp".to_string())].into(),
            )]
            .into(),
            managed_scopes: BTreeSet::new(),
        };
        let mut plan = plan_workspace(&PlanInput {
            workspace: "primary",
            environment: "test",
            desired: &desired,
            live: &live,
            secrets: &secrets,
            caller: None,
            live_fingerprint: String::new(),
        });
        plan.record_config_digests(&desired);
        plan
    }

    #[test]
    fn a_secret_whose_source_is_absent_is_not_compared_and_not_a_change() {
        let absent = |var: &str| {
            DesiredValue::Absent(format!("environment variable {var} is not set or empty"))
        };
        let plan = plan_with([
            ("present", DesiredValue::Fingerprint("fp".into())),
            ("absent", absent("B")),
            ("absent_new", absent("C")),
        ]);
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        let described: Vec<String> = plan.not_compared.iter().map(|s| s.describe()).collect();
        assert_eq!(
            described,
            [
                "secret etl/absent: not compared (environment variable B is not set or empty)",
                "secret etl/absent_new: not compared (environment variable C is not set or empty); not in the workspace yet: applying needs the value to create it",
            ]
        );
        assert_eq!(
            plan.not_compared[1].source,
            Some(crate::model::ValueSource::Env("C".into()))
        );
        // A saved plan can tell later whether the scope's configuration changed.
        assert!(plan.config_digests.contains_key("secret_scopes.etl"));
        let whole = Plan::of_test(vec![plan]);
        assert!(!whole.has_changes());
        assert_eq!(whole.not_compared().count(), 2);
    }

    #[test]
    fn secrets_that_can_be_read_are_compared_as_before() {
        let plan = plan_with([
            ("present", DesiredValue::Fingerprint("other".into())),
            ("absent", DesiredValue::Unchecked),
            ("absent_new", DesiredValue::Fingerprint("x".into())),
        ]);
        assert!(plan.not_compared.is_empty());
        let reasons: Vec<(String, String)> = plan
            .actions
            .iter()
            .filter_map(|a| match &a.action {
                Action::PutSecret { key, reason, .. } => Some((key.clone(), reason.clone())),
                _ => None,
            })
            .collect();
        let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
            items
                .iter()
                .map(|(k, r)| (k.to_string(), r.to_string()))
                .collect()
        };
        assert_eq!(
            reasons,
            pairs(&[
                ("absent", "unchecked"),
                ("absent_new", "new"),
                ("present", "changed")
            ])
        );
    }

    /// Plans `resources` against `live` with no secrets to compare.
    fn plan_of(resources: Value, live: &LiveWorkspace) -> WorkspacePlan {
        let desired = WorkspaceDesired {
            role: Role::Active,
            resources: serde_json::from_value(resources).expect("resources"),
            cluster_targets: BTreeMap::new(),
            overrides: Vec::new(),
        };
        plan_workspace(&PlanInput {
            workspace: "primary",
            environment: "test",
            desired: &desired,
            live,
            secrets: &SecretKnowledge::default(),
            caller: None,
            live_fingerprint: String::new(),
        })
    }

    /// A live pool named `p` (tagged as tandem's key `p`) with `grants` read from the workspace.
    fn live_pool(grants: Value) -> LiveWorkspace {
        let mut live = LiveWorkspace::default();
        let tags = managed_tags("test", "p");
        live.instance_pools.insert(
            "p".into(),
            LiveObject {
                id: "pool-1".into(),
                body: json!({"instance_pool_name": "p", "custom_tags": tags})
                    .as_object()
                    .cloned()
                    .expect("object"),
                state: None,
                grants: Grant::direct_in(&json!({"access_control_list": grants})),
                grants_unread: false,
            },
        );
        live
    }

    fn pool_with(permissions: Value) -> Value {
        json!({"instance_pools": {"p": {"instance_pool_name": "p", "permissions": permissions}}})
    }

    fn direct(field: &str, name: &str, level: &str) -> Value {
        json!({field: name, "all_permissions": [{"permission_level": level, "inherited": false}]})
    }

    #[test]
    fn user_names_and_application_ids_are_compared_as_the_workspace_stores_them() {
        let live = live_pool(json!([
            direct("user_name", "alice@example.com", "CAN_MANAGE"),
            direct(
                "service_principal_name",
                "6f1c2a9e-1d2b-4c3d-9e8f-0a1b2c3d4e5f",
                "CAN_ATTACH_TO"
            ),
            direct(
                "service_principal_name",
                "0a1b2c3d-1d2b-4c3d-9e8f-6f1c2a9e4e5f",
                "CAN_ATTACH_TO"
            ),
        ]));
        let plan = plan_of(
            pool_with(json!([
                {"user_name": "Alice@Example.com", "level": "CAN_MANAGE"},
                {"service_principal_name": "6F1C2A9E-1D2B-4C3D-9E8F-0A1B2C3D4E5F", "level": "CAN_ATTACH_TO"},
                // An application ID given as a user name comes back as a service principal.
                {"user_name": "0a1b2c3d-1d2b-4c3d-9e8f-6f1c2a9e4e5f", "level": "CAN_ATTACH_TO"}
            ])),
            &live,
        );
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    }

    #[test]
    fn group_names_are_case_sensitive() {
        let live = live_pool(json!([direct("group_name", "data-eng", "CAN_MANAGE")]));
        let plan = plan_of(
            pool_with(json!([{"group_name": "Data-Eng", "level": "CAN_MANAGE"}])),
            &live,
        );
        assert!(
            matches!(
                &plan.actions[..],
                [PlannedAction {
                    action: Action::SetPermissions { .. },
                    ..
                }]
            ),
            "{:?}",
            plan.actions
        );
    }

    #[test]
    fn a_changed_level_of_a_user_in_another_case_is_still_a_change() {
        let live = live_pool(json!([direct(
            "user_name",
            "alice@example.com",
            "CAN_ATTACH_TO"
        )]));
        let plan = plan_of(
            pool_with(json!([{"user_name": "Alice@Example.com", "level": "CAN_MANAGE"}])),
            &live,
        );
        let Some(Action::SetPermissions { after, .. }) = plan.actions.first().map(|a| &a.action)
        else {
            panic!("expected set permissions: {:?}", plan.actions);
        };
        // What the configuration says is written; the workspace stores it its way.
        assert_eq!(after[0].principal.name(), "Alice@Example.com");
    }

    #[test]
    fn scope_acls_compare_e_mails_without_case_and_groups_with_it() {
        let mut live = LiveWorkspace::default();
        live.secret_scopes.insert(
            "etl".into(),
            LiveScope {
                name: "etl".into(),
                secrets: BTreeMap::new(),
                acls: [
                    ("alice@example.com".to_string(), "READ".to_string()),
                    ("data-eng".to_string(), "WRITE".to_string()),
                ]
                .into(),
            },
        );
        let plan = plan_of(
            json!({"secret_scopes": {"etl": {"name": "etl", "acls": [
                {"principal": "Alice@Example.com", "permission": "READ"},
                {"principal": "Data-Eng", "permission": "WRITE"}
            ]}}}),
            &live,
        );
        let verbs: Vec<String> = plan
            .actions
            .iter()
            .map(|a| match &a.action {
                Action::PutAcl { principal, .. } => format!("put {principal}"),
                Action::DeleteAcl { principal, .. } => format!("delete {principal}"),
                other => other.verb().to_string(),
            })
            .collect();
        assert_eq!(verbs, ["put Data-Eng", "delete data-eng"]);
    }
}
