//! The one way a target waits for something in the cloud: a check run on a schedule
//! until it says ready or the time runs out, with progress. The schedule is a
//! [`PollPolicy`] held by the run's context, so tests make waits fast by setting
//! `AIDEPLOY_POLL_INTERVAL_MS`; no target asks whether it talks to an emulator.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::Reporter;
use crate::envvars;

/// How often to ask: from a wait's own interval, growing by half each time up to its
/// cap; or, when `fixed` (tests), always that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollPolicy {
    /// A fixed interval for every wait (tests); `None`: each wait's own.
    pub fixed: Option<Duration>,
}

impl PollPolicy {
    /// From `AIDEPLOY_POLL_INTERVAL_MS`, when set to a number of milliseconds.
    pub fn from_env() -> PollPolicy {
        let fixed =
            std::env::var(envvars::AIDEPLOY_POLL_INTERVAL_MS).ok().and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_millis);
        PollPolicy { fixed }
    }

    /// The pause before attempt `n` (0-based) of a wait whose own interval is `every`,
    /// growing to at most `max`.
    pub fn pause(&self, every: Duration, max: Duration, n: u32) -> Duration {
        if let Some(f) = self.fixed {
            return f;
        }
        let mut d = every;
        for _ in 0..n.min(16) {
            d = d.mul_f64(1.5);
            if d >= max {
                return max;
            }
        }
        d.min(max)
    }
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy::from_env()
    }
}

/// What one check found.
#[derive(Debug)]
pub enum Poll<T> {
    Ready(T),
    /// Not yet; with the status to show ("CREATING", "2 of 3 tasks").
    Pending(String),
}

/// How a wait ended, when the check itself did not fail.
#[derive(Debug)]
pub enum Waited<T> {
    Ready(T),
    /// Still pending after the timeout; with the last status seen.
    TimedOut {
        last: String,
        waited: Duration,
    },
}

/// One wait: its name for people, its own interval and cap, and its timeout.
#[derive(Debug, Clone)]
pub struct Wait<'a> {
    pub what: &'a str,
    pub every: Duration,
    pub max_every: Duration,
    pub timeout: Duration,
}

impl<'a> Wait<'a> {
    pub fn new(what: &'a str, every: Duration, timeout: Duration) -> Wait<'a> {
        Wait { what, every, max_every: every * 4, timeout }
    }

    /// Runs `check` until it answers `Ready`, fails, or `timeout` passes; shows the
    /// status and the time waited on each round.
    pub async fn run<T, F, Fut>(&self, policy: PollPolicy, r: &dyn Reporter, mut check: F) -> Result<Waited<T>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Poll<T>>>,
    {
        let started = Instant::now();
        let mut n = 0;
        loop {
            let last = match check().await? {
                Poll::Ready(v) => return Ok(Waited::Ready(v)),
                Poll::Pending(status) => status,
            };
            let waited = started.elapsed();
            if waited >= self.timeout {
                return Ok(Waited::TimedOut { last, waited });
            }
            r.progress(&format!("{}: {last} ({}s of {}s)", self.what, waited.as_secs(), self.timeout.as_secs()));
            tokio::time::sleep(policy.pause(self.every, self.max_every, n).min(self.timeout.saturating_sub(waited))).await;
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Silent;

    #[test]
    fn pauses_grow_to_the_cap_unless_fixed() {
        let p = PollPolicy { fixed: None };
        assert_eq!(p.pause(Duration::from_secs(2), Duration::from_secs(10), 0), Duration::from_secs(2));
        assert_eq!(p.pause(Duration::from_secs(2), Duration::from_secs(10), 1), Duration::from_secs(3));
        assert_eq!(p.pause(Duration::from_secs(2), Duration::from_secs(10), 30), Duration::from_secs(10));
        let fixed = PollPolicy { fixed: Some(Duration::from_millis(5)) };
        assert_eq!(fixed.pause(Duration::from_secs(2), Duration::from_secs(10), 3), Duration::from_millis(5));
    }

    #[tokio::test]
    async fn waits_until_ready_or_times_out() {
        let policy = PollPolicy { fixed: Some(Duration::from_millis(1)) };
        let mut calls = 0;
        let w = Wait::new("thing", Duration::from_secs(1), Duration::from_secs(5));
        let got = w
            .run(policy, &Silent, || {
                calls += 1;
                let c = calls;
                async move { Ok(if c < 3 { Poll::Pending(format!("try {c}")) } else { Poll::Ready(c) }) }
            })
            .await
            .unwrap();
        assert!(matches!(got, Waited::Ready(3)));
        let w = Wait::new("never", Duration::from_millis(1), Duration::from_millis(20));
        let got: Waited<()> = w.run(policy, &Silent, || async { Ok(Poll::Pending("CREATING".into())) }).await.unwrap();
        match got {
            Waited::TimedOut { last, .. } => assert_eq!(last, "CREATING"),
            Waited::Ready(_) => panic!("a check that never answers ready timed out as ready"),
        }
    }
}
