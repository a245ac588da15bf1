//! Nodes as the master (stake, heartbeats, metrics) and the API server
//! (readiness, schedulability, pods) see them, joined by name; cordon and
//! uncordon; a node's own metrics from its agent, over TLS pinned to the
//! key the master relays ([`agent_metrics`]). Draining is in
//! [`super::drain`].

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use daas_core::access::AccessToken;
use daas_core::api::StatusQuery;
use daas_core::api::agent::AgentClient;
use daas_core::api::nodes::{AgentEndpoint, HealthView, NodeHealth, NodeMetrics, NodeStatus};
use daas_core::package::{Mist, SealTokenId};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde::Serialize;

use super::{Context, OpsError, Unlock};

/// The field manager of the console's writes.
pub const FIELD_MANAGER: &str = "daas-console";
/// Chain reads in flight when filling in stakes.
const STAKE_READS_IN_FLIGHT: usize = 16;

/// How a node is, all sources combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeState {
    /// Ready and schedulable.
    Ready,
    /// Ready but cordoned.
    Cordoned,
    /// Not ready (API server) or reporting not ready (agent).
    NotReady,
    /// Admitted by the master but no heartbeat yet.
    Registered,
    /// The agent stopped heartbeating.
    Stale,
    /// Draining at its operator's request.
    Draining,
    /// Known to one source only, with nothing to say.
    Unknown,
}

impl NodeState {
    /// The label shown.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ready => "Ready",
            Self::Cordoned => "Ready,SchedulingDisabled",
            Self::NotReady => "NotReady",
            Self::Registered => "Registered",
            Self::Stale => "Stale",
            Self::Draining => "Draining",
            Self::Unknown => "Unknown",
        }
    }
}

/// One node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeRow {
    /// The node name.
    pub name: String,
    /// How it is.
    pub state: NodeState,
    /// Its seal token (from the master).
    pub seal_token: Option<String>,
    /// The token's owner.
    pub owner: Option<String>,
    /// The stake behind the token, once read from the chain.
    pub stake: Option<Mist>,
    /// Seconds since its last heartbeat.
    pub heartbeat_age_secs: Option<u64>,
    /// CPU use in percent (agent).
    pub cpu: Option<f64>,
    /// Memory use in percent (agent).
    pub memory: Option<f64>,
    /// Pods on it (API server, else agent).
    pub pods: Option<u32>,
    /// Its address.
    pub ip: String,
    /// Whether the master knows it.
    pub in_master: bool,
    /// Whether the API server has it.
    pub in_cluster: bool,
    /// Whether it is cordoned.
    pub unschedulable: bool,
}

/// Every node, and which source could not be read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeList {
    /// The nodes, by name.
    pub nodes: Vec<NodeRow>,
    /// Why the master's view is missing.
    pub master_error: Option<String>,
    /// Why the API server's view is missing.
    pub cluster_error: Option<String>,
    /// How much of each node the master showed this caller.
    pub master_view: Option<HealthView>,
    /// Why a face that lists as the wallet's seal token holder when it can
    /// listed publicly instead (the TUI says so on its Nodes screen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_because: Option<String>,
}

impl NodeList {
    /// Why some nodes' owner and stake are blank (the master
    /// shows them only to a node's owner and to the admin and super
    /// tiers), or `None` when nothing was hidden.
    pub fn hidden_owners_note(&self) -> Option<&'static str> {
        let hidden = self.nodes.iter().any(|n| n.in_master && n.owner.is_none());
        match self.master_view? {
            HealthView::Operator => None,
            _ if !hidden => None,
            HealthView::Public => Some(
                "owner and stake blank: listed without a credential; the master shows them to each node's owner and the admin and super tiers",
            ),
            HealthView::Owner => Some(
                "owner and stake blank for nodes not yours; the admin and super tiers see every node's",
            ),
        }
    }
}

