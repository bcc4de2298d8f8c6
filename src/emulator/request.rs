//! What the handlers share about requests: the JSON body and query extractors, reading fields
//! and IDs out of them, the checks more than one API makes, and paging lists with page tokens.

use std::collections::BTreeMap;
use std::ops::Bound;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{ApiError, ApiResult};

// ---------------------------------------------------------------------------------------------
// Extractors

/// A JSON body that answers a parse failure the way the API does (400 MALFORMED_REQUEST).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::malformed(format!("Could not read the request body: {e}")))?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes).map(ApiJson).map_err(|e| {
            ApiError::malformed(format!(
                "Invalid JSON given in the body of the request - {e}"
            ))
        })
    }
}

/// Query parameters as ordered pairs (lists arrive as repeated keys).
pub struct QueryPairs(pub Vec<(String, String)>);

impl QueryPairs {
    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `key` as an integer; a malformed value is a 400.
    pub fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        self.get(key)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::invalid(format!("Invalid value for {key}: '{v}' is not an integer"))
                })
            })
            .transpose()
    }

    /// `key` as a boolean (`true`/`false`).
    pub fn bool(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        Ok(QueryPairs(form_urlencoded_pairs(query)))
    }
}

/// Decodes `application/x-www-form-urlencoded` text (a query string or a form body) into
/// ordered pairs.
pub fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (a space) of form-encoded text.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Fields and IDs

/// The request body as an object; anything else is a malformed request.
/// The request body as an object; anything else is a malformed request.
pub fn object(body: Value) -> ApiResult<Map<String, Value>> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::malformed(
            "Invalid JSON given in the body of the request - expected a JSON object",
        )),
    }
}

/// A JSON value as an object; anything else is a malformed request naming `what`.
pub fn into_object(value: Value, what: &str) -> ApiResult<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::malformed(format!("{what} must be a JSON object"))),
    }
}

/// The 400 for a required field left out.
pub fn missing(key: &str) -> ApiError {
    ApiError::invalid(format!("Missing required field: {key}"))
}

/// A required, non-empty string field.
pub fn required_str(map: &Map<String, Value>, key: &str) -> ApiResult<String> {
    match map.get(key) {
        None | Some(Value::Null) => Err(missing(key)),
        Some(Value::String(s)) if s.is_empty() => Err(missing(key)),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ApiError::invalid(format!(
            "Invalid value for {key}: expected a string, got {other}"
        ))),
    }
}

/// An optional integer field; a non-integer is a 400.
pub fn optional_int(map: &Map<String, Value>, key: &str) -> ApiResult<Option<i64>> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            ApiError::invalid(format!(
                "Invalid value for {key}: expected an integer, got {v}"
            ))
        }),
    }
}

/// A string field, if present and not empty.
pub fn str_field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A required integer ID from a JSON body (a number, or a string of digits).
pub fn body_id(body: &Map<String, Value>, key: &str) -> ApiResult<i64> {
    match body.get(key) {
        None | Some(Value::Null) => {
            Err(ApiError::invalid(format!("Missing required field: {key}")))
        }
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| ApiError::invalid(format!("Invalid {key}: {n}"))),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| ApiError::invalid(format!("Invalid {key}: '{s}' is not an integer"))),
        Some(other) => Err(ApiError::invalid(format!("Invalid {key}: {other}"))),
    }
}

/// A required, non-empty string ID from the query.
pub fn query_str_id(query: &QueryPairs, key: &str) -> ApiResult<String> {
    query
        .get(key)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| missing(key))
}

/// A required integer ID from the query.
pub fn query_id(query: &QueryPairs, key: &str) -> ApiResult<i64> {
    query
        .int(key)?
        .ok_or_else(|| ApiError::invalid(format!("Missing required field: {key}")))
}

/// A count from the request that must not be negative.
pub fn non_negative(value: i64, key: &str) -> ApiResult<usize> {
    usize::try_from(value)
        .map_err(|_| ApiError::invalid(format!("Invalid {key} {value}: it must not be negative.")))
}

/// `custom_tags` entries a cluster or pool may have.
pub const MAX_CUSTOM_TAGS: usize = 45;

