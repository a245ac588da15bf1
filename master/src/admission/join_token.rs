//! The K3s join token a worker is handed: `K10<ca-hash>::<id>.<secret>`.
//!
//! Format (k3s `pkg/clientaccess/token.go`): the prefix `K10`, the
//! hex-encoded SHA-256 "CA hash" (64 lowercase hex digits), `::`, and the
//! credentials; here always a kubeadm bootstrap token `<id>.<secret>`, with
//! a 6-character id and a 16-character secret of `[a-z0-9]`. The agent
//! downloads `/cacerts` from the server, hashes it the same way and refuses
//! a server whose CA does not match before it sends the credentials.
//!
//! The CA hash ([`CaHash::of_bundle`]) is computed exactly as K3s's
//! `hashCA`: for a bundle holding one certificate, the SHA-256 of the
//! bundle's bytes as served (the PEM file, newline and all); for a bundle of
//! several, the SHA-256 of the DER of the root that the first certificate
//! chains to through the others; if it chains to none, the bytes again.

use std::fmt;
use std::str::FromStr;

use der::oid::AssociatedOid;
use der::{Decode, DecodePem, Encode};
use rand::Rng;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, SubjectKeyIdentifier};
use zeroize::Zeroizing;

/// Prefix of the secure K3s token format.
pub const TOKEN_PREFIX: &str = "K10";
/// Length of a bootstrap token id.
pub const TOKEN_ID_LEN: usize = 6;
/// Length of a bootstrap token secret.
pub const TOKEN_SECRET_LEN: usize = 16;
/// The alphabet of bootstrap token ids and secrets.
const TOKEN_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// Longest chain walked from the first certificate of a bundle.
const MAX_CHAIN_DEPTH: usize = 16;

/// Why a join token, bootstrap token or CA bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinTokenError {
    /// The token does not start with `K10`.
    #[error("a join token starts with {TOKEN_PREFIX}")]
    MissingPrefix,
    /// No `::` separates the CA hash from the credentials.
    #[error("a join token has `::` between the CA hash and the credentials")]
    MissingSeparator,
    /// The CA hash is not 64 lowercase hex digits.
    #[error("the CA hash of a join token must be 64 lowercase hex digits")]
    BadCaHash,
    /// The credentials are not `<6 of [a-z0-9]>.<16 of [a-z0-9]>`.
    #[error(
        "a bootstrap token is a 6-character id, a dot and a 16-character secret, all of [a-z0-9]"
    )]
    BadBootstrapToken,
    /// The CA bundle holds no PEM `CERTIFICATE` block.
    #[error("the CA bundle contains no PEM certificate")]
    NoCertificate,
    /// A PEM certificate of the bundle does not parse.
    #[error("certificate {index} of the CA bundle is malformed: {reason}")]
    BadCertificate {
        /// Position of the certificate in the bundle (0-based).
        index: usize,
        /// The parser's complaint.
        reason: String,
    },
}

/// A kubeadm-style bootstrap token: `<id>.<secret>`. Its `Debug` shows the
/// id only; the secret is wiped from memory when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    id: String,
    secret: Zeroizing<String>,
}

impl BootstrapToken {
    /// A fresh token with a random id and secret.
    pub fn generate() -> Self {
        let mut rng = rand::rngs::OsRng;
        Self {
            id: random_token_chars(&mut rng, TOKEN_ID_LEN),
            secret: Zeroizing::new(random_token_chars(&mut rng, TOKEN_SECRET_LEN)),
        }
    }

    /// The token from its id and secret.
    ///
    /// # Errors
    /// [`JoinTokenError::BadBootstrapToken`] when either part has the wrong
    /// length or characters.
    pub fn new(id: &str, secret: &str) -> Result<Self, JoinTokenError> {
        if is_token_part(id, TOKEN_ID_LEN) && is_token_part(secret, TOKEN_SECRET_LEN) {
            Ok(Self {
                id: id.to_owned(),
                secret: Zeroizing::new(secret.to_owned()),
            })
        } else {
            Err(JoinTokenError::BadBootstrapToken)
        }
    }

