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

/// Counters by result, the most common result's resolved once: a family
/// lookup takes a lock and hashes the labels, and the webhooks count every
/// request.
#[derive(Debug)]
pub(super) struct ResultCounters {
    family: Family<ResultLabel, Counter>,
    common: &'static str,
    common_counter: Counter,
}

impl ResultCounters {
    fn new(common: &'static str) -> Self {
        let family = Family::<ResultLabel, Counter>::default();
        let common_counter = family
            .get_or_create(&ResultLabel { result: common })
            .clone();
        Self {
            family,
            common,
            common_counter,
        }
    }

    /// Counts one answer with `result`.
    pub(super) fn inc(&self, result: &'static str) {
        if result == self.common {
            self.common_counter.inc();
        } else {
            self.family.get_or_create(&ResultLabel { result }).inc();
        }
    }
}

/// The access caches, as the `cache` label names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cache {
    /// Bearer token → credential.
    Credential,
    /// Seal token → decision.
    Decision,
}

/// The metrics, registered once per service.
#[derive(Debug)]
pub(super) struct AccessMetrics {
    pub(super) tokenreviews: ResultCounters,
    pub(super) tokenreview_seconds: Histogram,
    pub(super) authorizations: ResultCounters,
    pub(super) proxied: ResultCounters,
    /// Cache lookups, every (cache, outcome) resolved once, indexed by
    /// [`Cache`] then hit.
    cache_lookups: [[Counter; 2]; 2],
}

impl AccessMetrics {
    /// Registers the metrics under `registry`'s prefix.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let lookups = Family::<CacheLabel, Counter>::default();
        let lookup = |cache, outcome| {
            lookups
                .get_or_create(&CacheLabel { cache, outcome })
                .clone()
        };
        let metrics = Self {
            tokenreviews: ResultCounters::new("allowed"),
            // 50 µs … about 1.6 s.
            tokenreview_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            authorizations: ResultCounters::new("no_opinion"),
            proxied: ResultCounters::new("forwarded"),
            cache_lookups: [
                [lookup("credential", "miss"), lookup("credential", "hit")],
                [lookup("decision", "miss"), lookup("decision", "hit")],
            ],
        };
        registry.register(
            "access_tokenreview_requests",
            "TokenReview webhook answers by result",
            metrics.tokenreviews.family.clone(),
        );
        registry.register(
            "access_tokenreview_duration_seconds",
            "Time to answer a TokenReview",
            metrics.tokenreview_seconds.clone(),
        );
        registry.register(
            "access_authorize_requests",
            "SubjectAccessReview webhook answers by result",
            metrics.authorizations.family.clone(),
        );
        registry.register(
            "access_cache_lookups",
            "Credential and decision cache lookups by outcome",
            lookups,
        );
        registry.register(
            "access_proxy_requests",
            "Kubernetes API proxy requests by result",
            metrics.proxied.family.clone(),
        );
        metrics
    }

    /// Counts a lookup in `cache`.
    pub(super) fn cache(&self, cache: Cache, hit: bool) {
        self.cache_lookups[cache as usize][usize::from(hit)].inc();
    }
}
