//! `export` (configuration files from what a workspace holds) and `adopt` (existing objects the
//! configuration describes, taken over without re-creating them).

use std::path::PathBuf;

use super::Operator;
use crate::client::ClientOptions;
use crate::config::{self, LoadOptions, emit};
use crate::engine::apply::{ActionOutcome, Progress};
use crate::engine::connect::{self, Connection};
use crate::engine::planner::PlanRequest;
use crate::engine::secrets::read_value;
use crate::engine::session::Session;
use crate::engine::{EngineError, adopt as adoption, run, state};
use crate::model::{Kind, ResourceId};

/// The file formats export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// YAML.
    Yaml,
    /// HCL.
    Hcl,
}

/// What to export, and where to.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Where the configuration is and which environment (only its environment file is read).
    pub load: LoadOptions,
    /// The workspaces to read (none: every workspace of the environment).
    pub from: Vec<String>,
    /// Directory to write into, relative to the root (one file per resource, by kind).
    pub out: PathBuf,
    /// File format.
    pub format: FileFormat,
    /// Only objects whose names match this regular expression.
    pub pattern: Option<String>,
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportReport {
    /// The workspaces read, the one whose values lead first.
    pub workspaces: Vec<String>,
    /// Their environment.
    pub environment: String,
    /// The directory written into.
    pub dir: PathBuf,
    /// Files written (one per resource).
    pub written: usize,
    /// IDs of objects left out (by the pattern) that exported resources use.
    pub unresolved: Vec<String>,
    /// Secret scopes were exported: their values read `env:` placeholders.
    pub secret_placeholders: bool,
    /// Variables added to the environment file (values that differ between workspaces).
    pub variables: Vec<String>,
    /// The environment file, relative to the root.
    pub environment_file: String,
    /// What a person should look at (see [`crate::engine::export::Merged::notes`]).
    pub notes: Vec<String>,
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
    /// No terminal to confirm the adoption on, and no `--auto-approve`.
    #[error(
        "adopt changes objects and secrets and there is no terminal to confirm it: nothing was changed"
    )]
    #[diagnostic(help("review what it listed above and re-run with --auto-approve"))]
    NoTerminal,
}

/// Reads the workspaces (all of the environment's, or those asked for) and writes one
/// configuration file per resource they hold, merged: values that differ between them become
/// per-workspace variables, added to the environment file.
pub async fn export(options: &ExportOptions) -> Result<ExportReport, EngineError> {
    let environment = config::load_environment(&options.load)?;
    let mut specs = Vec::new();
    for name in &options.from {
        let spec = super::workspace_named(&environment, name)?;
        if !specs.contains(&spec) {
            specs.push(spec);
        }
    }
    if specs.is_empty() {
        specs = environment.workspaces.iter().collect();
    }
    // The active workspace leads: its values are kept where no variable can hold the others'.
    specs.sort_by_key(|s| s.name != environment.active);
    let filter = options
        .pattern
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| ExportError::Pattern(e.to_string()))?;
    let workspaces =
        read_workspaces(&environment, &specs, &options.load.root, filter.as_ref()).await?;
    let names: Vec<String> = environment
        .workspaces
        .iter()
        .map(|w| w.name.clone())
        .collect();
    let merged = crate::engine::export::merge(&workspaces, &names, &environment.variables);
    let read: Vec<String> = workspaces.into_iter().map(|w| w.workspace).collect();
    let resources = merged.resources;
    let dir = options.load.root.join(&options.out);
    let header = format!(
        "# exported from {} {} by `tandem export` on {}\n",
        if read.len() == 1 {
            "workspace"
        } else {
            "workspaces"
        },
        read.join(", "),
        state::rfc3339(state::now_ms())
    );
    let mut written = 0;
    for kind in Kind::ALL {
        for key in resources.keys(kind) {
            let single = resources.only(&ResourceId {
                kind,
                key: key.clone(),
            });
            let emitted = match options.format {
                FileFormat::Yaml => emit::to_yaml(&single).map(|t| ("yaml", t)),
                FileFormat::Hcl => emit::to_hcl(&single).map(|t| ("hcl", t)),
            };
            let (ext, text) = emitted.map_err(|e| ExportError::Workspace(e.to_string()))?;
            let path = dir.join(kind.as_str()).join(format!("{key}.{ext}"));
            let io = |e: std::io::Error| ExportError::Write {
                path: path.display().to_string(),
                reason: e.to_string(),
            };
            std::fs::create_dir_all(path.parent().unwrap_or(&dir)).map_err(io)?;
            std::fs::write(&path, format!("{header}{text}")).map_err(io)?;
            written += 1;
        }
    }
    if !merged.variables.is_empty() {
        config::edit::add_variables(&options.load.root, &environment.name, &merged.variables)?;
    }
    Ok(ExportReport {
        workspaces: read,
        environment_file: format!("environments/{}.yaml", environment.name),
        environment: environment.name,
        dir,
        written,
        unresolved: merged.unresolved,
        secret_placeholders: !resources.secret_scopes.is_empty(),
        variables: merged.variables.into_keys().collect(),
        notes: merged.notes,
    })
}

