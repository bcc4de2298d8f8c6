//! `promote`: failover and failback. The target becomes active (its jobs get their concurrency
//! and schedules back, held permissions are applied, `active_only` resources are created,
//! `start_on_promote` clusters start); every other workspace is fenced (made passive); the
//! environment file's `active:` is rewritten and committed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Operator;
use crate::client::ClientOptions;
use crate::config::{self, Config, ConfigError, Environment, LoadOptions, edit};
use crate::engine::connect::{self, Connection};
use crate::engine::planner::{PlanRequest, WorkspaceContext};
use crate::engine::run::{self, ApplyReport, Promotion, Provenance};
use crate::engine::session::{Interrupts, Session, early_environment, leave_to_exit};
use crate::engine::{EngineError, state};
use crate::model::{Kind, ResourceId, Role};
use crate::plan::render::Origins;
use crate::plan::{Action, Plan, PlannedAction, WorkspaceFailure};

/// How to promote.
#[derive(Debug, Clone)]
pub struct PromoteOptions {
    /// Where the configuration is and which environment (the work tree: no `--ref`).
    pub load: LoadOptions,
    /// Requests in flight and retries.
    pub client: ClientOptions,
    /// The workspace to make active.
    pub workspace: String,
    /// Plan the promotion and change nothing anywhere.
    pub dry_run: bool,
    /// Go on when other workspaces cannot be reached (they are fenced when they answer).
    pub allow_unreachable: bool,
    /// Rewrite `active:` in the environment file but do not commit it.
    pub no_commit: bool,
    /// Do not ask for confirmation.
    pub auto_approve: bool,
}

/// What a promotion came to.
#[derive(Debug)]
pub enum PromoteReport {
    /// The target was active already and nothing differs: nothing was done.
    AlreadyActive {
        /// The target.
        workspace: String,
        /// Its environment.
        environment: String,
    },
    /// `--dry-run`: the promotion's plan, carried out nowhere.
    DryRun {
        /// The plan.
        plan: Plan,
        /// `file:line` of each resource.
        origins: Origins,
    },
    /// The promotion was carried out (completely, when `report` succeeded).
    Promoted(Promoted),
}

/// A promotion carried out.
#[derive(Debug)]
pub struct Promoted {
    /// The workspace made active.
    pub workspace: String,
    /// Its environment.
    pub environment: String,
    /// What each workspace did.
    pub report: ApplyReport,
    /// Workspaces that could not be reached: a pending fence is recorded for each.
    pub unreachable: Vec<String>,
    /// What became of the environment file's `active:` (an error when it could not be
    /// rewritten or committed; the workspaces were promoted all the same).
    pub environment_file: Result<EnvironmentFile, ConfigError>,
}

/// The environment file after a promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvironmentFile {
    /// It said so already.
    Unchanged,
    /// Rewritten and committed as `sha`.
    Committed {
        /// The file, relative to the root.
        file: String,
        /// The commit.
        sha: String,
    },
    /// Rewritten; the root is not a Git repository.
    NotARepository {
        /// The file, relative to the root.
        file: String,
    },
    /// Rewritten and left uncommitted (`--no-commit`).
    NotCommitted {
        /// The file, relative to the root.
        file: String,
    },
}

/// Why a promotion did not happen, or stopped.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PromoteError {
    /// The target itself cannot be reached.
    #[error("cannot promote {workspace}: it does not answer ({reason})")]
    #[diagnostic(help(
        "a workspace that cannot be reached cannot take over; check its host and token"
    ))]
    TargetUnreachable {
        /// Workspace.
        workspace: String,
        /// Why.
        reason: String,
    },
    /// Other workspaces cannot be reached and fencing them was not waived.
    #[error("not promoting: {0} cannot be reached, so it could not be fenced")]
    #[diagnostic(help(
        "nothing was changed; if that workspace is down (the disaster you are recovering from), re-run with --allow-unreachable: it is fenced as soon as it answers again"
    ))]
    Unreachable(String),
    /// The promotion stopped after grants had been written as their jobs were listed.
    #[error("promotion stopped: {reason}")]
    #[diagnostic(help(
        "{sent} job grant writes had already gone out; re-run the same promote to finish it (it is resumable), or promote the other way to undo it"
    ))]
    Stopped {
        /// Why it stopped.
        reason: String,
        /// Early grant writes sent.
        sent: usize,
    },
    /// A workspace's state record cannot be trusted: nobody can vouch for its role.
    #[error("not promoting: {0}")]
    #[diagnostic(help(
        "nothing was changed; `tandem repair <workspace>` writes a new sealed record after you checked its role (a workspace whose record cannot be trusted is not waived by --allow-unreachable: it may be active)"
    ))]
    UntrustedRecord(String),
    /// The user said no.
    #[error("promotion cancelled")]
    Cancelled,
    /// No terminal to confirm the promotion on, and no `--auto-approve`.
    #[error("there is no terminal to confirm the promotion: nothing was changed")]
    #[diagnostic(help("review it with --dry-run and re-run with --auto-approve"))]
    NoTerminal,
    /// `--ref` makes no sense for a promotion.
    #[error("promote works on the work tree, not on --ref")]
    #[diagnostic(help(
        "drop --ref: promote rewrites and commits the environment file in the work tree"
    ))]
    WithRef,
    /// `--env-from` makes no sense for a promotion either.
    #[error("promote works on the work tree's environment file, not on --env-from")]
    #[diagnostic(help(
        "drop --env-from: promote rewrites and commits the environment file in the work tree"
    ))]
    WithEnvFrom,
}

