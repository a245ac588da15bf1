//! `daas-master serve`: the master assembled from its configuration.
//!
//! Always: the attestation provider, the boot-time keys and the attested
//! API. With a cluster (`k3s.kubeconfig` set) also: the chain client, the
//! access and node services merged into the attested API, the webhooks on
//! their own internal listener, the revocation reconciler, and the
//! readiness probes. Without one the master only attests (used to register
//! an enclave before its cluster exists), and says so in its log.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use daas_core::chain::{ChainClient, TransactionSigner};
use daas_core::package::SealTokenId;
use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use prometheus_client::registry::Registry;

use crate::access::{self, AccessService, AccessSettings};
use crate::admission::bootstrap_rbac;
use crate::attestation::{self, DevFallback};
use crate::audit::anchor::{Anchoring, load_gas_key};
use crate::audit::{self, AuditLog, CheckpointPolicy};
use crate::cli::{ServeArgs, announce, https_url, shutdown_signal};
use crate::cluster::ClusterConnection;
use crate::config::MasterConfig;
use crate::endpoint::{Endpoint, Listener};
use crate::gateway::enclave::EnclaveWatch;
use crate::gateway::{Gateway, GatewaySettings};
use crate::http::attestation::{self as attestation_api, AttestationState};
use crate::http::client_limit::limit_by_client;
use crate::http::health::{self, HealthState, NotReady, Readiness};
use crate::http::{app, openapi};
use crate::identity::MasterIdentity;
use crate::namespaces::ensure_master_namespace;
use crate::nodes::{self, NodeService, NodeSettings};
use crate::ratelimit::RateLimiter;
use crate::rbac;
use crate::reconcile::{Invalidation, Reconciler, ReconcilerSettings, ReconcilerStatus};
use crate::revocation::DrainPolicy;
use crate::serve::fd_limit::{self, Budget};
use crate::serve::{ConnectionMetrics, ProxyProtocol, ServeOptions, own_thread, serve_tls};
use crate::tier_policy;
use crate::webhooks::WebhookTls;
use daas_core::error_chain::one_line;

/// How often the chain and the API server are probed for `/readyz`.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// How long the chain may take to tell its height at boot.
const BOOT_HEIGHT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often expired opaque seal tokens are swept.
const SEAL_TOKEN_SWEEP_INTERVAL: Duration = Duration::from_secs(600);
/// Readiness check names.
const CHECK_CHAIN: &str = "chain";
const CHECK_KUBERNETES: &str = "kubernetes";
const CHECK_EVENTS: &str = "chain-events";

type Shutdown = Shared<BoxFuture<'static, ()>>;

