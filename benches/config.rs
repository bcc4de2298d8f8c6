//! `cargo bench --bench config`: 10,000 resources in 1,000 files (half YAML, half HCL).
//!
//! Times `tandem validate` end to end (the release binary, process start to exit) and in-process
//! (`config::load`), against a bare parse of the same files (read + parse to an untyped tree, no
//! spans, no checks) as the baseline. Targets: validate < 1 s, validate ÷ bare parse ≤ 3.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tandem::config::{self, LoadOptions, emit};
use tandem::model::Resources;

const FILES: usize = 1_000;
const PER_FILE: usize = 10;
const RUNS: usize = 7;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    generate(dir.path());
    // TANDEM_BENCH_KEEP=<dir> keeps a copy of the generated repository for profiling.
    if let Some(keep) = std::env::var_os("TANDEM_BENCH_KEEP") {
        generate(Path::new(&keep));
    }
    let files = list(dir.path());
    assert_eq!(files.len(), FILES);

    let bare = median(|| bare_parse(&files));
    let options = LoadOptions {
        root: dir.path().to_path_buf(),
        env: "bench".into(),
        git_ref: None,
        env_from: None,
    };
    let in_process = median(|| {
        let config = config::load(&options).expect("generated config is valid");
        assert_eq!(
            config.resources.jobs.len()
                + config.resources.clusters.len()
                + config.resources.instance_pools.len()
                + config.resources.secret_scopes.len(),
            FILES * PER_FILE
        );
    });
    let binary = env!("CARGO_BIN_EXE_tandem");
    let end_to_end = median(|| {
        let out = std::process::Command::new(binary)
            .args([
                "-C",
                &dir.path().display().to_string(),
                "-e",
                "bench",
                "validate",
            ])
            .output()
            .expect("run tandem");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "config benchmark: {} resources in {} files (500 YAML, 500 HCL), median of {RUNS} runs",
        FILES * PER_FILE,
        FILES
    );
    println!(
        "  bare parse (read + parse, untyped, 1 thread)   {:>8.1} ms",
        ms(bare)
    );
    println!(
        "  validate in-process (config::load)              {:>8.1} ms",
        ms(in_process)
    );
    println!(
        "  validate end to end (tandem validate, release)  {:>8.1} ms",
        ms(end_to_end)
    );
    println!(
        "  validate ÷ bare parse                           {:>8.2}",
        ms(end_to_end) / ms(bare)
    );
    println!("  targets: validate < 1000 ms, ratio ≤ 3");
}

fn median(mut f: impl FnMut()) -> Duration {
    f(); // warm the page cache and lazily compiled schemas
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn bare_parse(files: &[std::path::PathBuf]) {
    let mut values = 0usize;
    for path in files {
        let text = std::fs::read_to_string(path).expect("read");
        if path.extension().is_some_and(|e| e == "hcl") {
            let body = hcl::parse(&text).expect("hcl parses");
            values += body.iter().count();
        } else {
            let value: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml parses");
            values += value.as_object().map_or(0, |o| o.len());
        }
    }
    assert!(values > 0);
}

fn list(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join("resources"))
        .expect("resources dir")
        .map(|e| e.expect("entry").path())
        .collect();
    out.sort();
    out
}

/// Writes the environment and 1,000 resource files of 10 resources each: per file 6 jobs (some
/// multi-task, on a cluster of the same file), 2 clusters (one on a pool), 1 pool, 1 secret scope.
fn generate(root: &Path) {
    std::fs::create_dir_all(root.join("environments")).expect("mkdir");
    std::fs::create_dir_all(root.join("resources")).expect("mkdir");
    std::fs::write(
        root.join("environments/bench.yaml"),
        "workspaces:\n  primary: {host: local:primary}\n  secondary: {host: local:secondary}\nactive: primary\nvariables:\n  root: {primary: abfss://a, secondary: abfss://b}\n  team: data\n",
    )
    .expect("write env");
    for f in 0..FILES {
        let mut resources = Resources::default();
        let perms = |owner: bool| {
            let mut p = vec![
                json!({"group_name": "data-eng", "level": if owner { "CAN_MANAGE_RUN" } else { "CAN_ATTACH_TO" }}),
            ];
            if owner {
                p.push(json!({"user_name": "etl-bot@example.com", "level": "IS_OWNER"}));
            }
            p
        };
        let pool = format!("pool_{f}");
        resources
            .insert_json(tandem::model::Kind::InstancePools, pool.clone(), json!({
                "instance_pool_name": format!("pool-{f}"), "node_type_id": "Standard_DS3_v2",
                "min_idle_instances": 1, "idle_instance_autotermination_minutes": 30,
                "custom_tags": {"team": "${var.team}"}, "permissions": [{"group_name": "data-eng", "level": "CAN_ATTACH_TO"}]
            }))
            .expect("pool");
        for c in 0..2 {
            let mut spec = json!({
                "cluster_name": format!("cluster-{f}-{c}"), "spark_version": "15.4.x-scala2.12",
                "autotermination_minutes": 60, "spark_conf": {"spark.speculation": "true"},
                "custom_tags": {"team": "data"}, "permissions": perms(false)
            });
            if c == 0 {
                spec["instance_pool_id"] =
                    json!(format!("${{resources.instance_pools.{pool}.id}}"));
                spec["num_workers"] = json!(2);
            } else {
                spec["node_type_id"] = json!("Standard_DS3_v2");
                spec["autoscale"] = json!({"min_workers": 1, "max_workers": 4});
                spec["start_on_promote"] = json!(true);
            }
            resources
                .insert_json(
                    tandem::model::Kind::Clusters,
                    format!("cluster_{f}_{c}"),
                    spec,
                )
                .expect("cluster");
        }
        for j in 0..6 {
            let tasks: Vec<_> = (0..(1 + j % 3))
                .map(|t| {
                    let mut task = json!({
                        "task_key": format!("t{t}"),
                        "existing_cluster_id": format!("${{resources.clusters.cluster_{f}_1.id}}"),
                        "notebook_task": {"notebook_path": format!("/Repos/etl/job_{j}/step_{t}"), "base_parameters": {"root": "${var.root}"}},
                        "timeout_seconds": 3600
                    });
                    if t > 0 {
                        task["depends_on"] = json!([{"task_key": format!("t{}", t - 1)}]);
                    }
                    task
                })
                .collect();
            resources
                .insert_json(tandem::model::Kind::Jobs, format!("job_{f}_{j}"), json!({
                    "name": format!("Job {f}.{j}"), "max_concurrent_runs": 1,
                    "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"},
                    "tags": {"team": "data", "tier": "gold"},
                    "email_notifications": {"on_failure": ["oncall@example.com"]},
                    "tasks": tasks, "permissions": perms(true)
                }))
                .expect("job");
        }
        resources
            .insert_json(tandem::model::Kind::SecretScopes, format!("scope_{f}"), json!({
                "name": format!("scope-{f}"),
                "secrets": {"password": {"env": "DB_PASSWORD"}, "api_key": {"primary": {"env": "KEY_EAST"}, "secondary": {"env": "KEY_WEST"}}},
                "acls": [{"principal": "data-eng", "permission": "READ"}]
            }))
            .expect("scope");
        let (name, text) = if f % 2 == 0 {
            (
                format!("r{f:04}.yaml"),
                emit::to_yaml(&resources).expect("yaml"),
            )
        } else {
            (
                format!("r{f:04}.hcl"),
                emit::to_hcl(&resources).expect("hcl"),
            )
        };
        std::fs::write(root.join("resources").join(name), text).expect("write");
    }
}
