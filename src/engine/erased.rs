//! The one place where targets' own types are erased: `Backend` is what the registry
//! hands to commands, and every [`Target`] is one.

use anyhow::Result;
use async_trait::async_trait;

use super::flow::{self, DeployReport, DestroyReport, HistoryReport, PlanReport, RollbackReport, StatusReport};
use super::gc;
use super::lease::StageRecord;
use super::target::{Capabilities, LineSink, LogQuery, Target};
use super::{ArtifactInfo, Cx, Plan};
use crate::manifest::Kind;
use crate::secrets::SecretStore;
use crate::ui::Ui;

/// A target with its types erased: each command's whole flow.
#[async_trait]
pub trait Backend: Send + Sync {
    fn kind(&self) -> Kind;
    fn capabilities(&self) -> Capabilities;
    async fn deploy(&self, cx: &Cx, ui: &Ui) -> Result<DeployReport>;
    async fn plan(&self, cx: &Cx, ui: &Ui) -> Result<PlanReport>;
    async fn build(&self, cx: &Cx, ui: &Ui) -> Result<ArtifactInfo>;
    /// What is deployed; with `metrics`, also the app's request metrics over that window.
    async fn status(&self, cx: &Cx, metrics: Option<std::time::Duration>) -> Result<StatusReport>;
    /// Back to the previous release, or with `to` to the kept release of that id.
    async fn rollback(&self, cx: &Cx, ui: &Ui, to: Option<&str>) -> Result<RollbackReport>;
    async fn history(&self, cx: &Cx) -> Result<HistoryReport>;
    async fn destroy(&self, cx: &Cx, ui: &Ui) -> Result<DestroyReport>;
    async fn logs(&self, cx: &Cx, query: &LogQuery, out: LineSink<'_>) -> Result<()>;
    async fn secret_store(&self, cx: &Cx) -> Result<Box<dyn SecretStore>>;
    /// `gc`: every stage of the app on this target, with its lease record (read only).
    async fn stages(&self, cx: &Cx) -> Result<Vec<StageRecord>>;
    /// `gc`: what destroying the stage of `cx` would remove (read only).
    async fn destroy_plan(&self, cx: &Cx) -> Result<Plan>;
    /// `gc`: after a destroy, drops the expiry a record kept in a shared place still holds.
    async fn forget_expiry(&self, cx: &Cx, ui: &Ui) -> Result<()>;
}

#[async_trait]
impl<T: Target> Backend for T {
    fn kind(&self) -> Kind {
        Target::kind(self)
    }
    fn capabilities(&self) -> Capabilities {
        Target::capabilities(self)
    }
    async fn deploy(&self, cx: &Cx, ui: &Ui) -> Result<DeployReport> {
        flow::deploy(cx, self, ui).await
    }
    async fn plan(&self, cx: &Cx, ui: &Ui) -> Result<PlanReport> {
        flow::plan(cx, self, ui).await
    }
    async fn build(&self, cx: &Cx, ui: &Ui) -> Result<ArtifactInfo> {
        flow::build(cx, self, ui).await
    }
    async fn status(&self, cx: &Cx, metrics: Option<std::time::Duration>) -> Result<StatusReport> {
        flow::status(cx, self, metrics).await
    }
    async fn rollback(&self, cx: &Cx, ui: &Ui, to: Option<&str>) -> Result<RollbackReport> {
        flow::rollback(cx, self, ui, to).await
    }
    async fn history(&self, cx: &Cx) -> Result<HistoryReport> {
        flow::history(cx, self).await
    }
    async fn destroy(&self, cx: &Cx, ui: &Ui) -> Result<DestroyReport> {
        flow::destroy(cx, self, ui).await
    }
    async fn logs(&self, cx: &Cx, query: &LogQuery, out: LineSink<'_>) -> Result<()> {
        flow::logs(cx, self, query, out).await
    }
    async fn secret_store(&self, cx: &Cx) -> Result<Box<dyn SecretStore>> {
        Target::secret_store(self, cx).await
    }
    async fn stages(&self, cx: &Cx) -> Result<Vec<StageRecord>> {
        gc::stages(cx, self).await
    }
    async fn destroy_plan(&self, cx: &Cx) -> Result<Plan> {
        gc::destroy_plan(cx, self).await
    }
    async fn forget_expiry(&self, cx: &Cx, ui: &Ui) -> Result<()> {
        gc::forget(cx, self, ui).await
    }
}