/// Each connection's state record, read.
type RecordReads = Vec<Result<Option<state::StateRecord>, EngineError>>;

/// Connections, the workspaces that could not be connected, and the records read.
type Connected = (Vec<Connection>, Vec<WorkspaceFailure>, RecordReads);

/// Connections and state records read while the configuration loaded, with the environment
/// file they were made from.
type EarlyLook = tokio::task::JoinHandle<(
    Environment,
    Vec<Connection>,
    Vec<WorkspaceFailure>,
    RecordReads,
)>;

/// Promotes `options.workspace`: a cheap look at every state record first (an unreachable
/// target, an unreachable workspace without `allow_unreachable` and an already active target
/// end there having written nothing, not even a lock), then the locks, the plan under them,
/// the operator's review and confirmation, the writes, and the environment file.
pub async fn promote(
    options: &PromoteOptions,
    operator: &dyn Operator,
) -> Result<PromoteReport, EngineError> {
    if options.load.git_ref.is_some() {
        return Err(PromoteError::WithRef.into());
    }
    if options.load.env_from.is_some() {
        return Err(PromoteError::WithEnvFrom.into());
    }
    // Connecting and reading the state records (reads only: nothing is written before the
    // configuration is known to be valid) overlap loading it.
    let early: Option<EarlyLook> = (!options.dry_run)
        .then(|| early_environment(&options.load))
        .flatten()
        .map(|environment| {
            let (root, client) = (options.load.root.clone(), options.client.clone());
            tokio::spawn(async move {
                let (connections, failures) =
                    connect::connect_all(&environment.workspaces, &root, &client).await;
                let reads = read_records(&environment.name, &connections).await;
                (environment, connections, failures, reads)
            })
        });
    let config = match config::load(&options.load)
        .map_err(EngineError::from)
        .and_then(|config| {
            super::workspace_named(&config.environment, &options.workspace)?;
            Ok(config)
        }) {
        Ok(config) => config,
        Err(e) => {
            discard(early).await;
            return Err(e);
        }
    };
    let outcome = promote_loaded(options, &config, early, operator).await;
    leave_to_exit(config);
    outcome
}

