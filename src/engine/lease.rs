//! One deploy at a time per app, stage and target: a lease kept in the target's own
//! cloud (or, for `local`, on this machine), so two machines see the same one.
//!
//! A target offers a [`LeaseStore`]: one small record it can read with a version and
//! write only if that version is still current (an S3 object with `If-Match` /
//! `If-None-Match`, a resource with an ETag, a file under a lock). Everything else is
//! here: taking the lease, waiting for another holder with a progress line naming it,
//! taking over a stale one (expired, or its process on this machine is gone) and saying
//! so, renewing it while a long apply runs, and giving it back.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::Reporter;
use crate::error::Hinted;

/// How long a lease lasts without renewal. A run renews it every third of this, so only
/// a run that died (or lost its network) lets it lapse.
pub const TTL: Duration = Duration::from_secs(120);

/// The record a lease store keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// This run's random id.
    pub id: String,
    /// `user@host`, for people.
    pub holder: String,
    pub host: String,
    pub pid: u32,
    /// `deploy`, `rollback`, `destroy`.
    pub command: String,
    /// Seconds since the epoch.
    pub since: u64,
    pub expires: u64,
    /// Given back: free for anyone.
    #[serde(default)]
    pub released: bool,
    /// The releases deploys and rollbacks made, newest first (`engine::release`): kept
    /// here because every run that makes one holds this record, and each taker carries
    /// it over.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<super::release::Release>,
    /// When this stage may be removed by `aideploy gc` (seconds since the epoch), set by
    /// `deploy --ttl`: a preview stage's time to live, kept in the cloud beside the lease
    /// so any machine's `gc` finds it. Carried over by each taker, like `releases`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_expires: Option<u64>,
}

impl LeaseRecord {
    fn mine(command: &str) -> LeaseRecord {
        let host = hostname();
        let user = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "someone".into());
        let now = now_secs();
        LeaseRecord {
            id: format!("{:016x}{:08x}", random_u64(), std::process::id()),
            holder: format!("{user}@{host}"),
            host,
            pid: std::process::id(),
            command: command.to_string(),
            since: now,
            expires: now + TTL.as_secs(),
            released: false,
            releases: Vec::new(),
            stage_expires: None,
        }
    }

    /// What a record that does not parse reads as: free (it was never one of ours).
    pub fn unreadable() -> LeaseRecord {
        LeaseRecord {
            id: String::new(),
            holder: "?".into(),
            host: String::new(),
            pid: 0,
            command: "?".into(),
            since: 0,
            expires: 0,
            released: true,
            releases: Vec::new(),
            stage_expires: None,
        }
    }

    /// Free for the taking: given back, expired, or held by a process of this machine
    /// that no longer exists.
    pub fn is_stale(&self, now: u64) -> bool {
        self.released || now >= self.expires || (self.host == hostname() && !process_alive(self.pid))
    }

    /// `deploy by ann@ci-7 (pid 4242) since 12:03:07Z`.
    pub fn describe(&self) -> String {
        let since = crate::util::iso8601(self.since);
        format!("{} by {} (pid {}) since {}", self.command, self.holder, self.pid, since.get(11..).unwrap_or(&since))
    }
}

/// One stage of an app on a target, as its lease record in the cloud says: what
/// [`crate::engine::Target::stages`] lists for `gc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRecord {
    pub stage: String,
    pub record: LeaseRecord,
}

/// Where a target keeps its lease record.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Where the lease lives, for people (`s3://bucket/key`).
    fn location(&self) -> String;
    /// The record now and its version, or `None` when there is none.
    async fn read(&self) -> Result<Option<(LeaseRecord, String)>>;
    /// Writes `record` if the record's version is still `expected` (`None`: only if
    /// there is no record). `Ok(false)` when that precondition failed.
    async fn write(&self, record: &LeaseRecord, expected: Option<&str>) -> Result<bool>;
    /// Deletes the record if its version is still `version`: what `destroy` does last,
    /// once the lease is given back, where the record is a resource of the app's own
    /// (a secret, a resource group, an env group). Stores whose record lives in a shared
    /// place (a bucket) keep it.
    async fn remove(&self, version: &str) -> Result<()> {
        let _ = version;
        Ok(())
    }
    /// Whether [`LeaseStore::remove`] deletes anything (else `destroy` skips it).
    fn removable(&self) -> bool {
        false
    }
}

/// A held lease: renewed in the background until [`Held::release`].
pub struct Held {
    /// Whether another run held it first: what it did is not in anything read before.
    pub waited: bool,
    store: Arc<dyn LeaseStore>,
    record: LeaseRecord,
    renewer: tokio::task::JoinHandle<()>,
}

