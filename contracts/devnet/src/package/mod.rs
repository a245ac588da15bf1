//! Native executor of the `k3s_daas` package, following
//! `contracts/README.md` row by row, with the BCS types of
//! `daas_core::package`. One file per Move module.
//!
//! The package lives at [`PACKAGE_ID`]. Tables are Sui dynamic fields:
//! `0x2::dynamic_field::Field<K, V>` objects owned by the table's `UID`, at
//! `derive_dynamic_child_id(table, type_tag(K), bcs(key))`.

mod audit;
mod enclave;
mod gateway;
mod staking;

use daas_core::package::{self as bindings, DynamicField, MoveStruct, PackageAbort};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sui_sdk_types::{Address, CommandArgumentError, Identifier, Owner, StructTag, TypeTag};

use crate::object::{self, CLOCK_ID, ClockContents, MoveObject};
use crate::working_set::CallContext;

pub use bindings::PACKAGE_ID;

/// A resolved argument of a Move call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallArg {
    /// BCS bytes of a pure value.
    Pure(Vec<u8>),
    /// An object, by id.
    Object(Address),
    /// A non-object Move value produced by an earlier command (e.g. the
    /// `NitroAttestationDocument` of `load_nitro_attestation`), with its
    /// type: a pure input can never stand in for it.
    Value {
        /// The value's struct type.
        type_: StructTag,
        /// Its BCS bytes.
        contents: Vec<u8>,
    },
}

/// Why a native Move call failed; becomes the transaction's failure status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// A Move abort.
    #[error("abort {code} in {module} (function {function})")]
    Abort {
        /// Module that aborted.
        module: &'static str,
        /// Index of the function in its module's table.
        function: u16,
        /// Abort code.
        code: u64,
    },
    /// An argument has the wrong type or cannot be decoded.
    #[error("argument {index}: {kind:?}")]
    Argument {
        /// Argument index.
        index: u16,
        /// What is wrong.
        kind: CommandArgumentError,
    },
    /// The function takes no type arguments.
    #[error("unexpected type arguments")]
    TypeArguments,
    /// Wrong number of arguments.
    #[error("expected {expected} arguments, got {got}")]
    Arity {
        /// Expected count.
        expected: usize,
        /// Given count.
        got: usize,
    },
    /// The object was consumed or is unknown.
    #[error("object {0} is not available")]
    ObjectUnavailable(Address),
    /// The object cannot be taken by value.
    #[error("object {0} is not owned by the transaction")]
    NotOwned(Address),
    /// The object is read-only.
    #[error("object {0} is not mutable")]
    NotMutable(Address),
    /// An internal inconsistency.
    #[error("invariant violated: {0}")]
    Invariant(&'static str),
    /// Reading a dynamic field failed.
    #[error("storage: {0}")]
    Storage(String),
}

impl From<PackageAbort> for CallError {
    fn from(abort: PackageAbort) -> Self {
        CallError::Abort {
            module: abort.module(),
            function: u16::MAX,
            code: abort.code(),
        }
    }
}

/// Checks that `package::module::function` exists; the error names what
/// does not.
pub fn resolve(package: &Address, module: &str, function: &str) -> Result<(), String> {
    if *package != PACKAGE_ID {
        return Err(format!(
            "package {package} does not exist on the devnet (only k3s_daas at {PACKAGE_ID})"
        ));
    }
    let functions = functions_of(module).ok_or_else(|| {
        format!("module {module} does not exist in package k3s_daas ({PACKAGE_ID})")
    })?;
    if !functions.contains(&function) {
        return Err(format!(
            "function {function} does not exist in module k3s_daas::{module} ({PACKAGE_ID})"
        ));
    }
    Ok(())
}

fn functions_of(module: &str) -> Option<&'static [&'static str]> {
    match module {
        bindings::module::STAKING => Some(bindings::staking::function::ALL),
        bindings::module::GATEWAY => Some(bindings::gateway::function::ALL),
        bindings::module::AUDIT => Some(bindings::audit::function::ALL),
        bindings::module::ENCLAVE => Some(bindings::enclave::function::ALL),
        _ => None,
    }
}

/// Runs `module::function` of the package.
pub fn call(
    ctx: &mut CallContext<'_>,
    module: &str,
    function: &str,
    type_arguments: &[TypeTag],
    args: &[CallArg],
) -> Result<Vec<CallArg>, CallError> {
    if !type_arguments.is_empty() {
        return Err(CallError::TypeArguments);
    }
    let args = Args(args);
    let result = match module {
        bindings::module::STAKING => staking::call(ctx, function, &args),
        bindings::module::GATEWAY => gateway::call(ctx, function, &args),
        bindings::module::AUDIT => audit::call(ctx, function, &args),
        bindings::module::ENCLAVE => enclave::call(ctx, function, &args),
        _ => Err(CallError::Invariant("call to an unresolved module")),
    };
    result.map_err(|e| match e {
        CallError::Abort {
            module: m,
            function: u16::MAX,
            code,
        } => {
            let index = if m == module {
                functions_of(module)
                    .and_then(|fs| fs.iter().position(|f| *f == function))
                    .and_then(|i| u16::try_from(i).ok())
                    .unwrap_or(0)
            } else {
                0
            };
            CallError::Abort {
                module: m,
                function: index,
                code,
            }
        }
        other => other,
    })
}

