//! The access token: format, round trip, and every rejection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use daas_core::access::token::{DOMAIN, MAX_TOKEN_LEN, PREFIX, signing_bytes};
use daas_core::access::{AccessToken, Claims, EnvelopeError, MAX_LIFETIME_SECS, TokenError};
use daas_core::package::SealTokenId;
use daas_core::wallet::{Keypair, Scheme, SerializedSignature};
use sui_sdk_types::Address;

const AUDIENCE: &str = "https://k3s.example:6443";
const NOW: u64 = 1_800_000_000;
const SKEW: Duration = Duration::from_secs(30);

fn seal() -> SealTokenId {
    SealTokenId::new(Address::new([0x5e; 32]))
}

fn claims_for(key: &Keypair, lifetime: u64) -> Claims {
    Claims::new(
        seal(),
        key.address(),
        AUDIENCE,
        NOW,
        Duration::from_secs(lifetime),
    )
    .unwrap()
}

fn token(key: &Keypair) -> AccessToken {
    AccessToken::sign(key, &claims_for(key, 600)).unwrap()
}

/// Splits a wire token into its decoded payload and signature bytes.
fn parts(token: &str) -> (Vec<u8>, Vec<u8>) {
    let rest = token.strip_prefix(PREFIX).unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    (
        B64URL.decode(payload).unwrap(),
        B64URL.decode(signature).unwrap(),
    )
}

fn assemble(payload: &[u8], signature: &[u8]) -> String {
    format!(
        "{PREFIX}{}.{}",
        B64URL.encode(payload),
        B64URL.encode(signature)
    )
}

/// Signs arbitrary claims, bypassing the signing-side checks, as an
/// attacker or a buggy client could.
fn sign_raw(key: &Keypair, claims: &Claims) -> String {
    let payload = signing_bytes(claims).unwrap();
    let signature = key.sign_personal_message(&payload).unwrap();
    assemble(&payload, signature.as_bytes())
}

#[test]
fn round_trip_every_scheme() {
    for scheme in Scheme::ALL {
        let key = Keypair::generate(scheme);
        let claims = claims_for(&key, 600);
        let token = AccessToken::sign(&key, &claims).unwrap();
        assert!(token.as_str().starts_with("daas1."));
        let parsed = AccessToken::parse(token.as_str()).unwrap();
        assert_eq!(parsed.unverified_claims(), &claims);
        let verified = parsed.verify(AUDIENCE, NOW + 10, SKEW).unwrap();
        assert_eq!(verified.claims(), &claims);
        assert_eq!(verified.signer(), key.address());
        assert_eq!(verified.seal_token(), seal());
        assert_eq!(verified.expires_at(), NOW + 600);
    }
}

#[test]
fn wire_form_is_a_valid_bearer_token() {
    // RFC 6750 b64token: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then "="*.
    let key = Keypair::generate(Scheme::Ed25519);
    let token = token(&key);
    assert!(
        token
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)),
        "{}",
        token.as_str()
    );
    assert_eq!(token.as_str().matches('.').count(), 2);
    assert!(token.as_str().len() < 400, "{}", token.as_str().len());
    // Debug never prints the credential.
    assert_eq!(format!("{token:?}"), "AccessToken(..)");
}

#[test]
fn payload_layout_is_the_documented_bcs() {
    let key = Keypair::generate(Scheme::Ed25519);
    let claims = claims_for(&key, 600);
    let (payload, signature) = parts(AccessToken::sign(&key, &claims).unwrap().as_str());
    let mut expected = vec![u8::try_from(DOMAIN.len()).unwrap()];
    expected.extend(DOMAIN.as_bytes());
    expected.push(1); // version
    expected.extend(seal().address().as_bytes());
    expected.extend(key.address().as_bytes());
    expected.push(u8::try_from(AUDIENCE.len()).unwrap());
    expected.extend(AUDIENCE.as_bytes());
    expected.extend(NOW.to_le_bytes());
    expected.extend((NOW + 600).to_le_bytes());
    expected.extend(claims.nonce);
    assert_eq!(payload, expected);
    // The signature is an ordinary Sui personal-message signature.
    let signature = SerializedSignature::from_bytes(&signature).unwrap();
    assert_eq!(
        signature.verify_personal_message(&payload).unwrap(),
        key.address()
    );
}