/// Whose view of the master's node health [`list`] asks for.
pub enum ListAs<'a> {
    /// No credential: names, state, heartbeats and metrics only.
    Public,
    /// The holder of this seal token, with a short access token the wallet
    /// signs: an owner sees their nodes in full, the admin and super tiers
    /// every node.
    SealToken(SealTokenId, &'a dyn Unlock),
    /// The holder of a [`ViewerToken`] signed earlier: a face that lists
    /// again and again keeps one instead of unlocking the wallet each time.
    Viewer(&'a ViewerToken),
}

/// How long a [`ViewerToken`] lives (the master accepts at most 15 min).
const VIEWER_TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// A [`ViewerToken`] is due for renewal this long before it expires.
const VIEWER_TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// An access token for the wallet's widest-viewing seal token
/// ([`super::stake::node_viewer_token`]), to list nodes as its holder
/// ([`ListAs::Viewer`]) until shortly before it expires.
pub struct ViewerToken {
    token: AccessToken,
    renew_at: Instant,
}

impl ViewerToken {
    /// Signs one for the wallet's widest-viewing seal token
    /// ([`super::stake::node_viewer_token`]).
    ///
    /// # Errors
    /// No wallet or passphrase, no seal token, or the master or chain
    /// could not be asked.
    pub async fn sign(ctx: &Context, unlock: &dyn Unlock) -> Result<Self, OpsError> {
        let seal_token = super::stake::node_viewer_token(ctx).await?;
        let master = ctx.master().await?;
        let (token, _) = super::kubeconfig::signed_token(
            ctx,
            &master,
            seal_token,
            unlock,
            VIEWER_TOKEN_LIFETIME,
        )
        .await?;
        Ok(Self {
            token,
            renew_at: Instant::now() + (VIEWER_TOKEN_LIFETIME - VIEWER_TOKEN_MARGIN),
        })
    }

    /// Whether it is still good for a list at `now` (not yet due for
    /// renewal).
    pub fn is_fresh(&self, now: Instant) -> bool {
        now < self.renew_at
    }
}

/// Lists as `viewer`'s holder, or publicly saying why there is none (the
/// faces that sign when they can: a read never prompts).
///
/// # Errors
/// As [`list`].
pub async fn list_as_viewer(
    ctx: &Context,
    viewer: Result<&ViewerToken, String>,
) -> Result<NodeList, OpsError> {
    match viewer {
        Ok(viewer) => list(ctx, ListAs::Viewer(viewer)).await,
        Err(why) => Ok(NodeList {
            public_because: Some(why),
            ..list(ctx, ListAs::Public).await?
        }),
    }
}

/// Lists the nodes from the master (every page of its node health, read in
/// turn, as `who` sees them) and the API server (each may fail on its own;
/// the list says which). Fails only when neither is configured, or when
/// the access token for `who` cannot be signed.
///
/// # Errors
/// Neither a master nor a kubeconfig is usable; no wallet or master to
/// sign for `who`.
pub async fn list(ctx: &Context, who: ListAs<'_>) -> Result<NodeList, OpsError> {
    let signed;
    let bearer = match who {
        ListAs::Public => None,
        ListAs::SealToken(seal_token, unlock) => {
            let master = ctx.master().await?;
            signed = super::kubeconfig::request_token(ctx, &master, seal_token, unlock)
                .await?
                .0;
            Some(signed.as_str())
        }
        ListAs::Viewer(viewer) => Some(viewer.token.as_str()),
    };
    let from_master = async {
        let master = ctx.master().await?;
        let health = match bearer {
            None => master.node_health().await?,
            Some(bearer) => master.node_health_as(bearer).await?,
        };
        Ok::<_, OpsError>((health.view, health.nodes))
    };
    let from_cluster = async {
        let client = ctx.kube().await?;
        cluster_nodes(&client).await
    };
    let (master, cluster) = tokio::join!(from_master, from_cluster);
    if let (Err(m), Err(c)) = (&master, &cluster)
        && matches!(m, OpsError::NotConfigured { .. })
        && matches!(c, OpsError::Invalid { .. })
    {
        return Err(OpsError::NotConfigured {
            what: "master or kubeconfig",
            hint: "node operations read the master's node health and the API server",
        });
    }
    let mut list = NodeList::default();
    let master = match master {
        Ok((view, nodes)) => {
            list.master_view = Some(view);
            nodes
        }
        Err(e) => {
            list.master_error = Some(e.to_string());
            Vec::new()
        }
    };
    let cluster = cluster.unwrap_or_else(|e| {
        list.cluster_error = Some(e.to_string());
        ClusterView::default()
    });
    list.nodes = join(master, cluster);
    Ok(list)
}

/// What the API server says.
#[derive(Debug, Default)]
struct ClusterView {
    nodes: Vec<Node>,
    pods: HashMap<String, u32>,
}

async fn cluster_nodes(client: &kube::Client) -> Result<ClusterView, OpsError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::all(client.clone());
    let running = ListParams::default().fields("status.phase!=Succeeded,status.phase!=Failed");
    let every = ListParams::default();
    let (nodes, pods) = tokio::join!(nodes.list(&every), pods.list(&running));
    let nodes = nodes.map_err(|e| OpsError::kube("listing nodes", e))?;
    let pods = pods.map_err(|e| OpsError::kube("listing pods", e))?;
    let mut counts = HashMap::new();
    for pod in pods.items {
        if let Some(node) = pod.spec.and_then(|s| s.node_name) {
            *counts.entry(node).or_insert(0u32) += 1;
        }
    }
    Ok(ClusterView {
        nodes: nodes.items,
        pods: counts,
    })
}

