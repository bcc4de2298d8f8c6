//! The workspace calls of each tagged kind (jobs, clusters, pools), by kind: the one place the
//! engine says which endpoint creates, edits, deletes or finds an object of a kind, so applying
//! iterates kinds instead of naming them.

use std::time::Duration;

use serde_json::Value;

use crate::client::api::{Listing, clusters, id_text, instance_pools, jobs, secrets};
use crate::client::{ClientError, WorkspaceClient};
use crate::model::Kind;

/// Creates an object of `kind` from `body`; its new ID.
pub async fn create(
    client: &WorkspaceClient,
    kind: Kind,
    body: &Value,
) -> Result<String, ClientError> {
    match kind {
        Kind::Jobs => jobs::create(client, body).await,
        Kind::Clusters => clusters::create(client, body).await,
        Kind::InstancePools => instance_pools::create(client, body).await,
        Kind::SecretScopes => Err(ClientError::Local {
            workspace: client.name().into(),
            reason: "scopes are created by name".into(),
        }),
    }
}

/// Edits object `id` of `kind` with the kind's edit body (see `kinds::KindSpec::edit_body`).
/// A cluster in a state that refuses edits (starting, resizing) is waited for.
pub async fn edit(
    client: &WorkspaceClient,
    kind: Kind,
    id: &str,
    body: &Value,
) -> Result<(), ClientError> {
    match kind {
        Kind::Jobs => jobs::reset(client, body).await,
        Kind::Clusters => edit_cluster(client, id, body).await,
        Kind::InstancePools => instance_pools::edit(client, body).await,
        Kind::SecretScopes => Ok(()),
    }
}

/// Deletes object `id` of `kind` (a scope by its name); one already gone counts as deleted.
pub async fn delete(client: &WorkspaceClient, kind: Kind, id: &str) -> Result<(), ClientError> {
    let deleted = match kind {
        Kind::Jobs => jobs::delete(client, id).await,
        Kind::Clusters => clusters::permanent_delete(client, id).await,
        Kind::InstancePools => instance_pools::delete(client, id).await,
        Kind::SecretScopes => secrets::delete_scope(client, id).await,
    };
    match deleted {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

/// The ID of an object of `kind` named like `body` whose tags `ours` accepts, if one exists
/// (a create whose answer was lost may have made it).
pub async fn find_tagged(
    client: &WorkspaceClient,
    kind: Kind,
    body: &Value,
    ours: impl Fn(Option<&Value>) -> bool,
) -> Result<Option<String>, ClientError> {
    let spec = kind.spec();
    let Some(tags_field) = spec.tags_field else {
        return Ok(None);
    };
    let candidates = match kind {
        // Jobs are listed by name (a full listing is thousands of pages); their tags are
        // inside their settings.
        Kind::Jobs => {
            let name = body
                .get(spec.name_field)
                .and_then(Value::as_str)
                .unwrap_or("Untitled");
            jobs::list_named(client, name)
                .await?
                .into_iter()
                .map(|job| {
                    let tags = job.get("settings").and_then(|s| s.get(tags_field)).cloned();
                    (tags, job.get(spec.id_field).cloned())
                })
                .collect::<Vec<_>>()
        }
        Kind::Clusters => listed(
            Listing::Clusters.all(client).await?,
            tags_field,
            spec.id_field,
        ),
        Kind::InstancePools => listed(
            instance_pools::list(client).await?,
            tags_field,
            spec.id_field,
        ),
        Kind::SecretScopes => Vec::new(),
    };
    Ok(candidates
        .into_iter()
        .find(|(tags, _)| ours(tags.as_ref()))
        .and_then(|(_, id)| id.as_ref().map(id_text)))
}

/// Each listed object's tags and ID.
fn listed(
    objects: Vec<Value>,
    tags_field: &str,
    id_field: &str,
) -> Vec<(Option<Value>, Option<Value>)> {
    objects
        .into_iter()
        .map(|o| (o.get(tags_field).cloned(), o.get(id_field).cloned()))
        .collect()
}

/// Edits a cluster, waiting while it is in a state that refuses edits (starting, resizing).
async fn edit_cluster(client: &WorkspaceClient, id: &str, body: &Value) -> Result<(), ClientError> {
    let mut delay = Duration::from_millis(200);
    for _ in 0..30 {
        match clusters::edit(client, body).await {
            Err(ClientError::Api { code, .. }) if code == "INVALID_STATE" => {
                tracing::debug!(
                    workspace = client.name(),
                    cluster = id,
                    "cluster busy; waiting to edit"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
    clusters::edit(client, body).await
}
