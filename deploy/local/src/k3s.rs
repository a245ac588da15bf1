//! A real Kubernetes control plane for the end-to-end tests.
//!
//! K3s itself cannot be built on these machines (its Go module is not served
//! by the module proxy; see `deploy/k3s/README.md`), so this module runs the
//! components that K3s embeds in its server, built from upstream modules by
//! `deploy/k3s/build.sh`:
//!
//! - **kine** serving the etcd API over SQLite on a unix socket (K3s's default
//!   datastore),
//! - **kube-apiserver** on `127.0.0.1` and a free port, with client-certificate,
//!   bootstrap-token, static-token and (on request) webhook authentication, RBAC
//!   and Node authorization, and (on request) audit to a webhook,
//! - **kube-controller-manager** and **kube-scheduler**, serving no port.
//!
//! That is `k3s server --disable-agent` with every add-on disabled. No fixed
//! port is bound anywhere, so two test binaries on one machine never collide.
//!
//! Every process runs under a supervisor (the `supervisor` module): in its
//! own process group, stopped and cleaned up by a janitor when the
//! [`Cluster`] is dropped or the test process exits, panics or is killed.
//! That is what cleans up the [`shared`] cluster, whose `Drop` never runs.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use rand::Rng as _;
use rand::distributions::Alphanumeric;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use tokio::sync::OnceCell;

use crate::supervisor::Supervisor;

/// Environment variable naming the directory that holds `kine`,
/// `kube-apiserver`, `kube-controller-manager`, `kube-scheduler` and `kubectl`
/// (and, for [`crate::node`], the kubelet, containerd, its shim, ctr and the
/// image archives). Without it the harness uses the links that
/// `deploy/k3s/build.sh` makes.
pub const BIN_DIR_ENV: &str = "DAAS_K8S_BIN_DIR";

/// The Kubernetes release that `deploy/k3s/build.sh` builds; k8s-openapi's
/// `v1_37` feature matches it.
pub const KUBERNETES_VERSION: &str = "v1.37.2";

/// User name of the static-token user that [`shared`] clusters carry: a
/// plain authenticated user with no RBAC binding.
pub const E2E_USER: &str = "daas-e2e-user";

/// Service CIDR (K3s's default), and the API server's address in it.
const SERVICE_CIDR: &str = "10.43.0.0/16";
const SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 43, 0, 1);
/// Pod CIDR (K3s's default).
const CLUSTER_CIDR: &str = "10.42.0.0/16";
/// Issuer and audience of service-account tokens (K3s's values).
const SA_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// Kubeconfig names of the cluster and the admin user.
const CLUSTER_NAME: &str = "daas-e2e";
/// Subject of the admin client certificate (bound by `system:masters`).
const ADMIN_USER: &str = "daas-e2e-admin";

/// The control-plane binaries.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// kine, the etcd API over SQLite.
    pub kine: PathBuf,
    /// kube-apiserver.
    pub kube_apiserver: PathBuf,
    /// kube-controller-manager.
    pub kube_controller_manager: PathBuf,
    /// kube-scheduler.
    pub kube_scheduler: PathBuf,
    /// kubectl.
    pub kubectl: PathBuf,
}

impl Binaries {
    /// Finds the binaries in `$DAAS_K8S_BIN_DIR`, or else in the stable links
    /// that `deploy/k3s/build.sh` makes in
    /// `${XDG_CACHE_HOME:-~/.cache}/k3s-daas/bin`.
    pub fn locate() -> Result<Self> {
        match std::env::var_os(BIN_DIR_ENV) {
            Some(dir) if !dir.is_empty() => Self::in_dir(Path::new(&dir))
                .with_context(|| format!("{BIN_DIR_ENV} points at {}", Path::new(&dir).display())),
            _ => Self::in_dir(&default_bin_dir()?),
        }
    }