#[test]
fn nonces_differ() {
    let key = Keypair::generate(Scheme::Ed25519);
    assert_ne!(claims_for(&key, 600).nonce, claims_for(&key, 600).nonce);
    assert_ne!(token(&key), token(&key));
}

#[test]
fn signed_by_another_key_is_refused() {
    let owner = Keypair::generate(Scheme::Ed25519);
    let other = Keypair::generate(Scheme::Secp256k1);
    // The signing API refuses to sign for someone else...
    let err = AccessToken::sign(&other, &claims_for(&owner, 600)).unwrap_err();
    assert!(
        matches!(
            err,
            TokenError::Envelope(EnvelopeError::SignerIsNotOwner { .. })
        ),
        "{err}"
    );
    let err = AccessToken::sign_with(&claims_for(&owner, 600), |m| other.sign_personal_message(m))
        .unwrap_err();
    assert!(
        matches!(
            err,
            TokenError::Envelope(EnvelopeError::SignerIsNotOwner { .. })
        ),
        "{err}"
    );
    // ...and the verifier refuses a token claiming `owner` signed by `other`.
    let forged = sign_raw(&other, &claims_for(&owner, 600));
    let err = AccessToken::parse(&forged)
        .unwrap()
        .verify(AUDIENCE, NOW, SKEW)
        .unwrap_err();
    match err {
        TokenError::Envelope(EnvelopeError::SignerIsNotOwner { signer, owner: o }) => {
            assert_eq!(signer, other.address());
            assert_eq!(o, owner.address());
        }
        other => panic!("expected SignerIsNotOwner, got {other}"),
    }
}

#[test]
fn signature_of_another_payload_is_refused() {
    let key = Keypair::generate(Scheme::Ed25519);
    let (payload_a, _) = parts(token(&key).as_str());
    let (_, signature_b) = parts(token(&key).as_str());
    let spliced = assemble(&payload_a, &signature_b);
    let err = AccessToken::parse(&spliced)
        .unwrap()
        .verify(AUDIENCE, NOW, SKEW)
        .unwrap_err();
    assert!(
        matches!(
            err,
            TokenError::Envelope(EnvelopeError::InvalidSignature(_))
        ),
        "{err}"
    );
}

#[test]
fn expired_is_refused_with_both_times() {
    let key = Keypair::generate(Scheme::Ed25519);
    let parsed = AccessToken::parse(token(&key).as_str()).unwrap();
    // Within the skew after expiry: still fine.
    parsed.verify(AUDIENCE, NOW + 600 + 29, SKEW).unwrap();
    let err = parsed.verify(AUDIENCE, NOW + 600 + 30, SKEW).unwrap_err();
    match err {
        TokenError::Expired { expired_at, now } => {
            assert_eq!(expired_at, NOW + 600);
            assert_eq!(now, NOW + 630);
        }
        other => panic!("expected Expired, got {other}"),
    }
    let err = parsed
        .verify(AUDIENCE, NOW + 600, Duration::ZERO)
        .unwrap_err();
    assert!(matches!(err, TokenError::Expired { .. }), "{err}");
}

#[test]
fn issued_in_the_future_is_refused() {
    let key = Keypair::generate(Scheme::Ed25519);
    let parsed = AccessToken::parse(token(&key).as_str()).unwrap();
    parsed.verify(AUDIENCE, NOW - 30, SKEW).unwrap();
    let err = parsed.verify(AUDIENCE, NOW - 31, SKEW).unwrap_err();
    assert!(
        matches!(err, TokenError::Envelope(EnvelopeError::IssuedInFuture { issued_at, now }) if issued_at == NOW && now == NOW - 31),
        "{err}"
    );
}

