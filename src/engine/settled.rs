//! A lease over a plain register: for clouds whose API offers no write with a
//! precondition (no ETag, no create-only) on anything a target can keep its lease in.
//!
//! Mutual exclusion comes from timing instead (Fischer's protocol): a run that finds the
//! register free writes its claim, waits a settle delay D longer than any run's
//! check-to-write gap, and reads the register back; it holds the lease only if the claim
//! read back is still its own. Two runs that both found it free both wrote within that
//! gap, so both read back the same last write: exactly one of them wins. A run whose own
//! check-to-write gap came out longer than D/2 (a slow or retried write) cannot trust
//! that and gives its claim back instead of taking the lease.
//!
//! Renewing and giving back a lease already held need no delay: only the holder writes
//! a record that carries its id.

use std::time::{Duration, Instant};

use anyhow::Result;
use async_trait::async_trait;

use super::lease::{LeaseRecord, LeaseStore};

/// The settle delay when `AIDEPLOY_LEASE_SETTLE_MS` is not set: far longer than a
/// check and a write take when they succeed on their first attempt.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(5);

/// `AIDEPLOY_LEASE_SETTLE_MS`, else [`DEFAULT_SETTLE`].
pub fn settle_delay() -> Duration {
    std::env::var(crate::envvars::AIDEPLOY_LEASE_SETTLE_MS)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_SETTLE)
}

/// One small text value the cloud keeps, read and written without any precondition.
#[async_trait]
pub trait Register: Send + Sync {
    /// Where it lives, for people.
    fn location(&self) -> String;
    /// The text now, `None` when there is none.
    async fn load(&self) -> Result<Option<String>>;
    /// Replaces the text (creating the register when there is none).
    async fn store(&self, text: &str) -> Result<()>;
    /// Deletes the register.
    async fn delete(&self) -> Result<()>;
    /// Called once a claim has settled, won or lost: removes what this run's own write
    /// left beside the register (a duplicate a concurrent first write created).
    async fn tidy(&self) -> Result<()> {
        Ok(())
    }
}

/// A [`LeaseStore`] over a [`Register`].
pub struct Settled<R> {
    pub register: R,
    pub settle: Duration,
}

impl<R: Register> Settled<R> {
    /// With the settle delay of [`settle_delay`].
    pub fn new(register: R) -> Settled<R> {
        Settled { register, settle: settle_delay() }
    }
}

