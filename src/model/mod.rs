//! Typed desired resources, one struct per kind. Pure data: no I/O, no network.
//!
//! API fields are kept as the JSON the Databricks API takes (`settings`, `spec`), already checked
//! against the kind's JSON Schema; tandem's own fields are typed.

pub mod live;
pub mod passive;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Secret scopes named with this prefix (case-insensitive) are tandem's own seal scopes.
pub const RESERVED_SCOPE_PREFIX: &str = "tandem.";
/// A workspace's role: only one is active at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the workloads.
    Active,
    /// Holds everything deployed but runs nothing.
    Passive,
}

impl Role {
    /// `active` or `passive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Active => "active",
            Role::Passive => "passive",
        }
    }
}

impl Kind {
    /// The kind named `name` in config files.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies one resource: its kind and logical key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourceId {
    /// The kind.
    pub kind: Kind,
    /// The logical key (`[a-z][a-z0-9_]*`).
    pub key: String,
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.key)
    }
}

/// Where a resource is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// Every workspace (the default).
    #[default]
    Both,
    /// Only the active workspace.
    ActiveOnly,
}

impl Placement {
    fn is_default(&self) -> bool {
        *self == Placement::Both
    }
}

/// Who a permission entry grants to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Principal {
    /// A user, by user name (e-mail).
    UserName(String),
    /// A group, by display name.
    GroupName(String),
    /// A service principal, by application ID.
    ServicePrincipalName(String),
}

impl Principal {
    /// The principal's name, whatever its type.
    pub fn name(&self) -> &str {
        match self {
            Principal::UserName(n)
            | Principal::GroupName(n)
            | Principal::ServicePrincipalName(n) => n,
        }
    }

    /// Who this is, as a workspace tells principals apart.
    pub fn key(&self) -> PrincipalKey {
        match self {
            Principal::UserName(n) | Principal::ServicePrincipalName(n) => {
                PrincipalKey::Identity(n.to_lowercase())
            }
            Principal::GroupName(n) => PrincipalKey::Group(n.clone()),
        }
    }
}

/// A principal as a workspace tells principals apart, to compare configured names with stored
/// ones. A workspace stores user names (e-mails) lower-case whatever case they were written in,
/// and service principal application IDs (UUIDs) lower-case too; an application ID written as
/// `user_name` comes back as `service_principal_name`. Group names are case-sensitive: `Admins`
/// and `admins` can be two groups.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrincipalKey {
    /// A user or service principal: the name lower-cased.
    Identity(String),
    /// A group: the name as written.
    Group(String),
}

impl PrincipalKey {
    /// The key of a bare name whose kind is not given (a secret ACL's principal, a cluster's
    /// `single_user_name`): an e-mail address (it has an `@`) or a UUID names a user or
    /// service principal, anything else a group.
    pub fn of_name(name: &str) -> PrincipalKey {
        if name.contains('@') || is_uuid(name) {
            PrincipalKey::Identity(name.to_lowercase())
        } else {
            PrincipalKey::Group(name.to_string())
        }
    }
}

/// Whether `s` is a UUID (`8-4-4-4-12` hexadecimal digits), the form of an application ID.
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// One object-permission grant, as written in config (`{group_name: x, level: CAN_VIEW}`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Permission {
    /// Who.
    #[serde(flatten)]
    pub principal: Principal,
    /// Which level (valid for the object's kind).
    pub level: String,
}

impl Permission {
    /// Whether this is the owner entry of a job.
    pub fn is_owner(&self) -> bool {
        self.level == "IS_OWNER"
    }
}

/// How job permissions are treated on a passive workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassivePermissions {
    /// Only the owner entry (the built-in behaviour).
    OwnerOnly,
    /// Every entry, as on the active workspace.
    All,
}

/// Pause status of a schedule, trigger or continuous job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PauseStatus {
    /// Runs are not started.
    Paused,
    /// Runs are started.
    Unpaused,
}

