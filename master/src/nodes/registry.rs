//! The nodes this master knows are admitted, with their last heartbeat.
//!
//! One map under one lock, ordered by node name (node health is read in
//! pages by name): a heartbeat is a lookup of about 14 comparisons at
//! 10,000 nodes and a few stores, so 10,000 nodes at 10 s intervals (1,000
//! updates/s) hold it for well under a millisecond per second. Entries are
//! small (about 300 bytes).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use daas_core::api::nodes::{
    AgentEndpoint, Capacity, HEARTBEAT_INTERVAL_SECS, NodeHealth, NodeMetrics, NodeStatus,
    STALE_AFTER_INTERVALS,
};
use daas_core::package::SealTokenId;
use sui_sdk_types::Address;

use daas_core::access::NodeName;

/// A node admitted through a worker seal token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmittedNode {
    /// The node name (the seal token's node id).
    pub name: NodeName,
    /// The worker seal token.
    pub seal_token: SealTokenId,
    /// The token's owner.
    pub owner: Address,
    /// The address given at registration (`None` when learnt from the
    /// admission record).
    pub ip_address: Option<String>,
    /// The capacity given at registration.
    pub capacity: Option<Capacity>,
    /// The agent's local API, as last reported (checked by the caller).
    pub agent_api: Option<AgentEndpoint>,
}

#[derive(Debug)]
struct Entry {
    node: AdmittedNode,
    admitted_at: Instant,
    status: NodeStatus,
    last_heartbeat: Option<Instant>,
    /// `issued_at` of the last accepted heartbeat proof.
    last_proof_at: u64,
    metrics: Option<NodeMetrics>,
    /// Whether the admission still stands as last checked (false once its
    /// seal token changed on chain, until re-checked).
    checked: bool,
}

/// Why a heartbeat was not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatRefusal {
    /// The node is not in the registry.
    Unknown,
    /// The node is admitted through another seal token or owner.
    OtherSealToken {
        /// The seal token it is admitted through.
        seal_token: SealTokenId,
    },
    /// The proof is not newer than the last accepted one.
    NotNewer {
        /// `issued_at` of the last accepted heartbeat proof.
        last: u64,
    },
    /// The admission was invalidated; the seal token must be re-checked.
    Unchecked,
}

/// One heartbeat to record.
#[derive(Debug, Clone, Copy)]
pub struct Beat<'a> {
    /// The node.
    pub node: &'a str,
    /// The proof's seal token.
    pub seal_token: SealTokenId,
    /// The proof's signer.
    pub owner: Address,
    /// The proof's `issued_at`.
    pub issued_at: u64,
    /// The reported status.
    pub status: NodeStatus,
    /// The reported metrics.
    pub metrics: NodeMetrics,
    /// The agent's local API, when reported (checked by the caller).
    pub agent_api: Option<&'a AgentEndpoint>,
}

/// The registry.
#[derive(Debug, Default)]
pub struct NodeRegistry {
    nodes: Mutex<BTreeMap<String, Entry>>,
}

impl NodeRegistry {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        // A panic elsewhere cannot leave an entry half-written in a way
        // that matters: every field is plain data.
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `node` as admitted. A re-admission through the same seal
    /// token keeps its heartbeat state.
    pub fn admit(&self, node: AdmittedNode) {
        let mut nodes = self.lock();
        match nodes.get_mut(node.name.as_str()) {
            Some(entry) if entry.node.seal_token == node.seal_token => {
                entry.checked = true;
                if node.ip_address.is_some() {
                    entry.node = node;
                } else if node.agent_api.is_some() {
                    entry.node.agent_api = node.agent_api;
                }
            }
            _ => {
                nodes.insert(
                    node.name.to_string(),
                    Entry {
                        node,
                        admitted_at: Instant::now(),
                        status: NodeStatus::Registered,
                        last_heartbeat: None,
                        last_proof_at: 0,
                        metrics: None,
                        checked: true,
                    },
                );
            }
        }
    }

    /// Records a heartbeat.
    ///
    /// # Errors
    /// Why it was not recorded.
    pub fn heartbeat(&self, beat: Beat<'_>) -> Result<(), HeartbeatRefusal> {
        let mut nodes = self.lock();
        let entry = nodes.get_mut(beat.node).ok_or(HeartbeatRefusal::Unknown)?;
        if entry.node.seal_token != beat.seal_token || entry.node.owner != beat.owner {
            return Err(HeartbeatRefusal::OtherSealToken {
                seal_token: entry.node.seal_token,
            });
        }
        if beat.issued_at <= entry.last_proof_at {
            return Err(HeartbeatRefusal::NotNewer {
                last: entry.last_proof_at,
            });
        }
        if !entry.checked {
            return Err(HeartbeatRefusal::Unchecked);
        }
        entry.last_proof_at = beat.issued_at;
        entry.last_heartbeat = Some(Instant::now());
        entry.status = beat.status;
        entry.metrics = Some(beat.metrics);
        if let Some(endpoint) = beat.agent_api
            && entry.node.agent_api.as_ref() != Some(endpoint)
        {
            entry.node.agent_api = Some(endpoint.clone());
        }
        Ok(())
    }

