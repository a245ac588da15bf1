//! Revocation at the master's authorization webhook, asked directly (no
//! API server answer cache in between): a staked user's requests get no
//! denial; once the user unstakes, the master follows the chain event and
//! drops its cached decision, so its answers turn to deny and never go
//! back to a stale allow. The API server caches answers for
//! `AUTHORIZATION_CACHE_TTL` on top (`cargo bench -p daas-e2e --bench
//! stack`, `revocation_ms`, measures the whole path).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use daas_e2e::load::{WebhookClient, staked_token_review};
use daas_e2e::stack::{Stack, StackOptions};
use serde_json::{Value, json};

/// Whether the master's answer to the review in `body` is a denial.
async fn denied(client: &WebhookClient, body: &Bytes) -> bool {
    let answer = client.post("/authorize", body.clone()).await.unwrap();
    answer["status"]["denied"] == Value::Bool(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unstaking_turns_the_cached_answer_into_a_denial() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    let client = WebhookClient::new(&stack.master).unwrap();
    let user = staked_token_review(&stack, &client, 0xa9).await.unwrap();
    // The SubjectAccessReview the API server sends for this user's
    // `kubectl get pods -n default`.
    let authenticated = &user.answer["status"]["user"];
    let review = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": authenticated["username"],
            "groups": authenticated["groups"],
            "extra": authenticated["extra"],
            "resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"},
        },
    });
    let body = Bytes::from(review.to_string());
    // Decided on chain once, then answered from the master's cache.
    for _ in 0..3 {
        assert!(!denied(&client, &body).await, "a staked user was denied");
    }

    stack
        .devnet
        .client()
        .unwrap()
        .request_unstake(&user.account.chain, user.seal)
        .await
        .unwrap();
    let unstaked = Instant::now();
    while !denied(&client, &body).await {
        assert!(
            unstaked.elapsed() < Duration::from_secs(30),
            "the master still had no objection 30 s after the unstake; master log:\n{}",
            stack.master.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "REVOCATION the master's webhook denied {} ms after the unstake's effects",
        unstaked.elapsed().as_millis()
    );
    // The cached allow is gone for good: no stale answer comes back.
    for _ in 0..20 {
        assert!(denied(&client, &body).await, "a stale allow came back");
    }
}
