//! The tier bindings against the real API server: each tier, impersonated,
//! can do what its binding allows and no more.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::{Duration, Instant};

use daas_core::access::review::{USERS_GROUP, tier_group};
use daas_core::package::Tier;
use daas_e2e::k3s::{self, Cluster};
use daas_master::rbac::{self, RbacError};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kube::Client;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use sui_sdk_types::Address;

fn random_address() -> Address {
    Address::new(rand::random())
}

/// A client that acts as `sui:<address>` in the groups of `tier`, as the
/// TokenReview answers them.
async fn client_as(cluster: &Cluster, address: Address, tier: Tier) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(cluster.kubeconfig()).unwrap();
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap();
    config.auth_info.impersonate = Some(rbac::username(address));
    config.auth_info.impersonate_groups = Some(vec![tier_group(tier), USERS_GROUP.to_owned()]);
    Client::try_from(config).unwrap()
}

fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some([("k".to_owned(), "v".to_owned())].into()),
        ..ConfigMap::default()
    }
}

fn is_forbidden(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 403)
}

/// RBAC changes reach the API server's authorizer through an informer, so
/// they take effect a moment after the write.
const RBAC_PROPAGATION: Duration = Duration::from_secs(15);

/// Retries `attempt` while it is forbidden, until the grant propagates.
async fn eventually_allowed<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let deadline = Instant::now() + RBAC_PROPAGATION;
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(e) if is_forbidden(&e) && Instant::now() < deadline => {}
            Err(e) => panic!("{what}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Retries `attempt` while it is allowed, until a revocation propagates;
/// each attempt must use fresh names.
async fn eventually_forbidden<T, F, Fut>(what: &str, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let deadline = Instant::now() + RBAC_PROPAGATION;
    loop {
        match attempt().await {
            Err(e) if is_forbidden(&e) => return,
            Ok(_) if Instant::now() < deadline => {}
            Ok(_) => panic!("{what} is still allowed"),
            Err(e) => panic!("{what}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn fresh(prefix: &str) -> String {
    format!("{prefix}-{}", k3s::unique_suffix())
}

/// Creates a config map; the future owns what it needs, so closures can
/// return it.
fn create_config_map(
    client: &Client,
    namespace: &str,
    name: &str,
) -> impl Future<Output = Result<ConfigMap, kube::Error>> + use<> {
    let api = Api::<ConfigMap>::namespaced(client.clone(), namespace);
    let object = config_map(name);
    async move { api.create(&PostParams::default(), &object).await }
}

/// Lists pods; the future owns what it needs.
fn list_pods(
    api: &Api<Pod>,
) -> impl Future<Output = Result<kube::core::ObjectList<Pod>, kube::Error>> + use<> {
    let api = api.clone();
    async move { api.list(&ListParams::default()).await }
}

async fn setup() -> (&'static Cluster, Client) {
    let cluster = k3s::shared().await.unwrap();
    let admin = cluster.client().await.unwrap();
    rbac::ensure_tier_bindings(&admin).await.unwrap();
    (cluster, admin)
}

#[tokio::test]
async fn tier_bindings_are_idempotent() {
    let (_, admin) = setup().await;
    rbac::ensure_tier_bindings(&admin).await.unwrap();
    rbac::ensure_tier_bindings(&admin).await.unwrap();
    let address = random_address();
    let first = rbac::ensure_user_access(&admin, address, Some(Tier::Developer))
        .await
        .unwrap();
    let second = rbac::ensure_user_access(&admin, address, Some(Tier::Developer))
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(
        first,
        Some(daas_core::access::review::user_namespace(address))
    );
}

#[tokio::test]
async fn viewer_reads_but_does_not_write() {
    let (cluster, admin) = setup().await;
    let namespace = cluster
        .create_namespace(&admin, "rbac-viewer")
        .await
        .unwrap();
    let viewer = client_as(cluster, random_address(), Tier::Viewer).await;
    let pods = Api::<Pod>::namespaced(viewer.clone(), &namespace);
    eventually_allowed("viewer lists pods", || list_pods(&pods)).await;
    let all_pods = Api::<Pod>::all(viewer.clone());
    eventually_allowed("viewer lists all pods", || list_pods(&all_pods)).await;
    eventually_forbidden("viewer creates a pod", || {
        let pod = daas_e2e::kwok::simple_pod(&fresh("viewer-pod"), None);
        let pods = pods.clone();
        async move { pods.create(&PostParams::default(), &pod).await }
    })
    .await;
    eventually_forbidden("viewer creates a config map", || {
        create_config_map(&viewer, &namespace, &fresh("viewer-cm"))
    })
    .await;
}

#[tokio::test]
async fn developer_writes_only_in_own_namespace() {
    let (cluster, admin) = setup().await;
    let address = random_address();
    let own = rbac::ensure_user_access(&admin, address, Some(Tier::Developer))
        .await
        .unwrap()
        .unwrap();
    let ns = Api::<Namespace>::all(admin.clone())
        .get(&own)
        .await
        .unwrap();
    let annotations = ns.metadata.annotations.unwrap();
    assert_eq!(
        annotations[daas_master::labels::OWNER_ANNOTATION],
        address.to_string()
    );

    let other = cluster
        .create_namespace(&admin, "rbac-dev-other")
        .await
        .unwrap();
    let developer = client_as(cluster, address, Tier::Developer).await;
    eventually_allowed("developer creates a config map in own namespace", || {
        create_config_map(&developer, &own, &fresh("dev-cm"))
    })
    .await;
    let pods = Api::<Pod>::namespaced(developer.clone(), &own);
    eventually_allowed("developer creates a pod in own namespace", || {
        let pod = daas_e2e::kwok::simple_pod(&fresh("dev-pod"), None);
        let pods = pods.clone();
        async move { pods.create(&PostParams::default(), &pod).await }
    })
    .await;
    eventually_forbidden("developer creates in another namespace", || {
        create_config_map(&developer, &other, &fresh("dev-cm"))
    })
    .await;
    // Developers read cluster-wide.
    let other_pods = Api::<Pod>::namespaced(developer.clone(), &other);
    eventually_allowed("developer lists pods elsewhere", || list_pods(&other_pods)).await;

    // Another developer cannot write in this developer's namespace.
    let stranger = client_as(cluster, random_address(), Tier::Developer).await;
    eventually_forbidden("a stranger writes in a developer's namespace", || {
        create_config_map(&stranger, &own, &fresh("stranger-cm"))
    })
    .await;
}

#[tokio::test]
async fn leaving_the_developer_tier_removes_the_namespace_binding() {
    let (cluster, admin) = setup().await;
    let address = random_address();
    let own = rbac::ensure_user_access(&admin, address, Some(Tier::Developer))
        .await
        .unwrap()
        .unwrap();
    let developer = client_as(cluster, address, Tier::Developer).await;
    eventually_allowed("developer writes", || {
        create_config_map(&developer, &own, &fresh("before"))
    })
    .await;

    assert_eq!(
        rbac::ensure_user_access(&admin, address, Some(Tier::Viewer))
            .await
            .unwrap(),
        None
    );
    let bindings = Api::<RoleBinding>::namespaced(admin.clone(), &own);
    assert!(
        bindings
            .get_opt(rbac::DEVELOPER_ROLE_BINDING)
            .await
            .unwrap()
            .is_none()
    );
    let viewer = client_as(cluster, address, Tier::Viewer).await;
    eventually_forbidden("former developer writes", || {
        create_config_map(&viewer, &own, &fresh("after"))
    })
    .await;
    // Revoking again is not an error, and the namespace stays.
    rbac::revoke_user_access(&admin, address).await.unwrap();
    assert!(
        Api::<Namespace>::all(admin.clone())
            .get_opt(&own)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn namespace_of_another_owner_is_refused() {
    let (_, admin) = setup().await;
    let owner = random_address();
    let mut bytes = owner.into_inner();
    bytes[31] ^= 1;
    let squatter = Address::new(bytes);
    assert_eq!(
        daas_core::access::review::user_namespace(owner),
        daas_core::access::review::user_namespace(squatter)
    );
    rbac::ensure_user_access(&admin, owner, Some(Tier::Developer))
        .await
        .unwrap();
    let err = rbac::ensure_user_access(&admin, squatter, Some(Tier::Developer))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RbacError::NamespaceOwnedByOther { found: Some(found), .. } if *found == owner.to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn admin_writes_in_any_namespace_but_not_cluster_roles() {
    let (cluster, admin_client) = setup().await;
    let namespace = cluster
        .create_namespace(&admin_client, "rbac-admin")
        .await
        .unwrap();
    let admin = client_as(cluster, random_address(), Tier::Admin).await;
    eventually_allowed("admin writes in a test namespace", || {
        create_config_map(&admin, &namespace, &fresh("admin-cm"))
    })
    .await;
    eventually_allowed("admin writes in default", || {
        create_config_map(&admin, "default", &fresh("admin-cm"))
    })
    .await;
    let roles = Api::<ClusterRole>::all(admin);
    eventually_forbidden("admin creates a ClusterRole", || {
        let role = cluster_role(&fresh("daas-test-admin"));
        let roles = roles.clone();
        async move { roles.create(&PostParams::default(), &role).await }
    })
    .await;
}

#[tokio::test]
async fn super_creates_cluster_roles() {
    let (cluster, _) = setup().await;
    let superuser = client_as(cluster, random_address(), Tier::Super).await;
    let roles = Api::<ClusterRole>::all(superuser);
    eventually_allowed("super creates a ClusterRole", || {
        let role = cluster_role(&fresh("daas-test-super"));
        let roles = roles.clone();
        async move { roles.create(&PostParams::default(), &role).await }
    })
    .await;
}

fn cluster_role(name: &str) -> ClusterRole {
    ClusterRole {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        rules: Some(Vec::new()),
        ..ClusterRole::default()
    }
}
