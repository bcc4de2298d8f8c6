//! What a workspace offers clusters: Spark versions, node types and zones (static).

use axum::Json;
use serde_json::{Value, json};

const SPARK_VERSIONS: [(&str, &str); 8] = [
    (
        "16.4.x-scala2.12",
        "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.12)",
    ),
    (
        "16.4.x-photon-scala2.12",
        "16.4 LTS Photon (includes Apache Spark 3.5.2, Scala 2.12)",
    ),
    (
        "16.4.x-cpu-ml-scala2.12",
        "16.4 LTS ML (includes Apache Spark 3.5.2, Scala 2.12)",
    ),
    (
        "15.4.x-scala2.12",
        "15.4 LTS (includes Apache Spark 3.5.0, Scala 2.12)",
    ),
    (
        "15.4.x-photon-scala2.12",
        "15.4 LTS Photon (includes Apache Spark 3.5.0, Scala 2.12)",
    ),
    (
        "15.4.x-cpu-ml-scala2.12",
        "15.4 LTS ML (includes Apache Spark 3.5.0, Scala 2.12)",
    ),
    (
        "14.3.x-scala2.12",
        "14.3 LTS (includes Apache Spark 3.5.0, Scala 2.12)",
    ),
    (
        "13.3.x-scala2.12",
        "13.3 LTS (includes Apache Spark 3.4.1, Scala 2.12)",
    ),
];

/// Node types: (id, cores, memory MB, category).
pub(super) const NODE_TYPES: [(&str, f64, i64, &str); 9] = [
    ("Standard_DS3_v2", 4.0, 14336, "General Purpose"),
    ("Standard_DS4_v2", 8.0, 28672, "General Purpose"),
    ("Standard_E8ds_v4", 8.0, 65536, "Memory Optimized"),
    ("i3.xlarge", 4.0, 31232, "Storage Optimized"),
    ("i3.2xlarge", 8.0, 62464, "Storage Optimized"),
    ("m5d.large", 2.0, 8192, "General Purpose"),
    ("m5d.xlarge", 4.0, 16384, "General Purpose"),
    ("n1-standard-4", 4.0, 15360, "General Purpose"),
    ("n2-highmem-4", 4.0, 32768, "Memory Optimized"),
];

pub(super) async fn spark_versions() -> Json<Value> {
    let versions: Vec<Value> = SPARK_VERSIONS
        .iter()
        .map(|(key, name)| json!({"key": key, "name": name}))
        .collect();
    Json(json!({"versions": versions}))
}

pub(super) async fn list_node_types() -> Json<Value> {
    let node_types: Vec<Value> = NODE_TYPES
        .iter()
        .map(|(id, cores, memory_mb, category)| {
            json!({
                "node_type_id": id,
                "instance_type_id": id,
                "num_cores": cores,
                "memory_mb": memory_mb,
                "description": id,
                "category": category,
                "num_gpus": 0,
                "is_deprecated": false,
                "is_hidden": false,
                "support_cluster_tags": true,
                "support_ebs_volumes": id.contains('.'),
                "support_port_forwarding": true,
                "photon_worker_capable": true,
                "photon_driver_capable": true,
            })
        })
        .collect();
    Json(json!({"node_types": node_types}))
}

pub(super) async fn list_zones() -> Json<Value> {
    Json(json!({
        "zones": ["us-west-2a", "us-west-2b", "us-west-2c"],
        "default_zone": "us-west-2a",
    }))
}
