//! A malicious configuration repository: symlinks, paths outside the root, credential stores as
//! secret sources, huge files.

use std::path::Path;

use super::super::harness::{PAIR_ENV, TandemRun, TestRepo};

/// A token-shaped value put in tandem's environment; it must never come back out.
const CANARY: &str = "dapi-canary-4f1e9b27c0d3a8e5";

const JOB: &str = "resources:\n  jobs:\n    etl:\n      name: ETL\n";

/// An environment whose workspaces take their tokens from named variables (validate only).
const TOKEN_ENV: &str = "workspaces:\n  primary:\n    host: https://adb-1.azuredatabricks.net\n    token_env: PRIMARY_DATABRICKS_TOKEN\n  secondary:\n    host: https://adb-2.azuredatabricks.net\n    token_env: SECONDARY_DATABRICKS_TOKEN\nactive: primary\n";

/// Runs tandem with the canary in the variables a CI job would hold tokens in.
fn run_with_canary(repo: &TestRepo, args: &[&str]) -> TandemRun {
    repo.tandem_env(
        args,
        &[
            ("PRIMARY_DATABRICKS_TOKEN", CANARY),
            ("DATABRICKS_TOKEN", CANARY),
        ],
    )
}

/// Asserts the run failed, leaked nothing of the canary, and returns stderr.
fn refused_without_leak(run: &TandemRun) -> String {
    let all = run.all_output();
    assert!(
        !all.contains(CANARY) && !all.contains("canary"),
        "the canary leaked:\n{all}"
    );
    run.failure()
}

/// Whether `needle` is in `haystack` once the line wrapping of rendered diagnostics (newlines,
/// indentation, the `│` gutter) is taken out of both.
fn says(haystack: &str, needle: &str) -> bool {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '│')
            .collect()
    };
    squash(haystack).contains(&squash(needle))
}

fn scope_with_source(source: &str) -> String {
    format!(
        "resources:\n  secret_scopes:\n    etl:\n      name: etl\n      secrets:\n        password: {source}\n"
    )
}

#[cfg(unix)]
#[test]
fn a_resource_file_linked_to_proc_self_environ_is_refused_by_validate_and_plan() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/jobs.yaml", JOB);
    std::os::unix::fs::symlink("/proc/self/environ", repo.path().join("resources/x.yaml"))
        .expect("symlink");
    for command in [&["-e", "test", "validate"][..], &["-e", "test", "plan"][..]] {
        let err = refused_without_leak(&run_with_canary(&repo, command));
        assert!(says(&err, "resources/x.yaml"), "{command:?}: {err}");
        assert!(says(&err, "symbolic link"), "{command:?}: {err}");
    }
    // Nothing was started: a refused configuration creates no embedded workspace.
    assert!(!repo.path().join(".tandem").exists());
}

