//! Jobs API 2.2: list (paged, tasks expanded), get (arrays paged past 100), create, reset,
//! update, delete.

use serde_json::{Map, Value, json};

use super::{Listing, ObjectEndpoints, Page, paged};
use crate::client::{ClientError, WorkspaceClient};

const LIST: &str = "/api/2.2/jobs/list";
const GET: &str = "/api/2.2/jobs/get";
const UPDATE: &str = "/api/2.2/jobs/update";

/// Jobs are created, reset (every setting replaced) and deleted by `job_id`.
pub const OBJECTS: ObjectEndpoints = ObjectEndpoints {
    create: "/api/2.2/jobs/create",
    edit: "/api/2.2/jobs/reset",
    delete: "/api/2.2/jobs/delete",
    id_field: "job_id",
    listing: Listing::Jobs,
};

/// One page of every job with its tasks (100 a page, the most the API gives).
pub async fn list_page(
    client: &WorkspaceClient,
    page_token: Option<String>,
) -> Result<Page, ClientError> {
    let query = paged(&[("limit", "100"), ("expand_tasks", "true")], page_token);
    let answer = client.get_page(LIST, &query).await?;
    Ok(Page::of(answer, "jobs"))
}

/// The first page of the jobs named `name` (a lost create is looked for among them).
pub async fn list_named(client: &WorkspaceClient, name: &str) -> Result<Vec<Value>, ClientError> {
    let answer = client
        .get(LIST, &[("name", name.to_string()), ("limit", "100".into())])
        .await?;
    Ok(super::items(answer, "jobs"))
}

/// Every job, each with all its tasks: a job whose listing says `has_more` is read whole.
pub async fn list_complete(client: &WorkspaceClient) -> Result<Vec<Value>, ClientError> {
    let mut jobs = Listing::Jobs.all(client).await?;
    let incomplete: Vec<usize> = (0..jobs.len())
        .filter(|&i| jobs[i].get("has_more") == Some(&Value::Bool(true)))
        .collect();
    let whole = futures::future::try_join_all(incomplete.iter().map(|&i| {
        let id = jobs[i]
            .get("job_id")
            .map(super::id_text)
            .unwrap_or_default();
        async move { settings(client, &id).await }
    }))
    .await?;
    for (i, settings) in incomplete.into_iter().zip(whole) {
        jobs[i]["settings"] = Value::Object(settings);
    }
    Ok(jobs)
}

/// A job as `jobs/get` answers it (its first page of tasks).
pub async fn get(client: &WorkspaceClient, id: &str) -> Result<Value, ClientError> {
    client.get(GET, &[("job_id", id.to_string())]).await
}

/// A job's settings with every array complete: `jobs/get` pages the arrays of a job with
/// more than 100 tasks, and the pages are joined here.
pub async fn settings(
    client: &WorkspaceClient,
    id: &str,
) -> Result<Map<String, Value>, ClientError> {
    let mut settings: Map<String, Value> = Map::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = vec![("job_id", id.to_string())];
        if let Some(t) = &token {
            query.push(("page_token", t.clone()));
        }
        let page = client.get(GET, &query).await?;
        let part = page
            .get("settings")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in part {
            match (settings.get_mut(&k), v) {
                (Some(Value::Array(have)), Value::Array(more)) => have.extend(more),
                (None, v) => {
                    settings.insert(k, v);
                }
                _ => {}
            }
        }
        match page.get("next_page_token").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(settings)
}

/// Changes the top-level fields of `new_settings` of job `id`, leaving the others alone.
pub async fn update(
    client: &WorkspaceClient,
    id: &str,
    new_settings: Value,
) -> Result<(), ClientError> {
    let body = json!({"job_id": job_id(id), "new_settings": new_settings});
    client.post(UPDATE, &body).await.map(drop)
}

/// A job ID as the API takes it: a number (text only if it is not one).
fn job_id(id: &str) -> Value {
    id.parse::<i64>().map(Value::from).unwrap_or(json!(id))
}
