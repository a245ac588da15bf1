//! `POST /authorize`: the API server's SubjectAccessReview webhook
//! (`authorization.k8s.io/v1`), placed before RBAC and consulted for every
//! `sui:` user (users that are not `sui:` are never its business).
//!
//! For a user `sui:<address>` it denies, in this order:
//!
//! 1. a user the master cannot have made: no single extra
//!    `k3s-daas.io/seal-token-id`, no single known `k3s-daas.io/tier`, or
//!    groups other than that tier's and `k3s-daas:users`;
//! 2. what the tier table refuses that tier ([`crate::tiers::refusal`]);
//! 3. a user whose seal token's current decision (cached, dropped on chain
//!    events) ended access or fell below the tier the request claims: the
//!    API server caches successful token authentications (for 10 s in
//!    Kubernetes 1.37), and this closes that gap;
//! 4. a user authenticated by an opaque seal token that was revoked or
//!    expired since (its id is in the extra `k3s-daas.io/opaque-token-id`).
//!
//! Otherwise it has no opinion (`allowed: false, denied: false`) and RBAC
//! decides. When the chain or the token store cannot be read it denies
//! (fail closed).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use daas_core::access::review::{
    EXTRA_OPAQUE_TOKEN, EXTRA_SEAL_TOKEN, EXTRA_TIER, USERNAME_PREFIX, USERS_GROUP, tier_group,
    user_namespace,
};
use daas_core::access::{Claimant, OpaqueTokenHash};
use daas_core::package::{SealTokenId, Tier};
use serde::{Deserialize, Serialize};
use sui_sdk_types::Address;
use tracing::instrument;

use super::AccessService;
use super::cache::CachedDecision;
use crate::http::{ApiError, ApiJson};
use crate::tiers::{self, NonResourceAttributes, Request, ResourceAttributes, Subject};

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

/// The part of `SubjectAccessReviewSpec` the webhook reads; other fields
/// are kept as they came.
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
    /// A request on an API resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_attributes: Option<ResourceAttributes>,
    /// A request on a non-resource URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_resource_attributes: Option<NonResourceAttributes>,
    /// `uid`, …
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

impl SubjectAccessReviewSpec {
    /// The request asked about.
    fn request(&self) -> Option<Request<'_>> {
        match (&self.resource_attributes, &self.non_resource_attributes) {
            (Some(resource), _) => Some(Request::Resource(resource)),
            (None, Some(url)) => Some(Request::NonResource(url)),
            (None, None) => None,
        }
    }
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
            denial("cannot check access now; denied".to_owned(), error),
        ),
    };
    tracing::Span::current().record("result", result);
    service.metrics.authorizations.inc(result);
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
    let user = match SuiUser::of(address, spec) {
        Ok(user) => user,
        Err(reason) => return Verdict::Deny(reason),
    };
    let Some(request) = spec.request() else {
        return Verdict::Deny("the review names no resource or non-resource request".to_owned());
    };
    let subject = Subject {
        tier: user.tier,
        own_namespace: user_namespace(user.claimant.owner),
    };
    if let Some(row) = tiers::refusal(&subject, request) {
        return Verdict::Deny(row.message(user.tier));
    }
    standing(service, &user).await
}

/// Denies a user whose seal token's current decision ended access or fell
/// below the authenticated tier, or whose opaque token is gone.
async fn standing(service: &AccessService, user: &SuiUser) -> Verdict {
    match service.decision(&user.claimant).await {
        Ok(CachedDecision::Allowed(grant)) if user.tier > grant.tier => Verdict::Deny(format!(
            "the seal token's tier is now {}, below the authenticated {}",
            grant.tier, user.tier
        )),
        Ok(CachedDecision::Allowed(_)) => match user.opaque_token {
            None => Verdict::NoOpinion,
            // Boxed: its store read would make every review's future
            // kilobytes larger (see `AccessService::credential`).
            Some(hash) => match Box::pin(service.opaque_token_live(hash)).await {
                Ok(true) => Verdict::NoOpinion,
                Ok(false) => {
                    Verdict::Deny("the opaque seal token was revoked or expired".to_owned())
                }
                Err(error) => Verdict::Error(error.to_string()),
            },
        },
        Ok(CachedDecision::Denied(reason)) => Verdict::Deny(format!("access ended: {reason}")),
        Err(error) if error.is_unavailable() => Verdict::Error(error.to_string()),
        Err(error) => Verdict::Deny(error.to_string()),
    }
}

/// A `sui:` user as the master's TokenReview made them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SuiUser {
    claimant: Claimant,
    tier: Tier,
    opaque_token: Option<OpaqueTokenHash>,
}

