//! The shell scripts the example workflows run (examples/ci/github-actions/scripts/) and the
//! release's packing script, run for real with bash against a fake `tandem` and a fake `gh` on
//! the PATH. The fake gh answers API calls from canned JSON and applies the script's `--jq`
//! filter with the real jq, so the filters are tested too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::harness::project_root;

const SCRIPTS: &str = "examples/ci/github-actions/scripts";

/// A fake `tandem`: logs its arguments (and a GitHub token it should not have been given), then
/// acts by the FAKE_* variables.
const FAKE_TANDEM: &str = r#"#!/usr/bin/env bash
echo "tandem $*" >> "$FAKE_LOG"
if [[ -n "${GH_TOKEN:-}" ]]; then echo "GH_TOKEN leaked to tandem" >> "$FAKE_LOG"; fi
dir=.
while [[ $# -gt 0 ]]; do
  case "$1" in -C) dir="$2"; shift 2 ;; -e) shift 2 ;; *) break ;; esac
done
command="$1"; shift
case "$command" in
  --version) echo "tandem ${FAKE_VERSION:-0.0.0}" ;;
  drift) printf '%s\n' "${FAKE_DRIFT_REPORT:-}"; exit "${FAKE_DRIFT_RC:-0}" ;;
  apply)
    if [[ "$1" == *.json ]]; then
      [[ "$(cat "$1")" == "$FAKE_PLAN" ]] || { echo "not the reviewed plan" >&2; exit 3; }
      if [[ "${FAKE_APPLY_PLAN_RC:-0}" != 0 ]]; then echo "Error: the saved plan is stale" >&2; fi
      exit "${FAKE_APPLY_PLAN_RC:-0}"
    fi
    echo "applied main"; exit "${FAKE_APPLY_RC:-0}" ;;
  promote)
    if [[ " $* " != *" --dry-run "* ]]; then
      sed -i "s/^active: .*/active: $1/" "$dir/environments/prod.yaml"
      git -C "$dir" commit -qam "promote $1"
    fi
    echo "promoted $1" ;;
esac
"#;

/// A fake `gh`: logs its arguments; `api PATH` answers from $FAKE_DIR/api/<PATH with every other
/// character as _>, `issue list` from $FAKE_ISSUES, both through `jq -r` with the `--jq` filter;
/// `run download` writes $FAKE_PLAN; a `--body-file` is kept as $FAKE_DIR/body.md.
const FAKE_GH: &str = r#"#!/usr/bin/env bash
echo "gh $*" >> "$FAKE_LOG"
if [[ "${GH_TOKEN:-}" != ghs_fake ]]; then echo "GH_TOKEN not given to gh" >> "$FAKE_LOG"; fi
filter=. body= dir=
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --jq) filter="$2"; shift 2 ;;
    --body-file) body="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [[ -n "$body" ]]; then cp "$body" "$FAKE_DIR/body.md"; fi
case "${args[0]} ${args[1]}" in
  "api "*)
    answer="$FAKE_DIR/api/$(printf '%s' "${args[1]}" | tr -c 'A-Za-z0-9' '_')"
    [[ -f "$answer" ]] || { echo "gh: HTTP 404 (${args[1]})" >&2; exit 1; }
    jq -r "$filter" < "$answer" ;;
  "issue list") jq -r "$filter" <<< "${FAKE_ISSUES:-[]}" ;;
  "run download") mkdir -p "$dir"; if [[ -n "${FAKE_PLAN:-}" ]]; then printf '%s' "$FAKE_PLAN" > "$dir/plan.json"; fi ;;
esac
"#;

/// A temporary directory with fake `tandem` and `gh` on the PATH, and the log they write.
struct Bench {
    dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Self {
        let bench = Bench {
            dir: tempfile::tempdir().expect("temp dir"),
        };
        bench.executable("bin/tandem", FAKE_TANDEM);
        bench.executable("bin/gh", FAKE_GH);
        std::fs::create_dir_all(bench.path("api")).expect("api dir");
        std::fs::create_dir_all(bench.path("runner")).expect("runner temp");
        bench
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, contents: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        std::fs::write(path, contents).expect("write");
    }

