//! Audit events ingested: 400-event `EventList`s (the API server's default
//! batch) posted to the master's audit webhook router in process, each
//! parsed, deduplicated, appended and fsynced to a real file before its
//! 200, with checkpoints signed every 1,000 events as the master does.
//!
//! `cargo bench -p daas-master --bench audit`; target ≥ 5,000 events/s on
//! 2 cores. Prints events/s over a timed run, then criterion's figure for
//! one batch.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use criterion::{Criterion, criterion_group, criterion_main};
use daas_master::audit::{AuditLog, CheckpointPolicy, http};
use ed25519_dalek::SigningKey;
use sui_sdk_types::Address;
use tower::ServiceExt as _;

const BATCH: usize = 400;
const RUN: Duration = Duration::from_secs(5);

/// A metadata-level event list like the API server's, `BATCH` events.
fn batch(seq: u64) -> String {
    let items: Vec<String> = (0..BATCH)
        .map(|i| {
            format!(
                r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata",
                "auditID":"{seq:08x}-{i:04x}-4000-8000-000000000000","stage":"ResponseComplete",
                "requestURI":"/api/v1/namespaces/dev-1111/configmaps/settings-{i}","verb":"update",
                "user":{{"username":"sui:0x1111111111111111111111111111111111111111111111111111111111111111",
                "groups":["daas:developer","system:authenticated"]}},
                "sourceIPs":["10.0.0.7"],"userAgent":"kubectl/v1.34.0 (linux/amd64)",
                "objectRef":{{"resource":"configmaps","namespace":"dev-1111","name":"settings-{i}","apiVersion":"v1"}},
                "responseStatus":{{"metadata":{{}},"code":200}},
                "requestReceivedTimestamp":"2026-12-04T13:00:00.000000Z",
                "stageTimestamp":"2026-12-04T13:00:00.002000Z",
                "annotations":{{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC"}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{{}},"items":[{}]}}"#,
        items.join(",")
    )
}

async fn post(app: &Router, body: String) {
    let response = app
        .clone()
        .oneshot(
            Request::post(http::AUDIT_WEBHOOK_PATH)
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(
        dir.path(),
        SigningKey::from_bytes(&[7; 32]),
        CheckpointPolicy {
            events: 1000,
            interval: Duration::from_secs(2),
        },
    )
    .unwrap();
    // As if the replica's AuditLog were created on chain already.
    log.bind(Address::new([0xa2; 32])).unwrap();
    let log = Arc::new(log);
    let app = http::webhook_router(Arc::clone(&log));
    // Bodies are made before the clock starts: 250 batches, 100,000 events.
    let bodies: Vec<String> = (0..250).map(batch).collect();
    let mut seq = 250u64;

    // Timed run: batches one after another (the webhook sends one batch
    // at a time), signing checkpoints when due.
    let (events, elapsed) = runtime.block_on(async {
        let started = Instant::now();
        let mut events = 0usize;
        for body in bodies {
            if started.elapsed() >= RUN {
                break;
            }
            post(&app, body).await;
            events += BATCH;
            log.sign_if_due(Instant::now(), false).unwrap();
        }
        (events, started.elapsed())
    });
    println!(
        "audit ingest: {events} events in {elapsed:.2?}: {:.0} events/s (400-event batches, fsync each)",
        events as f64 / elapsed.as_secs_f64()
    );

    c.bench_function("audit webhook, one 400-event batch", |b| {
        b.iter(|| {
            seq += 1;
            let body = batch(seq);
            runtime.block_on(post(&app, body));
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
