//! The name of a worker node: its Kubernetes node name, K3s's
//! `--node-name`, and the node id of its worker seal token on chain.
//!
//! The on-chain package accepts node ids of up to
//! [`MAX_NODE_ID_LEN`](crate::package::staking::MAX_NODE_ID_LEN) bytes (a
//! Kubernetes name may be 253 characters), but the master labels a node's
//! objects with its name, and a label value holds at most 63 characters.
//! [`NodeName`] is the one rule of what the master admits; the chain calls
//! that stake a worker and the worker proof refuse any other name before
//! anything is signed, so nobody stakes for a name that can never join.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest node name the master admits: a label value's limit.
pub const MAX_NODE_NAME_LEN: usize = 63;

/// Longest Kubernetes node name (a DNS subdomain).
pub const MAX_KUBERNETES_NODE_NAME_LEN: usize = 253;

/// A node name: a lowercase RFC 1123 subdomain of at most
/// [`MAX_NODE_NAME_LEN`] characters (`[a-z0-9]([-.a-z0-9]*[a-z0-9])?`).
///
/// Serialized as the plain string; deserializing checks it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeName(String);

/// Why a node name was refused. Every variant names the refused name (a
/// node name is public).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeNameError {
    /// The name is empty.
    #[error("a node name must not be empty")]
    Empty,
    /// Longer than allowed: [`MAX_NODE_NAME_LEN`] for a [`NodeName`] (a
    /// label value), [`MAX_KUBERNETES_NODE_NAME_LEN`] for any Node.
    #[error("node name {name:?} is {len} characters long; at most {max} are allowed")]
    TooLong {
        /// The refused name.
        name: String,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A character outside `a-z`, `0-9`, `-` and `.`.
    #[error("node name {name:?} contains {found:?}; only a-z, 0-9, '-' and '.' are allowed")]
    BadCharacter {
        /// The refused name.
        name: String,
        /// The first character not allowed.
        found: char,
    },
    /// It, or one of its dot-separated labels, starts or ends with `-` or
    /// `.` (a DNS-1123 subdomain's labels are `[a-z0-9]([-a-z0-9]*[a-z0-9])?`).
    #[error(
        "node name {name:?} must start and end with a letter or digit, and so must each of its dot-separated labels"
    )]
    BadEdge {
        /// The refused name.
        name: String,
    },
}

impl NodeName {
    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NodeName {
    type Err = NodeNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        check_subdomain(s, MAX_NODE_NAME_LEN)?;
        Ok(Self(s.to_owned()))
    }
}

/// Checks that `name` is a name Kubernetes gives a Node (a lowercase RFC
/// 1123 subdomain of at most [`MAX_KUBERNETES_NODE_NAME_LEN`] characters),
/// for names outside staking, such as the K3s server's own node, that need
/// not fit a label value.
///
/// # Errors
/// Why it is not one.
pub fn check_kubernetes_node_name(name: &str) -> Result<(), NodeNameError> {
    check_subdomain(name, MAX_KUBERNETES_NODE_NAME_LEN)
}

/// `[a-z0-9]([-.a-z0-9]*[a-z0-9])?` of at most `max` characters.
fn check_subdomain(s: &str, max: usize) -> Result<(), NodeNameError> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let alphanumeric =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if s.is_empty() {
        return Err(NodeNameError::Empty);
    }
    if s.len() > max {
        return Err(NodeNameError::TooLong {
            name: s.to_owned(),
            len: s.len(),
            max,
        });
    }
    if let Some(found) = s.chars().find(|&c| !allowed(c)) {
        return Err(NodeNameError::BadCharacter {
            name: s.to_owned(),
            found,
        });
    }
    let bad_edge =
        |label: &str| !alphanumeric(label.chars().next()) || !alphanumeric(label.chars().last());
    if s.split('.').any(bad_edge) {
        return Err(NodeNameError::BadEdge { name: s.to_owned() });
    }
    Ok(())
}

impl TryFrom<String> for NodeName {
    type Error = NodeNameError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for NodeName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for NodeName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for NodeName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl Serialize for NodeName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for NodeName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn accepts_dns_names_up_to_a_label_value() {
        for name in ["worker-1", "a", "0", "node.example.com", &"a".repeat(63)] {
            assert_eq!(name.parse::<NodeName>().unwrap().as_str(), name);
        }
    }

    #[test]
    fn refuses_others_naming_why() {
        let long = "a".repeat(64);
        let cases: Vec<(&str, NodeNameError)> = vec![
            ("", NodeNameError::Empty),
            (
                &long,
                NodeNameError::TooLong {
                    name: long.clone(),
                    len: 64,
                    max: 63,
                },
            ),
            (
                "Worker",
                NodeNameError::BadCharacter {
                    name: "Worker".to_owned(),
                    found: 'W',
                },
            ),
            (
                "a_b",
                NodeNameError::BadCharacter {
                    name: "a_b".to_owned(),
                    found: '_',
                },
            ),
            (
                "a b",
                NodeNameError::BadCharacter {
                    name: "a b".to_owned(),
                    found: ' ',
                },
            ),
            (
                "a/b",
                NodeNameError::BadCharacter {
                    name: "a/b".to_owned(),
                    found: '/',
                },
            ),
            (
                "wörker",
                NodeNameError::BadCharacter {
                    name: "wörker".to_owned(),
                    found: 'ö',
                },
            ),
            (
                "-a",
                NodeNameError::BadEdge {
                    name: "-a".to_owned(),
                },
            ),
            (
                "a-",
                NodeNameError::BadEdge {
                    name: "a-".to_owned(),
                },
            ),
            (
                ".a",
                NodeNameError::BadEdge {
                    name: ".a".to_owned(),
                },
            ),
        ];
        // Each label's edges too, as the API server checks them.
        let cases = cases
            .into_iter()
            .chain(["a..b", "a.-b", "a-.b"].map(|name| {
                (
                    name,
                    NodeNameError::BadEdge {
                        name: name.to_owned(),
                    },
                )
            }));
        for (name, error) in cases {
            assert_eq!(name.parse::<NodeName>(), Err(error), "{name:?}");
        }
        let message = long.parse::<NodeName>().unwrap_err().to_string();
        assert!(message.contains("at most 63"), "{message}");
    }

    #[test]
    fn kubernetes_node_names_may_be_longer() {
        assert!(check_kubernetes_node_name(&"a".repeat(64)).is_ok());
        assert!(check_kubernetes_node_name("k3s-server.example.com").is_ok());
        assert!(matches!(
            check_kubernetes_node_name(&"a".repeat(254)),
            Err(NodeNameError::TooLong { max: 253, .. })
        ));
        assert!(check_kubernetes_node_name("Server_Node").is_err());
    }

    #[test]
    fn serde_is_the_checked_string() {
        let name: NodeName = "worker-1".parse().unwrap();
        let json = serde_json::to_string(&name).unwrap();
        assert_eq!(json, "\"worker-1\"");
        assert_eq!(serde_json::from_str::<NodeName>(&json).unwrap(), name);
        let error = serde_json::from_str::<NodeName>("\"Bad_Name\"").unwrap_err();
        assert!(error.to_string().contains("Bad_Name"), "{error}");
    }
}
