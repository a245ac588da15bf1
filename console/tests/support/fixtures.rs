//! Data for screen tests and benchmarks: what the background loaders
//! would deliver, written out, so a frame's content depends on nothing
//! but these values.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use daas_console::config::{Overrides, Settings, parse};
use daas_console::ops::attest::MasterAttestation;
use daas_console::ops::audit::VerifiedEvent;
use daas_console::ops::gateway::{Recorded, Request};
use daas_console::ops::nodes::{NodeList, NodeRow, NodeState};
use daas_console::ops::slash::{Decided, Proposal};
use daas_console::ops::stake::{StakeStatus, TokenState, TokenView};
use daas_console::tui::app::App;
use daas_console::tui::data::{
    AuditCheck, ChainView, DataEvent, EventLine, MasterView, SlashView, WalletView,
};
use daas_core::api::access::Readiness;
use daas_core::api::audit::{AnchorRecord, AuditCheckpoint, AuditCheckpointList};
use daas_core::audit::AuditLeaf;
use daas_core::package::gateway::HttpMethod;
use daas_core::package::staking::PoolParams;
use daas_core::package::{Mist, Role, SealTokenId, Tier};
use daas_core::wallet::{BackendKind, Scheme, WalletEntry, WalletSummary};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use sui_sdk_types::{Address, Digest};

/// The frames' clock: 2026-12-04 06:00:00Z.
pub const NOW_MS: u64 = 1_796_364_000_000;

pub fn address(byte: u8) -> Address {
    Address::new([byte; 32])
}

pub fn token(byte: u8) -> SealTokenId {
    SealTokenId::new(address(byte))
}

/// A profile with a master and a devnet, read-only or not.
pub fn settings(readonly: bool) -> Settings {
    let text = format!(
        "default_profile = \"test\"\n[profiles.test]\nmaster = \"https://master.test:8443\"\nreadonly = {readonly}\n\
         [profiles.test.chain]\nprofile = \"devnet\"\nendpoint = \"http://chain.test:9000\"\n"
    );
    parse(
        Path::new("/home/op/.config/k3s-daas/console.toml"),
        &text,
        &Overrides::default(),
    )
    .unwrap()
}

/// An app over `settings`, without background tasks.
pub fn app(settings: Settings) -> App {
    daas_console::tui::app(
        daas_console::ops::Context::new(settings),
        Arc::new(tokio::sync::Notify::new()),
    )
    .unwrap()
    .0
}

/// Draws `app` at `width`×`height` and returns the screen as text.
pub fn render(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| app.draw(frame, NOW_MS)).unwrap();
    terminal.backend().to_string()
}

pub fn attestation(insecure: bool) -> MasterAttestation {
    let pcr = |b: u8| format!("{b:02x}").repeat(48);
    MasterAttestation {
        master: "https://master.test:8443".to_owned(),
        insecure_dev: insecure,
        tee_type: if insecure { "dev" } else { "nitro" }.to_owned(),
        security_level: if insecure { 0 } else { 3 },
        root: if insecure {
            "insecure-dev"
        } else {
            "aws-nitro-root-g1"
        },
        enclave_id: "i-0123456789abcdef0-enc0123456789abcd".to_owned(),
        timestamp_ms: NOW_MS - 95_000,
        verified_at_ms: NOW_MS - 94_000,
        pcrs_checked_against: "profile".to_owned(),
        pcrs: BTreeMap::from([(0, pcr(0xa0)), (1, pcr(0xa1)), (2, pcr(0xa2)), (8, pcr(0))]),
        expected_pcrs: BTreeMap::from([(0, pcr(0xa0)), (1, pcr(0xa1)), (2, pcr(0xff))]),
        signing_public_key: "5e".repeat(32),
        tls_spki_sha256: "7a".repeat(32),
        document: Vec::new(),
    }
}

pub fn nodes(count: usize) -> NodeList {
    let states = [
        NodeState::Ready,
        NodeState::Ready,
        NodeState::Ready,
        NodeState::Cordoned,
        NodeState::NotReady,
        NodeState::Stale,
    ];
    NodeList {
        nodes: (0..count)
            .map(|i| NodeRow {
                name: format!("worker-{i:05}"),
                state: states[i % states.len()],
                seal_token: Some(token(u8::try_from(i % 250).unwrap() + 1).to_string()),
                owner: Some(address(u8::try_from(i % 200).unwrap() + 1).to_string()),
                stake: Some(Mist::new(5_000_000_000 + (i as u64 % 7) * 500_000_000)),
                heartbeat_age_secs: Some(i as u64 % 40),
                cpu: Some((i % 100) as f64),
                memory: Some(((i * 7) % 100) as f64),
                pods: Some(u32::try_from(i % 30).unwrap()),
                ip: format!("10.0.{}.{}", i / 250, i % 250),
                in_master: true,
                in_cluster: true,
                unschedulable: i % 6 == 3,
            })
            .collect(),
        master_error: None,
        master_view: Some(daas_core::api::nodes::HealthView::Operator),
        cluster_error: None,
        public_because: None,
    }
}

