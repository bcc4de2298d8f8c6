//! What the read-only commands other than `plan` report: drift, readiness, status and compare. Pure data,
//! serialised as each command's versioned JSON document and rendered by [`super::render`].

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use super::WorkspaceFailure;
use super::drift::Drift;
use crate::model::state::{Applied, Lock, PendingFence, StateRecord};
use crate::model::{ResourceId, Role};

/// The version of the drift, readiness and compare JSON documents.
pub const REPORT_FORMAT_VERSION: u32 = 1;

/// The version of the status JSON document (2: a workspace's `record` is what the record says,
/// without the secrets' fingerprints).
pub const STATUS_FORMAT_VERSION: u32 = 2;

/// How far each workspace has drifted from the configuration.
#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    /// [`REPORT_FORMAT_VERSION`].
    pub format_version: u32,
    /// Environment name.
    pub environment: String,
    /// Every difference, with its remedy.
    pub drift: Vec<Drift>,
    /// Workspaces that could not be read.
    pub failures: Vec<WorkspaceFailure>,
}

/// One check on one workspace.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What is checked.
    pub check: &'static str,
    /// Which workspace.
    pub workspace: String,
    /// Passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// The check could not be carried out (the workspace failed): an error, not a verdict.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub error: bool,
}

/// Whether a passive workspace could take over now: a verdict and its checks.
#[derive(Debug, Clone, Serialize)]
pub struct ReadinessReport {
    /// [`REPORT_FORMAT_VERSION`].
    pub format_version: u32,
    /// Environment name.
    pub environment: String,
    /// Every check passed.
    pub ready: bool,
    /// A check could not be carried out: an error, not a verdict.
    pub error: bool,
    /// The checks.
    pub checks: Vec<Check>,
}

impl ReadinessReport {
    /// The report of `checks`.
    pub fn of(environment: &str, checks: Vec<Check>) -> Self {
        ReadinessReport {
            format_version: REPORT_FORMAT_VERSION,
            environment: environment.to_string(),
            ready: checks.iter().all(|c| c.ok),
            error: checks.iter().any(|c| c.error),
            checks,
        }
    }
}

/// What is known about one workspace.
#[derive(Debug, Clone, Serialize)]
pub struct WorkspaceStatus {
    /// Workspace name.
    pub workspace: String,
    /// Host.
    pub host: String,
    /// Role according to the environment file.
    pub role_in_file: Role,
    /// Role according to its state record (None: unreachable or no record yet).
    pub role_in_record: Option<Role>,
    /// Whether the two disagree.
    pub role_mismatch: bool,
    /// How tandem authenticates to it (`oauth-m2m (auth: block)`; never a credential).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// Whether it could be read.
    pub reachable: bool,
    /// It could not be read because it refused tandem's credentials (or none could be had):
    /// shown as "authentication failed", not as unreachable.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub authentication_failed: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What its state record says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordSummary>,
    /// Commits between its last applied config and the checkout's HEAD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commits_behind: Option<usize>,
    /// Its lock, if held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<Lock>,
}

/// What `status` shows of a state record: what happened to the workspace, never the secrets'
/// fingerprints (keyed hashes of their values) or anything else only tandem needs.
#[derive(Debug, Clone, Serialize)]
pub struct RecordSummary {
    /// The role the record gives the workspace.
    pub role: Role,
    /// The last apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_applied: Option<Applied>,
    /// When the workspace was last promoted, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promoted_at: Option<String>,
    /// Who promoted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promoted_by: Option<String>,
    /// Workspaces to fence as soon as they answer.
    pub pending_fences: Vec<PendingFence>,
    /// Secret scopes tandem created there (only these are ever deleted).
    pub managed_scopes: BTreeSet<String>,
    /// How many secrets tandem recorded writing there.
    pub secrets_recorded: usize,
}

impl RecordSummary {
    /// What status shows of `record`.
    pub fn of(record: &StateRecord) -> Self {
        RecordSummary {
            role: record.role,
            last_applied: record.last_applied.clone(),
            promoted_at: record.promoted_at.clone(),
            promoted_by: record.promoted_by.clone(),
            pending_fences: record.pending_fences.clone(),
            managed_scopes: record.managed_scopes.clone(),
            secrets_recorded: record.secrets.values().map(|keys| keys.len()).sum(),
        }
    }
}

/// Who is active, according to whom: every workspace's status.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// [`STATUS_FORMAT_VERSION`].
    pub format_version: u32,
    /// Environment name.
    pub environment: String,
    /// The active workspace according to the environment file.
    pub active: String,
    /// Each workspace.
    pub workspaces: Vec<WorkspaceStatus>,
}

impl StatusReport {
    /// Every workspace answered and their roles agree.
    pub fn healthy(&self) -> bool {
        self.workspaces
            .iter()
            .all(|s| s.reachable && !s.role_mismatch)
    }
}

/// What differs between two workspaces of an environment (`tandem compare`).
#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    /// [`REPORT_FORMAT_VERSION`].
    pub format_version: u32,
    /// Environment name.
    pub environment: String,
    /// The two workspaces compared: `a` and `b` of each difference.
    pub workspaces: [String; 2],
    /// Every object that differs, by kind and key.
    pub differences: Vec<ObjectDifference>,
}

/// One object that differs between the two workspaces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectDifference {
    /// Its kind and logical key (tandem's key, else one made from its name, as export makes it).
    pub resource: ResourceId,
    /// Its name.
    pub name: String,
    /// The one workspace that holds it (none: both do).
    pub only_in: Option<String>,
    /// The workspaces where tandem manages it (by its tags; secret scopes: never said).
    pub managed_in: Vec<String>,
    /// The fields that differ (when both hold it).
    pub fields: Vec<FieldDifference>,
}

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDifference {
    /// Dotted path, list entries by key (`tasks[ingest].notebook_task.notebook_path`).
    pub path: String,
    /// The first workspace's value (null: it has none).
    pub a: Value,
    /// The second workspace's value (null: it has none).
    pub b: Value,
}