    fn executable(&self, rel: &str, contents: &str) {
        use std::os::unix::fs::PermissionsExt;
        self.write(rel, contents);
        std::fs::set_permissions(self.path(rel), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }

    /// A canned answer of the fake gh for `gh api PATH`.
    fn api(&self, api_path: &str, json: &str) {
        let name: String = api_path
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        self.write(&format!("api/{name}"), json);
    }

    /// A file the scripts or the fakes wrote ("" if none).
    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    /// What the fakes were asked, one call a line.
    fn log(&self) -> String {
        self.read("log")
    }

    /// The GitHub token went to gh, and never to tandem.
    fn assert_token_only_for_gh(&self) {
        let log = self.log();
        assert!(log.contains("gh "), "{log}");
        assert!(!log.contains("GH_TOKEN leaked to tandem"), "{log}");
        assert!(!log.contains("GH_TOKEN not given to gh"), "{log}");
    }

    /// Runs `script` with bash in `cwd`, a clean environment plus `envs`, the fakes first on
    /// the PATH.
    fn run(&self, script: &Path, args: &[&str], cwd: &Path, envs: &[(&str, &str)]) -> Output {
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new("bash")
            .arg(script)
            .args(args)
            .current_dir(cwd)
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "On Call")
            .env("GIT_AUTHOR_EMAIL", "oncall@example.com")
            .env("GIT_COMMITTER_NAME", "On Call")
            .env("GIT_COMMITTER_EMAIL", "oncall@example.com")
            .env("RUNNER_TEMP", self.path("runner"))
            .env("FAKE_LOG", self.path("log"))
            .env("FAKE_DIR", self.dir.path())
            .env("GITHUB_REPOSITORY", "acme/config")
            .env("GH_TOKEN", "ghs_fake")
            .envs(envs.iter().copied())
            .output()
            .expect("bash runs")
    }

    fn script(&self, name: &str, args: &[&str], envs: &[(&str, &str)]) -> Output {
        self.run(
            &project_root().join(SCRIPTS).join(name),
            args,
            self.dir.path(),
            envs,
        )
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn all(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn sha256(path: &Path) -> String {
    let output = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    stdout(&output)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

// ---- install-tandem.sh, with archives made by the release's package-release.sh ----

/// The release target install-tandem.sh picks on this machine.
fn this_target() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "aarch64") => "aarch64-unknown-linux-musl",
        ("macos", "x86_64") => "x86_64-apple-darwin",
        ("macos", "aarch64") => "aarch64-apple-darwin",
        _ => "x86_64-unknown-linux-musl",
    }
}

/// Packs a stand-in binary answering `--version` with `says` as release 1.2.3 under
/// `releases/v1.2.3/`; returns the archive.
fn release(bench: &Bench, says: &str) -> PathBuf {
    bench.executable(
        "build/tandem",
        &format!("#!/bin/sh\necho 'tandem {says}'\n"),
    );
    let output = bench.run(
        &project_root().join(".github/scripts/package-release.sh"),
        &[
            "v1.2.3",
            this_target(),
            &bench.path("build/tandem").display().to_string(),
            &bench.path("releases/v1.2.3").display().to_string(),
        ],
        bench.dir.path(),
        &[],
    );
    assert!(output.status.success(), "{}", all(&output));
    bench.path(&format!(
        "releases/v1.2.3/tandem-1.2.3-{}.tar.gz",
        this_target()
    ))
}

fn install(bench: &Bench, pinned: &str) -> Output {
    let releases = format!("file://{}", bench.path("releases").display());
    let installed = bench.path("installed").display().to_string();
    let github_path = bench.path("github_path").display().to_string();
    bench.script(
        "install-tandem.sh",
        &[],
        &[
            ("TANDEM_VERSION", "1.2.3"),
            ("TANDEM_REPOSITORY", "acme/tandem"),
            ("TANDEM_RELEASES_URL", &releases),
            ("TANDEM_INSTALL_DIR", &installed),
            ("TANDEM_SHA256", pinned),
            ("GITHUB_PATH", &github_path),
        ],
    )
}

#[test]
fn install_puts_a_released_and_checksum_checked_binary_on_the_path() {
    let bench = Bench::new();
    let archive = release(&bench, "1.2.3");
    let checksum = std::fs::read_to_string(archive.with_extension("gz.sha256")).expect("sha file");
    let digest = sha256(&archive);
    assert_eq!(
        checksum,
        format!("{digest}  tandem-1.2.3-{}.tar.gz\n", this_target())
    );

    let output = install(&bench, &digest);
    assert!(output.status.success(), "{}", all(&output));
    assert!(stdout(&output).contains(&format!("installed tandem 1.2.3 ({}", this_target())));
    let version = Command::new(bench.path("installed/tandem"))
        .arg("--version")
        .output()
        .expect("installed binary runs");
    assert_eq!(stdout(&version), "tandem 1.2.3\n");
    assert_eq!(
        bench.read("github_path"),
        format!("{}\n", bench.path("installed").display())
    );
    // Without a pin it still checks the release's checksum, and says the pin is missing.
    let unpinned = install(&bench, "");
    assert!(unpinned.status.success(), "{}", all(&unpinned));
    assert!(all(&unpinned).contains("::warning::install-tandem: TANDEM_SHA256 is not set"));
}

#[test]
fn install_refuses_an_archive_that_is_not_the_released_or_pinned_one() {
    let bench = Bench::new();
    let archive = release(&bench, "1.2.3");
    let released = sha256(&archive);

    let wrong_pin = install(&bench, &"0".repeat(64));
    assert!(!wrong_pin.status.success());
    assert!(
        all(&wrong_pin).contains("differs from the pinned TANDEM_SHA256"),
        "{}",
        all(&wrong_pin)
    );

    // Bytes changed after the release's checksum was written.
    let mut bytes = std::fs::read(&archive).expect("archive");
    bytes.push(0);
    std::fs::write(&archive, bytes).expect("tamper");
    let tampered = install(&bench, &released);
    assert!(!tampered.status.success());
    assert!(
        all(&tampered).contains("differs from the release's checksum"),
        "{}",
        all(&tampered)
    );
    assert!(!bench.path("installed/tandem").exists());
}

#[test]
fn install_refuses_a_binary_that_is_not_the_pinned_version() {
    let bench = Bench::new();
    let archive = release(&bench, "1.2.4");
    let output = install(&bench, &sha256(&archive));
    assert!(!output.status.success());
    assert!(
        all(&output).contains("installed binary says 'tandem 1.2.4', expected 'tandem 1.2.3'"),
        "{}",
        all(&output)
    );
}

// ---- drift.sh ----

const OPEN_ISSUES: &str = r#"[{"number": 3, "title": "tandem: drift in staging"},
  {"number": 7, "title": "tandem: drift in prod"}]"#;

