//! Jobs as responses show them: settings serialised straight from the store through a window
//! (2.2 pages its arrays, list leaves out tasks), without a copy.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::PAGED_ARRAYS;
use crate::emulator::store::JobRecord;
use crate::emulator::{ApiError, ApiResult};

/// Tasks, job clusters, environments and parameters per page in 2.2 responses.
const PAGE: usize = 100;

pub(super) fn json_response<T: Serialize>(value: &T) -> ApiResult<Response> {
    serde_json::to_vec(value)
        .map(|bytes| ([(header::CONTENT_TYPE, "application/json")], bytes).into_response())
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_ERROR",
                e.to_string(),
            )
        })
}

/// Which part of a job's arrays a response shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Window {
    /// Leave out `tasks` and `job_clusters` (list without `expand_tasks`).
    pub(super) strip_tasks: bool,
    /// The 2.2 page of the paged arrays; `None` shows them whole (2.1).
    pub(super) page: Option<usize>,
}

impl Window {
    pub(super) fn shows(&self, key: &str) -> bool {
        !(self.strip_tasks && (key == "tasks" || key == "job_clusters"))
    }

    /// Whether a later page has more of the arrays this window shows.
    pub(super) fn has_more(&self, settings: &Map<String, Value>) -> bool {
        let Some(page) = self.page else {
            return false;
        };
        let shown = page.saturating_add(1).saturating_mul(PAGE);
        PAGED_ARRAYS.iter().any(|key| {
            self.shows(key)
                && settings
                    .get(*key)
                    .and_then(Value::as_array)
                    .is_some_and(|items| items.len() > shown)
        })
    }
}

fn page_slice(items: &[Value], page: usize) -> &[Value] {
    let start = page.saturating_mul(PAGE).min(items.len());
    let end = start.saturating_add(PAGE).min(items.len());
    &items[start..end]
}

/// Job settings serialised straight from the store through a [`Window`], with no copy.
#[derive(Clone, Copy)]
pub(super) struct SettingsView<'a> {
    settings: &'a Map<String, Value>,
    window: Window,
}

impl Serialize for SettingsView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.settings {
            if !self.window.shows(key) {
                continue;
            }
            match (self.window.page, value) {
                (Some(page), Value::Array(items)) if PAGED_ARRAYS.contains(&key.as_str()) => {
                    let part = page_slice(items, page);
                    // Arrays already complete on an earlier page come back empty (left out).
                    if !part.is_empty() {
                        map.serialize_entry(key, part)?;
                    }
                }
                _ => map.serialize_entry(key, value)?,
            }
        }
        map.end()
    }
}

#[derive(Serialize)]
pub(super) struct JobView<'a> {
    pub(super) job_id: i64,
    pub(super) creator_user_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) run_as_user_name: Option<&'a str>,
    pub(super) created_time: i64,
    pub(super) settings: SettingsView<'a>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) next_page_token: Option<String>,
}

impl<'a> JobView<'a> {
    pub(super) fn new(job: &'a JobRecord, window: Window) -> Self {
        JobView {
            job_id: job.job_id,
            creator_user_name: &job.creator_user_name,
            run_as_user_name: None,
            created_time: job.created_time,
            settings: SettingsView {
                settings: &job.settings,
                window,
            },
            has_more: false,
            next_page_token: None,
        }
    }
}

#[derive(Serialize)]
pub(super) struct ListView<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) jobs: Vec<JobView<'a>>,
    pub(super) has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) next_page_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) prev_page_token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::jobs::obj;
    use crate::emulator::request::{decode_job_page_token, job_page_token};
    use serde_json::json;

    #[test]
    fn get_pages_arrays_by_100() {
        let tasks: Vec<Value> = (0..150)
            .map(|i| json!({"task_key": format!("t{i}")}))
            .collect();
        let settings =
            obj(json!({"name": "big", "tasks": tasks, "job_clusters": [{"job_cluster_key": "c"}]}));
        let render = |page| {
            let window = Window {
                strip_tasks: false,
                page: Some(page),
            };
            let view = SettingsView {
                settings: &settings,
                window,
            };
            (
                serde_json::to_value(view).expect("serialises"),
                window.has_more(&settings),
            )
        };
        let (first, more) = render(0);
        assert!(more);
        assert_eq!(first["tasks"].as_array().map(Vec::len), Some(100));
        assert_eq!(first["job_clusters"].as_array().map(Vec::len), Some(1));
        let (second, more) = render(1);
        assert!(!more);
        assert_eq!(second["tasks"].as_array().map(Vec::len), Some(50));
        assert_eq!(second["tasks"][0]["task_key"], "t100");
        assert!(second.get("job_clusters").is_none(), "complete on page 1");
        assert_eq!(second["name"], "big");
        let token = job_page_token(7, 1);
        assert_eq!(decode_job_page_token(&token, 7).expect("decodes"), 1);
        assert!(decode_job_page_token(&token, 8).is_err());
        let summary = Window {
            strip_tasks: true,
            page: Some(0),
        };
        let listed = serde_json::to_value(SettingsView {
            settings: &settings,
            window: summary,
        })
        .expect("serialises");
        assert!(listed.get("tasks").is_none() && listed.get("job_clusters").is_none());
        assert!(!summary.has_more(&settings));
    }
}
