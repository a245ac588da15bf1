//! The names the master writes into Kubernetes objects: its server-side
//! apply field manager, and the labels and annotations that tie objects
//! (namespaces, bootstrap tokens, admission records, nodes, the event
//! cursor) to seal tokens and their owners.
//!
//! Label values are limited to 63 characters, so a full Sui address
//! (`0x` + 64 hex digits) or a seal-token id never goes into a label: they
//! go into annotations, and labels carry only short, selectable facts.

/// Field manager of every server-side apply the master makes.
pub const FIELD_MANAGER: &str = "k3s-daas-master";

/// Standard label naming the tool that manages an object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// Value of [`MANAGED_BY_LABEL`] on the master's objects.
pub const MANAGED_BY: &str = "k3s-daas-master";

/// Annotation holding the owner's full Sui address (`0x` + 64 hex digits).
pub const OWNER_ANNOTATION: &str = "k3s-daas.io/owner";

/// Annotation holding the seal token id (`0x` + 64 hex digits).
pub const SEAL_TOKEN_ANNOTATION: &str = "k3s-daas.io/seal-token";

/// Annotation holding the worker's node id as registered on chain.
pub const NODE_ID_ANNOTATION: &str = "k3s-daas.io/node-id";

/// Standard label naming the part of the product an object belongs to.
pub const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// Label on objects that belong to one Kubernetes node: its node name.
/// Node names are DNS subdomains of up to 253 characters, so only names that
/// fit a label value (63 characters) can be selected by it; the master
/// refuses longer worker names at admission.
pub const NODE_LABEL: &str = "k3s-daas.io/node";

/// Label on the master's bootstrap tokens and admission records: the seal
/// token's object id as 64 hex digits without `0x` would not fit a label
/// value, so this holds its first 32 hex digits (128 bits), enough to
/// select by; the annotation [`SEAL_TOKEN_ANNOTATION`] (or the record's
/// data) has the full id.
pub const SEAL_TOKEN_LABEL: &str = "k3s-daas.io/seal-token-prefix";

/// Label on worker Nodes, with [`SEAL_TOKEN_LABEL`]'s value. It lives under
/// `node-restriction.kubernetes.io/`, which the NodeRestriction admission
/// plugin forbids kubelets to add, change or remove: a node cannot take
/// another's label nor shed its own. Only a selector, never a credential:
/// the admission record decides (ARCHITECTURE.md, "Worker nodes").
pub const NODE_SEAL_TOKEN_LABEL: &str = "node-restriction.kubernetes.io/k3s-daas-seal-token-prefix";

/// Number of hex digits of the seal token id in [`SEAL_TOKEN_LABEL`].
pub const SEAL_TOKEN_LABEL_HEX_DIGITS: usize = 32;

/// The value of [`SEAL_TOKEN_LABEL`] and [`NODE_SEAL_TOKEN_LABEL`] for a
/// seal token id.
pub fn seal_token_label_value(seal_token: daas_core::package::SealTokenId) -> String {
    address_label_value(seal_token.address())
}

/// Label on the master's records of one owner: the first
/// [`SEAL_TOKEN_LABEL_HEX_DIGITS`] hex digits of the owner's address (the
/// full address is in [`OWNER_ANNOTATION`] and in the record).
pub const OWNER_LABEL: &str = "k3s-daas.io/owner-prefix";

/// The first [`SEAL_TOKEN_LABEL_HEX_DIGITS`] hex digits of an address or
/// object id (128 bits, enough to select by), which fit a label value.
pub fn address_label_value(address: sui_sdk_types::Address) -> String {
    hex::encode(&address.as_bytes()[..SEAL_TOKEN_LABEL_HEX_DIGITS / 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use daas_core::package::SealTokenId;
    use sui_sdk_types::Address;

    #[test]
    fn seal_token_label_is_a_valid_label_value() {
        let id = SealTokenId::new(Address::new([0xab; 32]));
        let value = seal_token_label_value(id);
        assert_eq!(value.len(), SEAL_TOKEN_LABEL_HEX_DIGITS);
        assert!(value.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(value, "ab".repeat(16));
    }
}
