//! What a workspace offers clusters: Spark versions, node types and zones. A workspace lives on
//! one cloud and offers that cloud's node types and zones only.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::emulator::AppState;

/// The cloud an emulated workspace runs on (`tandem emulator --cloud`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Cloud {
    /// Amazon Web Services.
    Aws,
    /// Microsoft Azure (the default, as in the examples).
    #[default]
    Azure,
    /// Google Cloud.
    Gcp,
}

impl Cloud {
    /// Every cloud.
    pub const ALL: [Cloud; 3] = [Cloud::Aws, Cloud::Azure, Cloud::Gcp];

    /// The name the host metadata gives (`aws`, `azure`, `gcp`).
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Aws => "aws",
            Cloud::Azure => "azure",
            Cloud::Gcp => "gcp",
        }
    }

    /// This cloud's node types.
    pub fn node_types(self) -> &'static [NodeType] {
        match self {
            Cloud::Aws => &AWS_NODE_TYPES,
            Cloud::Azure => &AZURE_NODE_TYPES,
            Cloud::Gcp => &GCP_NODE_TYPES,
        }
    }

    /// The node type `id`, if this cloud has it.
    pub fn node_type(self, id: &str) -> Option<&'static NodeType> {
        self.node_types().iter().find(|n| n.id == id)
    }

    /// Whether this cloud's workspaces offer the runtime `key`.
    pub fn has_spark_version(self, key: &str) -> bool {
        self.spark_versions().any(|(k, _)| k == key)
    }

    fn spark_versions(self) -> impl Iterator<Item = (&'static str, &'static str)> {
        // Graviton (aarch64) runtimes exist on AWS only.
        let arm: &[(&str, &str)] = if self == Cloud::Aws {
            &ARM_VERSIONS
        } else {
            &[]
        };
        SPARK_VERSIONS.iter().chain(arm).copied()
    }

    fn zones(self) -> (&'static [&'static str], &'static str) {
        match self {
            Cloud::Aws => (&["us-west-2a", "us-west-2b", "us-west-2c"], "us-west-2a"),
            Cloud::Azure => (&["1", "2", "3"], "1"),
            Cloud::Gcp => (
                &["us-central1-a", "us-central1-b", "us-central1-c"],
                "us-central1-a",
            ),
        }
    }
}

