//! The workspace calls of each tagged kind (jobs, clusters, pools), by kind: the one place the
//! engine says how an object of a kind is listed and told apart, and which endpoint creates,
//! edits, deletes or finds it, so reading and applying iterate kinds instead of naming them.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::client::api::{Listing as ApiListing, clusters, id_text, instance_pools, jobs, secrets};
use crate::client::{ClientError, WorkspaceClient};
use crate::model::Kind;
use crate::model::live::LiveObject;
use crate::plan::{TAG_ENV, TAG_KEY, TAG_MANAGED, TAG_MANAGED_VALUE};

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
            ApiListing::Clusters.all(client).await?,
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

/// How objects of `kind` are listed and told apart (None for secret scopes, read by name).
pub fn listing(kind: Kind) -> Option<&'static ListedKind> {
    match kind {
        Kind::Jobs => Some(&JOBS),
        Kind::Clusters => Some(&CLUSTERS),
        Kind::InstancePools => Some(&POOLS),
        Kind::SecretScopes => None,
    }
}

/// How one kind is listed and told apart.
pub struct ListedKind {
    /// The kind.
    pub kind: Kind,
    /// How the client lists them.
    pub listing: ApiListing,
    /// One listed item: managed (key, object, whether its arrays are paged), unmanaged
    /// (name, ID), or not tandem's business.
    pub classify: fn(&Value, &str) -> Listing,
    /// Sort key putting the original of duplicated objects first.
    pub age: fn(&LiveObject) -> i64,
}

/// One listed item, told apart.
pub enum Listing {
    /// tandem's: its key, the object, whether its arrays are paged (read it whole).
    Managed(String, LiveObject, bool),
    /// Not tandem's: its name and ID.
    Unmanaged(String, String),
    /// Not tandem's business (a job cluster).
    Skip,
}

const JOBS: ListedKind = ListedKind {
    kind: Kind::Jobs,
    listing: ApiListing::Jobs,
    classify: classify_job,
    age: |o| o.id.parse::<i64>().unwrap_or(i64::MAX),
};

const CLUSTERS: ListedKind = ListedKind {
    kind: Kind::Clusters,
    listing: ApiListing::AllPurposeClusters,
    classify: classify_cluster,
    age: |o| {
        o.body
            .get("start_time")
            .and_then(Value::as_i64)
            .unwrap_or(i64::MAX)
    },
};

const POOLS: ListedKind = ListedKind {
    kind: Kind::InstancePools,
    listing: ApiListing::InstancePools,
    classify: classify_pool,
    age: |_| 0,
};

fn classify_job(job: &Value, environment: &str) -> Listing {
    // A listed job holds its settings (tags and name among them) beside its ID.
    let Some(settings) = job.get("settings").and_then(Value::as_object) else {
        return Listing::Skip;
    };
    let paged = job.get("has_more") == Some(&Value::Bool(true));
    let id = job
        .get(Kind::Jobs.spec().id_field)
        .map(id_text)
        .unwrap_or_default();
    classified(Kind::Jobs, settings, id, environment, None, paged)
}

fn classify_cluster(cluster: &Value, environment: &str) -> Listing {
    let Some(body) = cluster.as_object() else {
        return Listing::Skip;
    };
    // Job clusters are not tandem's.
    if body.get("cluster_source").and_then(Value::as_str) == Some("JOB") {
        return Listing::Skip;
    }
    let id = body
        .get(Kind::Clusters.spec().id_field)
        .map(id_text)
        .unwrap_or_default();
    let state = body
        .get("state")
        .and_then(Value::as_str)
        .map(str::to_string);
    classified(Kind::Clusters, body, id, environment, state, false)
}

fn classify_pool(pool: &Value, environment: &str) -> Listing {
    let Some(body) = pool.as_object() else {
        return Listing::Skip;
    };
    let id = body
        .get(Kind::InstancePools.spec().id_field)
        .map(id_text)
        .unwrap_or_default();
    classified(Kind::InstancePools, body, id, environment, None, false)
}

/// A listed object of `kind`: managed when its tags (in the kind's tags field) say so,
/// otherwise unmanaged under its name.
fn classified(
    kind: Kind,
    body: &Map<String, Value>,
    id: String,
    environment: &str,
    state: Option<String>,
    paged: bool,
) -> Listing {
    let spec = kind.spec();
    match spec
        .tags_field
        .and_then(|tags| managed_key(body.get(tags), environment))
    {
        Some(key) => Listing::Managed(
            key,
            LiveObject {
                id,
                body: body.clone(),
                state,
                grants: Vec::new(),
                grants_unread: false,
            },
            paged,
        ),
        None => match body.get(spec.name_field).and_then(Value::as_str) {
            Some(name) => Listing::Unmanaged(name.to_string(), id),
            None => Listing::Skip,
        },
    }
}

/// Whether an object's tags say it is tandem's in `environment`; its logical key if so.
fn managed_key(tags: Option<&Value>, environment: &str) -> Option<String> {
    let tags = tags?.as_object()?;
    let is = |k: &str, v: &str| tags.get(k).and_then(Value::as_str) == Some(v);
    if is(TAG_MANAGED, TAG_MANAGED_VALUE) && is(TAG_ENV, environment) {
        tags.get(TAG_KEY)
            .and_then(Value::as_str)
            .map(str::to_string)
    } else {
        None
    }
}