fn drift(bench: &Bench, rc: &str, issues: &str) -> Output {
    let report = "## Drift\n- jobs.nightly_etl: paused → unpaused";
    drift_reporting(bench, rc, issues, report)
}

/// Runs drift.sh for `prod`; tandem exits `rc` after printing `report`, gh lists `issues`.
fn drift_reporting(bench: &Bench, rc: &str, issues: &str, report: &str) -> Output {
    bench.script(
        "drift.sh",
        &["prod"],
        &[
            ("FAKE_DRIFT_RC", rc),
            ("FAKE_DRIFT_REPORT", report),
            ("FAKE_ISSUES", issues),
            ("GITHUB_SERVER_URL", "https://github.example"),
            ("GITHUB_RUN_ID", "42"),
        ],
    )
}

#[test]
fn drift_opens_one_labelled_issue_with_the_report() {
    let bench = Bench::new();
    let output = drift(
        &bench,
        "2",
        r#"[{"number": 3, "title": "tandem: drift in staging"}]"#,
    );
    assert!(output.status.success(), "{}", all(&output));
    let log = bench.log();
    assert!(log.contains("tandem -C . -e prod drift --format markdown --detailed-exitcode"));
    assert!(log.contains("gh label create tandem-drift --repo acme/config"));
    assert!(log.contains(
        "gh issue create --repo acme/config --title tandem: drift in prod --label tandem-drift"
    ));
    assert!(!log.contains("gh issue edit"), "{log}");
    bench.assert_token_only_for_gh();
    let body = bench.read("body.md");
    assert!(body.contains("https://github.example/acme/config/actions/runs/42"));
    assert!(body.contains("- jobs.nightly_etl: paused → unpaused"));
}

