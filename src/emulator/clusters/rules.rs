//! What the service refuses in a cluster spec, and how an update mask edits one.

use serde_json::{Map, Value, json};

use super::catalog::Cloud;
use super::compute::check_compute;
use crate::emulator::policies::{self, ClusterType};
use crate::emulator::request::{check_custom_tags, missing, optional_int, required_str, str_field};
use crate::emulator::store::Db;
use crate::emulator::{ApiError, ApiResult};

/// Validates a size: exactly one of `num_workers` (≥ 0) and `autoscale` (max > min ≥ 0), unless
/// the cluster is a `kind: CLASSIC_PREVIEW` single-node one.
fn check_size(spec: &Map<String, Value>) -> ApiResult<()> {
    let has = |key: &str| spec.get(key).is_some_and(|v| !v.is_null());
    match (has("num_workers"), has("autoscale")) {
        (true, true) => Err(ApiError::invalid(
            "Only one of num_workers or autoscale may be specified",
        )),
        (false, false) if spec.get("is_single_node") == Some(&Value::Bool(true)) => Ok(()),
        (false, false) => Err(ApiError::invalid(
            "One of num_workers or autoscale must be specified",
        )),
        (true, false) => match optional_int(spec, "num_workers")? {
            Some(n) if n < 0 => Err(ApiError::invalid(format!(
                "num_workers must be non-negative, got {n}"
            ))),
            _ => Ok(()),
        },
        (false, true) => check_autoscale(spec.get("autoscale")),
    }
}

fn check_autoscale(autoscale: Option<&Value>) -> ApiResult<()> {
    let Some(autoscale) = autoscale.and_then(Value::as_object) else {
        return Err(ApiError::invalid(
            "autoscale must be an object with min_workers and max_workers",
        ));
    };
    let min =
        optional_int(autoscale, "min_workers")?.ok_or_else(|| missing("autoscale.min_workers"))?;
    let max =
        optional_int(autoscale, "max_workers")?.ok_or_else(|| missing("autoscale.max_workers"))?;
    if min < 0 || max <= min {
        return Err(ApiError::invalid(format!(
            "Autoscale max_workers ({max}) must be greater than min_workers ({min}), and min_workers must be non-negative"
        )));
    }
    Ok(())
}

/// Validates a create/edit spec against the rules the service enforces, after filling in what
/// its policy fixes.
pub(super) fn check_spec(cloud: Cloud, db: &Db, spec: &mut Map<String, Value>) -> ApiResult<()> {
    policies::enforce(db, spec, ClusterType::AllPurpose, true)?;
    required_str(spec, "spark_version")?;
    check_compute(cloud, spec)?;
    check_size(spec)?;
    check_custom_tags(spec)?;
    if let Some(minutes) = optional_int(spec, "autotermination_minutes")?
        && minutes != 0
        && !(10..=10_000).contains(&minutes)
    {
        return Err(ApiError::invalid(format!(
            "Invalid autotermination_minutes {minutes}: it must be 0 (never) or between 10 and 10000"
        )));
    }
    if spec
        .get("ssh_public_keys")
        .and_then(Value::as_array)
        .is_some_and(|keys| keys.len() > 10)
    {
        return Err(ApiError::invalid(
            "ssh_public_keys may have at most 10 entries",
        ));
    }
    for key in ["instance_pool_id", "driver_instance_pool_id"] {
        if let Some(pool) = str_field(spec, key)
            && !db.pools.contains_key(pool)
        {
            return Err(ApiError::invalid(format!(
                "Instance pool {pool} does not exist"
            )));
        }
    }
    // Node types come from the pool, or from the policy (policies are not emulated).
    if str_field(spec, "instance_pool_id").is_none() && str_field(spec, "policy_id").is_none() {
        required_str(spec, "node_type_id")?;
    }
    Ok(())
}

/// A resize body's new size, validated: `{num_workers}` or `{autoscale}`.
pub(super) fn requested_size(body: &Map<String, Value>) -> ApiResult<Map<String, Value>> {
    let size: Map<String, Value> = ["num_workers", "autoscale"]
        .into_iter()
        .filter_map(|k| {
            body.get(k)
                .filter(|v| !v.is_null())
                .map(|v| (k.to_string(), v.clone()))
        })
        .collect();
    check_size(&size)?;
    Ok(size)
}

