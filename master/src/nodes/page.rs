//! Pages of `GET /api/v1/node-health`: `?limit=N&continue=TOKEN`, as
//! Kubernetes lists page. Nodes come in the order of their names; the
//! continue token names the last node of the page, so the next page starts
//! after it whatever was added or removed meanwhile (a node present from
//! the first page to the last is listed exactly once). The token is opaque
//! to clients: `n1.` and the name in unpadded base64url.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use daas_core::access::NodeName;
use daas_core::api::nodes::{NODE_HEALTH_DEFAULT_LIMIT, NODE_HEALTH_MAX_LIMIT};
use serde::Deserialize;

use crate::http::ApiError;

/// The version prefix of continue tokens.
const TOKEN_PREFIX: &str = "n1.";

/// The query string as sent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Nodes per page, as sent.
    limit: Option<String>,
    /// The previous page's continue token.
    #[serde(rename = "continue")]
    continue_token: Option<String>,
}

/// A checked page request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Nodes per page.
    pub limit: usize,
    /// The page starts after this node.
    pub after: Option<NodeName>,
}

impl PageQuery {
    /// Checks the query: 400 naming `limit` or `continue` when it is bad.
    ///
    /// # Errors
    /// A `limit` that is not a whole number from 1 to
    /// [`NODE_HEALTH_MAX_LIMIT`], or a `continue` token this master did not
    /// make.
    pub fn check(&self) -> Result<PageRequest, ApiError> {
        let limit = match &self.limit {
            None => NODE_HEALTH_DEFAULT_LIMIT,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=NODE_HEALTH_MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "limit {text:?} is not a whole number from 1 to {NODE_HEALTH_MAX_LIMIT}"
                    ))
                })?,
        };
        let after = self.continue_token.as_deref().map(decode).transpose()?;
        Ok(PageRequest {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            after,
        })
    }
}

/// The continue token of a page whose last node is `last`.
pub fn encode(last: &str) -> String {
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(last))
}

/// The node a continue token names.
fn decode(token: &str) -> Result<NodeName, ApiError> {
    let refused = |why: &str| {
        ApiError::bad_request(format!(
            "continue is not a token from a previous page of this list: {why}"
        ))
    };
    let encoded = token
        .strip_prefix(TOKEN_PREFIX)
        .ok_or_else(|| refused("unknown format"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| refused("not base64url"))?;
    let name = String::from_utf8(bytes).map_err(|_| refused("not a node name"))?;
    name.parse().map_err(|_| refused("not a node name"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use axum::http::StatusCode;

    use super::*;

    fn query(limit: Option<&str>, token: Option<&str>) -> PageQuery {
        PageQuery {
            limit: limit.map(str::to_owned),
            continue_token: token.map(str::to_owned),
        }
    }

    #[test]
    fn tokens_round_trip_and_the_default_limit_applies() {
        let token = encode("worker-7");
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        let request = query(None, Some(&token)).check().unwrap();
        assert_eq!(request.after.unwrap().as_str(), "worker-7");
        assert_eq!(request.limit, NODE_HEALTH_DEFAULT_LIMIT as usize);
        let request = query(Some("7"), None).check().unwrap();
        assert_eq!((request.limit, request.after), (7, None));
        let most = NODE_HEALTH_MAX_LIMIT.to_string();
        assert!(query(Some(&most), None).check().is_ok());
    }

    #[test]
    fn bad_limits_and_tokens_are_refused_by_name() {
        let too_many = (NODE_HEALTH_MAX_LIMIT + 1).to_string();
        for limit in ["0", "-1", "ten", "", "1.5", &too_many, "99999999999"] {
            let error = query(Some(limit), None).check().unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{limit}");
            assert!(error.message().starts_with("limit "), "{}", error.message());
        }
        let not_a_name = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode("Not A Name!"));
        let not_utf8 = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode([0xff, 0xfe]));
        for token in [
            "",
            "abc",
            "n1.",
            "n1.***",
            "n2.d29ya2Vy",
            &not_a_name,
            &not_utf8,
        ] {
            let error = query(None, Some(token)).check().unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{token}");
            assert!(
                error.message().starts_with("continue "),
                "{}",
                error.message()
            );
        }
    }
}