    /// The seal token `node` is admitted through.
    pub fn seal_token_of(&self, node: &str) -> Option<SealTokenId> {
        self.lock().get(node).map(|entry| entry.node.seal_token)
    }

    /// The node admitted through `seal_token`, if any.
    pub fn node_of(&self, seal_token: SealTokenId) -> Option<String> {
        self.lock()
            .values()
            .find(|entry| entry.node.seal_token == seal_token)
            .map(|entry| entry.node.name.to_string())
    }

    /// Drops `node`.
    pub fn forget(&self, node: &str) {
        self.lock().remove(node);
    }

    /// Marks every node admitted through `seal_token` for a re-check.
    pub fn uncheck_seal_token(&self, seal_token: SealTokenId) {
        self.lock()
            .values_mut()
            .filter(|entry| entry.node.seal_token == seal_token)
            .for_each(|entry| entry.checked = false);
    }

    /// Marks every node for a re-check.
    pub fn uncheck_all(&self) {
        self.lock()
            .values_mut()
            .for_each(|entry| entry.checked = false);
    }

    /// The nodes whose admission awaits a re-check and that have sent no
    /// heartbeat for at least `quiet` (since admission if never).
    pub fn quiet_unchecked(&self, quiet: Duration) -> Vec<AdmittedNode> {
        let now = Instant::now();
        self.lock()
            .values()
            .filter(|entry| {
                let since = entry.last_heartbeat.unwrap_or(entry.admitted_at);
                !entry.checked && now.saturating_duration_since(since) >= quiet
            })
            .map(|entry| entry.node.clone())
            .collect()
    }

    /// How many nodes are known.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no node is known.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The health of `node`.
    pub fn health(&self, node: &str) -> Option<NodeHealth> {
        let now = Instant::now();
        self.lock().get(node).map(|entry| health(entry, now))
    }

    /// The health of at most `limit` nodes whose names follow `after` (from
    /// the first when `None`), by name, and whether more follow.
    pub fn health_page(&self, after: Option<&str>, limit: usize) -> (Vec<NodeHealth>, bool) {
        let now = Instant::now();
        let nodes = self.lock();
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut rest = nodes.range::<str, _>((start, Bound::Unbounded));
        let page = rest
            .by_ref()
            .take(limit)
            .map(|(_, entry)| health(entry, now))
            .collect();
        (page, rest.next().is_some())
    }
}

/// Seconds without a heartbeat after which a node is stale.
pub const fn stale_after() -> Duration {
    Duration::from_secs(HEARTBEAT_INTERVAL_SECS * STALE_AFTER_INTERVALS)
}

