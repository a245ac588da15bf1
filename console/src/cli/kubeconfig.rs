//! `daas-console kubeconfig`: writes or merges a kubeconfig whose user runs
//! `daas-console credential`; the API server and its CA come from the
//! attested master unless given.

use anyhow::{Context as _, bail};
use daas_core::access::kubeconfig::{self, ServerTrust};
use daas_core::package::SealTokenId;

use super::args::{GlobalArgs, KubeconfigArgs};
use super::output::{note, out};
use crate::ops::kubeconfig::{self as ops, EntryRequest, ServerSource};
use crate::ops::{Context, stake};

/// Runs `daas-console kubeconfig`.
pub async fn run(global: &GlobalArgs, args: &KubeconfigArgs) -> anyhow::Result<()> {
    let ctx = super::context(global, None)?;
    let seal_token = match &args.seal_token {
        Some(id) => id
            .parse()
            .with_context(|| format!("`{id}` is not a seal token id (0x…)"))?,
        None => user_token(&ctx).await?,
    };
    let source = match &args.server {
        None => ServerSource::Master,
        Some(server) => ServerSource::Explicit {
            server: server.clone(),
            trust: trust(args)?,
        },
    };
    let command = match &args.command {
        Some(command) => command.clone(),
        None => super::plugin_command()?,
    };
    let namespace = match &args.namespace {
        Some(namespace) => Some(namespace.clone()),
        None => default_namespace(&ctx, seal_token).await,
    };
    let entry = ops::entry(
        &ctx,
        &EntryRequest {
            seal_token,
            source,
            audience: args.audience.clone(),
            name: args.name.clone(),
            namespace,
            command,
        },
    )
    .await?;
    if args.stdout {
        out!("{}", kubeconfig::to_yaml(&entry.to_config())?.trim_end())?;
        return Ok(());
    }
    let path = match &args.kubeconfig {
        Some(path) => path.clone(),
        None => ops::default_path()?,
    };
    ops::write(&path, &entry, !args.keep_current_context)?;
    let namespace = match &entry.namespace {
        Some(namespace) => format!(", namespace {namespace}"),
        None => String::new(),
    };
    out!(
        "wrote context `{}` (cluster {}, user {}{namespace}) to {}",
        entry.context,
        entry.server,
        entry.user,
        path.display()
    )?;
    Ok(())
}

/// A developer's own namespace, else none; when the chain cannot say which
/// tier the seal token has, the context gets no namespace and the user is
/// told how to set one.
async fn default_namespace(ctx: &Context, seal_token: SealTokenId) -> Option<String> {
    match ops::own_namespace(ctx, seal_token).await {
        Ok(namespace) => namespace,
        Err(error) => {
            note!(
                "note: the context gets no namespace: cannot read seal token {seal_token}'s \
                 tier ({error}); a developer's writes go to its own namespace (--namespace)"
            );
            None
        }
    }
}

fn trust(args: &KubeconfigArgs) -> anyhow::Result<ServerTrust> {
    Ok(match (&args.ca_file, args.insecure_skip_tls_verify) {
        (Some(path), _) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read the CA file {}", path.display()))?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                bail!("{} is not a PEM certificate", path.display());
            }
            ServerTrust::CaPem(pem)
        }
        (None, true) => ServerTrust::InsecureSkipVerify,
        (None, false) => ServerTrust::System,
    })
}

/// The wallet's only active user seal token.
pub(super) async fn user_token(ctx: &Context) -> anyhow::Result<SealTokenId> {
    Ok(stake::only_active_user_token(ctx).await?)
}