/// A job's own values for passive workspaces, replacing the built-in overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobPassive {
    /// `max_concurrent_runs` on passive workspaces (built-in: 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_runs: Option<u32>,
    /// Pause status of schedule/trigger/continuous on passive workspaces (built-in: PAUSED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_status: Option<PauseStatus>,
    /// Which permissions are applied on passive workspaces (built-in: owner only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<PassivePermissions>,
}

/// Whether a cluster runs on passive workspaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterState {
    /// Terminated (the built-in passive state).
    Terminated,
    /// Running.
    Running,
}

/// A cluster's own values for passive workspaces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterPassive {
    /// State on passive workspaces (built-in: terminated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ClusterState>,
}

/// A pool's own values for passive workspaces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolPassive {
    /// `min_idle_instances` on passive workspaces (built-in: 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_idle_instances: Option<u32>,
}

/// A desired job: JobSettings as `jobs/create` takes them, plus tandem's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// JobSettings fields, as the API takes them (may hold `${...}` references).
    #[serde(flatten)]
    pub settings: Map<String, Value>,
    /// Object permissions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<Permission>,
    /// Values for passive workspaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passive: Option<JobPassive>,
    /// Where the job is deployed.
    #[serde(default, skip_serializing_if = "Placement::is_default")]
    pub placement: Placement,
}

/// A desired all-purpose cluster: the `clusters/create` spec plus tandem's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// Cluster spec fields, as the API takes them.
    #[serde(flatten)]
    pub spec: Map<String, Value>,
    /// Object permissions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<Permission>,
    /// Start this cluster on the workspace that becomes active by `promote`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub start_on_promote: bool,
    /// Values for passive workspaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passive: Option<ClusterPassive>,
    /// Where the cluster is deployed.
    #[serde(default, skip_serializing_if = "Placement::is_default")]
    pub placement: Placement,
}

/// A desired instance pool: the `instance-pools/create` spec plus tandem's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstancePool {
    /// Pool spec fields, as the API takes them.
    #[serde(flatten)]
    pub spec: Map<String, Value>,
    /// Object permissions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<Permission>,
    /// Values for passive workspaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passive: Option<PoolPassive>,
    /// Where the pool is deployed.
    #[serde(default, skip_serializing_if = "Placement::is_default")]
    pub placement: Placement,
}

/// Where a secret's value is read from when applying. Values never live in config.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueSource {
    /// An environment variable of the process running tandem.
    Env(String),
    /// A file outside the repository.
    File(String),
}

/// A secret's source: the same everywhere, or one per workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    /// The same source for every workspace.
    Uniform(ValueSource),
    /// A source per workspace name.
    PerWorkspace(BTreeMap<String, ValueSource>),
}

impl SecretSource {
    /// The source used for `workspace`.
    pub fn for_workspace(&self, workspace: &str) -> Option<&ValueSource> {
        match self {
            SecretSource::Uniform(source) => Some(source),
            SecretSource::PerWorkspace(map) => map.get(workspace),
        }
    }
}

/// One secret-scope ACL entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SecretAcl {
    /// User or group name.
    pub principal: String,
    /// `READ`, `WRITE` or `MANAGE`.
    pub permission: String,
}

/// A desired secret scope with its secrets and ACLs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretScope {
    /// Scope fields the API takes (`name`, `initial_manage_principal`, backend settings).
    #[serde(flatten)]
    pub spec: Map<String, Value>,
    /// Secrets by key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, SecretSource>,
    /// ACL entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acls: Vec<SecretAcl>,
    /// Where the scope is deployed.
    #[serde(default, skip_serializing_if = "Placement::is_default")]
    pub placement: Placement,
}

