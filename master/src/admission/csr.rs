//! Binding a bootstrap token to its node: which kubelet client certificate
//! requests the master approves.
//!
//! A kubelet joins by TLS bootstrapping: authenticated by its bootstrap
//! token as `system:bootstrap:<token id>`, it asks the
//! `kubernetes.io/kube-apiserver-client-kubelet` signer for a client
//! certificate with subject `CN=system:node:<name>, O=system:nodes`, and
//! from then on *is* that node. The controller manager would approve any
//! name for any bootstrapper bound to the `nodeclient` role; the master
//! binds no one to it and decides itself ([`inspect`], then the record and
//! the chain): a request is approved only when its token is the one the
//! master minted for exactly the node the subject names. Renewals, which
//! nodes request as themselves (`selfnodeclient`), stay with the
//! controller manager.
//!
//! The checks are Kubernetes' own for kubelet client certificates
//! (`ValidateKubeletClientCSR`), made strict: the subject holds exactly one
//! common name and one organisation, there are no subject alternative
//! names, and the usages are `digital signature` and `client auth`, plus
//! `key encipherment` for RSA keys (what kubelet 1.37 asks for).

use std::collections::BTreeSet;

use daas_core::access::NodeName;
use der::oid::db::rfc4519::{COMMON_NAME, ORGANIZATION_NAME};
use der::{Decode, DecodePem, Encode};
use k8s_openapi::api::certificates::v1::CertificateSigningRequestSpec;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::DirectoryString;
use x509_cert::request::{CertReq, ExtensionReq};

use super::join_token::{TOKEN_ID_LEN, is_token_part};

/// The signer of kubelet client certificates.
pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// The user-name prefix of bootstrap-token users.
pub const BOOTSTRAP_USER_PREFIX: &str = "system:bootstrap:";
/// The common-name prefix of node identities.
pub const NODE_USER_PREFIX: &str = "system:node:";
/// The one organisation of a node identity.
pub const NODES_GROUP: &str = "system:nodes";

/// Usages of a kubelet client certificate for an EC or Ed25519 key.
const USAGES: [&str; 2] = ["client auth", "digital signature"];
/// Usages of a kubelet client certificate for an RSA key.
const USAGES_RSA: [&str; 3] = ["client auth", "digital signature", "key encipherment"];

/// A bootstrapper's request for a node's client certificate, well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeClientRequest {
    /// The bootstrap token the requester authenticated with.
    pub token_id: String,
    /// The node the certificate would make it.
    pub node: NodeName,
}

/// What [`inspect`] makes of a certificate signing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inspection {
    /// Not a bootstrapper's kubelet client certificate request: another
    /// signer, or a renewal by a node, or a request by any other user. Left
    /// to whoever handles those.
    NotOurs,
    /// A well-formed request; approve it if the token is the node's.
    NodeClient(NodeClientRequest),
    /// A bootstrapper's request that no token may be granted; deny it.
    Malformed(String),
}

/// Classifies the request `spec` without I/O.
pub fn inspect(spec: &CertificateSigningRequestSpec) -> Inspection {
    if spec.signer_name != KUBELET_CLIENT_SIGNER {
        return Inspection::NotOurs;
    }
    let Some(token_id) = spec
        .username
        .as_deref()
        .and_then(|user| user.strip_prefix(BOOTSTRAP_USER_PREFIX))
    else {
        return Inspection::NotOurs;
    };
    match check(token_id, spec) {
        Ok(node) => Inspection::NodeClient(NodeClientRequest {
            token_id: token_id.to_owned(),
            node,
        }),
        Err(reason) => Inspection::Malformed(reason),
    }
}

fn check(token_id: &str, spec: &CertificateSigningRequestSpec) -> Result<NodeName, String> {
    if !is_token_part(token_id, TOKEN_ID_LEN) {
        return Err(format!("{token_id:?} is not a bootstrap token id"));
    }
    check_usages(spec.usages.as_deref().unwrap_or_default())?;
    let request = CertReq::from_pem(&spec.request.0)
        .map_err(|e| format!("the request is not a PEM certificate request: {e}"))?;
    check_no_alternative_names(&request)?;
    subject_node(&request)
}