#[cfg(unix)]
#[test]
fn a_linked_environment_file_is_refused() {
    let outside = tempfile::tempdir().expect("temp dir");
    std::fs::write(outside.path().join("prod.yaml"), PAIR_ENV).expect("write");
    let repo = TestRepo::new().file("resources/jobs.yaml", JOB);
    std::fs::create_dir_all(repo.path().join("environments")).expect("mkdir");
    std::os::unix::fs::symlink(
        outside.path().join("prod.yaml"),
        repo.path().join("environments/test.yaml"),
    )
    .expect("symlink");
    let err = refused_without_leak(&run_with_canary(&repo, &["-e", "test", "validate"]));
    assert!(says(&err, "environments/test.yaml"), "{err}");
    assert!(says(&err, "symbolic link"), "{err}");
    // And a linked environments/ directory.
    let repo = TestRepo::new().file("resources/jobs.yaml", JOB);
    std::os::unix::fs::symlink(outside.path(), repo.path().join("environments")).expect("symlink");
    let err = refused_without_leak(&run_with_canary(&repo, &["-e", "prod", "validate"]));
    assert!(says(&err, "`environments`"), "{err}");
    assert!(says(&err, "symbolic link"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_linked_directory_under_the_root_is_refused() {
    let outside = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        outside.path().join("more.yaml"),
        "resources:\n  jobs:\n    stolen:\n      name: from outside the repository\n",
    )
    .expect("write");
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/jobs.yaml", JOB);
    std::os::unix::fs::symlink(outside.path(), repo.path().join("resources/shared"))
        .expect("symlink");
    let err = refused_without_leak(&run_with_canary(&repo, &["-e", "test", "validate"]));
    assert!(says(&err, "resources/shared"), "{err}");
    assert!(says(&err, "symbolic link"), "{err}");
    // A link to the whole resources/ directory too.
    let repo = TestRepo::with_env(PAIR_ENV);
    std::os::unix::fs::symlink(outside.path(), repo.path().join("resources")).expect("symlink");
    let err = refused_without_leak(&run_with_canary(&repo, &["-e", "test", "validate"]));
    assert!(says(&err, "`resources`"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_symlink_committed_to_git_is_refused_with_ref() {
    let repo = TestRepo::with_env(PAIR_ENV)
        .file("resources/jobs.yaml", JOB)
        .git_init();
    let link = repo.path().join("resources/x.yaml");
    std::os::unix::fs::symlink("/proc/self/environ", &link).expect("symlink");
    let outside = tempfile::tempdir().expect("temp dir");
    std::fs::write(outside.path().join("more.yaml"), JOB).expect("write");
    std::os::unix::fs::symlink(outside.path(), repo.path().join("resources/shared"))
        .expect("symlink");
    repo.commit("links");
    // The commit holds the links (mode 120000); the work tree no longer does.
    let head = repo.head_commit();
    let tree = head.tree().expect("tree");
    let entry = tree.get_path(Path::new("resources/x.yaml")).expect("entry");
    assert_eq!(entry.filemode(), 0o120000);
    std::fs::remove_file(&link).expect("rm");
    std::fs::remove_file(repo.path().join("resources/shared")).expect("rm");
    repo.tandem(&["-e", "test", "validate"]).success();

    let err = refused_without_leak(&run_with_canary(
        &repo,
        &["-e", "test", "--ref", "HEAD", "validate"],
    ));
    assert!(says(&err, "resources/x.yaml"), "{err}");
    assert!(says(&err, "resources/shared"), "{err}");
    assert!(says(&err, "symbolic link"), "{err}");
    let err = refused_without_leak(&run_with_canary(
        &repo,
        &["-e", "test", "--ref", "HEAD", "plan"],
    ));
    assert!(says(&err, "resources/x.yaml"), "{err}");
}

#[test]
fn the_environment_is_a_name_not_a_path() {
    // The config root is a folder of the repository; a valid environment file sits above it.
    let repo = TestRepo::new()
        .file("config/environments/test.yaml", PAIR_ENV)
        .file("config/resources/jobs.yaml", JOB)
        .file("evil.yaml", PAIR_ENV);
    let root = repo.path().join("config");
    let root = root.to_str().expect("utf-8");
    repo.tandem(&["-C", root, "-e", "test", "validate"])
        .success();
    for env in [
        "../../evil",
        "/etc/passwd",
        "test/../../../evil",
        "..",
        ".hidden",
        "",
    ] {
        let err = repo.tandem(&["-C", root, "-e", env, "validate"]).failure();
        assert!(
            says(&err, "is not a valid environment name"),
            "-e {env:?}: {err}"
        );
        assert!(says(&err, "-e"), "-e {env:?}: {err}");
    }
    // TANDEM_ENV is the same option.
    let err = repo
        .tandem_env(&["-C", root, "validate"], &[("TANDEM_ENV", "../../evil")])
        .failure();
    assert!(says(&err, "is not a valid environment name"), "{err}");
}

#[test]
fn include_globs_that_leave_the_root_are_refused() {
    let outside = tempfile::tempdir().expect("temp dir");
    std::fs::write(outside.path().join("more.yaml"), JOB).expect("write");
    let absolute = format!("{}/*.yaml", outside.path().display());
    let env = format!(
        "{PAIR_ENV}include:\n  - \"resources/**/*.yaml\"\n  - \"../**/*.yaml\"\n  - \"resources/../../x/*.yaml\"\n  - \"{absolute}\"\n"
    );
    let repo = TestRepo::with_env(&env).file("resources/jobs.yaml", JOB);
    let err = repo.tandem(&["-e", "test", "validate"]).failure();
    for glob in [
        "../**/*.yaml",
        "resources/../../x/*.yaml",
        absolute.as_str(),
    ] {
        assert!(
            says(
                &err,
                &format!("include glob `{glob}` reaches outside the config root")
            ),
            "{glob}: {err}"
        );
    }
    assert!(says(&err, "3 problems"), "{err}");
}

#[test]
fn secret_sources_in_proc_and_dev_are_refused() {
    for path in [
        "/proc/self/environ",
        "/proc/1/../self/environ",
        "/dev/stdin",
        "/sys/kernel/x",
    ] {
        let repo = TestRepo::with_env(PAIR_ENV).file(
            "resources/s.yaml",
            &scope_with_source(&format!("{{file: {path}}}")),
        );
        let err = refused_without_leak(&run_with_canary(&repo, &["-e", "test", "validate"]));
        assert!(
            says(&err, &format!("secret `password`: file `{path}`")),
            "{path}: {err}"
        );
        assert!(
            says(&err, "credential store or process file"),
            "{path}: {err}"
        );
    }
}

#[test]
fn secret_sources_in_the_databricks_cli_configuration_are_refused() {
    let home = tempfile::tempdir().expect("temp home");
    std::fs::write(
        home.path().join(".databrickscfg"),
        format!("[DEFAULT]\nhost = https://x\ntoken = {CANARY}\n"),
    )
    .expect("write");
    let custom = home.path().join("custom.cfg");
    std::fs::write(&custom, format!("[DEFAULT]\ntoken = {CANARY}\n")).expect("write");
    let home_str = home.path().to_str().expect("utf-8");
    let sources = [
        "~/.databrickscfg".to_string(),
        format!("{home_str}/.databrickscfg"),
        format!("{home_str}/./.databricks/../.databrickscfg"),
        "~/.databricks/token-cache.json".to_string(),
        "~/.ssh/id_ed25519".to_string(),
        "~/.aws/credentials".to_string(),
        "~/.netrc".to_string(),
        "~/.git-credentials".to_string(),
        "~/.azure/msal_token_cache.json".to_string(),
        custom.display().to_string(),
    ];
    for source in &sources {
        let repo = TestRepo::with_env(PAIR_ENV).file(
            "resources/s.yaml",
            &scope_with_source(&format!("{{file: \"{source}\"}}")),
        );
        let run = repo.tandem_env(
            &["-e", "test", "validate"],
            &[
                ("HOME", home_str),
                ("DATABRICKS_CONFIG_FILE", custom.to_str().expect("utf-8")),
            ],
        );
        let err = refused_without_leak(&run);
        assert!(says(&err, &format!("file `{source}`")), "{source}: {err}");
        assert!(says(&err, "is a credential store"), "{source}: {err}");
    }
    // A file of its own under HOME stays allowed.
    let repo = TestRepo::with_env(PAIR_ENV).file(
        "resources/s.yaml",
        &scope_with_source("{file: ~/secrets/etl-password}"),
    );
    repo.tandem_env(&["-e", "test", "validate"], &[("HOME", home_str)])
        .success();
}

#[test]
fn secret_sources_naming_credential_variables_are_refused() {
    // A variable tandem reads for its own credentials.
    let repo = TestRepo::with_env(PAIR_ENV).file(
        "resources/s.yaml",
        &scope_with_source("{env: DATABRICKS_TOKEN}"),
    );
    let err = refused_without_leak(&run_with_canary(&repo, &["-e", "test", "validate"]));
    assert!(
        says(
            &err,
            "secret `password`: variable `DATABRICKS_TOKEN` holds credentials"
        ),
        "{err}"
    );
    // A workspace's token_env, in a per-workspace source.
    let repo = TestRepo::with_env(TOKEN_ENV).file(
        "resources/s.yaml",
        &scope_with_source(
            "{primary: {env: ETL_PASSWORD}, secondary: {env: PRIMARY_DATABRICKS_TOKEN}}",
        ),
    );
    let err = refused_without_leak(&run_with_canary(&repo, &["-e", "test", "validate"]));
    assert!(
        says(
            &err,
            "variable `PRIMARY_DATABRICKS_TOKEN` holds credentials"
        ),
        "{err}"
    );
    assert!(says(&err, "token_env of workspace `primary`"), "{err}");
    // Other variables are fine.
    let repo = TestRepo::with_env(TOKEN_ENV).file(
        "resources/s.yaml",
        &scope_with_source("{env: ETL_PASSWORD}"),
    );
    repo.tandem(&["-e", "test", "validate"]).success();
}

#[test]
fn a_config_file_over_the_size_cap_is_refused() {
    // 33 MiB of comments: cheap to write, and valid YAML below the cap.
    let line = format!("# {}\n", "x".repeat(1021));
    let text = line.repeat(33 * 1024);
    let repo = TestRepo::with_env(PAIR_ENV)
        .file("resources/jobs.yaml", JOB)
        .file("resources/huge.yaml", &text)
        .git_init();
    let err = repo.tandem(&["-e", "test", "validate"]).failure();
    assert!(says(&err, "resources/huge.yaml is 33 MiB"), "{err}");
    assert!(says(&err, "larger than the 32 MiB"), "{err}");
    assert!(says(&err, "split"), "{err}");
    // The same file in a commit, read with --ref.
    let sha = repo.commit("huge");
    let err = repo
        .tandem(&["-e", "test", "--ref", "HEAD", "validate"])
        .failure();
    assert!(
        says(
            &err,
            &format!("resources/huge.yaml at {} is 33 MiB", &sha[..7])
        ),
        "{err}"
    );
}
