//! The environment file: which workspaces form the environment, which one is active, which files
//! hold resources, and the variables each workspace sees.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::diagnostic::{Problem, did_you_mean};
use super::node::{Key, Node, NodeValue, Span};
pub use crate::client::auth::{AZURE_ENVIRONMENTS, AuthMethod};
pub use crate::client::origin::{BadHost, has_userinfo, is_loopback, parse_origin};
pub use crate::model::Role;

/// The include globs used when an environment file gives none.
pub const DEFAULT_INCLUDE: &[&str] = &[
    "resources/**/*.yaml",
    "resources/**/*.yml",
    "resources/**/*.hcl",
];

/// Where a workspace is reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Host {
    /// A real workspace's origin, normalised by [`parse_origin`] (`https://host`, lower-case,
    /// no trailing `/`, no default port).
    Url(String),
    /// An embedded emulated workspace (`local:<name>`).
    Local(String),
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Url(url) => f.write_str(url),
            Host::Local(name) => write!(f, "local:{name}"),
        }
    }
}

/// How tandem authenticates to a workspace. Never holds a credential itself: only where to
/// find one (variable names, a profile name) and what is not secret (client and tenant ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Auth {
    /// The token is in this environment variable.
    TokenEnv(String),
    /// A profile of `~/.databrickscfg`.
    Profile(String),
    /// An `auth:` block naming the method.
    Method(AuthSpec),
    /// Databricks unified authentication from `DATABRICKS_*` / `ARM_*` variables, a profile
    /// for the host, or a logged-in CLI (nothing is needed for `local:` workspaces).
    Default,
}

impl Auth {
    /// The environment variables named for this workspace that hold secrets, each with the
    /// key naming it (so no secret source may read them into a workspace).
    pub fn secret_variables(&self) -> Vec<(&'static str, &str)> {
        match self {
            Auth::TokenEnv(var) => vec![("token_env", var.as_str())],
            Auth::Method(spec) => [
                ("token_env", &spec.token_env),
                ("client_secret_env", &spec.client_secret_env),
            ]
            .into_iter()
            .filter_map(|(key, var)| var.as_deref().map(|v| (key, v)))
            .collect(),
            Auth::Profile(_) | Auth::Default => Vec::new(),
        }
    }
}

/// A setting that is not secret: written in the file, or named by an environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", content = "value", rename_all = "snake_case")]
pub enum Setting {
    /// The value itself.
    Literal(String),
    /// The variable holding it.
    Env(String),
}

/// A workspace's `auth:` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct AuthSpec {
    /// The method (`type:`); `None` when only `profile:` is given (its `auth_type` decides).
    pub method: Option<AuthMethod>,
    /// The service principal's (or managed identity's) client id.
    pub client_id: Option<Setting>,
    /// The variable holding the client secret.
    pub client_secret_env: Option<String>,
    /// The Entra ID tenant.
    pub tenant_id: Option<Setting>,
    /// The variable holding a personal access token.
    pub token_env: Option<String>,
    /// The audience of GitHub's ID token (the federation policy's).
    pub audience: Option<String>,
    /// The Entra ID login endpoint (normalised origin), from `login_endpoint` or `azure_environment`.
    pub login_endpoint: Option<String>,
    /// A `~/.databrickscfg` profile: the attributes' fallback, or `--profile` for databricks-cli.
    pub profile: Option<String>,
}

/// One workspace of the environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkspaceSpec {
    /// The workspace's name in this environment (`primary`).
    pub name: String,
    /// Where it is.
    pub host: Host,
    /// How to authenticate.
    pub auth: Auth,
}

/// A variable's value: the same everywhere or one per workspace.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Variable {
    /// One value for every workspace.
    Uniform(Value),
    /// A value per workspace name.
    PerWorkspace(BTreeMap<String, Value>),
}

/// A loaded environment file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Environment {
    /// The environment's name (the file's stem).
    pub name: String,
    /// Its workspaces, in file order.
    pub workspaces: Vec<WorkspaceSpec>,
    /// The active workspace's name.
    pub active: String,
    /// Globs selecting resource files, relative to the config root.
    pub include: Vec<String>,
    /// Whether `include` was written in the file (each explicit glob must match something).
    #[serde(skip)]
    pub include_explicit: bool,
    /// Variables by name.
    pub variables: BTreeMap<String, Variable>,
}

impl Environment {
    /// The role of workspace `name` according to this file.
    pub fn role_of(&self, name: &str) -> Role {
        if self.active == name {
            Role::Active
        } else {
            Role::Passive
        }
    }

