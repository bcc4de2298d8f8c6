//! `tandem promote <workspace>`: failover and failback. The target becomes active (its jobs get
//! their concurrency and schedules back, held permissions are applied, `active_only` resources
//! are created, `start_on_promote` clusters start); every other workspace is fenced (made
//! passive); the environment file's `active:` is rewritten and committed.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use clap::Args;

use super::plan::{PlanFormat, render_plan};
use super::{GlobalArgs, load_options};
use crate::client::ClientOptions;
use crate::config::{self, edit};
use crate::engine::apply::{ActionOutcome, Progress};
use crate::engine::{planner, run, state};
use crate::model::{Kind, Role};
use crate::plan::{Action, PlannedAction};

/// Arguments of `tandem promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The workspace to make active.
    pub workspace: String,
    /// Show the promotion plan and change nothing anywhere.
    #[arg(long)]
    pub dry_run: bool,
    /// Go on when other workspaces cannot be reached; they are fenced as soon as they answer.
    #[arg(long)]
    pub allow_unreachable: bool,
    /// Rewrite `active:` in the environment file but do not commit it.
    #[arg(long)]
    pub no_commit: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Output format of the plan.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Requests in flight per workspace at most.
    #[arg(long, default_value_t = 16)]
    pub parallelism: usize,
}

/// Errors of `tandem promote`.
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
    /// Deletions without a terminal to confirm them.
    #[error("the promotion deletes objects and there is no terminal to confirm it")]
    #[diagnostic(help("review it with --dry-run and re-run with --auto-approve"))]
    DeletionsNeedApproval,
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

struct Lines {
    lock: Mutex<()>,
}

impl Progress for Lines {
    fn finished(&self, workspace: &str, outcome: &ActionOutcome) {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        match &outcome.result {
            Ok(d) => println!(
                "{workspace}  {} {}  ok  {d}",
                outcome.verb, outcome.resource
            ),
            Err(e) => println!(
                "{workspace}  {} {}  failed  {e}",
                outcome.verb, outcome.resource
            ),
        }
    }
}

