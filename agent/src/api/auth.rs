//! Who may order the agent: the node's owner, by a signed agent request
//! (`daas_core::access::agent_request`) over the exact body, for this
//! agent's TLS key and node, used once.
//!
//! Single use: a nonce is remembered until its request is too old to be
//! accepted anyway. The memory dies with the process, so a request issued
//! before the agent started is refused too: no request can be replayed
//! across a restart.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::http::{HeaderMap, header};
use daas_core::access::NodeName;
use daas_core::access::agent_request::{
    AgentAction, AgentRequest, AgentRequestError, NONCE_LEN, VerifiedAgentRequest,
};
use daas_core::clock::format_secs;
use sui_sdk_types::Address;

use super::error::ApiError;

/// Requests remembered at most (a full ledger refuses new orders rather
/// than forget nonces that are still acceptable).
const MAX_REMEMBERED: usize = 4096;

/// Whom the agent obeys, and how strictly.
#[derive(Debug)]
pub struct OrderGuard {
    owner: Address,
    node: NodeName,
    agent_key: [u8; 32],
    max_age: Duration,
    skew: Duration,
    started_at: u64,
    /// Nonces seen, with the unix second after which they may be forgotten.
    seen: Mutex<HashMap<[u8; NONCE_LEN], u64>>,
}

impl OrderGuard {
    /// A guard for `owner`'s `node`, served with the TLS key hashing to
    /// `agent_key`, accepting requests at most `max_age` old (and `skew`
    /// early), issued at or after `started_at` (unix seconds).
    pub fn new(
        owner: Address,
        node: NodeName,
        agent_key: [u8; 32],
        (max_age, skew): (Duration, Duration),
        started_at: u64,
    ) -> Self {
        Self {
            owner,
            node,
            agent_key,
            max_age,
            skew,
            started_at,
            seen: Mutex::default(),
        }
    }

    /// The node the agent runs.
    pub fn node(&self) -> &NodeName {
        &self.node
    }

    /// Checks the order in `headers` for `action` over `body` at `now`:
    /// 401 without one or when it does not verify, 403 when it is not the
    /// owner's or not for this node or action, 409 when replayed.
    ///
    /// # Errors
    /// The refusal, naming why.
    pub fn admit(
        &self,
        headers: &HeaderMap,
        action: AgentAction,
        body: &[u8],
        now: u64,
    ) -> Result<VerifiedAgentRequest, ApiError> {
        let wire = bearer(headers)?;
        let request = AgentRequest::parse(wire)
            .and_then(|request| request.verify(&self.agent_key, now, self.max_age, self.skew))
            .map_err(refused)?;
        let claims = request.claims();
        if claims.owner != self.owner {
            return Err(ApiError::forbidden(format!(
                "the order is signed by {}, not by this node's owner {}",
                claims.owner, self.owner
            )));
        }
        if claims.node_id != self.node {
            return Err(ApiError::forbidden(format!(
                "the order is for node {}, this agent runs {}",
                claims.node_id, self.node
            )));
        }
        if claims.action != action {
            return Err(ApiError::forbidden(format!(
                "the order is to {}, this route is for {action}",
                claims.action
            )));
        }
        if !request.covers_body(body) {
            return Err(ApiError::forbidden(
                "the order was signed over another body than the one sent",
            ));
        }
        if claims.issued_at < self.started_at {
            return Err(ApiError::conflict(format!(
                "the order was issued at {}, before this agent started at {}; sign a new one",
                format_secs(claims.issued_at),
                format_secs(self.started_at)
            )));
        }
        self.claim_nonce(claims.nonce, claims.issued_at, now)?;
        Ok(request)
    }

    fn claim_nonce(
        &self,
        nonce: [u8; NONCE_LEN],
        issued_at: u64,
        now: u64,
    ) -> Result<(), ApiError> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.retain(|_, forget_after| *forget_after >= now);
        if seen.contains_key(&nonce) {
            return Err(ApiError::conflict(
                "this order was already used (replayed nonce); sign a new one",
            ));
        }
        if seen.len() >= MAX_REMEMBERED {
            return Err(ApiError::too_many(
                "too many orders in the last minutes; retry later",
            ));
        }
        let forget_after = issued_at.saturating_add(self.max_age.as_secs());
        seen.insert(nonce, forget_after);
        Ok(())
    }
}

/// The `Authorization: Bearer daasa1.…` value.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized(
            "this route needs an order signed by the node's owner (Authorization: Bearer daasa1.…)",
        )
    })?;
    value
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| ApiError::unauthorized("the Authorization header is not `Bearer <order>`"))
}

fn refused(error: AgentRequestError) -> ApiError {
    ApiError::unauthorized(format!("order refused: {error}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::http::HeaderValue;
    use daas_core::access::agent_request::AgentRequestClaims;
    use daas_core::wallet::{Keypair, Scheme};

    use super::*;

    const NOW: u64 = 1_800_000_000;
    const KEY: [u8; 32] = [3; 32];

    fn headers(owner: &Keypair, issued_at: u64) -> HeaderMap {
        let claims = AgentRequestClaims::new(
            AgentAction::Unstake,
            owner.address(),
            "w-1".parse().unwrap(),
            KEY,
            b"{}",
            issued_at,
        );
        let wire = AgentRequest::sign(owner, &claims).unwrap();
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(&format!("Bearer {}", wire.as_str())).unwrap();
        headers.insert(header::AUTHORIZATION, value);
        headers
    }

    fn guard(owner: &Keypair, started_at: u64) -> OrderGuard {
        let window = (Duration::from_secs(60), Duration::from_secs(30));
        OrderGuard::new(
            owner.address(),
            "w-1".parse().unwrap(),
            KEY,
            window,
            started_at,
        )
    }

    #[test]
    fn an_order_signed_before_a_restart_is_refused_after_it() {
        let owner = Keypair::generate(Scheme::Ed25519);
        let order = headers(&owner, NOW - 10);
        // Accepted by the agent that was running when it was signed...
        assert!(
            guard(&owner, NOW - 100)
                .admit(&order, AgentAction::Unstake, b"{}", NOW)
                .is_ok()
        );
        // ...and refused by the same agent restarted since, whose memory of
        // nonces is gone.
        let error = guard(&owner, NOW - 5)
            .admit(&order, AgentAction::Unstake, b"{}", NOW)
            .unwrap_err();
        assert_eq!(error.status(), axum::http::StatusCode::CONFLICT);
    }

    #[test]
    fn nonces_are_forgotten_only_once_too_old_to_matter() {
        let owner = Keypair::generate(Scheme::Ed25519);
        let guard = guard(&owner, 0);
        let order = headers(&owner, NOW);
        assert!(
            guard
                .admit(&order, AgentAction::Unstake, b"{}", NOW)
                .is_ok()
        );
        let replay = guard.admit(&order, AgentAction::Unstake, b"{}", NOW + 60);
        assert_eq!(
            replay.unwrap_err().status(),
            axum::http::StatusCode::CONFLICT
        );
        // Past its age the order is stale, and its nonce is dropped when
        // the next order is remembered.
        let stale = guard.admit(&order, AgentAction::Unstake, b"{}", NOW + 61);
        assert_eq!(
            stale.unwrap_err().status(),
            axum::http::StatusCode::UNAUTHORIZED
        );
        let next = headers(&owner, NOW + 61);
        assert!(
            guard
                .admit(&next, AgentAction::Unstake, b"{}", NOW + 61)
                .is_ok()
        );
        assert_eq!(guard.seen.lock().unwrap().len(), 1);
    }
}