    /// The public id (the `bootstrap-token-<id>` Secret's suffix).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret half. Never log it.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The bearer token `<id>.<secret>` the API server accepts. Never log it.
    pub fn bearer(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}.{}", self.id, self.secret.as_str()))
    }

    /// The name of the Secret holding this token in `kube-system`.
    pub fn secret_name(&self) -> String {
        format!("bootstrap-token-{}", self.id)
    }
}

impl fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapToken")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl FromStr for BootstrapToken {
    type Err = JoinTokenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, secret) = s.split_once('.').ok_or(JoinTokenError::BadBootstrapToken)?;
        Self::new(id, secret)
    }
}

fn random_token_chars(rng: &mut impl Rng, len: usize) -> String {
    (0..len)
        .map(|_| {
            let index = rng.gen_range(0..TOKEN_ALPHABET.len());
            char::from(TOKEN_ALPHABET.get(index).copied().unwrap_or(b'a'))
        })
        .collect()
}

/// Whether `part` is `len` characters of the token alphabet.
pub(super) fn is_token_part(part: &str, len: usize) -> bool {
    part.len() == len && part.bytes().all(|b| TOKEN_ALPHABET.contains(&b))
}

/// The SHA-256 "CA hash" of a K3s join token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CaHash([u8; 32]);

impl CaHash {
    /// The hash from its 32 bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Hashes a CA bundle as K3s's `hashCA` does: the bytes as served at
    /// `/cacerts` for a single certificate, the root's DER for a chain.
    ///
    /// K3s verifies the chain with Go's `x509.Certificate.Verify`, which
    /// also checks signatures and validity periods; this walks issuer names
    /// and key identifiers only. The two agree on every well-formed bundle;
    /// a bundle whose chain Go would reject (a bad signature, an expired
    /// intermediate) hashes differently, and the agent's check fails
    /// closed.
    ///
    /// # Errors
    /// The bundle has no certificate, or one does not parse.
    pub fn of_bundle(bundle: &[u8]) -> Result<Self, JoinTokenError> {
        let certs = parse_pem_certificates(bundle)?;
        let hashed = match certs.as_slice() {
            [] => return Err(JoinTokenError::NoCertificate),
            [_] => Sha256::digest(bundle),
            [first, rest @ ..] => match root_of(first, rest).and_then(|r| r.to_der().ok()) {
                Some(root_der) => Sha256::digest(root_der),
                None => Sha256::digest(bundle),
            },
        };
        Ok(Self(hashed.into()))
    }
}

impl fmt::Display for CaHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl FromStr for CaHash {
    type Err = JoinTokenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lowercase_hex = s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !lowercase_hex {
            return Err(JoinTokenError::BadCaHash);
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| JoinTokenError::BadCaHash)?;
        Ok(Self(bytes))
    }
}

/// The PEM `CERTIFICATE` blocks of a bundle, in order; other blocks are
/// skipped, as Go's `certutil.ParseCertsPEM` does.
fn parse_pem_certificates(bundle: &[u8]) -> Result<Vec<Certificate>, JoinTokenError> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let mut certs = Vec::new();
    let mut rest = bundle;
    while let Some(start) = find(rest, BEGIN) {
        let block = &rest[start..];
        let Some(end) = find(block, END) else { break };
        let pem = &block[..end + END.len()];
        let cert = Certificate::from_pem(pem).map_err(|e| JoinTokenError::BadCertificate {
            index: certs.len(),
            reason: e.to_string(),
        })?;
        certs.push(cert);
        rest = &block[end + END.len()..];
    }
    if certs.is_empty() {
        Err(JoinTokenError::NoCertificate)
    } else {
        Ok(certs)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn subject_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    extension::<SubjectKeyIdentifier>(cert).map(|ski| ski.0.as_bytes().to_vec())
}

fn authority_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    extension::<AuthorityKeyIdentifier>(cert)
        .and_then(|aki| aki.key_identifier)
        .map(|id| id.as_bytes().to_vec())
}

