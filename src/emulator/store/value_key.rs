//! The key of a workspace's secret fingerprints, and the hex the fingerprints are kept in.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use super::records::SecretRecord;

/// Bytes of a fingerprint's salt.
const SALT_BYTES: usize = 16;

/// Bytes of a [`ValueKey`].
pub const VALUE_KEY_BYTES: usize = 32;

/// The key of a workspace's secret fingerprints. It is random per state file and kept apart
/// from it (in `<state>.key`, mode 0600, or only in memory for a workspace without a state
/// file), so the state file alone — the thing that gets copied, attached or committed — says
/// nothing about any value; a restarted emulator reads the key back and can still tell whether
/// a secret holds a given value.
pub struct ValueKey {
    key: hmac::Key,
    random: SystemRandom,
}

impl ValueKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: &[u8; VALUE_KEY_BYTES]) -> Self {
        ValueKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
            random: SystemRandom::new(),
        }
    }

    /// A new random key and its bytes (to keep them).
    pub fn generate() -> std::io::Result<(Self, [u8; VALUE_KEY_BYTES])> {
        let mut bytes = [0u8; VALUE_KEY_BYTES];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| std::io::Error::other("the system random generator failed"))?;
        Ok((Self::from_bytes(&bytes), bytes))
    }

    /// A fresh salt and the fingerprint of `value` with it, both hex.
    pub fn seal(&self, value: &[u8]) -> std::io::Result<(String, String)> {
        let mut salt = [0u8; SALT_BYTES];
        self.random
            .fill(&mut salt)
            .map_err(|_| std::io::Error::other("the system random generator failed"))?;
        let tag = hmac::sign(&self.key, &salted(&salt, value));
        Ok((hex(&salt), hex(tag.as_ref())))
    }

    /// Whether `record` holds `value` (compared in constant time).
    pub fn matches(&self, record: &SecretRecord, value: &[u8]) -> bool {
        let (Some(salt), Some(tag)) = (unhex(&record.salt), unhex(&record.hmac_sha256)) else {
            return false;
        };
        hmac::verify(&self.key, &salted(&salt, value), &tag).is_ok()
    }
}

/// What the fingerprint covers: the salt (fixed length) then the value.
fn salted(salt: &[u8], value: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(salt.len() + value.len());
    data.extend_from_slice(salt);
    data.extend_from_slice(value);
    data
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of lower- or upper-case hex; `None` if it is not hex or is empty.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(salt: String, hmac_sha256: String) -> SecretRecord {
        SecretRecord {
            key: "k".into(),
            salt,
            hmac_sha256,
            size: 6,
            last_updated_timestamp: 0,
        }
    }

    #[test]
    fn fingerprints_are_salted_keyed_and_checkable_only_with_the_key() {
        let (key, bytes) = ValueKey::generate().expect("key");
        let (salt, tag) = key.seal(b"123456").expect("seal");
        let (other_salt, other_tag) = key.seal(b"123456").expect("seal");
        assert_ne!(salt, other_salt, "a fresh salt per write");
        assert_ne!(tag, other_tag, "equal values do not look equal");
        assert_eq!((salt.len(), tag.len()), (32, 64));
        let sealed = record(salt, tag);
        assert!(key.matches(&sealed, b"123456"));
        assert!(!key.matches(&sealed, b"123457"));
        // The same key read back (a restart) still answers; another key does not.
        assert!(ValueKey::from_bytes(&bytes).matches(&sealed, b"123456"));
        let (stranger, _) = ValueKey::generate().expect("key");
        assert!(!stranger.matches(&sealed, b"123456"));
        // A record from before keyed fingerprints matches nothing.
        assert!(!key.matches(&record(String::new(), String::new()), b""));
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert_eq!(unhex("000fff"), Some(vec![0, 15, 255]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex(""), None);
    }
}
