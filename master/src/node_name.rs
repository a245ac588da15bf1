//! The Kubernetes name of a worker node, as the master accepts it.

use std::fmt;
use std::str::FromStr;

/// Longest node name the master admits: a label value's limit, so that the
/// name can label the node's bootstrap tokens (Kubernetes itself allows 253).
pub const MAX_NODE_NAME_LEN: usize = 63;

/// A node name: a lowercase RFC 1123 subdomain of at most
/// [`MAX_NODE_NAME_LEN`] characters (`[a-z0-9]([-.a-z0-9]*[a-z0-9])?`).
/// It is also the worker's node id on chain, and K3s's `--node-name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeName(String);

/// Why a node name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "node name {name:?} must be 1-{MAX_NODE_NAME_LEN} characters of a-z, 0-9, '-' and '.', starting and ending with a letter or digit"
)]
pub struct NodeNameError {
    /// The refused name (a node name is public).
    pub name: String,
}

impl NodeName {
    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of the K3s node-password Secret in `kube-system`:
    /// `<node>.node-password.k3s` (k3s `pkg/nodepassword`).
    pub fn node_password_secret(&self) -> String {
        format!("{}.node-password.k3s", self.0)
    }
}

impl FromStr for NodeName {
    type Err = NodeNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let edge_ok =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let valid = !s.is_empty()
            && s.len() <= MAX_NODE_NAME_LEN
            && edge_ok(s.chars().next())
            && edge_ok(s.chars().last())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(NodeNameError { name: s.to_owned() })
        }
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_names() {
        for name in ["worker-1", "a", "node.example.com", &"a".repeat(63)] {
            assert_eq!(name.parse::<NodeName>().unwrap().as_str(), name);
        }
    }

    #[test]
    fn refuses_others() {
        for name in [
            "",
            "-a",
            "a-",
            "Worker",
            "a_b",
            "a b",
            &"a".repeat(64),
            "a/b",
        ] {
            assert!(name.parse::<NodeName>().is_err(), "{name:?}");
        }
    }

    #[test]
    fn node_password_secret_matches_k3s() {
        let name: NodeName = "worker-1".parse().unwrap();
        assert_eq!(name.node_password_secret(), "worker-1.node-password.k3s");
    }
}