/// Runs the command.
pub fn run(global: &GlobalArgs, args: &PromoteArgs) -> miette::Result<ExitCode> {
    if global.git_ref.is_some() {
        return Err(PromoteError::WithRef.into());
    }
    if global.env_from.is_some() {
        return Err(PromoteError::WithEnvFrom.into());
    }
    let options = load_options(global)?;
    let runtime = super::runtime()?;
    let client = ClientOptions {
        parallelism: args.parallelism,
        ..ClientOptions::default()
    };
    // Connecting and reading the state records (reads only: nothing is written before the
    // configuration is known to be valid) overlap loading it.
    let early = (!args.dry_run)
        .then(|| super::early_environment(&options))
        .flatten()
        .map(|environment| {
            let (root, client) = (options.root.clone(), client.clone());
            runtime.spawn(async move {
                let (connections, failures) =
                    crate::engine::connect::connect_all(&environment.workspaces, &root, &client)
                        .await;
                let reads = read_records(&environment.name, &connections).await;
                (environment, connections, failures, reads)
            })
        });
    let config = match config::load(&options) {
        Ok(config) => config,
        Err(e) => {
            runtime.block_on(discard(early));
            return Err(e.into());
        }
    };
    let environment = &config.environment;
    super::workspace_named(environment, &args.workspace)?;
    let roles: BTreeMap<String, Role> = environment
        .workspaces
        .iter()
        .map(|w| {
            (
                w.name.clone(),
                if w.name == args.workspace {
                    Role::Active
                } else {
                    Role::Passive
                },
            )
        })
        .collect();
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let outcome = runtime.block_on(async {
        let mut request = planner::PlanRequest {
            targets: Vec::new(),
            roles,
            enforce_guard: false,
            skip: Default::default(),
            grants_rewritten: Default::default(),
            early_grant_writes: None,
        };
        if args.dry_run {
            // A read-only plan of the promotion, shown and nothing more.
            let mut look = read_only_look(&config, &options.root, &client, &request).await;
            let done = preflight(&config, args, &mut look);
            look.finish(&environment.name).await;
            if let Some(done) = done {
                return done;
            }
        }
        // A cheap look first (each workspace's state record): an unreachable target, an
        // unreachable workspace without --allow-unreachable and an already active target end
        // here having written nothing, not even a lock. Only the last needs a full read, so a
        // real promotion reads every workspace once, under its locks, on the same connections.
        let (mut connections, mut failures, reads) = match early {
            Some(task) => match task.await {
                Ok((early, connections, failures, reads))
                    if early.name == environment.name
                        && early.workspaces == environment.workspaces =>
                {
                    (connections, failures, reads)
                }
                Ok((_, connections, _, _)) => {
                    crate::engine::connect::close_all(connections).await;
                    connect_and_read_records(environment, &options.root, &client).await
                }
                Err(_) => connect_and_read_records(environment, &options.root, &client).await,
            },
            None => connect_and_read_records(environment, &options.root, &client).await,
        };
        let records = match state_records(
            &connections,
            &failures,
            reads,
            &args.workspace,
            args.allow_unreachable,
        ) {
            Ok(records) => records,
            Err(e) => {
                crate::engine::connect::close_all(connections).await;
                return Err(e);
            }
        };
        let target_active = records
            .get(&args.workspace)
            .is_some_and(|r| r.as_ref().is_some_and(|r| r.role == Role::Active));
        if environment.active == args.workspace && target_active {
            // The full look connects on its own (an embedded workspace is served once at a time).
            crate::engine::connect::close_all(connections).await;
            let mut look = read_only_look(&config, &options.root, &client, &request).await;
            let done = match preflight(&config, args, &mut look) {
                // "Nothing to change" must not hide the lock of a promotion that died after its
                // last write: re-running it is how an operator finishes it.
                Some(Ok(code)) => match held_lock(&environment.name, &look.connections).await {
                    Some(locked) => Some(Err(locked.into())),
                    None => Some(Ok(code)),
                },
                other => other,
            };
            look.finish(&environment.name).await;
            if let Some(done) = done {
                return done;
            }
            (connections, failures) = crate::engine::connect::connect_all(
                &environment.workspaces,
                &options.root,
                &client,
            )
            .await;
        }
        request.grants_rewritten = grants_rewritten(&config, &args.workspace, &records);
        // With nothing to confirm, the grants the promotion rewrites whatever they are go out
        // as their jobs are listed, while the rest is read and planned.
        let early_writes = Arc::new(AtomicUsize::new(0));
        if args.auto_approve {
            request.early_grant_writes = Some(Arc::clone(&early_writes));
        }
        let mut interrupts = super::Interrupts::listen();
        let mut locked =
            super::LockedRun::start_connected(&config, connections, failures, request, "promote")
                .await?;
        // As in apply: a signal stops the promotion at its next await and the locks are given
        // back; re-running the promotion finishes it.
        let lost = locked.locks.lost();
        let (result, interrupted) = tokio::select! {
            biased;
            signal = interrupts.recv() => (Err(super::CliError::Interrupted(signal).into()), true),
            reason = lost => (Err(super::CliError::LockLost(reason).into()), true),
            result = promote(&config, &options.root, args, tty, &mut locked) => (result, false),
        };
        let result = result.map_err(|e| {
            match early_writes.load(Ordering::Relaxed) {
                0 => e,
                // Not "nothing was changed": say what was, and how to finish.
                sent => PromoteError::Stopped {
                    reason: e.to_string(),
                    sent,
                }
                .into(),
            }
        });
        super::finish_interruptible(locked, &environment.name, interrupted, &mut interrupts).await;
        result
    })?;
    super::leave_to_exit(config);
    Ok(outcome)
}

