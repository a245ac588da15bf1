//! The programmable-transaction interpreter: argument resolution, the
//! native coin commands and `MoveCall`s into the package.

use sui_sdk_types::{
    Address, Argument, Command, CommandArgumentError, ExecutionError, Identifier, MoveLocation,
    Owner, ProgrammableTransaction, StructTag,
};

use crate::execute::ObjectSource;
use crate::nitro::{self, Attestation};
use crate::object;
use crate::package::{self, CallArg, CallError};
use crate::working_set::{Access, CallContext, Working, WorkingSet};

/// A value in the PTB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Slot {
    Pure(Vec<u8>),
    Object(Address),
    /// A non-object Move value returned by a command (it has `drop`, so it
    /// may be left unused).
    Value(StructTag, Vec<u8>),
    Taken,
}

/// Why a PTB failed: the error and the command that raised it.
pub(crate) struct Failure {
    pub(crate) error: Box<ExecutionError>,
    pub(crate) command: Option<u64>,
}

impl Failure {
    fn new(error: ExecutionError, command: Option<u64>) -> Self {
        Self {
            error: Box::new(error),
            command,
        }
    }
}

fn arg_error(argument: u16, kind: CommandArgumentError, command: usize) -> Failure {
    Failure::new(
        ExecutionError::CommandArgumentError { argument, kind },
        Some(command as u64),
    )
}

