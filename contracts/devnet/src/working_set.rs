//! The objects one transaction works on, and the view of them that the
//! native package functions get ([`CallContext`]).

use std::collections::BTreeMap;

use sui_sdk_types::{Address, Digest, Event, Identifier, Object, Owner, StructTag};

use crate::execute::ObjectSource;
use crate::object::MoveObject;
use crate::package::CallError;

/// How a loaded input may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Owned by the sender (mutable, version advances).
    Owned,
    /// Shared and mutable (version advances).
    SharedMut,
    /// Shared, read only.
    SharedRead,
    /// Immutable object.
    Immutable,
    /// A dynamic field (child object) loaded during execution; written only
    /// when changed.
    Child,
}

/// An object in the working set of a transaction.
#[derive(Debug, Clone)]
pub(crate) struct Working {
    pub(crate) object: MoveObject,
    /// The object as loaded, for inputs.
    pub(crate) input: Option<(Object, Access)>,
    pub(crate) deleted: bool,
    /// Changed by a native function (children are written only if so).
    pub(crate) dirty: bool,
    /// Created by this transaction and still held by the PTB (not
    /// transferred, shared or frozen), with the result that made it.
    pub(crate) held: Option<(u16, u16)>,
}

impl Working {
    pub(crate) fn mutable(&self) -> bool {
        match &self.input {
            None => true,
            Some((_, access)) => {
                matches!(access, Access::Owned | Access::SharedMut | Access::Child)
            }
        }
    }
}

/// The objects a transaction works on, plus the events it emits: what the
/// package executor reads and changes through [`CallContext`].
#[derive(Debug, Clone)]
pub struct WorkingSet {
    pub(crate) objects: BTreeMap<Address, Working>,
    pub(crate) events: Vec<Event>,
    pub(crate) created: u64,
    pub(crate) digest: Digest,
    pub(crate) sender: Address,
    pub(crate) timestamp_ms: u64,
}

/// What a native Move function sees: the transaction's sender, its objects,
/// fresh ids and the event log.
pub struct CallContext<'a> {
    pub(crate) set: &'a mut WorkingSet,
    pub(crate) source: &'a dyn ObjectSource,
    pub(crate) package: Address,
    pub(crate) module: Identifier,
    pub(crate) command: u16,
}

impl std::fmt::Debug for CallContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("set", &self.set)
            .field("package", &self.package)
            .field("module", &self.module)
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