#[test]
fn drift_updates_the_open_issue_of_its_environment() {
    let bench = Bench::new();
    let output = drift(&bench, "2", OPEN_ISSUES);
    assert!(output.status.success(), "{}", all(&output));
    let log = bench.log();
    assert!(log.contains("gh issue edit 7 --repo acme/config"), "{log}");
    assert!(
        !log.contains("gh issue create") && !log.contains("gh issue edit 3"),
        "{log}"
    );
    assert!(bench.read("body.md").contains("## Drift"));
}

#[test]
fn a_long_drift_report_is_cut_at_a_line_to_fit_an_issue() {
    let bench = Bench::new();
    let line = format!(
        "- jobs.job_{}: schedule paused → unpaused\n",
        "x".repeat(40)
    );
    let output = drift_reporting(&bench, "2", "[]", &line.repeat(1_200));
    assert!(output.status.success(), "{}", all(&output));
    let body = bench.read("body.md");
    assert!(body.len() < 61_000, "{} bytes", body.len());
    assert!(body.contains("… cut: the full report is in the run's summary."));
    let kept = body.lines().filter(|l| l.starts_with("- jobs.")).count();
    assert!(kept > 500, "{kept} lines kept");
    assert!(
        body.lines()
            .filter(|l| l.starts_with("- jobs."))
            .all(|l| format!("{l}\n") == line)
    );
}

#[test]
fn no_drift_closes_the_issue_and_an_error_leaves_it() {
    let bench = Bench::new();
    let output = drift(&bench, "0", OPEN_ISSUES);
    assert!(output.status.success(), "{}", all(&output));
    assert!(
        bench
            .log()
            .contains("gh issue close 7 --repo acme/config --comment")
    );

    let quiet = Bench::new();
    let output = drift(&quiet, "0", "[]");
    assert!(output.status.success(), "{}", all(&output));
    assert!(!quiet.log().contains("gh issue close"));

    let failing = Bench::new();
    let output = drift(&failing, "1", OPEN_ISSUES);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("::error::tandem drift failed (exit 1)"));
    let log = failing.log();
    for write in [
        "gh issue close",
        "gh issue edit",
        "gh issue create",
        "gh label",
    ] {
        assert!(!log.contains(write), "{log}");
    }
}

// ---- apply.sh ----

const PLAN: &str = r#"{"format_version": 1, "environment": "prod"}"#;

/// A bench whose API answers for a push of `abc1` that merged pull request 12 at head `f00d`,
/// whose plan artifact was made by the workflow run 555 (`run`: its event and workflow path).
fn merged_pull_request(run: &str) -> Bench {
    let bench = Bench::new();
    bench.api(
        "repos/acme/config/commits/abc1/pulls",
        r#"[{"number": 12, "merged_at": "2026-11-02T10:00:00Z", "head": {"sha": "f00d"}}]"#,
    );
    bench.api(
        "repos/acme/config/actions/artifacts?name=tandem-plan-pr12-f00d&per_page=1",
        r#"{"artifacts": [{"expired": false, "workflow_run": {"id": 555}}]}"#,
    );
    bench.api("repos/acme/config/actions/runs/555", run);
    bench
}

const PLAN_RUN: &str = r#"{"event": "pull_request_target", "path": ".github/workflows/plan.yml"}"#;

fn apply(bench: &Bench, event: &str, plan_rc: &str, apply_rc: &str) -> Output {
    bench.script(
        "apply.sh",
        &["prod"],
        &[
            ("GITHUB_SHA", "abc1"),
            ("GITHUB_EVENT_NAME", event),
            ("FAKE_PLAN", PLAN),
            ("FAKE_APPLY_PLAN_RC", plan_rc),
            ("FAKE_APPLY_RC", apply_rc),
        ],
    )
}

