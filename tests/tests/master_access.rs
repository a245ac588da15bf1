//! Stake-gated cluster access, end to end: the devnet, the control plane
//! wired to the master's webhooks, and `daas-master serve` run as
//! processes; `kubectl` runs `daas-console credential` from the kubeconfig
//! `daas-console kubeconfig` wrote, exactly as a user's machine does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use daas_core::access::token::signing_bytes;
use daas_core::access::{AccessToken, Claims, unix_now_secs};
use daas_core::attested::AttestedError;
use daas_core::package::{Mist, Role, SealTokenId};
use daas_e2e::stack::{Stack, StackOptions};
use daas_e2e::user::{Account, UserMachine};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, PostParams};

const SUI: u64 = 1_000_000_000;

/// A staked user with a machine whose kubeconfig runs the plugin.
struct StakedUser {
    account: Account,
    seal: SealTokenId,
    machine: UserMachine,
}

async fn staked_user(stack: &Stack, seed: u8, mist: u64) -> StakedUser {
    let account = Account::funded(&stack.devnet, seed).await.unwrap();
    let minted = stack
        .devnet
        .client()
        .unwrap()
        .stake_and_mint(&account.chain, Mist::new(mist), Role::User, "")
        .await
        .unwrap();
    let machine = UserMachine::with_key(&account.wallet).unwrap();
    machine
        .write_kubeconfig(&stack.cluster, minted.token)
        .unwrap();
    StakedUser {
        account,
        seal: minted.token,
        machine,
    }
}

impl StakedUser {
    fn kubectl(&self, stack: &Stack, args: &[&str]) -> Output {
        self.machine.kubectl(&stack.cluster, args).unwrap()
    }

    /// Whether `kubectl ARGS` succeeds; a failure must be an authorization
    /// refusal, not anything else.
    fn may(&self, stack: &Stack, args: &[&str]) -> bool {
        let output = self.kubectl(stack, args);
        if output.status.success() {
            return true;
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("forbidden") || stderr.contains("Forbidden"),
            "kubectl {args:?} failed for another reason: {stderr}\nmaster log:\n{}",
            stack.master.log_tail(30)
        );
        false
    }

    /// `kubectl ARGS` must succeed.
    fn must(&self, stack: &Stack, args: &[&str]) {
        let output = self.kubectl(stack, args);
        if !output.status.success() {
            let whoami = self.kubectl(stack, &["auth", "whoami", "-o", "json"]);
            let user = format!("sui:{}", self.account.address());
            let rbac = stack
                .cluster
                .kubectl()
                .args(["auth", "can-i", "--list", "-n", "default", "--as", &user])
                .args(["--as-group", "k3s-daas:viewer"])
                .output()
                .unwrap();
            let bindings = stack
                .cluster
                .kubectl()
                .args(["get", "clusterrolebindings", "-o", "wide"])
                .output()
                .unwrap();
            panic!(
                "kubectl {args:?}: {}\nwho am I: {}\nRBAC: {}{}\n{}\nmaster log:\n{}",
                String::from_utf8_lossy(&output.stderr),
                String::from_utf8_lossy(&whoami.stdout),
                String::from_utf8_lossy(&rbac.stdout),
                String::from_utf8_lossy(&rbac.stderr),
                String::from_utf8_lossy(&bindings.stdout),
                stack.master.log_tail(60),
            );
        }
    }

    fn namespace(&self) -> String {
        format!(
            "daas-u-{}",
            &self.account.address().to_string()["0x".len().."0x".len() + 16]
        )
    }
}

fn configmap_args<'a>(name: &'a str, namespace: &'a str) -> [&'a str; 6] {
    [
        "create",
        "configmap",
        name,
        "--from-literal=k=v",
        "-n",
        namespace,
    ]
}