    /// The workspace called `name`.
    pub fn workspace(&self, name: &str) -> Option<&WorkspaceSpec> {
        self.workspaces.iter().find(|w| w.name == name)
    }

    /// Variable `name`'s value for workspace `workspace`.
    pub fn variable(&self, name: &str, workspace: &str) -> Option<&Value> {
        match self.variables.get(name)? {
            Variable::Uniform(v) => Some(v),
            Variable::PerWorkspace(map) => map.get(workspace),
        }
    }
}

/// Builds the environment from its (schema-checked) node, adding a problem for everything the
/// schema cannot see. Shapes the schema already rejected are skipped silently.
pub fn build(name: &str, root: &Node, problems: &mut Vec<Problem>) -> Environment {
    let mut workspaces = Vec::new();
    let workspaces_entry = root.entry("workspaces");
    if let Some((_, node)) = workspaces_entry
        && let Some(entries) = node.as_map()
    {
        for (key, spec) in entries {
            if let Some(workspace) = build_workspace(key, spec, problems) {
                workspaces.push(workspace);
            }
        }
    }
    match workspaces_entry {
        Some((key, node)) if node.as_map().is_some_and(|m| m.len() < 2) => problems.push(
            Problem::new(
                key.span,
                format!(
                    "an environment needs at least two workspaces, found {}",
                    node.as_map().map_or(0, <[_]>::len)
                ),
                "fewer than two workspaces",
            )
            .help("add the disaster-recovery workspace under `workspaces:` (tandem keeps a primary and a secondary in step)"),
        ),
        None if root.as_map().is_some() => {} // the schema reports the missing field
        _ => {}
    }

    let mut active = String::new();
    if let Some(node) = root.get("active")
        && let Some(name) = node.as_str()
    {
        active = name.to_string();
        let known: Vec<&str> = root
            .get("workspaces")
            .and_then(Node::as_map)
            .map(|m| m.iter().map(|(k, _)| k.name.as_str()).collect())
            .unwrap_or_default();
        if !known.is_empty() && !known.contains(&name) {
            let mut problem = Problem::new(
                node.span,
                format!("`active` names `{name}`, which is not a workspace of this environment"),
                "no such workspace",
            );
            problem = match did_you_mean(name, known.iter().copied()) {
                Some(s) => problem.help(format!(
                    "did you mean `{s}`? workspaces: {}",
                    known.join(", ")
                )),
                None => problem.help(format!("use one of: {}", known.join(", "))),
            };
            problems.push(problem);
        }
    }

    let (include, include_explicit) = match root.get("include").map(|n| &n.value) {
        Some(NodeValue::Seq(items)) => (
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            true,
        ),
        _ => (
            DEFAULT_INCLUDE.iter().map(|s| s.to_string()).collect(),
            false,
        ),
    };

    // Names come from the file, not from the workspaces that built: a bad host must not hide
    // a missing variable.
    let names: Vec<&str> = root
        .get("workspaces")
        .and_then(Node::as_map)
        .map(|m| m.iter().map(|(k, _)| k.name.as_str()).collect())
        .unwrap_or_default();
    let mut variables = BTreeMap::new();
    if let Some(entries) = root.get("variables").and_then(Node::as_map) {
        for (key, value) in entries {
            if let Some(variable) = build_variable(key, value, &names, problems) {
                variables.insert(key.name.clone(), variable);
            }
        }
    }

    Environment {
        name: name.to_string(),
        workspaces,
        active,
        include,
        include_explicit,
        variables,
    }
}

fn build_workspace(key: &Key, spec: &Node, problems: &mut Vec<Problem>) -> Option<WorkspaceSpec> {
    let host_node = spec.get("host")?;
    let host = parse_host(host_node.as_str()?).map_err(|(message, help)| {
        problems.push(Problem::new(host_node.span, message, "invalid host").help(help));
    });
    let token_env = spec.get("token_env");
    let profile = spec.get("profile");
    let block = spec.entry("auth");
    let given: Vec<(&str, Span)> = [
        ("token_env", token_env.map(|n| n.span)),
        ("profile", profile.map(|n| n.span)),
        ("auth", block.map(|(k, _)| k.span)),
    ]
    .into_iter()
    .filter_map(|(name, span)| span.map(|s| (name, s)))
    .collect();
    if given.len() > 1 {
        let names: Vec<String> = given.iter().map(|(n, _)| format!("`{n}`")).collect();
        let both = if names.len() == 2 { "both " } else { "" };
        problems.push(
            Problem::new(
                given[0].1,
                format!("workspace `{}` sets {both}{}", key.name, names.join(" and ")),
                "choose one",
            )
            .help("keep one of `token_env` (a variable holding a token), `profile` (a ~/.databrickscfg section) or an `auth:` block"),
        );
    }
    let auth = if let Some((_, block)) = block {
        build_auth_block(&key.name, block, problems)
    } else if let Some(t) = token_env {
        match t.as_str() {
            Some(var) if is_env_var_name(var) => Auth::TokenEnv(var.to_string()),
            Some(_) => {
                problems.push(not_a_variable(t.span, "token_env"));
                Auth::Default
            }
            None => Auth::Default,
        }
    } else if let Some(p) = profile {
        Auth::Profile(p.as_str().unwrap_or_default().to_string())
    } else {
        Auth::Default
    };
    Some(WorkspaceSpec {
        name: key.name.clone(),
        host: host.ok()?,
        auth,
    })
}

