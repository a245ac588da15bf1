//! Fuzzes the JSON bodies of the master's node API (register-worker,
//! heartbeat) and of the agent's local API (staking, register, unstake),
//! through the same checks their handlers make: the node name, the seal
//! token id, the worker proof, the agent endpoint; and the on-chain
//! gateway requests anyone can submit (`path NUL payload`), through what
//! the master makes of them before sending and after a restart. The first
//! byte picks the body; nothing may panic.
#![no_main]

use std::str::FromStr as _;

use daas_core::access::NodeName;
use daas_core::access::worker_proof::WorkerProof;
use daas_core::api::agent::{NodeRequest, StakingRequest};
use daas_core::api::nodes::{HeartbeatRequest, RegisterWorkerRequest};
use daas_core::package::{PACKAGE_ID, SealTokenId};
use daas_core::package::gateway::{HttpMethod, api_target};
use daas_master::gateway::request::{applied, outgoing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => {
            if let Ok(request) = serde_json::from_slice::<RegisterWorkerRequest>(body) {
                let _ = request.node_id.parse::<NodeName>();
                let _ = SealTokenId::from_str(&request.seal_token);
                let _ = WorkerProof::parse(&request.proof);
                if let Some(endpoint) = &request.agent_api {
                    let _ = endpoint.check();
                }
            }
        }
        1 => {
            if let Ok(request) = serde_json::from_slice::<HeartbeatRequest>(body) {
                let _ = request.node_id.parse::<NodeName>();
                let _ = WorkerProof::parse(&request.proof);
                if let Some(endpoint) = &request.agent_api {
                    let _ = endpoint.check();
                }
            }
        }
        2 => {
            if let Ok(request) = serde_json::from_slice::<StakingRequest>(body) {
                let _ = request.node_id.parse::<NodeName>();
                let _ = request.stake_amount.parse::<u64>();
            }
        }
        3 => {
            if let Ok(request) = serde_json::from_slice::<NodeRequest>(body) {
                let _ = request.node_id.parse::<NodeName>();
            }
        }
        _ => gateway_request(selector / 5, body),
    }
});

/// A gateway request `path NUL payload` with the method `pick` names, as
/// the master checks and marks it, and reads an object back (the request
/// id is any address).
fn gateway_request(pick: u8, body: &[u8]) {
    const METHODS: [HttpMethod; 5] = [
        HttpMethod::Get,
        HttpMethod::Post,
        HttpMethod::Put,
        HttpMethod::Patch,
        HttpMethod::Delete,
    ];
    let method = METHODS[usize::from(pick) % METHODS.len()];
    let mut parts = body.splitn(2, |&b| b == 0);
    let path = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let payload = parts.next().unwrap_or_default();
    let namespace = api_target(&path).map_or("", |target| target.namespace);
    let _ = outgoing(PACKAGE_ID, method, &path, namespace, payload);
    let _ = applied(method, PACKAGE_ID, 200, payload);
}