/// `custom_tags`: a map of strings, at most 45 entries.
pub fn check_custom_tags(spec: &Map<String, Value>) -> ApiResult<()> {
    let Some(tags) = spec.get("custom_tags").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let Some(tags) = tags.as_object() else {
        return Err(ApiError::invalid("custom_tags must be a map of strings"));
    };
    if tags.len() > MAX_CUSTOM_TAGS {
        return Err(ApiError::invalid(format!(
            "custom_tags may have at most {MAX_CUSTOM_TAGS} entries, got {}",
            tags.len()
        )));
    }
    match tags.iter().find(|(_, v)| !v.is_string()) {
        Some((key, _)) => Err(ApiError::invalid(format!(
            "custom_tags value for key '{key}' must be a string"
        ))),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Paging

/// Clusters per page of a 2.1 list when the caller does not say, and the most it may ask for.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// Where a list page starts, from an opaque page token.
#[derive(Debug, Clone, PartialEq)]
pub enum Cursor {
    /// The page of items older than this key (a `next_page_token`).
    Before(String),
    /// The page of items newer than this key (a `prev_page_token`).
    After(String),
}

impl Cursor {
    /// The opaque token of this cursor for the list `scope` (`jobs`, `runs`).
    pub fn token(&self, scope: &str) -> String {
        let (direction, key) = match self {
            Cursor::Before(k) => ("before", k),
            Cursor::After(k) => ("after", k),
        };
        URL_SAFE_NO_PAD.encode(format!("{scope}:{direction}:{key}"))
    }

    /// The cursor of a token made by [`Cursor::token`] for `scope`; `None` for anything else.
    pub fn parse(token: &str, scope: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.splitn(3, ':');
        let (s, direction, key) = (parts.next()?, parts.next()?, parts.next()?);
        if s != scope || key.is_empty() || !key.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        match direction {
            "before" => Some(Cursor::Before(key.to_string())),
            "after" => Some(Cursor::After(key.to_string())),
            _ => None,
        }
    }
}

/// The 400 for a page token this emulator did not make.
pub fn invalid_token() -> ApiError {
    ApiError::invalid(
        "Invalid page_token: use a next_page_token or prev_page_token from a previous response.",
    )
}

/// The cursor of the query's `page_token` for the list `scope`, if one is given.
pub fn page_cursor(query: &QueryPairs, scope: &str) -> ApiResult<Option<Cursor>> {
    query
        .get("page_token")
        .filter(|t| !t.is_empty())
        .map(|t| Cursor::parse(t, scope).ok_or_else(invalid_token))
        .transpose()
}

/// The `next_page_token` of page `page` of a 2.2 job get's arrays.
pub fn job_page_token(job_id: i64, page: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("get:{job_id}:{page}"))
}

/// The page a token made by [`job_page_token`] for `job_id` names.
pub fn decode_job_page_token(token: &str, job_id: i64) -> ApiResult<usize> {
    let text = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid_token)?;
    let mut parts = text.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("get"), Some(id), Some(page)) if id == job_id.to_string() => {
            page.parse().map_err(|_| invalid_token())
        }
        _ => Err(invalid_token()),
    }
}

/// One page of a list, newest first.
pub struct Page<'a, T> {
    /// The items, newest first.
    pub items: Vec<&'a T>,
    /// Whether older items remain.
    pub has_more: bool,
    /// Key of the last item, when older items remain.
    pub next: Option<String>,
    /// Key of the first item, when newer items exist.
    pub prev: Option<String>,
}

/// A page of `map` in descending key order (newest first: IDs only grow and have the same
/// number of digits), keeping only items `keep` accepts. Walks a key range, never the whole map
/// unless the filter rejects most items.
pub fn page_desc<'a, T>(
    map: &'a BTreeMap<String, T>,
    cursor: Option<&Cursor>,
    offset: usize,
    limit: usize,
    keep: impl Fn(&T) -> bool,
) -> Page<'a, T> {
    use Bound::{Excluded, Unbounded};
    let items: Vec<(&'a String, &'a T)> = match cursor {
        Some(Cursor::After(key)) => {
            let mut newer: Vec<_> = map
                .range::<str, _>((Excluded(key.as_str()), Unbounded))
                .filter(|(_, v)| keep(v))
                .skip(offset)
                .take(limit)
                .collect();
            newer.reverse();
            newer
        }
        _ => {
            let upper = match cursor {
                Some(Cursor::Before(key)) => Excluded(key.as_str()),
                _ => Unbounded,
            };
            map.range::<str, _>((Unbounded, upper))
                .rev()
                .filter(|(_, v)| keep(v))
                .skip(offset)
                .take(limit)
                .collect()
        }
    };
    let (Some((first, _)), Some((last, _))) = (items.first(), items.last()) else {
        return Page {
            items: Vec::new(),
            has_more: false,
            next: None,
            prev: None,
        };
    };
    let has_more = map
        .range::<str, _>((Unbounded, Excluded(last.as_str())))
        .rev()
        .any(|(_, v)| keep(v));
    let has_newer = map
        .range::<str, _>((Excluded(first.as_str()), Unbounded))
        .any(|(_, v)| keep(v));
    Page {
        has_more,
        next: has_more.then(|| last.to_string()),
        prev: has_newer.then(|| first.to_string()),
        items: items.into_iter().map(|(_, v)| v).collect(),
    }
}

