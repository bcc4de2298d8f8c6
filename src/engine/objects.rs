//! The workspace calls of each tagged kind (jobs, clusters, pools), by kind: the one place the
//! engine says how an object of a kind is listed and told apart, and which endpoint creates,
//! edits, deletes or finds it, so reading and applying iterate kinds instead of naming them.

use std::time::Duration;

use futures::future::try_join_all;

use serde_json::{Map, Value};

use crate::client::api::{ObjectEndpoints, clusters, id_text, instance_pools, jobs, secrets};
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
    match listing(kind) {
        Some(listed) => listed.endpoints.create(client, body).await,
        None => Err(ClientError::Local {
            workspace: client.name().into(),
            reason: format!("{} objects are not created by ID", kind.spec().singular),
        }),
    }
}

/// Edits object `id` of `kind` with the kind's edit body (see `kinds::KindSpec::edit_body`).
/// An object in a state that refuses edits (a cluster starting or resizing) is waited for.
pub async fn edit(
    client: &WorkspaceClient,
    kind: Kind,
    id: &str,
    body: &Value,
) -> Result<(), ClientError> {
    let Some(listed) = listing(kind) else {
        return Ok(());
    };
    let mut delay = Duration::from_millis(200);
    for _ in 0..30 {
        match listed.endpoints.edit(client, body).await {
            Err(ClientError::Api { code, .. }) if code == "INVALID_STATE" => {
                tracing::debug!(
                    workspace = client.name(),
                    kind = kind.as_str(),
                    id,
                    "object busy; waiting to edit"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            other => return other,
        }
    }
    listed.endpoints.edit(client, body).await
}

/// Deletes object `id` of `kind` (a scope by its name); one already gone counts as deleted.
pub async fn delete(client: &WorkspaceClient, kind: Kind, id: &str) -> Result<(), ClientError> {
    let deleted = match listing(kind) {
        Some(listed) => {
            listed
                .endpoints
                .delete(client, kind.spec().id_value(id))
                .await
        }
        None => secrets::delete_scope(client, id).await.map(drop),
    };
    match deleted {
        Ok(()) => Ok(()),
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
    let (Some(listed), Some(tags_field)) = (listing(kind), spec.tags_field) else {
        return Ok(None);
    };
    let name = body
        .get(spec.name_field)
        .and_then(Value::as_str)
        .unwrap_or("Untitled");
    let candidates = listed.endpoints.listing.named(client, name).await?;
    Ok(candidates
        .iter()
        .filter(|object| ours((listed.fields)(object).and_then(|f| f.get(tags_field))))
        .find_map(|object| object.get(spec.id_field).map(id_text)))
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
    /// Where the client lists, creates, edits and deletes them.
    pub endpoints: &'static ObjectEndpoints,
    /// A listed item's fields: where its tags and name are (a job's are in its settings).
    pub fields: fn(&Value) -> Option<&Map<String, Value>>,
    /// How export reads an object whole, beyond its listing.
    pub whole: WholeRead,
    /// Whether a listed object's fields are not configuration (a job cluster's).
    pub not_configuration: fn(&Map<String, Value>) -> bool,
    /// One listed item: managed (key, object, whether its arrays are paged), unmanaged
    /// (name, ID), or not tandem's business.
    pub classify: fn(&Value, &str) -> Listing,
    /// Sort key putting the original of duplicated objects first.
    pub age: fn(&LiveObject) -> i64,
}

/// How export reads an object whole, beyond its listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WholeRead {
    /// The listing holds it whole.
    Listed,
    /// An object whose listing says `has_more` (a job with more than 100 tasks) is read page
    /// by page.
    PagedArrays,
    /// Each is read one by one for its spec as submitted (`clusters/get`), without the
    /// defaults the service fills in.
    Submitted,
}

/// An object read whole for export.
#[derive(Debug, Clone)]
pub struct WholeObject {
    /// Its ID.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Its fields (a job's settings).
    pub body: Map<String, Value>,
}

/// Every object of `kind` that is configuration, read whole (none for secret scopes).
pub async fn read_whole(
    client: &WorkspaceClient,
    kind: Kind,
) -> Result<Vec<WholeObject>, ClientError> {
    let Some(listed) = listing(kind) else {
        return Ok(Vec::new());
    };
    let spec = kind.spec();
    let items = match listed.whole {
        WholeRead::PagedArrays => jobs::list_complete(client).await?,
        WholeRead::Listed => listed.endpoints.listing.all(client).await?,
        WholeRead::Submitted => {
            let items = listed.endpoints.listing.all(client).await?;
            try_join_all(items.into_iter().map(|item| submitted(client, item))).await?
        }
    };
    Ok(items
        .iter()
        .filter_map(|item| {
            let body = (listed.fields)(item)?;
            if (listed.not_configuration)(body) {
                return None;
            }
            Some(WholeObject {
                id: item.get(spec.id_field).map(id_text)?,
                name: body
                    .get(spec.name_field)
                    .and_then(Value::as_str)
                    .unwrap_or("Untitled")
                    .to_string(),
                body: body.clone(),
            })
        })
        .collect())
}

/// A listed cluster with its spec as submitted (`clusters/get`), keeping its ID, name and
/// source from the listing.
async fn submitted(client: &WorkspaceClient, listed: Value) -> Result<Value, ClientError> {
    let Some(id) = listed.get("cluster_id").and_then(Value::as_str) else {
        return Ok(listed);
    };
    let full = clusters::get(client, id).await?;
    let Some(spec) = full.get("spec").and_then(Value::as_object) else {
        return Ok(listed);
    };
    let mut body = spec.clone();
    for field in ["cluster_id", "cluster_name", "cluster_source"] {
        if let Some(v) = listed.get(field) {
            body.entry(field).or_insert(v.clone());
        }
    }
    Ok(Value::Object(body))
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
    endpoints: &jobs::OBJECTS,
    fields: |job| job.get("settings").and_then(Value::as_object),
    whole: WholeRead::PagedArrays,
    not_configuration: |_| false,
    classify: classify_job,
    age: |o| o.id.parse::<i64>().unwrap_or(i64::MAX),
};

const CLUSTERS: ListedKind = ListedKind {
    kind: Kind::Clusters,
    endpoints: &clusters::OBJECTS,
    fields: Value::as_object,
    whole: WholeRead::Submitted,
    not_configuration: |cluster| {
        cluster.get("cluster_source").and_then(Value::as_str) == Some("JOB")
    },
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
    endpoints: &instance_pools::OBJECTS,
    fields: Value::as_object,
    whole: WholeRead::Listed,
    not_configuration: |_| false,
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
    if (CLUSTERS.not_configuration)(body) {
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
pub(crate) fn managed_key(tags: Option<&Value>, environment: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tagged_kind_is_listed_and_named_by_its_own_id_field() {
        for kind in Kind::tagged() {
            let listed = listing(kind).expect("a tagged kind has calls");
            assert_eq!(listed.kind, kind);
            assert_eq!(listed.endpoints.id_field, kind.spec().id_field, "{kind}");
        }
        assert!(listing(Kind::SecretScopes).is_none());
    }

    #[test]
    fn a_listed_object_is_told_apart_by_the_tags_in_its_fields() {
        let tags = serde_json::json!({
            TAG_MANAGED: TAG_MANAGED_VALUE, TAG_ENV: "prod", TAG_KEY: "etl"
        });
        let job = serde_json::json!({"job_id": 7, "settings": {"name": "etl", "tags": tags}});
        let Listing::Managed(key, object, paged) = (JOBS.classify)(&job, "prod") else {
            panic!("a tagged job is managed");
        };
        assert_eq!(
            (key.as_str(), object.id.as_str(), paged),
            ("etl", "7", false)
        );
        assert!(matches!(
            (JOBS.classify)(&job, "staging"),
            Listing::Unmanaged(name, id) if name == "etl" && id == "7"
        ));
        let job_cluster = serde_json::json!({"cluster_id": "c", "cluster_source": "JOB"});
        assert!(matches!(
            (CLUSTERS.classify)(&job_cluster, "prod"),
            Listing::Skip
        ));
    }
}