/// Runs the commands of `ptb` over `set`; on failure the caller reverts.
pub(crate) fn run_commands(
    set: &mut WorkingSet,
    source: &dyn ObjectSource,
    attestation: &Attestation,
    ptb: &ProgrammableTransaction,
    inputs: &[Slot],
    gas_id: Address,
) -> Result<(), Failure> {
    let mut inputs = inputs.to_vec();
    let mut gas_slot = Slot::Object(gas_id);
    let mut results: Vec<Vec<Slot>> = Vec::with_capacity(ptb.commands.len());
    for (index, command) in ptb.commands.iter().enumerate() {
        let command_index = u16::try_from(index).unwrap_or(u16::MAX);
        let produced = match command {
            Command::SplitCoins(split) => {
                let coin = object_arg(&inputs, &gas_slot, &results, &split.coin, 0, index)?;
                let mut amounts = Vec::with_capacity(split.amounts.len());
                for (i, a) in split.amounts.iter().enumerate() {
                    let arg = arg_number(i + 1);
                    let bytes = pure_arg(&inputs, &results, a, arg, index)?;
                    let amount: u64 = bcs::from_bytes(&bytes).map_err(|_| {
                        arg_error(arg, CommandArgumentError::InvalidBcsBytes, index)
                    })?;
                    amounts.push(amount);
                }
                split_coin(set, coin, &amounts, command_index, index)?
            }
            Command::MergeCoins(merge) => {
                let target = object_arg(&inputs, &gas_slot, &results, &merge.coin, 0, index)?;
                let mut sources = Vec::new();
                for (i, c) in merge.coins_to_merge.iter().enumerate() {
                    let arg = arg_number(i + 1);
                    if matches!(c, Argument::Gas) {
                        return Err(arg_error(
                            arg,
                            CommandArgumentError::InvalidGasCoinUsage,
                            index,
                        ));
                    }
                    let id = object_arg(&inputs, &gas_slot, &results, c, arg, index)?;
                    if id == target || sources.contains(&id) {
                        return Err(arg_error(
                            arg,
                            CommandArgumentError::InvalidValueUsage,
                            index,
                        ));
                    }
                    sources.push(id);
                    take(&mut inputs, &mut gas_slot, &mut results, c);
                }
                merge_coins(set, target, &sources, index)?;
                Vec::new()
            }
            Command::TransferObjects(transfer) => {
                let arg = arg_number(transfer.objects.len());
                let bytes = pure_arg(&inputs, &results, &transfer.address, arg, index)?;
                let recipient = Address::from_bytes(&bytes)
                    .map_err(|_| arg_error(arg, CommandArgumentError::InvalidBcsBytes, index))?;
                for (i, o) in transfer.objects.iter().enumerate() {
                    let arg = arg_number(i);
                    let id = object_arg(&inputs, &gas_slot, &results, o, arg, index)?;
                    let w = set.objects.get_mut(&id).ok_or_else(|| {
                        arg_error(arg, CommandArgumentError::InvalidValueUsage, index)
                    })?;
                    if !matches!(w.input, None | Some((_, Access::Owned))) {
                        return Err(Failure::new(
                            ExecutionError::InvalidTransferObject,
                            Some(index as u64),
                        ));
                    }
                    w.object.owner = Owner::Address(recipient);
                    w.held = None;
                    take(&mut inputs, &mut gas_slot, &mut results, o);
                }
                Vec::new()
            }
            Command::MoveCall(call) => {
                let mut args = Vec::with_capacity(call.arguments.len());
                for (i, a) in call.arguments.iter().enumerate() {
                    let arg = arg_number(i);
                    let slot = resolve(&inputs, &gas_slot, &results, a, arg, index)?;
                    args.push(match slot {
                        Slot::Pure(b) => CallArg::Pure(b),
                        Slot::Object(id) => CallArg::Object(id),
                        Slot::Value(type_, contents) => CallArg::Value { type_, contents },
                        Slot::Taken => {
                            return Err(arg_error(
                                arg,
                                CommandArgumentError::InvalidValueUsage,
                                index,
                            ));
                        }
                    });
                }
                let mut ctx = CallContext {
                    set,
                    source,
                    package: call.package,
                    module: call.module.clone(),
                    command: command_index,
                };
                let returned = if call.package == Address::TWO {
                    nitro_call(&ctx, attestation, call, &args)
                } else {
                    package::call(
                        &mut ctx,
                        call.module.as_str(),
                        call.function.as_str(),
                        &call.type_arguments,
                        &args,
                    )
                }
                .map_err(|e| call_failure(e, call, index))?;
                // Objects the function consumed can no longer be used, nor
                // values it took (every value parameter is by value).
                for a in &call.arguments {
                    match resolve(&inputs, &gas_slot, &results, a, 0, index) {
                        Ok(Slot::Object(id)) if set.objects.get(&id).is_some_and(|w| w.deleted) => {
                            take(&mut inputs, &mut gas_slot, &mut results, a);
                        }
                        Ok(Slot::Value(..)) => take(&mut inputs, &mut gas_slot, &mut results, a),
                        _ => {}
                    }
                }
                returned
                    .into_iter()
                    .map(|v| match v {
                        CallArg::Pure(b) => Slot::Pure(b),
                        CallArg::Object(id) => Slot::Object(id),
                        CallArg::Value { type_, contents } => Slot::Value(type_, contents),
                    })
                    .collect()
            }
            _ => {
                return Err(Failure::new(
                    ExecutionError::FeatureNotYetSupported,
                    Some(index as u64),
                ));
            }
        };
        results.push(produced);
    }
    if set.objects.get(&gas_id).is_none_or(|w| w.deleted) {
        return Err(Failure::new(ExecutionError::InvalidGasObject, None));
    }
    if let Some((result, subresult)) = set
        .objects
        .values()
        .filter(|w| !w.deleted)
        .find_map(|w| w.held)
    {
        return Err(Failure::new(
            ExecutionError::UnusedValueWithoutDrop { result, subresult },
            None,
        ));
    }
    Ok(())
}

/// `0x2::nitro_attestation::load_nitro_attestation(attestation, clock)`,
/// the only framework function the devnet runs (checked before execution).
fn nitro_call(
    ctx: &CallContext<'_>,
    attestation: &Attestation,
    call: &sui_sdk_types::MoveCall,
    args: &[CallArg],
) -> Result<Vec<CallArg>, CallError> {
    if call.module.as_str() != nitro::MODULE
        || call.function.as_str() != nitro::LOAD_NITRO_ATTESTATION
    {
        return Err(CallError::Invariant(
            "call to an unresolved framework function",
        ));
    }
    if !call.type_arguments.is_empty() {
        return Err(CallError::TypeArguments);
    }
    let [bytes, clock] = args else {
        return Err(CallError::Arity {
            expected: 2,
            got: args.len(),
        });
    };
    let CallArg::Pure(bytes) = bytes else {
        return Err(CallError::Argument {
            index: 0,
            kind: CommandArgumentError::TypeMismatch,
        });
    };
    let document: Vec<u8> = bcs::from_bytes(bytes).map_err(|_| CallError::Argument {
        index: 0,
        kind: CommandArgumentError::InvalidBcsBytes,
    })?;
    let clock_ms = package::clock_arg(ctx, clock, 1)?;
    match attestation.load(&document, clock_ms) {
        Ok(document) => {
            let contents =
                bcs::to_bytes(&document).map_err(|_| CallError::Invariant("encoding failed"))?;
            Ok(vec![CallArg::Value {
                type_: nitro::document_type(),
                contents,
            }])
        }
        Err((abort, reason)) => {
            tracing::info!(
                abort = abort.name(),
                %reason,
                "0x2::nitro_attestation::load_nitro_attestation refused the document"
            );
            Err(CallError::Abort {
                module: nitro::MODULE,
                function: 0,
                code: abort.code(),
            })
        }
    }
}

