//! `tandem apply [PLANFILE]`: make every workspace of the environment hold the configuration.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use clap::Args;

use super::plan::{PlanFormat, render_plan};
use super::{GlobalArgs, load_options};
use crate::client::ClientOptions;
use crate::config;
use crate::engine::apply::{ActionOutcome, Progress};
use crate::engine::{planner, run};
use crate::plan::Plan;

/// Arguments of `tandem apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved by `tandem plan --out FILE`: apply exactly that plan (refused if stale).
    pub planfile: Option<PathBuf>,
    /// Do not ask for confirmation (needed for deletions when not on a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// Limit to these resources and what they reference (`jobs.nightly_etl`; repeatable).
    #[arg(long = "target", value_name = "KIND.KEY")]
    pub targets: Vec<String>,
    /// Apply a saved plan even though the configuration of resources it acts on changed since
    /// it was made: the plan's values are written, and its commit is recorded.
    #[arg(long, requires = "planfile")]
    pub allow_stale_config: bool,
    /// Requests in flight per workspace at most (adapts down on 429).
    #[arg(long, default_value_t = 16)]
    pub parallelism: usize,
}

/// Errors of `tandem apply` itself.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApplyError {
    /// Deletions without approval, no terminal to ask on.
    #[error("the plan deletes objects and there is no terminal to confirm it")]
    #[diagnostic(help("review the plan and re-run with --auto-approve"))]
    DeletionsNeedApproval,
    /// The user said no.
    #[error("apply cancelled")]
    Cancelled,
    /// The configuration changed since the saved plan was made.
    #[error(
        "the saved plan was made from commit {plan_commit}, and the configuration of what it changes differs now ({head}): {resources}"
    )]
    #[diagnostic(help(
        "run `tandem plan --out FILE` again and review the new plan; or, to apply the saved plan's values as they were reviewed (recording commit {plan_commit}), re-run with --allow-stale-config"
    ))]
    StaleConfig {
        /// The plan's commit.
        plan_commit: String,
        /// The configuration now.
        head: String,
        /// What differs.
        resources: String,
    },
    /// The plan file is unusable.
    #[error("cannot use plan file {path}: {reason}")]
    PlanFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Prints one line per finished action (on a terminal the lines carry colour).
struct LinePrinter {
    colour: bool,
    lock: Mutex<()>,
}

impl Progress for LinePrinter {
    fn finished(&self, workspace: &str, outcome: &ActionOutcome) {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let (mark, detail) = match &outcome.result {
            Ok(d) => (
                if self.colour {
                    "\x1b[32mok\x1b[0m"
                } else {
                    "ok"
                },
                d.clone(),
            ),
            Err(e) => (
                if self.colour {
                    "\x1b[31mfailed\x1b[0m"
                } else {
                    "failed"
                },
                e.clone(),
            ),
        };
        println!(
            "{workspace}  {} {}  {mark}  {detail}",
            outcome.verb, outcome.resource
        );
    }
}

/// On a terminal: a progress bar per workspace; failures are printed above the bars.
struct Bars {
    _multi: indicatif::MultiProgress,
    bars: std::collections::BTreeMap<String, indicatif::ProgressBar>,
}

impl Bars {
    fn new(plan: &Plan) -> Self {
        let multi = indicatif::MultiProgress::new();
        let style =
            indicatif::ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> ");
        let bars = plan
            .workspaces
            .iter()
            .map(|w| {
                let bar = multi.add(indicatif::ProgressBar::new(w.actions.len() as u64));
                bar.set_style(style.clone());
                bar.set_prefix(w.workspace.clone());
                (w.workspace.clone(), bar)
            })
            .collect();
        Bars {
            _multi: multi,
            bars,
        }
    }

    fn finish(&self) {
        for bar in self.bars.values() {
            bar.finish_with_message("done");
        }
    }
}

impl Progress for Bars {
    fn finished(&self, workspace: &str, outcome: &ActionOutcome) {
        if let Some(bar) = self.bars.get(workspace) {
            bar.inc(1);
            bar.set_message(format!("{} {}", outcome.verb, outcome.resource));
            if let Err(e) = &outcome.result {
                bar.println(format!(
                    "{workspace}  {} {}  failed  {e}",
                    outcome.verb, outcome.resource
                ));
            }
        }
    }
}