fn health(entry: &Entry, now: Instant) -> NodeHealth {
    let since = entry.last_heartbeat.unwrap_or(entry.admitted_at);
    NodeHealth {
        node: entry.node.name.to_string(),
        seal_token: Some(entry.node.seal_token.to_string()),
        owner: Some(entry.node.owner.to_string()),
        status: entry.status,
        last_heartbeat_age_secs: entry
            .last_heartbeat
            .map(|at| now.saturating_duration_since(at).as_secs()),
        stale: now.saturating_duration_since(since) > stale_after(),
        metrics: entry.metrics,
        ip_address: entry.node.ip_address.clone(),
        capacity: entry.node.capacity.clone(),
        agent_api: entry.node.agent_api.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn node(name: &str, seal: u8) -> AdmittedNode {
        AdmittedNode {
            name: name.parse().unwrap(),
            seal_token: SealTokenId::new(Address::new([seal; 32])),
            owner: Address::new([1; 32]),
            ip_address: Some("10.0.0.1".to_owned()),
            capacity: None,
            agent_api: None,
        }
    }

    fn beat(node: &str, seal: u8, issued_at: u64) -> Beat<'_> {
        Beat {
            node,
            seal_token: SealTokenId::new(Address::new([seal; 32])),
            owner: Address::new([1; 32]),
            issued_at,
            status: NodeStatus::Ready,
            metrics: NodeMetrics {
                cpu_usage: 1.0,
                memory_usage: 2.0,
                pod_count: 3,
                container_count: 4,
                network_rx: 5,
                network_tx: 6,
                timestamp: issued_at,
            },
            agent_api: None,
        }
    }

    #[test]
    fn heartbeats_must_grow_and_match_the_seal_token() {
        let registry = NodeRegistry::default();
        assert_eq!(
            registry.heartbeat(beat("a", 1, 10)),
            Err(HeartbeatRefusal::Unknown)
        );
        registry.admit(node("a", 1));
        assert!(
            registry
                .health("a")
                .unwrap()
                .last_heartbeat_age_secs
                .is_none()
        );
        registry.heartbeat(beat("a", 1, 10)).unwrap();
        assert_eq!(
            registry.heartbeat(beat("a", 1, 10)),
            Err(HeartbeatRefusal::NotNewer { last: 10 })
        );
        assert!(matches!(
            registry.heartbeat(beat("a", 2, 11)),
            Err(HeartbeatRefusal::OtherSealToken { .. })
        ));
        registry.heartbeat(beat("a", 1, 11)).unwrap();
        let health = registry.health("a").unwrap();
        assert_eq!(health.status, NodeStatus::Ready);
        assert_eq!(health.last_heartbeat_age_secs, Some(0));
        assert!(!health.stale);
        // Re-admission through the same token keeps the heartbeat state.
        registry.admit(node("a", 1));
        assert_eq!(
            registry.heartbeat(beat("a", 1, 11)),
            Err(HeartbeatRefusal::NotNewer { last: 11 })
        );
    }

    #[test]
    fn heartbeats_update_the_agent_endpoint_and_health_shows_it() {
        let registry = NodeRegistry::default();
        registry.admit(node("a", 1));
        assert_eq!(registry.health("a").unwrap().agent_api, None);
        let endpoint = AgentEndpoint {
            url: "https://10.0.0.1:8443".to_owned(),
            tls_spki_sha256: "ab".repeat(32),
        };
        registry
            .heartbeat(Beat {
                agent_api: Some(&endpoint),
                ..beat("a", 1, 10)
            })
            .unwrap();
        assert_eq!(
            registry.health("a").unwrap().agent_api,
            Some(endpoint.clone())
        );
        // A heartbeat without one keeps the last reported endpoint; a
        // re-check learnt from the chain (no endpoint) keeps it too.
        registry.heartbeat(beat("a", 1, 11)).unwrap();
        registry.admit(AdmittedNode {
            ip_address: None,
            ..node("a", 1)
        });
        assert_eq!(registry.health("a").unwrap().agent_api, Some(endpoint));
    }

    #[test]
    fn invalidated_admissions_need_a_recheck() {
        let registry = NodeRegistry::default();
        registry.admit(node("a", 1));
        registry.admit(node("b", 2));
        registry.admit(node("c", 2));
        assert_eq!(
            registry
                .node_of(SealTokenId::new(Address::new([1; 32])))
                .as_deref(),
            Some("a")
        );
        registry.uncheck_seal_token(SealTokenId::new(Address::new([2; 32])));
        registry.heartbeat(beat("a", 1, 1)).unwrap();
        assert_eq!(
            registry.heartbeat(beat("b", 2, 1)),
            Err(HeartbeatRefusal::Unchecked)
        );
        // A re-check re-admits it with its state.
        registry.admit(node("b", 2));
        registry.heartbeat(beat("b", 2, 1)).unwrap();
        registry.uncheck_all();
        assert_eq!(
            registry.heartbeat(beat("a", 1, 2)),
            Err(HeartbeatRefusal::Unchecked)
        );
        registry.forget("a");
        assert_eq!(registry.len(), 2);
        assert!(registry.health("a").is_none());
    }

    #[test]
    fn only_unchecked_nodes_quiet_long_enough_await_the_sweep() {
        let registry = NodeRegistry::default();
        registry.admit(node("a", 1));
        registry.admit(node("b", 2));
        registry.admit(node("c", 3));
        let names = |quiet| {
            let quiet: Vec<_> = registry
                .quiet_unchecked(quiet)
                .into_iter()
                .map(|n| n.name.to_string())
                .collect();
            quiet
        };
        assert!(names(Duration::ZERO).is_empty(), "all checked");
        registry.uncheck_all();
        assert_eq!(names(Duration::ZERO), ["a", "b", "c"]);
        assert!(
            names(Duration::from_secs(3600)).is_empty(),
            "none quiet an hour"
        );
        // A re-check that passed takes the node out.
        registry.admit(node("b", 2));
        assert_eq!(names(Duration::ZERO), ["a", "c"]);
    }

    #[test]
    fn pages_follow_name_order_without_gaps_or_repeats() {
        let registry = NodeRegistry::default();
        for (i, name) in ["n-3", "n-1", "n-10", "n-2", "n-4"].iter().enumerate() {
            registry.admit(node(name, u8::try_from(i).unwrap()));
        }
        let names = |page: &[NodeHealth]| page.iter().map(|h| h.node.clone()).collect::<Vec<_>>();
        let (first, more) = registry.health_page(None, 2);
        assert_eq!(
            (names(&first), more),
            (vec!["n-1".to_owned(), "n-10".to_owned()], true)
        );
        let (second, more) = registry.health_page(Some("n-10"), 2);
        assert_eq!(
            (names(&second), more),
            (vec!["n-2".to_owned(), "n-3".to_owned()], true)
        );
        // A node removed after its page was read does not shift the next.
        registry.forget("n-3");
        let (third, more) = registry.health_page(Some("n-3"), 2);
        assert_eq!((names(&third), more), (vec!["n-4".to_owned()], false));
        let (exact, more) = registry.health_page(Some("n-2"), 1);
        assert_eq!((names(&exact), more), (vec!["n-4".to_owned()], false));
        assert_eq!(registry.health_page(Some("z"), 5), (Vec::new(), false));
    }
}
