//! `plan`: what apply would change in every workspace of the environment.

use crate::client::ClientOptions;
use crate::config::{self, Config, LoadOptions};
use crate::engine::EngineError;
use crate::engine::planner::PlanRequest;
use crate::engine::run;
use crate::engine::session::{EarlyReads, Session, leave_to_exit};
use crate::plan::Plan;
use crate::plan::render::Origins;

/// How to plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Where the configuration is and which environment.
    pub load: LoadOptions,
    /// Requests in flight and retries.
    pub client: ClientOptions,
    /// `--target kind.key` values (empty: everything).
    pub targets: Vec<String>,
    /// Mark what changed since the merge base with this revision.
    pub base: Option<String>,
}

/// A plan, with where each resource is declared.
#[derive(Debug)]
pub struct PlanReport {
    /// The plan.
    pub plan: Plan,
    /// `file:line` of each resource.
    pub origins: Origins,
}

/// Plans every workspace of the environment; the workspaces are read while the configuration
/// loads (when every one is remote).
pub async fn plan(options: &PlanOptions) -> Result<PlanReport, EngineError> {
    // Reading the workspaces takes longer than loading the configuration: start it first.
    let early = EarlyReads::start(&options.load, &options.client).await;
    let config = match load(options) {
        Ok(loaded) => loaded,
        Err(e) => {
            if let Some(early) = early {
                early.discard().await;
            }
            return Err(e);
        }
    };
    let (config, targets, changed) = config;
    let request = PlanRequest {
        targets,
        roles: run::roles_from_file(&config.environment),
        enforce_guard: true,
        ..PlanRequest::default()
    };
    let session = Session::look_from(
        early,
        &config,
        &options.load.root,
        &options.client,
        &request,
    )
    .await;
    let mut plan = session.finish(&config.environment.name).await;
    if let Some(files) = changed {
        mark_changed(&mut plan, &config, &options.load.root, files);
    }
    let report = PlanReport {
        plan,
        origins: origins(&config),
    };
    leave_to_exit(config);
    Ok(report)
}

/// The configuration, the targets and the files changed since `--base`.
type Loaded = (Config, Vec<crate::model::ResourceId>, Option<Vec<String>>);

/// Loads what planning needs before any workspace is read.
fn load(options: &PlanOptions) -> Result<Loaded, EngineError> {
    let config = config::load(&options.load)?;
    let targets = super::targets(&options.targets, &config)?;
    let changed = match &options.base {
        Some(rev) => Some(config::source::changed_since(&options.load.root, rev)?),
        None => None,
    };
    Ok((config, targets, changed))
}

/// Lists the configuration files among `files` and marks the resources they define.
fn mark_changed(plan: &mut Plan, config: &Config, root: &std::path::Path, files: Vec<String>) {
    // Only configuration: the resource files the environment includes and its own file.
    let env_file = format!("environments/{}.yaml", config.environment.name);
    let deleted_config = |f: &str| {
        [".yaml", ".yml", ".hcl"].iter().any(|e| f.ends_with(e)) && !root.join(f).exists()
    };
    let files: Vec<String> = files
        .into_iter()
        .filter(|f| config.files.contains(f) || *f == env_file || deleted_config(f))
        .collect();
    plan.changed_resources = config
        .origins
        .iter()
        .filter(|(_, o)| files.contains(&o.file))
        .map(|(id, _)| id.clone())
        .collect();
    plan.changed_files = Some(files);
}

/// `file:line` of each resource of `config`.
pub fn origins(config: &Config) -> Origins {
    config
        .origins
        .iter()
        .map(|(id, o)| (id.clone(), format!("{}:{}", o.file, o.line)))
        .collect()
}