// kubectl runs as blocking child processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiers_rejections_and_revocation() {
    let stack = Stack::start(StackOptions::default()).await.unwrap();

    // 0.5 SUI: viewer. Reads, cannot create.
    let viewer = staked_user(&stack, 0x31, SUI / 2).await;
    viewer.must(&stack, &["get", "pods", "-n", "default"]);
    assert!(!viewer.may(&stack, &configmap_args("v", "default")));
    assert_eq!(viewer.machine.cached_credentials(), 1);

    // 2 SUI: developer. Creates in their own namespace only.
    let developer = staked_user(&stack, 0x32, 2 * SUI).await;
    developer.must(&stack, &["get", "pods", "-n", "default"]);
    let own = developer.namespace();
    developer.must(&stack, &configmap_args("d", &own));
    assert!(!developer.may(&stack, &configmap_args("d", "default")));
    assert!(!developer.may(&stack, &configmap_args("d", &viewer.namespace())));

    // 5 SUI: admin. Applies in any namespace, cannot touch cluster scope.
    let admin = staked_user(&stack, 0x33, 5 * SUI).await;
    let manifest = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        manifest.path(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: default\n\
         data:\n  k: v\n",
    )
    .unwrap();
    admin.must(&stack, &["apply", "-f", manifest.path().to_str().unwrap()]);
    assert!(!admin.may(&stack, &["create", "namespace", "admin-made"]));
    // Nor own it: no writes in system namespaces, no Secrets there (the
    // bootstrap tokens), no service-account tokens, no impersonation
    // (the whole tier table: master/tests/tiers.rs).
    let controller = "system:serviceaccount:kube-system:namespace-controller";
    for args in [
        &configmap_args("a", "kube-system")[..],
        &["get", "secrets", "-n", "kube-system"],
        &["create", "token", "default", "-n", "default"],
        &["--as", controller, "get", "pods", "-n", "default"],
    ] {
        assert!(!admin.may(&stack, args), "an admin ran kubectl {args:?}");
    }
    // Pod Security `restricted`: no privileged pod for the admin in a
    // workload namespace (the cluster default), nor for the developer in
    // its own (its label), which it cannot relabel.
    for (user, namespace) in [(&admin, "default"), (&developer, own.as_str())] {
        let pod = privileged_pod(namespace);
        assert!(!user.may(&stack, &["apply", "-f", pod.path().to_str().unwrap()]));
    }
    let relabel = "pod-security.kubernetes.io/enforce=privileged";
    assert!(!developer.may(
        &stack,
        &["label", "namespace", &own, relabel, "--overwrite"]
    ));

    // 10 SUI: cluster-admin.
    let root = staked_user(&stack, 0x34, 10 * SUI).await;
    root.must(&stack, &["create", "namespace", "super-made"]);

    rejected_tokens(&stack, &viewer).await;
    other_audiences_are_refused(&stack, &viewer).await;
    every_documented_path_is_served(&stack).await;

    // Unstaking ends the viewer's access although the plugin's cached
    // token is still valid: the master follows the chain event and the
    // authorization webhook denies.
    stack
        .devnet
        .client()
        .unwrap()
        .request_unstake(&viewer.account.chain, viewer.seal)
        .await
        .unwrap();
    let unstaked = Instant::now();
    while viewer.may(&stack, &["get", "pods", "-n", "default"]) {
        assert!(
            unstaked.elapsed() < Duration::from_secs(30),
            "access survived the unstake for 30 s; master log:\n{}",
            stack.master.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("access ended {:?} after the unstake", unstaked.elapsed());
    // The others are unaffected.
    developer.must(&stack, &["get", "pods", "-n", "default"]);
}

/// Bearer tokens the API server must refuse (401), sent straight to it.
async fn rejected_tokens(stack: &Stack, user: &StakedUser) {
    let client = stack.devnet.client().unwrap();
    let audience = stack.cluster.server().to_owned();
    let owner = user.account.address();
    let now = unix_now_secs();
    let claims = |seal, owner, audience: &str, issued_at| {
        Claims::new(seal, owner, audience, issued_at, Duration::from_secs(300)).unwrap()
    };

    let other = Account::funded(&stack.devnet, 0x41).await.unwrap();
    let worker = client
        .stake_and_mint(&other.chain, Mist::new(5 * SUI), Role::Worker, "worker-x")
        .await
        .unwrap();
    let forged = {
        // The viewer's claims, signed by someone else's key.
        let payload = signing_bytes(&claims(user.seal, owner, &audience, now)).unwrap();
        let signature = other.wallet.sign_personal_message(&payload).unwrap();
        format!(
            "daas1.{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(signature.as_bytes())
        )
    };
    let cases = [
        ("signed by the wrong key", forged),
        (
            "expired",
            sign(user, &claims(user.seal, owner, &audience, now - 3600)),
        ),
        (
            "for another audience",
            sign(
                user,
                &claims(user.seal, owner, "https://elsewhere:6443", now),
            ),
        ),
        (
            "for another owner's seal token",
            AccessToken::sign(
                &other.wallet,
                &claims(user.seal, other.address(), &audience, now),
            )
            .unwrap()
            .into_string(),
        ),
        (
            "for a worker seal token",
            AccessToken::sign(
                &other.wallet,
                &claims(worker.token, other.address(), &audience, now),
            )
            .unwrap()
            .into_string(),
        ),
    ];
    for (what, token) in cases {
        let kube = stack.cluster.client_for_token(&token).await.unwrap();
        let answer = Api::<Pod>::namespaced(kube, "default")
            .list(&ListParams::default())
            .await;
        match answer {
            Err(kube::Error::Api(status)) if status.code == 401 => {}
            other => panic!("a token {what} was not refused with 401: {other:?}"),
        }
    }
}

/// A TokenReview client asking for another service's audience
/// (`["vault"]`) is told the cluster's token does not authenticate there.
async fn other_audiences_are_refused(stack: &Stack, user: &StakedUser) {
    let claims = Claims::new(
        user.seal,
        user.account.address(),
        stack.cluster.server(),
        unix_now_secs(),
        Duration::from_secs(300),
    )
    .unwrap();
    let token = sign(user, &claims);
    let reviews: Api<TokenReview> = Api::all(stack.cluster.client().await.unwrap());
    let server = stack.cluster.server().to_owned();
    for (audiences, authenticated, answered) in [
        (vec!["vault".to_owned()], false, vec![]),
        (vec![], true, vec![]),
        (vec![server.clone()], true, vec![server.clone()]),
    ] {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.clone(),
                audiences: Some(audiences.clone()),
            },
            ..TokenReview::default()
        };
        let status = reviews
            .create(&PostParams::default(), &review)
            .await
            .unwrap()
            .status
            .unwrap();
        assert_eq!(
            status.authenticated.unwrap_or(false),
            authenticated,
            "{audiences:?}: {status:?}"
        );
        if authenticated {
            let got = status.audiences.unwrap_or_default();
            if answered.is_empty() {
                // The API server's own audiences, not the master's.
                assert!(!got.contains(&server), "{got:?}");
            } else {
                assert_eq!(got, answered);
            }
        }
    }
}

