//! The environment file: which workspaces form the environment, which one is active, which files
//! hold resources, and the variables each workspace sees.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::diagnostic::{Problem, did_you_mean};
use super::node::{Key, Node, NodeValue};
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

/// How tandem authenticates to a workspace. Never holds a token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Auth {
    /// The token is in this environment variable.
    TokenEnv(String),
    /// A profile of `~/.databrickscfg`.
    Profile(String),
    /// `DATABRICKS_TOKEN` / the default profile (or none needed, for `local:` workspaces).
    Default,
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
    let auth = match (token_env, profile) {
        (Some(t), Some(_)) => {
            problems.push(
                Problem::new(
                    t.span,
                    format!("workspace `{}` sets both `token_env` and `profile`", key.name),
                    "choose one",
                )
                .help("keep `token_env` (a variable holding the token) or `profile` (a ~/.databrickscfg section), not both"),
            );
            Auth::Default
        }
        (Some(t), None) => match t.as_str() {
            Some(var) if is_env_var_name(var) => Auth::TokenEnv(var.to_string()),
            Some(_) => {
                problems.push(
                    Problem::new(t.span, "`token_env` must name an environment variable, not hold a token", "not a variable name")
                        .help("set the token in an environment variable (e.g. PRIMARY_DATABRICKS_TOKEN) and write its name here; never commit a token"),
                );
                Auth::Default
            }
            None => Auth::Default,
        },
        (None, Some(p)) => Auth::Profile(p.as_str().unwrap_or_default().to_string()),
        (None, None) => Auth::Default,
    };
    Some(WorkspaceSpec {
        name: key.name.clone(),
        host: host.ok()?,
        auth,
    })
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

/// Why a workspace URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHost {
    /// Plain http to a host that is not a loopback address (the client reports it as insecure).
    pub insecure: bool,
    /// What is wrong, quoting the URL with any user information masked.
    pub message: String,
    /// What to write instead.
    pub help: String,
}

/// Parses a workspace URL (a bare host name means `https://`) into its normalised origin:
/// `scheme://host[:port]`, host lower-case, no default port. Refused: user information
/// (`user@`, which also hides the real host, as in `http://127.0.0.1@example.com`), a path,
/// query or fragment (a workspace is an origin), schemes other than https, and plain http to
/// anything but a loopback address. The config check and the API client both use it, so the
/// host a token is sent to is the host that was checked.
pub fn parse_origin(raw: &str) -> Result<String, BadHost> {
    let raw = raw.trim();
    let shown = mask_userinfo(raw);
    let bad = |message: String, help: &str| BadHost {
        insecure: false,
        message,
        help: help.to_string(),
    };
    let not_a_url = || {
        bad(
            format!("`{shown}` is not a workspace URL"),
            "write https://<workspace-host> (or local:<name> for an embedded workspace)",
        )
    };
    // Without a scheme, `url` would read `localhost:8001` as scheme `localhost`.
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("https://{raw}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|_| not_a_url())?;
    let scheme = url.scheme().to_string();
    if scheme != "https" && scheme != "http" {
        return Err(bad(
            format!("`{shown}` has unsupported scheme `{scheme}`"),
            "use https://<workspace-host>",
        ));
    }
    if has_userinfo(&with_scheme) || !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            format!("`{shown}` contains user information (`…@`) before the host"),
            "write only https://<workspace-host>: credentials never go in the URL (use token_env or profile), and whatever precedes `@` is not the host the request goes to",
        ));
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err(not_a_url());
    };
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            format!("`{shown}` has a path, query or fragment; a workspace host is an origin"),
            "write only the scheme and host (and port), e.g. https://adb-1234567890123456.7.azuredatabricks.net, without `/…`, `?o=…` or `#…`",
        ));
    }
    if scheme == "http" && !is_loopback(host) {
        return Err(BadHost {
            insecure: true,
            message: format!("`{shown}` uses plain http to a non-loopback host"),
            help: "tokens must not cross the network unencrypted; use https://".to_string(),
        });
    }
    Ok(url.origin().ascii_serialization())
}

/// Whether a host (as a URL writes it: `127.0.0.1`, `[::1]`, `localhost`) is a loopback
/// address: `127.0.0.0/8`, `::1`, or the name `localhost` itself (not `localhost.example` nor
/// `127.example`: only an address parsed as one is trusted).
pub fn is_loopback(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether the authority of `url` (between `://` and the first `/`, `\`, `?` or `#`) holds an
/// `@`, even an empty user information that `url` would drop silently. Such a host may hold a
/// password, so the loader keeps it out of diagnostics' excerpts too.
pub fn has_userinfo(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '\\', '?', '#'])
        .next()
        .is_some_and(|authority| authority.contains('@'))
}

/// `raw` with any user information replaced by `***`, so a password written into a host never
/// reaches a message.
fn mask_userinfo(raw: &str) -> String {
    let (scheme, rest) = match raw.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), raw),
    };
    let authority_end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}***{}", &rest[at..]),
        None => raw.to_string(),
    }
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
