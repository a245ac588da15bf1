//! Stake-and-mint transactions per second through gRPC against an
//! in-process devnet on loopback: each iteration builds, signs and executes
//! one `staking::stake_and_mint` with `sui-rpc`, sequentially from one
//! account (the gas coin's new reference comes from the effects).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use daas_devnet::{DEFAULT_FAUCET_AMOUNT, DevnetConfig};
use sui_crypto::SuiSigner;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::{Address, Identifier, ObjectOut, ObjectReference, TransactionEffects};
use sui_transaction_builder::{Function, ObjectInput, TransactionBuilder};

struct Staker {
    client: sui_rpc::Client,
    key: Ed25519PrivateKey,
    address: Address,
    gas: ObjectReference,
}

impl Staker {
    async fn stake_once(&mut self) {
        let mut tx = TransactionBuilder::new();
        tx.set_sender(self.address);
        tx.set_gas_budget(50_000_000);
        tx.set_gas_price(1000);
        tx.add_gas_objects([ObjectInput::owned(
            *self.gas.object_id(),
            self.gas.version(),
            *self.gas.digest(),
        )]);
        let amount = tx.pure(&1_000_000_000u64);
        let gas = tx.gas();
        let payment = tx.split_coins(gas, vec![amount]);
        let pool = tx.object(ObjectInput::shared(
            daas_core::package::STAKE_POOL_ID,
            1,
            true,
        ));
        let role = tx.pure(&1u8);
        let node_id = tx.pure(&Vec::<u8>::new());
        let clock = tx.object(ObjectInput::shared(Address::from_static("0x6"), 1, false));
        let mut args = vec![pool];
        args.extend(payment);
        args.extend([role, node_id, clock]);
        tx.move_call(
            Function::new(
                daas_core::package::PACKAGE_ID,
                Identifier::from_static("staking"),
                Identifier::from_static("stake_and_mint"),
            ),
            args,
        );
        let tx = tx.try_build().unwrap();
        let signature = self.key.sign_transaction(&tx).unwrap();
        let mut request = proto::ExecuteTransactionRequest::default();
        request.transaction = Some(tx.into());
        request.signatures = vec![signature.into()];
        let response = self
            .client
            .execution_client()
            .execute_transaction(request)
            .await
            .unwrap()
            .into_inner();
        let effects =
            TransactionEffects::try_from(response.transaction.unwrap().effects.as_ref().unwrap())
                .unwrap();
        let TransactionEffects::V2(effects) = effects else {
            panic!("V2 effects")
        };
        assert!(matches!(
            effects.status,
            sui_sdk_types::ExecutionStatus::Success
        ));
        let change = &effects.changed_objects[effects.gas_object_index.unwrap() as usize];
        let ObjectOut::ObjectWrite { digest, .. } = change.output_state else {
            panic!("gas written")
        };
        self.gas = ObjectReference::new(change.object_id, effects.lamport_version, digest);
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (devnet, mut staker) = rt.block_on(async {
        let devnet = daas_devnet::start(DevnetConfig {
            data_dir: dir.path().to_path_buf(),
            listen: "127.0.0.1:0".parse().unwrap(),
            admin: None,
            slasher: None,
            faucet_amount: DEFAULT_FAUCET_AMOUNT * 1000,
            insecure_dev_attestation_root: None,
            allow_debug_attestation: false,
            event_index: true,
        })
        .await
        .unwrap();
        let key = Ed25519PrivateKey::new([42; 32]);
        let address = key.public_key().derive_address();
        let ledger = devnet.ledger().clone();
        let coin = tokio::task::spawn_blocking(move || ledger.faucet(address))
            .await
            .unwrap()
            .unwrap();
        let object = devnet.ledger().store().object(&coin.id).unwrap().unwrap();
        let staker = Staker {
            client: sui_rpc::Client::new(devnet.url()).unwrap(),
            key,
            address,
            gas: daas_devnet::object::reference(&object),
        };
        (devnet, staker)
    });

    let mut group = c.benchmark_group("devnet");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("stake_and_mint_grpc", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    staker.stake_once().await;
                }
                let elapsed = started.elapsed();
                eprintln!(
                    "stake_and_mint: {iters} transactions in {elapsed:?} = {:.0} tx/s",
                    iters as f64 / elapsed.as_secs_f64()
                );
                elapsed
            })
        });
    });
    group.finish();
    rt.block_on(devnet.shutdown()).unwrap();
}

criterion_group!(benches, bench);
criterion_main!(benches);
