//! The one place where targets' own types are erased: `Backend` is what the registry
//! hands to commands, and every [`Target`] is one.

use anyhow::Result;
use async_trait::async_trait;

use super::flow::{self, DeployReport, DestroyReport, HistoryReport, PlanReport, RollbackReport, StatusReport};
use super::target::{Capabilities, LineSink, LogQuery, Target};
use super::{ArtifactInfo, Cx};
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
}