fn arg_number(i: usize) -> u16 {
    u16::try_from(i).unwrap_or(u16::MAX)
}

fn call_failure(error: CallError, call: &sui_sdk_types::MoveCall, index: usize) -> Failure {
    let command = Some(index as u64);
    let error = match error {
        CallError::Abort {
            module,
            function,
            code,
        } => ExecutionError::MoveAbort {
            location: MoveLocation {
                package: call.package,
                module: Identifier::new(module).unwrap_or_else(|_| call.module.clone()),
                function,
                instruction: 0,
                function_name: Some(call.function.clone()),
            },
            code,
        },
        CallError::Argument {
            index: argument,
            kind,
        } => ExecutionError::CommandArgumentError { argument, kind },
        CallError::TypeArguments => ExecutionError::TypeArityMismatch,
        CallError::Arity { .. } => ExecutionError::ArityMismatch,
        CallError::ObjectUnavailable(_) | CallError::NotOwned(_) => {
            ExecutionError::CommandArgumentError {
                argument: 0,
                kind: CommandArgumentError::InvalidValueUsage,
            }
        }
        CallError::NotMutable(_) => ExecutionError::CommandArgumentError {
            argument: 0,
            kind: CommandArgumentError::InvalidObjectByMutRef,
        },
        CallError::Invariant(_) | CallError::Storage(_) => ExecutionError::VmInvariantViolation,
    };
    Failure::new(error, command)
}

fn resolve(
    inputs: &[Slot],
    gas: &Slot,
    results: &[Vec<Slot>],
    argument: &Argument,
    arg: u16,
    command: usize,
) -> Result<Slot, Failure> {
    let slot = match argument {
        Argument::Gas => gas.clone(),
        Argument::Input(i) => inputs.get(usize::from(*i)).cloned().ok_or_else(|| {
            arg_error(
                arg,
                CommandArgumentError::IndexOutOfBounds { index: *i },
                command,
            )
        })?,
        Argument::Result(r) => {
            let values = results.get(usize::from(*r)).ok_or_else(|| {
                arg_error(
                    arg,
                    CommandArgumentError::IndexOutOfBounds { index: *r },
                    command,
                )
            })?;
            match values.as_slice() {
                [one] => one.clone(),
                _ => {
                    return Err(arg_error(
                        arg,
                        CommandArgumentError::InvalidResultArity { result: *r },
                        command,
                    ));
                }
            }
        }
        Argument::NestedResult(r, s) => results
            .get(usize::from(*r))
            .and_then(|v| v.get(usize::from(*s)))
            .cloned()
            .ok_or_else(|| {
                arg_error(
                    arg,
                    CommandArgumentError::SecondaryIndexOutOfBounds {
                        result: *r,
                        subresult: *s,
                    },
                    command,
                )
            })?,
    };
    Ok(slot)
}

fn take(inputs: &mut [Slot], gas: &mut Slot, results: &mut [Vec<Slot>], argument: &Argument) {
    let slot = match argument {
        Argument::Gas => Some(gas),
        Argument::Input(i) => inputs.get_mut(usize::from(*i)),
        Argument::Result(r) => results.get_mut(usize::from(*r)).and_then(|v| v.first_mut()),
        Argument::NestedResult(r, s) => results
            .get_mut(usize::from(*r))
            .and_then(|v| v.get_mut(usize::from(*s))),
    };
    if let Some(slot) = slot {
        *slot = Slot::Taken;
    }
}

