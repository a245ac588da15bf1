//! The open-file budget. Every connection costs a file descriptor, and a
//! process out of them cannot accept on any listener, nor reach the chain
//! or the API server. So at start the master raises its soft
//! `RLIMIT_NOFILE` to the hard limit, keeps [`RESERVED_FDS`] for everything
//! but inbound connections, and fits the listeners' connection caps into
//! the rest ([`fit`]), shrinking the public listener's first: the webhook
//! listener the API server calls must keep its budget.

use std::num::NonZeroU32;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept for outbound connections (chain, API server), files,
/// and the runtime's own.
pub const RESERVED_FDS: u64 = 256;
/// The smallest public budget worth starting with.
pub const MIN_PUBLIC_CONNECTIONS: u32 = 16;

/// Raises the soft open-file limit to the hard one and returns the limit in
/// force (`u64::MAX` for unlimited). A refusal is logged and the old limit
/// kept.
pub fn raise_open_file_limit() -> u64 {
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                tracing::debug!(from = ?limit.current, to = ?limit.maximum, "open-file limit raised");
                return limit.maximum.unwrap_or(u64::MAX);
            }
            Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
        }
    }
    limit.current.unwrap_or(u64::MAX)
}

/// Connection caps that fit the open-file limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The public listener's cap.
    pub public: NonZeroU32,
    /// The webhook listener's cap (`None`: the process has none).
    pub webhook: Option<NonZeroU32>,
}

/// Why the caps cannot fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the open-file limit ({open_files}) leaves no room for connections: at least {needed} \
     descriptors are needed ({RESERVED_FDS} reserved); raise `ulimit -n`"
)]
pub struct TooFewFiles {
    /// The limit in force.
    pub open_files: u64,
    /// The least that works.
    pub needed: u64,
}

/// Fits the wanted caps under `open_files` descriptors, keeping
/// [`RESERVED_FDS`] and `per_connection` descriptors per connection (2 for
/// a forwarder). When they do not fit, the webhook listener keeps at most a
/// quarter of what is left and the public listener gets the rest.
///
/// # Errors
/// [`TooFewFiles`] when the public listener would get fewer than
/// [`MIN_PUBLIC_CONNECTIONS`].
pub fn fit(open_files: u64, per_connection: u64, wanted: Budget) -> Result<Budget, TooFewFiles> {
    let per_connection = per_connection.max(1);
    let room = open_files.saturating_sub(RESERVED_FDS) / per_connection;
    let wanted_public = u64::from(wanted.public.get());
    let wanted_webhook = wanted.webhook.map_or(0, |cap| u64::from(cap.get()));
    if wanted_public + wanted_webhook <= room {
        return Ok(wanted);
    }
    let too_few = || TooFewFiles {
        open_files,
        needed: RESERVED_FDS
            + per_connection
                * (u64::from(MIN_PUBLIC_CONNECTIONS) + u64::from(wanted.webhook.is_some())),
    };
    let webhook = wanted_webhook.min(room / 4);
    let public = room - webhook;
    if public < u64::from(MIN_PUBLIC_CONNECTIONS) {
        return Err(too_few());
    }
    let cap = |count: u64| NonZeroU32::new(u32::try_from(count).unwrap_or(u32::MAX));
    let budget = Budget {
        public: cap(public).ok_or_else(too_few)?,
        webhook: wanted
            .webhook
            .map(|_| cap(webhook).ok_or_else(too_few))
            .transpose()?,
    };
    tracing::warn!(
        open_files,
        wanted_public = wanted.public,
        wanted_webhook = ?wanted.webhook,
        public = budget.public,
        webhook = ?budget.webhook,
        "connection caps lowered to fit the open-file limit"
    );
    Ok(budget)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WANTED: Budget = Budget {
        public: NonZeroU32::new(8192).unwrap(),
        webhook: NonZeroU32::new(512),
    };

    #[test]
    fn caps_that_fit_are_kept() {
        assert_eq!(fit(1 << 20, 1, WANTED), Ok(WANTED));
        assert_eq!(fit(8192 + 512 + RESERVED_FDS, 1, WANTED), Ok(WANTED));
    }

    #[test]
    fn the_public_listener_shrinks_first_and_the_webhooks_keep_a_share() {
        let budget = fit(4096, 1, WANTED).unwrap();
        assert_eq!(budget.webhook, NonZeroU32::new(512));
        assert_eq!(budget.public.get(), 4096 - 256 - 512);
        let small = fit(1024, 1, WANTED).unwrap();
        let webhook = small.webhook.unwrap().get();
        assert_eq!(webhook, (1024 - 256) / 4);
        assert_eq!(small.public.get(), 1024 - 256 - webhook);
        // A forwarder spends two descriptors per connection.
        let proxy = fit(
            4096,
            2,
            Budget {
                public: NonZeroU32::new(8192).unwrap(),
                webhook: None,
            },
        )
        .unwrap();
        assert_eq!(proxy.public.get(), (4096 - 256) / 2);
    }

    #[test]
    fn too_few_files_is_an_error_naming_the_limit() {
        let error = fit(270, 1, WANTED).unwrap_err();
        assert_eq!(error.open_files, 270);
        assert!(error.to_string().contains("ulimit -n"), "{error}");
    }

    #[test]
    fn raising_the_limit_reaches_the_hard_limit() {
        let in_force = raise_open_file_limit();
        let limit = getrlimit(Resource::Nofile);
        assert_eq!(limit.current, limit.maximum);
        assert_eq!(in_force, limit.current.unwrap_or(u64::MAX));
    }
}
