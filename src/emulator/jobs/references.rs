//! What job settings name outside themselves: the all-purpose clusters `existing_cluster_id`
//! points at must exist when the job is written.

use serde_json::{Map, Value};

use super::tasks_of;
use crate::emulator::store::Db;
use crate::emulator::{ApiError, ApiResult};

/// Every `existing_cluster_id` in the settings: job level (2.0 shape), each task's, and the
/// inner task of a `for_each_task`.
fn existing_cluster_ids(settings: &Map<String, Value>) -> Vec<&str> {
    std::iter::once(settings)
        .chain(tasks_of(settings))
        .filter_map(|holder| holder.get("existing_cluster_id").and_then(Value::as_str))
        .collect()
}

/// Refuses settings whose `existing_cluster_id` names a cluster the workspace does not have,
/// as the service does on create, reset and update.
pub(super) fn check_cluster_references(db: &Db, settings: &Map<String, Value>) -> ApiResult<()> {
    match existing_cluster_ids(settings)
        .into_iter()
        .find(|id| !db.clusters.contains_key(*id))
    {
        Some(id) => Err(ApiError::invalid(format!("Cluster {id} does not exist"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::jobs::obj;
    use serde_json::json;

    #[test]
    fn every_existing_cluster_id_is_found() {
        let settings = obj(json!({
            "existing_cluster_id": "top",
            "tasks": [
                {"task_key": "a", "existing_cluster_id": "a-cluster"},
                {"task_key": "b", "job_cluster_key": "c"},
                {"task_key": "c", "for_each_task": {"task": {"task_key": "i", "existing_cluster_id": "inner"}}},
            ],
        }));
        assert_eq!(
            existing_cluster_ids(&settings),
            ["top", "a-cluster", "inner"]
        );
    }

    #[test]
    fn a_missing_cluster_is_refused_and_an_existing_one_accepted() {
        let db = Db::default();
        let settings =
            obj(json!({"tasks": [{"task_key": "a", "existing_cluster_id": "0101-000000-gone"}]}));
        let error = check_cluster_references(&db, &settings).expect_err("refused");
        assert_eq!(error.message, "Cluster 0101-000000-gone does not exist");
        assert_eq!(error.error_code, json!("INVALID_PARAMETER_VALUE"));
        assert!(check_cluster_references(&db, &obj(json!({"tasks": [{"task_key": "a"}]}))).is_ok());
    }
}
