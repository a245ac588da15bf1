//! `GET /kubectl/config?seal_token=0x…`: the kubeconfig whose user runs
//! `daas-console credential` (seed endpoint).
//!
//! Unauthenticated, it is a template for the seal token named in the query.
//! Authenticated (`Authorization: Bearer …`), the seal token defaults to
//! the caller's and a developer's context defaults to their own namespace.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use daas_core::access::kubeconfig::{self, ExecPlugin, KubeconfigEntry, ServerTrust};
use daas_core::access::review::user_namespace;
use daas_core::package::{SealTokenId, Tier};
use serde::Deserialize;
use tracing::instrument;

use super::{AccessService, Authenticated};
use crate::http::ApiError;

/// The name of the served cluster and context (the user is `<name>-user`).
pub const CONTEXT_NAME: &str = "k3s-daas";
/// The credential plugin's program.
pub const PLUGIN_COMMAND: &str = "daas-console";

/// The query string.
#[derive(Debug, Deserialize)]
pub struct ConfigQuery {
    /// The seal token the plugin signs for.
    pub seal_token: Option<String>,
}

/// Serves the kubeconfig as `application/yaml`.
#[instrument(skip_all)]
pub(super) async fn serve(
    State(service): State<Arc<AccessService>>,
    query: Result<Query<ConfigQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let user = match headers.contains_key(header::AUTHORIZATION) {
        true => Some(authenticated(&service, &headers).await?),
        false => None,
    };
    let seal_token = seal_token(query.seal_token.as_deref(), user.as_ref())?;
    let entry = entry(&service, seal_token, user.as_ref());
    let yaml = kubeconfig::to_yaml(&entry.to_config())
        .map_err(|e| ApiError::internal("cannot write the kubeconfig", &e))?;
    Ok(([(header::CONTENT_TYPE, "application/yaml")], yaml).into_response())
}

async fn authenticated(
    service: &AccessService,
    headers: &HeaderMap,
) -> Result<Authenticated, ApiError> {
    let bearer = super::authenticator::bearer_token(headers)?;
    let user = service.authenticate(bearer).await?;
    service
        .limiter
        .check(&user.claimant.owner.to_string())
        .map_err(ApiError::too_many_requests)?;
    Ok(user)
}

fn seal_token(query: Option<&str>, user: Option<&Authenticated>) -> Result<SealTokenId, ApiError> {
    let named = query
        .map(|text| {
            text.parse::<SealTokenId>().map_err(|e| {
                ApiError::bad_request(format!("seal_token `{text}` is not an object id: {e}"))
            })
        })
        .transpose()?;
    match (named, user) {
        (Some(named), Some(user)) if named != user.claimant.seal_token => {
            Err(ApiError::bad_request(format!(
                "seal_token {named} is not the seal token {} the caller authenticated with",
                user.claimant.seal_token
            )))
        }
        (Some(named), _) => Ok(named),
        (None, Some(user)) => Ok(user.claimant.seal_token),
        (None, None) => Err(ApiError::bad_request(
            "name the seal token (`?seal_token=0x…`) or authenticate",
        )),
    }
}

fn entry(
    service: &AccessService,
    seal_token: SealTokenId,
    user: Option<&Authenticated>,
) -> KubeconfigEntry {
    let settings = &service.settings;
    let trust = match settings.cluster_ca_pem.trim() {
        "" => ServerTrust::System,
        pem => ServerTrust::CaPem(pem.as_bytes().to_vec()),
    };
    let namespace = user
        .filter(|u| u.grant.tier == Tier::Developer)
        .map(|u| user_namespace(u.claimant.owner));
    KubeconfigEntry {
        cluster: CONTEXT_NAME.to_owned(),
        server: settings.api_server_url.clone(),
        trust,
        user: format!("{CONTEXT_NAME}-user"),
        context: CONTEXT_NAME.to_owned(),
        namespace,
        exec: ExecPlugin {
            command: PLUGIN_COMMAND.to_owned(),
            args: kubeconfig::credential_args(seal_token, &settings.audience, None, None),
            env: Vec::new(),
        },
    }
}
