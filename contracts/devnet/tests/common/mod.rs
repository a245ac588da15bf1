//! Shared harness of the devnet's integration tests: a devnet on a loopback
//! port in a temporary directory, a real `sui-rpc` client, keys from
//! `sui-crypto` and transactions from `sui-transaction-builder`.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::Path;

use daas_core::attestation::{DevRoot, Pcr, UnsignedDocument};
use daas_core::package::{PACKAGE_ID, PackageEvent};
use daas_devnet::{DEFAULT_FAUCET_AMOUNT, DevnetConfig, RunningDevnet};
use sui_crypto::SuiSigner;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::{
    Address, Object, Transaction, TransactionEffects, TransactionEvents, UserSignature,
};
use sui_sdk_types::{ExecutionError, ExecutionStatus, Identifier};
use sui_transaction_builder::{Function, ObjectInput, TransactionBuilder};

/// A devnet with a client.
pub struct Net {
    pub devnet: RunningDevnet,
    pub client: sui_rpc::Client,
    pub dir: tempfile::TempDir,
}

pub async fn start_in(dir: &Path) -> RunningDevnet {
    start_with_root(dir, None, false).await
}

pub async fn start_with_root(
    dir: &Path,
    root: Option<DevRoot>,
    allow_debug: bool,
) -> RunningDevnet {
    daas_devnet::start(DevnetConfig {
        data_dir: dir.to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: None,
        slasher: None,
        faucet_amount: DEFAULT_FAUCET_AMOUNT,
        insecure_dev_attestation_root: root,
        allow_debug_attestation: allow_debug,
        event_index: true,
    })
    .await
    .unwrap()
}

pub async fn start() -> Net {
    start_net(None, false).await
}

/// A devnet trusting the dev root `root` (if any) for attestation.
pub async fn start_net(root: Option<DevRoot>, allow_debug: bool) -> Net {
    let dir = tempfile::tempdir().unwrap();
    let devnet = start_with_root(dir.path(), root, allow_debug).await;
    let client = sui_rpc::Client::new(devnet.url()).unwrap();
    Net {
        devnet,
        client,
        dir,
    }
}

pub fn key(seed: u8) -> Ed25519PrivateKey {
    Ed25519PrivateKey::new([seed; 32])
}

pub fn address_of(key: &Ed25519PrivateKey) -> Address {
    key.public_key().derive_address()
}

impl Net {
    /// Funds `address` through the HTTP faucet and returns the new coin.
    pub async fn fund(&mut self, address: Address) -> Object {
        let faucet = sui_rpc::faucet::FaucetClient::new(self.devnet.url()).unwrap();
        let coins = faucet.request(address).await.unwrap();
        assert_eq!(coins.len(), 1);
        assert_eq!(coins[0].amount, DEFAULT_FAUCET_AMOUNT);
        self.object(coins[0].id).await
    }

    pub async fn object(&mut self, id: Address) -> Object {
        let mut request = proto::GetObjectRequest::default();
        request.object_id = Some(id.to_string());
        let response = self
            .client
            .ledger_client()
            .get_object(request)
            .await
            .unwrap()
            .into_inner();
        Object::try_from(response.object.as_ref().unwrap()).unwrap()
    }

    pub async fn try_object(&mut self, id: Address) -> Result<Object, tonic::Status> {
        let mut request = proto::GetObjectRequest::default();
        request.object_id = Some(id.to_string());
        let response = self
            .client
            .ledger_client()
            .get_object(request)
            .await?
            .into_inner();
        Ok(Object::try_from(response.object.as_ref().unwrap()).unwrap())
    }

    pub async fn balance(&mut self, owner: Address) -> u64 {
        let mut request = proto::GetBalanceRequest::default();
        request.owner = Some(owner.to_string());
        let response = self
            .client
            .state_client()
            .get_balance(request)
            .await
            .unwrap()
            .into_inner();
        response.balance.unwrap().balance.unwrap()
    }

