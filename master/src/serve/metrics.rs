//! Connection metrics per listener: how many are open, and how many were
//! closed before serving anything, by reason (`cap`, `handshake_timeout`,
//! `tls`, `proxy_header`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabel {
    listener: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    listener: &'static str,
    reason: &'static str,
}

/// The metrics, shared by every listener (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct ConnectionMetrics {
    open: Family<ListenerLabel, Gauge>,
    refused: Family<RefusalLabels, Counter>,
}

impl ConnectionMetrics {
    /// Registers the metrics under `registry`'s prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "connections_open",
            "Open connections by listener",
            metrics.open.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections closed before serving a request, by listener and reason",
            metrics.refused.clone(),
        );
        metrics
    }

    /// Counts a connection open until the guard drops.
    pub(super) fn opened(&self, listener: &'static str) -> OpenConnection {
        let gauge = self.open.get_or_create(&ListenerLabel { listener }).clone();
        gauge.inc();
        OpenConnection(gauge)
    }

    pub(super) fn refused(&self, listener: &'static str, reason: &'static str) {
        self.refused
            .get_or_create(&RefusalLabels { listener, reason })
            .inc();
    }
}

/// An open connection, counted until dropped.
pub(super) struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}
