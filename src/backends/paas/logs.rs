//! What `logs` on the two PaaS targets shares: the look-back window and how their
//! timestamps print. Each target reads its platform's log API itself.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::engine::LogQuery;

/// How far back `logs` looks without `--since`.
pub const LOOK_BACK: Duration = Duration::from_secs(3600);

/// Seconds since the epoch, now.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Where the look-back window of `query` starts, as RFC 3339 UTC.
pub fn window_start(query: &LogQuery) -> String {
    crate::util::iso8601(now_secs().saturating_sub(query.since.unwrap_or(LOOK_BACK).as_secs()))
}

/// An RFC 3339 UTC time without its fraction of a second: log lines print to the second,
/// as the other targets' do. Anything else is kept as the platform wrote it.
pub fn to_the_second(ts: &str) -> String {
    match ts.get(..19) {
        Some(head) if ts.ends_with('Z') && head.as_bytes().get(10) == Some(&b'T') => format!("{head}Z"),
        _ => ts.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_to_the_second() {
        assert_eq!(to_the_second("2026-12-05T07:00:00.123456789Z"), "2026-12-05T07:00:00Z");
        assert_eq!(to_the_second("2026-12-05T07:00:00Z"), "2026-12-05T07:00:00Z");
        assert_eq!(to_the_second("not a time"), "not a time");
    }
}
