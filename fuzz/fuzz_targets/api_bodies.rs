//! Fuzzes the JSON bodies of the master's node API (register-worker,
//! heartbeat) and of the agent's local API (staking, register, unstake),
//! through the same checks their handlers make: the node name, the seal
//! token id, the worker proof, the agent endpoint. The first byte picks the
//! body; nothing may panic.
#![no_main]

use std::str::FromStr as _;

use daas_core::access::NodeName;
use daas_core::access::worker_proof::WorkerProof;
use daas_core::api::agent::{NodeRequest, StakingRequest};
use daas_core::api::nodes::{HeartbeatRequest, RegisterWorkerRequest};
use daas_core::package::SealTokenId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 4 {
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
        _ => {
            if let Ok(request) = serde_json::from_slice::<NodeRequest>(body) {
                let _ = request.node_id.parse::<NodeName>();
            }
        }
    }
});
