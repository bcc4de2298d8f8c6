//! Where a workspace's token comes from: an environment variable named in the environment file,
//! a `~/.databrickscfg` profile, or `DATABRICKS_HOST` / `DATABRICKS_TOKEN`.

use std::fmt;
use std::path::PathBuf;

use super::ClientError;
use crate::config::env::Auth;

/// A bearer token. Never printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Token(token.into())
    }

    /// The header value `Bearer <token>`.
    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// The raw token, for redacting it from text that might echo it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The token for `workspace` at `host` (its normalised origin, as the environment file names
/// it) from `auth`. Credentials that name a host of their own (a profile's `host`,
/// `DATABRICKS_HOST`) are handed out only for that host: otherwise whoever can change `host:`
/// in the environment file (a pull request) would receive them. A `token_env` token names no
/// host; what protects it is that the environment file comes from a trusted revision in CI
/// (`--env-from`).
pub fn resolve(workspace: &str, auth: &Auth, host: &str) -> Result<Token, ClientError> {
    match auth {
        Auth::TokenEnv(var) => match std::env::var(var) {
            Ok(token) if !token.trim().is_empty() => Ok(Token::new(token.trim())),
            _ => Err(ClientError::Credentials {
                workspace: workspace.to_string(),
                reason: format!("environment variable {var} (token_env) is not set"),
                help: format!(
                    "export {var}=<personal access token> (in CI: a secret mapped to {var})"
                ),
            }),
        },
        Auth::Profile(profile) => {
            from_profile(workspace, profile, true, host).map_err(ProfileError::into_client)
        }
        Auth::Default => {
            if let Ok(token) = std::env::var("DATABRICKS_TOKEN")
                && !token.trim().is_empty()
            {
                return from_environment(workspace, Token::new(token.trim()), host);
            }
            let profile = std::env::var("DATABRICKS_CONFIG_PROFILE")
                .unwrap_or_else(|_| "DEFAULT".to_string());
            from_profile(workspace, &profile, false, host).map_err(|e| match e {
                ProfileError::Missing(_) => ClientError::Credentials {
                    workspace: workspace.to_string(),
                    reason: "no token: token_env and profile are not set, nor is DATABRICKS_TOKEN".to_string(),
                    help: "add token_env: <VAR> or profile: <name> to the workspace in the environment file".to_string(),
                },
                ProfileError::Refused(e) => *e,
            })
        }
    }
}

/// `DATABRICKS_TOKEN`, for `host` only if `DATABRICKS_HOST` names that host.
fn from_environment(workspace: &str, token: Token, host: &str) -> Result<Token, ClientError> {
    let refuse = |reason: &str| {
        ClientError::Credentials {
        workspace: workspace.to_string(),
        reason: reason.to_string(),
        help: "set DATABRICKS_HOST to the workspace's URL (the host of the environment file), or name the token's variable with token_env: <VAR> in the environment file".to_string(),
    }
    };
    let Some(bound) = std::env::var("DATABRICKS_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
    else {
        return Err(refuse(
            "DATABRICKS_TOKEN is set without DATABRICKS_HOST, so it names no host it may be sent to: set DATABRICKS_HOST to the workspace URL, or use token_env",
        ));
    };
    // The value is not quoted: it does not come from a configuration file.
    let Ok(bound) = crate::config::env::parse_origin(&bound) else {
        return Err(refuse(
            "DATABRICKS_HOST is not a workspace URL (https://<host>, no user, path or query), so DATABRICKS_TOKEN goes nowhere",
        ));
    };
    bound_to(
        workspace,
        "DATABRICKS_TOKEN (DATABRICKS_HOST)",
        &bound,
        host,
    )?;
    Ok(token)
}

/// `Ok` when the credentials' host `bound` is the environment file's `host`.
fn bound_to(
    workspace: &str,
    credentials: &str,
    bound: &str,
    host: &str,
) -> Result<(), ClientError> {
    if bound == host {
        return Ok(());
    }
    Err(ClientError::HostMismatch {
        workspace: workspace.to_string(),
        credentials: credentials.to_string(),
        credentials_host: bound.to_string(),
        host: host.to_string(),
    })
}

/// Why a profile gave no token.
enum ProfileError {
    /// No such file, profile or token.
    Missing(Box<ClientError>),
    /// The profile exists but may not be used for this host.
    Refused(Box<ClientError>),
}

impl ProfileError {
    fn into_client(self) -> ClientError {
        match self {
            ProfileError::Missing(e) | ProfileError::Refused(e) => *e,
        }
    }
}

fn config_file() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DATABRICKS_CONFIG_FILE") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".databrickscfg"))
}

