//! Kubeconfigs whose user runs the K3s-DaaS credential plugin.
//!
//! [`KubeconfigEntry`] describes one cluster, one user and one context;
//! [`KubeconfigEntry::to_config`] makes a whole kubeconfig of it (what the
//! master serves at `GET /kubectl/config`) and [`merge`] puts it into an
//! existing kubeconfig, replacing entries of the same names and keeping
//! every other entry and field.
//!
//! The user's `exec` section runs `daas-console credential --seal-token …
//! --audience …` with `apiVersion: client.authentication.k8s.io/v1` and
//! `interactiveMode: IfAvailable`, so `kubectl` lets the plugin ask for a
//! wallet passphrase on the terminal when there is one.
//!
//! YAML is read and written with `serde-saphyr`, the pure-Rust, panic-free
//! serializer kube-client itself reads kubeconfigs with; kubeconfigs are
//! handled as JSON values so unknown fields survive a merge.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::package::SealTokenId;

/// The exec credential API version the plugin speaks.
pub const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1";

/// A kubeconfig could not be read, merged or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KubeconfigError {
    /// The existing kubeconfig is not valid YAML (or JSON).
    #[error("the kubeconfig is not valid YAML: {0}")]
    Parse(String),
    /// The existing kubeconfig is YAML but not a kubeconfig.
    #[error("the kubeconfig is malformed: {0}")]
    Malformed(String),
    /// Serializing to YAML failed.
    #[error("cannot write the kubeconfig as YAML: {0}")]
    Serialize(String),
}

/// How `kubectl` checks the API server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerTrust {
    /// Trust these PEM CA certificates (`certificate-authority-data`).
    CaPem(Vec<u8>),
    /// Trust the system roots.
    System,
    /// Check nothing (`insecure-skip-tls-verify`): development only.
    InsecureSkipVerify,
}

/// The command `kubectl` runs to get a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecPlugin {
    /// The program (`daas-console`, or an absolute path to it).
    pub command: String,
    /// Its arguments (see [`credential_args`]).
    pub args: Vec<String>,
    /// Environment variables to set for it.
    pub env: Vec<(String, String)>,
}

/// The arguments of `daas-console credential` for a seal token and an
/// audience; `key` names a wallet key other than the active one and
/// `wallet_dir` a wallet directory other than the default.
pub fn credential_args(
    seal_token: SealTokenId,
    audience: &str,
    key: Option<&str>,
    wallet_dir: Option<&str>,
) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(dir) = wallet_dir {
        args.extend(["--wallet-dir".to_owned(), dir.to_owned()]);
    }
    args.extend([
        "credential".to_owned(),
        "--seal-token".to_owned(),
        seal_token.to_string(),
        "--audience".to_owned(),
        audience.to_owned(),
    ]);
    if let Some(key) = key {
        args.extend(["--key".to_owned(), key.to_owned()]);
    }
    args
}

/// One cluster, one user and one context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeconfigEntry {
    /// Name of the cluster entry.
    pub cluster: String,
    /// The API server URL.
    pub server: String,
    /// How to check the server.
    pub trust: ServerTrust,
    /// Name of the user entry.
    pub user: String,
    /// Name of the context entry.
    pub context: String,
    /// The context's default namespace.
    pub namespace: Option<String>,
    /// The credential plugin.
    pub exec: ExecPlugin,
}

impl KubeconfigEntry {
    /// The `clusters[]` element.
    pub fn cluster_entry(&self) -> Value {
        let mut cluster = Map::new();
        cluster.insert("server".to_owned(), json!(self.server));
        match &self.trust {
            ServerTrust::CaPem(pem) => {
                cluster.insert(
                    "certificate-authority-data".to_owned(),
                    json!(BASE64.encode(pem)),
                );
            }
            ServerTrust::System => {}
            ServerTrust::InsecureSkipVerify => {
                cluster.insert("insecure-skip-tls-verify".to_owned(), json!(true));
            }
        }
        json!({ "name": self.cluster, "cluster": cluster })
    }

