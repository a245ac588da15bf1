//! Prometheus metrics of the node endpoints.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The `outcome` label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct Outcome {
    /// `accepted`, `refused` or `failed`.
    pub outcome: &'static str,
}

/// Counters and gauges of the node endpoints.
#[derive(Debug, Default)]
pub struct NodeMetricsSet {
    registrations: Family<Outcome, Counter>,
    heartbeats: Family<Outcome, Counter>,
    nodes: Gauge,
}

impl NodeMetricsSet {
    /// Fresh metrics, registered into `registry` (whose prefix names the
    /// master: `daas_master_node_heartbeats_total`, …).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "node_registrations",
            "Worker registrations by outcome",
            metrics.registrations.clone(),
        );
        registry.register(
            "node_heartbeats",
            "Node heartbeats by outcome",
            metrics.heartbeats.clone(),
        );
        registry.register(
            "nodes_known",
            "Admitted nodes this master knows",
            metrics.nodes.clone(),
        );
        metrics
    }

    /// Counts a registration.
    pub fn registration(&self, outcome: &'static str) {
        self.registrations.get_or_create(&Outcome { outcome }).inc();
    }

    /// Counts a heartbeat.
    pub fn heartbeat(&self, outcome: &'static str) {
        self.heartbeats.get_or_create(&Outcome { outcome }).inc();
    }

    /// Sets the number of known nodes.
    pub fn set_nodes(&self, count: usize) {
        self.nodes.set(i64::try_from(count).unwrap_or(i64::MAX));
    }
}
