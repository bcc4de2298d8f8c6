//! Local state and the emulator: symlinks under `.tandem/`, tampered journals, admin routes.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tandem::emulator::{self, EmulatorOptions};

use super::super::harness::{PAIR_ENV, TestRepo, Ws, send_request};

/// One job: the smallest configuration `plan` accepts.
const JOB: &str = "resources:\n  jobs:\n    etl:\n      name: etl\n      tasks:\n        - task_key: main\n          notebook_task: {notebook_path: /Repos/app/main}\n";

/// A repository of two embedded workspaces and one job.
fn repo() -> TestRepo {
    TestRepo::with_env(PAIR_ENV).file("resources/job.yaml", JOB)
}

/// What an attacker's symlink points at: a file outside the repository that must stay intact.
const VICTIM: &str = "precious data that no plan may touch\n";

fn victim_file(dir: &Path) -> PathBuf {
    let path = dir.join("victim.txt");
    std::fs::write(&path, VICTIM).expect("victim");
    path
}

fn assert_victim_intact(path: &Path) {
    let bytes = std::fs::read(path).expect("the victim file still exists");
    assert_eq!(bytes.len(), VICTIM.len(), "the victim file changed length");
    assert_eq!(bytes, VICTIM.as_bytes(), "the victim file changed");
}

/// The names in a folder, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) {
    std::fs::create_dir_all(link.parent().expect("parent")).expect("mkdir");
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

/// Runs `tandem emulator` with `args`, which is expected to exit on its own: its exit code and
/// stderr, or `None` when it was still serving after a while (then it is killed).
fn emulator_exit(args: &[&str]) -> Option<(i32, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("emulator")
        .args(args)
        .env_remove("TANDEM_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tandem emulator");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .expect("stderr")
                .read_to_string(&mut stderr)
                .expect("stderr");
            return Some((status.code().unwrap_or(-1), stderr));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// Symlinks under .tandem/
// ---------------------------------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn a_committed_journal_symlink_makes_plan_and_apply_refuse_and_leaves_its_target_intact() {
    let outside = tempfile::tempdir().expect("dir");
    let victim = victim_file(outside.path());
    let repo = repo().git_init();
    symlink(
        &victim,
        &repo.path().join(".tandem/local/primary.json.journal"),
    );
    repo.commit("a pull request that carries a journal symlink");

    for args in [
        &["-e", "test", "plan"][..],
        &["-e", "test", "apply", "--auto-approve"][..],
    ] {
        let run = repo.tandem(args);
        assert_ne!(run.code(), 0, "{args:?} went ahead:\n{}", run.all_output());
        // The workspace's failure is part of the plan's report.
        let output = run.all_output();
        assert!(
            output.contains(".tandem/local/primary.json.journal is a symbolic link"),
            "{args:?}: the error names the link:\n{output}"
        );
        assert_victim_intact(&victim);
    }
    assert!(
        std::fs::symlink_metadata(repo.path().join(".tandem/local/primary.json.journal"))
            .expect("link")
            .file_type()
            .is_symlink(),
        "the link is left for the user to look at"
    );
}

#[cfg(unix)]
#[test]
fn a_symlinked_state_folder_is_refused_and_nothing_is_written_through_it() {
    for linked in [".tandem", ".tandem/local"] {
        let outside = tempfile::tempdir().expect("dir");
        let victim = victim_file(outside.path());
        let repo = repo();
        symlink(outside.path(), &repo.path().join(linked));

        let run = repo.tandem(&["-e", "test", "plan"]);
        assert_ne!(
            run.code(),
            0,
            "{linked}: plan went ahead:\n{}",
            run.all_output()
        );
        let output = run.all_output();
        assert!(
            output.contains(&format!("{linked} is a symbolic link")),
            "{linked}: the error names the link:\n{output}"
        );
        assert_eq!(
            listing(outside.path()),
            ["victim.txt"],
            "{linked}: files were created through the link"
        );
        assert_victim_intact(&victim);
    }
}

#[cfg(unix)]
#[test]
fn tandem_emulator_refuses_a_symlinked_state_or_journal_file() {
    for (linked, state) in [("ws.json", "ws.json"), ("ws.json.journal", "ws.json")] {
        let dir = tempfile::tempdir().expect("dir");
        let outside = tempfile::tempdir().expect("dir");
        let victim = victim_file(outside.path());
        symlink(&victim, &dir.path().join(linked));
        let state = dir.path().join(state);
        let state = state.to_str().expect("utf-8");

        let (code, stderr) = emulator_exit(&["--port", "0", "--state", state])
            .unwrap_or_else(|| panic!("{linked}: the emulator served a symlinked state"));
        assert_ne!(code, 0, "{linked}: {stderr}");
        assert!(
            stderr.contains(linked) && stderr.contains("symbolic link"),
            "{linked}: the error names the link:\n{stderr}"
        );
        assert_victim_intact(&victim);
    }
}