/// Keys of an `auth:` block that would hold a credential itself (refused, and masked in excerpts).
pub const AUTH_SECRET_KEYS: [&str; 4] = ["client_secret", "token", "secret", "password"];

/// The problem of a `*_env` key whose value is not a variable name (most likely the secret itself).
fn not_a_variable(span: Span, key: &str) -> Problem {
    Problem::new(
        span,
        format!("`{key}` must name an environment variable, not hold a credential"),
        "not a variable name",
    )
    .help("put the credential in an environment variable (in CI: a secret mapped to it) and write the variable's name here; never commit a credential")
}

/// Builds a workspace's `auth:` block (the schema checked its shape: keys and value types).
fn build_auth_block(workspace: &str, block: &Node, problems: &mut Vec<Problem>) -> Auth {
    let text = |name: &str| {
        block
            .get(name)
            .and_then(|n| n.as_str().map(|s| (s, n.span)))
    };
    let mut spec = AuthSpec::default();
    let mut bad = false;
    for literal in AUTH_SECRET_KEYS {
        if let Some(node) = block.get(literal) {
            bad = true;
            let key = if literal == "token" {
                "token_env"
            } else {
                "client_secret_env"
            };
            problems.push(
                Problem::new(
                    node.span,
                    format!("workspace `{workspace}`: `auth.{literal}` would put a credential in the repository"),
                    "a secret in the file",
                )
                .help(format!("never commit a credential: put it in an environment variable (in CI: a secret mapped to it) and name the variable with `{key}: <VAR>`")),
            );
        }
    }
    if let Some((name, span)) = text("type") {
        match AuthMethod::parse(name) {
            Some(method) => spec.method = Some(method),
            None => {
                bad = true;
                let names = AuthMethod::ALL.map(AuthMethod::as_str);
                let mut problem = Problem::new(
                    span,
                    format!("workspace `{workspace}`: unknown auth type `{name}`"),
                    "unknown auth type",
                );
                problem = match did_you_mean(name, names) {
                    Some(s) => {
                        problem.help(format!("did you mean `{s}`? types: {}", names.join(", ")))
                    }
                    None => problem.help(format!("use one of: {}", names.join(", "))),
                };
                problems.push(problem);
            }
        }
    }
    let variable = |key: &str, problems: &mut Vec<Problem>| -> Option<String> {
        let (value, span) = text(key)?;
        if is_env_var_name(value) {
            Some(value.to_string())
        } else {
            problems.push(not_a_variable(span, key));
            None
        }
    };
    spec.client_secret_env = variable("client_secret_env", problems);
    spec.token_env = variable("token_env", problems);
    let client_id_env = variable("client_id_env", problems);
    let tenant_id_env = variable("tenant_id_env", problems);
    let setting = |literal: &str, env: Option<String>, problems: &mut Vec<Problem>| match (
        text(literal),
        env,
    ) {
        (Some((_, span)), Some(_)) => {
            problems.push(
                    Problem::new(span, format!("workspace `{workspace}` sets both `{literal}` and `{literal}_env`"), "choose one")
                        .help(format!("write the value with `{literal}` or the variable holding it with `{literal}_env`, not both")),
                );
            None
        }
        (Some((value, _)), None) => Some(Setting::Literal(value.to_string())),
        (None, Some(var)) => Some(Setting::Env(var)),
        (None, None) => None,
    };
    spec.client_id = setting("client_id", client_id_env, problems);
    spec.tenant_id = setting("tenant_id", tenant_id_env, problems);
    spec.audience = text("audience").map(|(a, _)| a.to_string());
    spec.profile = text("profile").map(|(p, _)| p.to_string());
    match (text("login_endpoint"), text("azure_environment")) {
        (Some((raw, span)), environment) => {
            if let Some((_, other)) = environment {
                problems.push(
                    Problem::new(other, format!("workspace `{workspace}` sets both `login_endpoint` and `azure_environment`"), "choose one")
                        .help("`azure_environment` picks a cloud's login endpoint; `login_endpoint` names one outright"),
                );
            }
            match parse_origin(raw) {
                Ok(origin) => spec.login_endpoint = Some(origin),
                Err(e) => problems.push(Problem::new(span, e.message, "invalid login endpoint").help(
                    "write the Entra ID login endpoint as https://<host> (e.g. https://login.microsoftonline.us)",
                )),
            }
        }
        (None, Some((name, span))) => {
            match AZURE_ENVIRONMENTS
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                Some((_, url)) => spec.login_endpoint = Some((*url).to_string()),
                None => problems.push(
                    Problem::new(
                        span,
                        format!("unknown azure_environment `{name}`"),
                        "unknown cloud",
                    )
                    .help(format!(
                        "use one of: {}",
                        AZURE_ENVIRONMENTS
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                ),
            }
        }
        (None, None) => {}
    }
    match spec.method {
        Some(method) => check_auth_keys(workspace, method, block, problems),
        None if spec.profile.is_none() && !bad => problems.push(
            Problem::new(block.span, format!("workspace `{workspace}`: the `auth:` block names no `type`"), "no type")
                .help(format!(
                    "add `type: <method>` ({}), or `profile: <name>` to take the method from a ~/.databrickscfg profile",
                    AuthMethod::ALL.map(AuthMethod::as_str).join(", ")
                )),
        ),
        None => {}
    }
    Auth::Method(spec)
}

/// Flags the keys of an `auth:` block that `method` does not use (a likely mistake: a
/// `client_secret_env` under `github-oidc` would silently be ignored).
fn check_auth_keys(workspace: &str, method: AuthMethod, block: &Node, problems: &mut Vec<Problem>) {
    let used: &[&str] = match method {
        AuthMethod::Pat => &["token_env", "profile"],
        AuthMethod::OauthM2m => &["client_id", "client_id_env", "client_secret_env", "profile"],
        AuthMethod::GithubOidc => &["client_id", "client_id_env", "audience", "profile"],
        AuthMethod::AzureClientSecret => &[
            "client_id",
            "client_id_env",
            "client_secret_env",
            "tenant_id",
            "tenant_id_env",
            "azure_environment",
            "login_endpoint",
            "profile",
        ],
        AuthMethod::AzureMsi => &["client_id", "client_id_env", "profile"],
        AuthMethod::AzureCli => &["tenant_id", "tenant_id_env", "profile"],
        AuthMethod::DatabricksCli => &["profile"],
    };
    for (key, _) in block.as_map().unwrap_or_default() {
        let name = key.name.as_str();
        if name == "type" || used.contains(&name) || AUTH_SECRET_KEYS.contains(&name) {
            continue;
        }
        problems.push(
            Problem::new(
                key.span,
                format!("workspace `{workspace}`: `{name}` does not apply to auth type `{method}`"),
                "not used by this method",
            )
            .help(format!("auth type `{method}` takes: {}", used.join(", "))),
        );
    }
}

/// Whether `s` looks like an environment variable name (and so not like a token).
pub fn is_env_var_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with("dapi")
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses and normalises a `host:` value: `local:<name>`, or a workspace URL reduced to its
/// origin (see [`parse_origin`]).
pub fn parse_host(raw: &str) -> Result<Host, (String, String)> {
    let raw = raw.trim();
    if let Some(name) = raw.strip_prefix("local:") {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        return if valid {
            Ok(Host::Local(name.to_string()))
        } else {
            Err((
                format!("`{raw}` is not a valid embedded workspace name"),
                "write local:<name> with letters, digits, `-` or `_` (e.g. local:primary)"
                    .to_string(),
            ))
        };
    }
    parse_origin(raw)
        .map(Host::Url)
        .map_err(|bad| (bad.message, bad.help))
}

fn build_variable(
    key: &Key,
    value: &Node,
    workspaces: &[&str],
    problems: &mut Vec<Problem>,
) -> Option<Variable> {
    match &value.value {
        NodeValue::Map(entries) => {
            let mut per = BTreeMap::new();
            for (ws, v) in entries {
                if !workspaces.is_empty() && !workspaces.contains(&ws.name.as_str()) {
                    let mut problem = Problem::new(
                        ws.span,
                        format!(
                            "variable `{}` has a value for `{}`, which is not a workspace",
                            key.name, ws.name
                        ),
                        "no such workspace",
                    );
                    problem = match did_you_mean(&ws.name, workspaces.iter().copied()) {
                        Some(s) => problem.help(format!("did you mean `{s}`?")),
                        None => problem.help(format!("workspaces: {}", workspaces.join(", "))),
                    };
                    problems.push(problem);
                }
                per.insert(ws.name.clone(), v.to_json());
            }
            for ws in workspaces {
                if !per.contains_key(*ws) {
                    problems.push(
                        Problem::new(
                            key.span,
                            format!("variable `{}` has no value for workspace `{ws}`", key.name),
                            format!("missing `{ws}`"),
                        )
                        .help(format!(
                            "add `{ws}: <value>` under `{}`, or give one value for every workspace",
                            key.name
                        )),
                    );
                }
            }
            Some(Variable::PerWorkspace(per))
        }
        NodeValue::Seq(_) => None, // the schema reports it
        _ => Some(Variable::Uniform(value.to_json())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_normalised_and_checked() {
        assert_eq!(
            parse_host("adb-1.azuredatabricks.net/").unwrap(),
            Host::Url("https://adb-1.azuredatabricks.net".into())
        );
        assert_eq!(
            parse_host("https://x.cloud.databricks.com:443").unwrap(),
            Host::Url("https://x.cloud.databricks.com".into())
        );
        assert_eq!(
            parse_host("http://127.0.0.1:8001").unwrap(),
            Host::Url("http://127.0.0.1:8001".into())
        );
        assert_eq!(
            parse_host("local:primary").unwrap(),
            Host::Local("primary".into())
        );
        assert!(parse_host("http://adb-1.azuredatabricks.net").is_err());
        assert!(parse_host("ftp://x").is_err());
        assert!(parse_host("local:").is_err());
    }

    #[test]
    fn hosts_are_origins_with_the_case_and_default_port_normalised() {
        for (raw, origin) in [
            (
                "HTTPS://ADB-1.AzureDatabricks.NET",
                "https://adb-1.azuredatabricks.net",
            ),
            ("https://x.example:8443/", "https://x.example:8443"),
            ("localhost:8001", "https://localhost:8001"),
            ("http://localhost", "http://localhost"),
            ("http://127.0.0.1:80", "http://127.0.0.1"),
            ("http://127.1.2.3:9", "http://127.1.2.3:9"),
            ("http://[::1]:8001", "http://[::1]:8001"),
        ] {
            assert_eq!(parse_origin(raw).as_deref(), Ok(origin), "{raw}");
        }
    }

    #[test]
    fn look_alike_loopback_hosts_get_no_plain_http() {
        for raw in [
            "http://127.attacker.example",
            "http://127.0.0.1.nip.io",
            "http://localhost.evil.com",
            "http://[::ffff:8.8.8.8]",
            "http://10.0.0.1",
        ] {
            let bad = parse_origin(raw).expect_err(raw);
            assert!(bad.insecure, "{raw}: {}", bad.message);
        }
        for host in [
            "127.0.0.1",
            "127.255.0.9",
            "[::1]",
            "::1",
            "localhost",
            "LOCALHOST",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "127.attacker.example",
            "127.0.0.1.nip.io",
            "localhost.evil.com",
            "[::2]",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn user_information_is_refused_and_never_quoted() {
        for raw in [
            "http://127.0.0.1@example.com",
            "https://user:hunter2@adb-1.azuredatabricks.net",
            "https://token@adb-1.azuredatabricks.net",
            "http://@127.0.0.1:8001",
            "user:hunter2@adb-1.azuredatabricks.net",
        ] {
            let bad = parse_origin(raw).expect_err(raw);
            assert!(
                bad.message.contains("user information"),
                "{raw}: {}",
                bad.message
            );
            assert!(
                !bad.message.contains("hunter2") && !bad.message.contains("token@"),
                "{}",
                bad.message
            );
        }
    }

    #[test]
    fn a_host_with_a_path_query_or_fragment_is_refused() {
        for raw in [
            "https://adb-1.azuredatabricks.net/?o=123",
            "https://adb-1.azuredatabricks.net/api",
            "https://adb-1.azuredatabricks.net#x",
            "http://127.0.0.1\\@example.com",
        ] {
            let bad = parse_origin(raw).expect_err(raw);
            assert!(
                bad.message.contains("path, query or fragment"),
                "{raw}: {}",
                bad.message
            );
        }
        assert!(parse_origin("https://").is_err());
        assert!(parse_origin("https://a b").is_err());
    }

    #[test]
    fn token_like_values_are_not_variable_names() {
        assert!(is_env_var_name("PRIMARY_DATABRICKS_TOKEN"));
        assert!(!is_env_var_name("dapi0123456789abcdef0123456789abcdef"));
        assert!(!is_env_var_name("has-dash"));
    }
}
