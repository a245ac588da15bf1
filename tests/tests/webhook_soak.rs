//! Shortened soak of the TokenReview webhook: a running master (the
//! workspace's build) answers a staked user's TokenReview over HTTPS at a
//! fixed rate, from the load generator of `daas_e2e::load`, with no error, and
//! its RSS does not keep growing: after a warm-up at the same rate, the
//! RSS at the end is within a fixed allowance of the RSS after the warm-up.
//! The 10-minute, 5,000/s soak against the release master is
//! `DAAS_SOAK_SECS=600 cargo bench -p daas-e2e --bench webhook`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Duration;

use daas_e2e::load::{LoadRun, Pace, WebhookClient, rss_kib, staked_token_review};
use daas_e2e::stack::{Stack, StackOptions};

/// Requests per second per connection, and connections.
const RATE_PER_CONNECTION: u32 = 125;
const CONNECTIONS: usize = 4;
const WARM_UP: Duration = Duration::from_secs(10);
const SOAK: Duration = Duration::from_secs(40);
/// How much the RSS may grow after the warm-up (allocator and buffer
/// noise); a leak of 1 KiB per request would be about 20 MiB here.
const RSS_ALLOWANCE_KIB: u64 = 12 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokenreview_at_a_fixed_rate_has_no_errors_and_flat_rss() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let client = WebhookClient::new(&stack.master).unwrap();
    let body = staked_token_review(&stack, &client, 0xa8)
        .await
        .unwrap()
        .body;
    let pid = stack.master.pid().unwrap();
    let run = |duration| LoadRun {
        path: "/authenticate".to_owned(),
        body: Some(body.clone()),
        connections: CONNECTIONS,
        pace: Pace::PerSecond(RATE_PER_CONNECTION),
        duration,
    };

    let warm = client.run(&run(WARM_UP)).await.unwrap();
    let rss_start = rss_kib(pid).unwrap();
    let soak = client.run(&run(SOAK)).await.unwrap();
    let rss_end = rss_kib(pid).unwrap();
    println!(
        "SOAK {} requests at {:.0}/s, {} failed, p99 {:.2} ms; master RSS {rss_start} KiB after \
         the warm-up, {rss_end} KiB at the end",
        soak.requests, soak.per_second, soak.failed, soak.p99_ms
    );
    assert_eq!(warm.failed, 0, "warm-up: {warm:?}");
    assert_eq!(
        soak.failed,
        0,
        "soak: {soak:?}\n{}",
        stack.master.log_tail(40)
    );
    assert!(soak.succeeded > 0, "{soak:?}");
    assert!(
        rss_end <= rss_start + RSS_ALLOWANCE_KIB,
        "the master's RSS grew from {rss_start} KiB to {rss_end} KiB under a steady load"
    );
}
