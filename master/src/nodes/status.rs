//! `GET /api/v1/staking/status?owner=0x…|node=<name>|seal_token=0x…`: the
//! seed's troubleshooting view. For each matching seal token, as the master
//! sees it now: owner, role, node id, stake, tier, status at the chain's
//! time, and the node admitted through it. Exactly one query parameter;
//! rate-limited by client address (every answer reads the chain).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use daas_core::access::worker::chain_time_ms;
use daas_core::api::nodes::{SealTokenStatus, StakeState, StakingStatus};
use daas_core::chain::ChainError;
use daas_core::chain::reads::SealTokenState;
use daas_core::package::staking::{SealToken, TokenStatus};
use daas_core::package::{Mist, MoveStruct as _, Role, SealTokenId};
use serde::Deserialize;
use sui_sdk_types::Address;
use tracing::{Instrument as _, info_span};

use super::NodeService;
use super::client_ip::ClientIp;
use crate::admission::record::read_record;
use crate::http::ApiError;
use daas_core::access::NodeName;

/// The query: exactly one field set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusQuery {
    /// Every seal token of this owner address.
    pub owner: Option<String>,
    /// The seal token a node is admitted through.
    pub node: Option<String>,
    /// One seal token.
    pub seal_token: Option<String>,
}

/// The handler.
pub async fn staking_status(
    State(service): State<Arc<NodeService>>,
    ClientIp(client): ClientIp,
    query: Result<Query<StatusQuery>, QueryRejection>,
) -> Result<Json<StakingStatus>, ApiError> {
    service.rate_limit(&client)?;
    let Query(query) = query.map_err(|rejection| {
        ApiError::bad_request(format!("bad query: {}", rejection.body_text()))
    })?;
    let span = info_span!("staking_status", ?query);
    async {
        let ids = match_tokens(&service, &query).await?;
        let chain_time_ms = chain_time_ms(&service.chain).await.map_err(chain_down)?;
        let mut seal_tokens = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(status) = describe(&service, id, chain_time_ms).await? {
                seal_tokens.push(status);
            } else if query.seal_token.is_some() {
                return Err(ApiError::not_found(format!(
                    "seal token {id} does not exist"
                )));
            }
        }
        Ok(Json(StakingStatus {
            chain_time_ms,
            seal_tokens,
        }))
    }
    .instrument(span)
    .await
}

fn chain_down(error: ChainError) -> ApiError {
    ApiError::unavailable("cannot read the chain", &error)
}

/// The seal tokens the query names.
async fn match_tokens(
    service: &NodeService,
    query: &StatusQuery,
) -> Result<Vec<SealTokenId>, ApiError> {
    match (&query.owner, &query.node, &query.seal_token) {
        (Some(owner), None, None) => {
            let owner: Address = owner.parse().map_err(|error| {
                ApiError::bad_request(format!("owner {owner:?} is not a Sui address: {error}"))
            })?;
            let tag = SealToken::struct_tag(service.chain.package_id());
            let ids = service
                .chain
                .owned_objects_of_type(owner, &tag)
                .await
                .map_err(chain_down)?;
            Ok(ids.into_iter().map(SealTokenId::new).collect())
        }
        (None, Some(node), None) => {
            let name: NodeName = node
                .parse()
                .map_err(|error| ApiError::bad_request(format!("node: {error}")))?;
            Ok(vec![seal_token_of_node(service, &name).await?])
        }
        (None, None, Some(id)) => {
            let id: SealTokenId = id.parse().map_err(|error| {
                ApiError::bad_request(format!("seal_token {id:?} is not an object id: {error}"))
            })?;
            Ok(vec![id])
        }
        _ => Err(ApiError::bad_request(
            "give exactly one of the query parameters owner, node and seal_token",
        )),
    }
}

/// The seal token `name` is admitted through: the registry's, else its
/// admission record's; 404 when neither knows it.
async fn seal_token_of_node(
    service: &NodeService,
    name: &NodeName,
) -> Result<SealTokenId, ApiError> {
    if let Some(id) = service.registry.seal_token_of(name.as_str()) {
        return Ok(id);
    }
    recorded_seal_token(service, name).await?.ok_or_else(|| {
        ApiError::not_found(format!("node {name} is not admitted through a seal token"))
    })
}

/// The seal token of `name`'s admission record, if it has a valid one.
async fn recorded_seal_token(
    service: &NodeService,
    name: &NodeName,
) -> Result<Option<SealTokenId>, ApiError> {
    let stored = read_record(&service.kube, name).await.map_err(|error| {
        ApiError::unavailable(
            "cannot read the node's admission from the API server",
            &error,
        )
    })?;
    Ok(stored
        .and_then(|stored| stored.record.ok())
        .map(|record| record.seal_token))
}

/// One seal token's status; `None` when it does not exist.
async fn describe(
    service: &NodeService,
    id: SealTokenId,
    now_ms: u64,
) -> Result<Option<SealTokenStatus>, ApiError> {
    let state = match service.chain.seal_token_state(id).await {
        Ok(state) => state,
        Err(ChainError::ObjectNotFound { .. } | ChainError::WrongObjectType { .. }) => {
            return Ok(None);
        }
        Err(error) => return Err(chain_down(error)),
    };
    let admitted_node = admitted_node(service, &state).await?;
    Ok(Some(status_of(&state, now_ms, admitted_node)))
}

/// The node admitted through a worker token: the registry's, else the
/// node named by its node id if its admission record names the token.
async fn admitted_node(
    service: &NodeService,
    state: &SealTokenState,
) -> Result<Option<String>, ApiError> {
    let token = &state.token.value;
    if let Some(node) = service.registry.node_of(token.id) {
        return Ok(Some(node));
    }
    if token.role != Role::Worker {
        return Ok(None);
    }
    let Ok(name) = String::from_utf8_lossy(&token.node_id).parse::<NodeName>() else {
        return Ok(None);
    };
    let recorded = recorded_seal_token(service, &name).await?;
    Ok((recorded == Some(token.id)).then(|| name.to_string()))
}

fn status_of(
    state: &SealTokenState,
    now_ms: u64,
    admitted_node: Option<String>,
) -> SealTokenStatus {
    let token = &state.token.value;
    let record = state.record.as_ref();
    let params = &state.pool.params;
    let status = match record.map(|r| (r.status(now_ms, params), r.expires_at_ms)) {
        None => StakeState::Withdrawn,
        Some((TokenStatus::Active, expires_at_ms)) => StakeState::Active { expires_at_ms },
        Some((TokenStatus::Unbonding { until_ms }, _)) => StakeState::Unbonding { until_ms },
        Some((TokenStatus::Expired { at_ms }, _)) => StakeState::Expired { at_ms },
        Some((TokenStatus::UnderStaked { required, .. }, _)) => StakeState::Understaked {
            required_mist: required.get(),
        },
    };
    let stake = record.map_or(Mist::ZERO, |r| r.stake);
    SealTokenStatus {
        seal_token: token.id.to_string(),
        owner: token.owner.to_string(),
        role: token.role.as_str().to_owned(),
        node_id: String::from_utf8_lossy(&token.node_id).into_owned(),
        stake_mist: stake.get(),
        stake_sui: stake.to_string(),
        tier: state.tier().map(|tier| tier.as_str().to_owned()),
        status,
        created_at_ms: token.created_at_ms,
        admitted_node,
    }
}
