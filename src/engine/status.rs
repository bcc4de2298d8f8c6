//! `status`: each workspace's role according to the environment file and to its own record,
//! reachability, last apply, lock and pending fences — answered quickly even when a workspace
//! hangs (a timeout per workspace).

use std::path::Path;
use std::time::Duration;

use super::connect;
use super::state;
use crate::client::ClientOptions;
use crate::config::{Environment, Host, WorkspaceSpec};

pub use crate::plan::report::WorkspaceStatus;

/// How `spec` authenticates, as far as the settings tell without a network call (None when
/// they are incomplete: connecting reports why).
fn auth_of(spec: &WorkspaceSpec) -> Option<String> {
    match &spec.host {
        Host::Local(_) => Some("embedded emulator".to_string()),
        Host::Url(url) => connect::resolve_credentials(spec, url)
            .ok()
            .map(|c| c.describe()),
    }
}

/// Reads every workspace's status concurrently, each within `timeout`.
pub async fn status(
    environment: &Environment,
    root: &Path,
    timeout: Duration,
) -> Vec<WorkspaceStatus> {
    let options = ClientOptions {
        timeout,
        max_retries: 1,
        ..ClientOptions::default()
    };
    let reads = environment
        .workspaces
        .iter()
        .map(|spec| one(environment, spec, root, &options, timeout));
    futures::future::join_all(reads).await
}

async fn one(
    environment: &Environment,
    spec: &WorkspaceSpec,
    root: &Path,
    options: &ClientOptions,
    timeout: Duration,
) -> WorkspaceStatus {
    let role_in_file = environment.role_of(&spec.name);
    let mut status = WorkspaceStatus {
        workspace: spec.name.clone(),
        host: spec.host.to_string(),
        role_in_file,
        role_in_record: None,
        role_mismatch: false,
        auth: auth_of(spec),
        reachable: false,
        authentication_failed: false,
        error: None,
        record: None,
        commits_behind: None,
        lock: None,
    };
    let read = async {
        let connection = connect::connect(spec, root, options)
            .await
            .map_err(|e| (e.with_help(), e.is_authentication()))?;
        let result = tokio::try_join!(
            state::read_state_record(&connection.client, &environment.name),
            async {
                state::read_lock(&connection.client, &environment.name)
                    .await
                    .map_err(crate::engine::EngineError::from)
            }
        )
        .map_err(|e| (e.to_string(), e.is_authentication()));
        connection.close().await;
        result
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok((record, lock))) => {
            status.reachable = true;
            status.role_in_record = record.as_ref().map(|r| r.role);
            status.role_mismatch = status.role_in_record.is_some_and(|r| r != role_in_file);
            status.commits_behind = record
                .as_ref()
                .and_then(|r| r.last_applied.as_ref())
                .and_then(|a| crate::config::source::commits_since(root, &a.commit));
            status.record = record.as_ref().map(crate::plan::report::RecordSummary::of);
            status.lock = lock;
        }
        Ok(Err((e, authentication))) => {
            status.error = Some(e);
            status.authentication_failed = authentication;
        }
        Err(_) => status.error = Some(format!("no answer within {} s", timeout.as_secs())),
    }
    status
}
