//! `tandem repair`: replacing a state record that cannot be trusted (tampered with, deleted,
//! unparseable, or an unsealed record of an older tandem) with a new sealed one.
//!
//! Nothing the old record claims is taken on its word: the role comes from the environment
//! file, recorded secret fingerprints and pending fences are dropped (secrets are written again
//! by the next apply; a passive workspace is fenced by the next apply anyway), and the scopes
//! tandem may delete are kept only when the operator has looked at them (`keep_scopes`).

use super::EngineError;
use super::state::{self, StateRecord};
use crate::client::WorkspaceClient;
use crate::model::Role;

/// What a workspace's record and seal look like, before repairing.
#[derive(Debug)]
pub struct Inspection {
    /// Why the record cannot be trusted (`None`: it is sealed and fine, or there is none).
    pub problem: Option<String>,
    /// What the stored record claims, parsed as well as it could be (never trusted).
    pub claims: Option<StateRecord>,
    /// The seal scope, or why it cannot be used (then repair cannot help).
    seal: Result<state::Seal, String>,
}

impl Inspection {
    /// Why the seal scope itself cannot be used, if it cannot.
    pub fn seal_problem(&self) -> Option<&str> {
        self.seal.as_ref().err().map(String::as_str)
    }
}

/// Reads the record and its seal and says what is wrong.
pub async fn inspect(
    client: &WorkspaceClient,
    environment: &str,
) -> Result<Inspection, EngineError> {
    // One read: judged, and shown as it is.
    let unchecked = state::read_unchecked(client, environment).await?;
    let claims = unchecked.parsed();
    let seal = match &unchecked.seal {
        Ok(seal) => Ok(seal.clone()),
        Err(e) => Err(e.to_string()),
    };
    let problem = match unchecked.check(client, environment) {
        Ok(_) => None,
        Err(EngineError::UntrustedRecord { reason, .. }) => Some(reason),
        Err(e) => return Err(e),
    };
    Ok(Inspection {
        problem,
        claims,
        seal,
    })
}

/// Writes a new sealed record for `workspace` with `role`; the old record's informational
/// fields (last apply, last promotion) are kept, its scopes only with `keep_scopes`.
pub async fn reseal(
    client: &WorkspaceClient,
    environment: &str,
    role: Role,
    inspection: Inspection,
    keep_scopes: bool,
) -> Result<StateRecord, EngineError> {
    let seal = inspection
        .seal
        .map_err(|reason| EngineError::UntrustedRecord {
            workspace: client.name().into(),
            reason,
            help: "fix the seal scope's access first; repair cannot seal a record there".into(),
        })?;
    let mut record = StateRecord::new(environment, client.name(), role);
    if let Some(claims) = inspection.claims {
        record.last_applied = claims.last_applied;
        record.promoted_at = claims.promoted_at;
        record.promoted_by = claims.promoted_by;
        if keep_scopes {
            record.managed_scopes = claims.managed_scopes;
        }
    }
    record.seal = seal;
    state::write_state_record(client, &mut record).await?;
    Ok(record)
}
