//! Property: a model written back to YAML (or HCL) and loaded again is the same model.

use proptest::prelude::*;
use serde_json::{Value, json};
use tandem::config::{self, LoadOptions, emit};
use tandem::model::{Kind, Resources};

use super::harness::{PAIR_ENV, TestRepo};

/// Text with YAML- and HCL-hostile characters (quotes, colons, hashes, newlines, `%{`, unicode),
/// but no `${`, which would be a reference.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 _:#'\"\\\\./,&*!|>%{}\\[\\]@-]{0,24}",
        Just("yes".to_string()),
        Just("null".to_string()),
        Just("0123".to_string()),
        Just("1.5".to_string()),
        Just("line one\nline two".to_string()),
        Just("ünïcödé ✓".to_string()),
        Just("$${escaped}".to_string()),
        Just(" leading and trailing ".to_string()),
    ]
}

fn job() -> impl Strategy<Value = Value> {
    (
        text(),
        0..=1000i64,
        prop::collection::btree_map("[a-z][a-z0-9_]{0,8}", text(), 0..4),
        1..4usize,
        prop::option::of(prop::sample::select(vec!["PAUSED", "UNPAUSED"])),
        any::<bool>(),
        prop::option::of((0..5u32, prop::sample::select(vec!["owner_only", "all"]))),
    )
        .prop_map(|(name, runs, tags, tasks, pause, owner, passive)| {
            let tasks: Vec<Value> = (0..tasks)
                .map(|t| {
                    let mut task = json!({"task_key": format!("t{t}"), "notebook_task": {"notebook_path": format!("/n/{t}"), "base_parameters": {"p": format!("v{t}")}}, "existing_cluster_id": "${resources.clusters.c.id}"});
                    if t > 0 {
                        task["depends_on"] = json!([{"task_key": format!("t{}", t - 1)}]);
                    }
                    task
                })
                .collect();
            let mut job = json!({"name": name, "max_concurrent_runs": runs, "tags": tags, "tasks": tasks,
                "permissions": [{"group_name": "g", "level": "CAN_VIEW"}]});
            if let Some(p) = pause {
                job["schedule"] = json!({"quartz_cron_expression": "0 0 * * * ?", "timezone_id": "UTC", "pause_status": p});
            }
            if owner {
                job["permissions"].as_array_mut().expect("list").push(json!({"user_name": "u@example.com", "level": "IS_OWNER"}));
            }
            if let Some((runs, perms)) = passive {
                job["passive"] = json!({"max_concurrent_runs": runs, "permissions": perms});
            }
            job
        })
}

fn resources() -> impl Strategy<Value = Resources> {
    (
        prop::collection::vec(job(), 0..3),
        text(),
        prop::collection::btree_map("spark\\.[a-z]{1,6}(\\.[a-z]{1,4})?", text(), 0..3),
        0..20i64,
        any::<bool>(),
        text(),
    )
        .prop_map(|(jobs, cluster_name, spark_conf, workers, start, pool_tag)| {
            let mut r = Resources::default();
            for (i, job) in jobs.into_iter().enumerate() {
                r.insert_json(Kind::Jobs, format!("job_{i}"), job).expect("job");
            }
            r.insert_json(Kind::Clusters, "c".into(), json!({"cluster_name": cluster_name, "spark_version": "15.4.x-scala2.12", "num_workers": workers, "spark_conf": spark_conf, "start_on_promote": start, "instance_pool_id": "${resources.instance_pools.p.id}"})).expect("cluster");
            r.insert_json(Kind::InstancePools, "p".into(), json!({"instance_pool_name": "pool", "node_type_id": "n1", "min_idle_instances": workers, "custom_tags": {"t": pool_tag}, "passive": {"min_idle_instances": 1}})).expect("pool");
            r.insert_json(Kind::SecretScopes, "s".into(), json!({"name": "scope", "secrets": {"a": {"env": "A"}, "b.c": {"primary": {"file": "/run/x"}, "secondary": {"env": "B"}}}, "acls": [{"principal": "g", "permission": "READ"}], "placement": "active_only"})).expect("scope");
            r
        })
}

fn load(file: &str, text: &str) -> Result<Resources, String> {
    let repo = TestRepo::with_env(PAIR_ENV).file(file, text);
    config::load(&LoadOptions {
        root: repo.path().to_path_buf(),
        env: "test".into(),
        git_ref: None,
        env_from: None,
    })
    .map(|c| c.resources)
    .map_err(|e| match e {
        config::ConfigError::Invalid(p) => format!("{}\n--- file ---\n{text}", p.render(false)),
        other => other.to_string(),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn yaml_roundtrip_preserves_the_model(model in resources()) {
        let text = emit::to_yaml(&model).expect("yaml");
        let loaded = load("resources/r.yaml", &text).map_err(TestCaseError::fail)?;
        prop_assert_eq!(loaded, model);
    }

    #[test]
    fn hcl_roundtrip_preserves_the_model(model in resources()) {
        let text = emit::to_hcl(&model).expect("hcl");
        let loaded = load("resources/r.hcl", &text).map_err(TestCaseError::fail)?;
        prop_assert_eq!(loaded, model);
    }
}