/// The package's init objects at genesis (`contracts/README.md`, "Init").
pub fn genesis_objects(admin: Address, slasher: Address) -> Vec<MoveObject> {
    let mut out = staking::genesis(admin, slasher);
    out.extend(enclave::genesis(admin));
    out
}

/// The arguments of a call, with typed accessors.
pub(crate) struct Args<'a>(&'a [CallArg]);

impl Args<'_> {
    fn arg_index(i: usize) -> u16 {
        u16::try_from(i).unwrap_or(u16::MAX)
    }

    /// Fails unless there are exactly `n` arguments.
    pub(crate) fn expect(&self, n: usize) -> Result<(), CallError> {
        if self.0.len() != n {
            return Err(CallError::Arity {
                expected: n,
                got: self.0.len(),
            });
        }
        Ok(())
    }

    /// A pure argument decoded from BCS.
    pub(crate) fn pure<T: DeserializeOwned>(&self, i: usize) -> Result<T, CallError> {
        match self.0.get(i) {
            Some(CallArg::Pure(bytes)) => bcs::from_bytes(bytes).map_err(|_| CallError::Argument {
                index: Self::arg_index(i),
                kind: CommandArgumentError::InvalidBcsBytes,
            }),
            _ => Err(CallError::Argument {
                index: Self::arg_index(i),
                kind: CommandArgumentError::TypeMismatch,
            }),
        }
    }

    /// A UTF-8 string argument (`0x1::string::String`).
    pub(crate) fn string(&self, i: usize) -> Result<String, CallError> {
        let bytes: Vec<u8> = self.pure(i)?;
        String::from_utf8(bytes).map_err(|_| CallError::Argument {
            index: Self::arg_index(i),
            kind: CommandArgumentError::InvalidBcsBytes,
        })
    }

    /// A Move value argument of type `type_`, decoded from BCS.
    pub(crate) fn value<T: DeserializeOwned>(
        &self,
        i: usize,
        type_: &StructTag,
    ) -> Result<T, CallError> {
        match self.0.get(i) {
            Some(CallArg::Value { type_: t, contents }) if t == type_ => bcs::from_bytes(contents)
                .map_err(|_| CallError::Invariant("a Move value does not decode as its type")),
            _ => Err(type_mismatch(i)),
        }
    }

    /// An object argument's id.
    pub(crate) fn object(&self, i: usize) -> Result<Address, CallError> {
        match self.0.get(i) {
            Some(CallArg::Object(id)) => Ok(*id),
            _ => Err(CallError::Argument {
                index: Self::arg_index(i),
                kind: CommandArgumentError::TypeMismatch,
            }),
        }
    }
}

fn type_mismatch(i: usize) -> CallError {
    CallError::Argument {
        index: Args::arg_index(i),
        kind: CommandArgumentError::TypeMismatch,
    }
}

/// Reads argument `i` as the package object `T`.
pub(crate) fn read<T: MoveStruct + DeserializeOwned>(
    ctx: &CallContext<'_>,
    args: &Args<'_>,
    i: usize,
) -> Result<(Address, T), CallError> {
    let id = args.object(i)?;
    let object = ctx.object(&id)?;
    if !T::matches(&object.type_, PACKAGE_ID) {
        return Err(type_mismatch(i));
    }
    let value = bcs::from_bytes(&object.contents).map_err(|_| type_mismatch(i))?;
    Ok((id, value))
}

/// Writes back a package object read with [`read`].
pub(crate) fn write<T: Serialize>(
    ctx: &mut CallContext<'_>,
    id: &Address,
    value: &T,
) -> Result<(), CallError> {
    let contents = bcs::to_bytes(value).map_err(|_| CallError::Invariant("encoding failed"))?;
    ctx.object_mut(id)?.contents = contents;
    Ok(())
}

/// Creates a package object `value` of type `T` owned by `owner`.
pub(crate) fn create<T: MoveStruct + Serialize>(
    ctx: &mut CallContext<'_>,
    value: &T,
    owner: Owner,
) -> Result<Address, CallError> {
    ctx.create(new_object(value, owner)?)
}

/// A package object of type `T` as a [`MoveObject`].
pub(crate) fn new_object<T: MoveStruct + Serialize>(
    value: &T,
    owner: Owner,
) -> Result<MoveObject, CallError> {
    Ok(MoveObject {
        type_: T::struct_tag(PACKAGE_ID),
        contents: bcs::to_bytes(value).map_err(|_| CallError::Invariant("encoding failed"))?,
        owner,
    })
}

/// Emits the package event `event`.
pub(crate) fn emit<T: MoveStruct + Serialize>(
    ctx: &mut CallContext<'_>,
    event: &T,
) -> Result<(), CallError> {
    let contents = bcs::to_bytes(event).map_err(|_| CallError::Invariant("encoding failed"))?;
    ctx.emit(T::struct_tag(PACKAGE_ID), contents);
    Ok(())
}

