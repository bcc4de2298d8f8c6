//! What a passive role changes: each field set differently from a resource's configuration
//! (and why), and whether a cluster is kept running or terminated. Pure data, shown in plans;
//! each kind's rules are in `kinds`.

use serde::Serialize;
use serde_json::Value;

use super::ResourceId;

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