/// The version of a register's text: a hash of it.
fn version(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

fn parse(text: &str) -> LeaseRecord {
    serde_json::from_str(text).unwrap_or_else(|_| LeaseRecord::unreadable())
}

#[async_trait]
impl<R: Register> LeaseStore for Settled<R> {
    fn location(&self) -> String {
        self.register.location()
    }

    async fn read(&self) -> Result<Option<(LeaseRecord, String)>> {
        Ok(self.register.load().await?.map(|text| (parse(&text), version(&text))))
    }

    async fn write(&self, record: &LeaseRecord, expected: Option<&str>) -> Result<bool> {
        let started = Instant::now();
        let current = self.register.load().await?;
        if current.as_deref().map(version).as_deref() != expected {
            return Ok(false);
        }
        let text = serde_json::to_string(record)?;
        let held = current.as_deref().map(parse).is_some_and(|c| c.id == record.id);
        self.register.store(&text).await?;
        if held {
            return Ok(true);
        }
        let gap = started.elapsed();
        tokio::time::sleep(self.settle).await;
        let back = self.register.load().await;
        if let Err(e) = self.register.tidy().await {
            tracing::debug!("tidying the lease register {} failed: {e:#}", self.register.location());
        }
        let ours = back?.as_deref() == Some(text.as_str());
        if ours && gap > self.settle / 2 {
            // Too slow to be sure no other run checked before this write landed and
            // wrote after it: give the claim back rather than risk two holders.
            let given_back = LeaseRecord { released: true, ..record.clone() };
            self.register.store(&serde_json::to_string(&given_back)?).await?;
            return Ok(false);
        }
        Ok(ours)
    }

    fn removable(&self) -> bool {
        true
    }

    async fn remove(&self, expected: &str) -> Result<()> {
        match self.register.load().await? {
            Some(text) if version(&text) == expected => self.register.delete().await,
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::engine::lease::{acquire, remove_if_free};
    use crate::engine::Silent;

    /// A register in memory whose calls take `latency` each (so runs interleave) and
    /// whose writes take `write_latency` more.
    struct Mem {
        text: Arc<Mutex<Option<String>>>,
        latency: Duration,
        write_latency: Duration,
    }

    #[async_trait]
    impl Register for Mem {
        fn location(&self) -> String {
            "memory".into()
        }
        async fn load(&self) -> Result<Option<String>> {
            tokio::time::sleep(self.latency).await;
            Ok(self.text.lock().unwrap().clone())
        }
        async fn store(&self, text: &str) -> Result<()> {
            tokio::time::sleep(self.latency + self.write_latency).await;
            *self.text.lock().unwrap() = Some(text.to_string());
            Ok(())
        }
        async fn delete(&self) -> Result<()> {
            *self.text.lock().unwrap() = None;
            Ok(())
        }
    }

    fn store(text: &Arc<Mutex<Option<String>>>, write_latency: Duration) -> Arc<dyn LeaseStore> {
        Arc::new(Settled {
            register: Mem { text: text.clone(), latency: Duration::from_millis(2), write_latency },
            // Far above the runs' check-to-write gaps here, even on a loaded machine.
            settle: Duration::from_secs(1),
        })
    }

    #[tokio::test]
    async fn of_runs_that_all_find_it_free_exactly_one_takes_it() {
        for round in 0..3 {
            let text = Arc::new(Mutex::new(None));
            // Each run's write lands a little later than the one before: all of them
            // found the register free, and the last write is the one read back.
            let mut runs = tokio::task::JoinSet::new();
            for i in 0..4u64 {
                let s = store(&text, Duration::from_millis(i * 3 + round));
                runs.spawn(async move { acquire(s, "deploy", Duration::from_millis(50), &Silent).await });
            }
            let won: Vec<_> = runs.join_all().await.into_iter().filter_map(|r| r.ok()).collect();
            assert_eq!(won.len(), 1, "round {round}: {} runs hold the lease", won.len());
            let (rec, _) = store(&text, Duration::ZERO).read().await.unwrap().unwrap();
            assert!(!rec.released);
            for h in won {
                h.release(&Silent).await;
            }
            assert!(store(&text, Duration::ZERO).read().await.unwrap().unwrap().0.released);
        }
    }

    #[tokio::test]
    async fn a_second_run_waits_for_the_holder_then_takes_it() {
        let text = Arc::new(Mutex::new(None));
        let first = acquire(store(&text, Duration::ZERO), "deploy", Duration::from_secs(1), &Silent).await.unwrap();
        let err = acquire(store(&text, Duration::ZERO), "destroy", Duration::from_millis(100), &Silent).await.err().expect("held");
        assert!(format!("{err:#}").contains("deploy by"), "{err:#}");
        first.release(&Silent).await;
        let second = acquire(store(&text, Duration::ZERO), "destroy", Duration::from_millis(100), &Silent).await.unwrap();
        assert_eq!(store(&text, Duration::ZERO).read().await.unwrap().unwrap().0.command, "destroy");
        second.release_and_remove(&Silent).await;
        assert!(text.lock().unwrap().is_none(), "destroy's release deletes the register");
    }

    #[tokio::test]
    async fn a_claim_written_too_slowly_is_given_back() {
        let text = Arc::new(Mutex::new(None));
        // The write takes longer than half the settle delay: the claim is not trusted.
        let slow = store(&text, Duration::from_millis(600));
        let me = LeaseRecord { released: false, ..LeaseRecord::unreadable() };
        let me = LeaseRecord { id: "slow".into(), expires: u64::MAX, ..me };
        assert!(!slow.write(&me, None).await.unwrap());
        let (rec, version) = slow.read().await.unwrap().unwrap();
        assert_eq!(rec.id, "slow");
        assert!(rec.released, "the slow claim was given back");
        // A free record is what a destroy with nothing else to remove deletes.
        assert!(remove_if_free(slow.clone()).await.unwrap());
        assert!(slow.read().await.unwrap().is_none());
        // A write expecting a version that is gone changes nothing.
        assert!(!slow.write(&me, Some(&version)).await.unwrap());
        assert!(text.lock().unwrap().is_none());
    }
}
