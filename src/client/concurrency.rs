//! A per-workspace concurrency limit that halves on 429 and grows back by one per window of
//! successes (AIMD), so a rate-limited workspace is used close to its allowed rate.

use std::sync::Mutex;

use tokio::sync::Notify;

/// Which requests a freed slot goes to first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// The next page of a listing: everything it lists waits for it.
    Urgent = 0,
    /// Every other request.
    Normal = 1,
    /// Work that fills slots nobody else wants (a promotion's early grant writes).
    Background = 2,
}

#[derive(Debug)]
struct State {
    limit: f64,
    in_flight: usize,
    /// Requests waiting, per priority: a freed slot goes to the highest one waiting.
    waiting: [usize; 3],
}

impl State {
    fn free_for(&self, priority: Priority) -> bool {
        self.waiting[..priority as usize].iter().all(|n| *n == 0)
            && (self.in_flight as f64) < self.limit.floor().max(1.0)
    }

    /// The highest priority with requests waiting.
    fn first_waiting(&self) -> Option<usize> {
        self.waiting.iter().position(|n| *n > 0)
    }
}

/// The limiter of one workspace.
#[derive(Debug)]
pub struct AdaptiveLimit {
    state: Mutex<State>,
    max: usize,
    /// One queue per priority, so an urgent request need not wait behind thousands.
    queues: [Notify; 3],
}

/// A request counted as waiting; leaves the count when served or given up (a dropped future
/// must not hold lower priorities back for ever).
struct Queued<'a> {
    limit: &'a AdaptiveLimit,
    priority: Priority,
    queued: bool,
}

impl Queued<'_> {
    fn leave(&mut self) {
        if !std::mem::take(&mut self.queued) {
            return;
        }
        let mut state = self.limit.state.lock().unwrap_or_else(|p| p.into_inner());
        state.waiting[self.priority as usize] -= 1;
        let next = (state.waiting[self.priority as usize] == 0)
            .then(|| state.first_waiting())
            .flatten();
        drop(state);
        // The last of a priority gone: the ones it held back may go again.
        if let Some(next) = next {
            self.limit.queues[next].notify_one();
        }
    }
}

impl Drop for Queued<'_> {
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
        let next = state.first_waiting();
        drop(state);
        self.limit.wake(next);
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
                waiting: [0; 3],
            }),
            max,
            queues: [Notify::new(), Notify::new(), Notify::new()],
        }
    }

    /// Waits for a slot as an ordinary request.
    pub async fn acquire(&self) -> Permit<'_> {
        self.acquire_as(Priority::Normal).await
    }

    /// Waits for a slot ahead of every [`AdaptiveLimit::acquire`] waiting (the next page of a
    /// listing: everything after it waits for it).
    pub async fn acquire_urgent(&self) -> Permit<'_> {
        self.acquire_as(Priority::Urgent).await
    }

    /// Waits for a slot that no request of a higher priority is waiting for.
    pub async fn acquire_as(&self, priority: Priority) -> Permit<'_> {
        let mut queued = Queued {
            limit: self,
            priority,
            queued: false,
        };
        loop {
            let notified = self.queues[priority as usize].notified();
            {
                let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
                if state.free_for(priority) {
                    state.in_flight += 1;
                    drop(state);
                    queued.leave();
                    return Permit { limit: self };
                }
                if !queued.queued {
                    state.waiting[priority as usize] += 1;
                    queued.queued = true;
                }
            }
            notified.await;
        }
    }

    /// Wakes the next waiter of the highest priority waiting.
    fn wake(&self, next: Option<usize>) {
        if let Some(next) = next {
            self.queues[next].notify_one();
        }
    }

    /// A request succeeded: grow by one slot per `limit` successes, up to the maximum.
    pub fn on_success(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.limit = (state.limit + 1.0 / state.limit.max(1.0)).min(self.max as f64);
        let next = state.first_waiting();
        drop(state);
        self.wake(next);
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
    async fn background_requests_go_when_nobody_else_waits() {
        use std::sync::{Arc, Mutex};
        let limit = Arc::new(AdaptiveLimit::new(1));
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = limit.acquire().await;
        let mut tasks = Vec::new();
        for (label, priority) in [
            ("background", Priority::Background),
            ("ordinary", Priority::Normal),
            ("urgent", Priority::Urgent),
            ("ordinary again", Priority::Normal),
        ] {
            let (limit, order) = (limit.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = limit.acquire_as(priority).await;
                order.lock().expect("order").push(label);
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }));
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        drop(held);
        for t in tasks {
            t.await.expect("task");
        }
        let order = order.lock().expect("order").clone();
        assert_eq!(order.len(), 4);
        assert_eq!(order[0], "urgent");
        assert_eq!(order[3], "background", "{order:?}");
    }

    #[tokio::test]
    async fn an_abandoned_wait_holds_no_lower_priority_back() {
        for (abandoned, next) in [
            (Priority::Urgent, Priority::Normal),
            (Priority::Normal, Priority::Background),
        ] {
            let limit = AdaptiveLimit::new(1);
            let held = limit.acquire().await;
            {
                let waiting = limit.acquire_as(abandoned);
                let timed_out =
                    tokio::time::timeout(std::time::Duration::from_millis(10), waiting).await;
                assert!(timed_out.is_err(), "no slot was free");
            }
            drop(held);
            let got =
                tokio::time::timeout(std::time::Duration::from_secs(5), limit.acquire_as(next))
                    .await;
            assert!(
                got.is_ok(),
                "{next:?} after an abandoned {abandoned:?} wait"
            );
        }
    }
}
