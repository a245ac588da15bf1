//! The tier table against the real API server: the devnet, the control
//! plane wired to the master's webhooks and Pod Security configuration, and
//! `daas-master serve` run as processes (`daas_e2e::stack::Stack`). Every
//! row of `daas_master::tiers::RESTRICTIONS` is sent as a real request by a
//! staked user of every tier, authenticated by a wallet-signed `daas1`
//! token through the master's TokenReview webhook; then the attacks of
//! issue 10 are replayed through the master's own `/api` proxy and with
//! forged seal-token records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode, header};
use daas_core::access::review::user_namespace;
use daas_core::access::{AccessToken, Claims, OpaqueToken, unix_now_secs};
use daas_core::attested::tls::{ServerKeyVerifier, client_config};
use daas_core::package::{Mist, Role, SealTokenId, Tier};
use daas_e2e::stack::{Stack, StackOptions};
use daas_e2e::user::Account;
use daas_master::access::seal_token_store::{
    KEY_EXPIRES_AT, KEY_HASH, KEY_OWNER, KEY_SEAL_TOKEN, SECRET_NAMESPACE, SECRET_TYPE, secret_name,
};
use daas_master::access::seal_tokens::IssuedSealToken;
use daas_master::namespaces::MASTER_NAMESPACE;
use daas_master::tier_policy::POLICY_NAME;
use daas_master::tiers::{Enforcement, RESTRICTIONS, Restriction};
use http_body_util::BodyExt as _;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use serde_json::{Value, json};

const SUI: u64 = 1_000_000_000;
/// A namespace of workloads (no Pod Security label: the cluster default).
const WORKLOADS: &str = "tiers-probe";
/// The super user's namespace, which it relabels `privileged`.
const SUPER_WORKLOADS: &str = "tiers-probe-super";
/// A ConfigMap in `kube-system` that probes try to change.
const SYSTEM_CONFIG_MAP: &str = "tiers-probe";
/// A kube-system service account with wide rights.
const CONTROLLER_ACCOUNT: &str = "system:serviceaccount:kube-system:namespace-controller";

/// A staked user of one tier.
struct TierUser {
    tier: Tier,
    account: Account,
    seal: SealTokenId,
    client: kube::Client,
}

impl TierUser {
    async fn stake(stack: &Stack, tier: Tier, seed: u8, mist: u64) -> Self {
        let account = Account::funded(&stack.devnet, seed).await.unwrap();
        let seal = stack
            .devnet
            .client()
            .unwrap()
            .stake_and_mint(&account.chain, Mist::new(mist), Role::User, "")
            .await
            .unwrap()
            .token;
        let token = access_token(stack, &account, seal);
        let client = stack.cluster.client_for_token(&token).await.unwrap();
        Self {
            tier,
            account,
            seal,
            client,
        }
    }

    /// The namespace this user's probes write in: a developer's own, the
    /// super user's relabelled one, else the workloads namespace.
    fn namespace(&self) -> String {
        match self.tier {
            Tier::Developer => user_namespace(self.account.address()),
            Tier::Super => SUPER_WORKLOADS.to_owned(),
            _ => WORKLOADS.to_owned(),
        }
    }
}

/// A fresh wallet-signed access token, as the credential plugin makes it.
fn access_token(stack: &Stack, account: &Account, seal: SealTokenId) -> String {
    let claims = Claims::new(
        seal,
        account.address(),
        stack.cluster.server(),
        unix_now_secs(),
        Duration::from_secs(600),
    )
    .unwrap();
    AccessToken::sign(&account.wallet, &claims)
        .unwrap()
        .into_string()
}

/// How the API server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Allowed,
    /// 403, with the Status message.
    Refused(String),
    /// Another refusal (404, 409, 422, …), with the status and body.
    Other(u16, String),
}

/// One request.
struct Call {
    method: Method,
    path: String,
    body: Option<Value>,
    headers: Vec<(&'static str, &'static str)>,
}

