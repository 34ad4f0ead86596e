//! What `logs` on the two PaaS targets shares: how their timestamps print. Each target
//! reads its platform's log API itself; the look-back window is [`LogQuery`]'s.
//!
//! [`LogQuery`]: crate::engine::LogQuery

/// A platform's RFC 3339 time as log lines print it: UTC, to the second, as the other
/// targets' do. Anything else is kept as the platform wrote it.
pub fn to_the_second(ts: &str) -> String {
    crate::util::utc_time(ts).unwrap_or_else(|| ts.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_to_the_second() {
        assert_eq!(to_the_second("2026-12-05T07:00:00.123456789Z"), "2026-12-05T07:00:00Z");
        assert_eq!(to_the_second("2026-12-05T07:00:00Z"), "2026-12-05T07:00:00Z");
        assert_eq!(to_the_second("2026-12-05T08:00:00+01:00"), "2026-12-05T07:00:00Z");
        assert_eq!(to_the_second("not a time"), "not a time");
    }
}
