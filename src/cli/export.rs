//! `tandem export` (configuration from what a workspace holds) and `tandem adopt` (existing
//! objects taken over by the configuration, without re-creating them).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::{GlobalArgs, load_options};
use crate::client::ClientOptions;
use crate::config::{self, emit};
use crate::engine::apply::{ActionOutcome, Progress};
use crate::engine::secrets::read_value;
use crate::engine::{adopt, connect, export, planner, run, state};
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
#[command(after_help = "\
Matches configured jobs, clusters and pools with existing objects of the same name that carry no \
tandem tags, and tags them (same IDs: nothing is re-created; a running cluster is edited to add \
the tags). Configured secret scopes that exist become tandem's. Every configured secret that \
exists but whose value tandem has no record of (never written by tandem, or rewritten outside it \
since) is written again from its source (env: or file:) and its salted fingerprint recorded in \
the workspace's state record, as apply does. A secret whose source cannot be read is reported and \
skipped, and adopt exits 1: set the variable and run adopt again. Then `tandem plan` shows what \
still differs.")]
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
    let exported = runtime.block_on(async {
        let connection = connect::connect(&spec, &options.root, &ClientOptions::default())
            .await
            .map_err(|e| ExportError::Workspace(e.to_string()))?;
        let result = export::export(&connection.client, filter.as_ref())
            .await
            .map_err(|e| ExportError::Workspace(e.to_string()));
        connection.close().await;
        result
    })?;
    let resources = exported.resources;
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
    if !exported.unresolved.is_empty() {
        println!(
            "warning: these IDs belong to objects --match left out; they stay IDs, which mean nothing in another workspace (export those objects too, or write references by hand):"
        );
        for u in &exported.unresolved {
            println!("  {u}");
        }
    }
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

/// Runs `tandem adopt`: tags existing objects the configuration describes (matched by name) as
/// tandem's, records existing scopes as tandem's, and writes every configured secret tandem has
/// no record of (never written by tandem, or rewritten since) from its source, recording its
/// fingerprint. A secret whose source cannot be read is reported and skipped (exit 1).
pub fn run_adopt(global: &GlobalArgs, args: &AdoptArgs) -> miette::Result<ExitCode> {
    let options = load_options(global)?;
    let config = config::load(&options)?;
    let environment = config.environment.name.clone();
    let runtime = super::runtime()?;
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let failures = runtime.block_on(async {
        let request = planner::PlanRequest {
            targets: Vec::new(),
            roles: run::roles_from_file(&config.environment),
            enforce_guard: true,
            skip: Default::default(),
            grants_rewritten: Default::default(),
            early_grant_writes: None,
        };
        let locked = super::LockedRun::start(
            &config,
            &options.root,
            &ClientOptions::default(),
            request,
            "adopt",
        )
        .await?;
        let result = adopt_locked(&locked, &environment, args.auto_approve, tty).await;
        locked.finish(&environment).await;
        result
    })?;
    println!("next: `tandem -e {environment} plan` shows what still differs");
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What adopt does in one workspace.
struct Work<'a> {
    connection: &'a connect::Connection,
    objects: Vec<adopt::Adoption>,
    scopes: Vec<(crate::model::ResourceId, String)>,
    secrets: Vec<adopt::SecretAdoption>,
}

/// Prints one line per secret written.
struct SecretLines;

impl Progress for SecretLines {
    fn finished(&self, workspace: &str, outcome: &ActionOutcome) {
        match &outcome.result {
            Ok(detail) => println!("{workspace}  adopted {}: {detail}", outcome.resource),
            Err(e) => println!("{workspace}  adopt {} failed: {e}", outcome.resource),
        }
    }
}

/// Lists, confirms and carries out the adoptions while every lock is held; the failure count.
async fn adopt_locked(
    locked: &super::LockedRun,
    environment: &str,
    auto_approve: bool,
    tty: bool,
) -> miette::Result<usize> {
    let mut failed = 0;
    for f in &locked.plan.failures {
        println!("{}  not adopted: {}", f.workspace, f.error);
        failed += 1;
    }
    let mut work = Vec::new();
    for c in &locked.connections {
        let name = &c.spec.name;
        let Some(ctx) = locked.contexts.get(name) else {
            continue;
        };
        let (desired, live, record) = (
            &ctx.desired.resources,
            &ctx.read.live,
            ctx.read.record.as_ref(),
        );
        let objects = adopt::adoption_candidates(desired, live);
        for a in &objects {
            println!("{name}  adopt {} ← {} \"{}\"", a.resource, a.id, a.name);
        }
        let scopes = adopt::scope_candidates(desired, live, record);
        for (resource, scope) in &scopes {
            println!("{name}  adopt {resource} ← scope \"{scope}\"");
        }
        let mut secrets = Vec::new();
        for s in adopt::secret_candidates(desired, live, record, name) {
            let readable = match &s.source {
                Some(source) => read_value(source, c.embedded.is_some()).map(drop),
                None => Err("no source for this workspace".to_string()),
            };
            match readable {
                Ok(()) => {
                    println!(
                        "{name}  adopt {} ← secret {}/{} ({}: written again from its source)",
                        s.resource, s.scope, s.key, s.reason
                    );
                    secrets.push(s);
                }
                Err(reason) => {
                    println!(
                        "{name}  cannot adopt secret {}/{} ({}): {reason}; skipped",
                        s.scope, s.key, s.reason
                    );
                    failed += 1;
                }
            }
        }
        if !(objects.is_empty() && scopes.is_empty() && secrets.is_empty()) {
            work.push(Work {
                connection: c,
                objects,
                scopes,
                secrets,
            });
        }
    }
    if work.is_empty() {
        println!(
            "nothing to adopt: every configured object is managed already or does not exist yet"
        );
        return Ok(failed);
    }
    if !auto_approve && tty {
        print!("Take these over as tandem's? Only 'yes' is accepted: ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if answer.trim() != "yes" {
            return Err(ExportError::Cancelled.into());
        }
    }
    for w in work {
        let (c, name) = (w.connection, &w.connection.spec.name);
        let Some(ctx) = locked.contexts.get(name) else {
            continue;
        };
        for a in &w.objects {
            match adopt::adopt(&c.client, environment, a).await {
                Ok(()) => println!("{name}  adopted {}", a.resource),
                Err(e) => {
                    failed += 1;
                    println!("{name}  adopt {} failed: {e}", a.resource);
                }
            }
        }
        if w.scopes.is_empty() && w.secrets.is_empty() {
            continue;
        }
        let role = ctx.plan.role;
        let mut record = ctx
            .read
            .record
            .clone()
            .unwrap_or_else(|| state::StateRecord::new(environment, name, role));
        for (resource, scope) in &w.scopes {
            record.managed_scopes.insert(scope.clone());
            println!("{name}  adopted {resource}");
        }
        let (report, mut record) =
            adopt::adopt_secrets(c, environment, role, &w.secrets, record, &SecretLines).await;
        failed += report.outcomes.iter().filter(|o| o.result.is_err()).count();
        if let Err(e) = state::write_state_record(&c.client, &mut record).await {
            failed += 1;
            println!("{name}  state record not written: {e}");
        }
    }
    Ok(failed)
}