pub fn stake_status() -> StakeStatus {
    let view = |byte, role, node: &str, stake, tier, state, expires| TokenView {
        seal_token: token(byte),
        role,
        node: node.to_owned(),
        stake: Mist::new(stake),
        tier,
        state,
        expires_at_ms: expires,
        slashed: Mist::new(0),
    };
    StakeStatus {
        owner: address(0x11),
        chain_time_ms: NOW_MS,
        tokens: vec![
            view(
                0x21,
                Role::User,
                "",
                2_000_000_000,
                Some(Tier::Developer),
                TokenState::Active,
                NOW_MS + 29 * 86_400_000,
            ),
            view(
                0x22,
                Role::Worker,
                "worker-00001",
                5_000_000_000,
                None,
                TokenState::Unbonding {
                    until_ms: NOW_MS + 3 * 86_400_000 + 3_600_000,
                },
                NOW_MS,
            ),
        ],
        params: PoolParams::default(),
    }
}

pub fn wallet() -> WalletView {
    WalletView {
        summary: Some(WalletSummary {
            backend: BackendKind::EncryptedFile,
            active: Some(address(0x11)),
            keys: vec![
                WalletEntry {
                    alias: "ops".to_owned(),
                    address: address(0x11),
                    scheme: Scheme::Ed25519,
                },
                WalletEntry {
                    alias: "slasher".to_owned(),
                    address: address(0x12),
                    scheme: Scheme::Secp256k1,
                },
            ],
        }),
        balances: BTreeMap::from([
            (address(0x11), Mist::new(97_500_000_000)),
            (address(0x12), Mist::new(0)),
        ]),
        current: Some(address(0x11)),
    }
}

pub fn slash() -> SlashView {
    SlashView {
        pending: vec![Proposal {
            id: 3,
            seal_token: token(0x31),
            reporter: address(0x41),
            reason: "double-signed heartbeats".to_owned(),
            evidence_hash: "e1".repeat(32),
            created_at_ms: NOW_MS - 600_000,
            owner: Some(address(0x51)),
            node: "worker-00007".to_owned(),
            stake: Some(Mist::new(5_000_000_000)),
            amount: Some(Mist::new(500_000_000)),
        }],
        history: vec![Decided {
            id: 1,
            seal_token: token(0x32),
            outcome: "approved",
            by: address(0x12),
            slashed: Some(Mist::new(1_000_000_000)),
            reason: "offline for a day".to_owned(),
            digest: Digest::new([7; 32]),
        }],
        is_slasher: true,
    }
}

/// Two gateway requests: one executed, one pending.
pub fn gateway() -> Vec<Request> {
    let request = |byte: u8, method, path: &str, namespace: &str| Request {
        id: address(byte),
        sender: address(0x11),
        seal_token: token(0x21),
        tier: Some(Tier::Developer),
        method,
        path: path.to_owned(),
        namespace: namespace.to_owned(),
        resource_type: "configmaps".to_owned(),
        payload_hash: "ab".repeat(32),
        submitted_at_ms: NOW_MS - 120_000,
        result: None,
    };
    vec![
        Request {
            result: Some(Recorded {
                status_code: 201,
                result_hash: "cd".repeat(32),
                enclave: address(0xe1),
                recorded_at_ms: NOW_MS - 110_000,
            }),
            ..request(
                0x71,
                HttpMethod::Post,
                "/api/v1/namespaces/daas-u-1111111111111111/configmaps",
                "daas-u-1111111111111111",
            )
        },
        request(
            0x72,
            HttpMethod::Delete,
            "/api/v1/namespaces/default/configmaps/old",
            "default",
        ),
    ]
}

/// Three signed checkpoints, the last one not anchored yet.
pub fn audit_checkpoints() -> AuditCheckpointList {
    let checkpoint = |size: u64, anchored: bool| AuditCheckpoint {
        tree_size: size,
        root: format!("{:02x}", size % 256).repeat(32),
        timestamp_ms: NOW_MS - 60_000 + size,
        note: String::new(),
        signature: String::new(),
        anchor: anchored.then(|| AnchorRecord {
            log_id: address(0xa2).to_string(),
            enclave_id: address(0xe0).to_string(),
            tx_digest: Digest::new([size as u8; 32]).to_string(),
        }),
    };
    AuditCheckpointList {
        origin: format!("k3s-daas.audit/{}", address(0xa2)),
        stored: 1204,
        checkpoints: vec![
            checkpoint(400, true),
            checkpoint(1000, true),
            checkpoint(1200, false),
        ],
    }
}

