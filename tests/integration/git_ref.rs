//! `--ref` reads the configuration from a commit without touching the work tree.

use super::harness::{PAIR_ENV, TestRepo};

const JOB_V1: &str =
    "resources:\n  jobs:\n    etl:\n      name: ETL v1\n      max_concurrent_runs: 1\n";
const JOB_V2: &str = "resources:\n  jobs:\n    etl:\n      name: ETL v2\n      max_concurrent_runs: 2\n    extra:\n      name: Extra\n";

#[test]
fn validate_at_head_1_sees_the_older_commit() {
    let repo = TestRepo::with_env(PAIR_ENV)
        .file("resources/jobs.yaml", JOB_V1)
        .git_init();
    let first = repo.commit("first");
    let repo = repo.file("resources/jobs.yaml", JOB_V2);
    let second = repo.commit("second");
    // The work tree moves on again, uncommitted.
    let repo = repo.file(
        "resources/more.yaml",
        "resources:\n  jobs:\n    third:\n      name: Third\n",
    );

    let old = repo
        .tandem(&["-e", "test", "--ref", "HEAD~1", "validate"])
        .success();
    assert!(old.contains("1 job,"), "{old}");
    assert!(old.contains(&format!("config {}", &first[..7])), "{old}");

    let head = repo
        .tandem(&["-e", "test", "--ref", "HEAD", "validate"])
        .success();
    assert!(head.contains("2 jobs,"), "{head}");
    assert!(head.contains(&format!("config {}", &second[..7])), "{head}");

    let work = repo.tandem(&["-e", "test", "validate"]).success();
    assert!(work.contains("3 jobs,"), "{work}");
    assert!(
        work.contains(&format!("config {}+dirty", &second[..7])),
        "{work}"
    );

    let json = repo
        .tandem(&[
            "-e", "test", "--ref", "HEAD~1", "validate", "--format", "json",
        ])
        .success();
    let doc: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(doc["config"]["sha"], first);
    assert_eq!(
        doc["workspaces"][0]["resources"]["jobs"]["etl"]["name"],
        "ETL v1"
    );
    // The work tree is untouched.
    let text = std::fs::read_to_string(repo.path().join("resources/jobs.yaml")).expect("read");
    assert_eq!(text, JOB_V2);
}

#[test]
fn a_clean_work_tree_reports_its_commit() {
    let repo = TestRepo::with_env(PAIR_ENV)
        .file("resources/jobs.yaml", JOB_V1)
        .git_init();
    let sha = repo.commit("only");
    let out = repo.tandem(&["-e", "test", "validate"]).success();
    assert!(out.ends_with(&format!("config {}\n", &sha[..7])), "{out}");
}

#[test]
fn a_ref_that_does_not_resolve_is_a_clear_error() {
    let repo = TestRepo::with_env(PAIR_ENV)
        .file("resources/jobs.yaml", JOB_V1)
        .git_init();
    repo.commit("only");
    let err = repo
        .tandem(&["-e", "test", "--ref", "no-such-branch", "validate"])
        .failure();
    assert!(
        err.contains("revision `no-such-branch` does not resolve to a commit"),
        "{err}"
    );
    assert!(err.contains("help:"), "{err}");
}

#[test]
fn ref_outside_a_repository_is_a_clear_error() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/jobs.yaml", JOB_V1);
    let err = repo
        .tandem(&["-e", "test", "--ref", "HEAD", "validate"])
        .failure();
    assert!(err.contains("is not inside a Git repository"), "{err}");
}

#[test]
fn files_only_in_the_old_commit_are_read_from_it() {
    let repo = TestRepo::with_env(PAIR_ENV)
        .file(
            "resources/old.hcl",
            "job \"legacy\" {\n  name = \"Legacy\"\n}\n",
        )
        .git_init();
    repo.commit("with hcl");
    std::fs::remove_file(repo.path().join("resources/old.hcl")).expect("rm");
    let repo = repo.file("resources/jobs.yaml", JOB_V1);
    repo.commit("hcl replaced by yaml");
    let json = repo
        .tandem(&[
            "-e", "test", "--ref", "HEAD~1", "validate", "--format", "json",
        ])
        .success();
    let doc: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(doc["files"], serde_json::json!(["resources/old.hcl"]));
    assert_eq!(
        doc["workspaces"][1]["resources"]["jobs"]["legacy"]["name"],
        "Legacy"
    );
}