fn join(master: Vec<NodeHealth>, cluster: ClusterView) -> Vec<NodeRow> {
    let mut rows: BTreeMap<String, NodeRow> = BTreeMap::new();
    for health in master {
        let state = if health.stale {
            NodeState::Stale
        } else {
            match health.status {
                NodeStatus::Registered => NodeState::Registered,
                NodeStatus::Ready => NodeState::Ready,
                NodeStatus::NotReady => NodeState::NotReady,
                NodeStatus::Draining => NodeState::Draining,
            }
        };
        rows.insert(
            health.node.clone(),
            NodeRow {
                name: health.node,
                state,
                seal_token: health.seal_token,
                owner: health.owner,
                stake: None,
                heartbeat_age_secs: health.last_heartbeat_age_secs,
                cpu: health.metrics.map(|m| m.cpu_usage),
                memory: health.metrics.map(|m| m.memory_usage),
                pods: health.metrics.map(|m| m.pod_count),
                ip: health.ip_address.unwrap_or_default(),
                in_master: true,
                in_cluster: false,
                unschedulable: false,
            },
        );
    }
    for node in cluster.nodes {
        let Some(name) = node.metadata.name.clone() else {
            continue;
        };
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status == "True");
        let unschedulable = node
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        let ip = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .map(|a| a.address.clone())
            .unwrap_or_default();
        let row = rows.entry(name.clone()).or_insert_with(|| NodeRow {
            name: name.clone(),
            state: NodeState::Unknown,
            seal_token: None,
            owner: None,
            stake: None,
            heartbeat_age_secs: None,
            cpu: None,
            memory: None,
            pods: None,
            ip: String::new(),
            in_master: false,
            in_cluster: true,
            unschedulable,
        });
        row.in_cluster = true;
        row.unschedulable = unschedulable;
        if row.ip.is_empty() {
            row.ip = ip;
        }
        row.pods = Some(cluster.pods.get(&name).copied().unwrap_or(0));
        row.state = match (ready, unschedulable, row.state) {
            (_, _, NodeState::Stale | NodeState::Draining) => row.state,
            (Some(false), _, _) => NodeState::NotReady,
            (Some(true), true, _) => NodeState::Cordoned,
            (Some(true), false, _) => NodeState::Ready,
            (None, _, state) => state,
        };
    }
    rows.into_values().collect()
}

/// How long read stakes are reused before all are read again (a slash or
/// top-up shows within this time; 5,000 nodes are not re-read every
/// refresh).
pub const STAKE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// Stakes read from the chain, by seal token, reused for [`STAKE_TTL`].
#[derive(Debug, Default)]
pub struct StakeCache {
    stakes: HashMap<String, Option<Mist>>,
    read_since: Option<std::time::Instant>,
}