/// [`promote`] once the configuration is loaded.
async fn promote_loaded(
    options: &PromoteOptions,
    config: &Config,
    early: Option<EarlyLook>,
    operator: &dyn Operator,
) -> Result<PromoteReport, EngineError> {
    let environment = &config.environment;
    let (root, client, target) = (&options.load.root, &options.client, &options.workspace);
    let roles: BTreeMap<String, Role> = environment
        .workspaces
        .iter()
        .map(|w| {
            let role = if &w.name == target {
                Role::Active
            } else {
                Role::Passive
            };
            (w.name.clone(), role)
        })
        .collect();
    let mut request = PlanRequest {
        roles,
        enforce_guard: false,
        ..PlanRequest::default()
    };
    if options.dry_run {
        // A read-only plan of the promotion, shown and nothing more.
        let mut look = Session::look(config, root, client, &request).await;
        let done = preflight(config, options, &mut look);
        look.finish(&environment.name).await;
        if let Some(done) = done {
            return done;
        }
    }
    // Only an already active target needs a full read before the locks, so a real promotion
    // reads every workspace once, under its locks, on the same connections.
    let (mut connections, mut failures, reads) = match early {
        Some(task) => match task.await {
            Ok((early, connections, failures, reads))
                if early.name == environment.name && early.workspaces == environment.workspaces =>
            {
                (connections, failures, reads)
            }
            Ok((_, connections, _, _)) => {
                connect::close_all(connections).await;
                connect_and_read_records(environment, root, client).await
            }
            Err(_) => connect_and_read_records(environment, root, client).await,
        },
        None => connect_and_read_records(environment, root, client).await,
    };
    let records = match state_records(
        &connections,
        &failures,
        reads,
        target,
        options.allow_unreachable,
    ) {
        Ok(records) => records,
        Err(e) => {
            connect::close_all(connections).await;
            return Err(e);
        }
    };
    let target_active = records
        .get(target)
        .is_some_and(|r| r.as_ref().is_some_and(|r| r.role == Role::Active));
    if &environment.active == target && target_active {
        // The full look connects on its own (an embedded workspace is served once at a time).
        connect::close_all(connections).await;
        let mut look = Session::look(config, root, client, &request).await;
        let done = match preflight(config, options, &mut look) {
            // "Nothing to change" must not hide the lock of a promotion that died after its
            // last write: re-running it is how an operator finishes it.
            Some(Ok(report)) => match held_lock(&environment.name, &look.connections).await {
                Some(locked) => Some(Err(locked)),
                None => Some(Ok(report)),
            },
            other => other,
        };
        look.finish(&environment.name).await;
        if let Some(done) = done {
            return done;
        }
        (connections, failures) = connect::connect_all(&environment.workspaces, root, client).await;
    }
    request.grants_rewritten = grants_rewritten(config, target, &records);
    // With nothing to confirm, the grants the promotion rewrites whatever they are go out as
    // their jobs are listed, while the rest is read and planned.
    let early_writes = Arc::new(AtomicUsize::new(0));
    if options.auto_approve {
        request.early_grant_writes = Some(Arc::clone(&early_writes));
    }
    let mut interrupts = Interrupts::listen();
    let session =
        Session::locked_connected(config, connections, failures, request, "promote").await?;
    // As in apply: a signal stops the promotion at its next await and the locks are given
    // back; re-running the promotion finishes it.
    let result = session
        .run(
            &environment.name,
            &mut interrupts,
            async |session: &mut Session| carry_out(config, options, operator, session).await,
        )
        .await;
    result.map_err(|e| match early_writes.load(Ordering::Relaxed) {
        0 => e,
        // Not "nothing was changed": say what was, and how to finish.
        sent => PromoteError::Stopped {
            reason: e.to_string(),
            sent,
        }
        .into(),
    })
}

/// Per workspace whose role the promotion changes (by its record), the jobs whose grants differ
/// between the roles: they are set whatever they are now, so reading them first (one request
/// per job) would only slow the promotion down.
fn grants_rewritten(
    config: &Config,
    target: &str,
    records: &BTreeMap<String, Option<state::StateRecord>>,
) -> BTreeMap<String, BTreeSet<String>> {
    let flipping: Vec<&str> = records
        .iter()
        .filter_map(|(name, record)| {
            let now = record.as_ref()?.role;
            let next = if name == target {
                Role::Active
            } else {
                Role::Passive
            };
            (now != next).then_some(name.as_str())
        })
        .collect();
    let jobs: BTreeSet<String> = config
        .resources
        .jobs
        .iter()
        .filter(|(_, job)| crate::policy::holds_back_grants(job))
        .map(|(key, _)| key.clone())
        .collect();
    flipping
        .into_iter()
        .map(|name| (name.to_string(), jobs.clone()))
        .collect()
}

/// The first unexpired lock of `connections` (a dead run's or a running one's), as the error a
/// run that needs it gets.
async fn held_lock(environment: &str, connections: &[Connection]) -> Option<EngineError> {
    for c in connections {
        if let Ok(Some(lock)) = state::read_lock(&c.client, environment).await
            && lock.expires_ms > state::now_ms()
        {
            return Some(EngineError::Locked {
                workspace: c.spec.name.clone(),
                holder: lock.holder,
                operation: lock.operation,
                since: lock.since,
            });
        }
    }
    None
}

/// Reads every connected workspace's state record.
async fn read_records(environment: &str, connections: &[Connection]) -> RecordReads {
    futures::future::join_all(
        connections
            .iter()
            .map(|c| state::read_state_record(&c.client, environment)),
    )
    .await
}

/// Connects every workspace and reads its state record.
async fn connect_and_read_records(
    environment: &Environment,
    root: &Path,
    client: &ClientOptions,
) -> Connected {
    let (connections, failures) = connect::connect_all(&environment.workspaces, root, client).await;
    let reads = read_records(&environment.name, &connections).await;
    (connections, failures, reads)
}

