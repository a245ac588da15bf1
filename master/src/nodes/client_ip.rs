//! The rate-limiting key of an unauthenticated client: its IP address.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::serve::Peer;

/// The key used when the server did not record the peer address: every
/// such client then shares one budget.
pub const UNKNOWN_PEER: &str = "unknown-peer";

/// The client's address as the listener saw it ([`Peer::rate_limit_key`]:
/// the IP for TCP), else `ConnectInfo<SocketAddr>`'s IP, else
/// [`UNKNOWN_PEER`]. Headers such as `X-Forwarded-For` are not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let extensions = &parts.extensions;
        let key = if let Some(ConnectInfo(peer)) = extensions.get::<ConnectInfo<Peer>>() {
            peer.rate_limit_key().to_owned()
        } else if let Some(ConnectInfo(address)) = extensions.get::<ConnectInfo<SocketAddr>>() {
            address.ip().to_string()
        } else {
            UNKNOWN_PEER.to_owned()
        };
        Ok(Self(key))
    }
}