/// A manifest of a privileged pod in `namespace`.
fn privileged_pod(namespace: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: privileged\n  namespace: {namespace}\n\
             spec:\n  containers:\n  - name: c\n    image: registry.invalid/x:1\n    \
             securityContext:\n      privileged: true\n"
        ),
    )
    .unwrap();
    file
}

fn sign(user: &StakedUser, claims: &Claims) -> String {
    AccessToken::sign(&user.account.wallet, claims)
        .unwrap()
        .into_string()
}

/// Every path of `/openapi.json` is routed by the running master: asked
/// without credentials or body it may refuse, but never with the router's
/// "no such endpoint" or "method not allowed".
async fn every_documented_path_is_served(stack: &Stack) {
    let client = stack.master.client().unwrap();
    let document: serde_json::Value = client.get_json("/openapi.json").await.unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 15, "{paths:?}");
    for (path, item) in paths {
        let concrete = path
            .replace("{node}", "no-such-node")
            .replace("{path}", "v1");
        for method in item.as_object().unwrap().keys() {
            let answer = match method.as_str() {
                "get" => client
                    .get_json::<serde_json::Value>(&concrete)
                    .await
                    .map(drop),
                "post" => client
                    .post_json::<_, serde_json::Value>(&concrete, &serde_json::json!({}))
                    .await
                    .map(drop),
                _ => continue,
            };
            if let Err(AttestedError::Status { status, error, .. }) = &answer {
                assert!(
                    *status != 405 && !(*status == 404 && error == "no such endpoint"),
                    "{method} {path}: {status} {error}"
                );
            }
        }
    }
}
