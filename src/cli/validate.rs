//! `tandem validate`: load and check the configuration; print a summary or the resolved model.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};

use super::{GlobalArgs, OutputFormat, load_options};
use crate::config::{self, Config};
use crate::model::Kind;

/// Arguments of `tandem validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// `text`: a one-line summary; `json`: the resolved model of every workspace.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// Runs the command.
pub fn run(global: &GlobalArgs, args: &ValidateArgs) -> miette::Result<ExitCode> {
    let options = load_options(global)?;
    let config = config::load(&options)?;
    let text = match args.format {
        OutputFormat::Text => summary(&config),
        OutputFormat::Json => {
            let mut s = serde_json::to_string_pretty(&resolved_model(&config)?)
                .map_err(|e| miette::miette!("{e}"))?;
            s.push('\n');
            s
        }
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(super::CliError::from)?;
    Ok(ExitCode::SUCCESS)
}

/// `ok · env prod · 2 workspaces (primary active) · 6 jobs, 2 clusters, 2 pools, 2 secret scopes · config 3f2a1c9`
pub fn summary(config: &Config) -> String {
    let env = &config.environment;
    let r = &config.resources;
    let count =
        |n: usize, (one, many): (&str, &str)| format!("{n} {}", if n == 1 { one } else { many });
    // Jobs first, as people think of them; kinds without tags (scopes) last.
    let kinds = Kind::tagged().rev().chain(
        Kind::ALL
            .into_iter()
            .filter(|k| k.spec().tags_field.is_none()),
    );
    let counts: Vec<String> = kinds
        .map(|kind| count(r.count(kind), kind.spec().counted))
        .collect();
    format!(
        "ok · env {} · {} ({} active) · {} · config {}\n",
        env.name,
        count(env.workspaces.len(), ("workspace", "workspaces")),
        env.active,
        counts.join(", "),
        config.provenance.short(),
    )
}

/// Version of the `validate --format json` document; bumped on incompatible changes.
pub const VALIDATE_JSON_VERSION: u32 = 1;

/// The resolved model per workspace, with every secret source shown as `(sensitive)`.
pub fn resolved_model(config: &Config) -> Result<Value, crate::policy::RoleStepError> {
    let env = &config.environment;
    let workspaces = env
        .workspaces
        .iter()
        .map(|w| {
            let role = env.role_of(&w.name);
            let scope = config.workspace_scope(&w.name, role);
            let resources = crate::policy::resolved_for(&config.resources, &scope, role)?;
            let mut resources = serde_json::to_value(&resources).unwrap_or(Value::Null);
            if let Some(Value::Object(scopes)) = resources.get_mut("secret_scopes") {
                for scope in scopes.values_mut() {
                    if let Some(Value::Object(secrets)) = scope.get_mut("secrets") {
                        for value in secrets.values_mut() {
                            *value = Value::String("(sensitive)".into());
                        }
                    }
                }
            }
            Ok(json!({
                "name": w.name,
                "host": w.host.to_string(),
                "role": env.role_of(&w.name),
                "resources": resources,
            }))
        })
        .collect::<Result<Vec<Value>, crate::policy::RoleStepError>>()?;
    Ok(json!({
        "format_version": VALIDATE_JSON_VERSION,
        "environment": env.name,
        "active": env.active,
        "config": config.provenance,
        "files": config.files,
        "workspaces": workspaces,
    }))
}
