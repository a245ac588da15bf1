//! Building and reading the Move objects the devnet stores: SUI coins, the
//! clock, and generic structs whose contents start with their `UID`.

use serde::{Deserialize, Serialize};
use sui_sdk_types::{
    Address, Digest, Identifier, MoveStruct, Object, ObjectData, ObjectReference, Owner, StructTag,
    TypeTag, Version,
};

/// Address of the shared `0x2::clock::Clock` object.
pub const CLOCK_ID: Address = Address::from_static("0x6");

/// A Move object's type, contents and ownership, without version or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveObject {
    /// The struct type.
    pub type_: StructTag,
    /// The BCS contents; the first 32 bytes are the object id.
    pub contents: Vec<u8>,
    /// The owner.
    pub owner: Owner,
}

impl MoveObject {
    /// Splits a stored object into its parts; `None` for packages.
    pub fn from_object(object: &Object) -> Option<Self> {
        let s = object.as_struct()?;
        Some(Self {
            type_: s.object_type().clone(),
            contents: s.contents().to_vec(),
            owner: *object.owner(),
        })
    }

    /// The object id (the leading `UID` of the contents); `None` if the
    /// contents are shorter than an address.
    pub fn id(&self) -> Option<Address> {
        self.contents
            .get(..Address::LENGTH)
            .and_then(|b| Address::from_bytes(b).ok())
    }

    /// Builds the stored object at `version`; `None` if the contents do not
    /// start with an id.
    pub fn to_object(
        &self,
        version: Version,
        previous_transaction: Digest,
        storage_rebate: u64,
    ) -> Option<Object> {
        let s = MoveStruct::new(self.type_.clone(), true, version, self.contents.clone())?;
        Some(Object::new(
            ObjectData::Struct(s),
            self.owner,
            previous_transaction,
            storage_rebate,
        ))
    }
}

/// BCS layout of `0x2::coin::Coin<T>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoinContents {
    /// The coin's id.
    pub id: Address,
    /// The balance in the coin's smallest unit.
    pub balance: u64,
}

/// BCS layout of `0x2::clock::Clock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockContents {
    /// Always [`CLOCK_ID`].
    pub id: Address,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// Whether `type_` is `0x2::coin::Coin<0x2::sui::SUI>`.
pub fn is_sui_coin(type_: &StructTag) -> bool {
    *type_ == StructTag::gas_coin()
}

/// A SUI coin object with `balance`.
pub fn sui_coin(id: Address, balance: u64, owner: Owner) -> MoveObject {
    MoveObject {
        type_: StructTag::gas_coin(),
        contents: encode(&CoinContents { id, balance }),
        owner,
    }
}

/// The type `0x2::clock::Clock`.
pub fn clock_type() -> StructTag {
    StructTag::new(
        Address::TWO,
        Identifier::from_static("clock"),
        Identifier::from_static("Clock"),
        vec![],
    )
}

/// The clock object at `timestamp_ms`, shared since version 1.
pub fn clock(timestamp_ms: u64) -> MoveObject {
    MoveObject {
        type_: clock_type(),
        contents: encode(&ClockContents {
            id: CLOCK_ID,
            timestamp_ms,
        }),
        owner: Owner::Shared(1),
    }
}

/// Reads the balance of a SUI coin; `None` if `object` is not one.
pub fn coin_balance(object: &MoveObject) -> Option<u64> {
    if !is_sui_coin(&object.type_) {
        return None;
    }
    bcs::from_bytes::<CoinContents>(&object.contents)
        .ok()
        .map(|c| c.balance)
}

/// Sets the balance of a SUI coin in place; `false` if `object` is not one.
pub fn set_coin_balance(object: &mut MoveObject, balance: u64) -> bool {
    let Some(id) = object.id() else {
        return false;
    };
    if !is_sui_coin(&object.type_) {
        return false;
    }
    object.contents = encode(&CoinContents { id, balance });
    true
}

/// BCS-encodes a value whose serialization cannot fail (plain structs of
/// integers, addresses, vectors and strings).
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bcs::to_bytes(value).unwrap_or_default()
}

/// The reference (id, version, digest) of a stored object.
pub fn reference(object: &Object) -> ObjectReference {
    ObjectReference::new(object.object_id(), object.version(), object.digest())
}

/// The type tag `0x2::sui::SUI`.
pub fn sui_type() -> TypeTag {
    StructTag::sui().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coin_round_trip() {
        let id = Address::from_static("0x9");
        let mut coin = sui_coin(id, 10, Owner::Address(Address::ZERO));
        assert_eq!(coin.id(), Some(id));
        assert_eq!(coin_balance(&coin), Some(10));
        assert!(set_coin_balance(&mut coin, 7));
        assert_eq!(coin_balance(&coin), Some(7));
        let object = coin.to_object(3, Digest::ZERO, 0).unwrap();
        assert_eq!(object.version(), 3);
        assert_eq!(MoveObject::from_object(&object), Some(coin));
    }

    #[test]
    fn clock_is_not_a_coin() {
        let mut c = clock(5);
        assert_eq!(coin_balance(&c), None);
        assert!(!set_coin_balance(&mut c, 1));
    }
}