/// Reads what each of `specs` (workspaces of `environment`) holds, side by side, for export
/// and compare (see [`crate::engine::export::read_workspace`]).
pub(super) async fn read_workspaces(
    environment: &config::Environment,
    specs: &[&config::WorkspaceSpec],
    root: &std::path::Path,
    filter: Option<&regex::Regex>,
) -> Result<Vec<crate::engine::export::WorkspaceObjects>, ExportError> {
    let reads = specs.iter().map(|spec| async move {
        let connection = connect::connect(spec, root, &ClientOptions::default())
            .await
            .map_err(|e| ExportError::Workspace(e.to_string()))?;
        let read =
            crate::engine::export::read_workspace(&connection.client, &environment.name, filter)
                .await
                .map_err(|e| ExportError::Workspace(e.to_string()));
        connection.close().await;
        Ok::<_, ExportError>(crate::engine::export::WorkspaceObjects {
            workspace: spec.name.clone(),
            passive: environment.role_of(&spec.name) == crate::model::Role::Passive,
            objects: read?,
        })
    });
    futures::future::try_join_all(reads).await
}

/// How to adopt.
#[derive(Debug, Clone)]
pub struct AdoptOptions {
    /// Where the configuration is and which environment.
    pub load: LoadOptions,
    /// Do not ask for confirmation.
    pub auto_approve: bool,
    /// Write configured secrets tandem never wrote from their sources, replacing the values the
    /// workspaces hold (without it those values are kept and recorded).
    pub overwrite_secrets: bool,
}

/// What an adoption did.
#[derive(Debug, Clone)]
pub struct AdoptReport {
    /// The environment.
    pub environment: String,
    /// What could not be adopted (each told to the operator as it happened).
    pub failures: usize,
}

/// Tags existing objects the configuration describes (matched by name) as tandem's, records
/// existing scopes as tandem's, and takes over every configured secret tandem has no record of,
/// all under every workspace's lock: one tandem never wrote keeps the workspace's value (its
/// timestamp and its source's fingerprint are recorded) unless `overwrite_secrets`; one rewritten
/// outside tandem since its write is written from its source again. A secret whose source cannot
/// be read is told and skipped.
pub async fn adopt(
    options: &AdoptOptions,
    operator: &dyn Operator,
) -> Result<AdoptReport, EngineError> {
    let config = config::load(&options.load)?;
    let environment = config.environment.name.clone();
    let request = PlanRequest {
        roles: run::roles_from_file(&config.environment),
        enforce_guard: true,
        ..PlanRequest::default()
    };
    let session = Session::locked(
        &config,
        &options.load.root,
        &ClientOptions::default(),
        request,
        "adopt",
    )
    .await?;
    let result = adopt_locked(&session, &environment, options, operator).await;
    session.finish(&environment).await;
    Ok(AdoptReport {
        environment,
        failures: result?,
    })
}

/// What adopt does in one workspace.
struct Work<'a> {
    connection: &'a Connection,
    objects: Vec<adoption::Adoption>,
    scopes: Vec<(ResourceId, String)>,
    /// Secrets written from their sources.
    secrets: Vec<adoption::SecretAdoption>,
    /// Secrets whose workspace values are kept and recorded.
    kept: Vec<adoption::SecretAdoption>,
}

/// Tells one line per secret written.
struct SecretLines<'a>(&'a dyn Operator);

impl Progress for SecretLines<'_> {
    fn finished(&self, workspace: &str, outcome: &ActionOutcome) {
        self.0.tell(&match &outcome.result {
            Ok(detail) => format!("{workspace}  adopted {}: {detail}", outcome.resource),
            Err(e) => format!("{workspace}  adopt {} failed: {e}", outcome.resource),
        });
    }
}

