//! Fuzzes the bearer credentials a client sends: the wallet access token
//! (`daas1.`), the worker proof (`daasw1.`), the owner's agent request
//! (`daasa1.`) and the opaque seal token (64 hex digits). The first byte
//! picks the parser; every parse and verification must return, never panic.
#![no_main]

use std::time::Duration;

use daas_core::access::agent_request::AgentRequest;
use daas_core::access::worker_proof::WorkerProof;
use daas_core::access::{AccessToken, OpaqueToken};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_750_000_000;
const SKEW: Duration = Duration::from_secs(30);
const MAX_AGE: Duration = Duration::from_secs(60);

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match selector % 4 {
        0 => {
            if let Ok(token) = AccessToken::parse(text) {
                let _ = token.verify("k3s-daas", NOW, SKEW);
            }
        }
        1 => {
            if let Ok(proof) = WorkerProof::parse(text) {
                let _ = proof.verify("k3s-daas", NOW, MAX_AGE, SKEW);
            }
        }
        2 => {
            if let Ok(request) = AgentRequest::parse(text) {
                let _ = request.verify(&[7; 32], NOW, MAX_AGE, SKEW);
            }
        }
        _ => {
            let _ = OpaqueToken::parse(text);
        }
    }
});
