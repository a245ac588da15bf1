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
