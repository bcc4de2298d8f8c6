//! What a workspace refuses in any cluster spec, an all-purpose cluster's or a job's
//! `new_cluster`: node types beside the pools that supply them, node types and runtimes its
//! cloud does not offer, and a policy the spec breaks or that does not exist.

use serde_json::{Map, Value};

use super::catalog::Cloud;
use crate::emulator::jobs::tasks_of;
use crate::emulator::policies::{self, ClusterType};
use crate::emulator::request::str_field;
use crate::emulator::store::Db;
use crate::emulator::{ApiError, ApiResult, Workspace};

/// Refuses node types given beside the pool that supplies them (a worker pool supplies the
/// driver too unless a driver pool is named), node types and a runtime the cloud lacks.
pub fn check_compute(cloud: Cloud, spec: &Map<String, Value>) -> ApiResult<()> {
    let worker_pool = str_field(spec, "instance_pool_id").is_some();
    let driver_pool = worker_pool || str_field(spec, "driver_instance_pool_id").is_some();
    // Observed wording (terraform-provider-databricks#2141, #3533).
    if worker_pool && str_field(spec, "node_type_id").is_some() {
        return Err(ApiError::invalid(
            "The field 'node_type_id' cannot be supplied when an instance pool ID is provided.",
        ));
    }
    if driver_pool && str_field(spec, "driver_node_type_id").is_some() {
        return Err(ApiError::invalid(
            "The field 'driver_node_type_id' cannot be supplied when an instance pool ID is provided.",
        ));
    }
    for key in ["node_type_id", "driver_node_type_id"] {
        if let Some(id) = str_field(spec, key)
            && cloud.node_type(id).is_none()
        {
            let supported: Vec<&str> = cloud.node_types().iter().map(|n| n.id).collect();
            return Err(ApiError::invalid(format!(
                "Node type {id} is not supported. Supported node types: {}",
                supported.join(", ")
            )));
        }
    }
    if let Some(version) = str_field(spec, "spark_version")
        && !cloud.has_spark_version(version)
    {
        return Err(ApiError::invalid(format!(
            "Invalid spark version {version}."
        )));
    }
    Ok(())
}

/// Checks every `new_cluster` of a job's settings (job clusters, tasks, for-each tasks) as the
/// Jobs service does at create, reset and update: [`check_compute`] and the policy's rules.
pub fn check_job_clusters(ws: &Workspace, db: &Db, settings: &Map<String, Value>) -> ApiResult<()> {
    let job_clusters = settings
        .get("job_clusters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object);
    let specs: Vec<&Map<String, Value>> = job_clusters.chain(tasks_of(settings)).collect();
    for holder in specs {
        if let Some(cluster) = holder.get("new_cluster").and_then(Value::as_object) {
            check_compute(ws.options.cloud, cluster)?;
            policies::enforce(db, &mut cluster.clone(), ClusterType::Job, false)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    fn refusal(cloud: Cloud, value: Value) -> String {
        let err = check_compute(cloud, &spec(value)).unwrap_err();
        assert_eq!(err.error_code, json!("INVALID_PARAMETER_VALUE"));
        err.message
    }

    #[test]
    fn node_types_cannot_sit_beside_their_pools() {
        let message = refusal(
            Cloud::Azure,
            json!({"instance_pool_id": "p", "node_type_id": "Standard_DS3_v2"}),
        );
        assert_eq!(
            message,
            "The field 'node_type_id' cannot be supplied when an instance pool ID is provided."
        );
        for pools in [
            json!({"instance_pool_id": "p", "driver_node_type_id": "Standard_DS3_v2"}),
            json!({"driver_instance_pool_id": "d", "driver_node_type_id": "Standard_DS3_v2"}),
        ] {
            assert!(refusal(Cloud::Azure, pools).contains("'driver_node_type_id'"));
        }
        // A driver pool alone leaves the workers' node type free.
        check_compute(
            Cloud::Azure,
            &spec(json!({"driver_instance_pool_id": "d", "node_type_id": "Standard_DS3_v2"})),
        )
        .unwrap();
        check_compute(
            Cloud::Azure,
            &spec(json!({"instance_pool_id": "p", "driver_instance_pool_id": "d"})),
        )
        .unwrap();
    }

    #[test]
    fn node_types_and_runtimes_of_another_cloud_are_refused() {
        let message = refusal(Cloud::Azure, json!({"node_type_id": "i3.xlarge"}));
        assert!(
            message.starts_with(
                "Node type i3.xlarge is not supported. Supported node types: Standard_DS3_v2"
            ),
            "{message}"
        );
        assert!(
            refusal(
                Cloud::Aws,
                json!({"driver_node_type_id": "Standard_DS3_v2"})
            )
            .contains("Standard_DS3_v2")
        );
        assert_eq!(
            refusal(
                Cloud::Azure,
                json!({"spark_version": "15.4.x-aarch64-scala2.12"})
            ),
            "Invalid spark version 15.4.x-aarch64-scala2.12."
        );
        check_compute(
            Cloud::Aws,
            &spec(
                json!({"spark_version": "15.4.x-aarch64-scala2.12", "node_type_id": "m6gd.large"}),
            ),
        )
        .unwrap();
    }

    #[test]
    fn every_new_cluster_of_a_job_is_checked() {
        let ws = crate::emulator::workspace(crate::emulator::EmulatorOptions::default()).unwrap();
        let db = Db::default();
        let good = json!({"spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2"});
        let bad = json!({"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge"});
        let job = |cluster: Value| {
            spec(json!({
                "job_clusters": [{"job_cluster_key": "a", "new_cluster": good}],
                "tasks": [{"task_key": "t", "for_each_task": {"task": {"task_key": "i", "new_cluster": cluster}}}],
            }))
        };
        check_job_clusters(&ws, &db, &job(good.clone())).unwrap();
        assert!(check_job_clusters(&ws, &db, &job(bad)).is_err());
        let with_policy =
            spec(json!({"tasks": [{"task_key": "t", "new_cluster": {"policy_id": "NOPE"}}]}));
        assert!(
            check_job_clusters(&ws, &db, &with_policy)
                .unwrap_err()
                .message
                .contains("NOPE")
        );
    }
}