fn object_arg(
    inputs: &[Slot],
    gas: &Slot,
    results: &[Vec<Slot>],
    argument: &Argument,
    arg: u16,
    command: usize,
) -> Result<Address, Failure> {
    match resolve(inputs, gas, results, argument, arg, command)? {
        Slot::Object(id) => Ok(id),
        Slot::Pure(_) | Slot::Value(..) => {
            Err(arg_error(arg, CommandArgumentError::TypeMismatch, command))
        }
        Slot::Taken => Err(arg_error(
            arg,
            CommandArgumentError::InvalidValueUsage,
            command,
        )),
    }
}

fn pure_arg(
    inputs: &[Slot],
    results: &[Vec<Slot>],
    argument: &Argument,
    arg: u16,
    command: usize,
) -> Result<Vec<u8>, Failure> {
    match resolve(inputs, &Slot::Taken, results, argument, arg, command)? {
        Slot::Pure(bytes) => Ok(bytes),
        Slot::Object(_) | Slot::Value(..) => {
            Err(arg_error(arg, CommandArgumentError::TypeMismatch, command))
        }
        Slot::Taken => Err(arg_error(
            arg,
            CommandArgumentError::InvalidValueUsage,
            command,
        )),
    }
}

fn coin_mut(
    set: &mut WorkingSet,
    id: &Address,
    arg: u16,
    command: usize,
) -> Result<(u64, bool), Failure> {
    let w = set
        .objects
        .get(id)
        .filter(|w| !w.deleted)
        .ok_or_else(|| arg_error(arg, CommandArgumentError::InvalidValueUsage, command))?;
    if !w.mutable() {
        return Err(arg_error(
            arg,
            CommandArgumentError::InvalidObjectByMutRef,
            command,
        ));
    }
    let balance = object::coin_balance(&w.object)
        .ok_or_else(|| arg_error(arg, CommandArgumentError::TypeMismatch, command))?;
    Ok((balance, w.input.is_none()))
}

fn split_coin(
    set: &mut WorkingSet,
    coin: Address,
    amounts: &[u64],
    command_index: u16,
    command: usize,
) -> Result<Vec<Slot>, Failure> {
    let (balance, _) = coin_mut(set, &coin, 0, command)?;
    let total = amounts
        .iter()
        .try_fold(0u64, |acc, a| acc.checked_add(*a))
        .ok_or(Failure::new(
            ExecutionError::CoinBalanceOverflow,
            Some(command as u64),
        ))?;
    let rest = balance.checked_sub(total).ok_or(Failure::new(
        ExecutionError::InsufficientCoinBalance,
        Some(command as u64),
    ))?;
    if let Some(w) = set.objects.get_mut(&coin) {
        object::set_coin_balance(&mut w.object, rest);
    }
    let mut out = Vec::with_capacity(amounts.len());
    for (i, amount) in amounts.iter().enumerate() {
        let id = Address::derive_id(set.digest, set.created);
        set.created += 1;
        set.objects.insert(
            id,
            Working {
                object: object::sui_coin(id, *amount, Owner::Address(set.sender)),
                input: None,
                deleted: false,
                dirty: true,
                held: Some((command_index, arg_number(i))),
            },
        );
        out.push(Slot::Object(id));
    }
    Ok(out)
}

fn merge_coins(
    set: &mut WorkingSet,
    target: Address,
    sources: &[Address],
    command: usize,
) -> Result<(), Failure> {
    let (mut balance, _) = coin_mut(set, &target, 0, command)?;
    for (i, id) in sources.iter().enumerate() {
        let arg = arg_number(i + 1);
        let (b, _) = coin_mut(set, id, arg, command)?;
        let w = set
            .objects
            .get(id)
            .ok_or_else(|| arg_error(arg, CommandArgumentError::InvalidValueUsage, command))?;
        if !matches!(w.input, None | Some((_, Access::Owned))) {
            return Err(arg_error(
                arg,
                CommandArgumentError::InvalidObjectByValue,
                command,
            ));
        }
        balance = balance.checked_add(b).ok_or(Failure::new(
            ExecutionError::CoinBalanceOverflow,
            Some(command as u64),
        ))?;
    }
    for id in sources {
        if let Some(w) = set.objects.get_mut(id) {
            w.deleted = true;
        }
    }
    if let Some(w) = set.objects.get_mut(&target) {
        object::set_coin_balance(&mut w.object, balance);
    }
    Ok(())
}