/// Reads argument `i` as the clock `0x6`, returning its time.
pub(crate) fn clock(ctx: &CallContext<'_>, args: &Args<'_>, i: usize) -> Result<u64, CallError> {
    match args.0.get(i) {
        Some(arg) => clock_arg(ctx, arg, i),
        None => Err(type_mismatch(i)),
    }
}

/// Reads the argument `arg` (at index `i`) as the clock `0x6`, returning
/// its time.
pub(crate) fn clock_arg(ctx: &CallContext<'_>, arg: &CallArg, i: usize) -> Result<u64, CallError> {
    let CallArg::Object(id) = *arg else {
        return Err(type_mismatch(i));
    };
    let object = ctx.object(&id)?;
    if id != CLOCK_ID || object.type_ != object::clock_type() {
        return Err(type_mismatch(i));
    }
    let contents: ClockContents =
        bcs::from_bytes(&object.contents).map_err(|_| type_mismatch(i))?;
    Ok(contents.timestamp_ms)
}

/// Takes argument `i` by value as a `Coin<SUI>` and returns its balance
/// (the coin is destroyed, as `coin::into_balance` does).
pub(crate) fn take_coin(
    ctx: &mut CallContext<'_>,
    args: &Args<'_>,
    i: usize,
) -> Result<u64, CallError> {
    let id = args.object(i)?;
    let balance = object::coin_balance(ctx.object(&id)?).ok_or_else(|| type_mismatch(i))?;
    ctx.delete(&id)?;
    Ok(balance)
}

/// Sends a new `Coin<SUI>` of `amount` to `recipient`.
pub(crate) fn send_coin(
    ctx: &mut CallContext<'_>,
    amount: u64,
    recipient: Address,
) -> Result<Address, CallError> {
    let id = ctx.new_id();
    ctx.create(object::sui_coin(id, amount, Owner::Address(recipient)))
}

/// A typed `0x2::table::Table<K, V>` in a package object.
pub(crate) struct Table {
    /// The table's `UID`.
    pub(crate) id: Address,
    /// Type tag of the key.
    pub(crate) key: TypeTag,
    /// Type tag of the value.
    pub(crate) value: TypeTag,
}

/// The type tag `0x2::object::ID`.
pub(crate) fn id_type() -> TypeTag {
    TypeTag::Struct(Box::new(StructTag::new(
        Address::TWO,
        Identifier::from_static("object"),
        Identifier::from_static("ID"),
        Vec::new(),
    )))
}

/// The type tag of the package struct `T`.
pub(crate) fn package_type<T: MoveStruct>() -> TypeTag {
    TypeTag::Struct(Box::new(T::struct_tag(PACKAGE_ID)))
}

impl Table {
    fn field_id<K: Serialize>(&self, key: &K) -> Result<Address, CallError> {
        let bytes = bcs::to_bytes(key).map_err(|_| CallError::Invariant("encoding failed"))?;
        Ok(self.id.derive_dynamic_child_id(&self.key, &bytes))
    }

    fn field_type(&self) -> StructTag {
        StructTag::new(
            Address::TWO,
            Identifier::from_static("dynamic_field"),
            Identifier::from_static("Field"),
            vec![self.key.clone(), self.value.clone()],
        )
    }

    /// The value under `key`, if any.
    pub(crate) fn get<K: Serialize + DeserializeOwned, V: DeserializeOwned>(
        &self,
        ctx: &mut CallContext<'_>,
        key: &K,
    ) -> Result<Option<V>, CallError> {
        let id = self.field_id(key)?;
        match ctx.child(&self.id, &id)? {
            Some(o) => {
                let field: DynamicField<K, V> = bcs::from_bytes(&o.contents)
                    .map_err(|_| CallError::Invariant("corrupt table entry"))?;
                Ok(Some(field.value))
            }
            None => Ok(None),
        }
    }

    /// Inserts or replaces the value under `key`; returns whether the key
    /// was new.
    pub(crate) fn set<K: Serialize, V: Serialize>(
        &self,
        ctx: &mut CallContext<'_>,
        key: &K,
        value: &V,
    ) -> Result<bool, CallError> {
        let id = self.field_id(key)?;
        let contents = bcs::to_bytes(&DynamicField {
            id,
            name: key,
            value,
        })
        .map_err(|_| CallError::Invariant("encoding failed"))?;
        if let Some(o) = ctx.child_mut(&self.id, &id)? {
            o.contents = contents;
            return Ok(false);
        }
        ctx.create(MoveObject {
            type_: self.field_type(),
            contents,
            owner: Owner::Object(self.id),
        })?;
        Ok(true)
    }

    /// Removes the entry under `key`; returns whether it existed.
    pub(crate) fn remove<K: Serialize>(
        &self,
        ctx: &mut CallContext<'_>,
        key: &K,
    ) -> Result<bool, CallError> {
        let id = self.field_id(key)?;
        if ctx.child(&self.id, &id)?.is_none() {
            return Ok(false);
        }
        ctx.delete(&id)?;
        Ok(true)
    }
}
