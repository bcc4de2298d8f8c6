//! The runtime: connecting to workspaces (embedded emulators included), reading live state,
//! planning, applying, promoting; the state record and the lock in each workspace.

pub mod adopt;
pub mod apply;
pub mod commands;
pub mod connect;
pub mod drift;
pub mod export;
pub mod grant_writes;
pub mod live;
pub mod objects;
pub mod planner;
pub mod readiness;
pub mod repair;
pub mod run;
pub mod secrets;
pub mod session;
pub mod state;
pub mod status;

use crate::client::ClientError;

pub use commands::Operator;
pub use commands::apply::{ApplyOptions, ApplyOutcome, apply};
pub use commands::compare::{CompareOptions, compare};
pub use commands::destroy::{DestroyOptions, DestroyReport, destroy};
pub use commands::drift::{DriftOptions, drift};
pub use commands::export::{AdoptOptions, AdoptReport, ExportOptions, ExportReport, adopt, export};
pub use commands::import::{ImportOptions, ImportReport, import};
pub use commands::plan::{PlanOptions, PlanReport, plan};
pub use commands::promote::{PromoteOptions, PromoteReport, promote};
pub use commands::readiness::{ReadinessOptions, readiness};
pub use commands::repair::{RepairOptions, RepairReport, repair};
pub use commands::show::{ShowOptions, ShowReport, show};
pub use commands::status::{StatusOptions, status};
pub use commands::unlock::{UnlockOptions, UnlockReport, unlock};

/// Errors of the engine.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EngineError {
    /// A workspace failed.
    #[error(transparent)]
    Client(Box<ClientError>),
    /// A workspace's record says active while the environment file says passive.
    #[error(
        "workspace {workspace} is active according to its state record (promoted {promoted_at} by {promoted_by}), but the environment file says passive"
    )]
    #[diagnostic(help(
        "a promotion happened whose change to the environment file is not in this checkout: pull or merge the commit that sets `active:`, or promote again; tandem never makes an active workspace passive except by promote"
    ))]
    Guard {
        /// Workspace name.
        workspace: String,
        /// When it was promoted.
        promoted_at: String,
        /// By whom.
        promoted_by: String,
    },
    /// Nothing is applied while the guard refuses a workspace.
    #[error("apply refused: {reason}")]
    #[diagnostic(help(
        "pull the environment file's latest `active:` (the promotion commit) and plan again"
    ))]
    Refused {
        /// The guard's message.
        reason: String,
    },
    /// Nothing is applied while a workspace's credentials or host are misconfigured.
    #[error("apply refused: {reason}")]
    #[diagnostic(help(
        "fix the workspace's authentication as the message says (README: Authentication), then run again"
    ))]
    Misconfigured {
        /// The workspace's connection error, with what to do.
        reason: String,
    },
    /// Another run holds the lock.
    #[error("workspace {workspace} is locked by {holder} ({operation}) since {since}")]
    #[diagnostic(help(
        "wait for that run to finish; if it died, `tandem unlock {workspace}` breaks the lock (it also expires after 30 minutes)"
    ))]
    Locked {
        /// Workspace name.
        workspace: String,
        /// Who holds it.
        holder: String,
        /// Doing what.
        operation: String,
        /// Since when.
        since: String,
    },
    /// A saved plan no longer matches the workspace.
    #[error("the saved plan is stale: workspace {workspace} changed since it was computed")]
    #[diagnostic(help("run `tandem plan --out FILE` again and review the new plan"))]
    StalePlan {
        /// Workspace name.
        workspace: String,
    },
    /// A state record that cannot be trusted or read: nothing is planned or applied on its word.
    #[error("workspace {workspace}: the state record cannot be trusted: {reason}")]
    #[diagnostic(help("{help}"))]
    UntrustedRecord {
        /// Workspace name.
        workspace: String,
        /// What is wrong with it.
        reason: String,
        /// What to do.
        help: String,
    },
    /// The configuration could not be turned into a workspace's desired state.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(Box<crate::config::ConfigError>),
    /// The configuration could not be given a workspace's variables and role.
    #[error(transparent)]
    #[diagnostic(transparent)]
    RoleStep(#[from] crate::policy::RoleStepError),
    /// An apply that was refused or could not start (see [`commands::apply::ApplyError`]).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Apply(#[from] commands::apply::ApplyError),
    /// A promotion that was refused or stopped (see [`commands::promote::PromoteError`]).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Promote(#[from] commands::promote::PromoteError),
    /// An export or adoption that failed or was refused.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Export(#[from] commands::export::ExportError),
    /// A comparison that was refused.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Compare(#[from] commands::compare::CompareError),
    /// A destroy that was refused.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Destroy(#[from] commands::destroy::DestroyError),
    /// An import that was refused or failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Import(#[from] commands::import::ImportError),
    /// A saved plan that cannot be read.
    #[error(transparent)]
    #[diagnostic(transparent)]
    PlanFile(#[from] commands::show::PlanFileError),
    /// A repair that failed or was refused.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Repair(#[from] commands::repair::RepairError),
    /// An unlock that was refused.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Unlock(#[from] commands::unlock::UnlockError),
    /// SIGINT or SIGTERM arrived while the command held its locks.
    #[error("interrupted by {0}: stopped, and the locks were given back")]
    #[diagnostic(help(
        "what was already carried out stays done; run the command again to finish the job"
    ))]
    Interrupted(&'static str),
    /// Another run took over a lock this run held (it had expired): this run stopped writing.
    #[error("stopped: {0}")]
    #[diagnostic(help(
        "another run is writing to the workspace now; let it finish, then plan again and re-run if needed (a re-run converges)"
    ))]
    LockLost(String),
    /// A `--target` that is not `kind.key` of a declared resource.
    #[error("--target `{0}` names no declared resource")]
    #[diagnostic(help(
        "write kind.key of a resource in the configuration, e.g. jobs.nightly_etl (kinds: jobs, clusters, instance_pools, secret_scopes)"
    ))]
    BadTarget(String),
    /// No such workspace in the environment.
    #[error("environment {environment} has no workspace `{workspace}`")]
    #[diagnostic(help("workspaces: {known}"))]
    UnknownWorkspace {
        /// Environment.
        environment: String,
        /// The name given.
        workspace: String,
        /// The names that exist.
        known: String,
    },
    /// A workspace could not be reached or refused a request (its message says which).
    #[error("{0}")]
    Workspace(String),
    /// A background read ended without an answer (it panicked or was never started).
    #[error("workspace {workspace}: reading it failed: {reason}")]
    ReadTask {
        /// Workspace name.
        workspace: String,
        /// What happened to the read.
        reason: String,
    },
}

impl EngineError {
    /// Whether a workspace refused tandem's credentials or none could be had (see
    /// [`ClientError::is_authentication`]).
    pub fn is_authentication(&self) -> bool {
        matches!(self, EngineError::Client(c) if c.is_authentication())
    }
}

impl From<crate::config::ConfigError> for EngineError {
    fn from(e: crate::config::ConfigError) -> Self {
        EngineError::Config(Box::new(e))
    }
}

impl From<ClientError> for EngineError {
    fn from(e: ClientError) -> Self {
        EngineError::Client(Box::new(e))
    }
}