fn check_usages(usages: &[String]) -> Result<(), String> {
    let asked: BTreeSet<&str> = usages.iter().map(String::as_str).collect();
    let allowed = |set: &[&str]| asked == set.iter().copied().collect::<BTreeSet<_>>();
    if allowed(&USAGES) || allowed(&USAGES_RSA) {
        Ok(())
    } else {
        Err(format!(
            "usages {usages:?} are not those of a kubelet client certificate ({USAGES:?}, or {USAGES_RSA:?} for RSA)"
        ))
    }
}

fn check_no_alternative_names(request: &CertReq) -> Result<(), String> {
    for attribute in request.info.attributes.iter() {
        if attribute.oid != <ExtensionReq as der::oid::AssociatedOid>::OID {
            continue;
        }
        for value in attribute.values.iter() {
            let extensions: ExtensionReq = value
                .decode_as()
                .map_err(|e| format!("the requested extensions do not parse: {e}"))?;
            if extensions
                .0
                .iter()
                .any(|e| e.extn_id == <SubjectAltName as der::oid::AssociatedOid>::OID)
            {
                return Err("a node client certificate has no subject alternative names".into());
            }
        }
    }
    Ok(())
}

/// The node of a subject that is exactly `CN=system:node:<name>,
/// O=system:nodes`.
fn subject_node(request: &CertReq) -> Result<NodeName, String> {
    let attributes: Vec<&AttributeTypeAndValue> = request
        .info
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .collect();
    let values = |oid| -> Result<Vec<String>, String> {
        attributes
            .iter()
            .filter(|a| a.oid == oid)
            .map(|a| text_of(a))
            .collect()
    };
    let names = values(COMMON_NAME)?;
    let organizations = values(ORGANIZATION_NAME)?;
    if attributes.len() != names.len() + organizations.len() {
        return Err("the subject must hold only a common name and an organisation".into());
    }
    if organizations != [NODES_GROUP] {
        return Err(format!(
            "the subject's organisation must be exactly {NODES_GROUP:?}, not {organizations:?}"
        ));
    }
    let [name] = names.as_slice() else {
        return Err(format!(
            "the subject must hold one common name, not {names:?}"
        ));
    };
    let node = name.strip_prefix(NODE_USER_PREFIX).ok_or_else(|| {
        format!("the common name {name:?} is not {NODE_USER_PREFIX:?} and a node name")
    })?;
    node.parse()
        .map_err(|e| format!("the common name names no node the master admits: {e}"))
}

