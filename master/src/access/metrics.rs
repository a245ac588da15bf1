//! The access feature's Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label of a webhook answer: `allowed`, `denied`, `invalid`, `error`, …
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct ResultLabel {
    pub(super) result: &'static str,
}

/// Labels of a cache lookup: which cache, `hit` or `miss`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct CacheLabel {
    pub(super) cache: &'static str,
    pub(super) outcome: &'static str,
}

/// The metrics, registered once per service.
#[derive(Debug)]
pub(super) struct AccessMetrics {
    pub(super) tokenreviews: Family<ResultLabel, Counter>,
    pub(super) tokenreview_seconds: Histogram,
    pub(super) authorizations: Family<ResultLabel, Counter>,
    pub(super) cache_lookups: Family<CacheLabel, Counter>,
    pub(super) proxied: Family<ResultLabel, Counter>,
}

impl AccessMetrics {
    /// Registers the metrics under `registry`'s prefix.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            tokenreviews: Family::default(),
            // 50 µs … about 1.6 s.
            tokenreview_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            authorizations: Family::default(),
            cache_lookups: Family::default(),
            proxied: Family::default(),
        };
        registry.register(
            "access_tokenreview_requests",
            "TokenReview webhook answers by result",
            metrics.tokenreviews.clone(),
        );
        registry.register(
            "access_tokenreview_duration_seconds",
            "Time to answer a TokenReview",
            metrics.tokenreview_seconds.clone(),
        );
        registry.register(
            "access_authorize_requests",
            "SubjectAccessReview webhook answers by result",
            metrics.authorizations.clone(),
        );
        registry.register(
            "access_cache_lookups",
            "Credential and decision cache lookups by outcome",
            metrics.cache_lookups.clone(),
        );
        registry.register(
            "access_proxy_requests",
            "Kubernetes API proxy requests by result",
            metrics.proxied.clone(),
        );
        metrics
    }

    pub(super) fn cache(&self, cache: &'static str, hit: bool) {
        let outcome = if hit { "hit" } else { "miss" };
        self.cache_lookups
            .get_or_create(&CacheLabel { cache, outcome })
            .inc();
    }

    pub(super) fn count(family: &Family<ResultLabel, Counter>, result: &'static str) {
        family.get_or_create(&ResultLabel { result }).inc();
    }
}
