//! The cluster life cycle, shared by the clusters and instance-pools APIs: the state machine
//! (pure), its lazy progress, and the instances clusters hold from pools.
//!
//! Asynchronous progress (PENDING → RUNNING, TERMINATING → TERMINATED, ...) is applied lazily: every
//! request that reads or writes clusters first moves each cluster along the transitions that are
//! due, so no background task is needed and a restarted emulator carries on where it stopped.

use serde_json::{Map, Value, json};

use super::request::str_field;
use super::store::{ClusterEvent, ClusterRecord, Collection, Db, Tx};
use super::{ApiError, ApiResult, Workspace};

pub const PENDING: &str = "PENDING";
pub const RUNNING: &str = "RUNNING";
pub const RESTARTING: &str = "RESTARTING";
pub const RESIZING: &str = "RESIZING";
pub const TERMINATING: &str = "TERMINATING";
pub const TERMINATED: &str = "TERMINATED";

/// Moves a cluster along its asynchronous transition if it is due at `now` (`delay_ms` after the
/// state was entered). Returns whether the cluster changed.
pub fn advance(rec: &mut ClusterRecord, now: i64, delay_ms: i64) -> bool {
    let next = match rec.state.as_str() {
        PENDING | RESTARTING | RESIZING => RUNNING,
        TERMINATING => TERMINATED,
        _ => return false,
    };
    if now - rec.state_since < delay_ms {
        return false;
    }
    // Date the change when it would have happened, not when someone looked.
    enter(rec, next, (rec.state_since + delay_ms).min(now));
    true
}

/// Advances every cluster to `now`, journalling the ones that changed. Call at the start of any
/// request that reads or writes clusters.
pub fn progress(ws: &Workspace, db: &mut Db, tx: &mut Tx) {
    let now = ws.now_ms();
    let delay_ms = i64::try_from(ws.options.cluster_start.as_millis()).unwrap_or(i64::MAX);
    for (id, rec) in db.clusters.iter_mut() {
        if advance(rec, now, delay_ms) {
            tx.touch(Collection::Clusters, id.clone());
        }
    }
}

fn enter(rec: &mut ClusterRecord, state: &str, at: i64) {
    rec.state = state.to_string();
    rec.state_since = at;
    if state == TERMINATED {
        rec.terminated_time = Some(at);
    }
    // The event log names the transition (a terminated cluster's last event is TERMINATING,
    // which carries the reason; the service logs no TERMINATED event).
    let (kind, details) = match state {
        PENDING => ("STARTING", Map::new()),
        RUNNING => (
            RUNNING,
            one("current_num_workers", json!(workers(&rec.spec))),
        ),
        RESTARTING => (RESTARTING, Map::new()),
        RESIZING => (
            RESIZING,
            one("target_num_workers", json!(workers(&rec.spec))),
        ),
        _ => return,
    };
    log_event(rec, kind, details, at);
}

fn one(key: &str, value: Value) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert(key.into(), value);
    map
}

/// The most events a cluster keeps; older ones are dropped first.
const MAX_EVENTS: usize = 1000;

/// Appends an event to the cluster's log.
pub fn log_event(rec: &mut ClusterRecord, kind: &str, details: Map<String, Value>, at: i64) {
    if rec.events.len() >= MAX_EVENTS {
        rec.events.remove(0);
    }
    rec.events.push(ClusterEvent {
        timestamp: at,
        kind: kind.to_string(),
        details,
    });
}

