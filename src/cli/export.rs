//! `tandem export` (configuration from what a workspace holds) and `tandem adopt` (existing
//! objects taken over by the configuration, without re-creating them).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::operator::Terminal;
use super::plan::PlanFormat;
use super::{GlobalArgs, load_options};
use crate::engine::{self, commands};

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
#[command(after_help = "\
Reads every workspace of the environment (or those named with --from) and writes one file per \
job, cluster, pool and secret scope. Objects are paired across workspaces by tandem's key or by \
name; where a value differs between them (an east and a west storage path), a per-workspace \
variable is added to the environment file and the resource refers to it (${var.x}). The values \
tandem sets by role (a passive job's zero concurrency and paused schedule, a passive pool's idle \
instances, held-back job grants) are taken from the active workspace. An object only the active \
workspace holds gets `placement: active_only`. Secret values cannot be read: with several \
workspaces each secret gets one source per workspace ({env: SCOPE_KEY_WORKSPACE}).")]
pub struct ExportArgs {
    /// A workspace to read (repeat for several; default: every workspace of the environment).
    #[arg(long = "from", value_name = "WORKSPACE")]
    pub from: Vec<String>,
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
the tags). Configured secret scopes that exist become tandem's. A configured secret that exists \
but that tandem never wrote keeps the workspace's value: its timestamp and the keyed fingerprint \
of its source's value are recorded in the workspace's state record, so later plans treat it as \
known (pass --overwrite-secrets to write the source's value instead). A secret rewritten outside \
tandem since tandem wrote it is written again from its source. A secret whose source (env: or \
file:) cannot be read is reported and skipped, and adopt exits 1: set the variable and run adopt \
again. Then `tandem plan` shows what still differs.")]
pub struct AdoptArgs {
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Write existing secrets tandem never wrote from their configured sources, replacing the
    /// workspaces' values (default: keep them and record them).
    #[arg(long)]
    pub overwrite_secrets: bool,
}

/// Runs `tandem export`.
pub fn run_export(global: &GlobalArgs, args: &ExportArgs) -> miette::Result<ExitCode> {
    let options = engine::ExportOptions {
        load: load_options(global)?,
        from: args.from.clone(),
        out: args.out.clone(),
        format: match args.format {
            FileFormat::Yaml => commands::export::FileFormat::Yaml,
            FileFormat::Hcl => commands::export::FileFormat::Hcl,
        },
        pattern: args.pattern.clone(),
    };
    let report = super::runtime()?.block_on(engine::export(&options))?;
    println!(
        "exported {} resources from {} into {}",
        report.written,
        report.workspaces.join(", "),
        report.dir.display()
    );
    if !report.variables.is_empty() {
        println!(
            "values that differ between the workspaces became variables in {}: {}",
            report.environment_file,
            report.variables.join(", ")
        );
    }
    if !report.unresolved.is_empty() {
        println!(
            "warning: these IDs belong to objects --match left out; they stay IDs, which mean nothing in another workspace (export those objects too, or write references by hand):"
        );
        for u in &report.unresolved {
            println!("  {u}");
        }
    }
    for note in &report.notes {
        println!("note: {note}");
    }
    if report.secret_placeholders {
        let variables = if report.workspaces.len() == 1 {
            "{env: SCOPE_KEY}"
        } else {
            "{env: SCOPE_KEY_WORKSPACE} per workspace"
        };
        println!(
            "secret values cannot be read: each secret reads {variables}; set those variables (or change the sources) before adopting and applying"
        );
    }
    println!(
        "next: include {}/** in environments/{}.yaml, then `tandem -e {} adopt` to take the objects over",
        args.out.display(),
        report.environment,
        report.environment
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `tandem adopt` (see [`engine::adopt`]): exit 1 when something could not be adopted.
pub fn run_adopt(global: &GlobalArgs, args: &AdoptArgs) -> miette::Result<ExitCode> {
    let options = engine::AdoptOptions {
        load: load_options(global)?,
        auto_approve: args.auto_approve,
        overwrite_secrets: args.overwrite_secrets,
    };
    let terminal = Terminal::new(PlanFormat::Text, false);
    let report = super::runtime()?.block_on(engine::adopt(&options, &terminal))?;
    println!(
        "next: `tandem -e {} plan` shows what still differs",
        report.environment
    );
    Ok(if report.failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
