//! The example GitHub workflows (examples/ci/github-actions/) and the release workflow keep the
//! promises their README makes: actions pinned by commit, every secret source of the examples
//! passed to apply and promote from a GitHub environment's secrets only, one concurrency group
//! per environment for apply and promote, one read of the workspaces per pull request. actionlint
//! (run by .ci/lint/run) checks that they are valid workflows; the scripts they run are tested
//! in ci_scripts.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use tandem::config::{self, LoadOptions};
use tandem::model::{SecretSource, ValueSource};

use super::harness::project_root;

const EXAMPLES: &str = "examples/ci/github-actions";

/// Every workflow file: the examples and the repository's own.
fn workflow_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [EXAMPLES, ".github/workflows"] {
        for entry in std::fs::read_dir(project_root().join(dir)).expect("workflow dir") {
            let path = entry.expect("dir entry").path();
            if path.extension().is_some_and(|e| e == "yml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn text(rel: &str) -> String {
    std::fs::read_to_string(project_root().join(rel)).expect("readable file")
}

fn workflow(name: &str) -> Value {
    serde_saphyr::from_str(&text(&format!("{EXAMPLES}/{name}"))).expect("valid YAML")
}

/// The one job of an example workflow.
fn only_job(workflow: &Value) -> &Value {
    let jobs = workflow["jobs"].as_object().expect("jobs");
    assert_eq!(jobs.len(), 1, "one job per example workflow");
    jobs.values().next().expect("a job")
}

/// Every `env:` entry of a job's steps, with its value.
fn step_env(job: &Value) -> Vec<(String, String)> {
    job["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|step| step["env"].as_object())
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

/// The `{env: VAR}` and `{file: PATH}` secret sources of the example environment `prod`.
fn secret_sources() -> (BTreeSet<String>, BTreeSet<String>) {
    let options = LoadOptions {
        root: project_root(),
        env: "prod".into(),
        git_ref: None,
        env_from: None,
    };
    let config = config::load(&options).expect("environments/prod.yaml loads");
    let (mut vars, mut files) = (BTreeSet::new(), BTreeSet::new());
    for scope in config.resources.secret_scopes.values() {
        for source in scope.secrets.values() {
            let per_workspace: Vec<&ValueSource> = match source {
                SecretSource::Uniform(one) => vec![one],
                SecretSource::PerWorkspace(map) => map.values().collect(),
            };
            for value in per_workspace {
                match value {
                    ValueSource::Env(var) => vars.insert(var.clone()),
                    ValueSource::File(path) => files.insert(path.clone()),
                };
            }
        }
    }
    (vars, files)
}

#[test]
fn every_action_is_pinned_by_a_commit_sha_with_its_tag_in_a_comment() {
    let pinned = regex::Regex::new(
        r"^\s*(- )?uses: [A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40} # v\d+(\.\d+)*$",
    )
    .expect("regex");
    let files = workflow_files();
    assert!(files.len() >= 5, "workflows found: {files:?}");
    let mut uses = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable workflow");
        for line in text.lines().filter(|l| l.contains("uses:")) {
            assert!(
                pinned.is_match(line),
                "{}: not pinned: {line}",
                file.display()
            );
            uses += 1;
        }
        // Installing from the registry builds someone else's crate called `tandem`.
        assert!(
            !text.contains("cargo install --locked tandem"),
            "{}",
            file.display()
        );
        // Its JSON carries what the logs must not show.
        assert!(!text.contains("status --format json"), "{}", file.display());
    }
    assert!(uses >= 10, "only {uses} actions found");
}

#[test]
fn apply_and_promote_get_every_secret_source_from_their_github_environment() {
    let (vars, files) = secret_sources();
    assert!(vars.len() >= 10 && !files.is_empty(), "{vars:?} {files:?}");
    for (name, environment) in [("apply.yml", "tandem-apply"), ("promote.yml", "production")] {
        let workflow = workflow(name);
        let job = only_job(&workflow);
        assert_eq!(job["environment"], environment, "{name}");
        let env = step_env(job);
        for var in &vars {
            let expected = format!("${{{{ secrets.{var} }}}}");
            assert!(
                env.iter().any(|(k, v)| k == var && *v == expected),
                "{name} does not pass {var}: {expected}"
            );
        }
        let raw = text(&format!("{EXAMPLES}/{name}"));
        for file in &files {
            assert!(
                raw.contains(&format!("secret-file.sh {file} ")),
                "{name} does not write {file}"
            );
        }
    }
    // Pull requests and the drift check get no secret value, and no secret is read outside a
    // job that runs in a GitHub environment.
    for name in ["plan.yml", "drift.yml"] {
        let raw = text(&format!("{EXAMPLES}/{name}"));
        for var in &vars {
            assert!(!raw.contains(var.as_str()), "{name} names {var}");
        }
    }
    for name in ["plan.yml", "apply.yml", "promote.yml", "drift.yml"] {
        let workflow = workflow(name);
        let job = only_job(&workflow);
        let reads_secrets = serde_json::to_string(job)
            .expect("json")
            .contains("secrets.");
        assert!(
            !reads_secrets || job["environment"].is_string(),
            "{name} reads secrets outside a GitHub environment"
        );
    }
}

#[test]
fn apply_and_promote_share_one_never_cancelled_group_per_environment() {
    let apply = workflow("apply.yml");
    let promote = workflow("promote.yml");
    assert_eq!(apply["concurrency"]["group"], "tandem-prod");
    assert_eq!(
        promote["concurrency"]["group"],
        "tandem-${{ inputs.environment }}"
    );
    assert_eq!(
        promote["on"]["workflow_dispatch"]["inputs"]["environment"]["default"],
        "prod"
    );
    for workflow in [&apply, &promote] {
        assert_eq!(workflow["concurrency"]["cancel-in-progress"], false);
    }
    // The environment apply.yml applies is the one its group names.
    assert!(text(&format!("{EXAMPLES}/apply.yml")).contains("run: .github/tandem/apply.sh prod\n"));
}

#[test]
fn a_pull_request_is_planned_once_and_its_plan_is_what_apply_looks_for() {
    let workflow = workflow("plan.yml");
    let job = only_job(&workflow);
    let steps = job["steps"].as_array().expect("steps");
    let plan = steps
        .iter()
        .find(|s| s["id"] == "plan")
        .and_then(|s| s["run"].as_str())
        .expect("the Plan step");
    assert_eq!(plan.matches("plan --out").count(), 1, "{plan}");
    assert_eq!(plan.matches("--detailed-exitcode").count(), 1, "{plan}");
    assert!(plan.contains("tandem show \"$out/plan.json\" --format markdown"));
    assert!(plan.contains("tandem show \"$out/plan.json\" >"));
    // The artifact's name is the one scripts/apply.sh looks up for a merged pull request.
    let upload = steps
        .iter()
        .find(|s| s["name"] == "Upload the plan")
        .expect("the upload step");
    assert_eq!(
        upload["with"]["name"],
        "tandem-plan-pr${{ github.event.pull_request.number }}-${{ github.event.pull_request.head.sha }}"
    );
    assert!(
        text(&format!("{EXAMPLES}/scripts/apply.sh"))
            .contains("artifact=\"tandem-plan-pr${number}-${head}\"")
    );
    // The tandem every workflow installs is the same pinned release.
    let release = |name: &str| {
        let workflow = self::workflow(name);
        (
            workflow["env"]["TANDEM_VERSION"].clone(),
            workflow["env"]["TANDEM_REPOSITORY"].clone(),
            workflow["env"]["TANDEM_SHA256"].clone(),
        )
    };
    for name in ["apply.yml", "promote.yml", "drift.yml"] {
        assert_eq!(release(name), release("plan.yml"), "{name}");
    }
}
