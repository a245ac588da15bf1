//! Warm TokenReview over HTTPS against a running `daas-master`, next to
//! `/healthz` on the same listener measured in the same run, from the
//! HTTP/2 load generator of `daas_e2e::load` with the API server's client
//! certificate. 32 requests in flight: 4 connections × 8 streams.
//!
//! With a master built with the `transport-floor` feature, each round also
//! measures the transport floor: the same TokenReview body posted to a
//! route that does no work and answers as many bytes as a TokenReview
//! answer (`daas_master::access::transport_floor`). Between `/healthz` and
//! the floor lies the cost of carrying the bigger request and answer;
//! between the floor and TokenReview, the handler's.
//!
//! Every run also reports the master's own CPU time per request and its
//! share of the machine's busy CPU (from `/proc`): the load generator
//! shares the machine, so requests per second also measure it, while the
//! CPU time per request is what the master itself spends.
//!
//! Release master: `cargo build --release -p daas-master --features
//! daas-master/transport-floor` (or without the feature: no floor), then
//! `DAAS_MASTER_BIN=target/release/daas-master cargo bench -p daas-e2e
//! --bench webhook` (the bench profile, not `--profile dev`: the load
//! generator runs in this process and must be optimized, or it, not the
//! master, sets the rate). Targets: TokenReview ≥ 0.8 of `/healthz` per second,
//! p99 ≤ 2 ms. `DAAS_BENCH_SECS` (default 10) per run, `DAAS_BENCH_ROUNDS`
//! (default 3) alternating rounds.
//!
//! Soak: `DAAS_SOAK_SECS=600` (and `DAAS_SOAK_RATE`, default 5000/s)
//! instead drives TokenReview at that fixed rate for that long and samples
//! the master's RSS every 10 s.
//!
//! Prints the figures and writes them to
//! `target/bench-results/webhook.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use daas_e2e::load::{
    CpuUse, LoadReport, LoadRun, Pace, WARM_UP, WebhookClient, rss_kib, staked_token_review,
};
use daas_e2e::stack::{Stack, StackOptions};
use http::StatusCode;
use serde_json::{Value, json};

const CONNECTIONS: usize = 4;
const STREAMS: usize = 8;
/// Connections of the soak (each at rate / SOAK_CONNECTIONS per second).
const SOAK_CONNECTIONS: usize = 10;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn figures(report: &LoadReport) -> Value {
    json!({
        "per_second": report.per_second,
        "p50_ms": report.p50_ms,
        "p99_ms": report.p99_ms,
        "requests": report.requests,
        "failed": report.failed,
        "first_failure": report.first_failure,
    })
}

// One thread: the load generator takes at most one core and pays no
// cross-thread wake-ups, leaving the master the rest of the machine (with
// two, the master had half of the busy CPU; with one, 60–65 %).
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let client = WebhookClient::new(&stack.master).unwrap();
    let staked = staked_token_review(&stack, &client, 0xa7).await.unwrap();
    let answer_bytes = staked.answer.to_string().len();
    let body = staked.body;
    let results_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results");
    std::fs::create_dir_all(&results_dir).unwrap();
    let results = match std::env::var("DAAS_SOAK_SECS") {
        Ok(secs) => soak(&stack, &client, body, secs.parse().unwrap()).await,
        Err(_) => compare(&stack, &client, body, answer_bytes).await,
    };
    println!("{}", serde_json::to_string_pretty(&results).unwrap());
    std::fs::write(results_dir.join("webhook.json"), results.to_string()).unwrap();
}

/// One run, with the master's CPU time per request (over the warm-up and
/// the measured window, at the measured rate) and its share of the
/// machine's busy CPU.
async fn measured(client: &WebhookClient, run: &LoadRun, pid: u32) -> (LoadReport, Value) {
    let before = CpuUse::of(pid).unwrap();
    let report = client.run(run).await.unwrap();
    let used = before.until(&CpuUse::of(pid).unwrap());
    let requests = report.per_second * (run.duration + WARM_UP).as_secs_f64();
    let mut figures = figures(&report);
    figures["master_cpu_us_per_request"] = json!(used.process.as_secs_f64() * 1e6 / requests);
    figures["master_share_of_busy_cpu"] =
        json!(used.process.as_secs_f64() / used.machine.as_secs_f64());
    (report, figures)
}

