//! The master's access feature against a real devnet and the real API
//! server: TokenReview and SubjectAccessReview webhooks, revocation,
//! opaque seal tokens, the Kubernetes API proxy and the kubeconfig, called
//! in process through the routers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/access.rs"]
mod support;

use std::num::NonZeroU32;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::routing::get;
use daas_core::access::kubeconfig;
use daas_core::access::review::{
    EXTRA_OPAQUE_TOKEN, EXTRA_SEAL_TOKEN, EXTRA_STAKE_MIST, EXTRA_TIER, USERS_GROUP,
};
use daas_core::access::tokenreview::TokenReview;
use daas_core::access::{OpaqueToken, unix_now_secs};
use daas_core::package::{Role, SealTokenId};
use daas_e2e::devnet::Devnet;
use daas_e2e::k3s;
use daas_master::access::SEAL_TOKENS_PATH;
use daas_master::access::cache::BEHIND_DECISION_TTL;
use daas_master::access::seal_token_store::{
    self, KEY_EXPIRES_AT, KEY_HASH, KEY_OWNER, KEY_SEAL_TOKEN, KEY_TAG, RECORD_DOMAIN,
    SECRET_NAMESPACE,
};
use daas_master::access::seal_tokens::{IssuedSealToken, SealTokenList};
use daas_master::rbac;
use daas_master::record_key::RecordKey;
use http_body_util::BodyExt as _;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use sui_sdk_types::Address;
use support::{
    AUDIENCE, Master, SUI, User, bearer_request, call, error_of, json_request, settings,
};
use tower::ServiceExt as _;

fn status_error(status: &daas_core::access::tokenreview::TokenReviewStatus) -> String {
    assert!(!status.authenticated, "unexpectedly authenticated");
    status.error.clone().unwrap()
}

#[tokio::test]
async fn staked_users_get_their_tier_groups_and_extra() {
    let devnet = Devnet::start().await.unwrap();
    let cluster = k3s::shared().await.unwrap();
    let master = Master::start(&devnet, settings(cluster)).await;
    for (seed, mist, tier) in [
        (0x51, SUI / 2, "viewer"),
        (0x52, 2 * SUI, "developer"),
        (0x53, 5 * SUI, "admin"),
        (0x54, 10 * SUI, "super"),
    ] {
        let user = User::funded(&devnet, seed).await;
        let seal = user.stake(&devnet, mist, Role::User).await;
        let status = master.review(&user.token(seal)).await;
        assert!(status.authenticated, "{tier}: {:?}", status.error);
        let info = status.user.clone().unwrap();
        assert_eq!(info.username, format!("sui:{}", user.address()));
        assert_eq!(info.uid, info.username);
        assert_eq!(
            info.groups,
            [format!("k3s-daas:{tier}"), USERS_GROUP.to_owned()]
        );
        assert_eq!(info.extra[EXTRA_SEAL_TOKEN], [seal.to_string()]);
        assert_eq!(info.extra[EXTRA_STAKE_MIST], [mist.to_string()]);
        assert_eq!(info.extra[EXTRA_TIER], [tier]);
        // Asked for the API server's audiences only, the answer names none.
        assert!(status.audiences.is_empty(), "{:?}", status.audiences);
        // The authorizer has no opinion about an allowed user: RBAC decides.
        let verdict = master.authorize(&status).await;
        assert_eq!(verdict, serde_json::json!({ "allowed": false }), "{tier}");
        if tier == "developer" {
            // The developer's own namespace was created on demand.
            let namespaces: Api<Namespace> = Api::all(cluster.client().await.unwrap());
            let name = daas_core::access::review::user_namespace(user.address());
            assert!(namespaces.get_opt(&name).await.unwrap().is_some());
        }
    }
    // A warm review is answered from the caches.
    let user = User::funded(&devnet, 0x55).await;
    let token = user.token(user.stake(&devnet, SUI, Role::User).await);
    assert!(master.review(&token).await.authenticated);
    assert!(master.review(&token).await.authenticated);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &master.registry).unwrap();
    for line in [
        "access_tokenreview_requests_total{result=\"allowed\"} 6",
        "access_cache_lookups_total{cache=\"credential\",outcome=\"hit\"} 1",
        "access_cache_lookups_total{cache=\"decision\",outcome=\"hit\"} 5",
    ] {
        assert!(text.contains(line), "{line} missing in {text}");
    }
}