/// Per workspace whose role the promotion changes (by its record), the jobs whose grants differ
/// between the roles: they are set whatever they are now, so reading them first (one request
/// per job) would only slow the promotion down.
fn grants_rewritten(
    config: &config::Config,
    target: &str,
    records: &BTreeMap<String, Option<state::StateRecord>>,
) -> BTreeMap<String, std::collections::BTreeSet<String>> {
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
    let jobs: std::collections::BTreeSet<String> = config
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
async fn held_lock(
    environment: &str,
    connections: &[crate::engine::connect::Connection],
) -> Option<crate::engine::EngineError> {
    for c in connections {
        if let Ok(Some(lock)) = state::read_lock(&c.client, environment).await
            && lock.expires_ms > state::now_ms()
        {
            return Some(crate::engine::EngineError::Locked {
                workspace: c.spec.name.clone(),
                holder: lock.holder,
                operation: lock.operation,
                since: lock.since,
            });
        }
    }
    None
}

/// Connects and plans without locking: what a dry run shows.
async fn read_only_look(
    config: &config::Config,
    root: &std::path::Path,
    client: &ClientOptions,
    request: &planner::PlanRequest,
) -> super::LockedRun {
    let (connections, plan, contexts) =
        super::connect_and_plan(config, root, client, request).await;
    super::LockedRun {
        connections,
        locks: Default::default(),
        plan,
        contexts,
    }
}

/// Each connection's state record, read.
type RecordReads = Vec<Result<Option<state::StateRecord>, crate::engine::EngineError>>;

/// Reads every connected workspace's state record.
async fn read_records(
    environment: &str,
    connections: &[crate::engine::connect::Connection],
) -> RecordReads {
    futures::future::join_all(
        connections
            .iter()
            .map(|c| state::read_state_record(&c.client, environment)),
    )
    .await
}

type Connected = (
    Vec<crate::engine::connect::Connection>,
    Vec<crate::plan::WorkspaceFailure>,
    RecordReads,
);

async fn connect_and_read_records(
    environment: &config::Environment,
    root: &std::path::Path,
    client: &ClientOptions,
) -> Connected {
    let (connections, failures) =
        crate::engine::connect::connect_all(&environment.workspaces, root, client).await;
    let reads = read_records(&environment.name, &connections).await;
    (connections, failures, reads)
}

/// Connections and state records read while the configuration loaded, with the environment
/// file they were made from.
type EarlyLook = tokio::task::JoinHandle<(
    config::Environment,
    Vec<crate::engine::connect::Connection>,
    Vec<crate::plan::WorkspaceFailure>,
    RecordReads,
)>;

/// Closes what an early look connected, when the command ends before using it.
async fn discard(early: Option<EarlyLook>) {
    if let Some(task) = early
        && let Ok((_, connections, _, _)) = task.await
    {
        crate::engine::connect::close_all(connections).await;
    }
}

/// Every reachable workspace's state record (from `reads`, one per connection); the target
/// unreachable, or another workspace unreachable without --allow-unreachable, is an error.
fn state_records(
    connections: &[crate::engine::connect::Connection],
    failures: &[crate::plan::WorkspaceFailure],
    reads: RecordReads,
    target: &str,
    allow_unreachable: bool,
) -> miette::Result<BTreeMap<String, Option<state::StateRecord>>> {
    let mut failures = failures.to_vec();
    let mut records = BTreeMap::new();
    for (c, read) in connections.iter().zip(reads) {
        match read {
            Ok(record) => {
                records.insert(c.spec.name.clone(), record);
            }
            // Not a workspace that is down: one whose role nobody can vouch for. Waiving it
            // (--allow-unreachable) could leave two active workspaces.
            Err(e @ crate::engine::EngineError::UntrustedRecord { .. }) => return Err(e.into()),
            Err(e) => failures.push(crate::plan::WorkspaceFailure {
                misconfigured: false,
                workspace: c.spec.name.clone(),
                error: e.to_string(),
                guard: false,
            }),
        }
    }
    if let Some(f) = failures.iter().find(|f| f.workspace == target) {
        return Err(PromoteError::TargetUnreachable {
            workspace: f.workspace.clone(),
            reason: f.error.clone(),
        }
        .into());
    }
    if !failures.is_empty() && !allow_unreachable {
        let names: Vec<&str> = failures.iter().map(|f| f.workspace.as_str()).collect();
        return Err(PromoteError::Unreachable(names.join(", ")).into());
    }
    Ok(records)
}

/// Checks made before anything is written: `Some` ends the command (with its outcome).
fn preflight(
    config: &config::Config,
    args: &PromoteArgs,
    look: &mut super::LockedRun,
) -> Option<miette::Result<ExitCode>> {
    let environment = &config.environment;
    if let Some(f) = look.plan.failures.iter().find(|f| f.guard) {
        return Some(Err(PromoteError::UntrustedRecord(f.error.clone()).into()));
    }
    if let Some(f) = look
        .plan
        .failures
        .iter()
        .find(|f| f.workspace == args.workspace)
    {
        return Some(Err(PromoteError::TargetUnreachable {
            workspace: f.workspace.clone(),
            reason: f.error.clone(),
        }
        .into()));
    }
    let unreachable: Vec<String> = look
        .plan
        .failures
        .iter()
        .map(|f| f.workspace.clone())
        .collect();
    if !unreachable.is_empty() && !args.allow_unreachable {
        return Some(Err(PromoteError::Unreachable(unreachable.join(", ")).into()));
    }
    if let Some(ctx) = look.contexts.get(&args.workspace) {
        add_cluster_starts(&mut look.plan, &args.workspace, ctx);
    }
    let target_record_active = look
        .contexts
        .get(&args.workspace)
        .and_then(|c| c.read.record.as_ref())
        .is_some_and(|r| r.role == Role::Active);
    if environment.active == args.workspace
        && target_record_active
        && !look.plan.has_changes()
        && unreachable.is_empty()
    {
        println!(
            "{} is already the active workspace of {}: nothing to change",
            args.workspace, environment.name
        );
        return Some(Ok(ExitCode::SUCCESS));
    }
    if args.dry_run {
        print!("{}", render_plan(&look.plan, config, args.format));
        // Machine-readable output stays clean.
        if args.format == PlanFormat::Text {
            println!("\ndry run: nothing was changed");
        } else {
            eprintln!("dry run: nothing was changed");
        }
        return Some(Ok(ExitCode::SUCCESS));
    }
    None
}

/// Plans, shows, applies and records the promotion under the locks `locked` holds.
async fn promote(
    config: &config::Config,
    root: &std::path::Path,
    args: &PromoteArgs,
    tty: bool,
    locked: &mut super::LockedRun,
) -> miette::Result<ExitCode> {
    let environment = &config.environment;
    let plan = &mut locked.plan;
    if let Some(f) = plan.failures.iter().find(|f| f.guard) {
        return Err(PromoteError::UntrustedRecord(f.error.clone()).into());
    }
    if let Some(f) = plan.failures.iter().find(|f| f.workspace == args.workspace) {
        return Err(PromoteError::TargetUnreachable {
            workspace: f.workspace.clone(),
            reason: f.error.clone(),
        }
        .into());
    }
    let unreachable: Vec<String> = plan.failures.iter().map(|f| f.workspace.clone()).collect();
    if !unreachable.is_empty() && !args.allow_unreachable {
        return Err(PromoteError::Unreachable(unreachable.join(", ")).into());
    }
    // Clusters marked start_on_promote start on the new active workspace.
    if let Some(ctx) = locked.contexts.get(&args.workspace) {
        add_cluster_starts(plan, &args.workspace, ctx);
    }
    let shown = render_plan(plan, config, args.format);
    tracing::debug!("plan rendered");
    print!("{shown}");
    if !args.auto_approve {
        if !tty {
            if plan.has_deletions() {
                return Err(PromoteError::DeletionsNeedApproval.into());
            }
        } else {
            print!(
                "\nPromote {} to active in {}? Only 'yes' is accepted: ",
                args.workspace, environment.name
            );
            let _ = std::io::stdout().flush();
            let answer = super::read_answer().await;
            if answer.trim() != "yes" {
                return Err(PromoteError::Cancelled.into());
            }
        }
    }
    let provenance = run::Provenance::from(&config.provenance);
    let promotion = run::Promotion {
        target: args.workspace.clone(),
        unreachable,
    };
    let printer = Lines {
        lock: Mutex::new(()),
    };
    let report = run::apply_environment(
        &environment.name,
        &locked.connections,
        plan,
        &locked.contexts,
        &provenance,
        Some(&promotion),
        &printer,
    )
    .await?;
    println!();
    for w in &report.workspaces {
        let failed = w.outcomes.iter().filter(|o| o.result.is_err()).count();
        println!(
            "{}  {} done, {} failed",
            w.workspace,
            w.outcomes.len() - failed,
            failed
        );
    }
    for (workspace, error) in &report.failures {
        println!("{workspace}  not promoted: {error}");
    }
    for workspace in &promotion.unreachable {
        println!(
            "{workspace}  unreachable: pending fence recorded; the next plan, apply or promote fences it once it answers"
        );
    }
    let changed = edit::set_active(root, &environment.name, &args.workspace)?;
    let rel = format!("environments/{}.yaml", environment.name);
    if changed && !args.no_commit {
        let message = format!(
            "Promote {} to active in environment {}\n\nBy {} with `tandem promote`.",
            args.workspace,
            environment.name,
            state::operator()
        );
        match edit::commit_file(root, &rel, &message)? {
            Some(sha) => {
                // The workspaces hold exactly what this commit describes: record it.
                record_commit(&locked.connections, &environment.name, &report, &sha).await;
                println!(
                    "{rel}: active: {} — committed {} (push it: git push)",
                    args.workspace,
                    &sha[..7.min(sha.len())]
                );
            }
            None => println!(
                "{rel}: active: {} (not a Git repository: nothing committed)",
                args.workspace
            ),
        }
    } else if changed {
        println!(
            "{rel}: active: {} (not committed: --no-commit)",
            args.workspace
        );
    }
    if report.succeeded() {
        println!(
            "{} is now the active workspace of {}",
            args.workspace, environment.name
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "promotion incomplete: re-run `tandem -e {} promote {}` to finish it",
            environment.name, args.workspace
        );
        Ok(ExitCode::from(1))
    }
}

/// Updates the last applied commit of the workspaces a promotion fully applied.
async fn record_commit(
    connections: &[crate::engine::connect::Connection],
    environment: &str,
    report: &run::ApplyReport,
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

fn add_cluster_starts(plan: &mut crate::plan::Plan, target: &str, ctx: &planner::WorkspaceContext) {
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
        let resource = crate::model::ResourceId {
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
