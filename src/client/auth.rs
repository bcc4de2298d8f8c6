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

/// Host and token found for a workspace.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// A host found with the credentials (a profile's or `DATABRICKS_HOST`), if any.
    pub host: Option<String>,
    /// The token.
    pub token: Token,
}

/// Resolves credentials for `workspace` from `auth`.
pub fn resolve(workspace: &str, auth: &Auth) -> Result<Credentials, ClientError> {
    match auth {
        Auth::TokenEnv(var) => match std::env::var(var) {
            Ok(token) if !token.trim().is_empty() => Ok(Credentials {
                host: None,
                token: Token::new(token.trim()),
            }),
            _ => Err(ClientError::Credentials {
                workspace: workspace.to_string(),
                reason: format!("environment variable {var} (token_env) is not set"),
                help: format!(
                    "export {var}=<personal access token> (in CI: a secret mapped to {var})"
                ),
            }),
        },
        Auth::Profile(profile) => from_profile(workspace, profile, true),
        Auth::Default => {
            if let Ok(token) = std::env::var("DATABRICKS_TOKEN")
                && !token.trim().is_empty()
            {
                return Ok(Credentials {
                    host: std::env::var("DATABRICKS_HOST").ok(),
                    token: Token::new(token.trim()),
                });
            }
            let profile = std::env::var("DATABRICKS_CONFIG_PROFILE")
                .unwrap_or_else(|_| "DEFAULT".to_string());
            from_profile(workspace, &profile, false).map_err(|_| ClientError::Credentials {
                workspace: workspace.to_string(),
                reason: "no token: token_env and profile are not set, nor is DATABRICKS_TOKEN".to_string(),
                help: "add token_env: <VAR> or profile: <name> to the workspace in the environment file".to_string(),
            })
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
) -> Result<Credentials, ClientError> {
    let missing = |reason: String| {
        ClientError::Credentials {
        workspace: workspace.to_string(),
        reason,
        help: "run `databricks configure --profile <name>` or add the section to ~/.databrickscfg (DATABRICKS_CONFIG_FILE overrides the path)".to_string(),
    }
    };
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
    Ok(Credentials {
        host: get("host"),
        token: Token::new(token),
    })
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
