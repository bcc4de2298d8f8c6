//! `tandem export` (configuration from what a workspace holds) and `tandem adopt` (existing
//! objects taken over by the configuration, without re-creating them).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{GlobalArgs, load_options};
use crate::client::ClientOptions;
use crate::config::{self, emit};
use crate::engine::{connect, export, planner, run, state};
use crate::model::{Kind, Resources};

/// File formats `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    /// YAML.
    Yaml,
    /// HCL.
    Hcl,
}

/// Arguments of `tandem export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The workspace to read.
    #[arg(long = "from", value_name = "WORKSPACE")]
    pub from: String,
    /// Directory to write into (one file per resource, by kind).
    #[arg(long, default_value = "resources")]
    pub out: PathBuf,
    /// File format.
    #[arg(long, value_enum, default_value_t = FileFormat::Yaml)]
    pub format: FileFormat,
    /// Only objects whose names match this regular expression.
    #[arg(long = "match", value_name = "REGEX")]
    pub pattern: Option<String>,
}

/// Arguments of `tandem adopt`.
#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
}

/// Errors of export and adopt.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ExportError {
    /// A bad `--match`.
    #[error("invalid --match pattern: {0}")]
    Pattern(String),
    /// The workspace failed.
    #[error("{0}")]
    Workspace(String),
    /// Writing files failed.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Adoption not confirmed.
    #[error("adopt cancelled")]
    Cancelled,
}

/// Runs `tandem export`.
pub fn run_export(global: &GlobalArgs, args: &ExportArgs) -> miette::Result<ExitCode> {
    let options = load_options(global)?;
    let environment = config::load_environment(&options)?;
    let spec = super::workspace_named(&environment, &args.from)?.clone();
    let filter = args
        .pattern
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| ExportError::Pattern(e.to_string()))?;
    let runtime = super::runtime()?;
    let resources = runtime.block_on(async {
        let connection = connect::connect(&spec, &options.root, &ClientOptions::default())
            .await
            .map_err(|e| ExportError::Workspace(e.to_string()))?;
        let result = export::export(&connection.client, filter.as_ref())
            .await
            .map_err(|e| ExportError::Workspace(e.to_string()));
        connection.close().await;
        result
    })?;
    let dir = options.root.join(&args.out);
    let mut written = 0;
    for kind in Kind::ALL {
        for key in keys(&resources, kind) {
            let single = only(&resources, kind, &key);
            let (ext, text) = match args.format {
                FileFormat::Yaml => (
                    "yaml",
                    emit::to_yaml(&single).map_err(|e| ExportError::Workspace(e.to_string()))?,
                ),
                FileFormat::Hcl => (
                    "hcl",
                    emit::to_hcl(&single).map_err(|e| ExportError::Workspace(e.to_string()))?,
                ),
            };
            let path = dir.join(kind.as_str()).join(format!("{key}.{ext}"));
            let header = format!(
                "# exported from workspace {} by `tandem export` on {}\n",
                spec.name,
                state::rfc3339(state::now_ms())
            );
            let io = |e: std::io::Error| ExportError::Write {
                path: path.display().to_string(),
                reason: e.to_string(),
            };
            std::fs::create_dir_all(path.parent().unwrap_or(&dir)).map_err(io)?;
            std::fs::write(&path, format!("{header}{text}")).map_err(io)?;
            written += 1;
        }
    }
    println!(
        "exported {written} resources from {} into {}",
        spec.name,
        dir.display()
    );
    if !resources.secret_scopes.is_empty() {
        println!(
            "secret values cannot be read: each secret reads {{env: SCOPE_KEY}}; set those variables (or change the sources) before applying"
        );
    }
    println!(
        "next: include {}/** in environments/{}.yaml, then `tandem -e {} adopt` to take the objects over",
        args.out.display(),
        environment.name,
        environment.name
    );
    Ok(ExitCode::SUCCESS)
}

fn keys(resources: &Resources, kind: Kind) -> Vec<String> {
    match kind {
        Kind::Jobs => resources.jobs.keys().cloned().collect(),
        Kind::Clusters => resources.clusters.keys().cloned().collect(),
        Kind::InstancePools => resources.instance_pools.keys().cloned().collect(),
        Kind::SecretScopes => resources.secret_scopes.keys().cloned().collect(),
    }
}

fn only(resources: &Resources, kind: Kind, key: &str) -> Resources {
    let mut single = Resources::default();
    match kind {
        Kind::Jobs => single.jobs.extend(
            resources
                .jobs
                .get_key_value(key)
                .map(|(k, v)| (k.clone(), v.clone())),
        ),
        Kind::Clusters => single.clusters.extend(
            resources
                .clusters
                .get_key_value(key)
                .map(|(k, v)| (k.clone(), v.clone())),
        ),
        Kind::InstancePools => single.instance_pools.extend(
            resources
                .instance_pools
                .get_key_value(key)
                .map(|(k, v)| (k.clone(), v.clone())),
        ),
        Kind::SecretScopes => single.secret_scopes.extend(
            resources
                .secret_scopes
                .get_key_value(key)
                .map(|(k, v)| (k.clone(), v.clone())),
        ),
    }
    single
}

/// Runs `tandem adopt`.
pub fn run_adopt(global: &GlobalArgs, args: &AdoptArgs) -> miette::Result<ExitCode> {
    let options = load_options(global)?;
    let config = config::load(&options)?;
    let runtime = super::runtime()?;
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let failures = runtime.block_on(async {
        let request = planner::PlanRequest { targets: Vec::new(), roles: run::roles_from_file(&config.environment), enforce_guard: true,     skip: Default::default(), };
        let (connections, plan, contexts) = super::connect_and_plan(&config, &options.root, &ClientOptions::default(), &request).await;
        let result = async {
            let mut work = Vec::new();
            for c in &connections {
                let Some(ctx) = contexts.get(&c.spec.name) else { continue };
                for a in export::adoption_candidates(&ctx.desired.resources, &ctx.read.live) {
                    println!("{}  adopt {} ← {} \"{}\"", c.spec.name, a.resource, a.id, a.name);
                    work.push((c, a));
                }
            }
            if work.is_empty() {
                println!("nothing to adopt: every configured object is managed already or does not exist yet");
                return Ok(plan.failures.len());
            }
            if !args.auto_approve && tty {
                print!("Tag these objects as tandem's? Only 'yes' is accepted: ");
                let _ = std::io::stdout().flush();
                let mut answer = String::new();
                let _ = std::io::stdin().read_line(&mut answer);
                if answer.trim() != "yes" {
                    return Err(ExportError::Cancelled.into());
                }
            }
            let locks = run::take_locks(&config.environment.name, &connections, "adopt").await?;
            let mut failed = plan.failures.len();
            for (c, a) in &work {
                match export::adopt(&c.client, &config.environment.name, a).await {
                    Ok(()) => println!("{}  adopted {}", c.spec.name, a.resource),
                    Err(e) => {
                        failed += 1;
                        println!("{}  adopt {} failed: {e}", c.spec.name, a.resource);
                    }
                }
            }
            run::release_locks(&config.environment.name, &connections, &locks).await;
            Ok::<usize, miette::Report>(failed)
        }
        .await;
        for c in connections {
            c.close().await;
        }
        result
    })?;
    println!(
        "next: `tandem -e {} plan` shows what still differs",
        config.environment.name
    );
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
