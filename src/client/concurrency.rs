//! A per-workspace concurrency limit that halves on 429 and grows back by one per window of
//! successes (AIMD), so a rate-limited workspace is used close to its allowed rate.

use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Debug)]
struct State {
    limit: f64,
    in_flight: usize,
    /// Urgent requests waiting: a freed slot goes to them first.
    urgent_waiting: usize,
}

/// The limiter of one workspace.
#[derive(Debug)]
pub struct AdaptiveLimit {
    state: Mutex<State>,
    max: usize,
    notify: Notify,
    /// Wakes urgent waiters (a separate queue, so they need not wait behind thousands).
    urgent: Notify,
}

/// An urgent request counted as waiting; leaves the count when served or given up (a dropped
/// future must not hold ordinary requests back for ever).
struct UrgentQueued<'a> {
    limit: &'a AdaptiveLimit,
    queued: bool,
}

impl UrgentQueued<'_> {
    fn leave(&mut self) {
        if !std::mem::take(&mut self.queued) {
            return;
        }
        let mut state = self.limit.state.lock().unwrap_or_else(|p| p.into_inner());
        state.urgent_waiting -= 1;
        let last = state.urgent_waiting == 0;
        drop(state);
        if last {
            // Ordinary requests held back for the urgent ones may go again.
            self.limit.notify.notify_one();
        }
    }
}

impl Drop for UrgentQueued<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}

/// A slot taken from an [`AdaptiveLimit`]; returned when dropped.
pub struct Permit<'a> {
    limit: &'a AdaptiveLimit,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.limit.state.lock().unwrap_or_else(|p| p.into_inner());
        state.in_flight = state.in_flight.saturating_sub(1);
        let urgent = state.urgent_waiting > 0;
        drop(state);
        self.limit.wake(urgent);
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
                urgent_waiting: 0,
            }),
            max,
            notify: Notify::new(),
            urgent: Notify::new(),
        }
    }

    /// Waits for a slot; urgent requests waiting are served first.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let notified = self.notify.notified();
            {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if state.urgent_waiting == 0
                    && (state.in_flight as f64) < state.limit.floor().max(1.0)
                {
                    state.in_flight += 1;
                    return Permit { limit: self };
                }
            }
            notified.await;
        }
    }

    /// Waits for a slot ahead of every [`AdaptiveLimit::acquire`] waiting (the next page of a
    /// listing: everything after it waits for it).
    pub async fn acquire_urgent(&self) -> Permit<'_> {
        let mut queued = UrgentQueued {
            limit: self,
            queued: false,
        };
        loop {
            let notified = self.urgent.notified();
            {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if (state.in_flight as f64) < state.limit.floor().max(1.0) {
                    state.in_flight += 1;
                    drop(state);
                    queued.leave();
                    return Permit { limit: self };
                }
                if !queued.queued {
                    state.urgent_waiting += 1;
                    queued.queued = true;
                }
            }
            notified.await;
        }
    }

    /// Wakes the next waiter, an urgent one first.
    fn wake(&self, urgent: bool) {
        if urgent {
            self.urgent.notify_one();
        } else {
            self.notify.notify_one();
        }
    }

    /// A request succeeded: grow by one slot per `limit` successes, up to the maximum.
    pub fn on_success(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.limit = (state.limit + 1.0 / state.limit.max(1.0)).min(self.max as f64);
        let urgent = state.urgent_waiting > 0;
        drop(state);
        self.wake(urgent);
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

    #[tokio::test]
    async fn urgent_requests_take_the_next_free_slot() {
        use std::sync::{Arc, Mutex};
        let limit = Arc::new(AdaptiveLimit::new(1));
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = limit.acquire().await;
        let mut tasks = Vec::new();
        for (label, urgent) in [
            ("ordinary 1", false),
            ("ordinary 2", false),
            ("urgent", true),
        ] {
            let (limit, order) = (limit.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = if urgent {
                    limit.acquire_urgent().await
                } else {
                    limit.acquire().await
                };
                order.lock().expect("order").push(label);
            }));
            // Each is waiting before the next arrives.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        drop(held);
        for t in tasks {
            t.await.expect("task");
        }
        let order = order.lock().expect("order").clone();
        assert_eq!(order, ["urgent", "ordinary 1", "ordinary 2"]);
    }

    #[tokio::test]
    async fn an_abandoned_urgent_wait_holds_nobody_back() {
        let limit = AdaptiveLimit::new(1);
        let held = limit.acquire().await;
        {
            let urgent = limit.acquire_urgent();
            let timed_out =
                tokio::time::timeout(std::time::Duration::from_millis(10), urgent).await;
            assert!(timed_out.is_err(), "no slot was free");
        }
        drop(held);
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), limit.acquire()).await;
        assert!(next.is_ok(), "an ordinary request gets the slot");
    }
}
