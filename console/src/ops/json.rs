//! How package types appear in the operations' JSON: by name.

use daas_core::package::{Role, Tier};
use serde::Serializer;

/// A [`Role`] as `worker` or `user`.
pub fn role<S: Serializer>(role: &Role, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(role.as_str())
}

/// An optional [`Tier`] as its name, or `null`.
pub fn tier<S: Serializer>(tier: &Option<Tier>, s: S) -> Result<S::Ok, S::Error> {
    match tier {
        Some(tier) => s.serialize_str(tier.as_str()),
        None => s.serialize_none(),
    }
}
