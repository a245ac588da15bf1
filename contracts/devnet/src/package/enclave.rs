//! `k3s_daas::enclave`, executed natively (`contracts/README.md`, enclave
//! rows).
//!
//! `register_enclave` takes the `NitroAttestationDocument` that
//! `0x2::nitro_attestation::load_nitro_attestation` ([`crate::nitro`])
//! returned in an earlier command of the same transaction, after verifying
//! the document; it compares PCR 0, 1 and 2 with the config's and records
//! the document's Ed25519 public key.

use daas_core::package::enclave::{
    self as e, ED25519_PK_LEN, Enclave, EnclaveAbort, EnclaveCap, EnclaveConfig,
    EnclaveConfigCreated, EnclaveConfigUpdated, EnclaveDestroyed, EnclaveRegistered, PCR_LEN,
};
use daas_core::package::{ENCLAVE_CAP_ID, PackageAbort};
use sui_sdk_types::{Address, Owner};

use super::{Args, CallArg, CallError, create, emit, new_object, read, write};
use crate::nitro::{self, NitroAttestationDocument};
use crate::object::MoveObject;
use crate::working_set::CallContext;

fn abort(a: EnclaveAbort) -> CallError {
    CallError::from(PackageAbort::from(a))
}

/// The init object: the `EnclaveCap`, held by the publisher.
pub(super) fn genesis(publisher: Address) -> Vec<MoveObject> {
    new_object(
        &EnclaveCap { id: ENCLAVE_CAP_ID },
        Owner::Address(publisher),
    )
    .into_iter()
    .collect()
}

pub(super) fn call(
    ctx: &mut CallContext<'_>,
    function: &str,
    args: &Args<'_>,
) -> Result<Vec<CallArg>, CallError> {
    match function {
        e::function::CREATE_CONFIG => create_config(ctx, args),
        e::function::UPDATE_PCRS => update_pcrs(ctx, args),
        e::function::UPDATE_NAME => update_name(ctx, args),
        e::function::REGISTER_ENCLAVE => register_enclave(ctx, args),
        e::function::DESTROY_OLD_ENCLAVE => destroy_old_enclave(ctx, args),
        _ => Err(CallError::Invariant(
            "call to an unresolved enclave function",
        )),
    }?;
    Ok(Vec::new())
}

fn pcrs(args: &Args<'_>, first: usize) -> Result<[Vec<u8>; 3], CallError> {
    let pcrs = [
        args.pure(first)?,
        args.pure(first + 1)?,
        args.pure(first + 2)?,
    ];
    if pcrs.iter().any(|p: &Vec<u8>| p.len() as u64 != PCR_LEN) {
        return Err(abort(EnclaveAbort::InvalidPcrLength));
    }
    Ok(pcrs)
}

fn updated(config: &EnclaveConfig) -> EnclaveConfigUpdated {
    EnclaveConfigUpdated {
        config_id: config.id,
        name: config.name.clone(),
        pcr0: config.pcr0.clone(),
        pcr1: config.pcr1.clone(),
        pcr2: config.pcr2.clone(),
        version: config.version,
    }
}

fn create_config(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(5)?;
    read::<EnclaveCap>(ctx, args, 0)?;
    let name = args.string(1)?;
    let [pcr0, pcr1, pcr2] = pcrs(args, 2)?;
    let id = ctx.new_id();
    let config = EnclaveConfig {
        id,
        name,
        pcr0,
        pcr1,
        pcr2,
        version: 0,
    };
    create(ctx, &config, Owner::Shared(crate::execute::NEW_SHARED))?;
    emit(
        ctx,
        &EnclaveConfigCreated {
            config_id: id,
            name: config.name,
            pcr0: config.pcr0,
            pcr1: config.pcr1,
            pcr2: config.pcr2,
            version: 0,
        },
    )
}

fn update_pcrs(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(5)?;
    let (config_id, mut config) = read::<EnclaveConfig>(ctx, args, 0)?;
    read::<EnclaveCap>(ctx, args, 1)?;
    let [pcr0, pcr1, pcr2] = pcrs(args, 2)?;
    config.pcr0 = pcr0;
    config.pcr1 = pcr1;
    config.pcr2 = pcr2;
    config.version = config.version.saturating_add(1);
    write(ctx, &config_id, &config)?;
    emit(ctx, &updated(&config))
}

fn update_name(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(3)?;
    let (config_id, mut config) = read::<EnclaveConfig>(ctx, args, 0)?;
    read::<EnclaveCap>(ctx, args, 1)?;
    config.name = args.string(2)?;
    write(ctx, &config_id, &config)?;
    emit(ctx, &updated(&config))
}

fn register_enclave(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(2)?;
    let (config_id, config) = read::<EnclaveConfig>(ctx, args, 0)?;
    // Only `0x2::nitro_attestation::load_nitro_attestation` makes this
    // value, after verifying the document; a pure input is a type mismatch.
    let document: NitroAttestationDocument = args.value(1, &nitro::document_type())?;
    let matches = [(0, &config.pcr0), (1, &config.pcr1), (2, &config.pcr2)]
        .into_iter()
        .all(|(index, expected)| document.pcr(index) == Some(expected.as_slice()));
    if !matches {
        return Err(abort(EnclaveAbort::PcrMismatch));
    }
    let pk = document
        .public_key
        .ok_or(abort(EnclaveAbort::MissingPublicKey))?;
    if pk.len() as u64 != ED25519_PK_LEN {
        return Err(abort(EnclaveAbort::InvalidPublicKey));
    }
    let id = ctx.new_id();
    let owner = ctx.sender();
    let registered_at_ms = document.timestamp;
    let enclave = Enclave {
        id,
        config_id,
        config_version: config.version,
        pk: pk.clone(),
        owner,
        registered_at_ms,
    };
    create(ctx, &enclave, Owner::Shared(crate::execute::NEW_SHARED))?;
    emit(
        ctx,
        &EnclaveRegistered {
            enclave_id: id,
            config_id,
            config_version: config.version,
            pk,
            owner,
            registered_at_ms,
        },
    )
}

fn destroy_old_enclave(ctx: &mut CallContext<'_>, args: &Args<'_>) -> Result<(), CallError> {
    args.expect(2)?;
    let (enclave_id, enclave) = read::<Enclave>(ctx, args, 0)?;
    let (_, config) = read::<EnclaveConfig>(ctx, args, 1)?;
    if enclave.config_id != config.id {
        return Err(abort(EnclaveAbort::WrongConfig));
    }
    if enclave.config_version == config.version {
        return Err(abort(EnclaveAbort::CurrentEnclave));
    }
    ctx.delete(&enclave_id)?;
    emit(
        ctx,
        &EnclaveDestroyed {
            enclave_id,
            config_id: config.id,
        },
    )
}
