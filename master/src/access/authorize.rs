//! `POST /authorize`: the API server's SubjectAccessReview webhook
//! (`authorization.k8s.io/v1`), placed before RBAC.
//!
//! The API server caches successful token authentications (for 10 s in
//! Kubernetes 1.37), so a revoked user would keep access that long. This
//! webhook closes the gap: for a user `sui:<address>` carrying the extra
//! `k3s-daas.io/seal-token-id`, it checks the seal token's current decision
//! (cached, dropped on chain events) and denies if access ended or the tier
//! fell below the one the request claims. Otherwise it has no opinion
//! (`allowed: false, denied: false`) and RBAC decides. Users that are not
//! `sui:` are never its business. When the chain cannot be read it denies
//! (fail closed).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use daas_core::access::Claimant;
use daas_core::access::review::{EXTRA_SEAL_TOKEN, EXTRA_TIER, USERNAME_PREFIX};
use daas_core::package::{SealTokenId, Tier};
use serde::{Deserialize, Serialize};
use sui_sdk_types::Address;
use tracing::instrument;

use super::AccessService;
use super::cache::CachedDecision;
use super::metrics::AccessMetrics;
use crate::http::{ApiError, ApiJson};

/// `SubjectAccessReview`.
pub const KIND: &str = "SubjectAccessReview";
/// The API group a SubjectAccessReview must belong to.
const GROUP: &str = "authorization.k8s.io/";

/// A `SubjectAccessReview`: the request the API server sends, and the
/// answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReview {
    /// `authorization.k8s.io/v1`.
    pub api_version: String,
    /// `SubjectAccessReview`.
    pub kind: String,
    /// Who asks for what; absent in answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<SubjectAccessReviewSpec>,
    /// The answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SubjectAccessReviewStatus>,
}

/// The part of `SubjectAccessReviewSpec` the webhook reads; the resource
/// attributes are kept as they came.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReviewSpec {
    /// The user name.
    #[serde(default)]
    pub user: String,
    /// The user's groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// The user's extra attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
    /// `resourceAttributes`, `nonResourceAttributes`, `uid`, …
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

/// `SubjectAccessReviewStatus`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReviewStatus {
    /// Always `false`: this webhook only denies or has no opinion.
    pub allowed: bool,
    /// Whether the request is denied outright.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub denied: bool,
    /// Why.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// An error met while deciding.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub evaluation_error: String,
}

impl SubjectAccessReview {
    /// A request about `user` with `extra` (for tests and clients).
    pub fn request(user: impl Into<String>, extra: BTreeMap<String, Vec<String>>) -> Self {
        Self {
            api_version: format!("{GROUP}v1"),
            kind: KIND.to_owned(),
            spec: Some(SubjectAccessReviewSpec {
                user: user.into(),
                extra,
                ..SubjectAccessReviewSpec::default()
            }),
            status: None,
        }
    }

    fn answer(&self, status: SubjectAccessReviewStatus) -> Self {
        Self {
            api_version: self.api_version.clone(),
            kind: KIND.to_owned(),
            spec: None,
            status: Some(status),
        }
    }
}

/// The webhook's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    NoOpinion,
    Deny(String),
    Error(String),
}

/// Answers a SubjectAccessReview.
#[instrument(skip_all, fields(user, result))]
pub(super) async fn authorize(
    State(service): State<Arc<AccessService>>,
    ApiJson(review): ApiJson<SubjectAccessReview>,
) -> Result<Json<SubjectAccessReview>, ApiError> {
    if !review.api_version.starts_with(GROUP) || review.kind != KIND {
        return Err(ApiError::bad_request(format!(
            "expected a {KIND} of {GROUP}v1, got {} {}",
            review.api_version, review.kind
        )));
    }
    let Some(spec) = &review.spec else {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "the SubjectAccessReview has no spec",
        ));
    };
    tracing::Span::current().record("user", spec.user.as_str());
    let verdict = verdict(&service, spec).await;
    let (result, status) = match verdict {
        Verdict::NoOpinion => ("no_opinion", SubjectAccessReviewStatus::default()),
        Verdict::Deny(reason) => ("denied", denial(reason, String::new())),
        Verdict::Error(error) => (
            "error",
            denial("cannot check the chain; denied".to_owned(), error),
        ),
    };
    tracing::Span::current().record("result", result);
    AccessMetrics::count(&service.metrics.authorizations, result);
    Ok(Json(review.answer(status)))
}