fn extension<T>(cert: &Certificate) -> Option<T>
where
    T: AssociatedOid + for<'a> Decode<'a>,
{
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == T::OID)
        .and_then(|e| T::from_der(e.extn_value.as_bytes()).ok())
}

/// A certificate K3s puts in its roots pool: no authority key id, or one
/// equal to its subject key id.
fn is_root(cert: &Certificate) -> bool {
    match authority_key_id(cert) {
        None => true,
        Some(aki) => Some(aki) == subject_key_id(cert),
    }
}

/// Whether `parent` can have issued `child`: names match, and key ids too
/// when both are present.
fn issued(parent: &Certificate, child: &Certificate) -> bool {
    if parent.tbs_certificate.subject != child.tbs_certificate.issuer {
        return false;
    }
    match (authority_key_id(child), subject_key_id(parent)) {
        (Some(aki), Some(ski)) => aki == ski,
        _ => true,
    }
}

/// The root that `first` chains to through `others`.
fn root_of<'a>(first: &'a Certificate, others: &'a [Certificate]) -> Option<&'a Certificate> {
    let mut current = first;
    for _ in 0..MAX_CHAIN_DEPTH {
        if let Some(root) = others.iter().find(|c| is_root(c) && issued(c, current)) {
            return Some(root);
        }
        current = others
            .iter()
            .find(|c| !is_root(c) && !std::ptr::eq(*c, current) && issued(c, current))?;
    }
    None
}

/// A K3s join token: the cluster CA's hash and a bootstrap token. Its
/// `Debug` hides the secret; its `Display` is the token itself, so format
/// it only into the answer to the agent.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    ca_hash: CaHash,
    bootstrap: BootstrapToken,
}

impl JoinToken {
    /// The join token for `bootstrap` on a cluster with this CA hash.
    pub fn new(ca_hash: CaHash, bootstrap: BootstrapToken) -> Self {
        Self { ca_hash, bootstrap }
    }

    /// The CA hash.
    pub fn ca_hash(&self) -> CaHash {
        self.ca_hash
    }

    /// The bootstrap token.
    pub fn bootstrap(&self) -> &BootstrapToken {
        &self.bootstrap
    }

    /// `K10<ca-hash>::<id>.<secret>`, wiped when dropped. Never log it.
    pub fn expose(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{TOKEN_PREFIX}{}::{}",
            self.ca_hash,
            self.bootstrap.bearer().as_str()
        ))
    }
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("ca_hash", &self.ca_hash.to_string())
            .field("bootstrap", &self.bootstrap)
            .finish()
    }
}

impl FromStr for JoinToken {
    type Err = JoinTokenError;

    /// Parses the secure format with a bootstrap token. K3s also accepts
    /// short tokens and `user:password` credentials; the master never
    /// issues those, so they are refused here.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let rest = s
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(JoinTokenError::MissingPrefix)?;
        let (hash, creds) = rest
            .split_once("::")
            .ok_or(JoinTokenError::MissingSeparator)?;
        Ok(Self {
            ca_hash: hash.parse()?,
            bootstrap: creds.parse()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed P-256 CA made with openssl; `sha256sum` of the file:
    const SERVER_CA: &str = include_str!("testdata/server-ca.pem");
    const SERVER_CA_FILE_SHA256: &str =
        "14583f61699b3400e165985068c3361cdc7cccb27875e982f93222d17a957a91";
    /// An intermediate CA followed by that root; `openssl x509 -outform der
    /// | sha256sum` of the root:
    const CHAIN: &str = include_str!("testdata/intermediate-and-root.pem");
    const ROOT_DER_SHA256: &str =
        "499ebd05245795be5e50c91967b48575a04836a12b494a0e56f89b4ad75dc4ad";

    #[test]
    fn single_certificate_hashes_the_file_bytes() {
        let hash = CaHash::of_bundle(SERVER_CA.as_bytes()).unwrap();
        assert_eq!(hash.to_string(), SERVER_CA_FILE_SHA256);
    }

    #[test]
    fn chain_hashes_the_root_der() {
        let hash = CaHash::of_bundle(CHAIN.as_bytes()).unwrap();
        assert_eq!(hash.to_string(), ROOT_DER_SHA256);
    }

    #[test]
    fn bundle_without_a_chain_hashes_the_bytes() {
        // Root first: nothing among the others issued it.
        let reversed = format!(
            "{SERVER_CA}{}",
            CHAIN.split_at(CHAIN.find(SERVER_CA).unwrap()).0
        );
        let hash = CaHash::of_bundle(reversed.as_bytes()).unwrap();
        let expected: [u8; 32] = Sha256::digest(reversed.as_bytes()).into();
        assert_eq!(hash, CaHash::new(expected));
    }

    #[test]
    fn bad_bundles_are_refused() {
        assert_eq!(CaHash::of_bundle(b""), Err(JoinTokenError::NoCertificate));
        assert_eq!(
            CaHash::of_bundle(b"not a certificate"),
            Err(JoinTokenError::NoCertificate)
        );
        let broken = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            CaHash::of_bundle(broken),
            Err(JoinTokenError::BadCertificate { index: 0, .. })
        ));
    }