/// Runs `daas-master serve` until SIGTERM or SIGINT.
///
/// # Errors
/// The configuration is invalid, or a listener or a dependency could not be
/// set up.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => MasterConfig::load(path)?,
        None => MasterConfig::default(),
    };
    if config.api.tls_cert.is_some() || config.api.tls_key.is_some() {
        tracing::warn!(
            "api.tls_cert/api.tls_key are ignored: the attested TLS key is made in memory at boot"
        );
    }
    let listen = match &args.listen {
        Some(listen) => listen.clone(),
        None => config
            .listen()
            .unwrap_or_else(|| Endpoint::Tcp("127.0.0.1:8443".to_owned())),
    };
    let shutdown: Shutdown = shutdown_signal().boxed().shared();

    let (identity, attestation_routes) = attested_api(&args, &config)?;
    let mut registry = Registry::with_prefix("daas_master");
    let listeners = ListenerOptions::new(&config, &listen, &mut registry)?;
    let readiness = Arc::new(Readiness::new(&[
        CHECK_CHAIN,
        CHECK_KUBERNETES,
        CHECK_EVENTS,
    ]));
    let mut routes = attestation_routes.merge(openapi::router());
    let mut tasks = tokio::task::JoinSet::new();
    let mut webhooks_served = None;
    match &config.k3s.kubeconfig {
        Some(kubeconfig) => {
            let cluster = ClusterConnection::from_kubeconfig(kubeconfig).await?;
            let chain = ChainClient::new(config.chain_config().map_err(anyhow::Error::msg)?)
                .context("cannot set up the chain client")?;
            let services = ClusterServices::new(&config, &cluster, &chain, &mut registry);
            routes = routes
                .merge(access::router(Arc::clone(&services.access)))
                .merge(nodes::router(Arc::clone(&services.nodes)));
            let audit_log = open_audit_log(&args, &config, &identity)?;
            routes = routes.merge(audit::http::router(
                Arc::clone(&audit_log),
                Arc::clone(&services.access),
            ));
            let webhooks = webhook_listener(&args).await?;
            let webhook_app = app(access::webhook_router(Arc::clone(&services.access))
                .merge(audit::http::webhook_router(Arc::clone(&audit_log))));
            let webhook_tls = WebhookTls::load_or_create(&args.state_dir)?.server_config()?;
            webhooks_served = Some(
                own_thread::spawn(
                    "webhooks",
                    serve_tls(
                        webhooks,
                        webhook_tls,
                        webhook_app,
                        listeners.webhooks,
                        shutdown.clone(),
                    ),
                )
                .context("cannot start the webhook listener's thread")?,
            );
            let start = boot_checkpoint(&chain).await;
            let mut reconciler = services.reconciler(&config, &cluster, &chain, start)?;
            if config.gateway.enabled {
                reconciler = reconciler.with_gateway(gateway(
                    &identity,
                    &cluster,
                    &chain,
                    Arc::clone(&services.access),
                ));
            }
            tasks.spawn(
                Anchoring {
                    log: audit_log,
                    chain: chain.clone(),
                    gas: gas_key(&config)?,
                    public_key: identity.signing_public_key(),
                }
                .run(),
            );
            tasks.spawn(watch_events(
                reconciler.status(),
                Arc::clone(&readiness),
                Arc::clone(&services.access),
            ));
            tasks.spawn(Arc::clone(&services.access).sweep_seal_tokens(SEAL_TOKEN_SWEEP_INTERVAL));
            tasks.spawn(Arc::clone(&services.nodes).sweep_quiet_nodes());
            tasks.spawn(reconciler.run(shutdown.clone()));
            tasks.spawn(probe(cluster.client.clone(), chain, Arc::clone(&readiness)));
        }
        None => {
            tracing::warn!(
                "no k3s.kubeconfig configured: serving attestation only, no cluster access"
            );
            for check in [CHECK_CHAIN, CHECK_KUBERNETES, CHECK_EVENTS] {
                readiness.pass(check);
            }
        }
    }
    let health = Arc::new(HealthState {
        readiness,
        registry,
    });
    let client_limit = Arc::new(RateLimiter::per_minute(
        config.api.client_rate_limit_per_minute,
    ));
    let public = limit_by_client(app(routes.merge(health::router(health))), client_limit);

    let listener = Listener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    announce(&format!(
        "daas-master listening on {}",
        https_url(&listener)?
    ))?;
    serve_tls(
        listener,
        identity.server_config()?,
        public,
        listeners.public,
        shutdown,
    )
    .await?;
    if let Some(served) = webhooks_served
        && let Err(error) = served.await
    {
        tracing::warn!(%error, "the webhook listener stopped with an error");
    }
    tasks.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// How the public and the webhook listeners serve: their limits, fitted
/// to the open-file limit, and the public one's PROXY protocol setting.
struct ListenerOptions {
    public: ServeOptions,
    webhooks: ServeOptions,
}

