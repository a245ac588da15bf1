//! Writing results: lines and JSON to stdout, returning the `io::Result`
//! instead of panicking like `println!` when the reader has gone
//! (`daas-console … | head`).

use serde::Serialize;

/// Writes a line to stdout.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}
pub(crate) use out;

/// Writes `value` as pretty JSON.
///
/// # Errors
/// stdout is gone or the value does not serialize.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    out!("{}", serde_json::to_string_pretty(value)?)?;
    Ok(())
}

/// The banner shown with anything from INSECURE development attestation.
pub const INSECURE_BANNER: &str = "!!! INSECURE DEVELOPMENT ATTESTATION: signed by a local dev root, \
     NO hardware guarantee; never trust this master with real stake !!!";