#[tokio::test]
async fn wrong_expired_foreign_and_worker_tokens_are_refused() {
    let devnet = Devnet::start().await.unwrap();
    let cluster = k3s::shared().await.unwrap();
    let master = Master::start(&devnet, settings(cluster)).await;
    let alice = User::funded(&devnet, 0x61).await;
    let bob = User::funded(&devnet, 0x62).await;
    let seal = alice.stake(&devnet, SUI, Role::User).await;
    let now = unix_now_secs();

    // Signed by bob's key, claiming alice as the owner.
    let wrong_key = bob.token_claiming(seal, alice.address());
    assert!(status_error(&master.review(&wrong_key).await).contains("not by its owner"));
    // Expired (issued 20 minutes ago, lived 10).
    let expired = alice.token_with(seal, alice.address(), AUDIENCE, now - 1200);
    assert!(status_error(&master.review(&expired).await).contains("expired"));
    // For another cluster.
    let other = alice.token_with(seal, alice.address(), "https://elsewhere:6443", now);
    assert!(status_error(&master.review(&other).await).contains("audience"));
    // Bob's own valid token naming alice's seal token.
    let foreign = bob.token(seal);
    assert!(status_error(&master.review(&foreign).await).contains("not by the signer"));
    // A worker seal token.
    let worker = bob.stake(&devnet, 5 * SUI, Role::Worker).await;
    assert!(status_error(&master.review(&bob.token(worker)).await).contains("worker"));
    // No such seal token.
    let unknown = SealTokenId::new(Address::new([0x42; 32]));
    assert!(status_error(&master.review(&alice.token(unknown)).await).contains("does not exist"));
    // Garbage, an unknown opaque token, nothing.
    assert!(status_error(&master.review("hello").await).contains("not a K3s-DaaS token"));
    assert!(status_error(&master.review(&"ab".repeat(32)).await).contains("unknown"));
    assert!(status_error(&master.review("").await).contains("no bearer token"));
    // The proxy refuses the same tokens with a 401 naming why.
    let (code, _, body) = master
        .call(bearer_request(Method::GET, "/api/v1/pods", &foreign))
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert!(error_of(&body).contains("not by the signer"));
}

#[tokio::test]
async fn malformed_reviews_are_4xx_json() {
    let devnet = Devnet::start().await.unwrap();
    let cluster = k3s::shared().await.unwrap();
    let master = Master::start(&devnet, settings(cluster)).await;
    let raw = |uri: &str, content_type: &str, body: &str| {
        Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    for uri in ["/authenticate", "/authorize"] {
        for (request, expected) in [
            (raw(uri, "application/json", "{"), StatusCode::BAD_REQUEST),
            (
                raw(uri, "text/plain", "{}"),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                raw(uri, "application/json", "{}"),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                raw(uri, "application/json", &"x".repeat(100_000)),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            (
                raw(
                    uri,
                    "application/json",
                    r#"{"apiVersion":"v1","kind":"Pod","spec":{}}"#,
                ),
                StatusCode::BAD_REQUEST,
            ),
        ] {
            let (code, _, body) = master.call(request).await;
            assert_eq!(code, expected, "{uri}: {}", String::from_utf8_lossy(&body));
            assert!(!error_of(&body).is_empty());
        }
    }
    // A SubjectAccessReview without spec.
    let (code, _, body) = master
        .call(raw(
            "/authorize",
            "application/json",
            r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview"}"#,
        ))
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(error_of(&body).contains("spec"));
    // Users that are not `sui:` are none of the authorizer's business;
    // `sui:` users without a seal token are denied.
    for (user, extra, denied) in [
        ("alice", serde_json::json!({}), false),
        ("sui:0x1", serde_json::json!({}), true),
        (
            "sui:nonsense",
            serde_json::json!({ EXTRA_SEAL_TOKEN: ["0x1"] }),
            true,
        ),
        // Well-formed, but naming no request to judge.
        (
            "sui:0x1",
            serde_json::json!({ EXTRA_SEAL_TOKEN: ["0x1"], EXTRA_TIER: ["viewer"] }),
            true,
        ),
    ] {
        let review = serde_json::json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": { "user": user, "extra": extra }
        });
        let (code, _, body) = master
            .call(json_request(Method::POST, "/authorize", &review))
            .await;
        assert_eq!(code, StatusCode::OK);
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(answer["status"]["allowed"], false);
        assert_eq!(
            answer["status"]["denied"].as_bool().unwrap_or(false),
            denied,
            "{user}"
        );
    }
}

