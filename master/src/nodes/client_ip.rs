//! The rate-limiting key of an unauthenticated client: its address, as the
//! pre-authentication limit keys it.

pub use crate::http::client_limit::ClientKey as ClientIp;
