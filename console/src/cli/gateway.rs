//! `daas-console gateway …`.

use anyhow::Context as _;
use daas_core::package::SealTokenId;
use sui_sdk_types::Address;

use super::args::{GatewayCommand, GlobalArgs};
use super::output::{self, out};
use super::prompt::{TerminalUnlock, confirm};
use crate::ops::gateway::{self as ops, Draft, Request};
use crate::ops::wallet;
use daas_core::clock::format_ms;
use daas_core::escape::single_line;

/// Runs `daas-console gateway …`.
pub async fn run(global: &GlobalArgs, command: GatewayCommand) -> anyhow::Result<()> {
    let ctx = super::context(global, None)?;
    match command {
        GatewayCommand::Submit {
            method,
            path,
            namespace,
            resource,
            payload,
            seal_token,
            json,
        } => {
            let token: SealTokenId = match &seal_token {
                Some(id) => id
                    .parse()
                    .with_context(|| format!("`{id}` is not a seal token id (0x…)"))?,
                None => super::kubeconfig::user_token(&ctx).await?,
            };
            let payload = match &payload {
                Some(file) => std::fs::read(file)
                    .with_context(|| format!("cannot read the payload {}", file.display()))?,
                None => Vec::new(),
            };
            let draft = Draft {
                method,
                path,
                namespace,
                resource_type: resource,
                payload,
            };
            let summary = draft.check()?;
            ctx.ensure_writable("submit a gateway request")?;
            confirm(
                &format!(
                    "submit on chain with seal token {token}:\n  {} {}\n  namespace `{}`, resource `{}`\n  payload {} bytes, sha256 {}",
                    summary.method,
                    summary.path,
                    summary.namespace,
                    summary.resource_type,
                    summary.payload_len,
                    summary.payload_hash
                ),
                "sign and send?",
                global.yes,
            )?;
            let signer = wallet::signer(&ctx, &TerminalUnlock::of(&ctx))?;
            let submitted = ops::submit(&ctx, &signer, token, &draft).await?;
            if json {
                return output::json(&submitted);
            }
            out!(
                "request {} submitted (tier {}), transaction {}",
                submitted.request,
                submitted
                    .tier
                    .map_or_else(|| "none".to_owned(), |t| t.to_string()),
                submitted.digest
            )?;
            out!(
                "the master records its result on chain: daas-console gateway show {}",
                submitted.request
            )?;
            Ok(())
        }
        GatewayCommand::List { sender, json } => {
            let sender = sender
                .map(|s| {
                    s.parse::<Address>()
                        .with_context(|| format!("`{s}` is not an address (0x…)"))
                })
                .transpose()?;
            let requests = ops::list(&ctx, sender).await?;
            if json {
                return output::json(&requests);
            }
            if requests.is_empty() {
                out!("no gateway request")?;
            }
            for request in &requests {
                out!(
                    "{} {:<6} {} ({}) by {} — {}",
                    request.id,
                    request.method,
                    single_line(&request.path),
                    single_line(&request.namespace),
                    request.sender,
                    result_line(request)
                )?;
            }
            Ok(())
        }
        GatewayCommand::Show { id, json } => {
            let id: Address = id
                .parse()
                .with_context(|| format!("`{id}` is not a request id (0x…)"))?;
            let request = ops::show(&ctx, id).await?;
            if json {
                return output::json(&request);
            }
            out!("request       {}", request.id)?;
            out!("sender        {}", request.sender)?;
            out!("seal token    {}", request.seal_token)?;
            out!(
                "tier          {}",
                request
                    .tier
                    .map_or_else(|| "none".to_owned(), |t| t.to_string())
            )?;
            out!(
                "request       {} {}",
                request.method,
                single_line(&request.path)
            )?;
            out!("namespace     {}", single_line(&request.namespace))?;
            out!("resource      {}", single_line(&request.resource_type))?;
            out!("payload hash  {}", request.payload_hash)?;
            out!("submitted     {}", format_ms(request.submitted_at_ms))?;
            out!("result        {}", result_line(&request))?;
            if let Some(result) = &request.result {
                out!("result hash   {}", result.result_hash)?;
                out!("enclave       {}", result.enclave)?;
            }
            Ok(())
        }
    }
}

fn result_line(request: &Request) -> String {
    request.result.as_ref().map_or_else(
        || "pending".to_owned(),
        |r| {
            format!(
                "{} (recorded {})",
                r.status_code,
                format_ms(r.recorded_at_ms)
            )
        },
    )
}