#[tokio::test]
async fn unstake_and_invalidation_deny_the_cached_token() {
    let devnet = Devnet::start().await.unwrap();
    let cluster = k3s::shared().await.unwrap();
    let master = Master::start(&devnet, settings(cluster)).await;
    let alice = User::funded(&devnet, 0x71).await;
    let seal = alice.stake(&devnet, 2 * SUI, Role::User).await;
    let token = alice.token(seal);
    let allowed = master.review(&token).await;
    assert!(allowed.authenticated);
    let opaque = issue(&master, &token).await;
    assert!(master.review(&opaque.seal_token).await.authenticated);

    devnet
        .client()
        .unwrap()
        .request_unstake(&alice.chain, seal)
        .await
        .unwrap();
    // The decision is cached for 300 s: still allowed until the
    // reconciler reports the event.
    assert!(master.review(&token).await.authenticated);
    master.service.invalidate_seal_token(seal);
    let denied = master.review(&token).await;
    assert!(status_error(&denied).contains("unbonding"), "{denied:?}");
    // The opaque token of the same seal token is denied too.
    assert!(status_error(&master.review(&opaque.seal_token).await).contains("unbonding"));
    // The API server's cached authentication is denied by the authorizer.
    let verdict = master.authorize(&allowed).await;
    assert_eq!(verdict["denied"], true, "{verdict}");
    assert!(verdict["reason"].as_str().unwrap().contains("unbonding"));
    // invalidate_all also ends a cached decision.
    let bob = User::funded(&devnet, 0x72).await;
    let bobs = bob.stake(&devnet, SUI, Role::User).await;
    assert!(master.review(&bob.token(bobs)).await.authenticated);
    devnet
        .client()
        .unwrap()
        .request_unstake(&bob.chain, bobs)
        .await
        .unwrap();
    master.service.invalidate_all();
    assert!(!master.review(&bob.token(bobs)).await.authenticated);
}

#[tokio::test]
async fn seal_token_expiry_follows_the_chain_clock() {
    let devnet = Devnet::start().await.unwrap();
    let cluster = k3s::shared().await.unwrap();
    let master = Master::start(&devnet, settings(cluster)).await;
    let alice = User::funded(&devnet, 0x73).await;
    let seal = alice.stake(&devnet, SUI, Role::User).await;
    assert!(master.review(&alice.token(seal)).await.authenticated);
    // 31 days later on chain (the clock shows it from the next checkpoint).
    devnet.advance_clock(31 * 24 * 3600 * 1000).await.unwrap();
    User::funded(&devnet, 0x74).await;
    master.service.invalidate_all();
    let status = master.review(&alice.token(seal)).await;
    assert!(status_error(&status).contains("expired"), "{status:?}");
}