/// Lists, confirms and carries out the adoptions while every lock is held; the failure count.
async fn adopt_locked(
    session: &Session,
    environment: &str,
    options: &AdoptOptions,
    operator: &dyn Operator,
) -> Result<usize, EngineError> {
    let mut failed = 0;
    for f in &session.plan.failures {
        operator.tell(&format!("{}  not adopted: {}", f.workspace, f.error));
        failed += 1;
    }
    let mut work = Vec::new();
    for c in &session.connections {
        let name = &c.spec.name;
        let Some(ctx) = session.contexts.get(name) else {
            continue;
        };
        let (desired, live, record) = (
            &ctx.desired.resources,
            &ctx.read.live,
            ctx.read.record.as_ref(),
        );
        let objects = adoption::adoption_candidates(desired, live);
        for a in &objects {
            operator.tell(&format!(
                "{name}  adopt {} ← {} \"{}\"",
                a.resource, a.id, a.name
            ));
        }
        let scopes = adoption::scope_candidates(desired, live, record);
        for (resource, scope) in &scopes {
            operator.tell(&format!("{name}  adopt {resource} ← scope \"{scope}\""));
        }
        let (mut secrets, mut kept) = (Vec::new(), Vec::new());
        for s in adoption::secret_candidates(desired, live, record, name) {
            let readable = match &s.source {
                Some(source) => read_value(source, c.embedded.is_some()).map(drop),
                None => Err("no source for this workspace".to_string()),
            };
            match readable {
                Ok(()) if s.unrecorded() && !options.overwrite_secrets => {
                    operator.tell(&format!(
                        "{name}  adopt {} ← secret {}/{} ({}: the workspace's value is kept)",
                        s.resource, s.scope, s.key, s.reason
                    ));
                    kept.push(s);
                }
                Ok(()) => {
                    operator.tell(&format!(
                        "{name}  adopt {} ← secret {}/{} ({}: written again from its source)",
                        s.resource, s.scope, s.key, s.reason
                    ));
                    secrets.push(s);
                }
                Err(reason) => {
                    operator.tell(&format!(
                        "{name}  cannot adopt secret {}/{} ({}): {reason}; skipped",
                        s.scope, s.key, s.reason
                    ));
                    failed += 1;
                }
            }
        }
        if !(objects.is_empty() && scopes.is_empty() && secrets.is_empty() && kept.is_empty()) {
            work.push(Work {
                connection: c,
                objects,
                scopes,
                secrets,
                kept,
            });
        }
    }
    if work.is_empty() {
        operator.tell(
            "nothing to adopt: every configured object is managed already or does not exist yet",
        );
        return Ok(failed);
    }
    super::approve(
        operator,
        options.auto_approve,
        "Take these over as tandem's? Only 'yes' is accepted: ",
        ExportError::NoTerminal,
        ExportError::Cancelled,
    )
    .await?;
    for w in work {
        let (c, name) = (w.connection, &w.connection.spec.name);
        let Some(ctx) = session.contexts.get(name) else {
            continue;
        };
        for a in &w.objects {
            match adoption::adopt(&c.client, environment, a).await {
                Ok(()) => operator.tell(&format!("{name}  adopted {}", a.resource)),
                Err(e) => {
                    failed += 1;
                    operator.tell(&format!("{name}  adopt {} failed: {e}", a.resource));
                }
            }
        }
        if w.scopes.is_empty() && w.secrets.is_empty() && w.kept.is_empty() {
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
            operator.tell(&format!("{name}  adopted {resource}"));
        }
        failed += keep_secrets(c, environment, &w.kept, &mut record, operator).await;
        let (report, mut record) = adoption::adopt_secrets(
            c,
            environment,
            role,
            &w.secrets,
            record,
            &SecretLines(operator),
        )
        .await;
        failed += report.outcomes.iter().filter(|o| o.result.is_err()).count();
        if let Err(e) = state::write_state_record(&c.client, &mut record).await {
            failed += 1;
            operator.tell(&format!("{name}  state record not written: {e}"));
        }
    }
    Ok(failed)
}

/// Records the secrets whose workspace values adopt keeps (see [`adoption::record_kept`]),
/// telling each; the number that could not be recorded.
async fn keep_secrets(
    connection: &Connection,
    environment: &str,
    kept: &[adoption::SecretAdoption],
    record: &mut state::StateRecord,
    operator: &dyn Operator,
) -> usize {
    if kept.is_empty() {
        return 0;
    }
    let name = &connection.spec.name;
    if let Err(e) =
        state::ensure_fingerprint_key(&connection.client, environment, &mut record.seal).await
    {
        operator.tell(&format!("{name}  secrets not recorded: {e}"));
        return kept.len();
    }
    let mut failed = 0;
    for s in kept {
        let recorded = s
            .source
            .as_ref()
            .ok_or_else(|| "no source for this workspace".to_string())
            .and_then(|source| read_value(source, connection.embedded.is_some()))
            .and_then(|value| adoption::record_kept(record, s, &value));
        match recorded {
            Ok(()) => operator.tell(&format!(
                "{name}  kept the workspace's value of {}/{}; pass --overwrite-secrets to write the configured source",
                s.scope, s.key
            )),
            Err(reason) => {
                failed += 1;
                operator.tell(&format!(
                    "{name}  cannot adopt secret {}/{}: {reason}; skipped",
                    s.scope, s.key
                ));
            }
        }
    }
    failed
}