    /// Takes the binaries from `dir`, checking that each one is there and
    /// executable.
    pub fn in_dir(dir: &Path) -> Result<Self> {
        let find = |name: &str| -> Result<PathBuf> {
            let path = dir.join(name);
            ensure_executable(&path)?;
            Ok(path)
        };
        Ok(Self {
            kine: find("kine")?,
            kube_apiserver: find("kube-apiserver")?,
            kube_controller_manager: find("kube-controller-manager")?,
            kube_scheduler: find("kube-scheduler")?,
            kubectl: find("kubectl")?,
        })
    }
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/k3s-daas/bin`, where `deploy/k3s/build.sh`
/// links the binaries it builds.
pub fn default_bin_dir() -> Result<PathBuf> {
    let cache = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let home = std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .ok_or_else(|| anyhow!("neither XDG_CACHE_HOME nor HOME is set"))?;
            PathBuf::from(home).join(".cache")
        }
    };
    Ok(cache.join("k3s-daas").join("bin"))
}

/// Fails with a message that says how to get the binary when `path` is not an
/// executable file.
pub(crate) fn ensure_executable(path: &Path) -> Result<()> {
    let meta = fs::metadata(path).map_err(|e| {
        anyhow!(
            "{} is missing ({e}): run deploy/k3s/build.sh to build the test cluster's binaries",
            path.display()
        )
    })?;
    ensure!(
        meta.is_file() && meta.permissions().mode() & 0o111 != 0,
        "{} is not an executable file: run deploy/k3s/build.sh to rebuild it",
        path.display()
    );
    Ok(())
}

/// A user of the API server's `--token-auth-file`.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticToken {
    /// The bearer token.
    pub token: String,
    /// User name.
    pub user: String,
    /// User uid.
    pub uid: String,
    /// Groups beyond `system:authenticated`.
    pub groups: Vec<String>,
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticToken")
            .field("token", &"<redacted>")
            .field("user", &self.user)
            .field("uid", &self.uid)
            .field("groups", &self.groups)
            .finish()
    }
}

impl StaticToken {
    /// A user with a random 32-character token, its name as uid, and `groups`.
    pub fn generate(user: &str, groups: &[&str]) -> Self {
        let token: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        Self {
            token,
            user: user.to_owned(),
            uid: user.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    /// The CSV line of the token file: `token,user,uid,"group1,group2"`.
    fn csv_line(&self) -> Result<String> {
        for (what, value) in [
            ("token", &self.token),
            ("user", &self.user),
            ("uid", &self.uid),
        ] {
            ensure!(
                !value.is_empty() && !value.contains([',', '"', '\n', '\r']),
                "static token {what} {value:?} must be non-empty and contain no comma, quote or newline"
            );
        }
        for group in &self.groups {
            ensure!(
                !group.is_empty() && !group.contains([',', '"', '\n', '\r']),
                "static token group {group:?} must be non-empty and contain no comma, quote or newline"
            );
        }
        Ok(format!(
            "{},{},{},\"{}\"",
            self.token,
            self.user,
            self.uid,
            self.groups.join(",")
        ))
    }
}

/// How the API server is started: the extension points the product plugs into.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    token_webhook: Option<(PathBuf, Duration)>,
    authorization_config: Option<PathBuf>,
    admission_control_config: Option<PathBuf>,
    audit_policy_file: Option<PathBuf>,
    audit_webhook_config_file: Option<PathBuf>,
    static_tokens: Vec<StaticToken>,
    apiserver_args: Vec<(String, String)>,
    binaries: Option<Binaries>,
    startup_timeout: Duration,
    state_dir: Option<PathBuf>,
    apiserver_port: Option<u16>,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ClusterBuilder {
    /// A cluster with client-certificate, bootstrap-token and (if any are
    /// added) static-token authentication, and nothing else.
    pub fn new() -> Self {
        Self {
            token_webhook: None,
            authorization_config: None,
            admission_control_config: None,
            audit_policy_file: None,
            audit_webhook_config_file: None,
            static_tokens: Vec::new(),
            apiserver_args: Vec::new(),
            binaries: None,
            startup_timeout: Duration::from_secs(120),
            state_dir: None,
            apiserver_port: None,
        }
    }

    /// Keeps the cluster in `dir` (made if missing) instead of a temporary
    /// directory: its PKI, kubeconfigs and kine database are reused by the
    /// next start and left in place when it stops. Only one cluster may run
    /// from a directory at a time (the caller's lock).
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// Serves the API server on this port of 127.0.0.1 instead of a free
    /// one; a port in use fails the start instead of being retried.
    pub fn apiserver_port(mut self, port: u16) -> Self {
        self.apiserver_port = Some(port);
        self
    }

    /// Authenticates bearer tokens through a webhook
    /// (`--authentication-token-webhook-config-file`, `…-version=v1`), caching
    /// its answers for `cache_ttl` (`--authentication-token-webhook-cache-ttl`).
    pub fn token_webhook(mut self, config_file: impl Into<PathBuf>, cache_ttl: Duration) -> Self {
        self.token_webhook = Some((config_file.into(), cache_ttl));
        self
    }

    /// Authorizes with a structured `AuthorizationConfiguration` file
    /// (`--authorization-config`) instead of `--authorization-mode=Node,RBAC`;
    /// the file lists the authorizers (a webhook among them) in order.
    pub fn authorization_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.authorization_config = Some(path.into());
        self
    }

    /// Configures admission plugins (`--admission-control-config-file`),
    /// e.g. Pod Security's cluster-wide default.
    pub fn admission_control_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.admission_control_config = Some(path.into());
        self
    }

    /// Sets the audit policy (`--audit-policy-file`).
    pub fn audit_policy_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.audit_policy_file = Some(path.into());
        self
    }

    /// Sends audit events to a webhook (`--audit-webhook-config-file`). Needs
    /// an audit policy too.
    pub fn audit_webhook_config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.audit_webhook_config_file = Some(path.into());
        self
    }

    /// Adds a user to the API server's `--token-auth-file`.
    pub fn static_token(mut self, token: StaticToken) -> Self {
        self.static_tokens.push(token);
        self
    }

    /// Passes `--<flag>=<value>` to kube-apiserver, after the harness's own
    /// flags (so it overrides them). `flag` is given without the dashes.
    pub fn apiserver_arg(mut self, flag: impl Into<String>, value: impl Into<String>) -> Self {
        self.apiserver_args.push((flag.into(), value.into()));
        self
    }

    /// Uses these binaries instead of [`Binaries::locate`].
    pub fn binaries(mut self, binaries: Binaries) -> Self {
        self.binaries = Some(binaries);
        self
    }

    /// How long the API server may take to become ready (default 120 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Checks the configuration before anything is started.
    fn validate(&self) -> Result<()> {
        if let Some((config, ttl)) = &self.token_webhook {
            ensure_file(config, "token webhook config file")?;
            ensure!(
                ttl.subsec_nanos() % 1_000_000 == 0,
                "token webhook cache TTL {ttl:?} must be a whole number of milliseconds"
            );
        }
        if let Some(config) = &self.authorization_config {
            ensure_file(config, "authorization config file")?;
        }
        if let Some(config) = &self.admission_control_config {
            ensure_file(config, "admission control config file")?;
        }
        if let Some(policy) = &self.audit_policy_file {
            ensure_file(policy, "audit policy file")?;
        }
        if let Some(webhook) = &self.audit_webhook_config_file {
            ensure_file(webhook, "audit webhook config file")?;
            ensure!(
                self.audit_policy_file.is_some(),
                "an audit webhook config file was given without an audit policy file; \
                 the API server would send no events"
            );
        }
        for (flag, _) in &self.apiserver_args {
            ensure!(
                !flag.is_empty()
                    && !flag.starts_with('-')
                    && flag
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "kube-apiserver flag {flag:?} must be a flag name without leading dashes"
            );
        }
        let mut users: Vec<&str> = self
            .static_tokens
            .iter()
            .map(|t| t.token.as_str())
            .collect();
        users.sort_unstable();
        let before = users.len();
        users.dedup();
        ensure!(users.len() == before, "two static tokens share one token");
        for token in &self.static_tokens {
            token.csv_line()?;
        }
        Ok(())
    }

    /// Starts the cluster and waits until the API server is ready.
    pub async fn start(self) -> Result<Cluster> {
        self.validate()?;
        let binaries = match &self.binaries {
            Some(b) => b.clone(),
            None => Binaries::locate()?,
        };
        let mut cluster = Cluster::prepare(
            binaries,
            self.static_tokens.clone(),
            self.state_dir.as_deref(),
        )?;
        cluster.boot(&self).await?;
        Ok(cluster)
    }
}

fn ensure_file(path: &Path, what: &str) -> Result<()> {
    let meta =
        fs::metadata(path).with_context(|| format!("{what} {} cannot be read", path.display()))?;
    ensure!(meta.is_file(), "{what} {} is not a file", path.display());
    Ok(())
}

/// A running control plane. Dropping it stops every process and removes its
/// data directory; so does the test process ending in any way.
pub struct Cluster {
    supervisor: Supervisor,
    server: String,
    kubeconfig_path: PathBuf,
    kubeconfig: String,
    ca_pem: String,
    binaries: Binaries,
    static_tokens: Vec<StaticToken>,
    /// The running API server: its component name and flags, kept so that
    /// it can be killed and started again (fault injection).
    apiserver: ApiServer,
    /// Set once kwok runs against this cluster (see [`crate::kwok`]).
    pub(crate) kwok: OnceCell<()>,
}

/// The API server component: its name under the supervisor, its flags, and
/// how many times it was started.
#[derive(Debug, Default)]
struct ApiServer {
    name: String,
    args: Vec<String>,
    starts: u32,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("server", &self.server)
            .field("dir", &self.supervisor.dir())
            .finish_non_exhaustive()
    }
}

/// The certificates and keys of one cluster, as PEM.
struct Pki {
    ca_cert: String,
    ca_key: String,
    serving_cert: String,
    serving_key: String,
    admin_cert: String,
    admin_key: String,
    controller_manager_cert: String,
    controller_manager_key: String,
    scheduler_cert: String,
    scheduler_key: String,
    kubelet_client_cert: String,
    kubelet_client_key: String,
    service_account_key: String,
    service_account_pub: String,
}

/// The PKI's files in the cluster's `tls/` directory, in [`Pki::files`]
/// order.
const PKI_FILES: [&str; 14] = [
    "ca.crt",
    "ca.key",
    "serving.crt",
    "serving.key",
    "admin.crt",
    "admin.key",
    "controller-manager.crt",
    "controller-manager.key",
    "scheduler.crt",
    "scheduler.key",
    "kubelet-client.crt",
    "kubelet-client.key",
    "service-account.key",
    "service-account.pub",
];

impl Pki {
    /// The PKI kept in `tls` if there is one (a persistent cluster started
    /// before), else a new one written there.
    fn load_or_generate(tls: &Path) -> Result<Self> {
        if tls.join(PKI_FILES[0]).is_file() {
            return Self::load(tls);
        }
        let pki = Self::generate()?;
        for (name, contents) in PKI_FILES.iter().zip(pki.files()) {
            write_private(&tls.join(name), contents)?;
        }
        Ok(pki)
    }

    fn load(tls: &Path) -> Result<Self> {
        let read = |i: usize| -> Result<String> {
            let path = tls.join(PKI_FILES[i]);
            fs::read_to_string(&path).with_context(|| {
                format!(
                    "reading {} of the kept cluster PKI (reset the state to start over)",
                    path.display()
                )
            })
        };
        Ok(Self {
            ca_cert: read(0)?,
            ca_key: read(1)?,
            serving_cert: read(2)?,
            serving_key: read(3)?,
            admin_cert: read(4)?,
            admin_key: read(5)?,
            controller_manager_cert: read(6)?,
            controller_manager_key: read(7)?,
            scheduler_cert: read(8)?,
            scheduler_key: read(9)?,
            kubelet_client_cert: read(10)?,
            kubelet_client_key: read(11)?,
            service_account_key: read(12)?,
            service_account_pub: read(13)?,
        })
    }

    fn files(&self) -> [&String; 14] {
        [
            &self.ca_cert,
            &self.ca_key,
            &self.serving_cert,
            &self.serving_key,
            &self.admin_cert,
            &self.admin_key,
            &self.controller_manager_cert,
            &self.controller_manager_key,
            &self.scheduler_cert,
            &self.scheduler_key,
            &self.kubelet_client_cert,
            &self.kubelet_client_key,
            &self.service_account_key,
            &self.service_account_pub,
        ]
    }

    fn generate() -> Result<Self> {
        let ca_key = KeyPair::generate().context("generating the CA key")?;
        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = dn("daas-e2e-ca", None);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .context("signing the CA")?
            .pem();
        let ca_key_pem = ca_key.serialize_pem();
        let issuer = Issuer::new(ca_params, ca_key);

        let mut serving_sans = vec![
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::IpAddress(IpAddr::V4(SERVICE_IP)),
        ];
        for name in [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ] {
            serving_sans.push(SanType::DnsName(
                name.try_into().context("a serving DNS name")?,
            ));
        }
        let (serving_cert, serving_key) = issue(
            &issuer,
            dn("kube-apiserver", None),
            serving_sans,
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let client = |user: &str, group: Option<&str>| {
            issue(
                &issuer,
                dn(user, group),
                Vec::new(),
                ExtendedKeyUsagePurpose::ClientAuth,
            )
        };
        let (admin_cert, admin_key) = client(ADMIN_USER, Some("system:masters"))?;
        let (controller_manager_cert, controller_manager_key) =
            client("system:kube-controller-manager", None)?;
        let (scheduler_cert, scheduler_key) = client("system:kube-scheduler", None)?;
        // What the API server shows kubelets (logs, exec): K3s's
        // `client-kube-apiserver` identity.
        let (kubelet_client_cert, kubelet_client_key) =
            client("system:apiserver", Some("system:masters"))?;
        let sa = KeyPair::generate().context("generating the service-account key")?;
        Ok(Self {
            ca_cert,
            ca_key: ca_key_pem,
            serving_cert,
            serving_key,
            admin_cert,
            admin_key,
            controller_manager_cert,
            controller_manager_key,
            scheduler_cert,
            scheduler_key,
            kubelet_client_cert,
            kubelet_client_key,
            service_account_key: sa.serialize_pem(),
            service_account_pub: sa.public_key_pem(),
        })
    }
}

fn dn(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(org) = organization {
        dn.push(DnType::OrganizationName, org);
    }
    dn
}

/// Issues a leaf certificate; returns (certificate PEM, key PEM).
fn issue(
    issuer: &Issuer<'_, KeyPair>,
    subject: DistinguishedName,
    sans: Vec<SanType>,
    usage: ExtendedKeyUsagePurpose,
) -> Result<(String, String)> {
    let key = KeyPair::generate().context("generating a key")?;
    let mut params = CertificateParams::default();
    params.distinguished_name = subject;
    params.subject_alt_names = sans;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let cert = params
        .signed_by(&key, issuer)
        .context("signing a certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes `contents` to `path`, readable by the owner only.
fn write_private(path: &Path, contents: &str) -> Result<()> {
    fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", path.display()))
}

/// A kubeconfig for `server`, trusting `ca_pem`, with `user` authenticated by
/// `auth` (the YAML lines of the user entry).
fn kubeconfig_yaml(server: &str, ca_pem: &str, user: &str, auth: &[(&str, String)]) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {CLUSTER_NAME}\n  cluster:\n    server: {server}\n    certificate-authority-data: {}\nusers:\n- name: {user}\n  user:\n",
        BASE64.encode(ca_pem)
    );
    for (key, value) in auth {
        let _ = writeln!(yaml, "    {key}: {value}");
    }
    let _ = write!(
        yaml,
        "contexts:\n- name: {CLUSTER_NAME}\n  context:\n    cluster: {CLUSTER_NAME}\n    user: {user}\ncurrent-context: {CLUSTER_NAME}\n"
    );
    yaml
}

fn cert_auth(cert: &str, key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("client-certificate-data", BASE64.encode(cert)),
        ("client-key-data", BASE64.encode(key)),
    ]
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a free port")?;
    Ok(listener
        .local_addr()
        .context("reading a bound port")?
        .port())
}

/// The last `lines` lines of a log file, for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = fs::File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    // Only the end of a long log matters.
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}

/// A name suffix that is unique within this process and unlikely to repeat
/// across processes: lowercase hex of the time, the pid and a counter.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:x}{:x}{n:x}",
        std::process::id() & 0xffff,
        nanos & 0xfffff
    )
}

impl Cluster {
    /// Makes the data directory and starts the janitor that owns it. Nothing
    /// else runs yet.
    fn prepare(
        binaries: Binaries,
        static_tokens: Vec<StaticToken>,
        state_dir: Option<&Path>,
    ) -> Result<Self> {
        let supervisor = match state_dir {
            Some(dir) => Supervisor::persistent(dir)?,
            None => Supervisor::start("daas-k8s-")?,
        };
        let dir = supervisor.dir().to_owned();
        for sub in ["tls", "db"] {
            fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("creating {}", dir.join(sub).display()))?;
        }
        Ok(Self {
            kubeconfig_path: dir.join("admin.kubeconfig"),
            supervisor,
            server: String::new(),
            kubeconfig: String::new(),
            ca_pem: String::new(),
            binaries,
            static_tokens,
            apiserver: ApiServer::default(),
            kwok: OnceCell::new(),
        })
    }

    /// Writes the PKI, starts every component and waits for readiness.
    async fn boot(&mut self, builder: &ClusterBuilder) -> Result<()> {
        let cluster = self;
        let tls = cluster.data_dir().join("tls");
        let pki = Pki::load_or_generate(&tls)?;
        let token_file = cluster.data_dir().join("static-tokens.csv");
        if !cluster.static_tokens.is_empty() {
            let mut csv = String::new();
            for token in &cluster.static_tokens {
                csv.push_str(&token.csv_line()?);
                csv.push('\n');
            }
            write_private(&token_file, &csv)?;
        }
        cluster.ca_pem = pki.ca_cert.clone();

        // kine on a unix socket: no port at all.
        let kine_sock = cluster.data_dir().join("kine.sock");
        let db = cluster.data_dir().join("db").join("state.db");
        // A kept directory may hold the socket of a stopped kine; waiting
        // for it to appear must wait for this one.
        match fs::remove_file(&kine_sock) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", kine_sock.display()));
            }
            _ => {}
        }
        cluster.spawn_component(
            "kine",
            &cluster.binaries.kine.clone(),
            &[
                format!(
                    "--endpoint=sqlite://{}?_journal=WAL&cache=shared&_busy_timeout=30000&_txlock=immediate",
                    db.display()
                ),
                format!("--listen-address=unix://{}", kine_sock.display()),
                "--metrics-bind-address=0".to_owned(),
            ],
        )?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !kine_sock.exists() {
            cluster.check_alive()?;
            if Instant::now() > deadline {
                bail!(
                    "kine did not create {} within 30 s; its log ends with:\n{}",
                    kine_sock.display(),
                    log_tail(&cluster.log_path("kine"), 30)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // The API server, on a free port; retried if another process took
        // the port between our probe and its bind.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = match builder.apiserver_port {
                Some(port) => port,
                None => free_port()?,
            };
            cluster.server = format!("https://127.0.0.1:{port}");
            let args = cluster.apiserver_args(builder, port, &kine_sock, &token_file);
            let name = format!("kube-apiserver-{attempt}");
            cluster.spawn_component(&name, &cluster.binaries.kube_apiserver.clone(), &args)?;
            cluster.kubeconfig = kubeconfig_yaml(
                &cluster.server,
                &pki.ca_cert,
                ADMIN_USER,
                &cert_auth(&pki.admin_cert, &pki.admin_key),
            );
            match cluster.wait_ready(&name, builder.startup_timeout).await {
                Ok(()) => {
                    cluster.apiserver = ApiServer {
                        name,
                        args,
                        starts: 1,
                    };
                    break;
                }
                Err(e) => {
                    let log = log_tail(&cluster.log_path(&name), 40);
                    if attempt < 3
                        && builder.apiserver_port.is_none()
                        && log.contains("address already in use")
                    {
                        tracing::warn!(
                            port,
                            "kube-apiserver lost its port to another process; retrying"
                        );
                        cluster.stop_component(&name);
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        write_private(&cluster.kubeconfig_path, &cluster.kubeconfig)?;

        let cm_kubeconfig = cluster.data_dir().join("controller-manager.kubeconfig");
        write_private(
            &cm_kubeconfig,
            &kubeconfig_yaml(
                &cluster.server,
                &pki.ca_cert,
                "system:kube-controller-manager",
                &cert_auth(&pki.controller_manager_cert, &pki.controller_manager_key),
            ),
        )?;
        let sched_kubeconfig = cluster.data_dir().join("scheduler.kubeconfig");
        write_private(
            &sched_kubeconfig,
            &kubeconfig_yaml(
                &cluster.server,
                &pki.ca_cert,
                "system:kube-scheduler",
                &cert_auth(&pki.scheduler_cert, &pki.scheduler_key),
            ),
        )?;
        let ca_crt = tls.join("ca.crt");
        let ca_key = tls.join("ca.key");
        let sa_key = tls.join("service-account.key");
        cluster.spawn_component(
            "kube-controller-manager",
            &cluster.binaries.kube_controller_manager.clone(),
            &[
                format!("--kubeconfig={}", cm_kubeconfig.display()),
                "--secure-port=0".to_owned(),
                "--leader-elect=false".to_owned(),
                "--profiling=false".to_owned(),
                "--use-service-account-credentials=true".to_owned(),
                format!("--root-ca-file={}", ca_crt.display()),
                format!("--service-account-private-key-file={}", sa_key.display()),
                format!("--cluster-signing-cert-file={}", ca_crt.display()),
                format!("--cluster-signing-key-file={}", ca_key.display()),
                format!("--cluster-cidr={CLUSTER_CIDR}"),
                format!("--service-cluster-ip-range={SERVICE_CIDR}"),
                // K3s's set: every default controller plus the cleaner of
                // expired bootstrap tokens.
                "--controllers=*,tokencleaner".to_owned(),
            ],
        )?;
        cluster.spawn_component(
            "kube-scheduler",
            &cluster.binaries.kube_scheduler.clone(),
            &[
                format!("--kubeconfig={}", sched_kubeconfig.display()),
                "--secure-port=0".to_owned(),
                "--leader-elect=false".to_owned(),
                "--profiling=false".to_owned(),
            ],
        )?;
        tracing::info!(server = %cluster.server, dir = %cluster.data_dir().display(), "test cluster is ready");
        Ok(())
    }

    fn apiserver_args(
        &self,
        builder: &ClusterBuilder,
        port: u16,
        kine_sock: &Path,
        token_file: &Path,
    ) -> Vec<String> {
        let tls = self.data_dir().join("tls");
        let mut args = vec![
            "--bind-address=127.0.0.1".to_owned(),
            "--advertise-address=127.0.0.1".to_owned(),
            // The endpoint reconciler refuses a loopback advertise address;
            // nothing in the tests reaches the API server through the
            // `kubernetes` Service, so it is not needed.
            "--endpoint-reconciler-type=none".to_owned(),
            format!("--secure-port={port}"),
            format!("--etcd-servers=unix://{}", kine_sock.display()),
            "--storage-backend=etcd3".to_owned(),
            format!("--cert-dir={}", tls.display()),
            format!("--tls-cert-file={}", tls.join("serving.crt").display()),
            format!(
                "--tls-private-key-file={}",
                tls.join("serving.key").display()
            ),
            format!("--client-ca-file={}", tls.join("ca.crt").display()),
            // Reaching kubelets (logs, exec) as K3s does: by the node's IP,
            // with a client certificate the kubelets' webhook authorizer
            // admits.
            format!(
                "--kubelet-client-certificate={}",
                tls.join("kubelet-client.crt").display()
            ),
            format!(
                "--kubelet-client-key={}",
                tls.join("kubelet-client.key").display()
            ),
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname".to_owned(),
            "--anonymous-auth=false".to_owned(),
            match &builder.authorization_config {
                Some(config) => format!("--authorization-config={}", config.display()),
                None => "--authorization-mode=Node,RBAC".to_owned(),
            },
            "--enable-admission-plugins=NodeRestriction".to_owned(),
            "--enable-bootstrap-token-auth=true".to_owned(),
            "--allow-privileged=true".to_owned(),
            "--profiling=false".to_owned(),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            format!("--service-account-issuer={SA_ISSUER}"),
            format!("--api-audiences={SA_ISSUER},k3s"),
            format!(
                "--service-account-key-file={}",
                tls.join("service-account.pub").display()
            ),
            format!(
                "--service-account-signing-key-file={}",
                tls.join("service-account.key").display()
            ),
        ];
        if !self.static_tokens.is_empty() {
            args.push(format!("--token-auth-file={}", token_file.display()));
        }
        if let Some((config, ttl)) = &builder.token_webhook {
            args.push(format!(
                "--authentication-token-webhook-config-file={}",
                config.display()
            ));
            args.push(format!(
                "--authentication-token-webhook-cache-ttl={}ms",
                ttl.as_millis()
            ));
            args.push("--authentication-token-webhook-version=v1".to_owned());
        }
        if let Some(config) = &builder.admission_control_config {
            args.push(format!(
                "--admission-control-config-file={}",
                config.display()
            ));
        }
        if let Some(policy) = &builder.audit_policy_file {
            args.push(format!("--audit-policy-file={}", policy.display()));
        }
        if let Some(webhook) = &builder.audit_webhook_config_file {
            args.push(format!("--audit-webhook-config-file={}", webhook.display()));
        }
        for (flag, value) in &builder.apiserver_args {
            args.push(format!("--{flag}={value}"));
        }
        args
    }

    /// Starts `program` as a component named `name`: in its own process group,
    /// registered with the janitor, output to `logs/<name>.log`.
    pub(crate) fn spawn_component(
        &self,
        name: &str,
        program: &Path,
        args: &[String],
    ) -> Result<()> {
        self.spawn_component_with_env(name, program, args, &[])
    }

    /// [`Self::spawn_component`] with extra environment variables.
    pub(crate) fn spawn_component_with_env(
        &self,
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(&str, &Path)],
    ) -> Result<()> {
        let env: Vec<(&str, &OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
        self.supervisor.spawn(name, program, args, &env).map(|_| ())
    }

    /// Kills the API server with SIGKILL, as a crash would; its storage
    /// (kine) and the other components keep running.
    pub fn kill_apiserver(&self) {
        self.stop_component(&self.apiserver.name);
    }

    /// Starts the API server again, with the same flags and port, after
    /// [`Self::kill_apiserver`], and waits until it is ready.
    ///
    /// # Errors
    /// It did not become ready.
    pub async fn start_apiserver(&mut self) -> Result<()> {
        self.apiserver.starts += 1;
        let name = format!("kube-apiserver-start-{}", self.apiserver.starts);
        let args = self.apiserver.args.clone();
        self.spawn_component(&name, &self.binaries.kube_apiserver.clone(), &args)?;
        self.apiserver.name = name.clone();
        self.wait_ready(&name, Duration::from_secs(120)).await
    }

    /// Fails, quoting its log, if any component has exited.
    pub fn check_alive(&self) -> Result<()> {
        self.supervisor.check_alive()
    }

    /// Stops one component now (SIGKILL) and forgets it.
    pub(crate) fn stop_component(&self, name: &str) {
        self.supervisor.stop(name);
    }

    async fn wait_ready(&self, component: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let client = self.client().await?;
        loop {
            self.check_alive()?;
            let request = http::Request::get("/readyz")
                .body(Vec::new())
                .context("building /readyz")?;
            let last = match client.request_text(request).await {
                Ok(body) if body.trim() == "ok" => return Ok(()),
                Ok(body) => body,
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                bail!(
                    "kube-apiserver at {} was not ready within {timeout:?}; last answer: {last}; its log ends with:\n{}",
                    self.server,
                    log_tail(&self.log_path(component), 30)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The API server's URL, `https://127.0.0.1:<port>`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Path of the admin kubeconfig (client certificate in `system:masters`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// Contents of the admin kubeconfig.
    pub fn kubeconfig(&self) -> &str {
        &self.kubeconfig
    }

