//! Warm TokenReview answers through the master's webhook router, in
//! process, on a 2-thread runtime: a real devnet answers the one cold
//! review, the real API server backs the service; then every answer comes
//! from the caches.
//!
//! `cargo bench -p daas-master --bench tokenreview`; target ≥ 20,000
//! answers/s and p99 ≤ 2 ms on 2 cores. Prints one line with answers/s and
//! the latency percentiles, then criterion's figure for one answer.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use criterion::{Criterion, criterion_group, criterion_main};
use daas_core::access::tokenreview::TokenReview;
use daas_core::access::{AccessToken, Claims, unix_now_secs};
use daas_core::package::{Mist, Role};
use daas_core::wallet::{Keypair, Scheme};
use daas_e2e::devnet::Devnet;
use daas_e2e::k3s;
use daas_master::access::{self, AccessService, AccessSettings};
use http_body_util::BodyExt as _;
use prometheus_client::registry::Registry;
use sui_crypto::ed25519::Ed25519PrivateKey;
use tower::ServiceExt as _;

const AUDIENCE: &str = "https://daas-bench:6443";
/// Distinct tokens reviewed (the API server's own cache sends each token
/// once per TTL, so the webhook sees many).
const TOKENS: usize = 256;
/// Requests in flight at once.
const CONCURRENCY: usize = 32;
/// How long the throughput run lasts.
const RUN: Duration = Duration::from_secs(5);

/// The webhook router, warmed, and the request bodies.
struct Fixture {
    _devnet: Devnet,
    app: Router,
    bodies: Vec<Bytes>,
}

async fn fixture() -> Fixture {
    let devnet = Devnet::start().await.unwrap();
    let cluster = k3s::shared().await.unwrap();
    let chain_key = Ed25519PrivateKey::new([0xbe; 32]);
    let wallet = Keypair::from_bytes(Scheme::Ed25519, &[0xbe; 32]).unwrap();
    devnet.fund(wallet.address()).await.unwrap();
    let seal = devnet
        .client()
        .unwrap()
        .stake_and_mint(&chain_key, Mist::new(500_000_000), Role::User, "")
        .await
        .unwrap()
        .token;
    let settings = AccessSettings {
        audience: AUDIENCE.to_owned(),
        api_server_url: cluster.server().to_owned(),
        cluster_ca_pem: cluster.ca_pem().to_owned(),
        decision_cache_ttl: Duration::from_secs(600),
        seal_token_ttl: Duration::from_secs(3600),
        seal_tokens_per_owner: NonZeroU32::new(10).unwrap(),
        clock_skew: Duration::from_secs(30),
        rate_limit_per_minute: NonZeroU32::new(100).unwrap(),
    };
    let service = AccessService::new(
        settings,
        devnet.client().unwrap(),
        cluster.client().await.unwrap(),
        &mut Registry::default(),
    );
    // Warm answers, as in a master whose event follower is caught up.
    service.set_events_caught_up(true);
    let app = access::webhook_router(Arc::new(service));
    let bodies: Vec<Bytes> = (0..TOKENS)
        .map(|_| {
            let claims = Claims::new(
                seal,
                wallet.address(),
                AUDIENCE,
                unix_now_secs(),
                Duration::from_secs(900),
            )
            .unwrap();
            let token = AccessToken::sign(&wallet, &claims).unwrap();
            let review = TokenReview::request(token.into_string(), vec!["k3s".to_owned()]);
            Bytes::from(serde_json::to_vec(&review).unwrap())
        })
        .collect();
    let fixture = Fixture {
        _devnet: devnet,
        app,
        bodies,
    };
    // Cold: one chain review, then one signature check per token.
    for body in &fixture.bodies {
        assert!(answer(&fixture.app, body.clone()).await);
    }
    fixture
}

/// Posts one TokenReview; whether it was authenticated.
async fn answer(app: &Router, body: Bytes) -> bool {
    let request = Request::post("/authenticate")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let ok = response.status() == StatusCode::OK;
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    ok && bytes.windows(20).any(|w| w == b"\"authenticated\":true")
}

/// `CONCURRENCY` clients loop for `RUN`; returns answers/s and the sorted
/// latencies.
async fn throughput(fixture: &Fixture) -> (f64, Vec<Duration>) {
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..CONCURRENCY {
        let app = fixture.app.clone();
        let bodies = fixture.bodies.clone();
        clients.spawn(async move {
            let mut latencies = Vec::new();
            let mut i = client;
            while started.elapsed() < RUN {
                let body = bodies[i % bodies.len()].clone();
                let sent = Instant::now();
                assert!(answer(&app, body).await);
                latencies.push(sent.elapsed());
                i += 1;
            }
            latencies
        });
    }
    let mut all = Vec::new();
    while let Some(latencies) = clients.join_next().await {
        all.extend(latencies.unwrap());
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort();
    (rate, all)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn bench_tokenreview(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fixture = runtime.block_on(fixture());
    let (rate, latencies) = runtime.block_on(throughput(&fixture));
    println!(
        "tokenreview warm: {rate:.0} answers/s, p50 {:?}, p99 {:?}, max {:?} \
         ({} answers, {CONCURRENCY} in flight, {TOKENS} tokens, 2 worker threads)",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
        latencies.len(),
    );
    let body = fixture.bodies[0].clone();
    c.bench_function("tokenreview_warm_one_answer", |b| {
        b.iter(|| runtime.block_on(answer(&fixture.app, body.clone())));
    });
}

criterion_group!(benches, bench_tokenreview);
criterion_main!(benches);
