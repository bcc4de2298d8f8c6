//! Authentication end to end (issue #13): every method tandem speaks, run as the real binary
//! against two `tandem emulator`s over HTTP, with fake identity providers and fake `az` /
//! `databricks` executables (tests/integration/auth_support.rs). Every run is isolated (its own
//! HOME, a PATH holding only the fakes, no inherited variable), and every test checks that no
//! credential appears in tandem's output.

use std::time::{Duration, Instant};

use serde_json::json;

use super::auth_support::{
    ACCOUNT_ID, AZURE_DATABRICKS_RESOURCE, FakeEntra, FakeGithub, GarbageWorkspace, OAuthClients,
    Sandbox, TENANT_ID, api_writes, assert_no_secret, auth_block, auth_env, entra_token, has_arg,
    jobs_yaml, spawn_oauth_pair, token_calls, unique,
};
use super::harness::{Emulator, TandemRun, TestRepo, Ws};

/// The service principal of the M2M tests (its application id).
const M2M_CLIENT: &str = "0b6f7c4e-2a1d-4e5f-9c3b-7d8e9f0a1b2c";

/// The user `az login` logged in as.
const AZ_USER: &str = "user@example.com";

/// An `az login` as [`AZ_USER`]: the Entra ID token the fake `az` prints, and an OAuth file
/// whose workspaces trust its issuer.
fn az_login() -> (String, OAuthClients) {
    let issuer = format!("https://sts.windows.net/{TENANT_ID}/");
    let key = unique("az-key");
    let token = entra_token(&issuer, &key, ("upn", AZ_USER));
    (token, OAuthClients::new().trust(&issuer, &key, true))
}

/// Variables as owned pairs.
fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `vars` plus `TANDEM_LOG=debug`: the most tandem ever says, where a leak would show.
fn debug(mut vars: Vec<(String, String)>) -> Vec<(String, String)> {
    vars.push(("TANDEM_LOG".into(), "debug".into()));
    vars
}

/// A repository with the environment `env` and `jobs` plain jobs, committed (promote commits).
fn repo_with(env: &str, jobs: usize) -> TestRepo {
    let repo = TestRepo::with_env(env)
        .file("resources/jobs.yaml", &jobs_yaml(jobs))
        .git_init();
    repo.commit("configuration");
    repo
}

/// A repository whose two workspaces, on `primary` and `secondary`, both authenticate with
/// the credential lines `block`, holding `jobs` plain jobs.
fn same_auth_repo(primary: &Emulator, secondary: &Emulator, block: &str, jobs: usize) -> TestRepo {
    repo_with(
        &auth_env((&primary.url, block), (&secondary.url, block)),
        jobs,
    )
}

/// `apply --auto-approve`, then `status`, with `envs`: both succeed and status names `method`
/// for both workspaces. Returns both runs, for the caller to check for credentials (some are
/// only known after the runs: the tokens a fake handed out).
fn apply_then_status(
    sandbox: &Sandbox,
    repo: &TestRepo,
    envs: &[(String, String)],
    method: &str,
) -> [TandemRun; 2] {
    let apply = sandbox.tandem(repo, &["-e", "test", "apply", "--auto-approve"], envs);
    apply.success();
    let status = sandbox.tandem(repo, &["-e", "test", "status"], envs);
    assert_status_names(&status, method);
    [apply, status]
}

/// Asserts that no run shows any of `secrets`.
fn assert_no_secret_in(runs: &[TandemRun], secrets: &[String]) {
    for run in runs {
        assert_no_secret(run, secrets);
    }
}

/// Asserts that the workspace holds exactly `count` managed jobs, none twice, each created by
/// `creator` (which proves whose token created them).
fn assert_jobs(ws: &Ws, count: usize, creator: &str) {
    let counts = ws.key_counts("jobs");
    assert_eq!(counts.len(), count, "jobs: {counts:?}");
    assert!(
        counts.values().all(|n| *n == 1),
        "duplicate jobs: {counts:?}"
    );
    for (key, job) in ws.managed("jobs") {
        assert_eq!(
            job["creator_user_name"],
            json!(creator),
            "job {key} was created by someone else: {job}"
        );
    }
}

/// Asserts that `tandem status` names `method` as the authentication of both workspaces.
fn assert_status_names(run: &TandemRun, method: &str) {
    let out = run.success();
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("auth"))
        .collect();
    assert_eq!(lines.len(), 2, "one auth line per workspace:\n{out}");
    for line in lines {
        assert!(line.contains(method), "`{method}` in {line:?}:\n{out}");
    }
}