impl SuiUser {
    /// The user `sui:<address>` of `spec`, or why the master cannot have
    /// made them.
    fn of(address: &str, spec: &SubjectAccessReviewSpec) -> Result<Self, String> {
        let claimant = claimant(address, &spec.extra)?;
        let tier = claimed_tier(&spec.extra).ok_or_else(|| {
            format!("a {USERNAME_PREFIX} user must carry exactly one known extra {EXTRA_TIER}")
        })?;
        let allowed = [tier_group(tier), USERS_GROUP.to_owned()];
        if let Some(group) = spec
            .groups
            .iter()
            .find(|group| !allowed.contains(group) && *group != AUTHENTICATED_GROUP)
        {
            return Err(format!(
                "a {USERNAME_PREFIX} user of the {tier} tier cannot be in group {group}"
            ));
        }
        let opaque_token = match spec.extra.get(EXTRA_OPAQUE_TOKEN).map(Vec::as_slice) {
            None => None,
            Some([id]) => Some(id.parse().map_err(|_| {
                format!("extra {EXTRA_OPAQUE_TOKEN} `{id}` is not an opaque token id")
            })?),
            Some(_) => return Err(format!("more than one extra {EXTRA_OPAQUE_TOKEN}")),
        };
        Ok(Self {
            claimant,
            tier,
            opaque_token,
        })
    }
}

/// The group the API server adds to every authenticated user.
const AUTHENTICATED_GROUP: &str = "system:authenticated";

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

    fn spec(groups: &[&str], extra: &[(&str, &str)]) -> SubjectAccessReviewSpec {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, value) in extra {
            map.entry((*key).to_owned())
                .or_default()
                .push((*value).to_owned());
        }
        SubjectAccessReviewSpec {
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            extra: map,
            ..SubjectAccessReviewSpec::default()
        }
    }

    #[test]
    fn sui_users_carry_their_tier_and_only_its_groups() {
        let address = format!("0x{}", "cd".repeat(32));
        let seal = format!("0x{}", "ab".repeat(32));
        let base = [(EXTRA_SEAL_TOKEN, seal.as_str()), (EXTRA_TIER, "admin")];
        let groups = ["k3s-daas:admin", "k3s-daas:users", "system:authenticated"];
        let user = SuiUser::of(&address, &spec(&groups, &base)).unwrap();
        assert_eq!(user.tier, Tier::Admin);
        assert_eq!(user.opaque_token, None);

        let masters = ["k3s-daas:admin", "system:masters"];
        let error = SuiUser::of(&address, &spec(&masters, &base)).unwrap_err();
        assert!(error.contains("system:masters"), "{error}");
        let higher = ["k3s-daas:super"];
        assert!(SuiUser::of(&address, &spec(&higher, &base)).is_err());
        let no_tier = [(EXTRA_SEAL_TOKEN, seal.as_str())];
        assert!(SuiUser::of(&address, &spec(&[], &no_tier)).is_err());
        let unknown = [(EXTRA_SEAL_TOKEN, seal.as_str()), (EXTRA_TIER, "root")];
        assert!(SuiUser::of(&address, &spec(&[], &unknown)).is_err());

        let id = "ef".repeat(32);
        let opaque = [
            (EXTRA_SEAL_TOKEN, seal.as_str()),
            (EXTRA_TIER, "admin"),
            (EXTRA_OPAQUE_TOKEN, id.as_str()),
        ];
        let user = SuiUser::of(&address, &spec(&groups, &opaque)).unwrap();
        assert_eq!(user.opaque_token.map(|h| h.to_string()), Some(id));
        let garbled = [
            (EXTRA_SEAL_TOKEN, seal.as_str()),
            (EXTRA_TIER, "admin"),
            (EXTRA_OPAQUE_TOKEN, "nope"),
        ];
        assert!(SuiUser::of(&address, &spec(&groups, &garbled)).is_err());
    }

    #[test]
    fn reviews_parse_resource_and_non_resource_attributes() {
        let review: SubjectAccessReview = serde_json::from_value(serde_json::json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": "sui:0x1",
                "resourceAttributes": {
                    "namespace": "kube-system", "verb": "create", "resource": "configmaps",
                    "version": "v1", "fieldSelector": {"requirements": []}
                },
                "uid": "u"
            }
        }))
        .unwrap();
        let spec = review.spec.unwrap();
        let Some(Request::Resource(resource)) = spec.request() else {
            panic!("no resource request");
        };
        assert_eq!(resource.namespace, "kube-system");
        assert_eq!(resource.group, "");
        assert_eq!(spec.rest["uid"], "u");
        let url = SubjectAccessReviewSpec {
            non_resource_attributes: Some(NonResourceAttributes {
                path: "/logs".to_owned(),
                verb: "get".to_owned(),
            }),
            ..SubjectAccessReviewSpec::default()
        };
        assert!(matches!(url.request(), Some(Request::NonResource(_))));
        assert!(SubjectAccessReviewSpec::default().request().is_none());
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
