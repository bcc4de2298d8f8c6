//! `unlock`: break a workspace's lock left by a run that died.

use super::Operator;
use crate::client::ClientOptions;
use crate::config::{self, LoadOptions};
use crate::engine::state::{self, Lock};
use crate::engine::{EngineError, connect};

/// Which lock to break.
#[derive(Debug, Clone)]
pub struct UnlockOptions {
    /// Where the configuration is and which environment.
    pub load: LoadOptions,
    /// The workspace whose lock to break.
    pub workspace: String,
    /// Do not ask for confirmation.
    pub auto_approve: bool,
}

/// What breaking the lock found.
#[derive(Debug, Clone)]
pub struct UnlockReport {
    /// The workspace.
    pub workspace: String,
    /// The lock that was broken (None: not locked, or a lock file tandem could not read).
    pub lock: Option<Lock>,
    /// Something was removed (a lock, or a lock file tandem could not read).
    pub broken: bool,
}

/// Why a lock was not broken.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum UnlockError {
    /// No terminal to confirm on, and no `--auto-approve`.
    #[error(
        "breaking the lock of {workspace} needs a confirmation and there is no terminal: nothing was changed"
    )]
    #[diagnostic(help("check that the run holding it is dead, then re-run with --auto-approve"))]
    NoTerminal {
        /// The workspace.
        workspace: String,
    },
    /// The answer was not 'yes'.
    #[error("unlock cancelled: the lock stays")]
    Cancelled,
}

/// Deletes the workspace's lock, whoever holds it, once the operator confirmed it (a lock file
/// tandem cannot read is broken all the same); a workspace that is not locked is left alone.
pub async fn unlock(
    options: &UnlockOptions,
    operator: &dyn Operator,
) -> Result<UnlockReport, EngineError> {
    let config = config::load(&options.load)?;
    let environment = &config.environment;
    let spec = super::workspace_named(environment, &options.workspace)?;
    let connection = connect::connect(spec, &options.load.root, &ClientOptions::default())
        .await
        .map_err(|e| EngineError::Workspace(e.to_string()))?;
    let result = break_lock(&connection, &environment.name, options, operator).await;
    connection.close().await;
    let (lock, broken) = result?;
    Ok(UnlockReport {
        workspace: spec.name.clone(),
        lock,
        broken,
    })
}

async fn break_lock(
    connection: &connect::Connection,
    environment: &str,
    options: &UnlockOptions,
    operator: &dyn Operator,
) -> Result<(Option<Lock>, bool), EngineError> {
    let client = &connection.client;
    let name = &options.workspace;
    let held = match state::read_lock(client, environment).await {
        Ok(None) => return Ok((None, false)),
        Ok(Some(lock)) => {
            operator.tell(&format!(
                "{name} is locked by {} ({}) since {}",
                lock.holder, lock.operation, lock.since
            ));
            Some(lock)
        }
        Err(e) => {
            operator.tell(&format!("{name}: {e}"));
            None
        }
    };
    let question = format!("Break the lock of {name}? Only 'yes' is accepted: ");
    let no_terminal = UnlockError::NoTerminal {
        workspace: name.clone(),
    };
    super::approve(
        operator,
        options.auto_approve,
        &question,
        no_terminal,
        UnlockError::Cancelled,
    )
    .await?;
    state::delete_lock(client, environment)
        .await
        .map_err(|e| EngineError::Workspace(e.to_string()))?;
    Ok((held, true))
}
