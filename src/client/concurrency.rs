//! A per-workspace concurrency limit that halves on 429 and grows back by one per window of
//! successes (AIMD), so a rate-limited workspace is used close to its allowed rate.

use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Debug)]
struct State {
    limit: f64,
    in_flight: usize,
}

/// The limiter of one workspace.
#[derive(Debug)]
pub struct AdaptiveLimit {
    state: Mutex<State>,
    max: usize,
    notify: Notify,
}

/// A slot taken from an [`AdaptiveLimit`]; returned when dropped.
pub struct Permit<'a> {
    limit: &'a AdaptiveLimit,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.limit.state.lock().unwrap_or_else(|p| p.into_inner());
        state.in_flight = state.in_flight.saturating_sub(1);
        drop(state);
        self.limit.notify.notify_one();
    }
}

impl AdaptiveLimit {
    /// A limit starting (and capped) at `max` requests in flight.
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        AdaptiveLimit {
            state: Mutex::new(State {
                limit: max as f64,
                in_flight: 0,
            }),
            max,
            notify: Notify::new(),
        }
    }

    /// Waits for a slot.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let notified = self.notify.notified();
            {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if (state.in_flight as f64) < state.limit.floor().max(1.0) {
                    state.in_flight += 1;
                    return Permit { limit: self };
                }
            }
            notified.await;
        }
    }

    /// A request succeeded: grow by one slot per `limit` successes, up to the maximum.
    pub fn on_success(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.limit = (state.limit + 1.0 / state.limit.max(1.0)).min(self.max as f64);
        drop(state);
        self.notify.notify_one();
    }

    /// The workspace said 429: halve the limit.
    pub fn on_throttled(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.limit = (state.limit / 2.0).max(1.0);
    }

    /// The current limit (whole requests).
    pub fn current(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .limit
            .floor() as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_on_throttle_and_grows_back() {
        let limit = AdaptiveLimit::new(16);
        limit.on_throttled();
        assert_eq!(limit.current(), 8);
        limit.on_throttled();
        limit.on_throttled();
        limit.on_throttled();
        limit.on_throttled();
        assert_eq!(limit.current(), 1, "never below one");
        for _ in 0..200 {
            limit.on_success();
        }
        assert_eq!(limit.current(), 16, "capped at the maximum");
    }

    #[tokio::test]
    async fn never_exceeds_the_limit() {
        let limit = std::sync::Arc::new(AdaptiveLimit::new(3));
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let now = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (limit, peak, now) = (limit.clone(), peak.clone(), now.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = limit.acquire().await;
                let n = now.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                peak.fetch_max(n, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                now.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}
