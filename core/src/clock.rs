//! The wall clock, read in one place: Unix time in milliseconds and seconds
//! (0 if the system clock is before 1970).

use std::time::{SystemTime, UNIX_EPOCH};

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
