//! Node admission against the real API server: minted bootstrap tokens
//! authenticate as `system:bootstrap:<id>` in K3s's node group until they
//! expire or are deleted, and registered nodes get their seal-token labels.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use daas_core::package::SealTokenId;
use daas_e2e::k3s::{self, Cluster};
use daas_master::admission::bootstrap_token::{
    BOOTSTRAP_TOKEN_TYPE, KUBE_SYSTEM, NODE_BOOTSTRAP_GROUP,
};
use daas_master::admission::{
    AdmissionError, CaHash, JoinToken, WorkerNode, delete_node_bootstrap_tokens, label_node,
    mint_bootstrap_token,
};
use daas_master::labels;
use k8s_openapi::api::authentication::v1::{SelfSubjectReview, UserInfo};
use k8s_openapi::api::core::v1::{Node, Secret};
use kube::api::{Api, PostParams};
use sha2::{Digest, Sha256};
use sui_sdk_types::Address;

fn worker(prefix: &str) -> WorkerNode {
    WorkerNode {
        name: format!("{prefix}-{}", k3s::unique_suffix())
            .parse()
            .unwrap(),
        seal_token: SealTokenId::new(Address::new(rand::random())),
        owner: Address::new(rand::random()),
    }
}

/// Who the API server says the bearer of `token` is.
async fn whoami(cluster: &Cluster, token: &str) -> Result<UserInfo, kube::Error> {
    let client = cluster.client_for_token(token).await.unwrap();
    let review = Api::<SelfSubjectReview>::all(client)
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await?;
    Ok(review.status.unwrap().user_info.unwrap())
}

/// The API server caches successful token authentications (10 s by
/// default, `tokenSuccessCacheTTL`) and reads bootstrap tokens through an
/// informer, so a deleted or expired token is refused a little later.
const AUTH_CACHE: Duration = Duration::from_secs(30);

/// Waits until the bearer of `token` is refused with 401.
async fn eventually_unauthorized(cluster: &Cluster, token: &str) {
    let deadline = std::time::Instant::now() + AUTH_CACHE;
    loop {
        match whoami(cluster, token).await {
            Err(kube::Error::Api(status)) if status.code == 401 => return,
            Ok(_) if std::time::Instant::now() < deadline => {}
            other => panic!("the token is still accepted or failed otherwise: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn minted_token_authenticates_as_a_k3s_bootstrapper() {
    let cluster = k3s::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let worker = worker("admit");
    let minted = mint_bootstrap_token(&client, &worker, Duration::from_secs(600))
        .await
        .unwrap();
    let join = JoinToken::new(
        CaHash::of_bundle(cluster.ca_pem().as_bytes()).unwrap(),
        minted.token.clone(),
    );

    // The join token carries the hash of the CA file's bytes, as K3s's does.
    let text = join.expose();
    let expected_hash = hex::encode(Sha256::digest(cluster.ca_pem().as_bytes()));
    assert!(text.starts_with(&format!("K10{expected_hash}::")));
    let parsed: JoinToken = text.parse().unwrap();
    assert!(!format!("{parsed:?}").contains(minted.token.secret()));

    let user = whoami(cluster, &parsed.bootstrap().bearer()).await.unwrap();
    assert_eq!(
        user.username.as_deref(),
        Some(format!("system:bootstrap:{}", minted.token.id()).as_str())
    );
    let groups = user.groups.unwrap_or_default();
    assert!(
        groups.iter().any(|g| g == NODE_BOOTSTRAP_GROUP),
        "{groups:?}"
    );
    assert!(
        groups.iter().any(|g| g == "system:bootstrappers"),
        "{groups:?}"
    );

    let secret = Api::<Secret>::namespaced(client.clone(), KUBE_SYSTEM)
        .get(&minted.token.secret_name())
        .await
        .unwrap();
    assert_eq!(secret.type_.as_deref(), Some(BOOTSTRAP_TOKEN_TYPE));
    let secret_labels = secret.metadata.labels.unwrap();
    assert_eq!(secret_labels[labels::NODE_LABEL], worker.name.as_str());
    let annotations = secret.metadata.annotations.unwrap();
    assert_eq!(
        annotations[labels::OWNER_ANNOTATION],
        worker.owner.to_string()
    );
    assert_eq!(
        annotations[labels::SEAL_TOKEN_ANNOTATION],
        worker.seal_token.to_string()
    );
}

#[tokio::test]
async fn deleted_token_no_longer_authenticates() {
    let cluster = k3s::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let worker = worker("admit-del");
    let first = mint_bootstrap_token(&client, &worker, Duration::from_secs(600))
        .await
        .unwrap();
    let second = mint_bootstrap_token(&client, &worker, Duration::from_secs(600))
        .await
        .unwrap();
    assert_ne!(first.token.id(), second.token.id());
    whoami(cluster, &first.token.bearer()).await.unwrap();

    let deleted = delete_node_bootstrap_tokens(&client, worker.name.as_str())
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    eventually_unauthorized(cluster, &first.token.bearer()).await;
    eventually_unauthorized(cluster, &second.token.bearer()).await;
    // Again: nothing left, not an error.
    assert_eq!(
        delete_node_bootstrap_tokens(&client, worker.name.as_str())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn expired_token_no_longer_authenticates() {
    let cluster = k3s::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let minted = mint_bootstrap_token(&client, &worker("admit-exp"), Duration::from_secs(2))
        .await
        .unwrap();
    whoami(cluster, &minted.token.bearer()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    eventually_unauthorized(cluster, &minted.token.bearer()).await;
}

#[tokio::test]
async fn node_is_labelled_when_it_registers() {
    let cluster = k3s::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let worker = worker("admit-node");
    let labelling = {
        let client = client.clone();
        let worker = worker.clone();
        tokio::spawn(async move { label_node(&client, &worker, Duration::from_secs(30)).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    Api::<Node>::all(client.clone())
        .create(
            &PostParams::default(),
            &daas_e2e::kwok::fake_node(worker.name.as_str()),
        )
        .await
        .unwrap();
    let node = labelling.await.unwrap().unwrap();
    let check = |node: &Node| {
        let node_labels = node.metadata.labels.clone().unwrap();
        assert_eq!(
            node_labels[labels::NODE_SEAL_TOKEN_LABEL],
            labels::seal_token_label_value(worker.seal_token)
        );
        let annotations = node.metadata.annotations.clone().unwrap();
        assert_eq!(
            annotations[labels::OWNER_ANNOTATION],
            worker.owner.to_string()
        );
        assert_eq!(
            annotations[labels::SEAL_TOKEN_ANNOTATION],
            worker.seal_token.to_string()
        );
    };
    check(&node);
    // Labelling an existing, labelled node again returns at once.
    let again = label_node(&client, &worker, Duration::from_secs(5))
        .await
        .unwrap();
    check(&again);
}

#[tokio::test]
async fn node_that_never_registers_times_out() {
    let cluster = k3s::shared().await.unwrap();
    let client = cluster.client().await.unwrap();
    let err = label_node(&client, &worker("admit-none"), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, AdmissionError::NodeNotRegistered { .. }),
        "{err}"
    );
}