/// Closes what an early look connected, when the command ends before using it.
async fn discard(early: Option<EarlyLook>) {
    if let Some(task) = early
        && let Ok((_, connections, _, _)) = task.await
    {
        connect::close_all(connections).await;
    }
}

/// Every reachable workspace's state record (from `reads`, one per connection); the target
/// unreachable, or another workspace unreachable without `allow_unreachable`, is an error.
fn state_records(
    connections: &[Connection],
    failures: &[WorkspaceFailure],
    reads: RecordReads,
    target: &str,
    allow_unreachable: bool,
) -> Result<BTreeMap<String, Option<state::StateRecord>>, EngineError> {
    let mut failures = failures.to_vec();
    let mut records = BTreeMap::new();
    for (c, read) in connections.iter().zip(reads) {
        match read {
            Ok(record) => {
                records.insert(c.spec.name.clone(), record);
            }
            // Not a workspace that is down: one whose role nobody can vouch for. Waiving it
            // (--allow-unreachable) could leave two active workspaces.
            Err(e @ EngineError::UntrustedRecord { .. }) => return Err(e),
            Err(e) => failures.push(WorkspaceFailure {
                misconfigured: false,
                authentication: e.is_authentication(),
                workspace: c.spec.name.clone(),
                error: e.to_string(),
                guard: false,
            }),
        }
    }
    reachable_enough(&failures, target, allow_unreachable)?;
    Ok(records)
}

/// The target unreachable, or another workspace unreachable without `allow_unreachable`, as the
/// error that stops the promotion; otherwise the unreachable workspaces (to be fenced later).
fn reachable_enough(
    failures: &[WorkspaceFailure],
    target: &str,
    allow_unreachable: bool,
) -> Result<Vec<String>, PromoteError> {
    if let Some(f) = failures.iter().find(|f| f.workspace == target) {
        return Err(PromoteError::TargetUnreachable {
            workspace: f.workspace.clone(),
            reason: f.error.clone(),
        });
    }
    let unreachable: Vec<String> = failures.iter().map(|f| f.workspace.clone()).collect();
    if !unreachable.is_empty() && !allow_unreachable {
        return Err(PromoteError::Unreachable(unreachable.join(", ")));
    }
    Ok(unreachable)
}

/// What a plan of the promotion says before anything is written: a workspace nobody can vouch
/// for, or one that cannot be reached, stops it; the unreachable workspaces otherwise.
fn vetted(plan: &Plan, options: &PromoteOptions) -> Result<Vec<String>, PromoteError> {
    if let Some(f) = plan.failures.iter().find(|f| f.guard) {
        return Err(PromoteError::UntrustedRecord(f.error.clone()));
    }
    reachable_enough(
        &plan.failures,
        &options.workspace,
        options.allow_unreachable,
    )
}

/// Checks made on a read-only look before anything is written: `Some` ends the command.
fn preflight(
    config: &Config,
    options: &PromoteOptions,
    look: &mut Session,
) -> Option<Result<PromoteReport, EngineError>> {
    let environment = &config.environment;
    let target = &options.workspace;
    let unreachable = match vetted(&look.plan, options) {
        Ok(unreachable) => unreachable,
        Err(e) => return Some(Err(e.into())),
    };
    if let Some(ctx) = look.contexts.get(target) {
        add_cluster_starts(&mut look.plan, target, ctx);
    }
    let target_record_active = look
        .contexts
        .get(target)
        .and_then(|c| c.read.record.as_ref())
        .is_some_and(|r| r.role == Role::Active);
    if &environment.active == target
        && target_record_active
        && !look.plan.has_changes()
        && unreachable.is_empty()
    {
        return Some(Ok(PromoteReport::AlreadyActive {
            workspace: target.clone(),
            environment: environment.name.clone(),
        }));
    }
    if options.dry_run {
        return Some(Ok(PromoteReport::DryRun {
            plan: look.plan.clone(),
            origins: super::plan::origins(config),
        }));
    }
    None
}