#[test]
fn other_audience_is_refused() {
    let key = Keypair::generate(Scheme::Ed25519);
    let parsed = AccessToken::parse(token(&key).as_str()).unwrap();
    let err = parsed
        .verify("https://other.example:6443", NOW, SKEW)
        .unwrap_err();
    match err {
        TokenError::WrongAudience { expected, got } => {
            assert_eq!(expected, "https://other.example:6443");
            assert_eq!(got, AUDIENCE);
        }
        other => panic!("expected WrongAudience, got {other}"),
    }
}

#[test]
fn lifetime_longer_than_fifteen_minutes_is_refused() {
    let key = Keypair::generate(Scheme::Ed25519);
    let err = Claims::new(
        seal(),
        key.address(),
        AUDIENCE,
        NOW,
        Duration::from_secs(MAX_LIFETIME_SECS + 1),
    )
    .unwrap_err();
    assert!(matches!(err, TokenError::LifetimeTooLong { .. }), "{err}");
    // Exactly 15 minutes is fine.
    let ok = claims_for(&key, MAX_LIFETIME_SECS);
    let parsed = AccessToken::parse(AccessToken::sign(&key, &ok).unwrap().as_str()).unwrap();
    parsed.verify(AUDIENCE, NOW, SKEW).unwrap();
    // A validly signed token with a longer lifetime is refused by the verifier.
    let mut long = claims_for(&key, 600);
    long.expires_at = NOW + 3600;
    let err = AccessToken::parse(&sign_raw(&key, &long))
        .unwrap()
        .verify(AUDIENCE, NOW, SKEW)
        .unwrap_err();
    assert!(
        matches!(
            err,
            TokenError::LifetimeTooLong {
                lifetime: 3600,
                max: 900
            }
        ),
        "{err}"
    );
    // And one expiring before it is issued.
    let mut backwards = claims_for(&key, 600);
    backwards.expires_at = NOW - 1;
    let err = AccessToken::parse(&sign_raw(&key, &backwards))
        .unwrap()
        .verify(AUDIENCE, NOW, SKEW)
        .unwrap_err();
    assert!(
        matches!(err, TokenError::NonPositiveLifetime { .. }),
        "{err}"
    );
}

#[test]
fn bad_audiences_cannot_be_signed() {
    let key = Keypair::generate(Scheme::Ed25519);
    for audience in [String::new(), "a\nb".to_owned(), "x".repeat(513)] {
        let err = Claims::new(
            seal(),
            key.address(),
            audience,
            NOW,
            Duration::from_secs(60),
        )
        .unwrap_err();
        assert!(matches!(err, TokenError::InvalidAudience(_)), "{err}");
    }
}

#[test]
fn tampered_payload_is_refused() {
    let key = Keypair::generate(Scheme::Ed25519);
    let (payload, signature) = parts(token(&key).as_str());
    // Flip one byte in every field after the header: the token still
    // parses (or fails on its format) but never verifies.
    let header = 1 + DOMAIN.len() + 1;
    for i in header..payload.len() {
        let mut tampered = payload.clone();
        tampered[i] ^= 0x01;
        let wire = assemble(&tampered, &signature);
        let result = AccessToken::parse(&wire).and_then(|t| t.verify(AUDIENCE, NOW, SKEW));
        assert!(result.is_err(), "tampered byte {i} verified");
    }
    // Moving the expiry later specifically: a signature error.
    let mut later = payload.clone();
    let expires = payload.len() - 16 - 8;
    later[expires] = later[expires].wrapping_add(60);
    let err = AccessToken::parse(&assemble(&later, &signature))
        .unwrap()
        .verify(AUDIENCE, NOW, SKEW)
        .unwrap_err();
    assert!(
        matches!(
            err,
            TokenError::Envelope(EnvelopeError::InvalidSignature(_))
        ),
        "{err}"
    );
    // Tampered signature bytes.
    let mut bad_signature = signature.clone();
    bad_signature[5] ^= 0x80;
    let err = AccessToken::parse(&assemble(&payload, &bad_signature))
        .unwrap()
        .verify(AUDIENCE, NOW, SKEW)
        .unwrap_err();
    assert!(
        matches!(
            err,
            TokenError::Envelope(EnvelopeError::InvalidSignature(_))
        ),
        "{err}"
    );
}

