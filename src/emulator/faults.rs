//! Misbehaving on purpose: fault rules added at run time (`POST /__emulator/faults`) and the
//! deterministic `flaky:SEED` profile.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState, EmulatorError};

/// One fault rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FaultRule {
    /// HTTP method to match (`*` or absent for any).
    #[serde(default)]
    pub method: Option<String>,
    /// Path pattern; `*` matches any run of characters (`/api/2.2/jobs/*`).
    pub path: String,
    /// Status to answer with (default 503).
    #[serde(default = "default_status")]
    pub status: u16,
    /// `error_code` of the body (default from the status).
    #[serde(default)]
    pub error_code: Option<String>,
    /// `message` of the body.
    #[serde(default)]
    pub message: Option<String>,
    /// `Retry-After` seconds.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// How many matching requests fail (absent: all).
    #[serde(default)]
    pub times: Option<u64>,
    /// How many matching requests pass before the rule starts failing them.
    #[serde(default)]
    pub skip_first: u64,
    /// Carry out the request, then answer with the error: the client cannot tell it committed.
    #[serde(default)]
    pub commit: bool,
    /// Hold matching requests, without an error, until the rules are cleared (at most
    /// [`HOLD_LIMIT`]), then carry them out: a test keeps a run in the middle of its work for
    /// exactly as long as it needs, however slow the machine.
    #[serde(default)]
    pub hold: bool,
    /// Matching requests seen so far.
    #[serde(default)]
    pub seen: u64,
    /// Requests failed so far.
    #[serde(default)]
    pub fired: u64,
}

fn default_status() -> u16 {
    503
}

/// The longest a `hold` rule keeps a request.
pub const HOLD_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Fault rules and the profile of one workspace.
pub struct FaultEngine {
    rules: Mutex<Vec<FaultRule>>,
    /// Bumped by every [`FaultEngine::clear`]: what held requests wait for.
    cleared: AtomicU64,
    flaky_seed: Option<u64>,
    requests: AtomicU64,
    injected: AtomicU64,
}

/// What to do with one request.
enum Decision {
    Pass,
    Hold,
    Fail(ApiError),
    CommitThenFail(ApiError),
}

impl FaultEngine {
    /// An engine with the profile `profile` (`flaky:SEED`) or none.
    pub fn new(profile: Option<&str>) -> Result<Self, EmulatorError> {
        let flaky_seed = match profile {
            None => None,
            Some(p) => match p.strip_prefix("flaky:").and_then(|s| s.parse::<u64>().ok()) {
                Some(seed) => Some(seed),
                None if p == "flaky" => Some(0),
                None => return Err(EmulatorError::FaultProfile(p.to_string())),
            },
        };
        Ok(FaultEngine {
            rules: Mutex::new(Vec::new()),
            cleared: AtomicU64::new(0),
            flaky_seed,
            requests: AtomicU64::new(0),
            injected: AtomicU64::new(0),
        })
    }

    /// Adds a rule.
    pub fn add(&self, rule: FaultRule) {
        self.rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(rule);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.rules.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.cleared.fetch_add(1, Ordering::SeqCst);
    }

    /// Waits until the rules are cleared after `generation`, or [`HOLD_LIMIT`] has passed.
    async fn held_since(&self, generation: u64) {
        let until = tokio::time::Instant::now() + HOLD_LIMIT;
        while self.cleared.load(Ordering::SeqCst) == generation
            && tokio::time::Instant::now() < until
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// The rules with their counters.
    pub fn rules(&self) -> Vec<FaultRule> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many faults were injected (rules and profile).
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    fn decide(&self, method: &str, path: &str) -> Decision {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        {
            let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
            for rule in rules.iter_mut() {
                let method_ok = rule
                    .method
                    .as_deref()
                    .is_none_or(|m| m == "*" || m.eq_ignore_ascii_case(method));
                if !method_ok || !glob_match(&rule.path, path) {
                    continue;
                }
                rule.seen += 1;
                if rule.seen <= rule.skip_first || rule.times.is_some_and(|t| rule.fired >= t) {
                    continue;
                }
                rule.fired += 1;
                self.injected.fetch_add(1, Ordering::Relaxed);
                if rule.hold {
                    return Decision::Hold;
                }
                let error = rule_error(rule);
                return if rule.commit {
                    Decision::CommitThenFail(error)
                } else {
                    Decision::Fail(error)
                };
            }
        }
        let Some(seed) = self.flaky_seed else {
            return Decision::Pass;
        };
        // A deterministic mix: the n-th request of a run always gets the same treatment.
        let roll = (splitmix64(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % 1000) as u32;
        let is_create =
            method == "POST" && (path.ends_with("/create") || path.ends_with("/secrets/put"));
        let decision = if is_create && roll < 80 {
            Decision::CommitThenFail(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "TEMPORARILY_UNAVAILABLE",
                "The service is temporarily unavailable.",
            ))
        } else if (900..950).contains(&roll) {
            Decision::Fail(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "TEMPORARILY_UNAVAILABLE",
                "The service is temporarily unavailable.",
            ))
        } else if (950..975).contains(&roll) {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "REQUEST_LIMIT_EXCEEDED",
                "Too many requests. Please wait a moment and try again.",
            );
            e.retry_after = Some(1);
            Decision::Fail(e)
        } else {
            Decision::Pass
        };
        if !matches!(decision, Decision::Pass) {
            self.injected.fetch_add(1, Ordering::Relaxed);
        }
        decision
    }
}