    pub async fn execute_signed(
        &mut self,
        transaction: &Transaction,
        signatures: Vec<UserSignature>,
    ) -> Result<Executed, tonic::Status> {
        let mut request = proto::ExecuteTransactionRequest::default();
        request.transaction = Some(transaction.clone().into());
        request.signatures = signatures.into_iter().map(Into::into).collect();
        let response = self
            .client
            .execution_client()
            .execute_transaction(request)
            .await?
            .into_inner();
        Ok(Executed::from_proto(response.transaction.unwrap()))
    }

    pub async fn execute(
        &mut self,
        transaction: &Transaction,
        key: &Ed25519PrivateKey,
    ) -> Result<Executed, tonic::Status> {
        let signature = key.sign_transaction(transaction).unwrap();
        self.execute_signed(transaction, vec![signature]).await
    }
}

/// An executed transaction decoded from the gRPC answer.
#[derive(Debug)]
pub struct Executed {
    pub digest: String,
    pub effects: TransactionEffects,
    pub events: Option<TransactionEvents>,
    pub checkpoint: Option<u64>,
}

impl Executed {
    pub fn from_proto(executed: proto::ExecutedTransaction) -> Self {
        let effects = TransactionEffects::try_from(executed.effects.as_ref().unwrap()).unwrap();
        let events = executed
            .events
            .as_ref()
            .filter(|e| !e.events.is_empty())
            .map(|e| TransactionEvents::try_from(e).unwrap());
        Self {
            digest: executed.digest.unwrap(),
            effects,
            events,
            checkpoint: executed.checkpoint,
        }
    }

    pub fn v2(&self) -> &sui_sdk_types::TransactionEffectsV2 {
        match &self.effects {
            TransactionEffects::V2(v2) => v2,
            TransactionEffects::V1(_) => panic!("devnet effects are V2"),
        }
    }

    pub fn assert_success(&self) {
        assert_eq!(
            self.effects.status(),
            &sui_sdk_types::ExecutionStatus::Success,
            "{:?}",
            self.effects
        );
    }
}

/// A builder with sender, gas coin, the reference gas price and `budget`.
pub fn builder(sender: Address, gas: &Object, budget: u64) -> TransactionBuilder {
    let mut tx = TransactionBuilder::new();
    tx.set_sender(sender);
    tx.set_gas_budget(budget);
    tx.set_gas_price(1000);
    tx.add_gas_objects([ObjectInput::from(gas)]);
    tx
}

pub const BUDGET: u64 = 50_000_000;

/// The balance of a SUI coin object.
pub fn coin_balance(object: &Object) -> u64 {
    sui_sdk_types::framework::Coin::try_from_object(object)
        .unwrap()
        .balance()
}

/// The package's shared objects and the clock as transaction inputs.
pub mod inputs {
    use sui_transaction_builder::ObjectInput;

    pub fn pool(mutable: bool) -> ObjectInput {
        ObjectInput::shared(daas_core::package::STAKE_POOL_ID, 1, mutable)
    }

    pub fn clock() -> ObjectInput {
        ObjectInput::shared(sui_sdk_types::Address::from_static("0x6"), 1, false)
    }
}

/// An account with a gas coin.
pub struct Account {
    pub key: Ed25519PrivateKey,
    pub address: Address,
    pub gas: Address,
}

impl Net {
    /// A funded account.
    pub async fn account(&mut self, key: Ed25519PrivateKey) -> Account {
        let address = address_of(&key);
        let gas = self.fund(address).await.object_id();
        Account { key, address, gas }
    }

    /// Builds a transaction for `account` with `build`, signs and executes it.
    pub async fn call(
        &mut self,
        account: &Account,
        build: impl FnOnce(&mut TransactionBuilder),
    ) -> Result<Executed, tonic::Status> {
        let gas = self.object(account.gas).await;
        let mut tx = builder(account.address, &gas, BUDGET);
        build(&mut tx);
        let tx = tx.try_build().unwrap();
        self.execute(&tx, &account.key).await
    }
}

/// A development attestation authority: a self-signed P-384 root CA and a
/// leaf under it whose key signs Nitro-format documents.
pub struct DevAuthority {
    pub root: DevRoot,
    pub root_pem: String,
    root_der: Vec<u8>,
    leaf_der: Vec<u8>,
    leaf_key: p384::ecdsa::SigningKey,
}

