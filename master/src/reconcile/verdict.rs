//! Whether a worker's node (or bootstrap token) may stay: the worker rule
//! of `daas_core::access::worker` applied to what the master recorded,
//! plus the reasons only the reconciler has (no record at all).

use daas_core::access::worker::{WorkerClaim, WorkerDenyReason, judge_worker};
use daas_core::chain::reads::SealTokenState;

/// What the chain definitely said about one seal token.
#[derive(Debug, Clone)]
pub(crate) enum TokenRead {
    /// The token, its stake record and the pool, as read.
    Found(Box<SealTokenState>),
    /// The token is missing or is not a seal token.
    Refused(WorkerDenyReason),
}

/// Why a worker's node loses its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The Node has no admission record: nothing the master admitted
    /// holds it (default deny).
    NoRecord,
    /// The Node's admission record does not parse.
    BadRecord(String),
    /// The recorded seal token no longer holds the node (the worker rule:
    /// missing, unstaked, expired, under-staked, slashed, of another pool
    /// or owner, a user's, for another node).
    Refused(WorkerDenyReason),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoRecord => f.write_str("no admission record"),
            Self::BadRecord(reason) => write!(f, "malformed admission record: {reason}"),
            Self::Refused(reason) => write!(f, "{reason}"),
        }
    }
}

/// The decision about one claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The worker may stay.
    Keep,
    /// The worker must go.
    Revoke(Reason),
}

/// Judges `claim` against the chain's `read` of its seal token at chain
/// time `now_ms`.
pub(crate) fn judge(read: &TokenRead, claim: &WorkerClaim, now_ms: u64) -> Verdict {
    let outcome = match read {
        TokenRead::Found(state) => judge_worker(
            claim,
            &state.token.value,
            state.object_owner(),
            state.record.as_ref(),
            &state.pool,
            now_ms,
        )
        .map(drop),
        TokenRead::Refused(reason) => Err(reason.clone()),
    };
    match outcome {
        Ok(()) => Verdict::Keep,
        Err(reason) => Verdict::Revoke(Reason::Refused(reason)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use daas_core::package::SealTokenId;
    use sui_sdk_types::Address;

    use super::*;

    #[test]
    fn refusals_of_the_read_revoke_and_reasons_read_well() {
        let token = SealTokenId::new(Address::new([2; 32]));
        let claim = WorkerClaim {
            seal_token: token,
            owner: Address::new([3; 32]),
            node: "worker-1".parse().unwrap(),
        };
        let missing = TokenRead::Refused(WorkerDenyReason::UnknownSealToken(token));
        let verdict = judge(&missing, &claim, 0);
        assert_eq!(
            verdict,
            Verdict::Revoke(Reason::Refused(WorkerDenyReason::UnknownSealToken(token)))
        );
        assert_eq!(Reason::NoRecord.to_string(), "no admission record");
        assert!(
            Reason::BadRecord("no `owner` field".to_owned())
                .to_string()
                .contains("malformed admission record")
        );
    }
}