impl CallContext<'_> {
    /// The transaction's sender (`tx_context::sender`).
    pub fn sender(&self) -> Address {
        self.set.sender
    }

    /// The checkpoint timestamp (what the clock shows).
    pub fn timestamp_ms(&self) -> u64 {
        self.set.timestamp_ms
    }

    /// The transaction digest (`tx_context::digest`).
    pub fn digest(&self) -> Digest {
        self.set.digest
    }

    /// Reads an object that the call may use.
    pub fn object(&self, id: &Address) -> Result<&MoveObject, CallError> {
        match self.set.objects.get(id) {
            Some(w) if !w.deleted => Ok(&w.object),
            _ => Err(CallError::ObjectUnavailable(*id)),
        }
    }

    /// Borrows an object mutably; fails for read-only shared and immutable
    /// inputs.
    pub fn object_mut(&mut self, id: &Address) -> Result<&mut MoveObject, CallError> {
        match self.set.objects.get_mut(id) {
            Some(w) if !w.deleted => {
                if !w.mutable() {
                    return Err(CallError::NotMutable(*id));
                }
                w.dirty = true;
                Ok(&mut w.object)
            }
            _ => Err(CallError::ObjectUnavailable(*id)),
        }
    }

    /// A fresh object id (`object::new`), derived from the transaction
    /// digest the Sui way.
    pub fn new_id(&mut self) -> Address {
        let id = Address::derive_id(self.set.digest, self.set.created);
        self.set.created += 1;
        id
    }

    /// Adds a new object with its final owner (transferred, shared or
    /// frozen by the function).
    pub fn create(&mut self, object: MoveObject) -> Result<Address, CallError> {
        let id = object
            .id()
            .ok_or(CallError::Invariant("object contents lack an id"))?;
        self.set.objects.insert(
            id,
            Working {
                object,
                input: None,
                deleted: false,
                dirty: true,
                held: None,
            },
        );
        Ok(id)
    }

    /// Adds a new object that the function returns to the PTB.
    pub fn create_returned(&mut self, object: MoveObject) -> Result<Address, CallError> {
        let id = self.create(object)?;
        if let Some(w) = self.set.objects.get_mut(&id) {
            w.held = Some((self.command, 0));
        }
        Ok(id)
    }

    /// Deletes an object the call received by value (`object::delete`);
    /// shared objects passed mutably may be deleted too.
    pub fn delete(&mut self, id: &Address) -> Result<(), CallError> {
        match self.set.objects.get_mut(id) {
            Some(w) if !w.deleted => {
                if !matches!(
                    w.input,
                    None | Some((_, Access::Owned | Access::Child | Access::SharedMut))
                ) {
                    return Err(CallError::NotOwned(*id));
                }
                w.deleted = true;
                Ok(())
            }
            _ => Err(CallError::ObjectUnavailable(*id)),
        }
    }

    /// Transfers an object the call received by value to `recipient`.
    pub fn transfer(&mut self, id: &Address, recipient: Address) -> Result<(), CallError> {
        match self.set.objects.get_mut(id) {
            Some(w) if !w.deleted => {
                if !matches!(w.input, None | Some((_, Access::Owned))) {
                    return Err(CallError::NotOwned(*id));
                }
                w.object.owner = Owner::Address(recipient);
                w.held = None;
                Ok(())
            }
            _ => Err(CallError::ObjectUnavailable(*id)),
        }
    }

    fn load_child(&mut self, parent: &Address, id: &Address) -> Result<bool, CallError> {
        if !self.set.objects.contains_key(id) {
            let stored = self
                .source
                .live_object(id)
                .map_err(|e| CallError::Storage(e.to_string()))?;
            let Some(stored) = stored else {
                return Ok(false);
            };
            let object = MoveObject::from_object(&stored)
                .ok_or(CallError::Invariant("child is a package"))?;
            self.set.objects.insert(
                *id,
                Working {
                    object,
                    input: Some((stored, Access::Child)),
                    deleted: false,
                    dirty: false,
                    held: None,
                },
            );
        }
        match self.set.objects.get(id) {
            Some(w) if !w.deleted => {
                if w.object.owner != Owner::Object(*parent) {
                    return Err(CallError::NotOwned(*id));
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Reads a dynamic field (an object owned by the object `parent`) from
    /// this transaction's working set or from the ledger; `None` if it does
    /// not exist.
    pub fn child(
        &mut self,
        parent: &Address,
        id: &Address,
    ) -> Result<Option<&MoveObject>, CallError> {
        if !self.load_child(parent, id)? {
            return Ok(None);
        }
        Ok(self.set.objects.get(id).map(|w| &w.object))
    }

    /// Like [`CallContext::child`], for changing the field; the change is
    /// written with the transaction.
    pub fn child_mut(
        &mut self,
        parent: &Address,
        id: &Address,
    ) -> Result<Option<&mut MoveObject>, CallError> {
        if !self.load_child(parent, id)? {
            return Ok(None);
        }
        Ok(self.set.objects.get_mut(id).map(|w| {
            w.dirty = true;
            &mut w.object
        }))
    }

    /// Emits an event of type `type_` with BCS `contents`.
    pub fn emit(&mut self, type_: StructTag, contents: Vec<u8>) {
        self.set.events.push(Event {
            package_id: self.package,
            module: self.module.clone(),
            sender: self.set.sender,
            type_,
            contents,
        });
    }
}