/// Takes the lease for `command`, waiting up to `timeout` for another holder.
pub async fn acquire(store: Arc<dyn LeaseStore>, command: &str, timeout: Duration, r: &dyn Reporter) -> Result<Held> {
    let started = Instant::now();
    let mut me = LeaseRecord::mine(command);
    let mut pause = Duration::from_millis(250);
    let mut waited_for_another = false;
    loop {
        let now = now_secs();
        me.since = now;
        me.expires = now + TTL.as_secs();
        let current = store.read().await?;
        // The history goes on with whoever holds the record next.
        if let Some((rec, _)) = &current {
            if rec.id != me.id {
                me.releases = rec.releases.clone();
                me.stage_expires = rec.stage_expires;
            }
        }
        let (won, previous) = match &current {
            None => (store.write(&me, None).await?, None),
            // Our own claim: a write whose answer was lost (a cut connection, a retry
            // refused because the first attempt had already changed the version).
            Some((rec, _)) if rec.id == me.id && !rec.released => (true, None),
            Some((rec, version)) if rec.is_stale(now) => (store.write(&me, Some(version)).await?, Some(rec.clone())),
            Some(_) => (false, None),
        };
        if won {
            if let Some(p) = previous.filter(|p| !p.released) {
                r.warn(&format!("took over a stale lease at {} ({}; it was not given back)", store.location(), p.describe()));
            }
            let renewer = tokio::spawn(renew(store.clone(), me.clone()));
            return Ok(Held { waited: waited_for_another, store, record: me, renewer });
        }
        let waited = started.elapsed();
        let who = match &current {
            Some((rec, _)) if !rec.is_stale(now) => rec.describe(),
            _ => "another run (it took the lease just now)".to_string(),
        };
        if waited >= timeout {
            return Err(Hinted::new(
                format!("another run holds the lease at {}: {who}; waited {}s", store.location(), waited.as_secs()),
                "wait for it to finish and run again, or pass --lock-timeout to wait longer; a lease whose run died expires within 2 minutes",
            )
            .into());
        }
        r.progress(&format!("waiting for the lease held by {who} ({}s of {}s)", waited.as_secs(), timeout.as_secs()));
        tokio::time::sleep(pause.min(timeout.saturating_sub(waited))).await;
        waited_for_another = true;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// Extends the lease every third of its TTL while the run goes on.
async fn renew(store: Arc<dyn LeaseStore>, mut me: LeaseRecord) {
    loop {
        tokio::time::sleep(TTL / 3).await;
        let Ok(Some((rec, version))) = store.read().await else { continue };
        if rec.id != me.id {
            tracing::warn!("the lease at {} is now held by {}", store.location(), rec.describe());
            return;
        }
        me.expires = now_secs() + TTL.as_secs();
        if let Err(e) = store.write(&me, Some(&version)).await {
            tracing::debug!("renewing the lease failed: {e:#}");
        }
    }
}

impl Held {
    /// The release history the record holds; what is changed here is written when the
    /// lease is given back.
    pub fn history_mut(&mut self) -> &mut Vec<super::release::Release> {
        &mut self.record.releases
    }

    /// The stage's expiry the record holds (`deploy --ttl`, read by `gc`); what is set
    /// here is written when the lease is given back.
    pub fn stage_expires_mut(&mut self) -> &mut Option<u64> {
        &mut self.record.stage_expires
    }

    /// The stage's expiry as the record held it when this run took the lease.
    pub fn stage_expires(&self) -> Option<u64> {
        self.record.stage_expires
    }

    /// Who holds it (`user@host`).
    pub fn holder(&self) -> &str {
        &self.record.holder
    }

    /// Gives the lease back (marks the record released). A failure here only delays the
    /// next run until the lease expires, so it is a warning, not an error.
    pub async fn release(self, r: &dyn Reporter) {
        self.renewer.abort();
        let result = async {
            if let Some((rec, version)) = self.store.read().await? {
                if rec.id == self.record.id {
                    let done = LeaseRecord { released: true, expires: now_secs(), ..self.record.clone() };
                    self.store.write(&done, Some(&version)).await?;
                }
            }
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = result {
            r.warn(&format!("could not give back the lease at {} ({e:#}); it expires within {}s", self.store.location(), TTL.as_secs()));
        }
    }
}

impl Held {
    /// Gives the lease back and deletes its record (`destroy`, once everything else of
    /// the app is gone). A failure is a warning: the record is then deleted by the next
    /// destroy.
    pub async fn release_and_remove(self, r: &dyn Reporter) {
        let store = self.store.clone();
        let id = self.record.id.clone();
        self.release(r).await;
        if !store.removable() {
            return;
        }
        let result = async {
            if let Some((rec, version)) = store.read().await? {
                if rec.id == id && rec.released {
                    store.remove(&version).await?;
                }
            }
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = result {
            r.warn(&format!("could not delete the lease at {} ({e:#}); the next `destroy` deletes it", store.location()));
        }
    }
}

/// Deletes a lease record nobody holds (given back, expired, or its process gone): what
/// a `destroy` with nothing else left to remove does with a record a failed run left.
pub async fn remove_if_free(store: Arc<dyn LeaseStore>) -> Result<bool> {
    if !store.removable() {
        return Ok(false);
    }
    match store.read().await? {
        Some((rec, version)) if rec.is_stale(now_secs()) => {
            store.remove(&version).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Whether process `pid` exists on this machine.
fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        // SAFETY: signal 0 checks for existence and permission only.
        let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
        rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// A lease in a file on this machine (the `local` target): the record is the file's
/// JSON, its version the file's content hash, and each read-modify-write runs under an
/// advisory lock on a sibling file.
pub struct FileLease {
    pub path: std::path::PathBuf,
}

impl FileLease {
    fn version(text: &str) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(&Sha256::digest(text.as_bytes())[..8])
    }
}

#[async_trait]
impl LeaseStore for FileLease {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn read(&self) -> Result<Option<(LeaseRecord, String)>> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => Ok(serde_json::from_str(&text).ok().map(|r| (r, FileLease::version(&text)))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(format!("cannot read the lease {}", self.path.display()))),
        }
    }

    async fn write(&self, record: &LeaseRecord, expected: Option<&str>) -> Result<bool> {
        let path = self.path.clone();
        let record = record.clone();
        let expected = expected.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            let _lock = crate::util::FileLock::acquire(&path.with_extension("lock"))?;
            let current = match std::fs::read_to_string(&path) {
                Ok(text) => Some(FileLease::version(&text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(anyhow::Error::new(e)),
            };
            if current != expected {
                return Ok(false);
            }
            crate::util::write_atomic(&path, serde_json::to_string_pretty(&record)?.as_bytes())?;
            Ok(true)
        })
        .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Silent;

    fn store(dir: &std::path::Path) -> Arc<dyn LeaseStore> {
        Arc::new(FileLease { path: dir.join("lease.json") })
    }

    #[tokio::test]
    async fn a_second_run_waits_then_gives_up_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(store(dir.path()), "deploy", Duration::from_secs(1), &Silent).await.unwrap();
        let err = acquire(store(dir.path()), "destroy", Duration::from_millis(300), &Silent).await.err().expect("the lease is held");
        let text = format!("{err:#}");
        assert!(text.contains("another run holds the lease") && text.contains("deploy by"), "{text}");
        first.release(&Silent).await;
        // Given back: the next run takes it at once.
        let second = acquire(store(dir.path()), "destroy", Duration::from_millis(300), &Silent).await.unwrap();
        let (rec, _) = store(dir.path()).read().await.unwrap().unwrap();
        assert_eq!(rec.command, "destroy");
        assert!(!rec.released);
        second.release(&Silent).await;
        assert!(store(dir.path()).read().await.unwrap().unwrap().0.released);
    }

    #[tokio::test]
    async fn a_stale_lease_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        // Expired, from another machine.
        let old = LeaseRecord {
            id: "old".into(),
            holder: "ci@elsewhere".into(),
            host: "elsewhere".into(),
            pid: 1,
            command: "deploy".into(),
            since: 10,
            expires: 20,
            released: false,
            releases: vec![super::super::release::Release {
                id: Some("7".into()),
                digest: "sha256:aa".into(),
                at: "2026-12-05T10:00:00Z".into(),
                by: "ci@elsewhere".into(),
                commit: None,
                dirty: false,
                aideploy: "0.1.0".into(),
                manifest: "sha256:bb".into(),
                ended: super::super::release::Ended::Released,
                restores: None,
            }],
            stage_expires: Some(4_000_000_000),
        };
        assert!(s.write(&old, None).await.unwrap());
        assert!(!s.write(&old, None).await.unwrap(), "a create-only write over an existing record fails");
        let mut held = acquire(s.clone(), "deploy", Duration::from_millis(300), &Silent).await.unwrap();
        assert_ne!(s.read().await.unwrap().unwrap().0.id, "old");
        // The taker carries the release history over, and what it adds is written when it
        // gives the lease back.
        assert_eq!(held.history_mut().len(), 1);
        let mut next = old.releases[0].clone();
        next.id = Some("8".into());
        super::super::release::record(held.history_mut(), next);
        held.release(&Silent).await;
        let kept = s.read().await.unwrap().unwrap().0;
        assert!(kept.released);
        let ids: Vec<_> = kept.releases.iter().map(|r| r.id.clone().unwrap()).collect();
        assert_eq!(ids, ["8", "7"]);
        assert_eq!(kept.stage_expires, Some(4_000_000_000), "a preview stage's expiry outlives the taker");
        // Held by a process of this machine that is gone: stale though not expired.
        let gone = LeaseRecord { id: "gone".into(), host: hostname(), pid: u32::MAX / 2, expires: now_secs() + 600, ..old.clone() };
        assert!(gone.is_stale(now_secs()));
        let live = LeaseRecord { pid: std::process::id(), ..gone };
        assert!(!live.is_stale(now_secs()));
    }
}
