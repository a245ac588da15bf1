//! `GET /metrics`: the node metrics and the orders the API took, in the
//! Prometheus text format.

use std::sync::atomic::AtomicU64;

use daas_core::api::nodes::NodeMetrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type FloatGauge = Gauge<f64, AtomicU64>;

/// Labels of an order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OrderLabels {
    action: &'static str,
    result: &'static str,
}

/// The agent's Prometheus metrics.
#[derive(Debug)]
pub struct AgentMetrics {
    registry: Registry,
    cpu: FloatGauge,
    memory: FloatGauge,
    pods: FloatGauge,
    containers: FloatGauge,
    rx: FloatGauge,
    tx: FloatGauge,
    orders: Family<OrderLabels, Counter>,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("daas_agent");
        let metrics = Self {
            cpu: FloatGauge::default(),
            memory: FloatGauge::default(),
            pods: FloatGauge::default(),
            containers: FloatGauge::default(),
            rx: FloatGauge::default(),
            tx: FloatGauge::default(),
            orders: Family::default(),
            registry: Registry::default(),
        };
        for (name, help, gauge) in [
            ("cpu_usage_percent", "CPU in use, percent", &metrics.cpu),
            (
                "memory_usage_percent",
                "Memory in use, percent",
                &metrics.memory,
            ),
            ("pods", "Pods with a running process", &metrics.pods),
            (
                "containers",
                "Containers with a running process",
                &metrics.containers,
            ),
            (
                "network_receive_bytes",
                "Bytes received, all interfaces but lo",
                &metrics.rx,
            ),
            (
                "network_transmit_bytes",
                "Bytes sent, all interfaces but lo",
                &metrics.tx,
            ),
        ] {
            registry.register(name, help, gauge.clone());
        }
        registry.register(
            "orders",
            "Owner orders to the local API, by action and result",
            metrics.orders.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }
}

impl AgentMetrics {
    /// Counts an order.
    pub fn order(&self, action: &'static str, result: &'static str) {
        self.orders
            .get_or_create(&OrderLabels { action, result })
            .inc();
    }

    /// The text exposition with `node` as the current figures.
    pub fn encode(&self, node: &NodeMetrics) -> String {
        self.cpu.set(node.cpu_usage);
        self.memory.set(node.memory_usage);
        self.pods.set(f64::from(node.pod_count));
        self.containers.set(f64::from(node.container_count));
        // Byte counts stay below 2^53 for years of traffic.
        #[allow(clippy::cast_precision_loss)]
        {
            self.rx.set(node.network_rx as f64);
            self.tx.set(node.network_tx as f64);
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