/// stderr with the lines of each diagnostic joined again: the report wraps long messages at
/// spaces into `│ ` continuation lines, which would split a command or a variable name from
/// what precedes it.
fn unwrapped(stderr: &str) -> String {
    let mut out = String::with_capacity(stderr.len());
    for line in stderr.lines() {
        match line.trim_start().strip_prefix("│ ") {
            Some(rest) if !out.is_empty() => {
                out.pop();
                out.push(' ');
                out.push_str(rest);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Asserts a failed run (exit 1) whose stderr (diagnostics unwrapped) contains every one of
/// `needles`; returns that text.
fn assert_fails_with(run: &TandemRun, needles: &[&str]) -> String {
    run.failure();
    let stderr = unwrapped(&run.stderr());
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "expected {needle:?} in stderr:\n{stderr}"
        );
    }
    stderr
}

/// Whether an error names one of the two workspaces (both fail alike; either may come first).
fn names_a_workspace(stderr: &str) -> bool {
    stderr.contains("workspace primary") || stderr.contains("workspace secondary")
}

/// Asserts that neither workspace received a write (reads and token requests aside).
fn assert_nothing_written(primary: &Emulator, secondary: &Emulator) {
    for (name, emulator) in [("primary", primary), ("secondary", secondary)] {
        let writes = api_writes(&emulator.client());
        assert!(writes.is_empty(), "{name} received writes: {writes:?}");
    }
}

/// Asserts that neither workspace received any request at all (a configuration error stops
/// tandem before it connects).
fn assert_not_contacted(primary: &Emulator, secondary: &Emulator) {
    for (name, emulator) in [("primary", primary), ("secondary", secondary)] {
        let routes = emulator.client().route_counts();
        assert!(routes.is_empty(), "{name} was contacted: {routes:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// One test per method
// ---------------------------------------------------------------------------------------------

#[test]
fn pat_from_token_env() {
    let sandbox = Sandbox::new();
    let pat = unique("dapi");
    let grant = format!("{pat}=admin@example.com");
    let flags = ["--token", "dev", "--token", grant.as_str()];
    let primary = Emulator::spawn(&sandbox.path().join("p.json"), &flags);
    let secondary = Emulator::spawn(&sandbox.path().join("s.json"), &flags);
    let repo = repo_with(
        &auth_env(
            (&primary.url, "    token_env: PRIMARY_PAT\n"),
            (
                &secondary.url,
                &auth_block(&[("type", "pat"), ("token_env", "SECONDARY_PAT")]),
            ),
        ),
        3,
    );
    let envs = debug(vars(&[("PRIMARY_PAT", &pat), ("SECONDARY_PAT", &pat)]));
    for args in [
        &["-e", "test", "plan"][..],
        &["-e", "test", "apply", "--auto-approve"],
    ] {
        let run = sandbox.tandem(&repo, args, &envs);
        run.success();
        assert_no_secret(&run, std::slice::from_ref(&pat));
    }
    let status = sandbox.tandem(&repo, &["-e", "test", "status"], &envs);
    assert_status_names(&status, "pat");
    assert_no_secret(&status, &[pat]);
    for emulator in [&primary, &secondary] {
        let ws = emulator.client();
        assert_jobs(&ws, 3, "admin@example.com");
        assert_eq!(token_calls(&ws), 0, "a PAT needs no token endpoint");
    }
}

#[test]
fn oauth_m2m_with_the_secret_from_a_variable() {
    let sandbox = Sandbox::new();
    let secret = unique("m2m-secret");
    let oauth = OAuthClients::new().m2m(M2M_CLIENT, &secret);
    let (primary, secondary) = spawn_oauth_pair(sandbox.path(), &oauth, 3600, &[]);
    let block = |var: &str| {
        auth_block(&[
            ("type", "oauth-m2m"),
            ("client_id", M2M_CLIENT),
            ("client_secret_env", var),
        ])
    };
    let repo = repo_with(
        &auth_env(
            (&primary.url, &block("PRIMARY_M2M_SECRET")),
            (&secondary.url, &block("SECONDARY_M2M_SECRET")),
        ),
        3,
    );
    let envs = vars(&[
        ("PRIMARY_M2M_SECRET", &secret),
        ("SECONDARY_M2M_SECRET", &secret),
    ]);
    let secrets = [secret.clone()];

    let plan = sandbox.tandem(&repo, &["-e", "test", "plan"], &envs);
    plan.success();
    assert_no_secret(&plan, &secrets);
    let apply = sandbox.tandem(
        &repo,
        &["-e", "test", "apply", "--auto-approve"],
        &debug(envs.clone()),
    );
    apply.success();
    assert_no_secret(&apply, &secrets);
    // Debug logs name the method (never the credential).
    assert!(
        apply.stderr().contains("oauth-m2m"),
        "debug log names the method:\n{}",
        apply.stderr()
    );
    let status = sandbox.tandem(&repo, &["-e", "test", "status"], &envs);
    assert_status_names(&status, "oauth-m2m");
    assert_no_secret(&status, &secrets);
    let promote = sandbox.tandem(
        &repo,
        &["-e", "test", "promote", "secondary", "--auto-approve"],
        &debug(envs.clone()),
    );
    promote.success();
    assert_no_secret(&promote, &secrets);
    assert!(
        repo.read("environments/test.yaml")
            .contains("active: secondary")
    );

    for emulator in [&primary, &secondary] {
        let ws = emulator.client();
        assert_jobs(&ws, 3, M2M_CLIENT);
        // One token per workspace and run (plan, apply, status, promote), not one per request.
        let calls = token_calls(&ws);
        assert!((1..=4).contains(&calls), "token requests: {calls}");
    }
}

#[test]
fn github_oidc_exchanges_the_job_id_token_with_no_databricks_secret() {
    let sandbox = Sandbox::new();
    let subject = "repo:acme/dr:environment:prod";
    let github = FakeGithub::start(subject);
    let client = "5c0f3e1a-7b2d-4c8e-9f6a-1d2e3f4a5b6c";
    let oauth = OAuthClients::new()
        .federated(client, github.issuer(), ACCOUNT_ID, subject)
        .trust(github.issuer(), github.key(), false);
    let (primary, secondary) = spawn_oauth_pair(sandbox.path(), &oauth, 3600, &[]);
    let block = auth_block(&[("type", "github-oidc"), ("client_id", client)]);
    let repo = same_auth_repo(&primary, &secondary, &block, 2);
    // What a GitHub Actions job with `permissions: id-token: write` has, and nothing else.
    let envs = debug(github.job_env());
    assert!(
        !envs.iter().any(|(k, _)| k.starts_with("DATABRICKS_")),
        "no Databricks secret is set"
    );

    let runs = apply_then_status(&sandbox, &repo, &envs, "github-oidc");

    let audiences = github.audiences();
    assert!(
        !audiences.is_empty(),
        "the job's ID token was never asked for"
    );
    assert!(
        audiences.iter().all(|a| a == ACCOUNT_ID),
        "the default audience is the workspace's (the account id): {audiences:?}"
    );
    let mut secrets = github.issued();
    secrets.push(github.request_token().to_string());
    assert_no_secret_in(&runs, &secrets);
    for emulator in [&primary, &secondary] {
        let ws = emulator.client();
        assert_jobs(&ws, 2, client);
        assert!(
            token_calls(&ws) >= 1,
            "the exchange happens at the workspace"
        );
    }
}

#[test]
fn azure_client_secret_through_the_login_endpoint() {
    let sandbox = Sandbox::new();
    let app = "3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a";
    let secret = unique("entra-secret");
    let entra = FakeEntra::start(&[(app, &secret)], "unused-msi");
    let oauth = OAuthClients::new().trust(entra.issuer(), entra.key(), true);
    let (primary, secondary) = spawn_oauth_pair(sandbox.path(), &oauth, 3600, &[]);
    let block = auth_block(&[
        ("type", "azure-client-secret"),
        ("tenant_id", TENANT_ID),
        ("client_id", app),
        ("client_secret_env", "AZURE_SP_SECRET"),
        ("login_endpoint", entra.url()),
    ]);
    let repo = same_auth_repo(&primary, &secondary, &block, 2);
    let envs = debug(vars(&[("AZURE_SP_SECRET", &secret)]));

    let runs = apply_then_status(&sandbox, &repo, &envs, "azure-client-secret");

    let requests = entra.requests();
    assert!(!requests.is_empty(), "Entra ID was never asked");
    for request in &requests {
        assert_eq!(request.kind, "client_credentials");
        assert_eq!(request.tenant.as_deref(), Some(TENANT_ID));
        assert_eq!(request.client_id.as_deref(), Some(app));
        assert_eq!(
            request.scope.as_deref(),
            Some(format!("{AZURE_DATABRICKS_RESOURCE}/.default").as_str())
        );
    }
    let mut secrets = entra.issued();
    secrets.push(secret);
    assert_no_secret_in(&runs, &secrets);
    for emulator in [&primary, &secondary] {
        let ws = emulator.client();
        assert_jobs(&ws, 2, app);
        assert_eq!(token_calls(&ws), 0, "an Entra token is used as it is");
    }
}

#[test]
fn azure_msi_through_the_identity_endpoint() {
    let sandbox = Sandbox::new();
    let system = "6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d";
    let user_assigned = "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b";
    let entra = FakeEntra::start(&[], system);
    let oauth = OAuthClients::new().trust(entra.issuer(), entra.key(), true);
    let (primary, secondary) = spawn_oauth_pair(sandbox.path(), &oauth, 3600, &[]);
    // The primary's VM has a system-assigned identity; the secondary names a user-assigned one.
    let repo = repo_with(
        &auth_env(
            (&primary.url, &auth_block(&[("type", "azure-msi")])),
            (
                &secondary.url,
                &auth_block(&[("type", "azure-msi"), ("client_id", user_assigned)]),
            ),
        ),
        2,
    );
    let envs = debug(vars(&[("AZURE_POD_IDENTITY_AUTHORITY_HOST", entra.url())]));

    let apply = sandbox.tandem(&repo, &["-e", "test", "apply", "--auto-approve"], &envs);
    apply.success();
    assert_no_secret(&apply, &entra.issued());

    let requests = entra.requests();
    assert!(requests.iter().all(|r| r.kind == "imds"), "{requests:?}");
    assert!(
        requests
            .iter()
            .all(|r| r.scope.as_deref() == Some(AZURE_DATABRICKS_RESOURCE)),
        "{requests:?}"
    );
    assert!(
        requests.iter().any(|r| r.client_id.is_none()),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.client_id.as_deref() == Some(user_assigned)),
        "{requests:?}"
    );
    assert_jobs(&primary.client(), 2, system);
    assert_jobs(&secondary.client(), 2, user_assigned);
}

#[test]
fn azure_cli_asks_az_for_the_azure_databricks_resource() {
    let sandbox = Sandbox::new();
    let (token, oauth) = az_login();
    sandbox.az_logged_in(&token);
    let (primary, secondary) = spawn_oauth_pair(sandbox.path(), &oauth, 3600, &[]);
    let block = auth_block(&[("type", "azure-cli")]);
    let repo = same_auth_repo(&primary, &secondary, &block, 2);
    let envs = debug(Vec::new());

    let runs = apply_then_status(&sandbox, &repo, &envs, "azure-cli");
    assert_no_secret_in(&runs, std::slice::from_ref(&token));

    let calls = sandbox.invocations_of("az");
    assert!(!calls.is_empty(), "az was never run");
    for argv in &calls {
        assert_eq!(argv[1..3], ["account", "get-access-token"], "{argv:?}");
        assert!(
            has_arg(argv, "--resource", AZURE_DATABRICKS_RESOURCE),
            "az asked for the Azure Databricks resource: {argv:?}"
        );
    }
    assert_jobs(&primary.client(), 2, AZ_USER);
    assert_jobs(&secondary.client(), 2, AZ_USER);
}

#[test]
fn databricks_cli_token_for_each_host() {
    let sandbox = Sandbox::new();
    let (primary_token, secondary_token) = (unique("dbcli-p"), unique("dbcli-s"));
    // Each emulator accepts only its own CLI token: one sent to the other host would be refused.
    let spawn = |name: &str, token: &str| {
        let grant = format!("{token}=admin@example.com");
        Emulator::spawn(
            &sandbox.path().join(name),
            &["--token", "dev", "--token", grant.as_str()],
        )
    };
    let primary = spawn("p.json", &primary_token);
    let secondary = spawn("s.json", &secondary_token);
    sandbox.databricks_cli(&[
        (&primary.url, &primary_token),
        (&secondary.url, &secondary_token),
    ]);
    let block = auth_block(&[("type", "databricks-cli")]);
    let repo = same_auth_repo(&primary, &secondary, &block, 2);
    let envs = debug(Vec::new());

    let runs = apply_then_status(&sandbox, &repo, &envs, "databricks-cli");
    assert_no_secret_in(&runs, &[primary_token, secondary_token]);

    let calls = sandbox.invocations_of("databricks");
    for argv in &calls {
        assert_eq!(argv[1..3], ["auth", "token"], "{argv:?}");
    }
    for url in [&primary.url, &secondary.url] {
        assert!(
            calls.iter().any(|argv| has_arg(argv, "--host", url)),
            "databricks auth token --host {url}: {calls:?}"
        );
    }
    assert_jobs(&primary.client(), 2, "admin@example.com");
    assert_jobs(&secondary.client(), 2, "admin@example.com");
}

#[test]
fn a_profile_with_auth_type_oauth_m2m() {
    let sandbox = Sandbox::new();
    let secret = unique("profile-secret");
    let oauth = OAuthClients::new().m2m(M2M_CLIENT, &secret);
    let (primary, secondary) = spawn_oauth_pair(sandbox.path(), &oauth, 3600, &[]);
    // The secret lives in ~/.databrickscfg, outside the repository, as the CLI writes it.
    sandbox.databrickscfg(&format!(
        "[dr-primary]\nhost = {}\nauth_type = oauth-m2m\nclient_id = {M2M_CLIENT}\nclient_secret = {secret}\n\n\
         [dr-secondary]\nhost = {}\nauth_type = oauth-m2m\nclient_id = {M2M_CLIENT}\nclient_secret = {secret}\n",
        primary.url, secondary.url
    ));
    let repo = repo_with(
        &auth_env(
            (&primary.url, "    profile: dr-primary\n"),
            (&secondary.url, "    profile: dr-secondary\n"),
        ),
        2,
    );
    let runs = apply_then_status(&sandbox, &repo, &debug(Vec::new()), "oauth-m2m");
    assert_no_secret_in(&runs, std::slice::from_ref(&secret));
    for emulator in [&primary, &secondary] {
        let ws = emulator.client();
        assert_jobs(&ws, 2, M2M_CLIENT);
        assert!(token_calls(&ws) >= 1);
    }
}

#[test]
fn databricks_auth_type_forces_the_method() {
    let sandbox = Sandbox::new();
    // Both `databricks` (logged in to both hosts) and `az` are installed. Left alone, tandem
    // takes the Databricks CLI (the emulators are not Azure hosts); DATABRICKS_AUTH_TYPE makes
    // it take `az` instead.
    let (az_token, oauth) = az_login();
    let cli_token = unique("dbcli");
    let grant = format!("{cli_token}=admin@example.com");
    let (primary, secondary) = spawn_oauth_pair(
        sandbox.path(),
        &oauth,
        3600,
        &["--token", "dev", "--token", grant.as_str()],
    );
    sandbox.az_logged_in(&az_token);
    sandbox.databricks_cli(&[(&primary.url, &cli_token), (&secondary.url, &cli_token)]);
    let repo = repo_with(&auth_env((&primary.url, ""), (&secondary.url, "")), 2);
    let secrets = [az_token.clone(), cli_token.clone()];

    let forced = debug(vars(&[("DATABRICKS_AUTH_TYPE", "azure-cli")]));
    let runs = apply_then_status(&sandbox, &repo, &forced, "azure-cli");
    assert!(!sandbox.invocations_of("az").is_empty(), "az was run");
    assert!(
        sandbox.invocations_of("databricks").is_empty(),
        "the forced method is the only one tried"
    );
    assert_jobs(&primary.client(), 2, AZ_USER);
    assert_jobs(&secondary.client(), 2, AZ_USER);

    let unforced = sandbox.tandem(&repo, &["-e", "test", "status"], &debug(Vec::new()));
    assert_status_names(&unforced, "databricks-cli");
    assert_no_secret_in(&runs, &secrets);
    assert_no_secret(&unforced, &secrets);
}

// ---------------------------------------------------------------------------------------------
// Tokens that expire mid-run
// ---------------------------------------------------------------------------------------------

#[test]
fn a_run_that_outlives_its_token_refreshes_it() {
    let sandbox = Sandbox::new();
    let secret = unique("m2m-secret");
    let ttl = 2;
    let oauth = OAuthClients::new().m2m(M2M_CLIENT, &secret);
    // Every request takes 150 ms and tandem sends one at a time: 24 jobs outlast the token.
    let (primary, secondary) =
        spawn_oauth_pair(sandbox.path(), &oauth, ttl, &["--latency-ms", "150"]);
    let block = auth_block(&[
        ("type", "oauth-m2m"),
        ("client_id", M2M_CLIENT),
        ("client_secret_env", "M2M_SECRET"),
    ]);
    let jobs = 24;
    let repo = repo_with(
        &auth_env((&primary.url, &block), (&secondary.url, &block)),
        jobs,
    );
    let envs = debug(vars(&[("M2M_SECRET", &secret)]));

    let started = Instant::now();
    let apply = sandbox.tandem(
        &repo,
        &[
            "-e",
            "test",
            "apply",
            "--auto-approve",
            "--parallelism",
            "1",
        ],
        &envs,
    );
    let took = started.elapsed();
    apply.success();
    assert_no_secret(&apply, std::slice::from_ref(&secret));
    assert!(
        took > Duration::from_secs(2 * ttl),
        "calibration: the apply took {took:?}, not longer than two token lifetimes"
    );
    for (name, emulator) in [("primary", &primary), ("secondary", &secondary)] {
        let ws = emulator.client();
        assert_jobs(&ws, jobs, M2M_CLIENT);
        let calls = token_calls(&ws);
        assert!(
            calls >= 2,
            "{name}: a {took:?} run with {ttl} s tokens asked for {calls} token(s)"
        );
    }
    let plan = sandbox.tandem(&repo, &["-e", "test", "plan", "--detailed-exitcode"], &envs);
    assert_eq!(plan.code(), 0, "converged:\n{}", plan.all_output());
}

#[test]
fn a_token_rejected_mid_run_is_refreshed_once_without_repeating_writes() {
    let sandbox = Sandbox::new();
    let secret = unique("m2m-secret");
    let oauth = OAuthClients::new().m2m(M2M_CLIENT, &secret);
    let (primary, secondary) = spawn_oauth_pair(sandbox.path(), &oauth, 3600, &[]);
    let block = auth_block(&[
        ("type", "oauth-m2m"),
        ("client_id", M2M_CLIENT),
        ("client_secret_env", "M2M_SECRET"),
    ]);
    let jobs = 6;
    let repo = repo_with(
        &auth_env((&primary.url, &block), (&secondary.url, &block)),
        jobs,
    );
    // The third job create on the primary is refused as a real workspace refuses an expired
    // token (401, not processed), although the token's lifetime says it is still valid.
    let p = primary.client();
    p.add_fault(json!({
        "method": "POST",
        "path": "/api/*/jobs/create",
        "status": 401,
        "message": "Token is expired",
        "times": 1,
        "skip_first": 2,
    }));
    let envs = debug(vars(&[("M2M_SECRET", &secret)]));

    let apply = sandbox.tandem(&repo, &["-e", "test", "apply", "--auto-approve"], &envs);
    apply.success();
    assert_no_secret(&apply, std::slice::from_ref(&secret));
    assert_eq!(p.stats()["faults_injected"], json!(1), "the 401 was sent");
    assert_eq!(
        token_calls(&p),
        2,
        "one token, then one refresh after the 401"
    );
    assert_eq!(token_calls(&secondary.client()), 1);
    assert_jobs(&p, jobs, M2M_CLIENT);
    assert_jobs(&secondary.client(), jobs, M2M_CLIENT);
}

// ---------------------------------------------------------------------------------------------
// Bad input: a clear error naming the workspace and what to set; nothing written anywhere
// ---------------------------------------------------------------------------------------------

/// Two emulators knowing the M2M client `M2M_CLIENT` with `secret`.
fn m2m_pair(sandbox: &Sandbox, secret: &str) -> (Emulator, Emulator) {
    spawn_oauth_pair(
        sandbox.path(),
        &OAuthClients::new().m2m(M2M_CLIENT, secret),
        3600,
        &[],
    )
}

#[test]
fn an_unknown_auth_type_is_a_validation_error_at_its_position() {
    let sandbox = Sandbox::new();
    let (primary, secondary) = m2m_pair(&sandbox, &unique("m2m-secret"));
    let repo = repo_with(
        &auth_env(
            (&primary.url, &auth_block(&[("type", "kerberos")])),
            (&secondary.url, "    token_env: SECONDARY_TOKEN\n"),
        ),
        1,
    );
    let envs = vars(&[("SECONDARY_TOKEN", "dev")]);
    for command in ["validate", "plan"] {
        let run = sandbox.tandem(&repo, &["-e", "test", command], &envs);
        // Line 5, column 13: the value of `type:` in the primary's `auth:`.
        assert_fails_with(&run, &["environments/test.yaml:5:13", "kerberos"]);
        let stderr = run.stderr();
        assert!(
            ["oauth-m2m", "github-oidc", "azure-cli"]
                .iter()
                .all(|t| stderr.contains(t)),
            "the error lists the known types:\n{stderr}"
        );
    }
    assert_not_contacted(&primary, &secondary);
}

#[test]
fn a_client_id_without_a_secret_names_the_workspace_and_the_variable() {
    let sandbox = Sandbox::new();
    let secret = unique("m2m-secret");
    let (primary, secondary) = m2m_pair(&sandbox, &secret);
    let m2m = |var: Option<&str>| {
        let mut fields = vec![("type", "oauth-m2m"), ("client_id", M2M_CLIENT)];
        if let Some(var) = var {
            fields.push(("client_secret_env", var));
        }
        auth_block(&fields)
    };
    // The secondary names a variable that is not set.
    let repo = repo_with(
        &auth_env(
            (&primary.url, &m2m(Some("PRIMARY_M2M_SECRET"))),
            (&secondary.url, &m2m(Some("SECONDARY_M2M_SECRET"))),
        ),
        2,
    );
    let envs = debug(vars(&[("PRIMARY_M2M_SECRET", &secret)]));
    let run = sandbox.tandem(&repo, &["-e", "test", "apply", "--auto-approve"], &envs);
    assert_fails_with(&run, &["workspace secondary", "SECONDARY_M2M_SECRET"]);
    assert_no_secret(&run, std::slice::from_ref(&secret));

    // The secondary names no variable: the message says what to set.
    repo.write(
        "environments/test.yaml",
        &auth_env(
            (&primary.url, &m2m(Some("PRIMARY_M2M_SECRET"))),
            (&secondary.url, &m2m(None)),
        ),
    );
    let run = sandbox.tandem(&repo, &["-e", "test", "apply", "--auto-approve"], &envs);
    let stderr = assert_fails_with(&run, &["workspace secondary"]);
    assert!(
        stderr.contains("client_secret_env") || stderr.contains("DATABRICKS_CLIENT_SECRET"),
        "names what to set:\n{stderr}"
    );
    assert_no_secret(&run, std::slice::from_ref(&secret));
    assert_nothing_written(&primary, &secondary);
}

#[test]
fn a_literal_client_secret_in_the_file_is_refused_and_not_echoed() {
    let sandbox = Sandbox::new();
    let secret = unique("m2m-secret");
    let (primary, secondary) = m2m_pair(&sandbox, &secret);
    let repo = repo_with(
        &auth_env(
            (
                &primary.url,
                &auth_block(&[
                    ("type", "oauth-m2m"),
                    ("client_id", M2M_CLIENT),
                    ("client_secret_env", "PRIMARY_M2M_SECRET"),
                ]),
            ),
            (
                &secondary.url,
                &auth_block(&[
                    ("type", "oauth-m2m"),
                    ("client_id", M2M_CLIENT),
                    ("client_secret", &secret),
                ]),
            ),
        ),
        1,
    );
    let envs = vars(&[("PRIMARY_M2M_SECRET", &secret)]);
    for command in ["validate", "plan"] {
        let run = sandbox.tandem(&repo, &["-e", "test", command], &envs);
        // Line 13: `client_secret:` in the secondary's `auth:`.
        assert_fails_with(&run, &["environments/test.yaml:13:", "client_secret_env"]);
        assert_no_secret(&run, std::slice::from_ref(&secret));
    }
    assert_not_contacted(&primary, &secondary);
}

#[test]
fn a_secret_scope_cannot_copy_a_workspace_client_secret() {
    let sandbox = Sandbox::new();
    let secret = unique("m2m-secret");
    let (primary, secondary) = m2m_pair(&sandbox, &secret);
    let block = auth_block(&[
        ("type", "oauth-m2m"),
        ("client_id", M2M_CLIENT),
        ("client_secret_env", "M2M_SECRET"),
    ]);
    // A pull request adding a scope whose value is the deployer's OAuth secret would make it
    // readable by every user of the workspace.
    let repo = same_auth_repo(&primary, &secondary, &block, 1).file(
        "resources/scope.yaml",
        "resources:\n  secret_scopes:\n    leak:\n      name: leak\n      secrets:\n        copied: {env: M2M_SECRET}\n",
    );
    let run = sandbox.tandem(
        &repo,
        &["-e", "test", "validate"],
        &vars(&[("M2M_SECRET", &secret)]),
    );
    assert_fails_with(&run, &["M2M_SECRET", "holds credentials"]);
    assert_no_secret(&run, std::slice::from_ref(&secret));
    assert_not_contacted(&primary, &secondary);
}

#[test]
fn a_token_endpoint_refusing_the_client_names_the_workspace() {
    let sandbox = Sandbox::new();
    let secret = unique("m2m-secret");
    let (primary, secondary) = m2m_pair(&sandbox, &secret);
    let block = |client: &str| {
        auth_block(&[
            ("type", "oauth-m2m"),
            ("client_id", client),
            ("client_secret_env", "M2M_SECRET"),
        ])
    };
    // The secondary's workspace has no such service principal.
    let repo = repo_with(
        &auth_env(
            (&primary.url, &block(M2M_CLIENT)),
            (
                &secondary.url,
                &block("9e9e9e9e-0000-4000-8000-000000000bad"),
            ),
        ),
        2,
    );
    let envs = debug(vars(&[("M2M_SECRET", &secret)]));
    let run = sandbox.tandem(&repo, &["-e", "test", "apply", "--auto-approve"], &envs);
    assert_fails_with(&run, &["workspace secondary"]);
    assert_no_secret(&run, std::slice::from_ref(&secret));
    assert_nothing_written(&primary, &secondary);
    assert!(
        token_calls(&secondary.client()) >= 1,
        "the endpoint was asked"
    );
}

#[test]
fn a_token_endpoint_answering_garbage_names_the_workspace() {
    let sandbox = Sandbox::new();
    let secret = unique("m2m-secret");
    let (primary, secondary) = m2m_pair(&sandbox, &secret);
    let garbage = GarbageWorkspace::start();
    let block = auth_block(&[
        ("type", "oauth-m2m"),
        ("client_id", M2M_CLIENT),
        ("client_secret_env", "M2M_SECRET"),
    ]);
    let repo = repo_with(
        &auth_env((&primary.url, &block), (garbage.url(), &block)),
        2,
    );
    let envs = debug(vars(&[("M2M_SECRET", &secret)]));
    let run = sandbox.tandem(&repo, &["-e", "test", "apply", "--auto-approve"], &envs);
    assert_fails_with(&run, &["workspace secondary"]);
    assert_no_secret(&run, std::slice::from_ref(&secret));
    assert_nothing_written(&primary, &secondary);
}

#[test]
fn az_not_installed_says_so() {
    let sandbox = Sandbox::new();
    let (primary, secondary) = m2m_pair(&sandbox, &unique("m2m-secret"));
    let block = auth_block(&[("type", "azure-cli")]);
    let repo = same_auth_repo(&primary, &secondary, &block, 1);
    // PATH is an empty directory: there is no `az`.
    let run = sandbox.tandem(&repo, &["-e", "test", "apply", "--auto-approve"], &[]);
    let stderr = assert_fails_with(&run, &["az"]);
    assert!(names_a_workspace(&stderr), "names the workspace:\n{stderr}");
    assert!(
        stderr.contains("install") || stderr.contains("PATH"),
        "says `az` is missing:\n{stderr}"
    );
    assert_nothing_written(&primary, &secondary);
}

#[test]
fn az_not_logged_in_says_to_log_in() {
    let sandbox = Sandbox::new();
    sandbox.az_logged_out();
    let (primary, secondary) = m2m_pair(&sandbox, &unique("m2m-secret"));
    let block = auth_block(&[("type", "azure-cli")]);
    let repo = same_auth_repo(&primary, &secondary, &block, 1);
    let run = sandbox.tandem(&repo, &["-e", "test", "apply", "--auto-approve"], &[]);
    let stderr = assert_fails_with(&run, &["az login"]);
    assert!(names_a_workspace(&stderr), "names the workspace:\n{stderr}");
    assert!(!sandbox.invocations_of("az").is_empty(), "az was run");
    assert_nothing_written(&primary, &secondary);
}

#[test]
fn databricks_cli_not_logged_in_for_the_host_names_the_login() {
    let sandbox = Sandbox::new();
    let token = unique("dbcli");
    let grant = format!("{token}=admin@example.com");
    let flags = ["--token", "dev", "--token", grant.as_str()];
    let primary = Emulator::spawn(&sandbox.path().join("p.json"), &flags);
    let secondary = Emulator::spawn(&sandbox.path().join("s.json"), &flags);
    // Logged in to the primary only.
    sandbox.databricks_cli(&[(&primary.url, &token)]);
    let block = auth_block(&[("type", "databricks-cli")]);
    let repo = same_auth_repo(&primary, &secondary, &block, 1);
    let run = sandbox.tandem(
        &repo,
        &["-e", "test", "apply", "--auto-approve"],
        &debug(Vec::new()),
    );
    let login = format!("databricks auth login --host {}", secondary.url);
    assert_fails_with(&run, &["workspace secondary", &login]);
    assert_no_secret(&run, std::slice::from_ref(&token));
    assert_nothing_written(&primary, &secondary);
}

// ---------------------------------------------------------------------------------------------
// The fakes against the emulator, without tandem
// ---------------------------------------------------------------------------------------------

/// `application/x-www-form-urlencoded` of `fields`.
fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// `POST url` with a form body (and HTTP Basic client authentication if given): status, JSON.
async fn post_form(
    http: &reqwest::Client,
    url: &str,
    fields: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, serde_json::Value) {
    let mut request = http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(fields));
    if let Some((user, password)) = basic {
        request = request.basic_auth(user, Some(password));
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// The JSON answer of a request (`Null` if it is not JSON).
async fn get_json(request: reqwest::RequestBuilder) -> serde_json::Value {
    let response = request.send().await.expect("request");
    response.json().await.unwrap_or_default()
}

/// The `access_token` of a token answer.
fn access_token(answer: &serde_json::Value) -> String {
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token in {answer}"))
        .to_string()
}

/// What the emulator says to a bearer: status and body of `GET /api/2.0/preview/scim/v2/Me`.
async fn whoami(http: &reqwest::Client, url: &str, token: &str) -> (u16, serde_json::Value) {
    let (status, body, _) = super::harness::send_request(
        http,
        reqwest::Method::GET,
        format!("{url}/api/2.0/preview/scim/v2/Me"),
        token,
        None,
    )
    .await;
    (status, body)
}

/// Every fake speaks the wire contract the emulator expects (auth-spec.md), so a failing
/// end-to-end test above points at tandem, not at its test doubles: M2M at the token endpoint,
/// the GitHub ID token exchanged there, Entra ID's client-credentials and managed identity
/// tokens and the `az` token accepted as bearers, and an issued token expiring with the
/// gateway's 401.
#[test]
fn the_fakes_and_the_emulator_agree_on_the_wire() {
    let sandbox = Sandbox::new();
    let subject = "repo:acme/dr:environment:prod";
    let github = FakeGithub::start(subject);
    let (app, secret) = ("3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a", unique("secret"));
    let msi = "6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d";
    let entra = FakeEntra::start(&[(app, &secret)], msi);
    let federated = "5c0f3e1a-7b2d-4c8e-9f6a-1d2e3f4a5b6c";
    let (az_token, az_trust) = az_login();
    let oauth = az_trust
        .m2m(M2M_CLIENT, &secret)
        .federated(federated, github.issuer(), ACCOUNT_ID, subject)
        .trust(github.issuer(), github.key(), false)
        .trust(entra.issuer(), entra.key(), true);
    let ttl = 2;
    let (primary, _secondary) = spawn_oauth_pair(sandbox.path(), &oauth, ttl, &[]);
    let url = primary.url.clone();
    let token_url = format!("{url}/oidc/v1/token");

    // The fake executables, run as tandem runs them: with PATH holding only them.
    sandbox.az_logged_in(&az_token);
    let cli_token = unique("dbcli");
    sandbox.databricks_cli(&[(&url, &cli_token)]);
    let run = |argv: &[&str]| {
        let output = std::process::Command::new(sandbox.bin().join(argv[0]))
            .args(&argv[1..])
            .env_clear()
            .env("PATH", sandbox.bin())
            .output()
            .expect("run fake");
        let stdout: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        (
            output.status.code(),
            stdout,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, az, _) = run(&[
        "az",
        "account",
        "get-access-token",
        "--resource",
        AZURE_DATABRICKS_RESOURCE,
        "--output",
        "json",
    ]);
    assert_eq!(
        (code, &az["accessToken"]),
        (Some(0), &json!(az_token)),
        "{az}"
    );
    let (code, cli, _) = run(&["databricks", "auth", "token", "--host", &url]);
    assert_eq!(
        (code, &cli["access_token"]),
        (Some(0), &json!(cli_token)),
        "{cli}"
    );
    let (code, _, stderr) = run(&[
        "databricks",
        "auth",
        "token",
        "--host",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("databricks auth login --host http://127.0.0.1:9"),
        "{stderr}"
    );
    assert_eq!(sandbox.invocations().len(), 3, "every run is logged");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::new();
        let config: serde_json::Value = get_json(http
            .get(format!("{url}/.well-known/databricks-config")))
            .await;
        assert_eq!(config["account_id"], json!(ACCOUNT_ID), "{config}");

        // oauth-m2m
        let (status, m2m) = post_form(
            &http,
            &token_url,
            &[("grant_type", "client_credentials"), ("scope", "all-apis")],
            Some((M2M_CLIENT, &secret)),
        )
        .await;
        assert_eq!(status, 200, "{m2m}");
        let m2m = access_token(&m2m);
        let (status, me) = whoami(&http, &url, &m2m).await;
        assert_eq!((status, &me["userName"]), (200, &json!(M2M_CLIENT)), "{me}");

        // github-oidc: the job's ID token, exchanged at the workspace
        let id_token: serde_json::Value = get_json(http
            .get(format!("{}&audience={ACCOUNT_ID}", github.request_url()))
            .bearer_auth(github.request_token()))
            .await;
        let id_token = id_token["value"].as_str().expect("value");
        let (status, exchanged) = post_form(
            &http,
            &token_url,
            &[
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                ),
                ("subject_token", id_token),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:jwt",
                ),
                ("client_id", federated),
                ("scope", "all-apis"),
            ],
            None,
        )
        .await;
        assert_eq!(status, 200, "{exchanged}");
        let (status, me) = whoami(&http, &url, &access_token(&exchanged)).await;
        assert_eq!(status, 200, "{me}");

        // azure-client-secret
        let (status, sp) = post_form(
            &http,
            &format!("{}/{TENANT_ID}/oauth2/v2.0/token", entra.url()),
            &[
                ("grant_type", "client_credentials"),
                ("client_id", app),
                ("client_secret", &secret),
                (
                    "scope",
                    &format!("{AZURE_DATABRICKS_RESOURCE}/.default"),
                ),
            ],
            None,
        )
        .await;
        assert_eq!(status, 200, "{sp}");
        let (status, _) = whoami(&http, &url, &access_token(&sp)).await;
        assert_ne!(status, 403, "an Entra token of a trusted issuer is a bearer");

        // azure-msi
        let imds: serde_json::Value = http
            .get(format!(
                "{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource={AZURE_DATABRICKS_RESOURCE}",
                entra.url()
            ))
            .header("Metadata", "true")
            .send()
            .await
            .expect("imds")
            .json()
            .await
            .expect("json");
        let (status, _) = whoami(&http, &url, &access_token(&imds)).await;
        assert_ne!(status, 403, "a managed identity token is a bearer");

        // azure-cli
        let (status, me) = whoami(&http, &url, &az_token).await;
        assert_ne!(status, 403, "the az token is a bearer: {me}");

        // Issued tokens expire, with the gateway's answer.
        tokio::time::sleep(Duration::from_millis(ttl * 1000 + 500)).await;
        let (status, body) = whoami(&http, &url, &m2m).await;
        assert_eq!(
            (status, &body["message"]),
            (401, &json!("Token is expired")),
            "{body}"
        );
    });
}
