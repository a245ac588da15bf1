//! Wire types of Kubernetes webhook token authentication
//! (`authentication.k8s.io/v1` `TokenReview`).
//!
//! The API server, started with `--authentication-token-webhook-config-file`,
//! POSTs a `TokenReview` whose `spec.token` is the bearer token `kubectl`
//! sent; the webhook answers the same object with `status` filled in. The
//! master parses the request with [`TokenReview`], decides
//! ([`super::review()`]) and answers [`TokenReview::answer`].
//!
//! Audiences: `spec.audiences` are what the reviewer wants the token to be
//! for: the API server's own audiences (its `--api-audiences`) for its own
//! requests, or whatever a client of the `TokenReview` API asked for (say
//! `["vault"]`). An access token names the cluster it is for in its own
//! `audience` claim, which the master checks against its configuration;
//! an allowed answer says only that audience in `status.audiences`, and
//! only when it was requested ([`TokenReview::answer`]). Otherwise it says
//! none, and the API server then accepts the token only for its own
//! implicit audiences: a cluster credential never passes for another
//! service's.

use std::collections::BTreeMap;

use serde::ser::SerializeMap as _;
use serde::{Deserialize, Serialize, Serializer};

use super::review::{Decision, Grant};

/// `authentication.k8s.io/v1`.
pub const API_VERSION: &str = "authentication.k8s.io/v1";
/// `TokenReview`.
pub const KIND: &str = "TokenReview";

/// A `TokenReview`: the request the API server sends and the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenReview {
    /// `authentication.k8s.io/v1` (the API server may also send `v1beta1`).
    pub api_version: String,
    /// `TokenReview`.
    pub kind: String,
    /// Object metadata (unused; kept so answers round-trip).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// What to review.
    pub spec: TokenReviewSpec,
    /// The answer; absent in a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TokenReviewStatus>,
}

/// `TokenReviewSpec`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenReviewSpec {
    /// The bearer token (a credential: `Debug` hides it; answers leave it
    /// empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    /// The API server's audiences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
}

impl std::fmt::Debug for TokenReviewSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenReviewSpec")
            .field("token", &"..")
            .field("audiences", &self.audiences)
            .finish()
    }
}

/// `TokenReviewStatus`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenReviewStatus {
    /// Whether the token was authenticated.
    #[serde(default)]
    pub authenticated: bool,
    /// Who the user is, when authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserInfo>,
    /// Audiences compatible with both the request and the token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// Why the token was not authenticated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `UserInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The user name. (The API server's requests carry an empty `user`
    /// object in their status, so every field has a default.)
    #[serde(default)]
    pub username: String,
    /// A unique id of the user.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The groups the user is in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Extra attributes, visible to authorizers and in audit events.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

impl From<&Grant> for UserInfo {
    fn from(grant: &Grant) -> Self {
        Self {
            username: grant.username.clone(),
            uid: grant.username.clone(),
            groups: grant.groups.clone(),
            extra: grant.extra.clone(),
        }
    }
}

impl TokenReview {
    /// A request for `token` (what the API server sends; for tests and
    /// clients of the master).
    pub fn request(token: impl Into<String>, audiences: Vec<String>) -> Self {
        Self {
            api_version: API_VERSION.to_owned(),
            kind: KIND.to_owned(),
            metadata: serde_json::Map::new(),
            spec: TokenReviewSpec {
                token: token.into(),
                audiences,
            },
            status: None,
        }
    }

    /// The answer to this request for `decision` by a verifier of tokens
    /// for `audience`: the request's `apiVersion`, an empty spec (the token
    /// is not echoed back), and the status. An allowed answer's audiences
    /// are `[audience]` if the request asked for it, else none (never the
    /// requested ones). A denial's reason goes to `status.error`.
    pub fn answer(&self, decision: &Decision, audience: &str) -> Self {
        let status = match decision {
            Decision::Allowed(grant) => TokenReviewStatus {
                authenticated: true,
                user: Some(UserInfo::from(grant)),
                audiences: self
                    .spec
                    .audiences
                    .iter()
                    .filter(|requested| *requested == audience)
                    .take(1)
                    .cloned()
                    .collect(),
                error: None,
            },
            Decision::Denied(reason) => TokenReviewStatus {
                authenticated: false,
                user: None,
                audiences: Vec::new(),
                error: Some(reason.to_string()),
            },
        };
        self.with_status(status)
    }

    /// A denial for a token that failed before any decision (malformed,
    /// bad signature, expired): `error` says why.
    pub fn reject(&self, error: impl Into<String>) -> Self {
        self.with_status(TokenReviewStatus {
            authenticated: false,
            user: None,
            audiences: Vec::new(),
            error: Some(error.into()),
        })
    }

