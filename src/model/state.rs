//! The data tandem keeps in each workspace: the state record, its seal, the lock, and where an
//! applied configuration came from. Pure: reading and writing them is `engine::state`'s.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::Role;

/// Secret key prefix of the fingerprint key (its hex follows).
pub const FINGERPRINT_KEY_PREFIX: &str = "fingerprint-key.";
/// Secret key prefix of a sealed record digest (its hex follows).
pub const DIGEST_PREFIX: &str = "record.";

/// Version of the state record's JSON (2: sealed, keyed fingerprints, no salt).
pub const STATE_FORMAT_VERSION: u32 = 2;

/// The key secret fingerprints are made with. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct FingerprintKey([u8; 32]);

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey(***)")
    }
}

impl FingerprintKey {
    /// A new random key.
    pub fn generate() -> Result<Self, String> {
        use aws_lc_rs::rand::SecureRandom as _;
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| "the system's random number generator failed".to_string())?;
        Ok(FingerprintKey(bytes))
    }

    /// The key a seal-scope secret name carries, if it is one.
    pub fn from_secret_key(name: &str) -> Option<Self> {
        let hex = name.strip_prefix(FINGERPRINT_KEY_PREFIX)?;
        let bytes = from_hex(hex)?;
        Some(FingerprintKey(bytes.try_into().ok()?))
    }

    /// The seal-scope secret name that carries this key.
    pub fn secret_key(&self) -> String {
        format!("{FINGERPRINT_KEY_PREFIX}{}", hex(&self.0))
    }

    /// Whether this key wins over `other` when a race left two (the smaller one does, so every
    /// run picks the same).
    pub fn precedes(&self, other: &FingerprintKey) -> bool {
        self.0 < other.0
    }

    /// HMAC-SHA256 of a secret value under this key, hex.
    pub fn fingerprint(&self, value: &[u8]) -> String {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.0);
        hex(aws_lc_rs::hmac::sign(&key, value).as_ref())
    }
}

/// What the seal scope held when the record was read: kept with the record for writing it back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seal {
    /// Whether the seal scope exists.
    pub scope_exists: bool,
    /// The fingerprint key, once there is one.
    pub key: Option<FingerprintKey>,
    /// Record digests the scope names (the current record's, and any a crash left behind).
    pub digests: BTreeSet<String>,
}

/// The last apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    /// Config commit (full SHA), or `working tree`.
    pub commit: String,
    /// Whether the work tree had uncommitted changes.
    #[serde(default)]
    pub dirty: bool,
    /// When, RFC 3339.
    pub at: String,
    /// Who (`user@host`).
    pub by: String,
}

/// What tandem last wrote to one secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretWrite {
    /// HMAC-SHA256 of the value under the fingerprint key.
    pub fingerprint: String,
    /// The secret's `last_updated_timestamp` right after the write.
    pub last_updated: i64,
}

/// A workspace that must be made passive as soon as it answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingFence {
    /// The workspace to fence.
    pub workspace: String,
    /// Since when, RFC 3339.
    pub since: String,
}

/// The record tandem keeps in each workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateRecord {
    /// Format version.
    pub format_version: u32,
    /// Environment name.
    pub environment: String,
    /// This workspace's name in the environment.
    pub workspace: String,
    /// Its role as last set by tandem.
    pub role: Role,
    /// The last apply.
    #[serde(default)]
    pub last_applied: Option<Applied>,
    /// scope → key → last write.
    #[serde(default)]
    pub secrets: BTreeMap<String, BTreeMap<String, SecretWrite>>,
    /// Scopes tandem created (only these are ever deleted).
    #[serde(default)]
    pub managed_scopes: BTreeSet<String>,
    /// Workspaces to fence as soon as they answer.
    #[serde(default)]
    pub pending_fences: Vec<PendingFence>,
    /// When this workspace was last promoted, RFC 3339.
    #[serde(default)]
    pub promoted_at: Option<String>,
    /// Who promoted it.
    #[serde(default)]
    pub promoted_by: Option<String>,
    /// The seal scope as read (not part of the record's JSON).
    #[serde(skip)]
    pub seal: Seal,
}

impl StateRecord {
    /// A fresh record.
    pub fn new(environment: &str, workspace: &str, role: Role) -> Self {
        StateRecord {
            format_version: STATE_FORMAT_VERSION,
            environment: environment.into(),
            workspace: workspace.into(),
            role,
            last_applied: None,
            secrets: BTreeMap::new(),
            managed_scopes: BTreeSet::new(),
            pending_fences: Vec::new(),
            promoted_at: None,
            promoted_by: None,
            seal: Seal::default(),
        }
    }

    /// The keyed fingerprint of a secret value (`None` before the workspace has a key).
    pub fn fingerprint(&self, value: &[u8]) -> Option<String> {
        self.seal.key.as_ref().map(|k| k.fingerprint(value))
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of lower- or upper-case hex text.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A lock held in one workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    /// Random ID of this holding.
    pub id: String,
    /// `user@host`.
    pub holder: String,
    /// What it is for (`apply`, `promote`).
    pub operation: String,
    /// Since when, RFC 3339.
    pub since: String,
    /// Expiry, epoch ms.
    pub expires_ms: i64,
    /// Since, epoch ms.
    pub since_ms: i64,
}

/// Where the config came from, as recorded in state records.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// Commit SHA or `working tree`.
    pub commit: String,
    /// Uncommitted changes.
    pub dirty: bool,
}