impl ListenerOptions {
    fn new(
        config: &MasterConfig,
        listen: &Endpoint,
        registry: &mut Registry,
    ) -> anyhow::Result<Self> {
        let mut public = config.connection_limits();
        let mut webhook = config.webhook_connection_limits();
        let budget = fd_limit::fit(
            fd_limit::raise_open_file_limit(),
            1,
            Budget {
                public: public.max_connections,
                webhook: Some(webhook.max_connections),
            },
        )?;
        public.max_connections = budget.public;
        // `fit` keeps a cap for each listener it was asked for.
        webhook.max_connections = budget.webhook.unwrap_or(webhook.max_connections);
        let metrics = ConnectionMetrics::register(registry);
        let proxy_protocol = config.proxy_protocol(listen);
        tracing::info!(
            max_connections = public.max_connections,
            webhook_max_connections = webhook.max_connections,
            ?proxy_protocol,
            "connection limits"
        );
        Ok(Self {
            public: ServeOptions {
                name: "public",
                limits: public,
                proxy_protocol,
                metrics: Some(metrics.clone()),
            },
            webhooks: ServeOptions {
                name: "webhooks",
                limits: webhook,
                proxy_protocol: ProxyProtocol::Off,
                metrics: Some(metrics),
            },
        })
    }
}

/// The provider, the boot-time keys and the attestation routes.
fn attested_api(
    args: &ServeArgs,
    config: &MasterConfig,
) -> anyhow::Result<(Arc<MasterIdentity>, Router)> {
    let mode = match args.attestation {
        Some(mode) => mode,
        None => config.tee.tee_type.unwrap_or_default(),
    };
    let fallback = if args.allow_dev_fallback {
        DevFallback::Allow
    } else {
        config.dev_fallback()
    };
    let provider = attestation::start(mode, fallback, &args.state_dir)?;
    let identity = Arc::new(MasterIdentity::generate()?);
    let state = AttestationState::new(
        Arc::clone(&provider),
        Arc::clone(&identity),
        config.tee.attestation_interval,
    )
    .context("the attestation provider cannot make a document")?
    .with_rate_limit(config.tee.attestation_rate_limit_per_minute);
    tracing::info!(
        tee_type = %provider.tee_type(),
        signing_public_key = %identity.signing_public_key_hex(),
        tls_spki_sha256 = %hex::encode(identity.tls_spki_sha256()),
        "master keys made"
    );
    Ok((identity, attestation_api::router(Arc::new(state))))
}

/// The audit log in the state directory, signed with this boot's key.
fn open_audit_log(
    args: &ServeArgs,
    config: &MasterConfig,
    identity: &MasterIdentity,
) -> anyhow::Result<Arc<AuditLog>> {
    let policy = CheckpointPolicy {
        events: config.audit.checkpoint_events,
        interval: config.audit.checkpoint_interval,
    };
    let log = AuditLog::open(&args.state_dir, identity.signing_key().clone(), policy)
        .context("cannot open the audit log")?;
    Ok(Arc::new(log))
}

/// The key that pays for anchoring, if configured.
fn gas_key(config: &MasterConfig) -> anyhow::Result<Option<Arc<dyn TransactionSigner>>> {
    let Some(path) = &config.audit.gas_key_file else {
        return Ok(None);
    };
    let key = load_gas_key(path)?;
    tracing::info!(address = %key.address(), "audit anchoring pays gas from this address");
    Ok(Some(Arc::new(key)))
}

async fn webhook_listener(args: &ServeArgs) -> anyhow::Result<Listener> {
    let listener = Listener::bind(&args.webhook_listen)
        .await
        .with_context(|| format!("cannot listen for webhooks on {}", args.webhook_listen))?;
    tracing::info!(endpoint = %listener.local_endpoint()?, "webhooks listening");
    Ok(listener)
}

/// The services that need the cluster and the chain.
struct ClusterServices {
    access: Arc<AccessService>,
    nodes: Arc<NodeService>,
}