    /// The `users[]` element.
    pub fn user_entry(&self) -> Value {
        let env: Vec<Value> = self
            .exec
            .env
            .iter()
            .map(|(name, value)| json!({ "name": name, "value": value }))
            .collect();
        let mut exec = json!({
            "apiVersion": EXEC_API_VERSION,
            "command": self.exec.command,
            "args": self.exec.args,
            "interactiveMode": "IfAvailable",
            "provideClusterInfo": true,
            "installHint": "daas-console is the K3s-DaaS console; install it and create or import your wallet key (daas-console wallet --help).",
        });
        if !env.is_empty() {
            exec["env"] = Value::Array(env);
        }
        json!({ "name": self.user, "user": { "exec": exec } })
    }

    /// The `contexts[]` element.
    pub fn context_entry(&self) -> Value {
        let mut context = json!({ "cluster": self.cluster, "user": self.user });
        if let Some(namespace) = &self.namespace {
            context["namespace"] = json!(namespace);
        }
        json!({ "name": self.context, "context": context })
    }

    /// A whole kubeconfig with only this entry, current context set.
    pub fn to_config(&self) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [self.cluster_entry()],
            "users": [self.user_entry()],
            "contexts": [self.context_entry()],
            "current-context": self.context,
        })
    }
}

/// Reads a kubeconfig (YAML or JSON). An empty document is an empty
/// kubeconfig.
///
/// # Errors
/// [`KubeconfigError::Parse`], or [`KubeconfigError::Malformed`] if the
/// document is not a mapping.
pub fn from_yaml(text: &str) -> Result<Value, KubeconfigError> {
    let value: Value =
        crate::yaml::from_str(text).map_err(|e| KubeconfigError::Parse(e.to_string()))?;
    match value {
        Value::Object(_) => Ok(value),
        Value::Null => Ok(Value::Object(Map::new())),
        _ => Err(KubeconfigError::Malformed(
            "the document is not a mapping".to_owned(),
        )),
    }
}

/// Writes a kubeconfig as YAML.
///
/// # Errors
/// [`KubeconfigError::Serialize`].
pub fn to_yaml(config: &Value) -> Result<String, KubeconfigError> {
    serde_saphyr::to_string(config).map_err(|e| KubeconfigError::Serialize(e.to_string()))
}

/// Puts `entry` into `config`: the cluster, user and context of the same
/// names are replaced, every other entry and field is kept. With
/// `use_context`, or when `config` has no current context, `entry`'s
/// context becomes the current one.
///
/// # Errors
/// [`KubeconfigError::Malformed`] if `config` is not a mapping or one of
/// its lists is not a list of named entries.
pub fn merge(
    mut config: Value,
    entry: &KubeconfigEntry,
    use_context: bool,
) -> Result<Value, KubeconfigError> {
    let map = config
        .as_object_mut()
        .ok_or_else(|| KubeconfigError::Malformed("the kubeconfig is not a mapping".to_owned()))?;
    map.entry("apiVersion").or_insert_with(|| json!("v1"));
    map.entry("kind").or_insert_with(|| json!("Config"));
    upsert(map, "clusters", entry.cluster_entry())?;
    upsert(map, "users", entry.user_entry())?;
    upsert(map, "contexts", entry.context_entry())?;
    let has_current = map
        .get("current-context")
        .and_then(Value::as_str)
        .is_some_and(|current| !current.is_empty());
    if use_context || !has_current {
        map.insert("current-context".to_owned(), json!(entry.context));
    }
    Ok(config)
}

/// Replaces the element of list `key` with the same `name` as `item`, or
/// appends it.
fn upsert(map: &mut Map<String, Value>, key: &str, item: Value) -> Result<(), KubeconfigError> {
    let list = map.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if list.is_null() {
        *list = Value::Array(Vec::new());
    }
    let list = list
        .as_array_mut()
        .ok_or_else(|| KubeconfigError::Malformed(format!("`{key}` is not a list")))?;
    let name = item.get("name").cloned();
    match list
        .iter_mut()
        .find(|existing| existing.get("name") == name.as_ref())
    {
        Some(existing) => *existing = item,
        None => list.push(item),
    }
    Ok(())
}
