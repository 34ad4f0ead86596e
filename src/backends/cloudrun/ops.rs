//! Google's long-running operations, awaited with the engine's one wait primitive.

use std::time::Duration;

use anyhow::Result;
use google_cloud_gax::error::Error as GaxError;
use google_cloud_lro::{Poller, PollingResult};

use crate::engine::wait::{Poll, PollPolicy, Wait, Waited};
use crate::engine::Reporter;
use crate::error::Hinted;

/// How long a service's create or update may take: the revision's startup probe has
/// `health_timeout` seconds, and Cloud Run needs some minutes around it.
pub fn service_timeout(health_timeout: u32) -> Duration {
    Duration::from_secs(u64::from(health_timeout) + 600)
}

/// Deleting a service or creating a repository.
pub const SHORT_TIMEOUT: Duration = Duration::from_secs(600);

/// Consecutive failed reads of an operation's progress that end the wait.
const POLL_ERRORS: u32 = 6;

/// Awaits `poller`'s operation: `Ok` with the operation's own result (which may be the
/// API's error, for the caller to tell a failed revision from a failed call), or an
/// error when it did not end within `timeout`. A read of the operation's progress that
/// failed in a way worth retrying (the client's polling policy: UNAVAILABLE, 503, a
/// dropped connection) is not the operation's end: the wait goes on, unless
/// [`POLL_ERRORS`] reads in a row fail, when that error is the result.
pub async fn await_op<R, M>(
    poller: impl Poller<R, M>,
    what: &str,
    timeout: Duration,
    policy: PollPolicy,
    r: &dyn Reporter,
) -> Result<std::result::Result<R, GaxError>>
where
    R: Send,
    M: Send,
{
    let poller = tokio::sync::Mutex::new((poller, 0u32));
    let p = &poller;
    let waited = Wait::new(what, Duration::from_secs(2), timeout)
        .run(policy, r, move || async move {
            let mut guard = p.lock().await;
            let (poller, errors) = &mut *guard;
            let polled = poller.poll().await;
            *errors = if matches!(polled, Some(PollingResult::PollingError(_))) { *errors + 1 } else { 0 };
            Ok(match polled {
                None => Poll::Ready(Err(GaxError::io("the operation ended without a result"))),
                Some(PollingResult::Completed(res)) => Poll::Ready(res),
                Some(PollingResult::PollingError(e)) if *errors >= POLL_ERRORS => Poll::Ready(Err(e)),
                Some(PollingResult::PollingError(e)) => Poll::Pending(format!("could not read its progress ({e}); asking again")),
                Some(PollingResult::InProgress(_)) => Poll::Pending("in progress".into()),
            })
        })
        .await?;
    match waited {
        Waited::Ready(res) => Ok(res),
        Waited::TimedOut { waited, .. } => Err(Hinted::new(
            format!("{what}: the operation had not ended after {} s", waited.as_secs()),
            "it may still finish: run `aideploy status` to see where it is, and deploy again once it has",
        )
        .into()),
    }
}
