//! gc's destroy checks the expiry again once it holds the stage's lease: a stage given a
//! new time to live after gc listed it is kept. Run through the real destroy flow on a
//! target whose lease is a file (as local's is) and whose resources are a flag.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Result;
use async_trait::async_trait;

use super::Extended;
use crate::engine::lease::{FileLease, LeaseRecord, LeaseStore};
use crate::engine::target::{Capabilities, DefaultPackage, Target};
use crate::engine::{Action, Built, Cx, Deployed, Health, Op, Outcome, Planned, Provider, Reporter};
use crate::manifest::Kind;
use crate::ui::Ui;

/// One resource, there until destroyed.
struct OneThing {
    lease: std::path::PathBuf,
    destroyed: AtomicBool,
}

#[async_trait]
impl Target for OneThing {
    type Artifact = ();
    type Observed = bool;
    type Change = Action;

    fn kind(&self) -> Kind {
        Kind::Local
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            provider: Provider::Local,
            secret_store: false,
            logs: false,
            rollback: false,
            default_package: DefaultPackage::Source,
            needs_registry: false,
            lease: true,
        }
    }
    async fn build(&self, _: &Cx, _: &dyn Reporter) -> Result<Built<()>> {
        anyhow::bail!("gc builds nothing")
    }
    async fn observe(&self, _: &Cx) -> Result<bool> {
        Ok(!self.destroyed.load(Ordering::SeqCst))
    }
    fn deployed(&self, _: &Cx, _: &bool) -> Option<Deployed> {
        None
    }
    fn plan(&self, _: &Cx, _: &bool, _: &Built<()>) -> Planned<Action> {
        Planned::default()
    }
    async fn apply(&self, _: &Cx, _: &bool, _: &Built<()>, _: &Planned<Action>, _: &dyn Reporter) -> Result<Outcome> {
        anyhow::bail!("gc applies nothing")
    }
    async fn lease_store(&self, _: &Cx) -> Result<Option<Arc<dyn LeaseStore>>> {
        Ok(Some(Arc::new(FileLease { path: self.lease.clone() })))
    }
    fn plan_destroy(&self, _: &Cx, there: &bool) -> Planned<Action> {
        if *there {
            Planned::of(vec![Action::new(Op::Delete, "thing", "one")])
        } else {
            Planned::default()
        }
    }
    async fn destroy(&self, _: &Cx, _: &bool, plan: &Planned<Action>, _: &dyn Reporter) -> Result<Outcome> {
        self.destroyed.store(true, Ordering::SeqCst);
        Ok(Outcome { url: None, health: Health::Skipped, actions: plan.display().actions, failure: None, pushed: None })
    }
}

fn record(stage_expires: u64) -> LeaseRecord {
    LeaseRecord {
        id: "earlier".into(),
        holder: "ci@elsewhere".into(),
        host: "elsewhere".into(),
        pid: 1,
        command: "deploy".into(),
        since: 100,
        expires: 200,
        released: true,
        releases: Vec::new(),
        stage_expires: Some(stage_expires),
    }
}

fn ui() -> Ui {
    Ui { json: true, quiet: 1, verbose: 0, progress: false, interactive: false, yes: true, lock_timeout: std::time::Duration::from_secs(5) }
}

#[tokio::test]
async fn a_stage_extended_after_gc_listed_it_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let target = OneThing { lease: dir.path().join("lease.json"), destroyed: AtomicBool::new(false) };
    let store = FileLease { path: target.lease.clone() };
    let now = crate::util::now_secs();
    let mut cx =
        crate::engine::testing::cx("version = 1\n[app]\nname = \"rag\"\nruntime = \"python3.11\"\nasgi = \"main:app\"\n", "local", &[]);
    cx.expired_only = true;

    // gc listed the stage as expired; by the time its destroy holds the lease, a deploy
    // has given it three more days.
    assert!(store.write(&record(now + 3 * 86_400), None).await.unwrap());
    let err = crate::engine::flow::destroy(&cx, &target, &ui()).await.unwrap_err();
    assert!(err.downcast_ref::<Extended>().is_some(), "{err:#}");
    assert!(!target.destroyed.load(Ordering::SeqCst), "the extended stage was destroyed");
    let (kept, _) = store.read().await.unwrap().expect("the record stays");
    assert_eq!(kept.stage_expires, Some(now + 3 * 86_400));
    assert!(kept.released, "the lease is given back");

    // Still expired when the lease is held: destroyed.
    let (_, version) = store.read().await.unwrap().unwrap();
    assert!(store.write(&record(now - 1), Some(&version)).await.unwrap());
    crate::engine::flow::destroy(&cx, &target, &ui()).await.unwrap();
    assert!(target.destroyed.load(Ordering::SeqCst));

    // A destroy that is not gc's removes the stage whatever its expiry.
    let target = OneThing { lease: dir.path().join("other.json"), destroyed: AtomicBool::new(false) };
    let store = FileLease { path: target.lease.clone() };
    assert!(store.write(&record(now + 86_400), None).await.unwrap());
    cx.expired_only = false;
    crate::engine::flow::destroy(&cx, &target, &ui()).await.unwrap();
    assert!(target.destroyed.load(Ordering::SeqCst));
}