fn rule_error(rule: &FaultRule) -> ApiError {
    let status = StatusCode::from_u16(rule.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let code = rule.error_code.clone().unwrap_or_else(|| {
        match status.as_u16() {
            429 => "REQUEST_LIMIT_EXCEEDED",
            503 => "TEMPORARILY_UNAVAILABLE",
            500 => "INTERNAL_ERROR",
            404 => "RESOURCE_DOES_NOT_EXIST",
            400 => "BAD_REQUEST",
            _ => "UNKNOWN",
        }
        .to_string()
    });
    let message = rule
        .message
        .clone()
        .unwrap_or_else(|| format!("Injected fault ({})", status.as_u16()));
    let mut error = ApiError::new(status, &code, message);
    error.retry_after = rule.retry_after;
    error
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// `*` matches any run of characters (slashes included); everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first)
        || !text[first.len()..].ends_with(last)
        || text.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// Applies fault rules to API requests.
pub async fn middleware(State(ws): State<AppState>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/__emulator") {
        return next.run(request).await;
    }
    // Read before deciding: a clear that comes after the decision releases the request.
    let generation = ws.faults.cleared.load(Ordering::SeqCst);
    let decision = ws
        .faults
        .decide(request.method().as_str(), request.uri().path());
    match decision {
        Decision::Pass => next.run(request).await,
        Decision::Hold => {
            ws.faults.held_since(generation).await;
            next.run(request).await
        }
        Decision::Fail(error) => error.into_response(),
        Decision::CommitThenFail(error) => {
            let _committed = next.run(request).await;
            error.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_runs_of_characters() {
        assert!(glob_match("/api/2.2/jobs/*", "/api/2.2/jobs/create"));
        assert!(glob_match("*/create", "/api/2.1/clusters/create"));
        assert!(glob_match("/api/*/jobs/get", "/api/2.1/jobs/get"));
        assert!(!glob_match("/api/*/jobs/get", "/api/2.1/jobs/list"));
        assert!(glob_match("/exact", "/exact"));
        assert!(!glob_match("/exact", "/exactly"));
    }

    #[tokio::test]
    async fn a_held_request_waits_until_the_rules_are_cleared() {
        let engine = std::sync::Arc::new(FaultEngine::new(None).expect("engine"));
        engine.add(FaultRule {
            method: Some("POST".into()),
            path: "/api/2.2/jobs/*".into(),
            status: 503,
            error_code: None,
            message: None,
            retry_after: None,
            times: None,
            skip_first: 0,
            commit: false,
            hold: true,
            seen: 0,
            fired: 0,
        });
        assert!(matches!(
            engine.decide("GET", "/api/2.2/jobs/list"),
            Decision::Pass
        ));
        let generation = engine.cleared.load(Ordering::SeqCst);
        assert!(matches!(
            engine.decide("POST", "/api/2.2/jobs/reset"),
            Decision::Hold
        ));
        let waiting = tokio::spawn({
            let engine = engine.clone();
            async move { engine.held_since(generation).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "released before the rules were cleared"
        );
        engine.clear();
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("released once cleared")
            .expect("task");
    }

    #[test]
    fn rules_skip_then_fire_a_number_of_times() {
        let engine = FaultEngine::new(None).expect("engine");
        engine.add(FaultRule {
            method: Some("POST".into()),
            path: "/api/*/jobs/create".into(),
            status: 503,
            error_code: None,
            message: None,
            retry_after: None,
            times: Some(2),
            skip_first: 1,
            commit: true,
            hold: false,
            seen: 0,
            fired: 0,
        });
        let outcomes: Vec<bool> = (0..5)
            .map(|_| {
                matches!(
                    engine.decide("POST", "/api/2.2/jobs/create"),
                    Decision::CommitThenFail(_)
                )
            })
            .collect();
        assert_eq!(outcomes, [false, true, true, false, false]);
        assert!(matches!(
            engine.decide("GET", "/api/2.2/jobs/create"),
            Decision::Pass
        ));
        assert_eq!(engine.injected(), 2);
    }

    #[test]
    fn the_flaky_profile_is_deterministic_and_mixed() {
        let run = || {
            let engine = FaultEngine::new(Some("flaky:7")).expect("engine");
            (0..2000)
                .map(|i| {
                    match engine.decide(
                        "POST",
                        if i % 2 == 0 {
                            "/api/2.2/jobs/create"
                        } else {
                            "/api/2.2/jobs/get"
                        },
                    ) {
                        Decision::Pass | Decision::Hold => 0,
                        Decision::Fail(e) => e.status.as_u16(),
                        Decision::CommitThenFail(_) => 1,
                    }
                })
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        for kind in [1, 503, 429] {
            assert!(first.contains(&kind), "no {kind} in the mix");
        }
        let failures = first.iter().filter(|k| **k != 0).count();
        assert!(failures > 100 && failures < 400, "{failures} failures");
        assert!(FaultEngine::new(Some("chaos")).is_err());
    }
}
