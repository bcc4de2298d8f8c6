//! One entry per command: each takes the command's options, does the whole job (loading the
//! configuration, connecting, locking, planning, applying, giving back) and returns a report
//! for the command line to render. Nothing here prints: what a person must see or answer on the
//! way goes through an [`Operator`].

pub mod apply;
pub mod compare;
pub mod destroy;
pub mod drift;
pub mod export;
pub mod import;
pub mod plan;
pub mod promote;
pub mod readiness;
pub mod repair;
pub mod show;
pub mod status;
pub mod unlock;

use std::future::Future;
use std::pin::Pin;

use super::EngineError;
use super::apply::Progress;
use super::planner::PlanRequest;
use super::session::Session;
use crate::config::{Config, Environment, WorkspaceSpec};
use crate::model::ResourceId;
use crate::plan::Plan;
use crate::plan::render::Origins;

/// The person (or CI job) running a writing command: sees the plan before it is carried out,
/// may be asked to confirm it, and hears of each action as it finishes.
pub trait Operator: Progress + Send + Sync {
    /// Shows `plan` (its resources declared at `origins`) before anything is written.
    fn review(&self, plan: &Plan, origins: &Origins);
    /// Tells a line (or lines) of what is being done or found.
    fn tell(&self, text: &str);
    /// Whether someone is there to answer a question.
    fn can_answer(&self) -> bool;
    /// Asks `question`; true when the answer is yes.
    fn ask<'a>(&'a self, question: &'a str) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;
    /// Asks `question` and returns the answer as typed, trimmed (a confirmation that must be
    /// typed out, as destroy's environment name). Nobody answers by default: nothing is
    /// confirmed.
    fn answer<'a>(
        &'a self,
        question: &'a str,
    ) -> Pin<Box<dyn Future<Output = String> + Send + 'a>> {
        let _ = question;
        Box::pin(async { String::new() })
    }
    /// The plan's actions start (a progress display may be set up).
    fn starting(&self, _plan: &Plan) {}
    /// They are all done.
    fn done(&self) {}
}

/// The confirmation every writing command asks for: approved beforehand (`--auto-approve`), or
/// 'yes' from someone at a terminal. Without a terminal nothing is written unapproved, as
/// Terraform does: a CI job that forgot the flag stops (`no_terminal`) instead of writing; any
/// answer but 'yes' is `cancelled`.
pub async fn approve<E>(
    operator: &dyn Operator,
    auto_approve: bool,
    question: &str,
    no_terminal: E,
    cancelled: E,
) -> Result<(), E> {
    if auto_approve {
        Ok(())
    } else if !operator.can_answer() {
        Err(no_terminal)
    } else if operator.ask(question).await {
        Ok(())
    } else {
        Err(cancelled)
    }
}

/// Loads the configuration and reads every workspace with the environment file's roles, taking
/// no lock: what the read-only reports (drift, readiness) look at. The guard's case (a record
/// active, the file passive) is for them to report, not a refusal.
async fn look_as_filed(
    load: &crate::config::LoadOptions,
    client: &crate::client::ClientOptions,
) -> Result<(Config, Session), EngineError> {
    let config = crate::config::load(load)?;
    let request = PlanRequest {
        roles: super::run::roles_from_file(&config.environment),
        enforce_guard: false,
        ..PlanRequest::default()
    };
    let session = Session::look(&config, &load.root, client, &request).await;
    Ok((config, session))
}

/// Starts catching SIGINT and SIGTERM, then takes every workspace's lock for `operation` and
/// plans `config` under the locks with the environment file's roles (`targets` only, when
/// given; the guard enforced when `guard`): how a writing command begins. A signal while the
/// locks are being taken is acted on once they are held, so they are given back.
async fn lock_as_filed(
    config: &Config,
    root: &std::path::Path,
    client: &crate::client::ClientOptions,
    (targets, guard): (Vec<ResourceId>, bool),
    operation: &str,
) -> Result<(Session, super::session::Interrupts), EngineError> {
    let request = PlanRequest {
        targets,
        roles: super::run::roles_from_file(&config.environment),
        enforce_guard: guard,
        ..PlanRequest::default()
    };
    let interrupts = super::session::Interrupts::listen();
    let session = Session::locked(config, root, client, request, operation).await?;
    Ok((session, interrupts))
}

/// Parses `--target kind.key` values against the configuration.
pub fn targets(targets: &[String], config: &Config) -> Result<Vec<ResourceId>, EngineError> {
    targets
        .iter()
        .map(|t| {
            super::planner::parse_target(t)
                .filter(|id| config.resources.contains(id))
                .ok_or_else(|| EngineError::BadTarget(t.clone()))
        })
        .collect()
}

/// The workspace `name` of the environment, or a clear error listing the ones that exist.
pub fn workspace_named<'a>(
    environment: &'a Environment,
    name: &str,
) -> Result<&'a WorkspaceSpec, EngineError> {
    environment
        .workspace(name)
        .ok_or_else(|| EngineError::UnknownWorkspace {
            environment: environment.name.clone(),
            workspace: name.to_string(),
            known: environment
                .workspaces
                .iter()
                .map(|w| w.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}