fn denial(reason: String, evaluation_error: String) -> SubjectAccessReviewStatus {
    SubjectAccessReviewStatus {
        allowed: false,
        denied: true,
        reason,
        evaluation_error,
    }
}

async fn verdict(service: &AccessService, spec: &SubjectAccessReviewSpec) -> Verdict {
    let Some(address) = spec.user.strip_prefix(USERNAME_PREFIX) else {
        return Verdict::NoOpinion;
    };
    let claimant = match claimant(address, &spec.extra) {
        Ok(claimant) => claimant,
        Err(reason) => return Verdict::Deny(reason),
    };
    match service.decision(&claimant).await {
        Ok(CachedDecision::Allowed(grant)) => match claimed_tier(&spec.extra) {
            Some(claimed) if claimed > grant.tier => Verdict::Deny(format!(
                "the seal token's tier is now {}, below the authenticated {claimed}",
                grant.tier
            )),
            _ => Verdict::NoOpinion,
        },
        Ok(CachedDecision::Denied(reason)) => Verdict::Deny(format!("access ended: {reason}")),
        Err(error) if error.is_unavailable() => Verdict::Error(error.to_string()),
        Err(error) => Verdict::Deny(error.to_string()),
    }
}

/// The claimant of a `sui:` user: its address and its one seal token.
fn claimant(address: &str, extra: &BTreeMap<String, Vec<String>>) -> Result<Claimant, String> {
    let owner: Address = address
        .parse()
        .map_err(|_| format!("user {USERNAME_PREFIX}{address} does not name a Sui address"))?;
    let seal_token: SealTokenId = match extra.get(EXTRA_SEAL_TOKEN).map(Vec::as_slice) {
        Some([id]) => id
            .parse()
            .map_err(|_| format!("extra {EXTRA_SEAL_TOKEN} `{id}` is not an object id"))?,
        _ => {
            return Err(format!(
                "a {USERNAME_PREFIX} user must carry exactly one extra {EXTRA_SEAL_TOKEN}"
            ));
        }
    };
    Ok(Claimant { seal_token, owner })
}

/// The tier the request's extra claims, if it names a known one.
fn claimed_tier(extra: &BTreeMap<String, Vec<String>>) -> Option<Tier> {
    match extra.get(EXTRA_TIER).map(Vec::as_slice) {
        Some([tier]) => Tier::ALL.into_iter().find(|t| t.as_str() == tier),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sui_users_need_a_parsable_address_and_one_seal_token() {
        let id = format!("0x{}", "ab".repeat(32));
        let extra = BTreeMap::from([(EXTRA_SEAL_TOKEN.to_owned(), vec![id.clone()])]);
        let address = format!("0x{}", "cd".repeat(32));
        let parsed = claimant(&address, &extra).unwrap();
        assert_eq!(parsed.seal_token.to_string(), id);
        assert!(claimant("nope", &extra).is_err());
        assert!(claimant(&address, &BTreeMap::new()).is_err());
        let two = BTreeMap::from([(EXTRA_SEAL_TOKEN.to_owned(), vec![id.clone(), id])]);
        assert!(claimant(&address, &two).is_err());
    }

    #[test]
    fn answers_omit_the_spec_and_say_no_opinion_by_default() {
        let request = SubjectAccessReview::request("sui:0x1", BTreeMap::new());
        let answer = request.answer(SubjectAccessReviewStatus::default());
        let json = serde_json::to_value(&answer).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "status": { "allowed": false }
            })
        );
    }
}