fn text_of(attribute: &AttributeTypeAndValue) -> Result<String, String> {
    let text = attribute
        .value
        .to_der()
        .and_then(|der| DirectoryString::from_der(&der))
        .map_err(|e| format!("a subject attribute is not a string: {e}"))?;
    Ok(match text {
        DirectoryString::PrintableString(s) => s.as_str().to_owned(),
        DirectoryString::TeletexString(s) => s.as_str().to_owned(),
        DirectoryString::Utf8String(s) => s,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use k8s_openapi::ByteString;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

    use super::*;

    /// A request as kubelet makes it: ECDSA P-256, `CN`, `O`, nothing else.
    fn csr_pem(subject: &[(DnType, &str)], sans: Vec<SanType>) -> String {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        for (kind, value) in subject {
            dn.push(kind.clone(), *value);
        }
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.serialize_request(&key).unwrap().pem().unwrap()
    }

    fn spec(user: &str, pem: &str, usages: &[&str]) -> CertificateSigningRequestSpec {
        CertificateSigningRequestSpec {
            signer_name: KUBELET_CLIENT_SIGNER.to_owned(),
            username: Some(user.to_owned()),
            request: ByteString(pem.as_bytes().to_vec()),
            usages: Some(usages.iter().map(|u| (*u).to_owned()).collect()),
            ..CertificateSigningRequestSpec::default()
        }
    }

    fn kubelet_pem(name: &str) -> String {
        csr_pem(
            &[
                (DnType::CommonName, &format!("system:node:{name}")),
                (DnType::OrganizationName, "system:nodes"),
            ],
            Vec::new(),
        )
    }

    const USER: &str = "system:bootstrap:abc123";

    #[test]
    fn a_kubelets_request_names_its_token_and_node() {
        for usages in [&USAGES[..], &USAGES_RSA[..]] {
            assert_eq!(
                inspect(&spec(USER, &kubelet_pem("worker-1"), usages)),
                Inspection::NodeClient(NodeClientRequest {
                    token_id: "abc123".to_owned(),
                    node: "worker-1".parse().unwrap(),
                })
            );
        }
    }

    #[test]
    fn renewals_other_users_and_other_signers_are_not_ours() {
        let pem = kubelet_pem("worker-1");
        assert_eq!(
            inspect(&spec("system:node:worker-1", &pem, &USAGES)),
            Inspection::NotOurs
        );
        assert_eq!(
            inspect(&spec("sui:0x01", &pem, &USAGES)),
            Inspection::NotOurs
        );
        let mut serving = spec(USER, &pem, &USAGES);
        serving.signer_name = "kubernetes.io/kubelet-serving".to_owned();
        assert_eq!(inspect(&serving), Inspection::NotOurs);
        let mut nobody = spec(USER, &pem, &USAGES);
        nobody.username = None;
        assert_eq!(inspect(&nobody), Inspection::NotOurs);
    }

    #[test]
    fn every_malformed_request_is_denied_naming_why() {
        let node = |cn: &str| {
            csr_pem(
                &[
                    (DnType::CommonName, cn),
                    (DnType::OrganizationName, "system:nodes"),
                ],
                Vec::new(),
            )
        };
        let good = kubelet_pem("worker-1");
        let cases: Vec<(CertificateSigningRequestSpec, &str)> = vec![
            (
                spec("system:bootstrap:ABC", &good, &USAGES),
                "not a bootstrap token id",
            ),
            (
                spec(
                    USER,
                    &good,
                    &["client auth", "digital signature", "server auth"],
                ),
                "usages",
            ),
            (spec(USER, &good, &["client auth"]), "usages"),
            (
                spec(USER, "not pem", &USAGES),
                "not a PEM certificate request",
            ),
            (
                spec(USER, &node("system:node:Worker_1"), &USAGES),
                "names no node the master admits",
            ),
            (
                spec(
                    USER,
                    &node(&format!("system:node:{}", "a".repeat(64))),
                    &USAGES,
                ),
                "at most 63",
            ),
            (spec(USER, &node("system:admin"), &USAGES), "is not"),
            (
                spec(
                    USER,
                    &csr_pem(
                        &[
                            (DnType::CommonName, "system:node:worker-1"),
                            (DnType::OrganizationName, "system:masters"),
                        ],
                        Vec::new(),
                    ),
                    &USAGES,
                ),
                "organisation must be exactly",
            ),
            (
                spec(
                    USER,
                    &csr_pem(&[(DnType::CommonName, "system:node:worker-1")], Vec::new()),
                    &USAGES,
                ),
                "organisation must be exactly",
            ),
            (
                spec(
                    USER,
                    &csr_pem(
                        &[
                            (DnType::CommonName, "system:node:worker-1"),
                            (DnType::OrganizationName, "system:nodes"),
                            (DnType::OrganizationalUnitName, "extra"),
                        ],
                        Vec::new(),
                    ),
                    &USAGES,
                ),
                "only a common name and an organisation",
            ),
            (
                spec(
                    USER,
                    &csr_pem(
                        &[
                            (DnType::CommonName, "system:node:worker-1"),
                            (DnType::OrganizationName, "system:nodes"),
                        ],
                        vec![SanType::DnsName("worker-1".try_into().unwrap())],
                    ),
                    &USAGES,
                ),
                "no subject alternative names",
            ),
        ];
        for (spec, needle) in cases {
            match inspect(&spec) {
                Inspection::Malformed(reason) => {
                    assert!(reason.contains(needle), "{reason:?} should say {needle:?}");
                }
                other => panic!("{needle}: {other:?}"),
            }
        }
    }
}
