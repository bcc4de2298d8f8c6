//! `tandem unlock <workspace>`: break a stale lock left by a run that died.

use std::process::ExitCode;

use clap::Args;

use super::{GlobalArgs, load_options};
use crate::client::ClientOptions;
use crate::config;
use crate::engine::{connect, state};

/// Arguments of `tandem unlock`.
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// The workspace whose lock to break.
    pub workspace: String,
}

/// Errors of `tandem unlock`.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum UnlockError {
    /// The workspace failed.
    #[error("{0}")]
    Workspace(String),
}

/// Runs the command.
pub fn run(global: &GlobalArgs, args: &UnlockArgs) -> miette::Result<ExitCode> {
    let options = load_options(global)?;
    let config = config::load(&options)?;
    let environment = &config.environment;
    let spec = super::workspace_named(environment, &args.workspace)?;
    let runtime = super::runtime()?;
    let message = runtime.block_on(async {
        let connection = connect::connect(spec, &options.root, &ClientOptions::default())
            .await
            .map_err(|e| UnlockError::Workspace(e.to_string()))?;
        let result = async {
            // A lock file tandem cannot read is broken all the same.
            let lock = state::read_lock(&connection.client, &environment.name)
                .await
                .unwrap_or_default();
            state::delete_lock(&connection.client, &environment.name).await?;
            Ok::<_, crate::client::ClientError>(lock)
        }
        .await;
        connection.close().await;
        match result {
            Ok(Some(lock)) => Ok(format!(
                "lock on {} broken (held by {} for {} since {})",
                spec.name, lock.holder, lock.operation, lock.since
            )),
            Ok(None) => Ok(format!("{} is not locked", spec.name)),
            Err(e) => Err(UnlockError::Workspace(e.to_string())),
        }
    })?;
    println!("{message}");
    Ok(ExitCode::SUCCESS)
}
