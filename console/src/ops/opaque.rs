//! Opaque seal tokens: the seed's 64-hex `$SEAL_TOKEN`, for clients that
//! cannot run the credential plugin (`curl -H "Authorization: Bearer
//! $SEAL_TOKEN"`, `kubectl --token`). The master issues one against a
//! wallet-signed access token (`POST /api/v1/seal-tokens`) and keeps only
//! its hash; it authenticates as the wallet, with the seal token's tier,
//! until it expires or the stake stops backing it.

use daas_core::api::access::IssuedSealToken;
use daas_core::package::SealTokenId;

use super::{Context, OpsError, Unlock};

/// Asks the attested master for a new opaque token for `seal_token`,
/// signed by the configured key (the token's owner).
///
/// # Errors
/// Read-only session, no master or wallet, or the master's refusal (the
/// seal token is not this wallet's or not active, or the owner holds the
/// most live tokens allowed).
pub async fn issue(
    ctx: &Context,
    seal_token: SealTokenId,
    unlock: &dyn Unlock,
) -> Result<IssuedSealToken, OpsError> {
    ctx.ensure_writable("issue an opaque seal token")?;
    let master = ctx.master().await?;
    let (request, _) = super::kubeconfig::request_token(ctx, &master, seal_token, unlock).await?;
    Ok(master.issue_seal_token(&request).await?)
}