    /// The allowed answer for `grant`, with `more_extra` added to its
    /// extra attributes, serialized: the same bytes as
    /// [`TokenReview::answer`] of [`Decision::Allowed`] with that extra
    /// gives, written from borrowed fields without copying the grant (the
    /// webhook's warm path).
    pub fn allowed_json(
        &self,
        grant: &Grant,
        more_extra: Option<(&str, &str)>,
        audience: &str,
    ) -> Vec<u8> {
        let answer = AllowedAnswer {
            api_version: &self.api_version,
            kind: KIND,
            spec: EmptyObject {},
            status: AllowedStatus {
                authenticated: true,
                user: UserInfoRef {
                    username: &grant.username,
                    uid: &grant.username,
                    groups: &grant.groups,
                    extra: ExtraRef {
                        extra: &grant.extra,
                        more: more_extra,
                    },
                },
                audiences: self
                    .spec
                    .audiences
                    .iter()
                    .find(|requested| *requested == audience)
                    .map(|requested| [requested.as_str()]),
            },
        };
        let mut out = Vec::with_capacity(1024);
        // Writing borrowed strings and maps into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &answer);
        out
    }

    fn with_status(&self, status: TokenReviewStatus) -> Self {
        Self {
            api_version: self.api_version.clone(),
            kind: KIND.to_owned(),
            metadata: serde_json::Map::new(),
            spec: TokenReviewSpec::default(),
            status: Some(status),
        }
    }
}

/// [`TokenReview`] with an allowed status, borrowing its fields; serializes
/// as [`TokenReview::answer`]'s answer does.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AllowedAnswer<'a> {
    api_version: &'a str,
    kind: &'static str,
    spec: EmptyObject,
    status: AllowedStatus<'a>,
}

/// `{}`: an answer's spec (the token is not echoed back).
#[derive(Serialize)]
struct EmptyObject {}

#[derive(Serialize)]
struct AllowedStatus<'a> {
    authenticated: bool,
    user: UserInfoRef<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audiences: Option<[&'a str; 1]>,
}

/// [`UserInfo`], borrowed.
#[derive(Serialize)]
struct UserInfoRef<'a> {
    username: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    uid: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    groups: &'a [String],
    #[serde(skip_serializing_if = "ExtraRef::is_empty")]
    extra: ExtraRef<'a>,
}

/// A grant's extra attributes plus one more (replacing an entry of the
/// same key, as a `BTreeMap` insert does), in key order.
struct ExtraRef<'a> {
    extra: &'a BTreeMap<String, Vec<String>>,
    more: Option<(&'a str, &'a str)>,
}

impl ExtraRef<'_> {
    fn is_empty(&self) -> bool {
        self.extra.is_empty() && self.more.is_none()
    }
}

impl Serialize for ExtraRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        // `more` goes in before the first key not below it, and replaces
        // an equal one.
        let mut more = self.more;
        for (key, values) in self.extra {
            if let Some((more_key, value)) = more
                && more_key <= key.as_str()
            {
                map.serialize_entry(more_key, &[value])?;
                more = None;
                if more_key == key {
                    continue;
                }
            }
            map.serialize_entry(key, values)?;
        }
        if let Some((key, value)) = more {
            map.serialize_entry(key, &[value])?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::access::review::EXTRA_OPAQUE_TOKEN;

    fn grant(extra: &[(&str, &str)]) -> Grant {
        Grant {
            username: "sui:0x00ab".to_owned(),
            groups: vec!["k3s-daas:viewer".to_owned(), "k3s-daas:users".to_owned()],
            extra: extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), vec![(*v).to_owned()]))
                .collect(),
            address: sui_sdk_types::Address::ZERO,
            tier: crate::package::Tier::Viewer,
            seal_token: crate::package::SealTokenId::new(sui_sdk_types::Address::ZERO),
            stake: crate::package::Mist::new(500_000_000),
            seal_expires_at_ms: u64::MAX,
        }
    }

    #[test]
    fn the_borrowed_allowed_answer_is_byte_for_byte_the_typed_one() {
        let audience = "https://127.0.0.1:6443";
        let extras: [&[(&str, &str)]; 4] = [
            &[],
            &[
                ("k3s-daas.io/seal-token", "0x1"),
                ("k3s-daas.io/tier", "viewer"),
            ],
            &[("a", "1"), ("z", "2")],
            &[(EXTRA_OPAQUE_TOKEN, "grant's own")],
        ];
        let audiences: [&[&str]; 3] = [&[], &[audience], &["vault", audience, audience]];
        for extra in extras {
            for requested in audiences {
                let review = TokenReview::request(
                    "daas1.x",
                    requested.iter().map(|a| (*a).to_owned()).collect(),
                );
                for more in [
                    None,
                    Some((EXTRA_OPAQUE_TOKEN, "ab12")),
                    Some(("0first", "x")),
                ] {
                    let mut typed = grant(extra);
                    if let Some((key, value)) = more {
                        typed.extra.insert(key.to_owned(), vec![value.to_owned()]);
                    }
                    let expected =
                        serde_json::to_vec(&review.answer(&Decision::Allowed(typed), audience))
                            .unwrap();
                    let got = review.allowed_json(&grant(extra), more, audience);
                    assert_eq!(
                        String::from_utf8(got).unwrap(),
                        String::from_utf8(expected).unwrap(),
                        "extra {extra:?}, audiences {requested:?}, more {more:?}"
                    );
                }
            }
        }
    }
}