    /// The cluster CA certificate (PEM); it signed the serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The cluster's data directory (removed when the cluster goes away,
    /// unless it was given with [`ClusterBuilder::state_dir`]).
    pub fn data_dir(&self) -> &Path {
        self.supervisor.dir()
    }

    /// The binaries the cluster runs.
    pub fn binaries(&self) -> &Binaries {
        &self.binaries
    }

    /// The users of the API server's token file.
    pub fn static_tokens(&self) -> &[StaticToken] {
        &self.static_tokens
    }

    /// The static-token user called `user`.
    pub fn static_token(&self, user: &str) -> Result<&StaticToken> {
        self.static_tokens
            .iter()
            .find(|t| t.user == user)
            .ok_or_else(|| anyhow!("the cluster has no static-token user {user:?}"))
    }

    /// Where a component's output goes.
    pub fn log_path(&self, component: &str) -> PathBuf {
        self.supervisor.log_path(component)
    }

    /// A new admin client. Make one per test: a `Client` belongs to the tokio
    /// runtime that made it, and every `#[tokio::test]` has its own.
    pub async fn client(&self) -> Result<Client> {
        client_from_yaml(&self.kubeconfig).await
    }

    /// A kubeconfig that authenticates with the bearer `token`.
    pub fn kubeconfig_for_token(&self, token: &str) -> String {
        kubeconfig_yaml(
            &self.server,
            &self.ca_pem,
            "token-user",
            &[("token", token.to_owned())],
        )
    }

