//! An error and its causes on one line, as the binaries print them.
//!
//! Many errors here show their source in their own message (so a screen
//! that shows only `{error}` says everything) and also return it from
//! `source()`. Printing the whole chain (`{error:#}`) would then say each
//! such cause twice; [`one_line`] says it once.

use std::error::Error;

/// `error: cause: cause …`, leaving out each cause that the line already
/// ends with.
pub fn one_line(error: &dyn Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Inner {
        #[error("transaction aborted: EUnbondingNotOver")]
        Aborted,
    }

    #[derive(Debug, thiserror::Error)]
    enum Shown {
        /// Shows its source and returns it.
        #[error("chain: {0}")]
        Chain(#[from] Inner),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("reading /etc/x")]
    struct Hidden(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("withdraw")]
    struct Action(#[source] Shown);

    #[test]
    fn a_cause_the_message_shows_is_said_once() {
        let error = Action(Shown::from(Inner::Aborted));
        assert_eq!(
            one_line(&error),
            "withdraw: chain: transaction aborted: EUnbondingNotOver"
        );
    }

    #[test]
    fn a_cause_the_message_leaves_out_is_added() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        assert_eq!(one_line(&Hidden(io)), "reading /etc/x: no such file");
    }
}