/// Alternating rounds of `/healthz`, TokenReview and (when the master
/// serves it) the transport floor, as fast as they go.
async fn compare(stack: &Stack, client: &WebhookClient, body: Bytes, answer_bytes: usize) -> Value {
    let pid = stack.master.pid().unwrap();
    let duration = Duration::from_secs(env_u64("DAAS_BENCH_SECS", 10));
    let run = |path: &str, body: Option<Bytes>| LoadRun {
        path: path.to_owned(),
        body,
        connections: CONNECTIONS,
        pace: Pace::Streams(STREAMS),
        duration,
    };
    let healthz = run("/healthz", None);
    let tokenreview = run("/authenticate", Some(body.clone()));
    // A POST-only route answers a GET 405; an absent one 404.
    let probe = client
        .open()
        .await
        .unwrap()
        .get("/transport-floor")
        .await
        .unwrap();
    let floor = (probe == StatusCode::METHOD_NOT_ALLOWED).then(|| {
        run(
            &format!("/transport-floor?bytes={answer_bytes}"),
            Some(body.clone()),
        )
    });
    println!(
        "TokenReview: {} bytes asked, {answer_bytes} answered; transport floor: {}",
        body.len(),
        if floor.is_some() {
            "measured"
        } else {
            "not served (build the master with --features transport-floor)"
        }
    );
    let mut rounds = Vec::new();
    for round in 0..env_u64("DAAS_BENCH_ROUNDS", 3) {
        let (reference, reference_figures) = measured(client, &healthz, pid).await;
        let (review, review_figures) = measured(client, &tokenreview, pid).await;
        assert_eq!(reference.failed, 0, "/healthz: {reference:?}");
        assert_eq!(review.failed, 0, "TokenReview: {review:?}");
        let ratio = review.per_second / reference.per_second;
        println!(
            "round {round}: TokenReview {:.0}/s p50 {:.2} ms p99 {:.2} ms (master {} µs CPU \
             per request, {} of busy CPU); /healthz {:.0}/s p50 {:.2} ms p99 {:.2} ms (master \
             {} µs, {}); ratio {ratio:.2}",
            review.per_second,
            review.p50_ms,
            review.p99_ms,
            review_figures["master_cpu_us_per_request"],
            review_figures["master_share_of_busy_cpu"],
            reference.per_second,
            reference.p50_ms,
            reference.p99_ms,
            reference_figures["master_cpu_us_per_request"],
            reference_figures["master_share_of_busy_cpu"],
        );
        let mut round_figures = json!({
            "tokenreview": review_figures,
            "healthz": reference_figures,
            "ratio": ratio,
        });
        if let Some(floor) = &floor {
            let (bare, bare_figures) = measured(client, floor, pid).await;
            assert_eq!(bare.failed, 0, "transport floor: {bare:?}");
            println!(
                "round {round}: transport floor {:.0}/s p99 {:.2} ms (master {} µs): {:.2} of \
                 /healthz; TokenReview {:.2} of the floor",
                bare.per_second,
                bare.p99_ms,
                bare_figures["master_cpu_us_per_request"],
                bare.per_second / reference.per_second,
                review.per_second / bare.per_second,
            );
            round_figures["transport_floor"] = bare_figures;
            round_figures["floor_ratio"] = json!(bare.per_second / reference.per_second);
        }
        rounds.push(round_figures);
    }
    json!({ "in_flight": CONNECTIONS * STREAMS, "rounds": rounds })
}

/// TokenReview at a fixed rate for `secs`, the master's RSS sampled.
async fn soak(stack: &Stack, client: &WebhookClient, body: Bytes, secs: u64) -> Value {
    let rate = env_u64("DAAS_SOAK_RATE", 5000);
    let pid = stack.master.pid().unwrap();
    let run = LoadRun {
        path: "/authenticate".to_owned(),
        body: Some(body),
        connections: SOAK_CONNECTIONS,
        pace: Pace::PerSecond(u32::try_from(rate / SOAK_CONNECTIONS as u64).unwrap()),
        duration: Duration::from_secs(secs),
    };
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        loop {
            match rss_kib(pid) {
                Ok(kib) => samples.push(kib),
                Err(_) => return samples,
            }
            tokio::select! {
                _ = &mut stopped => return samples,
                () = tokio::time::sleep(Duration::from_secs(10)) => {}
            }
        }
    });
    let report = client.run(&run).await.unwrap();
    let rss_end = rss_kib(pid).unwrap();
    let _ = stop.send(());
    let samples = sampler.await.unwrap();
    let samples: Vec<u64> = samples.into_iter().chain([rss_end]).collect();
    println!(
        "soak: {} requests in {secs} s ({:.0}/s), {} failed, p99 {:.2} ms; master RSS KiB \
         start {} end {rss_end} min {} max {}",
        report.requests,
        report.per_second,
        report.failed,
        report.p99_ms,
        samples.first().copied().unwrap_or(0),
        samples.iter().min().copied().unwrap_or(0),
        samples.iter().max().copied().unwrap_or(0),
    );
    json!({
        "soak_secs": secs,
        "rate": rate,
        "tokenreview": figures(&report),
        "rss_kib_every_10s": samples,
    })
}