/// Fills in the stake behind each node's seal token: from `cache` when read
/// within [`STAKE_TTL`], else from the chain (a few reads in flight).
/// Nodes whose token cannot be read keep `None`.
///
/// # Errors
/// The chain settings are unusable.
pub async fn fill_stakes(
    ctx: &Context,
    rows: &mut [NodeRow],
    cache: &mut StakeCache,
) -> Result<(), OpsError> {
    if cache
        .read_since
        .is_none_or(|since| since.elapsed() >= STAKE_TTL)
    {
        cache.stakes.clear();
        cache.read_since = Some(std::time::Instant::now());
    }
    let chain = ctx.chain()?;
    let missing: Vec<String> = rows
        .iter()
        .filter_map(|row| row.seal_token.clone())
        .filter(|token| !cache.stakes.contains_key(token))
        .collect();
    let read: Vec<(String, Option<Mist>)> = futures::stream::iter(missing)
        .map(|token| {
            let chain = chain.clone();
            async move {
                let stake = match token.parse::<SealTokenId>() {
                    Ok(id) => chain
                        .seal_token_state(id)
                        .await
                        .ok()
                        .and_then(|s| s.record.map(|r| r.stake)),
                    Err(_) => None,
                };
                (token, stake)
            }
        })
        .buffer_unordered(STAKE_READS_IN_FLIGHT)
        .collect()
        .await;
    cache.stakes.extend(read);
    for row in rows {
        row.stake = row
            .seal_token
            .as_ref()
            .and_then(|t| cache.stakes.get(t).copied().flatten());
    }
    Ok(())
}

/// Marks `node` unschedulable (`cordon`) or schedulable again.
///
/// # Errors
/// Read-only session; the API server refused (e.g. no such node, or the
/// caller's tier may not patch nodes).
pub async fn set_cordoned(ctx: &Context, node: &str, cordoned: bool) -> Result<(), OpsError> {
    ctx.ensure_writable(if cordoned { "cordon" } else { "uncordon" })?;
    cordon_with(&ctx.kube().await?, node, cordoned).await
}

/// [`set_cordoned`] with a client at hand (drains reuse it).
pub(super) async fn cordon_with(
    client: &kube::Client,
    node: &str,
    cordoned: bool,
) -> Result<(), OpsError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    let patch = serde_json::json!({ "spec": { "unschedulable": cordoned } });
    nodes
        .patch(node, &params, &Patch::Merge(&patch))
        .await
        .map_err(|e| {
            OpsError::kube(
                format!(
                    "{} node {node}",
                    if cordoned { "cordoning" } else { "uncordoning" }
                ),
                e,
            )
        })?;
    Ok(())
}

/// A node's metrics as its agent reports them, and where they came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentMetricsView {
    /// The node.
    pub node: String,
    /// The agent's endpoint and TLS key, as the attested master relays them.
    pub agent_api: AgentEndpoint,
    /// The figures.
    pub metrics: NodeMetrics,
}

/// Asks `node`'s agent for its metrics. The agent's URL and TLS key come
/// from the attested master, which shows them to the node's owner and the
/// admin and super tiers: the wallet signs a short access token for
/// `seal_token` (default: the node's own seal token, i.e. its owner's
/// view), and the agent is reached over TLS 1.3 pinned to that key only.
///
/// # Errors
/// No master or wallet; the master does not show an endpoint for the node
/// to this wallet; the agent presents another key, refuses or is
/// unreachable.
pub async fn agent_metrics(
    ctx: &Context,
    node: &str,
    seal_token: Option<SealTokenId>,
    unlock: &dyn Unlock,
) -> Result<AgentMetricsView, OpsError> {
    let master = ctx.master().await?;
    let seal_token = match seal_token {
        Some(token) => token,
        None => metrics_credential(ctx, &master, node).await?,
    };
    let (token, signer) =
        super::kubeconfig::request_token(ctx, &master, seal_token, unlock).await?;
    let health = master.node_as(node, token.as_str()).await?;
    let agent_api = health.agent_api.ok_or_else(|| {
        OpsError::Refused(format!(
            "the master shows no agent endpoint for node {node} to {signer}: its agent reported none, or this wallet is neither its owner nor an admin"
        ))
    })?;
    let key = agent_api.check().map_err(|reason| OpsError::Invalid {
        what: "agent endpoint relayed by the master",
        value: agent_api.url.clone(),
        reason,
    })?;
    let timeout = ctx.master_settings()?.timeout;
    let metrics = AgentClient::new(&agent_api.url, key, timeout)?
        .metrics()
        .await?;
    Ok(AgentMetricsView {
        node: node.to_owned(),
        agent_api,
        metrics,
    })
}