impl ClusterServices {
    fn new(
        config: &MasterConfig,
        cluster: &ClusterConnection,
        chain: &ChainClient,
        registry: &mut Registry,
    ) -> Self {
        let api_server_url = config
            .k3s
            .api_server_url
            .clone()
            .unwrap_or_else(|| cluster.server_url.clone());
        let audience = config
            .k3s
            .audience
            .clone()
            .unwrap_or_else(|| api_server_url.clone());
        let rate_limit = config.access.rate_limit_per_minute;
        let clock_skew = config.access.clock_skew;
        let access = AccessService::new(
            AccessSettings {
                audience: audience.clone(),
                api_server_url: api_server_url.clone(),
                cluster_ca_pem: cluster.ca_pem.clone(),
                decision_cache_ttl: config.access.decision_cache,
                seal_token_ttl: config.access.seal_token_ttl,
                seal_tokens_per_owner: config.access.seal_tokens_per_owner,
                clock_skew,
                rate_limit_per_minute: rate_limit,
            },
            chain.clone(),
            cluster.client.clone(),
            registry,
        );
        let access = Arc::new(access);
        let nodes = NodeService::new(
            NodeSettings {
                api_server_url,
                cluster_ca_pem: cluster.ca_pem.clone(),
                audience,
                bootstrap_token_ttl: config.nodes.bootstrap_token_ttl,
                proof_max_age: config.nodes.proof_max_age,
                clock_skew,
                rate_limit_per_minute: rate_limit,
                exempt: config.nodes.exempt(),
            },
            chain.clone(),
            cluster.client.clone(),
            registry,
        )
        .with_access(Arc::clone(&access))
        .with_drain_policy(DrainPolicy {
            timeout: config.nodes.drain_timeout,
            ..DrainPolicy::default()
        });
        Self {
            access,
            nodes: Arc::new(nodes),
        }
    }

    fn reconciler(
        &self,
        config: &MasterConfig,
        cluster: &ClusterConnection,
        chain: &ChainClient,
        invalidation_start: Option<u64>,
    ) -> anyhow::Result<Reconciler> {
        let mut settings = ReconcilerSettings::new(replica_identity());
        settings.invalidation_start = invalidation_start;
        settings.drain = DrainPolicy {
            timeout: config.nodes.drain_timeout,
            ..DrainPolicy::default()
        };
        settings.recheck_interval = config.nodes.recheck_interval;
        settings.exempt = config.nodes.exempt();
        settings.lease = config.leader.lease_settings();
        let invalidation = Arc::new(Caches {
            access: Arc::clone(&self.access),
            nodes: Arc::clone(&self.nodes),
        });
        Reconciler::new(
            settings,
            chain.clone(),
            cluster.client.clone(),
            invalidation,
        )
        .context("cannot set up the revocation reconciler")
    }
}

/// The first checkpoint after the chain's height now, before the master
/// can be attested (so before its key can be registered); `None` when the
/// chain does not answer in time (the follower then starts at the head it
/// first reads).
async fn boot_checkpoint(chain: &ChainClient) -> Option<u64> {
    match tokio::time::timeout(BOOT_HEIGHT_TIMEOUT, chain.service_info()).await {
        Ok(Ok(info)) => Some(info.checkpoint_height.saturating_add(1)),
        Ok(Err(error)) => {
            tracing::warn!(error = %one_line(&error), "cannot read the chain height at boot");
            None
        }
        Err(_) => {
            tracing::warn!("the chain did not tell its height at boot in time");
            None
        }
    }
}

/// The on-chain gateway, signing with this boot's enclave key.
fn gateway(
    identity: &MasterIdentity,
    cluster: &ClusterConnection,
    chain: &ChainClient,
    access: Arc<AccessService>,
) -> Arc<Gateway> {
    let enclave = EnclaveWatch::new(identity.signing_key().clone());
    tracing::info!(
        gas_address = %enclave.gas_address(),
        "on-chain gateway on: fund this address to pay for recording results"
    );
    Arc::new(Gateway::new(
        GatewaySettings::default(),
        chain.clone(),
        cluster.client.clone(),
        access,
        enclave,
    ))
}

/// This replica's name in the leader Lease: the host name and a random
/// suffix, so a restarted master is a new holder.
fn replica_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "daas-master".to_owned());
    format!("{host}-{:08x}", rand::random::<u32>())
}