    /// A kubeconfig whose user gets its credential from the exec plugin
    /// `command file` (client.authentication.k8s.io/v1, never interactive):
    /// with `cat` and a file holding an ExecCredential, the cheapest exec
    /// plugin there is.
    pub fn kubeconfig_for_exec(&self, command: &str, file: &Path) -> String {
        let exec = format!(
            "\n      apiVersion: client.authentication.k8s.io/v1\n      interactiveMode: Never\n      command: {command}\n      args: [{:?}]",
            file.display().to_string()
        );
        kubeconfig_yaml(&self.server, &self.ca_pem, "exec-user", &[("exec", exec)])
    }

    /// A client that authenticates with the bearer `token`.
    pub async fn client_for_token(&self, token: &str) -> Result<Client> {
        client_from_yaml(&self.kubeconfig_for_token(token)).await
    }

    /// `kubectl --kubeconfig <admin kubeconfig>`, ready for more arguments.
    pub fn kubectl(&self) -> Command {
        let mut command = Command::new(&self.binaries.kubectl);
        command.arg("--kubeconfig").arg(&self.kubeconfig_path);
        command
    }

    /// Creates a namespace `<prefix>-<unique suffix>` for one test and waits
    /// until its `default` service account exists (so pods can be created).
    /// Namespaces are not deleted: the cluster goes away with the test binary.
    pub async fn create_namespace(&self, client: &Client, prefix: &str) -> Result<String> {
        ensure!(
            !prefix.is_empty()
                && prefix.len() <= 40
                && prefix.starts_with(|c: char| c.is_ascii_lowercase())
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "namespace prefix {prefix:?} must be 1-40 characters of a-z, 0-9 and '-', starting with a letter"
        );
        let name = format!("{prefix}-{}", unique_suffix());
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([("daas.e2e/test".to_owned(), "true".to_owned())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .with_context(|| format!("creating namespace {name}"))?;
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &name);
        let deadline = Instant::now() + Duration::from_secs(60);
        while accounts.get_opt("default").await?.is_none() {
            self.check_alive()?;
            ensure!(
                Instant::now() < deadline,
                "the controller manager did not create the default service account of {name} within 60 s; its log ends with:\n{}",
                log_tail(&self.log_path("kube-controller-manager"), 30)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(name)
    }
}

async fn client_from_yaml(yaml: &str) -> Result<Client> {
    let kubeconfig = Kubeconfig::from_yaml(yaml).context("parsing a kubeconfig")?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .context("loading a kubeconfig")?;
    Client::try_from(config).context("building a Kubernetes client")
}

/// The cluster shared by every test of one test binary, started on first use
/// with one static-token user, [`E2E_USER`], that has no RBAC binding. If it
/// fails to start, every test that asks for it fails with the same error.
pub async fn shared() -> Result<&'static Cluster> {
    static SHARED: OnceCell<std::result::Result<Cluster, String>> = OnceCell::const_new();
    let cluster = SHARED
        .get_or_init(|| async {
            ClusterBuilder::new()
                .static_token(StaticToken::generate(E2E_USER, &[]))
                .start()
                .await
                .map_err(|e| format!("{e:#}"))
        })
        .await;
    cluster
        .as_ref()
        .map_err(|e| anyhow!("the shared test cluster failed to start: {e}"))
}
