//! `cargo bench --bench config`: 10,000 resources in 1,000 files (half YAML, half HCL).
//!
//! Times `tandem validate` end to end (the release binary, process start to exit) and in-process
//! (`config::load`), against a bare parse of the same files (read + parse to an untyped tree, no
//! spans, no checks) as the baseline. Targets: validate < 1 s, validate ÷ bare parse ≤ 3.
//!
//! Then one big file of each format (~30 MB, under the 32 MiB cap; the same resources as the
//! small files, many times over): parsing must be linear in the file's size, so its time per byte
//! is printed next to the small files'. Parsing (tandem's parser, one thread) is compared on
//! equal terms; `config::load` of the big file runs its parse on one core where the small files
//! spread over every core, so that ratio also shows the machine's parallelism. A parse ratio a
//! little above 1 is the memory hierarchy (a 30 MB tree does not stay in cache; hcl-edit alone
//! goes from ~40 to ~80 ns/B between a 7 KB and a 2 MB file, then stays flat); quadratic work
//! shows as a ratio growing with the file (before the fix: 78 ns/B at 2 MB, 230 ns/B at 30 MB).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tandem::config::node::FileId;
use tandem::config::source::SourceFile;
use tandem::config::{self, LoadOptions, emit};
use tandem::model::Resources;

const FILES: usize = 1_000;
const PER_FILE: usize = 10;
const RUNS: usize = 7;
/// Runs for the big-file cases (each takes seconds).
const BIG_RUNS: usize = 3;
/// The size the big files are grown to: under the cap, large enough to expose quadratic work.
const BIG_BYTES: usize = 30 * 1000 * 1000;

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

    big_files(&files, in_process);
}

/// One big HCL and one big YAML file against the 1,000 small files, per byte.
fn big_files(small: &[std::path::PathBuf], small_load: Duration) {
    let ns_per_byte = |d: Duration, bytes: usize| d.as_secs_f64() * 1e9 / bytes as f64;
    let texts: Vec<(String, String)> = small
        .iter()
        .map(|p| {
            (
                p.file_name().expect("name").to_string_lossy().into_owned(),
                std::fs::read_to_string(p).expect("read"),
            )
        })
        .collect();
    let small_bytes: usize = texts.iter().map(|(_, t)| t.len()).sum();
    let per_format = |ext: &str| -> (Duration, usize) {
        let mine: Vec<SourceFile> = texts
            .iter()
            .filter(|(name, _)| name.ends_with(ext))
            .map(|(name, text)| SourceFile::new(name.clone(), Arc::from(text.as_str())))
            .collect();
        let bytes = mine.iter().map(|f| f.text.len()).sum();
        let time = median_of(RUNS, || {
            for file in &mine {
                parse_one(file);
            }
        });
        (time, bytes)
    };

    println!(
        "one big file vs the {FILES} small files ({:.1} MB), per byte (median of {BIG_RUNS} runs for big files):",
        small_bytes as f64 / 1e6
    );
    println!(
        "  validate in-process, {FILES} small files           {:>8.1} ns/B",
        ns_per_byte(small_load, small_bytes)
    );
    for (format, ext) in [("HCL", ".hcl"), ("YAML", ".yaml")] {
        let (small_parse, small_format_bytes) = per_format(ext);
        let dir = tempfile::tempdir().expect("temp dir");
        let big = generate_big(dir.path(), ext, small_bytes / FILES);
        let text = std::fs::read_to_string(&big).expect("read big file");
        let bytes = text.len();
        let file = SourceFile::new(
            big.file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned(),
            Arc::from(text.as_str()),
        );
        let big_parse = median_of(BIG_RUNS, || parse_one(&file));
        let options = LoadOptions {
            root: dir.path().to_path_buf(),
            env: "bench".into(),
            git_ref: None,
            env_from: None,
        };
        let big_load = median_of(BIG_RUNS, || {
            config::load(&options).expect("the big file is valid");
        });
        let (small_ns, big_ns) = (
            ns_per_byte(small_parse, small_format_bytes),
            ns_per_byte(big_parse, bytes),
        );
        println!(
            "  {format:<4} parse (tandem's parser, 1 thread): 500 small files {small_ns:>6.1} ns/B · one {:.1} MB file {big_ns:>6.1} ns/B · ratio {:.2}",
            bytes as f64 / 1e6,
            big_ns / small_ns
        );
        println!(
            "  {format:<4} validate in-process, one {:.1} MB file      {:>8.1} ns/B ({:.2} s)",
            bytes as f64 / 1e6,
            ns_per_byte(big_load, bytes),
            big_load.as_secs_f64()
        );
    }
    println!("  target: one big file within the small files' time per byte (parse ratio ≈ 1)");
}

/// Parses one file with tandem's own parser (spans, conversion to nodes), as `config::load` does.
fn parse_one(file: &SourceFile) {
    let parsed = if file.path.ends_with(".hcl") {
        config::hcl::parse(FileId(0), file).map_err(|p| p.len())
    } else {
        config::yaml::parse(FileId(0), file).map_err(|_| 1)
    };
    assert!(parsed.is_ok(), "{} does not parse", file.path);
}

/// Writes a repository holding one resource file (`ext`) of just under [`BIG_BYTES`]: the small
/// files' resources, as many times over as fit (`per_file`: their average size).
fn generate_big(root: &Path, ext: &str, per_file: usize) -> std::path::PathBuf {
    std::fs::create_dir_all(root.join("environments")).expect("mkdir");
    std::fs::create_dir_all(root.join("resources")).expect("mkdir");
    std::fs::write(root.join("environments/bench.yaml"), ENVIRONMENT).expect("write env");
    let emit = |resources: &Resources| {
        if ext == ".hcl" {
            emit::to_hcl(resources).expect("hcl")
        } else {
            emit::to_yaml(resources).expect("yaml")
        }
    };
    let mut copies = BIG_BYTES / per_file.max(1);
    loop {
        let mut resources = Resources::default();
        for f in 0..copies {
            add_file(&mut resources, f);
        }
        let text = emit(&resources);
        if text.len() <= BIG_BYTES || copies < 2 {
            let path = root.join(format!("resources/big{ext}"));
            std::fs::write(&path, text).expect("write");
            return path;
        }
        copies = copies * BIG_BYTES / text.len() * 99 / 100;
    }
}

fn median(f: impl FnMut()) -> Duration {
    median_of(RUNS, f)
}

fn median_of(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm the page cache and lazily compiled schemas
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
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

/// The environment file every generated repository uses.
const ENVIRONMENT: &str = "workspaces:\n  primary: {host: local:primary}\n  secondary: {host: local:secondary}\nactive: primary\nvariables:\n  root: {primary: abfss://a, secondary: abfss://b}\n  team: data\n";

/// Writes the environment and 1,000 resource files of 10 resources each (see [`add_file`]).
fn generate(root: &Path) {
    std::fs::create_dir_all(root.join("environments")).expect("mkdir");
    std::fs::create_dir_all(root.join("resources")).expect("mkdir");
    std::fs::write(root.join("environments/bench.yaml"), ENVIRONMENT).expect("write env");
    for f in 0..FILES {
        let mut resources = Resources::default();
        add_file(&mut resources, f);
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

/// Adds file `f`'s 10 resources: 6 jobs (some multi-task, on a cluster of the same file), 2
/// clusters (one on a pool), 1 pool, 1 secret scope.
fn add_file(resources: &mut Resources, f: usize) {
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
            spec["instance_pool_id"] = json!(format!("${{resources.instance_pools.{pool}.id}}"));
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
}
