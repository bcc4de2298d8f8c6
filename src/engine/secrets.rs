//! Reading secret values from their sources, only when they are needed, never keeping them.

use std::path::PathBuf;

use crate::model::ValueSource;

/// The value an embedded (`local:`) workspace gets for a source that cannot be read: emulated
/// workspaces need no real secrets, so the examples run with no setup. Never used for real
/// workspaces.
pub fn placeholder(source: &ValueSource) -> Vec<u8> {
    match source {
        ValueSource::Env(var) => format!("tandem-local-placeholder:env:{var}").into_bytes(),
        ValueSource::File(path) => format!("tandem-local-placeholder:file:{path}").into_bytes(),
    }
}

/// Reads the value a source names (an environment variable or a file); with `placeholder`, a
/// source that cannot be read yields [`placeholder`].
pub fn read_value(source: &ValueSource, placeholder_ok: bool) -> Result<Vec<u8>, String> {
    match read_source(source) {
        Err(_) if placeholder_ok => Ok(placeholder(source)),
        other => other,
    }
}

fn read_source(source: &ValueSource) -> Result<Vec<u8>, String> {
    match source {
        // An empty variable is what CI gives for a missing secret: never write it.
        ValueSource::Env(var) => std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(|v| v.to_string_lossy().into_owned().into_bytes())
            .ok_or_else(|| format!("environment variable {var} is not set or empty")),
        ValueSource::File(path) => {
            let path = match path.strip_prefix("~/") {
                Some(rest) => std::env::var_os("HOME")
                    .map(|h| PathBuf::from(h).join(rest))
                    .unwrap_or_else(|| PathBuf::from(path)),
                None => PathBuf::from(path),
            };
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        }
    }
}