/// `spec` with the fields named by `mask` (`a,b.c`; `*` for all) taken from `changes`; a named
/// field missing from `changes` is removed.
pub(super) fn masked(
    mut spec: Map<String, Value>,
    changes: &Map<String, Value>,
    mask: &str,
) -> Map<String, Value> {
    if mask.trim() == "*" {
        return changes.clone();
    }
    for path in mask.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        set_path(&mut spec, path, lookup(changes, path).cloned());
    }
    spec
}

/// The value at a dotted `path` (`custom_tags.team`) of a spec.
pub(crate) fn lookup<'a>(map: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let (head, rest) = path.split_once('.').unwrap_or((path, ""));
    let value = map.get(head)?;
    if rest.is_empty() {
        Some(value)
    } else {
        lookup(value.as_object()?, rest)
    }
}

/// Sets (or with `None` removes) the value at a dotted `path` of a spec, creating objects on the way.
pub(crate) fn set_path(map: &mut Map<String, Value>, path: &str, value: Option<Value>) {
    match path.split_once('.') {
        None => {
            match value {
                Some(v) => map.insert(path.to_string(), v),
                None => map.shift_remove(path),
            };
        }
        Some((head, rest)) => {
            let child = map.entry(head).or_insert_with(|| json!({}));
            if !child.is_object() {
                *child = json!({});
            }
            if let Some(child) = child.as_object_mut() {
                set_path(child, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::cluster_lifecycle::tests::spec;

    #[test]
    fn spec_validation() {
        let db = Db::default();
        let ok = json!({"spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2", "num_workers": 0});
        check_spec(Cloud::Azure, &db, &mut spec(ok.clone())).unwrap();
        let bad = |patch: Value| {
            let mut s = spec(ok.clone());
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    s.remove(k);
                } else {
                    s.insert(k.clone(), v.clone());
                }
            }
            check_spec(Cloud::Azure, &db, &mut s).unwrap_err().message
        };
        assert!(bad(json!({"spark_version": null})).contains("spark_version"));
        assert!(bad(json!({"node_type_id": null})).contains("node_type_id"));
        assert!(
            bad(json!({"autoscale": {"min_workers": 1, "max_workers": 3}})).contains("Only one")
        );
        assert!(bad(json!({"num_workers": null})).contains("One of"));
        assert!(
            bad(json!({"num_workers": null, "autoscale": {"min_workers": 2, "max_workers": 2}}))
                .contains("greater")
        );
        assert!(bad(json!({"autotermination_minutes": 5})).contains("autotermination"));
        assert!(
            bad(json!({"instance_pool_id": "nope", "node_type_id": null}))
                .contains("does not exist")
        );
        assert!(bad(json!({"instance_pool_id": "nope"})).contains("cannot be supplied"));
        assert!(bad(json!({"node_type_id": "i3.xlarge"})).contains("not supported"));
        assert!(
            bad(json!({"spark_version": "15.4.x-scala2.11"})).contains("Invalid spark version")
        );
        assert!(bad(json!({"policy_id": "NOPE"})).contains("cluster policy"));
        let tags: Map<String, Value> = (0..46).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(bad(json!({"custom_tags": tags})).contains("45"));
        for minutes in [0, 10, 10_000] {
            let mut s = spec(ok.clone());
            s.insert("autotermination_minutes".into(), json!(minutes));
            check_spec(Cloud::Azure, &db, &mut s).unwrap();
        }
    }

    #[test]
    fn update_mask_replaces_named_fields() {
        let current = spec(
            json!({"spark_version": "15", "num_workers": 2, "spark_conf": {"a": "1", "b": "2"}}),
        );
        let changes = spec(json!({"num_workers": 4, "spark_conf": {"a": "9"}}));
        let out = masked(
            current.clone(),
            &changes,
            "num_workers, spark_conf.a, spark_conf.b",
        );
        assert_eq!(
            out,
            spec(json!({"spark_version": "15", "num_workers": 4, "spark_conf": {"a": "9"}}))
        );
        assert_eq!(masked(current, &changes, "*"), changes);
    }
}
