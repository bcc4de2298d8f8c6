//! ClusterDetails as get and list answer them: the spec with the server's defaults and the
//! read-only status fields.

use serde_json::{Map, Value, json};

use super::catalog::Cloud;
use crate::emulator::cluster_lifecycle::{
    PENDING, RESIZING, RESTARTING, TERMINATED, TERMINATING, is_up, workers,
};
use crate::emulator::ids::mix;
use crate::emulator::request::str_field;
use crate::emulator::store::{ClusterRecord, Db};

/// ClusterDetails: the spec at top level with the server's defaults, the read-only status fields,
/// and (on get, not list) `spec`.
pub(super) fn details(db: &Db, rec: &ClusterRecord, with_spec: bool) -> Value {
    let mut out = Map::new();
    out.insert("cluster_id".into(), json!(rec.cluster_id));
    out.extend(
        rec.spec
            .iter()
            .filter(|(k, _)| k.as_str() != "apply_policy_default_values")
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    add_defaults(db, rec, &mut out);
    add_status(rec, &mut out);
    if with_spec {
        out.insert("spec".into(), Value::Object(rec.spec.clone()));
    }
    Value::Object(out)
}

fn pool_node_type(db: &Db, pool_id: Option<&str>) -> Option<Value> {
    pool_id
        .and_then(|id| db.pools.get(id))
        .and_then(|p| p.spec.get("node_type_id").cloned())
}

/// What the service fills in: node types (from the pools if any), elastic disk, the single user,
/// the cluster name and the default tags.
fn add_defaults(db: &Db, rec: &ClusterRecord, out: &mut Map<String, Value>) {
    out.entry("cluster_name").or_insert(json!(""));
    if let Some(pool) = str_field(&rec.spec, "instance_pool_id") {
        let pool = pool.to_string();
        out.entry("driver_instance_pool_id").or_insert(json!(pool));
        if !out.contains_key("node_type_id")
            && let Some(node_type) = pool_node_type(db, Some(&pool))
        {
            out.insert("node_type_id".into(), node_type);
        }
    }
    if !out.contains_key("driver_node_type_id") {
        let driver_pool = str_field(out, "driver_instance_pool_id").map(str::to_string);
        let node_type =
            pool_node_type(db, driver_pool.as_deref()).or_else(|| out.get("node_type_id").cloned());
        if let Some(node_type) = node_type {
            out.insert("driver_node_type_id".into(), node_type);
        }
    }
    out.entry("enable_elastic_disk").or_insert(json!(true));
    let dedicated = matches!(
        str_field(&rec.spec, "data_security_mode"),
        Some("SINGLE_USER" | "DATA_SECURITY_MODE_DEDICATED")
    );
    if dedicated && str_field(&rec.spec, "single_user_name").is_none() {
        out.insert("single_user_name".into(), json!(rec.creator_user_name));
    }
    let name = out
        .get("cluster_name")
        .cloned()
        .unwrap_or_else(|| json!(""));
    out.insert(
        "default_tags".into(),
        json!({
            "Vendor": "Databricks",
            "Creator": rec.creator_user_name,
            "ClusterName": name,
            "ClusterId": rec.cluster_id,
        }),
    );
}

fn state_message(state: &str) -> &'static str {
    match state {
        PENDING => "Finding instances for new nodes, acquiring more instances if necessary",
        RESTARTING => "Restarting Spark",
        RESIZING => "Resizing the cluster",
        TERMINATING => "Terminating the cluster",
        _ => "",
    }
}

fn add_status(rec: &ClusterRecord, out: &mut Map<String, Value>) {
    out.insert("state".into(), json!(rec.state));
    out.insert("state_message".into(), json!(state_message(&rec.state)));
    out.insert("start_time".into(), json!(rec.start_time));
    if rec.state == TERMINATED
        && let Some(at) = rec.terminated_time
    {
        out.insert("terminated_time".into(), json!(at));
    }
    if let Some(at) = rec.last_restarted_time {
        out.insert("last_restarted_time".into(), json!(at));
    }
    if let Some(reason) = rec
        .termination_reason
        .as_ref()
        .filter(|_| !is_up(&rec.state))
    {
        out.insert("termination_reason".into(), reason.clone());
    }
    out.insert("creator_user_name".into(), json!(rec.creator_user_name));
    out.insert("cluster_source".into(), json!(rec.cluster_source));
    if let Some(by) = rec.pinned_by_user_name.as_ref().filter(|_| rec.pinned) {
        out.insert("pinned_by_user_name".into(), json!(by));
    }
    if is_up(&rec.state) {
        add_running_info(rec, out);
    }
}

/// Read-only figures of a running cluster: the Spark context and its total size.
fn add_running_info(rec: &ClusterRecord, out: &mut Map<String, Value>) {
    let context = mix(rec.state_since as u64 ^ mix(rec.cluster_id.len() as u64)) >> 2;
    out.insert("spark_context_id".into(), json!(context));
    out.insert("jdbc_port".into(), json!(10000));
    // Node type IDs do not repeat across clouds, so the record alone tells the figures.
    let node = str_field(out, "node_type_id")
        .and_then(|id| Cloud::ALL.iter().find_map(|cloud| cloud.node_type(id)));
    if let Some(node) = node {
        let nodes = workers(&rec.spec) + 1;
        out.insert("cluster_cores".into(), json!(node.cores * nodes as f64));
        out.insert("cluster_memory_mb".into(), json!(node.memory_mb * nodes));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::cluster_lifecycle::RUNNING;
    use crate::emulator::cluster_lifecycle::tests::record;

    #[test]
    fn details_fill_server_defaults() {
        let mut rec = record(RUNNING, 0);
        rec.spec
            .insert("data_security_mode".into(), json!("SINGLE_USER"));
        rec.spec
            .insert("apply_policy_default_values".into(), json!(true));
        let out = details(&Db::default(), &rec, true);
        assert_eq!(out["driver_node_type_id"], json!("i3.xlarge"));
        assert_eq!(out["single_user_name"], json!("alice@example.com"));
        assert_eq!(out["default_tags"]["ClusterId"], json!(rec.cluster_id));
        assert_eq!(out["cluster_cores"], json!(12.0));
        assert!(out.get("apply_policy_default_values").is_none());
        assert_eq!(out["spec"]["apply_policy_default_values"], json!(true));
        assert!(details(&Db::default(), &rec, false).get("spec").is_none());
    }
}