// ---------------------------------------------------------------------------------------------
// Tampered journals
// ---------------------------------------------------------------------------------------------

/// Leaves at `state` the files of an emulator killed after creating jobs `a` and `b` and then the
/// secret scope `last` (the journal's last line); returns the journal's lines.
fn crashed_state(state: &Path) -> Vec<String> {
    let scratch = tempfile::tempdir().expect("dir");
    let served = scratch.path().join("ws.json");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let running = rt
        .block_on(emulator::start(EmulatorOptions {
            state: Some(served.clone()),
            ..EmulatorOptions::default()
        }))
        .expect("emulator");
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let (status, answer, _) = rt.block_on(send_request(
            &http,
            reqwest::Method::POST,
            format!("{}{path}", running.url),
            "dev",
            Some(body),
        ));
        assert_eq!(status, 200, "{path}: {answer}");
    };
    for name in ["a", "b"] {
        post(
            "/api/2.2/jobs/create",
            json!({"name": name, "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/x"}}]}),
        );
    }
    post("/api/2.0/secrets/scopes/create", json!({"scope": "last"}));
    // Copy the files as a process killed right now would leave them (no final snapshot).
    std::fs::create_dir_all(state.parent().expect("parent")).expect("mkdir");
    std::fs::copy(&served, state).expect("copy snapshot");
    let journal = std::fs::read_to_string(scratch.path().join("ws.json.journal")).expect("journal");
    std::fs::write(journal_of(state), &journal).expect("copy journal");
    rt.block_on(running.stop());
    let lines: Vec<String> = journal.lines().map(String::from).collect();
    assert!(
        lines.last().is_some_and(|l| l.contains("\"last\"")),
        "the scope is the last entry: {lines:?}"
    );
    lines
}

fn journal_of(state: &Path) -> PathBuf {
    let mut name = state.file_name().expect("name").to_os_string();
    name.push(".journal");
    state.with_file_name(name)
}

#[test]
fn a_corrupt_journal_line_stops_the_emulator_naming_file_and_line() {
    let repo = repo();
    let state = repo.path().join(".tandem/local/primary.json");
    let mut lines = crashed_state(&state);
    assert!(lines.len() >= 3, "{lines:?}");
    // A middle entry cut short: every entry after it is still complete.
    let half = lines[1].len() / 2;
    lines[1].truncate(half);
    let tampered = lines.join("\n") + "\n";
    std::fs::write(journal_of(&state), &tampered).expect("tamper");

    let run = repo.tandem(&["-e", "test", "plan"]);
    assert_ne!(run.code(), 0, "plan went ahead:\n{}", run.all_output());
    let output = run.all_output();
    assert!(
        output.contains(".tandem/local/primary.json.journal: line 2 is not a valid entry"),
        "the error names the journal and the line:\n{output}"
    );
    assert_eq!(
        std::fs::read_to_string(journal_of(&state)).expect("journal"),
        tampered,
        "the refused start kept the journal as it was, for repair"
    );

    // `tandem emulator --state` refuses the same files.
    let state_arg = state.to_str().expect("utf-8");
    let (code, stderr) = emulator_exit(&["--port", "0", "--state", state_arg])
        .expect("the emulator served a corrupt journal");
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("primary.json.journal") && stderr.contains("line 2"),
        "the error names the journal and the line:\n{stderr}"
    );
}