/// Distinct, non-zero PCR values: `pcr(seed)`.
pub fn pcr(seed: u8) -> Vec<u8> {
    vec![seed; 48]
}

impl DevAuthority {
    pub fn new(name: &str) -> Self {
        Self::with_leaf_validity(name, false)
    }

    /// An authority whose leaf certificate expired on 2021-01-01.
    pub fn expired(name: &str) -> Self {
        Self::with_leaf_validity(name, true)
    }

    fn with_leaf_validity(name: &str, expired: bool) -> Self {
        use p384::pkcs8::DecodePrivateKey as _;
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
            PKCS_ECDSA_P384_SHA384,
        };
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let mut root_params = CertificateParams::default();
        root_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} dev root"));
        root_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        root_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root_cert = root_params.self_signed(&root_key).unwrap();
        let root_pem = root_cert.pem();
        let root_der = root_cert.der().to_vec();
        let issuer = Issuer::new(root_params, root_key);
        let leaf_key_pair = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).unwrap();
        let leaf_key =
            p384::ecdsa::SigningKey::from_pkcs8_der(&leaf_key_pair.serialize_der()).unwrap();
        let mut leaf_params = CertificateParams::default();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} dev enclave"));
        leaf_params.is_ca = IsCa::ExplicitNoCa;
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if expired {
            leaf_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            leaf_params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let leaf = leaf_params.signed_by(&leaf_key_pair, &issuer).unwrap();
        Self {
            root: DevRoot::from_pem(&root_pem).unwrap(),
            root_pem,
            root_der,
            leaf_der: leaf.der().to_vec(),
            leaf_key,
        }
    }

    /// A document with PCR 0, 1, 2 = `pcrs`, PCR 3, 4, 8 zero, and
    /// `public_key`, signed now.
    pub fn document(&self, pcrs: [&[u8]; 3], public_key: Option<&[u8]>) -> Vec<u8> {
        self.unsigned(pcrs, public_key).sign(&self.leaf_key)
    }

    /// The unsigned document of [`Self::document`].
    pub fn unsigned(&self, pcrs: [&[u8]; 3], public_key: Option<&[u8]>) -> UnsignedDocument {
        let mut map = std::collections::BTreeMap::new();
        for (index, value) in pcrs.into_iter().enumerate() {
            map.insert(index as u8, Pcr::from_slice(value).unwrap());
        }
        for index in [3u8, 4, 8] {
            map.insert(index, Pcr::new([0; 48]));
        }
        let timestamp_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        UnsignedDocument {
            module_id: "i-devnet-test-enc0123".to_owned(),
            timestamp_ms,
            pcrs: map,
            certificate: self.leaf_der.clone(),
            cabundle: vec![self.root_der.clone()],
            public_key: public_key.map(<[u8]>::to_vec),
            user_data: Some(b"tls key hash".to_vec()),
            nonce: Some(b"nonce".to_vec()),
        }
    }

    /// Signs `document` with the leaf key.
    pub fn sign(&self, document: &UnsignedDocument) -> Vec<u8> {
        document.sign(&self.leaf_key)
    }
}

/// A function of the `k3s_daas` package.
pub fn function(module: &'static str, name: &'static str) -> Function {
    Function::new(
        PACKAGE_ID,
        Identifier::from_static(module),
        Identifier::from_static(name),
    )
}

/// The package events a transaction emitted, decoded.
pub fn events(executed: &Executed) -> Vec<PackageEvent> {
    executed
        .events
        .as_ref()
        .map(|e| {
            e.0.iter()
                .map(|e| {
                    assert_eq!(e.package_id, PACKAGE_ID);
                    PackageEvent::decode(PACKAGE_ID, &e.type_, &e.contents)
                        .unwrap()
                        .unwrap()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The module and code of a `k3s_daas` Move abort.
pub fn abort_code(executed: &Executed) -> (String, u64) {
    match executed.effects.status() {
        ExecutionStatus::Failure {
            error: ExecutionError::MoveAbort { location, code },
            ..
        } => {
            assert_eq!(location.package, PACKAGE_ID);
            (location.module.to_string(), *code)
        }
        other => panic!("expected a Move abort, got {other:?}"),
    }
}