const SPARK_VERSIONS: [(&str, &str); 10] = [
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
        "16.4.x-gpu-ml-scala2.12",
        "16.4 LTS ML (includes Apache Spark 3.5.2, GPU, Scala 2.12)",
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
        "15.4.x-gpu-ml-scala2.12",
        "15.4 LTS ML (includes Apache Spark 3.5.0, GPU, Scala 2.12)",
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

const ARM_VERSIONS: [(&str, &str); 2] = [
    (
        "16.4.x-aarch64-scala2.12",
        "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.12)",
    ),
    (
        "15.4.x-aarch64-scala2.12",
        "15.4 LTS (includes Apache Spark 3.5.0, Scala 2.12)",
    ),
];

/// A node type as `list-node-types` describes it.
#[derive(Debug, Clone, Copy)]
pub struct NodeType {
    /// `node_type_id` (and the instance type).
    pub id: &'static str,
    /// Cores.
    pub cores: f64,
    /// Memory in MB.
    pub memory_mb: i64,
    /// `category`, e.g. `General Purpose`.
    pub category: &'static str,
    /// GPUs.
    pub gpus: i64,
    /// Local (non-NVMe) disks and their size in GB.
    pub disks: (i64, i64),
    /// Local NVMe disks and their size in GB.
    pub nvme: (i64, i64),
    /// An ARM (Graviton) instance.
    pub graviton: bool,
}

const fn node(id: &'static str, cores: f64, memory_mb: i64, category: &'static str) -> NodeType {
    NodeType {
        id,
        cores,
        memory_mb,
        category,
        gpus: 0,
        disks: (0, 0),
        nvme: (0, 0),
        graviton: false,
    }
}

const fn disk(mut n: NodeType, count: i64, gb: i64) -> NodeType {
    n.disks = (count, gb);
    n
}

const fn nvme(mut n: NodeType, count: i64, gb: i64) -> NodeType {
    n.nvme = (count, gb);
    n
}

const fn gpu(mut n: NodeType, gpus: i64) -> NodeType {
    n.gpus = gpus;
    n
}

const GENERAL: &str = "General Purpose";
const MEMORY: &str = "Memory Optimized";
const STORAGE: &str = "Storage Optimized";
const GPU: &str = "GPU Accelerated";

const AZURE_NODE_TYPES: [NodeType; 11] = [
    disk(node("Standard_DS3_v2", 4.0, 14336, GENERAL), 1, 28),
    disk(node("Standard_DS4_v2", 8.0, 28672, GENERAL), 1, 56),
    disk(node("Standard_DS5_v2", 16.0, 57344, GENERAL), 1, 112),
    node("Standard_D4as_v5", 4.0, 16384, GENERAL),
    disk(node("Standard_D4ds_v5", 4.0, 16384, GENERAL), 1, 150),
    disk(node("Standard_D8ds_v5", 8.0, 32768, GENERAL), 1, 300),
    disk(node("Standard_E4ds_v5", 4.0, 32768, MEMORY), 1, 150),
    disk(node("Standard_E8ds_v5", 8.0, 65536, MEMORY), 1, 300),
    disk(node("Standard_E8ds_v4", 8.0, 65536, MEMORY), 1, 300),
    nvme(node("Standard_L8s_v3", 8.0, 65536, STORAGE), 1, 1788),
    gpu(disk(node("Standard_NC6s_v3", 6.0, 114688, GPU), 1, 736), 1),
];

const AWS_NODE_TYPES: [NodeType; 8] = [
    nvme(node("i3.xlarge", 4.0, 31232, STORAGE), 1, 950),
    nvme(node("i3.2xlarge", 8.0, 62464, STORAGE), 1, 1900),
    nvme(node("m5d.large", 2.0, 8192, GENERAL), 1, 75),
    nvme(node("m5d.xlarge", 4.0, 16384, GENERAL), 1, 150),
    node("m5.xlarge", 4.0, 16384, GENERAL),
    nvme(node("r5d.xlarge", 4.0, 32768, MEMORY), 1, 150),
    NodeType {
        graviton: true,
        ..nvme(node("m6gd.large", 2.0, 8192, GENERAL), 1, 118)
    },
    gpu(nvme(node("g4dn.xlarge", 4.0, 16384, GPU), 1, 125), 1),
];

const GCP_NODE_TYPES: [NodeType; 6] = [
    node("n1-standard-4", 4.0, 15360, GENERAL),
    node("n1-standard-8", 8.0, 30720, GENERAL),
    node("n2-standard-4", 4.0, 16384, GENERAL),
    node("n2-highmem-4", 4.0, 32768, MEMORY),
    nvme(node("n2-highmem-8", 8.0, 65536, MEMORY), 1, 375),
    gpu(node("a2-highgpu-1g", 12.0, 87040, GPU), 1),
];

impl NodeType {
    /// The `list-node-types` entry, with the `node_instance_type` the SDK's `select_node_type`
    /// reads (local disks, NVMe disks and their sizes).
    fn json(&self) -> Value {
        let io_cache = self.nvme.0 > 0;
        json!({
            "node_type_id": self.id,
            "instance_type_id": self.id,
            "num_cores": self.cores,
            "memory_mb": self.memory_mb,
            "description": self.id,
            "category": self.category,
            "num_gpus": self.gpus,
            "node_instance_type": {
                "instance_type_id": self.id,
                "local_disks": self.disks.0,
                "local_disk_size_gb": self.disks.1,
                "local_nvme_disks": self.nvme.0,
                "local_nvme_disk_size_gb": self.nvme.1,
            },
            "is_deprecated": false,
            "is_hidden": false,
            "is_io_cache_enabled": io_cache,
            "is_graviton": self.graviton,
            "support_cluster_tags": true,
            "support_ebs_volumes": self.id.contains('.'),
            "support_port_forwarding": true,
            "photon_worker_capable": self.gpus == 0,
            "photon_driver_capable": self.gpus == 0,
        })
    }
}

pub(super) async fn spark_versions(State(ws): State<AppState>) -> Json<Value> {
    let versions: Vec<Value> = ws
        .options
        .cloud
        .spark_versions()
        .map(|(key, name)| json!({"key": key, "name": name}))
        .collect();
    Json(json!({"versions": versions}))
}

pub(super) async fn list_node_types(State(ws): State<AppState>) -> Json<Value> {
    let node_types: Vec<Value> = ws
        .options
        .cloud
        .node_types()
        .iter()
        .map(NodeType::json)
        .collect();
    Json(json!({"node_types": node_types}))
}

pub(super) async fn list_zones(State(ws): State<AppState>) -> Json<Value> {
    let (zones, default_zone) = ws.options.cloud.zones();
    Json(json!({"zones": zones, "default_zone": default_zone}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cloud_offers_its_own_node_types_only() {
        assert!(Cloud::Azure.node_type("Standard_DS3_v2").is_some());
        assert!(Cloud::Azure.node_type("i3.xlarge").is_none());
        assert!(Cloud::Aws.node_type("i3.xlarge").is_some());
        assert!(Cloud::Aws.node_type("Standard_DS3_v2").is_none());
        assert!(Cloud::Gcp.node_type("n2-highmem-4").is_some());
        assert!(Cloud::Gcp.node_type("m5d.large").is_none());
        assert!(Cloud::Aws.has_spark_version("15.4.x-aarch64-scala2.12"));
        assert!(!Cloud::Azure.has_spark_version("15.4.x-aarch64-scala2.12"));
        assert!(Cloud::Azure.has_spark_version("15.4.x-scala2.12"));
        assert!(!Cloud::Azure.has_spark_version("15.4.x-scala2.11"));
        assert_eq!(Cloud::default(), Cloud::Azure);
    }

    #[test]
    fn node_types_describe_their_local_disks() {
        for cloud in [Cloud::Aws, Cloud::Azure, Cloud::Gcp] {
            for n in cloud.node_types() {
                let entry = n.json();
                let instance = &entry["node_instance_type"];
                assert_eq!(instance["instance_type_id"], json!(n.id));
                assert!(instance["local_disks"].is_i64(), "{entry}");
            }
        }
        let ds3 = Cloud::Azure
            .node_type("Standard_DS3_v2")
            .map(NodeType::json);
        assert_eq!(
            ds3.map(|e| e["node_instance_type"]["local_disk_size_gb"].clone()),
            Some(json!(28))
        );
    }
}