fn from_profile(
    workspace: &str,
    profile: &str,
    explicit: bool,
    host: &str,
) -> Result<Token, ProfileError> {
    let credentials_error = |reason: String| {
        ClientError::Credentials {
        workspace: workspace.to_string(),
        reason,
        help: "run `databricks configure --profile <name>` or add the section to ~/.databrickscfg (DATABRICKS_CONFIG_FILE overrides the path)".to_string(),
    }
    };
    let missing = |reason: String| ProfileError::Missing(Box::new(credentials_error(reason)));
    let path = config_file()
        .ok_or_else(|| missing("HOME is not set, so ~/.databrickscfg cannot be found".into()))?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| missing(format!("cannot read {}: {e}", path.display())))?;
    let sections = parse_ini(&text);
    let wanted = if !explicit && profile == "DEFAULT" {
        sections
            .iter()
            .find(|(name, _)| name == "__settings__")
            .and_then(|(_, keys)| {
                keys.iter()
                    .find(|(k, _)| k == "default_profile")
                    .map(|(_, v)| v.clone())
            })
            .unwrap_or_else(|| "DEFAULT".to_string())
    } else {
        profile.to_string()
    };
    let Some((_, keys)) = sections.iter().find(|(name, _)| *name == wanted) else {
        return Err(missing(format!(
            "profile [{wanted}] is not in {}",
            path.display()
        )));
    };
    let get = |key: &str| keys.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let token = get("token").filter(|t| !t.is_empty()).ok_or_else(|| {
        missing(format!(
            "profile [{wanted}] has no token (only personal access tokens are supported)"
        ))
    })?;
    let credentials = format!("profile [{wanted}] of {}", path.display());
    // The profile's host is quoted only once parsed into an origin: the file is not
    // configuration, and nothing else of it reaches a message.
    let bound = get("host")
        .filter(|h| !h.trim().is_empty())
        .ok_or_else(|| {
            ProfileError::Refused(Box::new(credentials_error(format!(
                "{credentials} has no host, so its token names no host it may be sent to: add host = <workspace URL> to the profile"
            ))))
        })?;
    let bound = crate::config::env::parse_origin(&bound).map_err(|_| {
        ProfileError::Refused(Box::new(credentials_error(format!(
            "the host of {credentials} is not a workspace URL (https://<host>, no user, path or query)"
        ))))
    })?;
    bound_to(workspace, &credentials, &bound, host)
        .map_err(|e| ProfileError::Refused(Box::new(e)))?;
    Ok(Token::new(token))
}

/// Sections of an INI file, each with its `key = value` pairs, in order.
fn parse_ini(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push((name.trim().to_string(), Vec::new()));
        } else if let Some((key, value)) = line.split_once('=')
            && let Some((_, keys)) = sections.last_mut()
        {
            keys.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_print() {
        let token = Token::new("dapi-secret");
        assert_eq!(format!("{token:?} {token}"), "Token(***) ***");
    }

    #[test]
    fn ini_sections_and_keys() {
        let sections = parse_ini(
            "[DEFAULT]\nhost = https://a\n; comment\n[prod-east]\nhost=https://b\ntoken = x=y\n",
        );
        assert_eq!(sections[1].0, "prod-east");
        assert_eq!(sections[1].1[1], ("token".to_string(), "x=y".to_string()));
    }
}