/// `Running` for `RUNNING`, as the service spells states in messages.
fn title(state: &str) -> String {
    let lower = state.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

pub fn unexpected_state(rec: &ClusterRecord) -> ApiError {
    ApiError::invalid_state(format!(
        "Cluster {} is in unexpected state {}.",
        rec.cluster_id,
        title(&rec.state)
    ))
}

fn reject_job_cluster(rec: &ClusterRecord, action: &str) -> ApiResult<()> {
    if rec.cluster_source == "JOB" {
        return Err(ApiError::invalid(format!(
            "Cluster {} was created by the Jobs service and cannot be {action}.",
            rec.cluster_id
        )));
    }
    Ok(())
}

pub fn start_transition(rec: &mut ClusterRecord, now: i64) -> ApiResult<()> {
    reject_job_cluster(rec, "started")?;
    if rec.state != TERMINATED {
        return Err(unexpected_state(rec));
    }
    enter(rec, PENDING, now);
    rec.start_time = now;
    rec.last_restarted_time = Some(now);
    rec.terminated_time = None;
    rec.termination_reason = None;
    Ok(())
}

pub fn restart_transition(rec: &mut ClusterRecord, now: i64) -> ApiResult<()> {
    if rec.state != RUNNING {
        return Err(unexpected_state(rec));
    }
    enter(rec, RESTARTING, now);
    rec.last_restarted_time = Some(now);
    Ok(())
}

/// Resizes to `size` (`{num_workers}` or `{autoscale}`), which replaces the spec's size.
pub fn resize_transition(
    rec: &mut ClusterRecord,
    size: Map<String, Value>,
    now: i64,
) -> ApiResult<()> {
    if rec.state != RUNNING {
        return Err(unexpected_state(rec));
    }
    rec.spec.shift_remove("num_workers");
    rec.spec.shift_remove("autoscale");
    rec.spec.extend(size);
    enter(rec, RESIZING, now);
    Ok(())
}

/// Terminates (the `delete` call): a no-op for a cluster already on its way down.
pub fn terminate_transition(rec: &mut ClusterRecord, user: &str, now: i64) {
    if rec.state == TERMINATING || rec.state == TERMINATED {
        return;
    }
    enter(rec, TERMINATING, now);
    let reason = json!({
        "code": "USER_REQUEST",
        "type": "SUCCESS",
        "parameters": {"username": user},
    });
    log_event(rec, TERMINATING, one("reason", reason.clone()), now);
    rec.termination_reason = Some(reason);
}

/// Applies an edit: a running cluster restarts with the new spec, a terminated one keeps it for
/// its next start; any other state is refused.
pub fn edit_transition(
    rec: &mut ClusterRecord,
    spec: Map<String, Value>,
    now: i64,
) -> ApiResult<()> {
    reject_job_cluster(rec, "edited")?;
    match rec.state.as_str() {
        RUNNING => {
            enter(rec, RESTARTING, now);
            rec.last_restarted_time = Some(now);
        }
        TERMINATED => {}
        _ => return Err(unexpected_state(rec)),
    }
    rec.spec = spec;
    log_event(rec, "EDITED", Map::new(), now);
    Ok(())
}

pub fn is_up(state: &str) -> bool {
    matches!(state, RUNNING | RESIZING | RESTARTING)
}

/// The target worker count: `num_workers`, or an autoscaling cluster's minimum.
pub fn workers(spec: &Map<String, Value>) -> i64 {
    spec.get("num_workers")
        .and_then(Value::as_i64)
        .or_else(|| spec.get("autoscale")?.get("min_workers")?.as_i64())
        .unwrap_or(0)
}

/// Instances clusters hold from a pool: (in use, pending), counting workers and drivers.
pub fn pool_usage(db: &Db, pool_id: &str) -> (i64, i64) {
    let (mut used, mut pending) = (0, 0);
    for rec in db.clusters.values() {
        let worker_pool = str_field(&rec.spec, "instance_pool_id");
        let driver_pool = str_field(&rec.spec, "driver_instance_pool_id").or(worker_pool);
        let mut nodes = 0;
        if worker_pool == Some(pool_id) {
            nodes += workers(&rec.spec);
        }
        if driver_pool == Some(pool_id) {
            nodes += 1;
        }
        match rec.state.as_str() {
            PENDING => pending += nodes,
            s if is_up(s) => used += nodes,
            _ => {}
        }
    }
    (used, pending)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A cluster of the fixture spec in `state` since `since`.
    pub(crate) fn record(state: &str, since: i64) -> ClusterRecord {
        ClusterRecord {
            cluster_id: "0101-000000-stead1".into(),
            spec: json!({"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 2})
                .as_object()
                .cloned()
                .unwrap(),
            state: state.into(),
            state_since: since,
            creator_user_name: "alice@example.com".into(),
            cluster_source: "API".into(),
            pinned: false,
            start_time: since,
            terminated_time: None,
            last_restarted_time: None,
            termination_reason: None,
            pinned_by_user_name: None,
            events: Vec::new(),
        }
    }

    /// `value` as a JSON object.
    pub(crate) fn spec(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn pending_runs_after_the_delay() {
        let mut rec = record(PENDING, 1_000);
        assert!(!advance(&mut rec, 1_400, 500));
        assert_eq!(rec.state, PENDING);
        assert!(advance(&mut rec, 9_000, 500));
        assert_eq!(rec.state, RUNNING);
        assert_eq!(rec.state_since, 1_500, "dated when it was due");
        assert!(!advance(&mut rec, 20_000, 500), "RUNNING is stable");
    }

    #[test]
    fn zero_delay_moves_at_the_next_read() {
        for (from, to) in [
            (PENDING, RUNNING),
            (RESTARTING, RUNNING),
            (RESIZING, RUNNING),
            (TERMINATING, TERMINATED),
        ] {
            let mut rec = record(from, 5);
            assert!(advance(&mut rec, 5, 0));
            assert_eq!(rec.state, to);
        }
        let mut rec = record(TERMINATING, 5);
        advance(&mut rec, 7, 0);
        assert_eq!(rec.terminated_time, Some(5));
    }

    #[test]
    fn start_only_from_terminated() {
        let mut rec = record(PENDING, 0);
        let err = start_transition(&mut rec, 10).unwrap_err();
        assert_eq!(err.error_code, json!("INVALID_STATE"));
        assert_eq!(
            err.message,
            "Cluster 0101-000000-stead1 is in unexpected state Pending."
        );
        let mut rec = record(TERMINATED, 0);
        rec.terminated_time = Some(0);
        start_transition(&mut rec, 10).unwrap();
        assert_eq!((rec.state.as_str(), rec.terminated_time), (PENDING, None));
        assert_eq!(rec.start_time, 10);
    }

    #[test]
    fn restart_and_resize_need_running() {
        let mut rec = record(TERMINATED, 0);
        assert!(restart_transition(&mut rec, 1).is_err());
        assert!(resize_transition(&mut rec, spec(json!({"num_workers": 5})), 1).is_err());
        let mut rec = record(RUNNING, 0);
        resize_transition(
            &mut rec,
            spec(json!({"autoscale": {"min_workers": 1, "max_workers": 4}})),
            1,
        )
        .unwrap();
        assert_eq!(rec.state, RESIZING);
        assert!(!rec.spec.contains_key("num_workers"));
        let mut rec = record(RUNNING, 0);
        restart_transition(&mut rec, 3).unwrap();
        assert_eq!(
            (rec.state.as_str(), rec.last_restarted_time),
            (RESTARTING, Some(3))
        );
    }

    #[test]
    fn terminate_is_idempotent() {
        let mut rec = record(RUNNING, 0);
        terminate_transition(&mut rec, "a@x", 4);
        assert_eq!((rec.state.as_str(), rec.state_since), (TERMINATING, 4));
        terminate_transition(&mut rec, "a@x", 9);
        assert_eq!(rec.state_since, 4, "a second delete changes nothing");
        let mut rec = record(TERMINATED, 2);
        terminate_transition(&mut rec, "a@x", 9);
        assert_eq!((rec.state.as_str(), rec.state_since), (TERMINATED, 2));
    }

    #[test]
    fn transitions_are_logged_as_events() {
        let mut rec = record(TERMINATED, 0);
        start_transition(&mut rec, 1).unwrap();
        assert!(advance(&mut rec, 10, 5));
        terminate_transition(&mut rec, "a@x", 20);
        terminate_transition(&mut rec, "a@x", 21);
        assert!(advance(&mut rec, 30, 5));
        let log: Vec<(i64, &str)> = rec
            .events
            .iter()
            .map(|e| (e.timestamp, e.kind.as_str()))
            .collect();
        assert_eq!(
            log,
            [(1, "STARTING"), (6, "RUNNING"), (20, "TERMINATING")],
            "a repeated delete logs nothing; TERMINATED is no event type"
        );
        assert_eq!(rec.events[1].details["current_num_workers"], json!(2));
        assert_eq!(
            rec.events[2].details["reason"]["code"],
            json!("USER_REQUEST")
        );
    }

    #[test]
    fn edit_rules() {
        let new = spec(
            json!({"spark_version": "16.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}),
        );
        let mut rec = record(RUNNING, 0);
        edit_transition(&mut rec, new.clone(), 5).unwrap();
        assert_eq!(rec.state, RESTARTING);
        assert_eq!(rec.spec, new);
        let mut rec = record(TERMINATED, 0);
        edit_transition(&mut rec, new.clone(), 5).unwrap();
        assert_eq!((rec.state.as_str(), rec.spec == new), (TERMINATED, true));
        for state in [PENDING, RESIZING, RESTARTING, TERMINATING] {
            let mut rec = record(state, 0);
            let err = edit_transition(&mut rec, new.clone(), 5).unwrap_err();
            assert_eq!(err.error_code, json!("INVALID_STATE"));
            assert_ne!(rec.spec, new, "a refused edit changes nothing");
        }
        let mut rec = record(TERMINATED, 0);
        rec.cluster_source = "JOB".into();
        assert!(edit_transition(&mut rec, new, 5).is_err());
    }
}
