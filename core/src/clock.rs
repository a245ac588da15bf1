//! The wall clock, read in one place: Unix time in milliseconds and seconds
//! (0 if the system clock is before 1970).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch now.
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Seconds since the Unix epoch now.
pub fn unix_now_secs() -> u64 {
    unix_now_ms() / 1000
}

/// `ms` since the Unix epoch as an RFC 3339 time in UTC, to the second
/// (`2026-12-12T16:21:47Z`), for messages people read; the raw number with
/// its unit if it is beyond the calendar.
pub fn format_ms(ms: u64) -> String {
    i64::try_from(ms / 1000)
        .ok()
        .and_then(|secs| jiff::Timestamp::from_second(secs).ok())
        .map_or_else(|| format!("{ms} ms"), |t| t.to_string())
}

/// `secs` since the Unix epoch as [`format_ms`] shows it.
pub fn format_secs(secs: u64) -> String {
    format_ms(secs.saturating_mul(1000))
}

/// A span of `secs` seconds as people read it: `42s`, `5m 2s`, `3h 4m`,
/// `6d 23h`.
pub fn format_span(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// The longest time a configuration file may set, in seconds (a year): far
/// beyond every sensible setting, and far from overflowing the clock
/// arithmetic it feeds.
pub const MAX_CONFIGURED_SECS: u64 = 366 * 24 * 3600;

/// `secs` from a configuration file as a duration: at least a second, at
/// most [`MAX_CONFIGURED_SECS`].
///
/// # Errors
/// Why it is refused, for the caller to name the key with.
pub fn configured_secs(secs: u64) -> Result<Duration, String> {
    match secs {
        0 => Err("must be at least 1 second".to_owned()),
        secs if secs > MAX_CONFIGURED_SECS => Err(format!(
            "must be at most {MAX_CONFIGURED_SECS} seconds (a year), not {secs}"
        )),
        secs => Ok(Duration::from_secs(secs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_rfc_3339_in_utc() {
        assert_eq!(format_ms(1_797_092_507_079), "2026-12-12T16:21:47Z");
        assert_eq!(format_secs(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_ms(u64::MAX), format!("{} ms", u64::MAX));
    }

    #[test]
    fn spans_read_in_their_two_largest_units() {
        assert_eq!(format_span(0), "0s");
        assert_eq!(format_span(59), "59s");
        assert_eq!(format_span(302), "5m 2s");
        assert_eq!(format_span(3600 * 3 + 60 * 4 + 5), "3h 4m");
        assert_eq!(format_span(604_647), "6d 23h");
    }

    #[test]
    fn configured_times_are_a_second_to_a_year() {
        assert_eq!(configured_secs(1), Ok(Duration::from_secs(1)));
        let year = Duration::from_secs(MAX_CONFIGURED_SECS);
        assert_eq!(configured_secs(MAX_CONFIGURED_SECS), Ok(year));
        assert!(
            configured_secs(0)
                .unwrap_err()
                .contains("at least 1 second")
        );
        let error = configured_secs(u64::MAX).unwrap_err();
        assert!(error.contains("at most 31622400 seconds"), "{error}");
    }
}