/// The seal token to sign for when none is named: the wallet's active
/// user seal token of the highest tier (an admin or super tier sees every
/// node's agent), else the node's own, which its owner holds (the master
/// shows a node in full to the signer who owns it, whatever it signs for).
async fn metrics_credential(
    ctx: &Context,
    master: &daas_core::api::MasterClient,
    node: &str,
) -> Result<SealTokenId, OpsError> {
    match super::stake::widest_view_user_token(ctx).await {
        Err(OpsError::Refused(_)) => node_seal_token(master, node).await,
        found => found,
    }
}

/// The seal token `node` is admitted through, as the master says (its
/// public staking status: the chain's data, shown to anyone).
///
/// # Errors
/// The master admits no node of that name, names a malformed id, or
/// cannot be reached.
pub async fn node_seal_token(
    master: &daas_core::api::MasterClient,
    node: &str,
) -> Result<SealTokenId, OpsError> {
    let status = master
        .staking_status(&StatusQuery::Node(node.to_owned()))
        .await?;
    let token = status.seal_tokens.first().ok_or_else(|| {
        OpsError::Refused(format!(
            "the master knows no seal token admitting node {node}"
        ))
    })?;
    token.seal_token.parse().map_err(|_| OpsError::Invalid {
        what: "seal token reported by the master",
        value: token.seal_token.clone(),
        reason: "not an object id".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, owner: Option<&str>) -> NodeRow {
        NodeRow {
            name: name.to_owned(),
            state: NodeState::Ready,
            seal_token: None,
            owner: owner.map(str::to_owned),
            stake: None,
            heartbeat_age_secs: Some(1),
            cpu: None,
            memory: None,
            pods: None,
            ip: String::new(),
            in_master: true,
            in_cluster: true,
            unschedulable: false,
        }
    }

    fn list(view: Option<HealthView>, nodes: Vec<NodeRow>) -> NodeList {
        NodeList {
            nodes,
            master_view: view,
            ..NodeList::default()
        }
    }

    #[test]
    fn hidden_owners_are_explained_by_the_view() {
        let mixed = || vec![row("a", Some("0x1")), row("b", None)];
        let public = list(Some(HealthView::Public), mixed()).hidden_owners_note();
        assert!(public.is_some_and(|note| note.contains("without a credential")));
        let owner = list(Some(HealthView::Owner), mixed()).hidden_owners_note();
        assert!(owner.is_some_and(|note| note.contains("not yours")));
        // An operator sees every owner; a blank one is then not hidden.
        assert_eq!(
            list(Some(HealthView::Operator), mixed()).hidden_owners_note(),
            None
        );
        // Nothing hidden, or no master view at all: nothing to explain.
        let all_shown = vec![row("a", Some("0x1"))];
        assert_eq!(
            list(Some(HealthView::Public), all_shown).hidden_owners_note(),
            None
        );
        assert_eq!(list(None, mixed()).hidden_owners_note(), None);
        // A node only the API server has was never the master's to show.
        let mut cluster_only = row("c", None);
        cluster_only.in_master = false;
        assert_eq!(
            list(Some(HealthView::Owner), vec![cluster_only]).hidden_owners_note(),
            None
        );
    }
}