#[test]
fn a_torn_last_journal_line_is_dropped_with_a_warning_and_every_entry_before_it_kept() {
    let repo = repo();
    let state = repo.path().join(".tandem/local/primary.json");
    let lines = crashed_state(&state);
    // A crash in the middle of writing the last entry: no newline after it.
    let mut torn = lines.join("\n");
    torn.truncate(torn.len() - 5);
    std::fs::write(journal_of(&state), &torn).expect("tear");

    let run = repo.tandem(&["-e", "test", "plan"]);
    let stderr = run.stderr();
    assert_eq!(
        run.code(),
        0,
        "plan refused a torn last line:\n{}",
        run.all_output()
    );
    assert!(
        stderr.contains("primary.json.journal")
            && stderr.contains(&format!("line {}", lines.len()))
            && stderr.to_lowercase().contains("warn"),
        "a warning names the journal and the dropped line:\n{stderr}"
    );

    let ws = Ws::local(&repo, "primary");
    let mut names: Vec<String> = ws
        .jobs()
        .iter()
        .map(|j| j["settings"]["name"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b"], "every complete entry is kept");
    assert!(ws.scopes().is_empty(), "the torn entry is dropped");
    ws.close();
}

// ---------------------------------------------------------------------------------------------
// Admin routes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn admin_routes_answer_401_without_a_token_and_change_nothing() {
    let running = emulator::start(EmulatorOptions::default())
        .await
        .expect("emulator");
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", running.url);
    // A request with the emulator's token: status and JSON answer.
    let with_token = |method: reqwest::Method, path: &str, body: Option<Value>| {
        send_request(&http, method, url(path), "dev", body)
    };
    let (status, _, _) = with_token(
        reqwest::Method::POST,
        "/api/2.2/jobs/create",
        Some(json!({"name": "kept", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/x"}}]})),
    )
    .await;
    assert_eq!(status, 200);

    let anonymous = [
        ("POST", "/__emulator/reset", None),
        (
            "POST",
            "/__emulator/faults",
            Some(json!({"path": "/api/*", "status": 503})),
        ),
        ("DELETE", "/__emulator/faults", None),
        ("GET", "/__emulator/faults", None),
        ("GET", "/__emulator/stats", None),
        ("DELETE", "/__emulator/stats", None),
    ];
    for (method, path, body) in anonymous {
        for token in [None, Some("not-a-token")] {
            let mut request = http.request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                url(path),
            );
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await.expect("request");
            assert_eq!(
                response.status().as_u16(),
                401,
                "{method} {path} with token {token:?}"
            );
        }
    }

    // Nothing was reset and no fault was added: the API still answers, the job is still there.
    let (status, listed, _) = with_token(reqwest::Method::GET, "/api/2.2/jobs/list", None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["jobs"][0]["settings"]["name"], "kept", "{listed}");
    let (status, rules, _) = with_token(reqwest::Method::GET, "/__emulator/faults", None).await;
    assert_eq!(status, 200, "an accepted token opens the admin routes");
    assert_eq!(rules["rules"], json!([]));
    let (status, stats, _) = with_token(reqwest::Method::GET, "/__emulator/stats", None).await;
    assert_eq!(status, 200);
    assert_eq!(stats["routes"]["POST /api/2.2/jobs/create"], 1, "{stats}");

    // With the token, a reset works.
    let (status, _, _) = with_token(reqwest::Method::POST, "/__emulator/reset", None).await;
    assert_eq!(status, 200);
    let (_, listed, _) = with_token(reqwest::Method::GET, "/api/2.2/jobs/list", None).await;
    assert!(listed.get("jobs").is_none(), "{listed}");
    running.stop().await;
}

#[test]
fn an_emulator_listening_beyond_loopback_warns_that_it_is_for_tests() {
    for (host, warns) in [("0.0.0.0", true), ("127.0.0.1", false)] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["emulator", "--port", "0", "--host", host])
            .env_remove("TANDEM_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tandem emulator");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let listening = stdout
            .lines()
            .map_while(Result::ok)
            .any(|l| l.starts_with("tandem workspace emulator listening on"));
        let _ = child.kill();
        let _ = child.wait();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .expect("stderr")
            .read_to_string(&mut stderr)
            .expect("stderr");
        assert!(listening, "{host}: the emulator did not start: {stderr}");
        let warned = stderr.contains("warning") && stderr.contains("for tests");
        assert_eq!(warned, warns, "{host}: stderr:\n{stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// Secret fingerprints in the emulator's state
// ---------------------------------------------------------------------------------------------

#[test]
fn the_state_files_hold_no_unsalted_hash_of_a_secret_value() {
    const PIN: &str = "493817";
    let repo = TestRepo::with_env(PAIR_ENV).file(
        "resources/secrets.yaml",
        "resources:\n  secret_scopes:\n    app:\n      name: app\n      secrets:\n        pin: {env: TANDEM_TEST_PIN}\n",
    );
    let run = repo.tandem_env(
        &["-e", "test", "apply", "--auto-approve"],
        &[("TANDEM_TEST_PIN", PIN)],
    );
    assert_eq!(run.code(), 0, "{}", run.all_output());

    let digest: String = Sha256::digest(PIN.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let local = repo.path().join(".tandem/local");
    let files = listing(&local);
    assert!(files.contains(&"primary.json".to_string()), "{files:?}");
    for name in &files {
        let path = local.join(name);
        let bytes = std::fs::read(&path).expect("state file");
        let text = String::from_utf8_lossy(&bytes).to_lowercase();
        assert!(!text.contains(&digest), "{name} holds SHA-256 of the value");
        assert!(!text.contains(PIN), "{name} holds the value");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o077, 0, "{name} is readable by others: {mode:o}");
        }
    }

    // The emulator itself can still tell which value was written, after a restart.
    for name in ["primary", "secondary"] {
        let ws = Ws::local(&repo, name);
        assert!(ws.secret_value_is("app", "pin", PIN), "{name}");
        assert!(!ws.secret_value_is("app", "pin", "493818"), "{name}");
        assert!(!ws.secret_value_is("app", "other", PIN), "{name}");
        ws.close();
    }
}