/// The caches chain events invalidate: access decisions and admitted nodes.
struct Caches {
    access: Arc<AccessService>,
    nodes: Arc<NodeService>,
}

impl Invalidation for Caches {
    fn seal_token_changed(&self, id: SealTokenId) {
        self.access.invalidate_seal_token(id);
        self.nodes.invalidate_seal_token(id);
    }

    fn all_changed(&self) {
        self.access.invalidate_all();
        self.nodes.invalidate_all();
    }
}

/// Mirrors the event follower's status into `/readyz` and into how long
/// access decisions are cached.
async fn watch_events(
    mut status: tokio::sync::watch::Receiver<ReconcilerStatus>,
    readiness: Arc<Readiness>,
    access: Arc<AccessService>,
) {
    loop {
        let caught_up = status.borrow_and_update().caught_up;
        access.set_events_caught_up(caught_up);
        if caught_up {
            readiness.pass(CHECK_EVENTS);
        } else {
            readiness.fail(
                CHECK_EVENTS,
                NotReady::Behind,
                &"the chain event follower is not caught up",
            );
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}

/// Probes the chain and the API server for `/readyz`. The API server is
/// ready once the master's set-up on it is done ([`set_up_cluster`]); that is
/// done once, after which only reachability is probed.
async fn probe(kube: kube::Client, chain: ChainClient, readiness: Arc<Readiness>) {
    let mut set_up = false;
    loop {
        match chain.service_info().await {
            Ok(_) => readiness.pass(CHECK_CHAIN),
            Err(error) => readiness.fail(CHECK_CHAIN, NotReady::Unreachable, &one_line(&error)),
        }
        match kube.apiserver_version().await {
            Err(error) => {
                readiness.fail(CHECK_KUBERNETES, NotReady::Unreachable, &one_line(&error));
            }
            Ok(_) if set_up => readiness.pass(CHECK_KUBERNETES),
            Ok(_) => match set_up_cluster(&kube).await {
                Ok(()) => {
                    set_up = true;
                    readiness.pass(CHECK_KUBERNETES);
                }
                Err(error) => readiness.fail(CHECK_KUBERNETES, NotReady::SettingUp, &error),
            },
        }
        tokio::time::sleep(PROBE_INTERVAL).await;
    }
}

/// What the master needs in the cluster: its namespace, the tier
/// ClusterRoleBindings (whose roles must have their aggregated rules), the
/// tier admission policy, and the RBAC of TLS bootstrapping (warning about
/// bindings that would let bootstrappers become any node).
async fn set_up_cluster(kube: &kube::Client) -> Result<(), String> {
    let failed = |what: &str| {
        let what = what.to_owned();
        move |error: kube::Error| format!("cannot {what} yet: {}", one_line(&error))
    };
    ensure_master_namespace(kube)
        .await
        .map_err(failed("create the master's namespace"))?;
    rbac::ensure_tier_bindings(kube).await.map_err(|error| {
        format!(
            "cannot apply the tier ClusterRoleBindings yet: {}",
            one_line(&error)
        )
    })?;
    tier_policy::ensure_tier_policy(kube)
        .await
        .map_err(|error| {
            format!(
                "cannot apply the tier admission policy yet: {}",
                one_line(&error)
            )
        })?;
    rbac::tier_roles_ready(kube).await?;
    bootstrap_rbac::ensure_node_bootstrap_bindings(kube)
        .await
        .map_err(failed("apply the node bootstrap bindings"))?;
    match bootstrap_rbac::unwanted_auto_approvals(kube).await {
        Ok(bindings) if !bindings.is_empty() => tracing::warn!(
            ?bindings,
            "these ClusterRoleBindings let the controller manager approve any bootstrapper's \
             request for any node name, around the master's check; delete them"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(error = %one_line(&error), "cannot list ClusterRoleBindings"),
    }
    Ok(())
}
