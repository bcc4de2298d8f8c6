//! `apply`: make every workspace of the environment hold the configuration (or a saved plan).

use std::path::{Path, PathBuf};

use super::Operator;
use crate::client::ClientOptions;
use crate::config::{self, LoadOptions};
use crate::engine::EngineError;
use crate::engine::run::{self, ApplyReport, Provenance};
use crate::engine::session::Session;
use crate::plan::Plan;

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Where the configuration is and which environment.
    pub load: LoadOptions,
    /// Requests in flight and retries.
    pub client: ClientOptions,
    /// `--target kind.key` values (empty: everything).
    pub targets: Vec<String>,
    /// A plan saved by `tandem plan --out FILE`: apply exactly that plan.
    pub planfile: Option<PathBuf>,
    /// Apply a saved plan even though the configuration it acts on changed since.
    pub allow_stale_config: bool,
    /// Do not ask for confirmation.
    pub auto_approve: bool,
    /// Apply everything else when secrets have no value in this run (their sources absent),
    /// leaving those secrets as they are, instead of refusing.
    pub skip_absent_secrets: bool,
}

/// What an apply did.
#[derive(Debug)]
pub struct ApplyOutcome {
    /// The plan carried out; its secrets not compared were skipped (`skip_absent_secrets`).
    pub plan: Plan,
    /// What each workspace did.
    pub report: ApplyReport,
}

/// Why an apply was refused before it wrote anything.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApplyError {
    /// Changes without approval, no terminal to ask on.
    #[error(
        "the plan changes {workspaces} workspace(s) and there is no terminal to confirm it: nothing was changed"
    )]
    #[diagnostic(help("review the plan above (or `tandem plan`) and re-run with --auto-approve"))]
    NoTerminal {
        /// How many workspaces the plan changes.
        workspaces: usize,
    },
    /// The user said no.
    #[error("apply cancelled")]
    Cancelled,
    /// Secrets to compare or write whose sources are absent in this run.
    #[error(
        "{count} secret(s) have no value in this run, so apply cannot compare or write them: {secrets}"
    )]
    #[diagnostic(help(
        "set those variables (or provide those files) and run again; or re-run with --skip-absent-secrets to apply everything else and leave those secrets as they are (nothing was changed)"
    ))]
    AbsentSecrets {
        /// How many.
        count: usize,
        /// Each as `workspace: scope/key (why)`: names of variables and files, never values.
        secrets: String,
    },
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
    #[error(transparent)]
    #[diagnostic(transparent)]
    PlanFile(#[from] super::show::PlanFileError),
}

/// Loads the configuration, takes every workspace's lock, plans under the locks (or checks a
/// saved plan against what is there now), lets the operator review and confirm, applies, and
/// gives the locks back — also when a signal or a lost lock stops the work.
pub async fn apply(
    options: &ApplyOptions,
    operator: &dyn Operator,
) -> Result<ApplyOutcome, EngineError> {
    let config = config::load(&options.load)?;
    let targets = super::targets(&options.targets, &config)?;
    let saved = match &options.planfile {
        Some(path) => Some(read_plan(path, &config.environment.name)?),
        None => None,
    };
    let (session, mut interrupts) = super::lock_as_filed(
        &config,
        &options.load.root,
        &options.client,
        (targets, true),
        "apply",
    )
    .await?;
    let environment = &config.environment.name;
    let origins = super::plan::origins(&config);
    session
        .run(
            environment,
            &mut interrupts,
            async |session: &mut Session| {
                let mut plan = match &saved {
                    Some(saved) => {
                        run::check_not_stale(saved, &session.contexts)?;
                        let changed = run::config_changed_since(saved, &session.contexts);
                        if !changed.is_empty() && !options.allow_stale_config {
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
                        plan.failures = session.plan.failures.clone();
                        plan
                    }
                    None => session.plan.clone(),
                };
                // The secrets' sources as they are now: a saved plan made without them (a pull
                // request's) writes them where they are set now.
                let embedded = session
                    .connections
                    .iter()
                    .filter(|c| c.embedded.is_some())
                    .map(|c| c.spec.name.clone())
                    .collect();
                crate::engine::secrets::settle(&mut plan, &embedded);
                if saved.is_none() {
                    operator.review(&plan, &origins);
                }
                refuse_absent_secrets(&plan, options.skip_absent_secrets)?;
                confirm(&plan, options.auto_approve, operator).await?;
                // A saved plan carries the values of the commit it was made from: that is what is
                // applied, so that is what the records say.
                let provenance = match &saved {
                    Some(saved) => Provenance {
                        commit: saved.config_commit.clone(),
                        dirty: saved.config_dirty,
                    },
                    None => Provenance::from(&config.provenance),
                };
                operator.starting(&plan);
                let report = run::apply_environment(
                    environment,
                    &session.connections,
                    &plan,
                    &session.contexts,
                    &provenance,
                    None,
                    operator,
                )
                .await;
                operator.done();
                Ok(ApplyOutcome {
                    plan,
                    report: report?,
                })
            },
        )
        .await
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

/// Refuses a plan with secrets it cannot compare or write (their sources absent in this run),
/// naming them, unless they are to be skipped.
fn refuse_absent_secrets(plan: &Plan, skip: bool) -> Result<(), ApplyError> {
    let absent: Vec<String> = plan
        .not_compared()
        .map(|(w, s)| format!("{w}: {}/{} ({})", s.scope, s.key, s.reason))
        .collect();
    if absent.is_empty() || skip {
        Ok(())
    } else {
        Err(ApplyError::AbsentSecrets {
            count: absent.len(),
            secrets: absent.join("; "),
        })
    }
}

/// Asks the operator to confirm a plan with changes, unless approved beforehand; with nobody
/// to ask, nothing is written.
async fn confirm(
    plan: &Plan,
    auto_approve: bool,
    operator: &dyn Operator,
) -> Result<(), ApplyError> {
    if !plan.has_changes() {
        return Ok(());
    }
    let changing = plan
        .workspaces
        .iter()
        .filter(|w| !w.actions.is_empty())
        .count();
    let question =
        format!("\nApply these changes to {changing} workspace(s)? Only 'yes' is accepted: ");
    let no_terminal = ApplyError::NoTerminal {
        workspaces: changing,
    };
    super::approve(
        operator,
        auto_approve,
        &question,
        no_terminal,
        ApplyError::Cancelled,
    )
    .await
}

/// A plan saved by `tandem plan --out`, checked to be of this format and environment.
fn read_plan(path: &Path, environment: &str) -> Result<Plan, ApplyError> {
    let plan = super::show::read_plan_file(path)?;
    if plan.environment != environment {
        return Err(super::show::PlanFileError {
            path: path.display().to_string(),
            reason: format!(
                "the plan is for environment {}, not {environment}",
                plan.environment
            ),
        }
        .into());
    }
    Ok(plan)
}
