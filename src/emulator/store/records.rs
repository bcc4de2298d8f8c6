//! The records the emulated workspace stores, one struct per kind of object: what the
//! handlers read and write through [`super::Db`] and what the state file holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A job as the workspace stores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobRecord {
    /// Job ID.
    pub job_id: i64,
    /// Who created it.
    pub creator_user_name: String,
    /// Who runs it (the owner).
    pub run_as_user_name: String,
    /// Creation time, epoch ms.
    pub created_time: i64,
    /// JobSettings, normalised as GET returns them.
    pub settings: Map<String, Value>,
}

/// A run of a job.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    /// Run ID.
    pub run_id: i64,
    /// The job.
    pub job_id: i64,
    /// Start time, epoch ms.
    pub start_time: i64,
    /// Life-cycle state (`SKIPPED`, `TERMINATED`, ...).
    pub life_cycle_state: String,
    /// Result (`SUCCESS`, ...), when ended.
    pub result_state: Option<String>,
    /// Why, for skipped runs.
    pub state_message: String,
    /// Who started it.
    pub creator_user_name: String,
    /// `number_in_job` (the service sets it to the run ID).
    #[serde(default)]
    pub number_in_job: i64,
    /// The `idempotency_token` it was started with.
    #[serde(default)]
    pub idempotency_token: Option<String>,
    /// The job's name when the run started.
    #[serde(default)]
    pub run_name: String,
    /// Resolved job parameters: `[{name, default?, value}]`.
    #[serde(default)]
    pub job_parameters: Vec<Value>,
    /// The task runs: each task's settings with its own `run_id`, `task_key` and `state`.
    #[serde(default)]
    pub tasks: Vec<Value>,
    /// A one-time run from `runs/submit` (no job; `job_id` is 0).
    #[serde(default)]
    pub submitted: bool,
}

/// A cluster as the workspace stores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClusterRecord {
    /// Cluster ID (`0101-120000-abcd1234`).
    pub cluster_id: String,
    /// The last create/edit spec (what `spec` echoes).
    pub spec: Map<String, Value>,
    /// `PENDING`, `RUNNING`, `RESTARTING`, `RESIZING`, `TERMINATING`, `TERMINATED`.
    pub state: String,
    /// When `state` was entered, epoch ms.
    pub state_since: i64,
    /// Who created it.
    pub creator_user_name: String,
    /// `API`, `UI`, `JOB`, ...
    pub cluster_source: String,
    /// Pinned clusters cannot be permanently deleted.
    pub pinned: bool,
    /// Start time, epoch ms.
    pub start_time: i64,
    /// Termination time, epoch ms.
    pub terminated_time: Option<i64>,
    /// When the cluster was last started or restarted, epoch ms.
    #[serde(default)]
    pub last_restarted_time: Option<i64>,
    /// Why it is terminating or terminated (`{code, type, parameters}`).
    #[serde(default)]
    pub termination_reason: Option<Value>,
    /// Who pinned it.
    #[serde(default)]
    pub pinned_by_user_name: Option<String>,
    /// Its event log, oldest first (what `clusters/events` pages through).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<ClusterEvent>,
}

/// One entry of a cluster's event log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClusterEvent {
    /// When, epoch ms.
    pub timestamp: i64,
    /// `CREATING`, `STARTING`, `RUNNING`, `TERMINATING`, `EDITED`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Type-specific details (`reason`, `current_num_workers`, `user`, ...).
    #[serde(default)]
    pub details: Map<String, Value>,
}

/// An instance pool as the workspace stores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PoolRecord {
    /// Pool ID.
    pub instance_pool_id: String,
    /// The pool's settings, with server defaults filled in.
    pub spec: Map<String, Value>,
    /// `ACTIVE`, `STOPPED` or `DELETED`.
    pub state: String,
    /// Who created it.
    pub creator_user_name: String,
    /// The creator's numeric user ID (for the `DatabricksInstancePoolCreatorId` tag).
    #[serde(default)]
    pub creator_id: String,
}

/// A secret: its value is kept only as a keyed fingerprint, so no state file ever holds it or
/// anything a reader could test guesses against. (Records written before fingerprints were keyed
/// carried a plain `sha256`; it is dropped on loading, and such a secret matches no value.)
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SecretRecord {
    /// Key.
    pub key: String,
    /// Random salt of the fingerprint, hex (16 bytes): equal values get unequal fingerprints.
    #[serde(default)]
    pub salt: String,
    /// HMAC-SHA256 of salt ‖ value under the workspace's [`super::ValueKey`], hex.
    #[serde(default)]
    pub hmac_sha256: String,
    /// Value size in bytes.
    pub size: usize,
    /// Last write, epoch ms.
    pub last_updated_timestamp: i64,
}

/// A secret scope with its secrets and ACLs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScopeRecord {
    /// Name as created.
    pub name: String,
    /// `DATABRICKS` or `AZURE_KEYVAULT`.
    pub backend_type: String,
    /// Secrets by key.
    pub secrets: BTreeMap<String, SecretRecord>,
    /// ACLs: principal → `READ` | `WRITE` | `MANAGE`.
    pub acls: BTreeMap<String, String>,
    /// `{resource_id, dns_name}` of an Azure Key Vault-backed scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyvault_metadata: Option<Value>,
}

/// One direct grant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AclEntry {
    /// `user_name`, `group_name` or `service_principal_name`.
    pub principal_type: String,
    /// The principal.
    pub name: String,
    /// The level.
    pub level: String,
}

/// The direct grants of one object (inherited `admins` entries are added when answering).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AclRecord {
    /// `jobs`, `clusters` or `instance-pools`.
    pub object_type: String,
    /// The object's ID.
    pub object_id: String,
    /// Direct grants, one per principal.
    pub entries: Vec<AclEntry>,
}

/// A user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserRecord {
    /// SCIM ID.
    pub id: String,
    /// User name (e-mail).
    pub user_name: String,
    /// Display name.
    pub display_name: String,
    /// Whether the user is active.
    pub active: bool,
}

/// A group.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupRecord {
    /// SCIM ID.
    pub id: String,
    /// Display name (what permissions name).
    pub display_name: String,
    /// Member user IDs.
    pub members: Vec<String>,
}

/// A service principal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServicePrincipalRecord {
    /// SCIM ID.
    pub id: String,
    /// Application ID (what permissions name).
    pub application_id: String,
    /// Display name.
    pub display_name: String,
}

/// A file or directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileRecord {
    /// Absolute path.
    pub path: String,
    /// `DIRECTORY`, `FILE` or `NOTEBOOK`.
    pub object_type: String,
    /// Object ID.
    pub object_id: i64,
    /// Content, base64 (files only).
    pub content: Option<String>,
    /// Creation time, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub modified_at: i64,
    /// `PYTHON`, `SQL`, `SCALA` or `R` (notebooks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_with_a_plain_sha256_loads_without_it() {
        let old = json!({"key": "k", "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "size": 3, "last_updated_timestamp": 1});
        let loaded: SecretRecord = serde_json::from_value(old).expect("old record");
        let saved = serde_json::to_string(&loaded).expect("json");
        assert!(!saved.contains("ba7816bf"), "{saved}");
    }
}
