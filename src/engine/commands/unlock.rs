//! `unlock`: break a workspace's lock left by a run that died.

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
}

/// What breaking the lock found.
#[derive(Debug, Clone)]
pub struct UnlockReport {
    /// The workspace.
    pub workspace: String,
    /// The lock that was broken (None: it was not locked).
    pub lock: Option<Lock>,
}

/// Deletes the workspace's lock, whoever holds it.
pub async fn unlock(options: &UnlockOptions) -> Result<UnlockReport, EngineError> {
    let config = config::load(&options.load)?;
    let environment = &config.environment;
    let spec = super::workspace_named(environment, &options.workspace)?;
    let connection = connect::connect(spec, &options.load.root, &ClientOptions::default())
        .await
        .map_err(|e| EngineError::Workspace(e.to_string()))?;
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
    let lock = result.map_err(|e| EngineError::Workspace(e.to_string()))?;
    Ok(UnlockReport {
        workspace: spec.name.clone(),
        lock,
    })
}
