//! `tandem import <kind>.<key> --id <ID> --workspace <WS>`: one existing object, by its ID, taken
//! under management as a configured resource.

use std::process::ExitCode;

use clap::Args;

use super::{GlobalArgs, load_options};
use crate::client::ClientOptions;
use crate::engine;

/// Arguments of `tandem import`.
#[derive(Debug, Args)]
#[command(after_help = "\
Tags the object (a job's number, a cluster's or pool's ID) as the configured resource KIND.KEY, \
changing nothing else about it, under the workspace's lock: what adopt does for objects it \
matches by name, for one object named by its ID (a secret scope, whose ID is its name, is \
recorded as tandem's). Refused when the configuration has no such resource (or does not deploy \
it there), when another object is managed under that key, or when the object is tandem's for \
another environment or resource. Then `tandem plan` shows what differs between the object and \
the configuration.")]
pub struct ImportArgs {
    /// The configured resource the object becomes (`jobs.nightly_etl`).
    #[arg(value_name = "KIND.KEY")]
    pub resource: String,
    /// The object's ID.
    #[arg(long, value_name = "ID")]
    pub id: String,
    /// The workspace holding it.
    #[arg(long, value_name = "WORKSPACE")]
    pub workspace: String,
}

/// Runs the command.
pub fn run(global: &GlobalArgs, args: &ImportArgs) -> miette::Result<ExitCode> {
    let options = engine::ImportOptions {
        load: load_options(global)?,
        client: ClientOptions::default(),
        resource: args.resource.clone(),
        id: args.id.clone(),
        workspace: args.workspace.clone(),
    };
    let report = super::runtime()?.block_on(engine::import(&options))?;
    if report.already {
        println!(
            "{}  {} is {} already: nothing to import",
            report.workspace, report.resource, report.id
        );
    } else {
        println!(
            "{}  imported {} ← {}",
            report.workspace, report.resource, report.id
        );
    }
    println!(
        "next: `tandem -e {} plan` shows what differs between it and the configuration",
        report.environment
    );
    Ok(ExitCode::SUCCESS)
}
