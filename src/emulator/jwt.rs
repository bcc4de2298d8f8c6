//! HS256 JSON Web Tokens, as far as the emulator needs them: reading the (unverified) claims to
//! find the issuer, checking the HMAC-SHA256 signature with that issuer's shared test key, and the
//! time claims. Only HS256 is accepted: the emulator trusts test issuers with shared keys, and a
//! token naming any other algorithm (`none` above all) is refused before its signature is looked at.
//!
//! A token is `base64url(header).base64url(claims).base64url(signature)` without padding, the
//! signature being HMAC-SHA256(key, "<header>.<claims>").

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum JwtError {
    /// Not three base64url parts of JSON objects.
    #[error("malformed JWT: {0}")]
    Malformed(&'static str),
    /// The header names an algorithm other than HS256.
    #[error("unsupported JWT algorithm {0:?} (only HS256 is accepted)")]
    Algorithm(String),
    /// The signature does not match the issuer's key.
    #[error("bad signature")]
    BadSignature,
    /// `exp` is missing or not a number.
    #[error("the token has no numeric exp claim")]
    NoExpiry,
    /// `exp` has passed.
    #[error("the token is expired")]
    Expired,
    /// `nbf` has not come yet.
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
}

/// The claims of a token.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(pub Map<String, Value>);

impl Claims {
    /// A string claim.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }

    /// The `aud` claim's values: it is a string or an array of strings (RFC 7519 4.1.3).
    pub fn audiences(&self) -> Vec<&str> {
        match self.0.get("aud") {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether `aud` contains `audience`.
    pub fn has_audience(&self, audience: &str) -> bool {
        self.audiences().contains(&audience)
    }
}

/// Signs `claims` with `key` (for tests and fakes that play an identity provider).
pub fn sign_hs256(key: &[u8], claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "typ": "JWT"}).to_string());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{body}");
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, key),
        signing_input.as_bytes(),
    );
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Whether `token` has the shape of a JWT (three dot-separated parts, the first a base64url JSON
/// header): opaque tokens are then not parsed any further.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && decode_object(token.split('.').next().unwrap_or("")).is_ok()
}

/// The claims of an HS256 token, its signature NOT checked: only to find out which issuer's key
/// to check it with.
pub fn unverified_claims(token: &str) -> Result<Claims, JwtError> {
    let (header, claims, _) = split(token)?;
    let header = decode_object(header)?;
    match header.get("alg").and_then(Value::as_str) {
        Some("HS256") => {}
        Some(other) => return Err(JwtError::Algorithm(other.to_string())),
        None => return Err(JwtError::Malformed("the header has no alg")),
    }
    Ok(Claims(decode_object(claims)?))
}

/// The claims of `token` if it is an HS256 token signed with `key`, unexpired (`exp` is
/// required) and already valid (`nbf`, when present) at `now` (seconds since the Unix epoch).
pub fn verify_hs256(token: &str, key: &[u8], now: i64) -> Result<Claims, JwtError> {
    let claims = unverified_claims(token)?;
    let (header, body, signature) = split(token)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| JwtError::Malformed("the signature is not base64url"))?;
    // hmac::verify compares in constant time.
    hmac::verify(
        &hmac::Key::new(hmac::HMAC_SHA256, key),
        format!("{header}.{body}").as_bytes(),
        &signature,
    )
    .map_err(|_| JwtError::BadSignature)?;
    let exp = claims
        .0
        .get("exp")
        .and_then(Value::as_f64)
        .ok_or(JwtError::NoExpiry)?;
    if (now as f64) >= exp {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = claims.0.get("nbf").and_then(Value::as_f64)
        && (now as f64) < nbf
    {
        return Err(JwtError::NotYetValid);
    }
    Ok(claims)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn split(token: &str) -> Result<(&str, &str, &str), JwtError> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(c), Some(s), None) => Ok((h, c, s)),
        _ => Err(JwtError::Malformed("a JWT has three dot-separated parts")),
    }
}

fn decode_object(part: &str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtError::Malformed("a part is not base64url"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::Malformed("a part is not a JSON object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"shared-test-key";
    const NOW: i64 = 1_800_000_000;

    fn token(claims: Value) -> String {
        sign_hs256(KEY, &claims)
    }

    #[test]
    fn a_good_token_verifies_and_shows_its_claims() {
        let t = token(json!({"iss": "http://idp", "aud": ["a", "b"], "sub": "s", "exp": NOW + 60}));
        assert!(looks_like_jwt(&t));
        let claims = verify_hs256(&t, KEY, NOW).expect("valid");
        assert_eq!(claims.str("iss"), Some("http://idp"));
        assert_eq!(claims.audiences(), vec!["a", "b"]);
        assert!(claims.has_audience("b") && !claims.has_audience("c"));
        let single =
            verify_hs256(&token(json!({"aud": "a", "exp": NOW + 1})), KEY, NOW).expect("valid");
        assert!(single.has_audience("a"));
    }

    #[test]
    fn another_key_or_a_changed_claim_is_a_bad_signature() {
        let t = token(json!({"sub": "s", "exp": NOW + 60}));
        assert_eq!(
            verify_hs256(&t, b"other-key", NOW),
            Err(JwtError::BadSignature)
        );
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(json!({"sub": "admin", "exp": NOW + 60}).to_string());
        parts[1] = &forged;
        assert_eq!(
            verify_hs256(&parts.join("."), KEY, NOW),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn expired_not_yet_valid_and_timeless_tokens_are_refused() {
        let expired = token(json!({"exp": NOW}));
        assert_eq!(verify_hs256(&expired, KEY, NOW), Err(JwtError::Expired));
        let early = token(json!({"exp": NOW + 60, "nbf": NOW + 30}));
        assert_eq!(verify_hs256(&early, KEY, NOW), Err(JwtError::NotYetValid));
        let timeless = token(json!({"sub": "s"}));
        assert_eq!(verify_hs256(&timeless, KEY, NOW), Err(JwtError::NoExpiry));
    }

    #[test]
    fn only_hs256_is_accepted_and_garbage_is_malformed() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(json!({"exp": NOW + 60}).to_string());
        let unsigned = format!("{header}.{body}.");
        assert_eq!(
            verify_hs256(&unsigned, KEY, NOW),
            Err(JwtError::Algorithm("none".into()))
        );
        for garbage in ["", "abc", "a.b", "a.b.c.d", "!!.??.**"] {
            assert!(
                matches!(verify_hs256(garbage, KEY, NOW), Err(JwtError::Malformed(_))),
                "{garbage}"
            );
            assert!(!looks_like_jwt(garbage), "{garbage}");
        }
        assert!(!looks_like_jwt("dev"));
    }
}
