//! `tandem validate` as users run it.

use super::harness::{PAIR_ENV, TestRepo, project_root};

#[test]
fn the_examples_validate_with_a_one_line_summary() {
    let repo = TestRepo::new()
        .copy_from_project("examples")
        .copy_from_project("environments");
    let out = repo.tandem(&["-e", "local", "validate"]).success();
    insta::assert_snapshot!(out, @"ok · env local · 2 workspaces (primary active) · 7 jobs, 3 clusters, 2 pools, 2 secret scopes · config working tree");
}

#[test]
fn the_project_root_validates_as_the_readme_says() {
    let out = TestRepo::new()
        .tandem(&[
            "-C",
            project_root().to_str().expect("utf-8"),
            "-e",
            "local",
            "validate",
        ])
        .success();
    assert!(
        out.starts_with("ok · env local · 2 workspaces (primary active)"),
        "{out}"
    );
}

#[test]
fn json_output_resolves_variables_per_workspace_and_hides_secrets() {
    let env = format!(
        "{PAIR_ENV}variables:\n  root:\n    primary: abfss://east\n    secondary: abfss://west\n  runs: 3\n"
    );
    let repo = TestRepo::with_env(&env).file(
        "resources/r.yaml",
        "resources:\n  jobs:\n    etl:\n      name: etl-${workspace.name}-${workspace.role}\n      max_concurrent_runs: ${var.runs}\n      tasks:\n        - task_key: a\n          existing_cluster_id: ${resources.clusters.c.id}\n          notebook_task: {notebook_path: \"${var.root}/nb\"}\n  clusters:\n    c: {spark_version: 15.4.x-scala2.12, num_workers: 1}\n    report: {spark_version: 15.4.x-scala2.12, num_workers: 1, placement: active_only}\n  secret_scopes:\n    s:\n      name: s\n      secrets:\n        pw: {env: MY_PASSWORD}\n",
    );
    let out = repo
        .tandem(&["-e", "test", "validate", "--format", "json"])
        .success();
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["format_version"], 1);
    let primary = &doc["workspaces"][0];
    let secondary = &doc["workspaces"][1];
    assert_eq!(primary["role"], "active");
    assert_eq!(secondary["role"], "passive");
    assert_eq!(
        primary["resources"]["jobs"]["etl"]["name"],
        "etl-primary-active"
    );
    assert_eq!(
        secondary["resources"]["jobs"]["etl"]["name"],
        "etl-secondary-passive"
    );
    assert_eq!(
        primary["resources"]["jobs"]["etl"]["max_concurrent_runs"],
        3
    );
    let task = &secondary["resources"]["jobs"]["etl"]["tasks"][0];
    assert_eq!(task["notebook_task"]["notebook_path"], "abfss://west/nb");
    assert_eq!(task["existing_cluster_id"], "${resources.clusters.c.id}");
    assert!(primary["resources"]["clusters"]["report"].is_object());
    assert!(
        secondary["resources"]["clusters"]["report"].is_null(),
        "active_only stays off passive workspaces"
    );
    assert_eq!(
        primary["resources"]["secret_scopes"]["s"]["secrets"]["pw"],
        "(sensitive)"
    );
    assert!(!out.contains("MY_PASSWORD"));
}

#[test]
fn a_missing_environment_lists_the_ones_that_exist() {
    let repo = TestRepo::with_env(PAIR_ENV).file("environments/prod.yaml", PAIR_ENV);
    let err = repo.tandem(&["-e", "staging", "validate"]).failure();
    assert!(err.contains("environment `staging` not found"), "{err}");
    assert!(err.contains("environments here: prod, test"), "{err}");
}

#[test]
fn no_environment_is_a_clear_error() {
    let err = TestRepo::with_env(PAIR_ENV).tandem(&["validate"]).failure();
    assert!(err.contains("no environment given"), "{err}");
    assert!(err.contains("-e <env>"), "{err}");
}

#[test]
fn problems_go_to_stderr_with_exit_code_1_and_nothing_on_stdout() {
    let repo = TestRepo::with_env(PAIR_ENV).file(
        "resources/r.yaml",
        "resources:\n  jobs:\n    etl:\n      nmae: x\n",
    );
    let run = repo.tandem(&["-e", "test", "validate"]);
    let err = run.failure();
    assert_eq!(run.stdout(), "");
    assert!(err.contains("resources/r.yaml:4:7"), "{err}");
    assert!(err.contains("unknown field `nmae` in job `etl`"), "{err}");
    assert!(err.contains("did you mean `name`?"), "{err}");
    assert!(err.contains("error: 1 problem in 1 file"), "{err}");
}

#[test]
fn literal_secrets_and_tokens_never_reach_the_output() {
    let env = "workspaces:\n  primary:\n    host: https://adb-1.azuredatabricks.net\n    token_env: dapi11112222333344445555666677778888\n  secondary:\n    host: local:s\nactive: primary\n";
    let repo = TestRepo::with_env(env).file(
        "resources/r.yaml",
        "resources:\n  secret_scopes:\n    s:\n      name: s\n      secrets:\n        a: hunter2-very-secret\n        b: {primary: {env: X}, secondary: \"also-very-secret\"}\n        c: |\n          -----BEGIN KEY-----\n          multi-line-secret\n",
    );
    let run = repo.tandem(&["-e", "test", "validate"]);
    let err = run.failure();
    for secret in [
        "hunter2",
        "also-very-secret",
        "multi-line-secret",
        "dapi1111",
    ] {
        assert!(
            !err.contains(secret) && !run.stdout().contains(secret),
            "{secret} leaked:\n{err}"
        );
    }
    assert!(err.contains("secret `a` has a literal value"), "{err}");
    assert!(err.contains("secret `b` has a literal value"), "{err}");
    assert!(err.contains("secret `c` has a literal value"), "{err}");
    assert!(
        err.contains("`token_env` must name an environment variable"),
        "{err}"
    );
}

#[test]
fn a_missing_root_is_a_clear_error() {
    let run = TestRepo::new().tandem(&["-C", "/nonexistent/tandem-root", "-e", "x", "validate"]);
    let err = run.failure();
    assert!(err.contains("is not a directory"), "{err}");
}

#[test]
fn every_shipped_environment_validates() {
    let root = project_root();
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("environments")).expect("environments dir") {
        let path = entry.expect("entry").path();
        let Some(env) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let out = TestRepo::new()
            .tandem(&["-C", root.to_str().expect("utf-8"), "-e", env, "validate"])
            .success();
        assert!(out.starts_with(&format!("ok · env {env} · ")), "{out}");
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} environments");
}

#[cfg(unix)]
#[test]
fn a_closed_pipe_on_stdout_ends_tandem_quietly_not_with_a_panic() {
    use std::os::unix::process::ExitStatusExt as _;
    use std::process::Stdio;

    let repo = TestRepo::new()
        .copy_from_project("examples")
        .copy_from_project("environments");
    // The reading end is closed before tandem writes (`tandem validate | true`).
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tandem"))
        .arg("-C")
        .arg(repo.path())
        .args(["-e", "local", "validate"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tandem");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.signal(), Some(13), "SIGPIPE: {stderr}");
}
