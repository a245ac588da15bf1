//! Helpers of the access tests: staked users on a devnet, an access
//! service on the real API server, and in-process calls of its routers.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use daas_core::access::token::signing_bytes;
use daas_core::access::tokenreview::{TokenReview, TokenReviewStatus};
use daas_core::access::{AccessToken, Claims, unix_now_secs};
use daas_core::chain::TransactionSigner;
use daas_core::package::{Mist, Role, SealTokenId};
use daas_core::wallet::{Keypair, Scheme};
use daas_e2e::devnet::Devnet;
use daas_e2e::k3s::{self, Cluster};
use daas_master::access::{self, AccessService, AccessSettings};
use http_body_util::BodyExt as _;
use prometheus_client::registry::Registry;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::Address;
use tower::ServiceExt as _;

pub const SUI: u64 = 1_000_000_000;
pub const AUDIENCE: &str = "https://daas-access-test:6443";

/// A key as the chain client and the wallet use it.
pub struct User {
    pub chain: Ed25519PrivateKey,
    pub wallet: Keypair,
}

impl User {
    /// The user of key `[seed; 32]`, funded.
    pub async fn funded(devnet: &Devnet, seed: u8) -> Self {
        let chain = Ed25519PrivateKey::new([seed; 32]);
        let wallet = Keypair::from_bytes(Scheme::Ed25519, &[seed; 32]).unwrap();
        assert_eq!(TransactionSigner::address(&chain), wallet.address());
        devnet.fund(wallet.address()).await.unwrap();
        Self { chain, wallet }
    }

    pub fn address(&self) -> Address {
        self.wallet.address()
    }

    /// Stakes `mist` for a seal token of `role`.
    pub async fn stake(&self, devnet: &Devnet, mist: u64, role: Role) -> SealTokenId {
        let node = if role == Role::Worker { "node-a" } else { "" };
        devnet
            .client()
            .unwrap()
            .stake_and_mint(&self.chain, Mist::new(mist), role, node)
            .await
            .unwrap()
            .token
    }

    /// A `daas1.` token for `seal`, owner this user, issued now.
    pub fn token(&self, seal: SealTokenId) -> String {
        self.token_with(seal, self.address(), AUDIENCE, unix_now_secs())
    }

    /// A `daas1.` token for `seal` issued now that lives `secs` seconds.
    pub fn token_lasting(&self, seal: SealTokenId, secs: u64) -> String {
        let claims = Claims::new(
            seal,
            self.address(),
            AUDIENCE,
            unix_now_secs(),
            Duration::from_secs(secs),
        )
        .unwrap();
        AccessToken::sign(&self.wallet, &claims)
            .unwrap()
            .into_string()
    }

    /// A token claiming `owner` but signed by this user's key, assembled
    /// by hand (the signing API refuses to make one).
    pub fn token_claiming(&self, seal: SealTokenId, owner: Address) -> String {
        let claims = Claims::new(
            seal,
            owner,
            AUDIENCE,
            unix_now_secs(),
            Duration::from_secs(600),
        )
        .unwrap();
        let payload = signing_bytes(&claims).unwrap();
        let signature = self.wallet.sign_personal_message(&payload).unwrap();
        format!(
            "daas1.{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(signature.as_bytes())
        )
    }

    /// A token with chosen claims, signed by this user's key.
    pub fn token_with(
        &self,
        seal: SealTokenId,
        owner: Address,
        audience: &str,
        issued_at: u64,
    ) -> String {
        let claims =
            Claims::new(seal, owner, audience, issued_at, Duration::from_secs(600)).unwrap();
        AccessToken::sign(&self.wallet, &claims)
            .unwrap()
            .into_string()
    }
}

/// Settings for tests: a long decision TTL (so only invalidation ends a
/// cached decision), generous rate limit.
pub fn settings(cluster: &Cluster) -> AccessSettings {
    AccessSettings {
        audience: AUDIENCE.to_owned(),
        api_server_url: cluster.server().to_owned(),
        cluster_ca_pem: cluster.ca_pem().to_owned(),
        decision_cache_ttl: Duration::from_secs(300),
        seal_token_ttl: Duration::from_secs(3600),
        seal_tokens_per_owner: NonZeroU32::new(10).unwrap(),
        clock_skew: Duration::from_secs(30),
        rate_limit_per_minute: NonZeroU32::new(1000).unwrap(),
    }
}

/// An access service on `devnet` and the shared API server, and the app
/// of both its routers.
pub struct Master {
    pub service: Arc<AccessService>,
    pub app: Router,
    pub registry: Registry,
}

impl Master {
    /// On the shared API server; as if its event follower were caught up
    /// (the tests invalidate by hand).
    pub async fn start(devnet: &Devnet, settings: AccessSettings) -> Self {
        let cluster = k3s::shared().await.unwrap();
        Self::start_with(devnet, settings, cluster.client().await.unwrap())
    }

    /// With `kube` as its cluster client.
    pub fn start_with(devnet: &Devnet, settings: AccessSettings, kube: kube::Client) -> Self {
        let mut registry = Registry::default();
        let service = Arc::new(AccessService::new(
            settings,
            devnet.client().unwrap(),
            kube,
            &mut registry,
        ));
        service.set_events_caught_up(true);
        let app = access::router(Arc::clone(&service))
            .merge(access::webhook_router(Arc::clone(&service)));
        Self {
            service,
            app,
            registry,
        }
    }

    /// Calls the app.
    pub async fn call(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
        call(&self.app, request).await
    }

    /// Posts a TokenReview for `token` and returns its status.
    pub async fn review(&self, token: &str) -> TokenReviewStatus {
        let review = TokenReview::request(token, vec!["https://kubernetes.default.svc".into()]);
        let (status, _, body) = self
            .call(json_request(Method::POST, "/authenticate", &review))
            .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let answer: TokenReview = serde_json::from_slice(&body).unwrap();
        answer.status.unwrap()
    }

    /// Posts a SubjectAccessReview for the user a TokenReview answered.
    pub async fn authorize(&self, status: &TokenReviewStatus) -> serde_json::Value {
        let user = status.user.clone().unwrap();
        let body = serde_json::json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user.username,
                "groups": user.groups,
                "extra": user.extra,
                "resourceAttributes": { "verb": "get", "resource": "pods", "namespace": "default" }
            }
        });
        let (code, _, body) = self
            .call(json_request(Method::POST, "/authorize", &body))
            .await;
        assert_eq!(code, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["status"].clone()
    }
}

/// Calls `app` in process.
pub async fn call(app: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

/// A JSON request.
pub fn json_request(method: Method, uri: &str, body: &impl serde::Serialize) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap()
}

/// A request with `Authorization: Bearer token`.
pub fn bearer_request(method: Method, uri: &str, token: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

/// The `error` of a JSON error body.
pub fn error_of(body: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)));
    value["error"].as_str().unwrap().to_owned()
}

/// Waits until RBAC lets `user` in `groups` list pods in `default` (the
/// authorizer's caches follow new bindings with a delay).
pub async fn wait_until_can_list_pods(cluster: &Cluster, user: &str, groups: &[String]) {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
    };
    let api: kube::Api<SubjectAccessReview> = kube::Api::all(cluster.client().await.unwrap());
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_owned()),
            groups: Some(groups.to_vec()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some("list".to_owned()),
                resource: Some("pods".to_owned()),
                namespace: Some("default".to_owned()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    for _ in 0..100 {
        let answer = api
            .create(&kube::api::PostParams::default(), &review)
            .await
            .unwrap();
        if answer.status.is_some_and(|s| s.allowed) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("RBAC never allowed {user} to list pods");
}
