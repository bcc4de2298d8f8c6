//! Typed endpoints over [`WorkspaceClient`]: each module owns one API family's paths, query
//! parameters, paging and request body shapes, so callers never spell a URL.

pub mod clusters;
pub mod instance_pools;
pub mod jobs;
pub mod permissions;
pub mod scim;
pub mod secrets;
pub mod workspace_files;

use serde_json::Value;

use super::{ClientError, WorkspaceClient};

/// One page of a listing: its items and the token of the page after it.
#[derive(Debug, Default)]
pub struct Page {
    /// The listed objects, as the API answered them.
    pub items: Vec<Value>,
    /// The token of the next page; `None` on the last one.
    pub next_page_token: Option<String>,
}

impl Page {
    /// The array `items` of a listing's answer, and the token of the page after it.
    fn of(mut answer: Value, items: &str) -> Page {
        let listed = match answer.get_mut(items).map(Value::take) {
            Some(Value::Array(listed)) => listed,
            _ => Vec::new(),
        };
        Page {
            items: listed,
            next_page_token: next_page_token(&answer),
        }
    }
}

/// Where one kind of object is created, edited and deleted: the calls apply makes, the same
/// shape for every kind (the kind says how its edit body is written).
#[derive(Debug)]
pub struct ObjectEndpoints {
    /// The create call; its answer holds the new ID in `id_field`.
    pub create: &'static str,
    /// The edit call (its body names the object).
    pub edit: &'static str,
    /// The call deleting an object for good.
    pub delete: &'static str,
    /// The field naming the object in bodies and answers.
    pub id_field: &'static str,
    /// How the objects are listed.
    pub listing: Listing,
}

impl ObjectEndpoints {
    /// Creates an object from `body`; its ID. Never repeated when the outcome is unknown
    /// ([`ClientError::OutcomeUnknown`]): the caller looks the object up first.
    pub async fn create(
        &self,
        client: &WorkspaceClient,
        body: &Value,
    ) -> Result<String, ClientError> {
        let answer = client.create(self.create, body).await?;
        Ok(created_id(&answer, self.id_field))
    }

    /// Edits the object `body` names.
    pub async fn edit(&self, client: &WorkspaceClient, body: &Value) -> Result<(), ClientError> {
        client.post(self.edit, body).await.map(drop)
    }

    /// Deletes the object whose ID (as the API's bodies hold it) is `id`.
    pub async fn delete(&self, client: &WorkspaceClient, id: Value) -> Result<(), ClientError> {
        let body = Value::Object([(self.id_field.to_string(), id)].into_iter().collect());
        client.post(self.delete, &body).await.map(drop)
    }
}

/// What a listing lists: the plan, export and adopt read objects through these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// Every job, with its tasks (a job with more than 100 has `has_more`: see
    /// [`jobs::settings`]).
    Jobs,
    /// Every all-purpose cluster (job clusters are not configuration).
    AllPurposeClusters,
    /// Every cluster, whatever made it.
    Clusters,
    /// Every instance pool.
    InstancePools,
}

impl Listing {
    /// The page `page_token` names (the first page for `None`).
    pub async fn page(
        self,
        client: &WorkspaceClient,
        page_token: Option<String>,
    ) -> Result<Page, ClientError> {
        match self {
            Listing::Jobs => jobs::list_page(client, page_token).await,
            Listing::AllPurposeClusters => {
                clusters::list_page(client, clusters::Sources::AllPurpose, page_token).await
            }
            Listing::Clusters => {
                clusters::list_page(client, clusters::Sources::Any, page_token).await
            }
            // The API does not page pools: one answer holds them all.
            Listing::InstancePools => Ok(Page {
                items: instance_pools::list(client).await?,
                next_page_token: None,
            }),
        }
    }

    /// The listed objects that may be named `name`: the API filters jobs by name (one page: a
    /// lost create is looked for among them); the other kinds are listed whole.
    pub async fn named(
        self,
        client: &WorkspaceClient,
        name: &str,
    ) -> Result<Vec<Value>, ClientError> {
        match self {
            Listing::Jobs => jobs::list_named(client, name).await,
            other => other.all(client).await,
        }
    }

    /// Every item, page after page.
    pub async fn all(self, client: &WorkspaceClient) -> Result<Vec<Value>, ClientError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self.page(client, token).await?;
            out.extend(page.items);
            match page.next_page_token {
                Some(next) => token = Some(next),
                None => return Ok(out),
            }
        }
    }
}

/// The token of the page after this one, if there is one.
fn next_page_token(page: &Value) -> Option<String> {
    match page.get("next_page_token").and_then(Value::as_str) {
        Some(t) if !t.is_empty() && page.get("has_more") != Some(&Value::Bool(false)) => {
            Some(t.to_string())
        }
        _ => None,
    }
}

/// A query with `page_token` appended when there is one.
fn paged(
    query: &[(&'static str, &str)],
    page_token: Option<String>,
) -> Vec<(&'static str, String)> {
    query
        .iter()
        .map(|(k, v)| (*k, v.to_string()))
        .chain(page_token.map(|t| ("page_token", t)))
        .collect()
}

/// The array `field` of an answer (empty when it has none).
fn items(mut answer: Value, field: &str) -> Vec<Value> {
    match answer.get_mut(field).map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// An object ID as text, whether the API answered a number (jobs) or a string.
pub fn id_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The ID field `field` of a create's answer, as text (empty when the answer has none).
fn created_id(answer: &Value, field: &str) -> String {
    answer.get(field).map(id_text).unwrap_or_default()
}