/// The page size: the default for none or 0, at most the default (the service may cap it).
pub fn page_size(requested: Option<i64>) -> ApiResult<usize> {
    match requested {
        Some(n) if n < 0 => Err(ApiError::invalid(format!(
            "Invalid page_size {n}: it must be non-negative"
        ))),
        Some(n) if n > 0 => Ok((n as usize).min(DEFAULT_PAGE_SIZE)),
        _ => Ok(DEFAULT_PAGE_SIZE),
    }
}

/// The token of the offset-paged list `scope` (`clusters`) starting at `offset`.
pub fn offset_token(scope: &str, offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{scope}:{offset}"))
}

/// The offset a token of list `scope` names: an empty token is the first page; anything not
/// made by [`offset_token`] is a 400.
pub fn decode_offset_token(token: &str, scope: &str) -> ApiResult<usize> {
    if token.is_empty() {
        return Ok(0);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(scope)?.strip_prefix(':')?.parse().ok())
        .ok_or_else(|| ApiError::invalid(format!("Invalid page_token: {token}")))
}

/// The window `[start, end)` of a page and its next and previous tokens ("" at either end).
pub fn page_window(
    scope: &str,
    offset: usize,
    size: usize,
    total: usize,
) -> (usize, usize, String, String) {
    let start = offset.min(total);
    let end = start.saturating_add(size).min(total);
    let next = if end < total {
        offset_token(scope, end)
    } else {
        String::new()
    };
    let prev = if start > 0 {
        offset_token(scope, start.saturating_sub(size))
    } else {
        String::new()
    };
    (start, end, next, prev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_of(n: usize) -> BTreeMap<String, usize> {
        (1..=n)
            .map(|i| ((100_000_000 + i).to_string(), i))
            .collect()
    }

    #[test]
    fn pages_walk_newest_first_with_tokens_both_ways() {
        let map = map_of(5);
        let first = page_desc(&map, None, 0, 2, |_| true);
        assert_eq!(first.items, [&5, &4]);
        assert!(first.has_more && first.prev.is_none());
        let token = Cursor::Before(first.next.clone().expect("next")).token("jobs");
        let cursor = Cursor::parse(&token, "jobs").expect("token parses");
        let second = page_desc(&map, Some(&cursor), 0, 2, |_| true);
        assert_eq!(second.items, [&3, &2]);
        let back = Cursor::After(second.prev.clone().expect("prev"));
        assert_eq!(page_desc(&map, Some(&back), 0, 2, |_| true).items, [&5, &4]);
        let last = page_desc(
            &map,
            Some(&Cursor::Before(second.next.expect("next"))),
            0,
            2,
            |_| true,
        );
        assert_eq!(last.items, [&1]);
        assert!(!last.has_more && last.next.is_none());
        assert_eq!(
            page_desc(&map, None, 3, 10, |_| true).items,
            [&2, &1],
            "offset"
        );
        assert_eq!(
            page_desc(&map, None, 0, 10, |v| v % 2 == 1).items,
            [&5, &3, &1]
        );
        assert!(Cursor::parse(&token, "runs").is_none(), "scoped");
        assert!(Cursor::parse("garbage!", "jobs").is_none());
        let empty: BTreeMap<String, usize> = BTreeMap::new();
        let none = page_desc(&empty, None, 0, 20, |_| true);
        assert!(none.items.is_empty() && !none.has_more);
    }

    #[test]
    fn pages_and_tokens() {
        let (start, end, next, prev) = page_window("clusters", 0, 100, 250);
        assert_eq!((start, end, prev.as_str()), (0, 100, ""));
        assert_eq!(decode_offset_token(&next, "clusters").unwrap(), 100);
        let (start, end, next, prev) = page_window("clusters", 200, 100, 250);
        assert_eq!((start, end, next.as_str()), (200, 250, ""));
        assert_eq!(decode_offset_token(&prev, "clusters").unwrap(), 100);
        assert!(decode_offset_token("garbage!", "clusters").is_err());
        assert_eq!(page_size(Some(1000)).unwrap(), DEFAULT_PAGE_SIZE);
        assert!(page_size(Some(-1)).is_err());
    }
}