/// A verified audit event.
pub fn audit_verified() -> AuditCheck {
    AuditCheck::Verified(Box::new(VerifiedEvent {
        event: AuditLeaf {
            version: 1,
            audit_id: "4f8c6a1e-1111-2222-3333-444455556666".to_owned(),
            stage: "ResponseComplete".to_owned(),
            stage_timestamp: "2026-12-04T05:59:00.000000Z".to_owned(),
            user: "sui:0x1111".to_owned(),
            groups: vec!["daas:developer".to_owned()],
            impersonated_user: String::new(),
            verb: "create".to_owned(),
            api_group: String::new(),
            resource: "configmaps".to_owned(),
            subresource: String::new(),
            namespace: "dev-1111".to_owned(),
            name: "settings".to_owned(),
            request_uri: "/api/v1/namespaces/dev-1111/configmaps".to_owned(),
            response_code: 201,
        },
        leaf_index: 977,
        tree_size: 1000,
        root: "e8".repeat(32),
        log_id: address(0xa2),
        enclave_id: address(0xe0),
        enclave_public_key: "ea".repeat(32),
        anchored_at_ms: NOW_MS - 30_000,
        tx_digest: Digest::new([9; 32]).to_string(),
    }))
}

/// Everything answered, with `node_count` nodes.
pub fn full(node_count: usize, insecure: bool) -> Vec<DataEvent> {
    vec![
        DataEvent::Attestation(Ok(attestation(insecure))),
        DataEvent::Master(Ok(MasterView {
            version: "0.1.0".to_owned(),
            readiness: Readiness {
                status: "ready".to_owned(),
                checks: BTreeMap::from([
                    ("api_server".to_owned(), "ok".to_owned()),
                    ("chain".to_owned(), "ok".to_owned()),
                    ("events".to_owned(), "ok".to_owned()),
                ]),
            },
        })),
        DataEvent::Chain(Ok(ChainView {
            endpoint: "http://chain.test:9000".to_owned(),
            chain_id: "devnet".to_owned(),
            checkpoint: 4242,
            clock_ms: NOW_MS,
        })),
        DataEvent::Wallet(Ok(wallet())),
        DataEvent::Stake(Ok(stake_status())),
        DataEvent::Nodes(Ok(nodes(node_count))),
        DataEvent::Slash(Ok(slash())),
        DataEvent::Gateway(Ok(gateway())),
        DataEvent::Events(Ok(vec![
            EventLine {
                checkpoint: 4240,
                text: "stake 2 SUI developer by 0x1111…1111".to_owned(),
            },
            EventLine {
                checkpoint: 4241,
                text: "slash #3 proposed: double-signed heartbeats".to_owned(),
            },
        ])),
        DataEvent::Audit(Ok(audit_checkpoints())),
        DataEvent::AuditCheck(audit_verified()),
    ]
}

/// Everything answered, nothing in it.
pub fn empty() -> Vec<DataEvent> {
    vec![
        DataEvent::Attestation(Ok(attestation(false))),
        DataEvent::Chain(Ok(ChainView {
            endpoint: "http://chain.test:9000".to_owned(),
            chain_id: "devnet".to_owned(),
            checkpoint: 0,
            clock_ms: NOW_MS,
        })),
        DataEvent::Wallet(Ok(WalletView::default())),
        DataEvent::Stake(Ok(StakeStatus {
            tokens: Vec::new(),
            ..stake_status()
        })),
        DataEvent::Nodes(Ok(NodeList::default())),
        DataEvent::Slash(Ok(SlashView::default())),
        DataEvent::Gateway(Ok(Vec::new())),
        DataEvent::Events(Ok(Vec::new())),
        DataEvent::Audit(Ok(AuditCheckpointList {
            origin: format!("k3s-daas.audit/{}", address(0xa2)),
            stored: 0,
            checkpoints: Vec::new(),
        })),
    ]
}

/// Every source failed.
pub fn errors() -> Vec<DataEvent> {
    fn down<T>(what: &str) -> Result<T, String> {
        Err(format!(
            "{what}: request failed: tcp connect error: Connection refused"
        ))
    }
    vec![
        DataEvent::Attestation(down("master")),
        DataEvent::Master(Err(
            "not attested: no request is sent to an unattested master".to_owned(),
        )),
        DataEvent::Chain(down("chain")),
        DataEvent::Wallet(Ok(WalletView::default())),
        DataEvent::Stake(down("chain")),
        DataEvent::Nodes(down("master")),
        DataEvent::Slash(down("chain")),
        DataEvent::Gateway(down("chain")),
        DataEvent::Events(down("chain")),
        DataEvent::Audit(down("master")),
        DataEvent::AuditCheck(AuditCheck::Failed {
            audit_id: "4f8c6a1e-1111-2222-3333-444455556666".to_owned(),
            error: "audit verification FAILED: inclusion proof: the proof does not lead to the \
                    expected root hash"
                .to_owned(),
        }),
    ]
}