/// Plans, shows, applies and records the promotion under the locks `session` holds.
async fn carry_out(
    config: &Config,
    options: &PromoteOptions,
    operator: &dyn Operator,
    session: &mut Session,
) -> Result<PromoteReport, EngineError> {
    let environment = &config.environment;
    let target = &options.workspace;
    let unreachable = vetted(&session.plan, options)?;
    // Clusters marked start_on_promote start on the new active workspace.
    if let Some(ctx) = session.contexts.get(target) {
        add_cluster_starts(&mut session.plan, target, ctx);
    }
    let plan = &session.plan;
    operator.review(plan, &super::plan::origins(config));
    tracing::debug!("plan rendered");
    let question = format!(
        "\nPromote {target} to active in {}? Only 'yes' is accepted: ",
        environment.name
    );
    super::approve(
        operator,
        options.auto_approve,
        &question,
        PromoteError::NoTerminal,
        PromoteError::Cancelled,
    )
    .await?;
    let promotion = Promotion {
        target: target.clone(),
        unreachable,
    };
    let report = run::apply_environment(
        &environment.name,
        &session.connections,
        plan,
        &session.contexts,
        &Provenance::from(&config.provenance),
        Some(&promotion),
        operator,
    )
    .await?;
    let environment_file = record_in_environment_file(
        &options.load.root,
        environment,
        options,
        &session.connections,
        &report,
    )
    .await;
    Ok(PromoteReport::Promoted(Promoted {
        workspace: target.clone(),
        environment: environment.name.clone(),
        report,
        unreachable: promotion.unreachable,
        environment_file,
    }))
}

/// Rewrites `active:` in the environment file and commits it (unless `no_commit`); the
/// workspaces fully promoted record that commit as their last applied.
async fn record_in_environment_file(
    root: &Path,
    environment: &Environment,
    options: &PromoteOptions,
    connections: &[Connection],
    report: &ApplyReport,
) -> Result<EnvironmentFile, ConfigError> {
    let target = &options.workspace;
    let changed = edit::set_active(root, &environment.name, target)?;
    let file = format!("environments/{}.yaml", environment.name);
    if !changed {
        return Ok(EnvironmentFile::Unchanged);
    }
    if options.no_commit {
        return Ok(EnvironmentFile::NotCommitted { file });
    }
    let message = format!(
        "Promote {target} to active in environment {}\n\nBy {} with `tandem promote`.",
        environment.name,
        state::operator()
    );
    Ok(match edit::commit_file(root, &file, &message)? {
        Some(sha) => {
            // The workspaces hold exactly what this commit describes: record it.
            record_commit(connections, &environment.name, report, &sha).await;
            EnvironmentFile::Committed { file, sha }
        }
        None => EnvironmentFile::NotARepository { file },
    })
}

/// Updates the last applied commit of the workspaces a promotion fully applied.
async fn record_commit(
    connections: &[Connection],
    environment: &str,
    report: &ApplyReport,
    sha: &str,
) {
    for c in connections {
        let done = report
            .workspaces
            .iter()
            .any(|w| w.workspace == c.spec.name && w.succeeded());
        if !done {
            continue;
        }
        if let Ok(Some(mut record)) = state::read_state_record(&c.client, environment).await
            && let Some(applied) = record.last_applied.as_mut()
        {
            applied.commit = sha.to_string();
            applied.dirty = false;
            if let Err(e) = state::write_state_record(&c.client, &mut record).await {
                tracing::warn!(workspace = %c.spec.name, error = %e, "state record not updated with the promotion commit");
            }
        }
    }
}

/// Adds a start for each `start_on_promote` cluster of the target that is not running, will
/// not start by being created, and has no start planned yet.
fn add_cluster_starts(plan: &mut Plan, target: &str, ctx: &WorkspaceContext) {
    let Some(workspace) = plan.workspaces.iter_mut().find(|w| w.workspace == target) else {
        return;
    };
    for (key, cluster) in &ctx.desired.resources.clusters {
        if !cluster.start_on_promote {
            continue;
        }
        let live = ctx.read.live.clusters.get(key);
        let running = live
            .and_then(|l| l.state.as_deref())
            .is_some_and(|s| matches!(s, "RUNNING" | "PENDING" | "RESTARTING" | "RESIZING"));
        let resource = ResourceId {
            kind: Kind::Clusters,
            key: key.clone(),
        };
        let already = workspace
            .actions
            .iter()
            .any(|a| a.resource == resource && matches!(a.action, Action::Start { .. }));
        // A cluster created in this run starts by itself.
        let created = workspace
            .actions
            .iter()
            .any(|a| a.resource == resource && matches!(a.action, Action::Create { .. }));
        if !running && !already && !created {
            let start = PlannedAction {
                resource: resource.clone(),
                action: Action::Start {
                    id: live.map(|l| l.id.clone()),
                },
            };
            // After the cluster's own changes, before its permissions.
            let at = workspace
                .actions
                .iter()
                .rposition(|a| {
                    a.resource == resource && !matches!(a.action, Action::SetPermissions { .. })
                })
                .map_or(workspace.actions.len(), |i| i + 1);
            workspace
                .actions
                .insert(at.min(workspace.actions.len()), start);
        }
    }
}