/// The tandem commands run, in order.
fn tandem_calls(bench: &Bench) -> Vec<String> {
    bench
        .log()
        .lines()
        .filter(|l| l.starts_with("tandem "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn apply_applies_the_reviewed_plan_then_main_afresh() {
    let bench = merged_pull_request(PLAN_RUN);
    let output = apply(&bench, "push", "0", "0");
    assert!(output.status.success(), "{}", all(&output));
    let reviewed = bench.path("runner/tandem-apply/reviewed/plan.json");
    assert_eq!(
        tandem_calls(&bench),
        [
            format!(
                "tandem -C . -e prod apply {} --auto-approve",
                reviewed.display()
            ),
            "tandem -C . -e prod apply --auto-approve".to_owned(),
        ]
    );
    assert!(
        bench
            .log()
            .contains("gh run download 555 --repo acme/config --name tandem-plan-pr12-f00d")
    );
    bench.assert_token_only_for_gh();
    let log = bench.read("runner/tandem-apply/apply.txt");
    assert!(
        log.contains("reviewed plan: #12 at f00d, from run 555"),
        "{log}"
    );
    assert!(log.contains("applied the reviewed plan"), "{log}");
    assert!(log.contains("applied main"), "{log}");
}

#[test]
fn apply_says_why_a_stale_reviewed_plan_gives_way_to_a_fresh_apply() {
    let bench = merged_pull_request(PLAN_RUN);
    let output = apply(&bench, "push", "1", "0");
    assert!(output.status.success(), "{}", all(&output));
    assert_eq!(tandem_calls(&bench).len(), 2);
    let out = all(&output);
    assert!(out.contains("the saved plan is stale"), "{out}");
    assert!(
        out.contains("::warning::the reviewed plan was not applied (tandem exit 1"),
        "{out}"
    );
}

#[test]
fn apply_ignores_a_plan_artifact_that_another_workflow_made() {
    let bench =
        merged_pull_request(r#"{"event": "pull_request", "path": ".github/workflows/evil.yml"}"#);
    let output = apply(&bench, "push", "0", "0");
    assert!(output.status.success(), "{}", all(&output));
    assert_eq!(
        tandem_calls(&bench),
        ["tandem -C . -e prod apply --auto-approve"]
    );
    assert!(!bench.log().contains("gh run download"));
    assert!(all(&output).contains(
        "artifact tandem-plan-pr12-f00d was made by 'pull_request .github/workflows/evil.yml'"
    ));
}

#[test]
fn apply_without_a_reviewed_plan_applies_main_and_fails_with_it() {
    // A manual run: no pull request is looked up.
    let bench = merged_pull_request(PLAN_RUN);
    let output = apply(&bench, "workflow_dispatch", "0", "0");
    assert!(output.status.success(), "{}", all(&output));
    assert!(!bench.log().contains("gh "));
    assert_eq!(tandem_calls(&bench).len(), 1);

    // A push that merged no pull request, and an apply that fails.
    let bench = Bench::new();
    bench.api("repos/acme/config/commits/abc1/pulls", "[]");
    let output = apply(&bench, "push", "0", "1");
    assert_eq!(output.status.code(), Some(1));
    assert!(all(&output).contains("commit abc1 came from no merged pull request"));
    assert_eq!(
        tandem_calls(&bench),
        ["tandem -C . -e prod apply --auto-approve"]
    );

    // An expired artifact (the plan is older than its retention).
    let bench = merged_pull_request(PLAN_RUN);
    bench.api(
        "repos/acme/config/actions/artifacts?name=tandem-plan-pr12-f00d&per_page=1",
        r#"{"artifacts": [{"expired": true, "workflow_run": {"id": 555}}]}"#,
    );
    let output = apply(&bench, "push", "0", "0");
    assert!(output.status.success(), "{}", all(&output));
    assert!(all(&output).contains("no artifact tandem-plan-pr12-f00d"));
    assert_eq!(tandem_calls(&bench).len(), 1);
}

// ---- promote.sh ----

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {}", all(&output));
    stdout(&output)
}

/// A bare `origin` with main holding environments/prod.yaml, and a clone of it in `work`.
fn repositories(bench: &Bench) -> (PathBuf, PathBuf) {
    let (origin, seed, work) = (
        bench.path("origin.git"),
        bench.path("seed"),
        bench.path("work"),
    );
    std::fs::create_dir_all(&origin).expect("origin dir");
    git(&origin, &["init", "-q", "--bare", "-b", "main"]);
    git(
        bench.dir.path(),
        &["clone", "-q", &origin.display().to_string(), "seed"],
    );
    bench.write(
        "seed/environments/prod.yaml",
        "workspaces: {primary: {host: local:p}, secondary: {host: local:s}}\nactive: primary\n",
    );
    bench.write("seed/jobs.yaml", "resources: {}\n");
    git(&seed, &["add", "."]);
    git(&seed, &["commit", "-qm", "seed"]);
    git(&seed, &["push", "-q", "origin", "HEAD:main"]);
    git(
        bench.dir.path(),
        &["clone", "-q", &origin.display().to_string(), "work"],
    );
    (origin, work)
}

fn promote(bench: &Bench, work: &Path, envs: &[(&str, &str)]) -> Output {
    let mut all_envs = vec![("TANDEM_DIR", work.to_str().expect("utf-8 path"))];
    all_envs.extend_from_slice(envs);
    bench.script("promote.sh", &["prod", "secondary"], &all_envs)
}

#[test]
fn promote_pushes_tandems_commit_on_top_of_a_main_that_moved() {
    let bench = Bench::new();
    let (origin, work) = repositories(&bench);
    // Someone merged meanwhile.
    bench.write("seed/jobs.yaml", "resources: {jobs: {}}\n");
    git(&bench.path("seed"), &["commit", "-qam", "meanwhile"]);
    git(&bench.path("seed"), &["push", "-q", "origin", "HEAD:main"]);

    let output = promote(&bench, &work, &[("ALLOW_UNREACHABLE", "true")]);
    assert!(output.status.success(), "{}", all(&output));
    assert_eq!(
        tandem_calls(&bench),
        [format!(
            "tandem -C {} -e prod promote secondary --allow-unreachable --auto-approve",
            work.display()
        )]
    );
    assert_eq!(
        git(&origin, &["log", "--format=%s", "main"]),
        "promote secondary\nmeanwhile\nseed\n"
    );
    assert!(git(&origin, &["show", "main:environments/prod.yaml"]).contains("active: secondary"));
    assert!(
        bench
            .read("runner/tandem-promote/promote.txt")
            .contains("promoted secondary")
    );
}

#[test]
fn a_dry_run_promotes_nothing_and_pushes_nothing() {
    let bench = Bench::new();
    let (origin, work) = repositories(&bench);
    let output = promote(&bench, &work, &[("DRY_RUN", "true")]);
    assert!(output.status.success(), "{}", all(&output));
    assert!(tandem_calls(&bench)[0].ends_with("promote secondary --dry-run --auto-approve"));
    assert_eq!(git(&origin, &["log", "--format=%s", "main"]), "seed\n");
}

#[test]
fn promote_that_cannot_push_says_the_workspaces_are_promoted() {
    let bench = Bench::new();
    let (origin, work) = repositories(&bench);
    // main changed the same line: tandem's commit cannot be rebased onto it.
    bench.write(
        "seed/environments/prod.yaml",
        "workspaces: {primary: {host: local:p}, secondary: {host: local:s}}\nactive: primary # pinned\n",
    );
    git(&bench.path("seed"), &["commit", "-qam", "conflicting"]);
    git(&bench.path("seed"), &["push", "-q", "origin", "HEAD:main"]);

    let output = promote(&bench, &work, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("::error::the workspaces ARE promoted"));
    assert!(stdout(&output).contains("Commit 'active: secondary' in environments/prod.yaml"));
    assert_eq!(
        git(&origin, &["log", "--format=%s", "main"]),
        "conflicting\nseed\n"
    );
}

// ---- secret-file.sh ----

#[test]
fn a_file_secret_source_is_written_for_the_owner_only_and_never_empty() {
    use std::os::unix::fs::PermissionsExt;
    let bench = Bench::new();
    let target = bench.path("secrets/tandem/key.p8");
    let target_arg = target.display().to_string();
    let output = bench.script(
        "secret-file.sh",
        &[&target_arg, "KEY_P8"],
        &[(
            "KEY_P8",
            "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n",
        )],
    );
    assert!(output.status.success(), "{}", all(&output));
    assert_eq!(
        std::fs::read_to_string(&target).expect("written"),
        "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"
    );
    let mode = std::fs::metadata(&target)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!stdout(&output).contains("abc"));

    let missing = bench.path("secrets/other.p8");
    let output = bench.script(
        "secret-file.sh",
        &[&missing.display().to_string(), "UNSET_SECRET"],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(all(&output).contains("secret UNSET_SECRET is empty or not set"));
    assert!(!missing.exists());
}
