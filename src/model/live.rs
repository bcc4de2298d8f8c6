//! What a workspace holds, as read by the engine: tandem's own objects (found by their tags),
//! secret scopes by name, and the state record. Pure data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Kind, Permission, Principal};

/// One direct grant read from the Permissions API.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Grant {
    /// Who.
    #[serde(flatten)]
    pub principal: Principal,
    /// Level.
    pub level: String,
}

impl Grant {
    /// The grants configured permissions give an object, sorted: what setting them writes
    /// when the owner is among them.
    pub fn configured(wanted: &[Permission]) -> Vec<Grant> {
        let mut grants: Vec<Grant> = wanted
            .iter()
            .map(|p| Grant {
                principal: p.principal.clone(),
                level: p.level.clone(),
            })
            .collect();
        grants.sort();
        grants
    }

    /// The direct (not inherited) grants of a Permissions API answer, sorted.
    pub fn direct_in(answer: &Value) -> Vec<Grant> {
        let mut out = Vec::new();
        for entry in answer
            .get("access_control_list")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let principal = if let Some(u) = entry.get("user_name").and_then(Value::as_str) {
                Principal::UserName(u.into())
            } else if let Some(g) = entry.get("group_name").and_then(Value::as_str) {
                Principal::GroupName(g.into())
            } else if let Some(s) = entry.get("service_principal_name").and_then(Value::as_str) {
                Principal::ServicePrincipalName(s.into())
            } else {
                continue;
            };
            for permission in entry
                .get("all_permissions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if permission.get("inherited") == Some(&Value::Bool(true)) {
                    continue;
                }
                if let Some(level) = permission.get("permission_level").and_then(Value::as_str) {
                    out.push(Grant {
                        principal: principal.clone(),
                        level: level.into(),
                    });
                }
            }
        }
        out.sort();
        out
    }

    /// Whether two lists give the same principals the same levels, principals compared as the
    /// workspace tells them apart ([`Principal::key`]): configured `Alice@Example.com` is the
    /// stored `alice@example.com`.
    pub fn same(a: &[Grant], b: &[Grant]) -> bool {
        let keyed = |grants: &[Grant]| {
            let mut keys: Vec<_> = grants
                .iter()
                .map(|g| (g.principal.key(), g.level.clone()))
                .collect();
            keys.sort();
            keys
        };
        keyed(a) == keyed(b)
    }

    /// The grant as an entry of the Permissions API's `access_control_list`.
    pub fn acl_entry(&self) -> Value {
        let field = match &self.principal {
            Principal::UserName(_) => "user_name",
            Principal::GroupName(_) => "group_name",
            Principal::ServicePrincipalName(_) => "service_principal_name",
        };
        json!({field: self.principal.name(), "permission_level": self.level})
    }
}

/// A job, cluster or pool that carries tandem's tags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveObject {
    /// Its ID (`job_id` as text, `cluster_id`, `instance_pool_id`).
    pub id: String,
    /// Its fields: job settings, or the cluster's / pool's top-level fields.
    pub body: Map<String, Value>,
    /// A cluster's state (`RUNNING`, `TERMINATED`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Direct grants (inherited ones are not tandem's).
    pub grants: Vec<Grant>,
    /// The grants were not read: the run rewrites them whatever they are (a promotion flipping
    /// the job's held-back grants), or the configuration lists none (they are left alone).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub grants_unread: bool,
}

/// A secret scope found by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveScope {
    /// The scope's name.
    pub name: String,
    /// Secret keys and their last_updated_timestamp (values are never readable).
    pub secrets: BTreeMap<String, i64>,
    /// ACLs: principal → permission.
    pub acls: BTreeMap<String, String>,
}

/// Everything tandem manages in one workspace, by logical key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveWorkspace {
    /// Managed jobs.
    pub jobs: BTreeMap<String, LiveObject>,
    /// Managed clusters.
    pub clusters: BTreeMap<String, LiveObject>,
    /// Managed instance pools.
    pub instance_pools: BTreeMap<String, LiveObject>,
    /// Secret scopes whose names the config uses, by the config's key.
    pub secret_scopes: BTreeMap<String, LiveScope>,
    /// Extra copies of managed objects (a create whose response was lost, retried by another
    /// tool): kind name → key → IDs. tandem deletes them.
    pub duplicates: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Objects without tandem's tags: kind name → object name → ID (to warn about look-alikes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unmanaged: BTreeMap<String, BTreeMap<String, String>>,
}

impl LiveWorkspace {
    /// The managed objects of a tagged kind by key (None for secret scopes, which are not
    /// objects with IDs).
    pub fn objects(&self, kind: Kind) -> Option<&BTreeMap<String, LiveObject>> {
        match kind {
            Kind::Jobs => Some(&self.jobs),
            Kind::Clusters => Some(&self.clusters),
            Kind::InstancePools => Some(&self.instance_pools),
            Kind::SecretScopes => None,
        }
    }

    /// [`LiveWorkspace::objects`], to fill in.
    pub fn objects_mut(&mut self, kind: Kind) -> Option<&mut BTreeMap<String, LiveObject>> {
        match kind {
            Kind::Jobs => Some(&mut self.jobs),
            Kind::Clusters => Some(&mut self.clusters),
            Kind::InstancePools => Some(&mut self.instance_pools),
            Kind::SecretScopes => None,
        }
    }
}