impl SecretScope {
    /// The scope's name in the workspace.
    pub fn name(&self) -> &str {
        self.spec
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// What every desired resource has, whatever its kind.
pub trait Desired {
    /// The fields the API takes, as configured (may hold `${...}` references).
    fn api_fields(&self) -> &Map<String, Value>;
    /// Configured object permissions (none for kinds with ACLs instead).
    fn permissions(&self) -> &[Permission];
    /// Where it is deployed.
    fn placement(&self) -> Placement;
    /// Its configuration as JSON bytes (what a saved plan's digest is taken of).
    fn to_json(&self) -> serde_json::Result<Vec<u8>>;
}

/// Implements [`Desired`] for a kind's typed resource: `$fields` holds its API fields,
/// `$permissions` (when given) its object permissions.
macro_rules! desired {
    ($ty:ty, $fields:ident $(, $permissions:ident)?) => {
        impl Desired for $ty {
            fn api_fields(&self) -> &Map<String, Value> {
                &self.$fields
            }
            fn permissions(&self) -> &[Permission] {
                desired!(@permissions self $(, $permissions)?)
            }
            fn placement(&self) -> Placement {
                self.placement
            }
            fn to_json(&self) -> serde_json::Result<Vec<u8>> {
                serde_json::to_vec(self)
            }
        }
    };
    (@permissions $self:ident, $permissions:ident) => {
        $self.$permissions.as_slice()
    };
    (@permissions $self:ident) => {
        &[]
    };
}

desired!(Job, settings, permissions);
desired!(Cluster, spec, permissions);
desired!(InstancePool, spec, permissions);
desired!(SecretScope, spec);

/// Declares the kinds once: the [`Kind`] enum (in apply order), its config names, and the
/// field of [`Resources`] holding each kind's typed resources. A new kind is one line here.
macro_rules! kinds {
    ($($(#[doc = $doc:literal])* $kind:ident => $field:ident: $ty:ty;)*) => {
        /// The kinds of resource tandem manages.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Kind {
            $($(#[doc = $doc])* $kind,)*
        }

        impl Kind {
            /// Every kind, in apply order (pools before the clusters on them, before the jobs
            /// using those).
            pub const ALL: [Kind; [$(stringify!($kind)),*].len()] = [$(Kind::$kind),*];

            /// The name used in config files and references (`jobs`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Kind::$kind => stringify!($field),)*
                }
            }
        }

        /// Every desired resource of an environment, by kind and key.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Resources {
            $(
                $(#[doc = $doc])*
                #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
                pub $field: BTreeMap<String, $ty>,
            )*
        }

        impl Resources {
            /// The resources of `kind`, in key order.
            pub fn entries(&self, kind: Kind) -> Vec<(&String, &dyn Desired)> {
                match kind {
                    $(Kind::$kind => self
                        .$field
                        .iter()
                        .map(|(k, r)| (k, r as &dyn Desired))
                        .collect(),)*
                }
            }

            /// The resource `id`, if it exists.
            pub fn get(&self, id: &ResourceId) -> Option<&dyn Desired> {
                match id.kind {
                    $(Kind::$kind => self.$field.get(&id.key).map(|r| r as &dyn Desired),)*
                }
            }

            /// Only the resource `id` (none when it does not exist).
            pub fn only(&self, id: &ResourceId) -> Resources {
                let mut single = Resources::default();
                match id.kind {
                    $(Kind::$kind => {
                        if let Some((k, r)) = self.$field.get_key_value(&id.key) {
                            single.$field.insert(k.clone(), r.clone());
                        }
                    })*
                }
                single
            }

            /// Adds one resource from its schema-checked JSON; the error is serde's message.
            pub fn insert_json(
                &mut self,
                kind: Kind,
                key: String,
                value: Value,
            ) -> Result<(), String> {
                match kind {
                    $(Kind::$kind => {
                        let typed = serde_json::from_value(value).map_err(|e| e.to_string())?;
                        self.$field.insert(key, typed);
                    })*
                }
                Ok(())
            }
        }
    };
}

kinds! {
    /// Instance pools.
    InstancePools => instance_pools: InstancePool;
    /// All-purpose clusters.
    Clusters => clusters: Cluster;
    /// Jobs.
    Jobs => jobs: Job;
    /// Secret scopes with their secrets and ACLs.
    SecretScopes => secret_scopes: SecretScope;
}

impl Resources {
    /// How many resources of `kind` there are.
    pub fn count(&self, kind: Kind) -> usize {
        self.entries(kind).len()
    }

    /// Whether the resource exists.
    pub fn contains(&self, id: &ResourceId) -> bool {
        self.get(id).is_some()
    }

    /// The objects of a tagged kind (jobs, clusters, pools), in key order: each key with its API
    /// fields and configured permissions (none for secret scopes, which are not objects).
    pub fn objects(&self, kind: Kind) -> Vec<(&String, &Map<String, Value>, &[Permission])> {
        if kind.spec().tags_field.is_none() {
            return Vec::new();
        }
        self.entries(kind)
            .into_iter()
            .map(|(k, r)| (k, r.api_fields(), r.permissions()))
            .collect()
    }

    /// The keys of the resources of `kind`, in order.
    pub fn keys(&self, kind: Kind) -> Vec<String> {
        self.entries(kind)
            .into_iter()
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The objects whose configuration lists permissions: the only ones whose grants tandem
    /// decides anything from (the others keep whatever grants they have, on every role; a
    /// passive hold, too, needs listed permissions to hold back).
    pub fn with_permissions(&self) -> BTreeSet<ResourceId> {
        Kind::ALL
            .into_iter()
            .flat_map(|kind| {
                self.entries(kind)
                    .into_iter()
                    .filter(|(_, r)| !r.permissions().is_empty())
                    .map(move |(key, _)| ResourceId {
                        kind,
                        key: key.clone(),
                    })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_objects_that_list_permissions_have_their_grants_decided() {
        let mut r = Resources::default();
        let grant = json!([{"group_name": "g", "level": "CAN_VIEW"}]);
        r.insert_json(
            Kind::Jobs,
            "listed".into(),
            json!({"name": "a", "permissions": grant}),
        )
        .expect("job");
        r.insert_json(Kind::Jobs, "plain".into(), json!({"name": "b"}))
            .expect("job");
        let pool_grant = json!([{"group_name": "g", "level": "CAN_ATTACH_TO"}]);
        r.insert_json(
            Kind::InstancePools,
            "p".into(),
            json!({"instance_pool_name": "p", "permissions": pool_grant}),
        )
        .expect("pool");
        r.insert_json(Kind::Clusters, "c".into(), json!({"cluster_name": "c"}))
            .expect("cluster");
        let id = |kind, key: &str| ResourceId {
            kind,
            key: key.into(),
        };
        assert_eq!(
            r.with_permissions(),
            BTreeSet::from([id(Kind::Jobs, "listed"), id(Kind::InstancePools, "p")])
        );
    }

    #[test]
    fn principals_are_keyed_as_the_workspace_tells_them_apart() {
        let user = Principal::UserName("Alice@Example.com".into());
        assert_eq!(
            user.key(),
            Principal::UserName("alice@example.com".into()).key()
        );
        let app = "6F1C2A9E-1D2B-4C3D-9E8F-0A1B2C3D4E5F";
        let sp = Principal::ServicePrincipalName(app.into());
        assert_eq!(sp.key(), Principal::UserName(app.to_lowercase()).key());
        let group = Principal::GroupName("Data-Eng".into());
        assert_ne!(group.key(), Principal::GroupName("data-eng".into()).key());
        assert_eq!(group.key(), Principal::GroupName("Data-Eng".into()).key());
    }

    #[test]
    fn an_acl_principal_is_a_user_or_service_principal_by_its_shape() {
        let key = PrincipalKey::of_name;
        assert_eq!(key("Alice@Example.com"), key("alice@example.com"));
        assert_eq!(
            key("6F1C2A9E-1D2B-4C3D-9E8F-0A1B2C3D4E5F"),
            PrincipalKey::Identity("6f1c2a9e-1d2b-4c3d-9e8f-0a1b2c3d4e5f".into())
        );
        assert_eq!(key("Data-Eng"), PrincipalKey::Group("Data-Eng".into()));
        assert_ne!(key("Data-Eng"), key("data-eng"));
        assert_eq!(key("users"), PrincipalKey::Group("users".into()));
    }
}