/// Runs the command.
pub fn run(global: &GlobalArgs, args: &ApplyArgs) -> miette::Result<ExitCode> {
    let options = load_options(global)?;
    let config = config::load(&options)?;
    let targets = super::parse_targets(&args.targets, &config)?;
    let saved: Option<Plan> = match &args.planfile {
        Some(path) => Some(read_plan(path, &config.environment.name)?),
        None => None,
    };
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let colour = super::colour_enabled(std::io::stdout().is_terminal());
    let runtime = super::runtime()?;
    let client = ClientOptions {
        parallelism: args.parallelism,
        ..ClientOptions::default()
    };
    let (report, plan) = runtime.block_on(async {
        let request = planner::PlanRequest {
            targets: targets.clone(),
            roles: run::roles_from_file(&config.environment),
            enforce_guard: true,
            skip: Default::default(),
            grants_rewritten: Default::default(),
            early_grant_writes: None,
        };
        // Caught from here on: a signal while the locks are being taken is acted on once they
        // are held, so they are given back rather than left behind.
        let mut interrupts = super::Interrupts::listen();
        let locked =
            super::LockedRun::start(&config, &options.root, &client, request, "apply").await?;
        let (connections, contexts) = (&locked.connections, &locked.contexts);
        let work = async {
            let plan = match &saved {
                Some(saved) => {
                    run::check_not_stale(saved, contexts)?;
                    let changed = run::config_changed_since(saved, contexts);
                    if !changed.is_empty() && !args.allow_stale_config {
                        return Err(ApplyError::StaleConfig {
                            plan_commit: short_commit(&saved.config_commit, saved.config_dirty),
                            head: config.provenance.short(),
                            resources: changed.join(", "),
                        }
                        .into());
                    }
                    // What is true now: the guard and unreachable workspaces count, not what
                    // was true when the plan was saved.
                    let mut plan = saved.clone();
                    plan.failures = locked.plan.failures.clone();
                    plan
                }
                None => locked.plan.clone(),
            };
            if saved.is_none() {
                print!("{}", render_plan(&plan, &config, PlanFormat::Text));
            }
            confirm(&plan, args.auto_approve, tty).await?;
            // A saved plan carries the values of the commit it was made from: that is what is
            // applied, so that is what the records say.
            let provenance = match &saved {
                Some(saved) => run::Provenance {
                    commit: saved.config_commit.clone(),
                    dirty: saved.config_dirty,
                },
                None => run::Provenance::from(&config.provenance),
            };
            let report = if std::io::stdout().is_terminal() {
                let bars = Bars::new(&plan);
                let report = run::apply_environment(
                    &config.environment.name,
                    connections,
                    &plan,
                    contexts,
                    &provenance,
                    None,
                    &bars,
                )
                .await;
                bars.finish();
                report?
            } else {
                let printer = LinePrinter {
                    colour,
                    lock: Mutex::new(()),
                };
                run::apply_environment(
                    &config.environment.name,
                    connections,
                    &plan,
                    contexts,
                    &provenance,
                    None,
                    &printer,
                )
                .await?
            };
            Ok::<_, miette::Report>((report, plan))
        };
        // A signal stops the work at its next await (as a kill would) but not the release of
        // the locks, unless a second one insists.
        let lost = locked.locks.lost();
        let (outcome, interrupted) = tokio::select! {
            biased;
            signal = interrupts.recv() => (Err(super::CliError::Interrupted(signal).into()), true),
            reason = lost => (Err(super::CliError::LockLost(reason).into()), true),
            outcome = work => (outcome, false),
        };
        super::finish_interruptible(
            locked,
            &config.environment.name,
            interrupted,
            &mut interrupts,
        )
        .await;
        outcome
    })?;
    println!();
    for w in &report.workspaces {
        let failed = w.outcomes.iter().filter(|o| o.result.is_err()).count();
        let done = w.outcomes.len() - failed;
        println!("{}  {} done, {} failed", w.workspace, done, failed);
        for o in w.outcomes.iter().filter(|o| o.result.is_err()) {
            if let Err(e) = &o.result {
                println!("  {} {}: {e}", o.verb, o.resource);
            }
        }
    }
    for (workspace, error) in &report.failures {
        println!("{workspace}  not applied: {error}");
    }
    if !plan.has_changes() && report.succeeded() {
        println!("No changes: every workspace matches the configuration.");
    }
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `3f2a1c9` (or `3f2a1c9+dirty`) for a commit.
fn short_commit(commit: &str, dirty: bool) -> String {
    let short: String = commit.chars().take(7).collect();
    if dirty {
        format!("{short}+dirty")
    } else {
        short
    }
}

async fn confirm(plan: &Plan, auto_approve: bool, tty: bool) -> Result<(), ApplyError> {
    if auto_approve || !plan.has_changes() {
        return Ok(());
    }
    if !tty {
        return if plan.has_deletions() {
            Err(ApplyError::DeletionsNeedApproval)
        } else {
            Ok(())
        };
    }
    print!(
        "\nApply these changes to {} workspace(s)? Only 'yes' is accepted: ",
        plan.workspaces.len()
    );
    let _ = std::io::stdout().flush();
    let answer = super::read_answer().await;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(ApplyError::Cancelled)
    }
}

fn read_plan(path: &std::path::Path, environment: &str) -> Result<Plan, ApplyError> {
    let error = |reason: String| ApplyError::PlanFile {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let plan: Plan =
        serde_json::from_str(&text).map_err(|e| error(format!("not a tandem plan: {e}")))?;
    if plan.format_version != crate::plan::PLAN_FORMAT_VERSION {
        return Err(error(format!(
            "plan format {} is not supported (expected {})",
            plan.format_version,
            crate::plan::PLAN_FORMAT_VERSION
        )));
    }
    if plan.environment != environment {
        return Err(error(format!(
            "the plan is for environment {}, not {environment}",
            plan.environment
        )));
    }
    Ok(plan)
}