    #[test]
    fn join_token_round_trips() {
        let ca_hash = CaHash::of_bundle(SERVER_CA.as_bytes()).unwrap();
        let bootstrap: BootstrapToken = "abcdef.0123456789abcdef".parse().unwrap();
        let token = JoinToken::new(ca_hash, bootstrap);
        let text = token.expose();
        assert_eq!(
            text.as_str(),
            format!("K10{SERVER_CA_FILE_SHA256}::abcdef.0123456789abcdef")
        );
        let parsed: JoinToken = text.parse().unwrap();
        assert_eq!(parsed, token);
        assert_eq!(parsed.bootstrap().id(), "abcdef");
    }

    #[test]
    fn debug_redacts_the_secret() {
        let bootstrap = BootstrapToken::generate();
        let token = JoinToken::new(CaHash::new([7; 32]), bootstrap.clone());
        for shown in [format!("{token:?}"), format!("{bootstrap:?}")] {
            assert!(!shown.contains(bootstrap.secret()), "{shown}");
            assert!(shown.contains(bootstrap.id()), "{shown}");
        }
    }

    #[test]
    fn generated_tokens_have_the_bootstrap_shape() {
        for _ in 0..100 {
            let token = BootstrapToken::generate();
            let reparsed: BootstrapToken = token.bearer().parse().unwrap();
            assert_eq!(reparsed, token);
        }
        assert_ne!(BootstrapToken::generate(), BootstrapToken::generate());
    }

    #[test]
    fn malformed_join_tokens_are_refused() {
        let hash = "a".repeat(64);
        let cases = [
            (
                "K11::abcdef.0123456789abcdef".to_owned(),
                JoinTokenError::MissingPrefix,
            ),
            (
                format!("K10{hash}abcdef.0123456789abcdef"),
                JoinTokenError::MissingSeparator,
            ),
            (
                "K10abc::abcdef.0123456789abcdef".to_owned(),
                JoinTokenError::BadCaHash,
            ),
            (
                format!("K10{}::abcdef.0123456789abcdef", "A".repeat(64)),
                JoinTokenError::BadCaHash,
            ),
            (
                format!("K10{hash}::abcdef.0123456789abcde"),
                JoinTokenError::BadBootstrapToken,
            ),
            (
                format!("K10{hash}::ABCDEF.0123456789abcdef"),
                JoinTokenError::BadBootstrapToken,
            ),
            (
                format!("K10{hash}::user:password"),
                JoinTokenError::BadBootstrapToken,
            ),
            (format!("K10{hash}::"), JoinTokenError::BadBootstrapToken),
        ];
        for (token, error) in cases {
            assert_eq!(token.parse::<JoinToken>(), Err(error), "{token}");
        }
    }
}
