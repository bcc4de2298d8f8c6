//! `POST /api/2.x/clusters/events`: a cluster's event log, filtered by time and type, newest
//! first unless `order` is `ASC`, paged by `offset`/`limit` (the answer's `next_page` is the
//! request for the next page) or by `page_size`/`page_token`.

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use crate::emulator::cluster_lifecycle::progress;
use crate::emulator::request::{
    decode_offset_token, object, optional_int, page_window, required_str, str_field,
};
use crate::emulator::store::ClusterEvent;
use crate::emulator::{ApiError, ApiJson, ApiResult, AppState};

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;
const TOKEN_SCOPE: &str = "cluster-events";

/// The events request, validated.
struct EventsQuery {
    cluster_id: String,
    start_time: Option<i64>,
    end_time: Option<i64>,
    types: Vec<String>,
    ascending: bool,
}

fn parse(body: &Map<String, Value>) -> ApiResult<EventsQuery> {
    let types = match body.get("event_types") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::invalid("event_types must be a list of strings"))
            })
            .collect::<ApiResult<_>>()?,
        Some(_) => return Err(ApiError::invalid("event_types must be a list of strings")),
    };
    let ascending = match str_field(body, "order") {
        None | Some("DESC") => false,
        Some("ASC") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "Invalid order {other}: must be ASC or DESC"
            )));
        }
    };
    Ok(EventsQuery {
        cluster_id: required_str(body, "cluster_id")?,
        start_time: optional_int(body, "start_time")?,
        end_time: optional_int(body, "end_time")?,
        types,
        ascending,
    })
}

fn selected(events: &[ClusterEvent], cluster_id: &str, query: &EventsQuery) -> Vec<Value> {
    let mut chosen: Vec<Value> = events
        .iter()
        .filter(|e| query.start_time.is_none_or(|t| e.timestamp >= t))
        .filter(|e| query.end_time.is_none_or(|t| e.timestamp <= t))
        .filter(|e| query.types.is_empty() || query.types.contains(&e.kind))
        .map(|e| {
            json!({
                "cluster_id": cluster_id,
                "timestamp": e.timestamp,
                "type": e.kind,
                "details": e.details,
            })
        })
        .collect();
    if !query.ascending {
        chosen.reverse();
    }
    chosen
}

/// The events handler.
pub(super) async fn events(
    State(ws): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let body = object(body)?;
    let query = parse(&body)?;
    let events = ws.store.write(|db, tx| {
        progress(&ws, db, tx);
        db.clusters
            .get(&query.cluster_id)
            .map(|c| selected(&c.events, &c.cluster_id, &query))
            .ok_or_else(|| {
                ApiError::invalid(format!("Cluster {} does not exist", query.cluster_id))
            })
    })?;
    let total = events.len();
    if body.contains_key("page_size") || body.contains_key("page_token") {
        let size = optional_int(&body, "page_size")?.unwrap_or(0);
        if !(0..=MAX_LIMIT).contains(&size) {
            return Err(ApiError::invalid(format!(
                "page_size must be between 0 and {MAX_LIMIT}"
            )));
        }
        let size = if size == 0 { DEFAULT_LIMIT } else { size } as usize;
        let offset =
            decode_offset_token(str_field(&body, "page_token").unwrap_or(""), TOKEN_SCOPE)?;
        let (start, end, next, prev) = page_window(TOKEN_SCOPE, offset, size, total);
        let mut answer = json!({"events": events[start..end], "total_count": total});
        if !next.is_empty() {
            answer["next_page_token"] = json!(next);
        }
        if !prev.is_empty() {
            answer["prev_page_token"] = json!(prev);
        }
        return Ok(Json(answer));
    }
    let limit = optional_int(&body, "limit")?.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let offset = optional_int(&body, "offset")?.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid("offset must be non-negative"));
    }
    let (start, end, _, _) = page_window(TOKEN_SCOPE, offset as usize, limit as usize, total);
    let mut answer = json!({"events": events[start..end], "total_count": total});
    if end < total {
        // The request for the next page, as the service answers it.
        let mut next = body.clone();
        next.insert("offset".into(), json!(end));
        next.insert("limit".into(), json!(limit));
        answer["next_page"] = Value::Object(next);
    }
    Ok(Json(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(timestamp: i64, kind: &str) -> ClusterEvent {
        ClusterEvent {
            timestamp,
            kind: kind.into(),
            details: Map::new(),
        }
    }

    fn query(body: Value) -> EventsQuery {
        parse(body.as_object().expect("object")).expect("valid")
    }

    #[test]
    fn events_are_filtered_by_time_and_type_newest_first_by_default() {
        let log = [
            event(1, "CREATING"),
            event(2, "RUNNING"),
            event(3, "TERMINATING"),
        ];
        let all = selected(&log, "c", &query(json!({"cluster_id": "c"})));
        let types: Vec<&str> = all.iter().filter_map(|e| e["type"].as_str()).collect();
        assert_eq!(types, ["TERMINATING", "RUNNING", "CREATING"]);
        let window = selected(
            &log,
            "c",
            &query(json!({"cluster_id": "c", "start_time": 2, "end_time": 3, "order": "ASC"})),
        );
        assert_eq!(window[0]["type"], json!("RUNNING"));
        assert_eq!(window.len(), 2);
        let typed = selected(
            &log,
            "c",
            &query(json!({"cluster_id": "c", "event_types": ["CREATING"]})),
        );
        assert_eq!(typed.len(), 1);
        assert_eq!(typed[0]["cluster_id"], json!("c"));
    }

    #[test]
    fn bad_requests_are_refused() {
        for body in [
            json!({}),
            json!({"cluster_id": "c", "order": "UP"}),
            json!({"cluster_id": "c", "event_types": "RUNNING"}),
        ] {
            assert!(parse(body.as_object().expect("object")).is_err(), "{body}");
        }
    }
}
