//! Backoff between attempts: exponential with jitter, or what the server asked for.

use std::time::{Duration, SystemTime};

/// How long to wait before attempt `attempt + 1` (0-based `attempt` just failed).
///
/// With a Retry-After hint, wait what the server asked (capped at `cap`);
/// otherwise `base · 2^attempt`, capped, with full jitter over its upper half so
/// that many clients retrying at once spread out.
pub fn backoff(
    attempt: u32,
    base: Duration,
    cap: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    if let Some(hint) = retry_after {
        return hint.min(cap);
    }
    let exp = base.saturating_mul(1u32 << attempt.min(16)).min(cap);
    let jitter = 0.5 + fastrand::f64() * 0.5;
    exp.mul_f64(jitter)
}

/// The longest Retry-After honoured as given; a longer hint (or `1e300`) is
/// clamped to this, and the client's own backoff cap then applies.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Parses a Retry-After header: delta-seconds or an HTTP date, clamped to
/// [`MAX_RETRY_AFTER`]. Negative, NaN or unparseable values are no hint.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_nan() || secs < 0.0 {
            return None;
        }
        // `try_from` refuses what a Duration cannot hold (1e300, inf) instead of panicking.
        return Some(
            Duration::try_from_secs_f64(secs)
                .unwrap_or(MAX_RETRY_AFTER)
                .min(MAX_RETRY_AFTER),
        );
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_and_as_an_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn hostile_retry_after_values_are_clamped_or_ignored() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        for v in [
            "1e300",
            "inf",
            "18446744073709551615",
            "1e19",
            "99999999999",
        ] {
            assert_eq!(parse_retry_after(v, now), Some(MAX_RETRY_AFTER), "{v}");
        }
        for v in ["-1", "NaN", "-inf", "", "1e", "0x10"] {
            assert_eq!(parse_retry_after(v, now), None, "{v}");
        }
        let far = httpdate::fmt_http_date(now + Duration::from_secs(10 * 365 * 86_400));
        assert_eq!(parse_retry_after(&far, now), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn backoff_grows_caps_and_honours_the_hint() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(2);
        for attempt in 0..8 {
            let d = backoff(attempt, base, cap, None);
            let full = base.saturating_mul(1 << attempt).min(cap);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
        assert_eq!(
            backoff(0, base, cap, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(backoff(0, base, cap, Some(Duration::from_secs(60))), cap);
    }
}