fn call(method: Method, path: impl Into<String>, body: Option<Value>) -> Call {
    Call {
        method,
        path: path.into(),
        body,
        headers: Vec::new(),
    }
}

async fn send(client: &kube::Client, call: &Call) -> Outcome {
    let content_type = if call.method == Method::PATCH {
        "application/merge-patch+json"
    } else {
        "application/json"
    };
    let mut request = axum::http::Request::builder()
        .method(call.method.clone())
        .uri(call.path.as_str())
        .header(header::CONTENT_TYPE, content_type);
    for (name, value) in &call.headers {
        request = request.header(*name, *value);
    }
    let body = call
        .body
        .as_ref()
        .map(|b| serde_json::to_vec(b).unwrap())
        .unwrap_or_default();
    let response = client
        .send(request.body(kube::client::Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if status.is_success() {
        Outcome::Allowed
    } else if status == StatusCode::FORBIDDEN {
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or(text);
        Outcome::Refused(message)
    } else {
        Outcome::Other(status.as_u16(), text)
    }
}

fn config_map(name: &str) -> Value {
    json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": name }, "data": { "k": "v" } })
}

fn pod(name: &str, spec: Value) -> Value {
    json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": name }, "spec": spec })
}

/// The requests that exercise `row`, as `user` sends them.
fn probes(row: &Restriction, user: &TierUser) -> Vec<Call> {
    let tier = user.tier.as_str();
    let ns = user.namespace();
    let name = |what: &str| format!("probe-{what}-{tier}");
    match row.name {
        "impersonation" => {
            let mut as_controller = call(Method::GET, "/api/v1/namespaces/default/pods", None);
            as_controller.headers = vec![("Impersonate-User", CONTROLLER_ACCOUNT)];
            let mut as_admin = call(Method::GET, "/api/v1/namespaces/default/pods", None);
            as_admin.headers = vec![
                ("Impersonate-User", "system:admin"),
                ("Impersonate-Group", "system:masters"),
            ];
            vec![as_controller, as_admin]
        }
        "service-account-tokens" => vec![call(
            Method::POST,
            format!("/api/v1/namespaces/{ns}/serviceaccounts/default/token"),
            Some(
                json!({ "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                          "spec": { "expirationSeconds": 600 } }),
            ),
        )],
        "service-account-token-secrets" => vec![call(
            Method::POST,
            format!("/api/v1/namespaces/{ns}/secrets"),
            Some(json!({ "apiVersion": "v1", "kind": "Secret",
                          "metadata": { "name": name("sa-token"),
                                        "annotations": { "kubernetes.io/service-account.name": "default" } },
                          "type": "kubernetes.io/service-account-token" })),
        )],
        "rbac" => vec![
            call(
                Method::POST,
                format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"),
                Some(
                    json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                              "metadata": { "name": name("binding") },
                              "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin" },
                              "subjects": [{ "apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                             "name": format!("sui:{}", user.account.address()) }] }),
                ),
            ),
            call(
                Method::POST,
                "/apis/rbac.authorization.k8s.io/v1/namespaces/".to_owned() + &ns + "/roles",
                Some(
                    json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                              "metadata": { "name": name("role") },
                              "rules": [{ "apiGroups": [""], "resources": ["pods"], "verbs": ["get"] }] }),
                ),
            ),
        ],
        "nodes-and-csrs" => vec![
            call(Method::GET, "/api/v1/nodes", None),
            call(
                Method::GET,
                "/apis/certificates.k8s.io/v1/certificatesigningrequests",
                None,
            ),
        ],
        "namespaces" => vec![
            call(
                Method::PATCH,
                format!("/api/v1/namespaces/{ns}"),
                Some(json!({ "metadata": { "labels": {
                    "pod-security.kubernetes.io/enforce": "privileged" } } })),
            ),
            call(
                Method::POST,
                "/api/v1/namespaces",
                Some(
                    json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name("ns") } }),
                ),
            ),
        ],
        "system-secrets" => vec![
            call(Method::GET, "/api/v1/namespaces/kube-system/secrets", None),
            call(Method::GET, "/api/v1/secrets", None),
            call(
                Method::GET,
                format!("/api/v1/namespaces/{MASTER_NAMESPACE}/secrets/k3s-daas-record-key"),
                None,
            ),
        ],
        "system-namespace-writes" => vec![
            call(
                Method::POST,
                "/api/v1/namespaces/kube-system/configmaps",
                Some(config_map(&name("cm"))),
            ),
            call(
                Method::PATCH,
                format!("/api/v1/namespaces/kube-system/configmaps/{SYSTEM_CONFIG_MAP}"),
                Some(json!({ "data": { "changed-by": tier } })),
            ),
            call(
                Method::POST,
                format!("/api/v1/namespaces/{MASTER_NAMESPACE}/configmaps"),
                Some(config_map(&name("cm"))),
            ),
        ],
        "cluster-scoped-writes" => vec![
            call(
                Method::POST,
                "/apis/scheduling.k8s.io/v1/priorityclasses",
                Some(
                    json!({ "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                              "metadata": { "name": name("priority") }, "value": 1 }),
                ),
            ),
            call(
                Method::PATCH,
                format!(
                    "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/{POLICY_NAME}"
                ),
                Some(json!({ "metadata": { "labels": { "probed-by": tier } } })),
            ),
        ],
        "non-resource-urls" => vec![call(Method::GET, "/metrics", None)],
        "pod-security" => vec![
            call(
                Method::POST,
                format!("/api/v1/namespaces/{ns}/pods"),
                Some(pod(
                    &name("privileged"),
                    json!({ "containers": [{
                    "name": "c", "image": "registry.invalid/x:1",
                    "securityContext": { "privileged": true } }] }),
                )),
            ),
            call(
                Method::POST,
                format!("/api/v1/namespaces/{ns}/pods"),
                Some(pod(
                    &name("hostpath"),
                    json!({
                    "containers": [{ "name": "c", "image": "registry.invalid/x:1",
                                     "volumeMounts": [{ "name": "root", "mountPath": "/host" }] }],
                    "volumes": [{ "name": "root", "hostPath": { "path": "/" } }] }),
                )),
            ),
        ],
        "viewer-secrets" | "developer-secrets" => vec![call(
            Method::GET,
            format!("/api/v1/namespaces/{WORKLOADS}/secrets"),
            None,
        )],
        "viewer-writes" | "developer-writes" => vec![call(
            Method::POST,
            format!("/api/v1/namespaces/{WORKLOADS}/configmaps"),
            Some(config_map(&name(row.name))),
        )],
        other => panic!("tier table row {other} has no probe: add one"),
    }
}

/// Checks one answer against the table: refused naming the row for the
/// tiers it lists, never refused for super, and never refused *by this
/// row* for the others.
fn check(row: &Restriction, user: &TierUser, call: &Call, outcome: &Outcome) {
    let what = format!(
        "{} as {}: {} {}",
        row.name, user.tier, call.method, call.path
    );
    let marker = row.marker();
    if row.refuses(user.tier) {
        let Outcome::Refused(message) = outcome else {
            panic!("{what}: expected a refusal, got {outcome:?}");
        };
        // Authorization runs before admission: a viewer, who may write
        // nothing, is refused before an admission row is reached.
        let earlier = user.tier == Tier::Viewer
            && !matches!(
                row.enforcement,
                Enforcement::Webhook(_) | Enforcement::WebhookNonResource(_)
            )
            && message.contains("[viewer-writes]");
        assert!(
            message.contains(&marker) || earlier,
            "{what}: refused without {marker}: {message}"
        );
    } else if user.tier == Tier::Super {
        assert!(
            !matches!(outcome, Outcome::Refused(_)),
            "{what}: super was refused: {outcome:?}"
        );
    } else if let Outcome::Refused(message) = outcome {
        assert!(
            !message.contains(&marker),
            "{what}: refused by a row that does not list the tier: {message}"
        );
    }
}

/// Retries `attempt` until it is allowed (RBAC follows new bindings with
/// a delay).
async fn until_allowed(what: &str, client: &kube::Client, call: &Call) {
    let started = Instant::now();
    loop {
        match send(client, call).await {
            Outcome::Allowed => return,
            outcome if started.elapsed() > Duration::from_secs(60) => {
                panic!("{what} was never allowed: {outcome:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn setup_cluster(stack: &Stack) {
    let admin = stack.cluster.client().await.unwrap();
    let namespaces: Api<Namespace> = Api::all(admin.clone());
    for name in [WORKLOADS, SUPER_WORKLOADS] {
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap();
    }
    let system: Api<ConfigMap> = Api::namespaced(admin, "kube-system");
    let map = ConfigMap {
        metadata: ObjectMeta {
            name: Some(SYSTEM_CONFIG_MAP.to_owned()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    };
    system.create(&PostParams::default(), &map).await.unwrap();
}

/// Waits until `namespace` has its `default` service account.
async fn default_account(stack: &Stack, namespace: &str) {
    let accounts: Api<ServiceAccount> =
        Api::namespaced(stack.cluster.client().await.unwrap(), namespace);
    let started = Instant::now();
    while accounts.get_opt("default").await.unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no default service account in {namespace}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Four staked users, one per tier, each allowed what its grant says.
async fn tier_users(stack: &Stack) -> Vec<TierUser> {
    let mut users = Vec::new();
    for (tier, seed, mist) in [
        (Tier::Viewer, 0xe1, SUI / 2),
        (Tier::Developer, 0xe2, 2 * SUI),
        (Tier::Admin, 0xe3, 5 * SUI),
        (Tier::Super, 0xe4, 10 * SUI),
    ] {
        users.push(TierUser::stake(stack, tier, seed, mist).await);
    }
    // What each tier may do (the grants), once RBAC has caught up.
    let [viewer, developer, admin, root] = &users[..] else {
        unreachable!()
    };
    until_allowed(
        "a viewer reading pods",
        &viewer.client,
        &call(Method::GET, "/api/v1/namespaces/default/pods", None),
    )
    .await;
    let own = developer.namespace();
    until_allowed(
        "a developer writing in its namespace",
        &developer.client,
        &call(
            Method::POST,
            format!("/api/v1/namespaces/{own}/configmaps"),
            Some(config_map("may")),
        ),
    )
    .await;
    until_allowed(
        "a developer reading Secrets in its namespace",
        &developer.client,
        &call(
            Method::GET,
            format!("/api/v1/namespaces/{own}/secrets"),
            None,
        ),
    )
    .await;
    until_allowed(
        "an admin writing workloads",
        &admin.client,
        &call(
            Method::POST,
            format!("/api/v1/namespaces/{WORKLOADS}/configmaps"),
            Some(config_map("may")),
        ),
    )
    .await;
    until_allowed(
        "super relabelling its namespace privileged",
        &root.client,
        &call(
            Method::PATCH,
            format!("/api/v1/namespaces/{SUPER_WORKLOADS}"),
            Some(json!({ "metadata": { "labels": { "pod-security.kubernetes.io/enforce": "privileged" } } })),
        ),
    )
    .await;
    for namespace in [WORKLOADS, SUPER_WORKLOADS, own.as_str()] {
        default_account(stack, namespace).await;
    }
    users
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_of_the_tier_table_holds_for_every_tier() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();
    setup_cluster(&stack).await;
    let users = tier_users(&stack).await;
    // Developer namespaces carry Pod Security `restricted`.
    let namespaces: Api<Namespace> = Api::all(stack.cluster.client().await.unwrap());
    let own = namespaces.get(&users[1].namespace()).await.unwrap();
    let labels = own.metadata.labels.unwrap();
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");
    assert_eq!(
        labels["pod-security.kubernetes.io/enforce-version"],
        "latest"
    );

    for row in RESTRICTIONS {
        for user in &users {
            for call in probes(row, user) {
                let outcome = send(&user.client, &call).await;
                check(row, user, &call, &outcome);
            }
        }
    }
    // The label survived the developer's attempt to change it.
    let own = namespaces.get(&users[1].namespace()).await.unwrap();
    assert_eq!(
        own.metadata.labels.unwrap()["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
}

/// A reqwest client of the master's attested API, pinned to the key its
/// attestation document binds.
async fn master_http(stack: &Stack) -> reqwest::Client {
    let attested = stack.master.client().unwrap();
    let spki = attested.master().await.unwrap().tls_spki_sha256();
    let tls = client_config(ServerKeyVerifier::pinned(spki)).unwrap();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .https_only(true)
        .build()
        .unwrap()
}

async fn through_proxy(
    http: &reqwest::Client,
    stack: &Stack,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let url = format!("{}{path}", stack.master.url());
    let mut request = http
        .request(method, url)
        .bearer_auth(token)
        .header("Impersonate-User", "system:admin")
        .header("Impersonate-Group", "system:masters")
        .header("X-Remote-User", "system:admin")
        .header("X-Remote-Group", "system:masters");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_cannot_own_the_cluster_or_forge_records() {
    let mut stack = Stack::start(StackOptions::default()).await.unwrap();
    let admin = TierUser::stake(&stack, Tier::Admin, 0xe5, 5 * SUI).await;
    let root = TierUser::stake(&stack, Tier::Super, 0xe6, 10 * SUI).await;
    let http = master_http(&stack).await;
    let admin_token = access_token(&stack, &admin.account, admin.seal);

    // Through the master's own proxy, claiming system:masters in every
    // header the proxy might pass on, the admin still cannot write in a
    // system namespace, read its Secrets, or plant a seal-token record.
    let forged_name = secret_name(OpaqueToken::generate().hash());
    for (method, path, body, row) in [
        (
            Method::POST,
            "/api/v1/namespaces/kube-system/configmaps".to_owned(),
            Some(config_map("via-proxy")),
            "[system-namespace-writes]",
        ),
        (
            Method::GET,
            "/api/v1/namespaces/kube-system/secrets".to_owned(),
            None,
            "[system-secrets]",
        ),
        (
            Method::POST,
            format!("/api/v1/namespaces/{SECRET_NAMESPACE}/secrets"),
            Some(json!({ "apiVersion": "v1", "kind": "Secret",
                          "metadata": { "name": forged_name }, "type": SECRET_TYPE })),
            "[system-namespace-writes]",
        ),
    ] {
        let (status, body) =
            through_proxy(&http, &stack, &admin_token, method.clone(), &path, body).await;
        assert_eq!(status, 403, "{method} {path} through the proxy: {body}");
        assert!(body.contains(row), "{method} {path}: {body}");
        assert!(
            body.contains(&format!("sui:{}", admin.account.address())),
            "{body}"
        );
    }

    // A record forged with cluster-admin rights (more than any tier below
    // super holds) naming the super user does not authenticate.
    let token = OpaqueToken::generate();
    let forged = Secret {
        metadata: ObjectMeta {
            name: Some(secret_name(token.hash())),
            ..ObjectMeta::default()
        },
        type_: Some(SECRET_TYPE.to_owned()),
        string_data: Some(BTreeMap::from([
            (KEY_HASH.to_owned(), token.hash().to_string()),
            (KEY_SEAL_TOKEN.to_owned(), root.seal.to_string()),
            (KEY_OWNER.to_owned(), root.account.address().to_string()),
            (
                KEY_EXPIRES_AT.to_owned(),
                (unix_now_secs() + 3600).to_string(),
            ),
        ])),
        ..Secret::default()
    };
    let cluster_admin = stack.cluster.client().await.unwrap();
    let records: Api<Secret> = Api::namespaced(cluster_admin.clone(), SECRET_NAMESPACE);
    records
        .create(&PostParams::default(), &forged)
        .await
        .unwrap();
    let forger = stack
        .cluster
        .client_for_token(&token.expose())
        .await
        .unwrap();
    match Api::<Namespace>::all(forger)
        .list(&Default::default())
        .await
    {
        Err(kube::Error::Api(status)) if status.code == 401 => {}
        other => panic!("a forged record authenticated: {other:?}"),
    }

    // A genuine opaque token works against the API server, and stops
    // working once its owner revokes it.
    let root_token = access_token(&stack, &root.account, root.seal);
    let issued: IssuedSealToken = http
        .post(format!("{}/api/v1/seal-tokens", stack.master.url()))
        .bearer_auth(&root_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let opaque = stack
        .cluster
        .client_for_token(&issued.seal_token)
        .await
        .unwrap();
    let namespaces = Api::<Namespace>::all(opaque);
    let started = Instant::now();
    while namespaces.list(&Default::default()).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the opaque token never worked"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let response = http
        .delete(format!(
            "{}/api/v1/seal-tokens/{}",
            stack.master.url(),
            &issued.id[..12]
        ))
        .bearer_auth(access_token(&stack, &root.account, root.seal))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let revoked = Instant::now();
    let refusal = loop {
        match namespaces.list(&Default::default()).await {
            Err(kube::Error::Api(status)) if status.code == 403 || status.code == 401 => {
                break status.message;
            }
            Ok(_) => {}
            Err(other) => panic!("unexpected answer to a revoked token: {other:?}"),
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(30),
            "a revoked opaque token kept working; master log:\n{}",
            stack.master.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "revoked opaque token refused after {:?}: {refusal}",
        revoked.elapsed()
    );

    // The record key is the masters' alone: the admin cannot read it.
    let (status, body) = through_proxy(
        &http,
        &stack,
        &access_token(&stack, &admin.account, admin.seal),
        Method::GET,
        &format!("/api/v1/namespaces/{MASTER_NAMESPACE}/secrets/k3s-daas-record-key"),
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");

    // A key the master cannot use fails closed: opaque tokens stop working
    // and none are issued, until super repairs it.
    let issued: IssuedSealToken = http
        .post(format!("{}/api/v1/seal-tokens", stack.master.url()))
        .bearer_auth(access_token(&stack, &root.account, root.seal))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let namespaces = Api::<Namespace>::all(
        stack
            .cluster
            .client_for_token(&issued.seal_token)
            .await
            .unwrap(),
    );
    let started = Instant::now();
    while namespaces.list(&Default::default()).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the opaque token never worked"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let keys: Api<Secret> = Api::namespaced(cluster_admin, MASTER_NAMESPACE);
    let patch = json!({ "data": { "hmac-sha256-key": "c2hvcnQ=" } });
    keys.patch(
        "k3s-daas-record-key",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .unwrap();
    stack.master.restart().await.unwrap();
    let http = master_http(&stack).await;
    let refused = Instant::now();
    loop {
        match namespaces.list(&Default::default()).await {
            Err(kube::Error::Api(status)) if status.code == 403 || status.code == 401 => break,
            Ok(_) => {}
            Err(other) => panic!("unexpected answer with an unusable key: {other:?}"),
        }
        assert!(
            refused.elapsed() < Duration::from_secs(30),
            "an opaque token worked without a usable record key"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let response = http
        .post(format!("{}/api/v1/seal-tokens", stack.master.url()))
        .bearer_auth(access_token(&stack, &root.account, root.seal))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body = response.text().await.unwrap();
    assert!(body.contains("seal token store"), "{body}");
}