#[test]
fn wrong_domain_and_version_are_named() {
    let key = Keypair::generate(Scheme::Ed25519);
    let (payload, signature) = parts(token(&key).as_str());
    let mut other_domain = payload.clone();
    other_domain[1] = b'K';
    let err = AccessToken::parse(&assemble(&other_domain, &signature)).unwrap_err();
    assert!(
        matches!(err, TokenError::Envelope(EnvelopeError::WrongDomain)),
        "{err}"
    );
    let mut v2 = payload.clone();
    v2[1 + DOMAIN.len()] = 2;
    let err = AccessToken::parse(&assemble(&v2, &signature)).unwrap_err();
    assert!(
        matches!(
            err,
            TokenError::Envelope(EnvelopeError::UnsupportedVersion { got: 2, .. })
        ),
        "{err}"
    );
    // A plain personal message signature over something else.
    let message = b"hello k3s-daas";
    let sig = key.sign_personal_message(message).unwrap();
    let err = AccessToken::parse(&assemble(message, sig.as_bytes())).unwrap_err();
    assert!(
        matches!(err, TokenError::Envelope(EnvelopeError::WrongDomain)),
        "{err}"
    );
}

#[test]
fn truncated_tokens_are_refused() {
    let key = Keypair::generate(Scheme::Ed25519);
    let wire = token(&key).into_string();
    for cut in 0..wire.len() {
        let result = AccessToken::parse(&wire[..cut]).and_then(|t| t.verify(AUDIENCE, NOW, SKEW));
        assert!(result.is_err(), "token cut at {cut} verified");
    }
    let (payload, signature) = parts(&wire);
    let err = AccessToken::parse(&assemble(&payload[..payload.len() - 1], &signature)).unwrap_err();
    assert!(
        matches!(err, TokenError::Envelope(EnvelopeError::Malformed(_))),
        "{err}"
    );
    let err =
        AccessToken::parse(&assemble(&payload, &signature[..signature.len() - 1])).unwrap_err();
    assert!(
        matches!(
            err,
            TokenError::Envelope(EnvelopeError::InvalidSignature(_))
        ),
        "{err}"
    );
    let mut longer = payload.clone();
    longer.push(0);
    let err = AccessToken::parse(&assemble(&longer, &signature)).unwrap_err();
    assert!(
        matches!(err, TokenError::Envelope(EnvelopeError::Malformed(_))),
        "{err}"
    );
}

#[test]
fn garbage_is_malformed() {
    let key = Keypair::generate(Scheme::Ed25519);
    let wire = token(&key).into_string();
    let cases = [
        String::new(),
        "daas1".to_owned(),
        "daas1.".to_owned(),
        "daas1..".to_owned(),
        "Bearer abc".to_owned(),
        "eyJhbGciOiJIUzI1NiJ9.e30.sig".to_owned(),
        "daas2.".to_owned() + &wire[PREFIX.len()..],
        format!("{wire}.extra"),
        wire.replacen('.', "!", 2),
        format!("{wire}="),
        "daas1.%%%%.AAAA".to_owned(),
        format!("daas1.{}", "A".repeat(MAX_TOKEN_LEN)),
        "daas1.ÿÿ.ÿÿ".to_owned(),
    ];
    for case in cases {
        let err = AccessToken::parse(&case).unwrap_err();
        assert!(
            matches!(
                err,
                TokenError::Envelope(EnvelopeError::Malformed(_))
                    | TokenError::Envelope(EnvelopeError::InvalidSignature(_))
            ),
            "{case:?}: {err}"
        );
        // Errors name the problem and never echo the token.
        let message = err.to_string();
        assert!(!message.is_empty());
        if case.len() > 20 {
            assert!(!message.contains(&case), "{message}");
        }
    }
}
