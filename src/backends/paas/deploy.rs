//! The deploy wait both platforms share: one `engine::wait` loop over a per-platform
//! mapping of deploy statuses to live / failed / still going, and the failure reason.

use std::future::Future;
use std::time::Duration;

use anyhow::Result;

use crate::engine::wait::{Poll, Wait, Waited};
use crate::engine::{Cx, Reporter};

/// Where a deploy is, in a platform's own words mapped to ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployState {
    /// It serves.
    Live,
    /// It ended without serving, with the platform's status.
    Failed(String),
    /// Still going, with the platform's status.
    Going(String),
}

/// How often a platform is asked about a deploy.
const EVERY: Duration = Duration::from_secs(3);

/// Waits for deploy `id` (`what`: "Render deploy", "Railway deployment") until it is
/// live, has failed, or `timeout` passed. `Err` of the inner result is the failure
/// reason for people; `logs` gives the platform's last log lines on a failure.
pub async fn wait<F, Fut, L, LFut>(
    cx: &Cx,
    what: &str,
    id: &str,
    timeout: Duration,
    r: &dyn Reporter,
    mut check: F,
    logs: L,
) -> Result<std::result::Result<(), String>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<DeployState>>,
    L: FnOnce() -> LFut,
    LFut: Future<Output = String>,
{
    let label = format!("{what} {id}");
    r.step(&format!("waiting for {label} to go live"));
    let waited = Wait::new(&label, EVERY, timeout)
        .run(cx.poll, r, || {
            let fut = check();
            async move {
                Ok(match fut.await? {
                    DeployState::Live => Poll::Ready(None),
                    DeployState::Failed(status) => Poll::Ready(Some(status)),
                    DeployState::Going(status) => Poll::Pending(status),
                })
            }
        })
        .await?;
    Ok(match waited {
        Waited::Ready(None) => Ok(()),
        Waited::Ready(Some(status)) => {
            let tail = logs().await;
            let tail = if tail.trim().is_empty() { String::new() } else { format!("\nits last log lines:\n{}", cx.secrets.redact(&tail)) };
            Err(format!(
                "{label} ended `{status}` (the health check on {} did not pass, or the image did not start){tail}",
                cx.loaded.manifest.app().health
            ))
        }
        Waited::TimedOut { last, waited } => Err(format!("{label} was still `{last}` after {}s (health_timeout)", waited.as_secs())),
    })
}