async fn issue(master: &Master, token: &str) -> IssuedSealToken {
    let (code, _, body) = master
        .call(bearer_request(Method::POST, SEAL_TOKENS_PATH, token))
        .await;
    assert_eq!(
        code,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn opaque_seal_tokens_are_stored_hashed_and_shared() {
    let devnet = Devnet::start().await.unwrap();
    let cluster = k3s::shared().await.unwrap();
    let master = Master::start(&devnet, settings(cluster)).await;
    let alice = User::funded(&devnet, 0x81).await;
    let seal = alice.stake(&devnet, 5 * SUI, Role::User).await;
    let token = alice.token(seal);

    let issued = issue(&master, &token).await;
    assert_eq!(issued.seal_token.len(), 64);
    assert_eq!(issued.seal_token_id, seal);
    assert_eq!(issued.owner, alice.address());
    let now = unix_now_secs();
    assert!((now + 3590..=now + 3600).contains(&issued.expires_at));

    // It authenticates as the same user as the access token...
    let by_token = master.review(&token).await.user.unwrap();
    // plus the opaque token's id, for the authorization webhook.
    let mut by_opaque = master.review(&issued.seal_token).await.user.unwrap();
    let id = by_opaque.extra.remove(EXTRA_OPAQUE_TOKEN).unwrap();
    assert_eq!(id, std::slice::from_ref(&issued.id));
    assert_eq!(by_opaque, by_token);

    // Stored only as its hash.
    let opaque = daas_core::access::OpaqueToken::parse(&issued.seal_token).unwrap();
    let secrets: Api<Secret> = Api::namespaced(cluster.client().await.unwrap(), SECRET_NAMESPACE);
    let secret = secrets
        .get(&seal_token_store::secret_name(opaque.hash()))
        .await
        .unwrap();
    let stored = serde_json::to_string(&secret).unwrap();
    assert!(!stored.contains(&issued.seal_token));
    let data = secret.data.unwrap();
    assert_eq!(data[KEY_HASH].0, opaque.hash().to_string().into_bytes());
    let labels = secret.metadata.labels.unwrap();
    assert_eq!(labels["app.kubernetes.io/managed-by"], "k3s-daas-master");

    // Another master sharing the cluster accepts it.
    let second = Master::start(&devnet, settings(cluster)).await;
    assert!(second.review(&issued.seal_token).await.authenticated);

    // Opaque tokens do not mint opaque tokens; anonymous callers get none.
    let (code, _, body) = master
        .call(bearer_request(
            Method::POST,
            SEAL_TOKENS_PATH,
            &issued.seal_token,
        ))
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert!(error_of(&body).contains("daas1"));
    let (code, _, _) = master
        .call(Request::post(SEAL_TOKENS_PATH).body(Body::empty()).unwrap())
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);

    // A short-lived token expires, is refused and its Secret deleted.
    let mut short = settings(cluster);
    short.seal_token_ttl = Duration::from_secs(2);
    let third = Master::start(&devnet, short).await;
    let brief = issue(&third, &alice.token(seal)).await;
    assert!(third.review(&brief.seal_token).await.authenticated);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let fresh = Master::start(&devnet, settings(cluster)).await;
    assert!(status_error(&fresh.review(&brief.seal_token).await).contains("expired"));
    let hash = daas_core::access::OpaqueToken::parse(&brief.seal_token)
        .unwrap()
        .hash();
    let name = seal_token_store::secret_name(hash);
    let mut gone = false;
    for _ in 0..50 {
        if secrets.get_opt(&name).await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the expired token's Secret was not deleted");

    // The sweep deletes what expired, tokens and issuance markers, without
    // anyone presenting them (test-only: it sweeps up to 10 s ahead, which
    // no other test's records reach).
    let unswept = issue(&third, &alice.token_lasting(seal, 5)).await;
    let report = third
        .service
        .sweep_expired_seal_tokens(unix_now_secs() + 10)
        .await
        .unwrap();
    assert!(report.tokens >= 1 && report.markers >= 1, "{report:?}");
    let hash = daas_core::access::OpaqueToken::parse(&unswept.seal_token)
        .unwrap()
        .hash();
    let name = seal_token_store::secret_name(hash);
    assert!(secrets.get_opt(&name).await.unwrap().is_none());
    assert!(status_error(&third.review(&unswept.seal_token).await).contains("unknown"));
    // Sweeping again finds nothing more of this test's.
    let again = third
        .service
        .sweep_expired_seal_tokens(unix_now_secs())
        .await
        .unwrap();
    assert_eq!(again.tokens, 0, "{again:?}");
}

#[tokio::test]
async fn the_proxy_impersonates_the_caller_and_nobody_else() {
    let devnet = Devnet::start().await.unwrap();
    let cluster = k3s::shared().await.unwrap();
    rbac::ensure_tier_bindings(&cluster.client().await.unwrap())
        .await
        .unwrap();
    let mut limited = settings(cluster);
    limited.rate_limit_per_minute = NonZeroU32::new(5).unwrap();
    let master = Master::start(&devnet, limited).await;
    let viewer = User::funded(&devnet, 0x91).await;
    let seal = viewer.stake(&devnet, SUI / 2, Role::User).await;
    let token = viewer.token(seal);
    let groups = ["k3s-daas:viewer".to_owned(), USERS_GROUP.to_owned()];
    let username = format!("sui:{}", viewer.address());
    support::wait_until_can_list_pods(cluster, &username, &groups).await;

    // 1: a viewer lists pods.
    let (code, headers, body) = master
        .call(bearer_request(
            Method::GET,
            "/api/v1/namespaces/default/pods",
            &token,
        ))
        .await;
    assert_eq!(code, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .contains("json")
    );
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(list["kind"], "PodList");

    // 2: and cannot read Secrets, even claiming system:masters.
    let mut request = bearer_request(
        Method::GET,
        "/api/v1/namespaces/kube-system/secrets",
        &token,
    );
    for (name, value) in [
        ("Impersonate-User", "system:admin"),
        ("Impersonate-Group", "system:masters"),
    ] {
        request.headers_mut().append(name, value.parse().unwrap());
    }
    let (code, _, body) = master.call(request).await;
    assert_eq!(
        code,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("sui:{}", viewer.address())),
        "{message}"
    );

    // 3: nor create pods.
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "viewer-pod" },
        "spec": { "containers": [{ "name": "c", "image": "busybox" }] }
    });
    let mut request = json_request(Method::POST, "/api/v1/namespaces/default/pods", &pod);
    request.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    let (code, _, _) = master.call(request).await;
    assert_eq!(code, StatusCode::FORBIDDEN);

    // 4: discovery at exactly /apis.
    let (code, _, body) = master
        .call(bearer_request(Method::GET, "/apis", &token))
        .await;
    assert_eq!(code, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("APIGroupList"));

    // 5: the limit is 5 a minute.
    let (code, headers, body) = master
        .call(bearer_request(Method::GET, "/api", &token))
        .await;
    assert_eq!(code, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let (code, headers2, body) = master
        .call(bearer_request(Method::GET, "/api", &token))
        .await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{headers:?}");
    assert!(headers2.contains_key(header::RETRY_AFTER));
    assert!(error_of(&body).contains("rate limit"));

    // A watch streams: its first event arrives long before the watch ends.
    let unlimited = Master::start(&devnet, settings(cluster)).await;
    let started = std::time::Instant::now();
    let response = unlimited
        .app
        .clone()
        .oneshot(bearer_request(
            Method::GET,
            "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=20",
            &token,
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(String::from_utf8_lossy(&frame).contains("\"ADDED\""));
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(body);

    // No token: 401 JSON.
    let (code, _, body) = master
        .call(Request::get("/api/v1/pods").body(Body::empty()).unwrap())
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert!(error_of(&body).contains("Bearer"));
}

#[tokio::test]
async fn static_master_routes_win_over_the_proxy() {
    let devnet = Devnet::start().await.unwrap();
    let cluster = k3s::shared().await.unwrap();
    let master = Master::start(&devnet, settings(cluster)).await;
    let app = daas_master::http::app(
        Router::new()
            .route("/api/v1/x", get(|| async { "static" }))
            .merge(master.app.clone()),
    );
    let (code, _, body) = call(&app, Request::get("/api/v1/x").body(Body::empty()).unwrap()).await;
    assert_eq!((code, &body[..]), (StatusCode::OK, &b"static"[..]));
    let (code, _, body) = call(
        &app,
        Request::get("/api/v1/pods").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        code,
        StatusCode::UNAUTHORIZED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    // A method the static route does not serve is the static route's 405.
    let (code, _, _) = call(
        &app,
        Request::delete("/api/v1/x").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn kubectl_config_names_the_plugin() {
    let devnet = Devnet::start().await.unwrap();
    let cluster = k3s::shared().await.unwrap();
    let master = Master::start(&devnet, settings(cluster)).await;
    let seal = SealTokenId::new(Address::new([0x17; 32]));
    let uri = format!("/kubectl/config?seal_token={seal}");
    let (code, headers, body) = master
        .call(Request::get(uri.as_str()).body(Body::empty()).unwrap())
        .await;
    assert_eq!(code, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers[header::CONTENT_TYPE], "application/yaml");
    let config = kubeconfig::from_yaml(std::str::from_utf8(&body).unwrap()).unwrap();
    let exec = &config["users"][0]["user"]["exec"];
    assert_eq!(exec["command"], "daas-console");
    let args: Vec<&str> = exec["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        args,
        [
            "credential",
            "--seal-token",
            &seal.to_string(),
            "--audience",
            AUDIENCE
        ]
    );
    assert_eq!(config["clusters"][0]["cluster"]["server"], cluster.server());
    assert!(config["clusters"][0]["cluster"]["certificate-authority-data"].is_string());

    // Authenticated: the seal token defaults to the caller's, and a
    // developer's context defaults to their namespace.
    let dev = User::funded(&devnet, 0xa1).await;
    let dev_seal = dev.stake(&devnet, 2 * SUI, Role::User).await;
    let (code, _, body) = master
        .call(bearer_request(
            Method::GET,
            "/kubectl/config",
            &dev.token(dev_seal),
        ))
        .await;
    assert_eq!(code, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let config = kubeconfig::from_yaml(std::str::from_utf8(&body).unwrap()).unwrap();
    assert_eq!(
        config["contexts"][0]["context"]["namespace"],
        daas_core::access::review::user_namespace(dev.address())
    );
    assert!(String::from_utf8_lossy(&body).contains(&dev_seal.to_string()));

    // Bad input.
    for uri in ["/kubectl/config", "/kubectl/config?seal_token=nope"] {
        let (code, _, body) = master
            .call(Request::get(uri).body(Body::empty()).unwrap())
            .await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{uri}");
        assert!(error_of(&body).contains("seal_token"), "{uri}");
    }
}

#[tokio::test]
async fn an_unreachable_chain_fails_closed() {
    let mut devnet = Devnet::start().await.unwrap();
    let cluster = k3s::shared().await.unwrap();
    let master = Master::start(&devnet, settings(cluster)).await;
    let alice = User::funded(&devnet, 0xb1).await;
    let seal = alice.stake(&devnet, SUI, Role::User).await;
    let token = alice.token(seal);
    let allowed = master.review(&token).await;
    assert!(allowed.authenticated);
    devnet.stop().await.unwrap();
    master.service.invalidate_all();

    let review = daas_core::access::tokenreview::TokenReview::request(token.as_str(), vec![]);
    let (code, _, body) = master
        .call(json_request(Method::POST, "/authenticate", &review))
        .await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert!(error_of(&body).contains("cannot check access"));
    let verdict = master.authorize(&allowed).await;
    assert_eq!(verdict["denied"], true);
    assert!(!verdict["evaluationError"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn tokenreviews_name_only_the_configured_audience() {
    let devnet = Devnet::start().await.unwrap();
    let cluster = k3s::shared().await.unwrap();
    let master = Master::start(&devnet, settings(cluster)).await;
    let alice = User::funded(&devnet, 0xc1).await;
    let token = alice.token(alice.stake(&devnet, SUI, Role::User).await);
    for (requested, answered) in [
        (vec!["vault"], vec![]),
        (vec!["vault", AUDIENCE], vec![AUDIENCE]),
        (vec![AUDIENCE, AUDIENCE], vec![AUDIENCE]),
        (vec![], vec![]),
    ] {
        let review = TokenReview::request(
            token.as_str(),
            requested.iter().map(|a| (*a).to_owned()).collect(),
        );
        let (code, _, body) = master
            .call(json_request(Method::POST, "/authenticate", &review))
            .await;
        assert_eq!(code, StatusCode::OK);
        let status = serde_json::from_slice::<TokenReview>(&body)
            .unwrap()
            .status
            .unwrap();
        assert!(status.authenticated, "{requested:?}");
        assert_eq!(status.audiences, answered, "{requested:?}");
    }
}

/// A record as someone other than a master would write it.
fn forged_record(
    hash: daas_core::access::OpaqueTokenHash,
    seal: SealTokenId,
    owner: Address,
    tag: Option<String>,
) -> Secret {
    let mut data = std::collections::BTreeMap::from([
        (KEY_HASH.to_owned(), hash.to_string()),
        (KEY_SEAL_TOKEN.to_owned(), seal.to_string()),
        (KEY_OWNER.to_owned(), owner.to_string()),
        (
            KEY_EXPIRES_AT.to_owned(),
            (unix_now_secs() + 3600).to_string(),
        ),
    ]);
    if let Some(tag) = tag {
        data.insert(KEY_TAG.to_owned(), tag);
    }
    Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(seal_token_store::secret_name(hash)),
            ..Default::default()
        },
        type_: Some(seal_token_store::SECRET_TYPE.to_owned()),
        string_data: Some(data),
        ..Default::default()
    }
}

#[tokio::test]
async fn forged_seal_token_records_do_not_authenticate() {
    let devnet = Devnet::start().await.unwrap();
    let cluster = k3s::shared().await.unwrap();
    let master = Master::start(&devnet, settings(cluster)).await;
    // The victim: a super-tier staker with a genuine opaque token.
    let root = User::funded(&devnet, 0xc2).await;
    let seal = root.stake(&devnet, 10 * SUI, Role::User).await;
    let genuine = issue(&master, &root.token(seal)).await;
    assert!(master.review(&genuine.seal_token).await.authenticated);
    let genuine_hash = OpaqueToken::parse(&genuine.seal_token).unwrap().hash();

    // Cluster-admin (more than any tier below super may) writes records
    // naming the victim: untagged, tagged under a guessed key, and with the
    // genuine record's tag copied.
    let secrets: Api<Secret> = Api::namespaced(cluster.client().await.unwrap(), SECRET_NAMESPACE);
    let genuine_tag = secrets
        .get(&seal_token_store::secret_name(genuine_hash))
        .await
        .unwrap()
        .data
        .unwrap()[KEY_TAG]
        .0
        .clone();
    let guessed_key = RecordKey::from_bytes([0x66; 32]);
    for case in ["untagged", "guessed key", "copied tag"] {
        let token = OpaqueToken::generate();
        let hash = token.hash();
        let tag = match case {
            "untagged" => None,
            "guessed key" => {
                let expires = unix_now_secs() + 3600;
                Some(hex::encode(guessed_key.tag(
                    RECORD_DOMAIN,
                    &[
                        hash.as_bytes(),
                        seal.address().as_bytes(),
                        root.address().as_bytes(),
                        &expires.to_be_bytes(),
                    ],
                )))
            }
            _ => Some(String::from_utf8(genuine_tag.clone()).unwrap()),
        };
        secrets
            .create(
                &PostParams::default(),
                &forged_record(hash, seal, root.address(), tag),
            )
            .await
            .unwrap();
        let status = master.review(&token.expose()).await;
        assert!(
            status_error(&status).contains("unknown"),
            "{case}: {status:?}"
        );
    }

    // Extending the genuine record's expiry breaks its tag: a master that
    // reads it now refuses the token.
    let name = seal_token_store::secret_name(genuine_hash);
    let patch = serde_json::json!({ "stringData": { KEY_EXPIRES_AT: "99999999999" } });
    secrets
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let fresh = Master::start(&devnet, settings(cluster)).await;
    assert!(status_error(&fresh.review(&genuine.seal_token).await).contains("unknown"));
}

#[tokio::test]
async fn opaque_seal_tokens_are_single_use_capped_listed_and_revoked() {
    let devnet = Devnet::start().await.unwrap();
    let cluster = k3s::shared().await.unwrap();
    let mut capped = settings(cluster);
    capped.seal_tokens_per_owner = NonZeroU32::new(2).unwrap();
    let master = Master::start(&devnet, capped.clone()).await;
    let replica = Master::start(&devnet, capped).await;
    let alice = User::funded(&devnet, 0xc3).await;
    let seal = alice.stake(&devnet, SUI, Role::User).await;

    // An access token issues one opaque token, on any replica.
    let once = alice.token(seal);
    let first = issue(&master, &once).await;
    assert_eq!(
        first.id,
        OpaqueToken::parse(&first.seal_token)
            .unwrap()
            .hash()
            .to_string()
    );
    for replica in [&master, &replica] {
        let (code, _, body) = replica
            .call(bearer_request(Method::POST, SEAL_TOKENS_PATH, &once))
            .await;
        assert_eq!(code, StatusCode::CONFLICT);
        assert!(
            error_of(&body).contains("already issued"),
            "{}",
            error_of(&body)
        );
    }
    let second = issue(&replica, &alice.token(seal)).await;

    // The cap: a third is refused, naming it.
    let (code, _, body) = master
        .call(bearer_request(
            Method::POST,
            SEAL_TOKENS_PATH,
            &alice.token(seal),
        ))
        .await;
    assert_eq!(code, StatusCode::CONFLICT);
    assert!(
        error_of(&body).contains("access.seal_tokens_per_owner = 2"),
        "{}",
        error_of(&body)
    );

    // The owner lists them; an opaque token manages nothing.
    let (code, _, body) = replica
        .call(bearer_request(
            Method::GET,
            SEAL_TOKENS_PATH,
            &alice.token(seal),
        ))
        .await;
    assert_eq!(code, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let list: SealTokenList = serde_json::from_slice(&body).unwrap();
    assert_eq!(list.cap, 2);
    let mut ids: Vec<&str> = list.tokens.iter().map(|t| t.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = [first.id.as_str(), second.id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    let (code, _, _) = master
        .call(bearer_request(
            Method::GET,
            SEAL_TOKENS_PATH,
            &first.seal_token,
        ))
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);

    // Both replicas authenticate the first token; its requests carry its id.
    let before = replica.review(&first.seal_token).await;
    assert!(before.authenticated);
    let extra = &before.user.as_ref().unwrap().extra;
    assert_eq!(extra[EXTRA_OPAQUE_TOKEN], std::slice::from_ref(&first.id));
    assert_eq!(
        master.authorize(&before).await,
        serde_json::json!({ "allowed": false })
    );

    // Bad and foreign revocations.
    let bob = User::funded(&devnet, 0xc4).await;
    let bobs = bob.token(bob.stake(&devnet, SUI, Role::User).await);
    let revoke = |id: &str, token: &str| {
        bearer_request(Method::DELETE, &format!("{SEAL_TOKENS_PATH}/{id}"), token)
    };
    let (code, _, body) = master.call(revoke("0123", &alice.token(seal))).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(error_of(&body).contains("8 to 64"));
    let (code, _, _) = master.call(revoke(&first.id, &bobs)).await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // The owner revokes it by an 8-digit prefix.
    let (code, _, body) = master
        .call(revoke(&first.id[..8], &alice.token(seal)))
        .await;
    assert_eq!(
        code,
        StatusCode::NO_CONTENT,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (code, _, _) = master
        .call(revoke(&first.id[..8], &alice.token(seal)))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // The revoking replica refuses its requests at once; the other, which
    // had it cached, within the record re-check.
    let verdict = master.authorize(&before).await;
    assert_eq!(verdict["denied"], true, "{verdict}");
    assert!(verdict["reason"].as_str().unwrap().contains("revoked"));
    let revoked = std::time::Instant::now();
    loop {
        let verdict = replica.authorize(&before).await;
        if verdict["denied"] == true {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(30),
            "the other replica still accepts a revoked token"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    loop {
        if !replica.review(&first.seal_token).await.authenticated {
            break;
        }
        assert!(revoked.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The second still works, and the freed slot takes a new token.
    assert!(master.review(&second.seal_token).await.authenticated);
    issue(&master, &alice.token(seal)).await;
}

/// Serves `listener` in place of the API server: records each request's
/// path and headers, answers an empty PodList for pods and 404 otherwise.
async fn record_requests(
    listener: tokio::net::TcpListener,
    seen: tokio::sync::mpsc::UnboundedSender<(String, axum::http::HeaderMap)>,
) {
    while let Ok((stream, _)) = listener.accept().await {
        let seen = seen.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let path = request.uri().path().to_owned();
                    let _ = seen.send((path.clone(), request.headers().clone()));
                    let (status, body) = if path.ends_with("/pods") {
                        (
                            200,
                            r#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}"#,
                        )
                    } else {
                        (
                            404,
                            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":404}"#,
                        )
                    };
                    async move {
                        axum::http::Response::builder()
                            .status(status)
                            .header(header::CONTENT_TYPE, "application/json")
                            .body(http_body_util::Full::new(axum::body::Bytes::from(body)))
                    }
                });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

#[tokio::test]
async fn the_proxy_forwards_no_identity_address_or_connection_named_headers() {
    let devnet = Devnet::start().await.unwrap();
    let cluster = k3s::shared().await.unwrap();
    // A real socket in place of the API server, recording what arrives.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}", listener.local_addr().unwrap());
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(record_requests(listener, seen_tx));
    let kube = kube::Client::try_from(kube::Config::new(upstream.parse().unwrap())).unwrap();
    let master = Master::start_with(&devnet, settings(cluster), kube);
    let viewer = User::funded(&devnet, 0xc5).await;
    let token = viewer.token(viewer.stake(&devnet, SUI / 2, Role::User).await);

    let mut request = bearer_request(Method::GET, "/api/v1/namespaces/default/pods", &token);
    for (name, value) in [
        ("X-Remote-User", "system:admin"),
        ("X-Remote-Group", "system:masters"),
        ("X-Remote-Extra-Scopes", "everything"),
        ("X-Forwarded-For", "10.9.9.9"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Real-Ip", "10.9.9.9"),
        ("Forwarded", "for=10.9.9.9"),
        ("Impersonate-User", "system:admin"),
        ("Impersonate-Group", "system:masters"),
        ("Connection", "keep-alive, X-Secret-Hop"),
        ("X-Secret-Hop", "must not pass"),
        ("Keep-Alive", "timeout=5"),
        ("Accept", "application/json"),
        ("X-Kept", "passes"),
    ] {
        request.headers_mut().append(name, value.parse().unwrap());
    }
    let (code, _, body) = master.call(request).await;
    assert_eq!(code, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let headers = loop {
        let (path, headers) = seen.recv().await.unwrap();
        if path == "/api/v1/namespaces/default/pods" {
            break headers;
        }
    };
    for (name, _) in &headers {
        let name = name.as_str();
        assert!(
            !name.starts_with("x-remote-")
                && !name.starts_with("x-forwarded-")
                && !["forwarded", "x-real-ip", "x-secret-hop", "keep-alive"].contains(&name),
            "{name} reached the API server: {headers:?}"
        );
    }
    assert_eq!(headers["x-kept"], "passes");
    assert_eq!(headers[header::ACCEPT], "application/json");
    assert_eq!(
        headers["impersonate-user"],
        format!("sui:{}", viewer.address())
    );
    let groups: Vec<&str> = headers
        .get_all("impersonate-group")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(groups, ["k3s-daas:viewer", USERS_GROUP]);

    // A Connection header that is not ASCII is refused, not guessed at.
    let mut request = bearer_request(Method::GET, "/api/v1/namespaces/default/pods", &token);
    request.headers_mut().insert(
        header::CONNECTION,
        axum::http::HeaderValue::from_bytes(b"x-remote-user, \xff").unwrap(),
    );
    let (code, _, body) = master.call(request).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(error_of(&body).contains("Connection"));
}

#[tokio::test]
async fn decisions_serve_briefly_while_the_event_follower_is_behind() {
    let devnet = Devnet::start().await.unwrap();
    let cluster = k3s::shared().await.unwrap();
    // A master whose follower has not caught up (the state at start, and
    // whenever events cannot be read); the configured TTL is 300 s.
    let behind = Master::start(&devnet, settings(cluster)).await;
    behind.service.set_events_caught_up(false);
    let following = Master::start(&devnet, settings(cluster)).await;
    let alice = User::funded(&devnet, 0xc6).await;
    let seal = alice.stake(&devnet, SUI, Role::User).await;
    let token = alice.token(seal);
    let status = behind.review(&token).await;
    assert!(status.authenticated);
    assert!(following.review(&token).await.authenticated);

    // An unstake neither master hears of.
    devnet
        .client()
        .unwrap()
        .request_unstake(&alice.chain, seal)
        .await
        .unwrap();
    tokio::time::sleep(BEHIND_DECISION_TTL + Duration::from_millis(100)).await;
    // The master that follows events keeps its decision until an event
    // drops it; the one that is behind reads the chain again.
    assert!(following.review(&token).await.authenticated);
    assert!(status_error(&behind.review(&token).await).contains("unbonding"));
    let verdict = behind.authorize(&status).await;
    assert_eq!(verdict["denied"], true, "{verdict}");
}
