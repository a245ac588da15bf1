//! The gRPC connection to a Sui node (`sui.rpc.v2`) and the transaction
//! pipeline every typed call goes through: coin selection, gas price, gas
//! budget from a dry run, signing, execution and finality.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use sui_rpc::field::{FieldMask, FieldMaskUtil};
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::{Address, Digest, Owner, StructTag, Transaction, TypeTag};
use sui_transaction_builder::{ObjectInput, TransactionBuilder};
use tracing::{debug, instrument};

use super::error::{ChainError, MoveAbort, Stage};
use super::profile::{ChainConfig, Finality};
use super::signer::TransactionSigner;

/// Most gas coins Sui accepts in one gas payment.
const MAX_GAS_OBJECTS: usize = 255;
/// SUI kept aside for gas when choosing coins before the dry run (0.5 SUI).
const DRY_RUN_RESERVE: u64 = 500_000_000;
/// Highest budget offered to the dry run (5 SUI).
const MAX_DRY_RUN_BUDGET: u64 = 5_000_000_000;
/// Computation units added on top of the dry run's cost, as the TypeScript
/// SDK does (`GAS_SAFE_OVERHEAD`), times the gas price.
const GAS_SAFE_OVERHEAD: u64 = 1_000;
/// How often to ask whether a transaction reached a checkpoint.
const FINALITY_POLL: Duration = Duration::from_millis(250);

/// A connection to one Sui node plus the ids of the `k3s_daas` deployment.
///
/// Cloning is cheap; clones share the HTTP/2 connection. The connection is
/// made lazily, so building a client never blocks and a node that is down
/// shows up as [`ChainError::Rpc`] on the first call.
#[derive(Clone)]
pub struct ChainClient {
    rpc: sui_rpc::Client,
    config: ChainConfig,
    package: Address,
    stake_pool: Address,
    /// Initial shared versions seen so far; they never change.
    shared_versions: Arc<Mutex<HashMap<Address, u64>>>,
    /// Gas settings of the typed calls.
    gas: GasOptions,
}

impl std::fmt::Debug for ChainClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainClient")
            .field("endpoint", &self.config.endpoint())
            .field("profile", &self.config.profile)
            .field("package", &self.package)
            .finish_non_exhaustive()
    }
}

/// What a node says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Chain identifier (digest of the genesis checkpoint).
    pub chain_id: Option<String>,
    /// Human-readable chain name.
    pub chain: Option<String>,
    /// Current epoch.
    pub epoch: u64,
    /// Highest executed checkpoint.
    pub checkpoint_height: u64,
}

/// An object as stored on chain, with its Move contents still in BCS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawObject {
    /// Object id.
    pub id: Address,
    /// Current version.
    pub version: u64,
    /// Current digest.
    pub digest: Digest,
    /// Owner.
    pub owner: Owner,
    /// Move type, e.g. `0x…::staking::SealToken`.
    pub object_type: StructTag,
    /// BCS of the Move struct.
    pub contents: Vec<u8>,
}

impl RawObject {
    /// The input a transaction uses to pass this object (owned, immutable
    /// or shared with its initial shared version).
    pub fn input(&self, mutable: bool) -> ObjectInput {
        match self.owner {
            Owner::Shared(initial)
            | Owner::ConsensusAddress {
                start_version: initial,
                ..
            } => ObjectInput::shared(self.id, initial, mutable),
            Owner::Immutable => ObjectInput::immutable(self.id, self.version, self.digest),
            _ => ObjectInput::owned(self.id, self.version, self.digest),
        }
    }

    /// Whether the object's type is `package::module::name`.
    pub fn is_type(&self, package: Address, module: &str, name: &str) -> bool {
        *self.object_type.address() == package
            && self.object_type.module().as_str() == module
            && self.object_type.name().as_str() == name
    }

    /// Decodes the contents as `T`, checking the type first.
    ///
    /// # Errors
    /// [`ChainError::WrongObjectType`] or [`ChainError::Decode`].
    pub fn decode<T: serde::de::DeserializeOwned>(
        &self,
        package: Address,
        module: &str,
        name: &str,
    ) -> Result<T, ChainError> {
        if !self.is_type(package, module, name) {
            return Err(ChainError::WrongObjectType {
                id: self.id,
                expected: format!("{package}::{module}::{name}"),
                found: self.object_type.to_string(),
            });
        }
        bcs::from_bytes(&self.contents).map_err(|source| ChainError::Decode {
            what: format!("{module}::{name} {}", self.id),
            source,
        })
    }
}

/// A SUI coin owned by an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoinRef {
    /// Coin object id.
    pub id: Address,
    /// Version.
    pub version: u64,
    /// Digest.
    pub digest: Digest,
    /// Balance in MIST.
    pub balance: u64,
}

/// How a call is paid for. The defaults ask the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GasOptions {
    /// Gas price; the network's reference gas price if `None`.
    pub price: Option<u64>,
    /// Gas budget; estimated from a dry run if `None`.
    pub budget: Option<u64>,
}

/// How an object changed in a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeKind {
    /// Created by the transaction.
    Created,
    /// Existed before and still exists.
    Mutated,
    /// Deleted or wrapped.
    Deleted,
}

/// One object touched by a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectChange {
    /// Object id.
    pub id: Address,
    /// What happened to it.
    pub kind: ChangeKind,
    /// Version after the transaction (if it still exists).
    pub version: Option<u64>,
    /// Digest after the transaction (if it still exists).
    pub digest: Option<Digest>,
    /// Owner after the transaction (if it still exists).
    pub owner: Option<Owner>,
    /// Move type, when the node reports it.
    pub object_type: Option<StructTag>,
}

/// An event emitted by a transaction, contents in BCS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmittedEvent {
    /// The event's Move type, e.g. `0x…::staking::Staked`.
    pub event_type: StructTag,
    /// Sender of the emitting transaction.
    pub sender: Option<Address>,
    /// BCS contents.
    pub contents: Vec<u8>,
}

impl EmittedEvent {
    /// Whether the event's type is `package::module::name`.
    pub fn is_type(&self, package: Address, module: &str, name: &str) -> bool {
        *self.event_type.address() == package
            && self.event_type.module().as_str() == module
            && self.event_type.name().as_str() == name
    }
}

/// The result of a successful, final transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxOutcome {
    /// Transaction digest.
    pub digest: Digest,
    /// Checkpoint that includes it, when known.
    pub checkpoint: Option<u64>,
    /// Objects created, mutated or deleted.
    pub changes: Vec<ObjectChange>,
    /// Events emitted, in order.
    pub events: Vec<EmittedEvent>,
    /// Gas charged in MIST (computation + storage − rebate).
    pub gas_charged: i128,
}

impl TxOutcome {
    /// The objects of type `package::module::name` the transaction created.
    pub fn created_of_type(
        &self,
        package: Address,
        module: &str,
        name: &str,
    ) -> impl Iterator<Item = &ObjectChange> {
        self.changes.iter().filter(move |c| {
            c.kind == ChangeKind::Created
                && c.object_type.as_ref().is_some_and(|t| {
                    *t.address() == package
                        && t.module().as_str() == module
                        && t.name().as_str() == name
                })
        })
    }

    /// The change to object `id`, if the transaction touched it.
    pub fn change_of(&self, id: Address) -> Option<&ObjectChange> {
        self.changes.iter().find(|c| c.id == id)
    }
}

impl ChainClient {
    /// A client for `config`; no network traffic until the first call.
    ///
    /// # Errors
    /// The configuration is invalid ([`ChainConfig::validate`]).
    pub fn new(config: ChainConfig) -> Result<Self, ChainError> {
        config.validate()?;
        let package = config.package_id()?;
        let stake_pool = config.stake_pool_id()?;
        let rpc = sui_rpc::Client::new(config.endpoint()).map_err(|status| {
            ChainError::InvalidEndpoint {
                endpoint: config.endpoint().to_owned(),
                reason: if status.code() == tonic::Code::InvalidArgument {
                    "not a valid URI"
                } else {
                    "TLS or channel setup failed"
                },
            }
        })?;
        Ok(Self {
            rpc,
            config,
            package,
            stake_pool,
            shared_versions: Arc::default(),
            gas: GasOptions::default(),
        })
    }

    /// A clone whose typed calls pay with `gas` (fixed price or budget)
    /// instead of asking the network.
    pub fn with_gas(&self, gas: GasOptions) -> Self {
        Self {
            gas,
            ..self.clone()
        }
    }

    /// The gas settings of the typed calls.
    pub fn gas_options(&self) -> GasOptions {
        self.gas
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// Id of the `k3s_daas` package.
    pub fn package_id(&self) -> Address {
        self.package
    }

    /// Id of the shared `StakePool`.
    pub fn stake_pool_id(&self) -> Address {
        self.stake_pool
    }

    /// The underlying `sui-rpc` client, for calls this type does not wrap.
    pub fn rpc(&self) -> sui_rpc::Client {
        self.rpc.clone()
    }

    /// `LedgerService.GetServiceInfo`.
    ///
    /// # Errors
    /// The node is unreachable or answers badly.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn service_info(&self) -> Result<ServiceInfo, ChainError> {
        let response = self
            .rpc
            .clone()
            .ledger_client()
            .get_service_info(proto::GetServiceInfoRequest::default())
            .await
            .map_err(|s| ChainError::rpc("GetServiceInfo", s))?
            .into_inner();
        Ok(ServiceInfo {
            chain_id: response.chain_id,
            chain: response.chain,
            epoch: response.epoch.unwrap_or_default(),
            checkpoint_height: response
                .checkpoint_height
                .ok_or_else(|| ChainError::malformed("GetServiceInfo without checkpoint_height"))?,
        })
    }

    /// The network's reference gas price (`LedgerService.GetEpoch`).
    ///
    /// # Errors
    /// The node is unreachable.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn reference_gas_price(&self) -> Result<u64, ChainError> {
        let mut request = proto::GetEpochRequest::latest();
        request.read_mask = Some(FieldMask::from_paths(["reference_gas_price"]));
        let response = self
            .rpc
            .clone()
            .ledger_client()
            .get_epoch(request)
            .await
            .map_err(|s| ChainError::rpc("GetEpoch", s))?
            .into_inner();
        response
            .epoch
            .and_then(|e| e.reference_gas_price)
            .ok_or_else(|| ChainError::malformed("GetEpoch without reference_gas_price"))
    }

    /// Reads an object with its BCS contents (`LedgerService.GetObject`).
    ///
    /// # Errors
    /// [`ChainError::ObjectNotFound`], or a malformed answer.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn object(&self, id: Address) -> Result<RawObject, ChainError> {
        let mut request = proto::GetObjectRequest::new(&id);
        request.read_mask = Some(FieldMask::from_paths([
            "object_id",
            "version",
            "digest",
            "owner",
            "object_type",
            "contents",
            "bcs",
        ]));
        let response = self
            .rpc
            .clone()
            .ledger_client()
            .get_object(request)
            .await
            .map_err(|status| {
                if status.code() == tonic::Code::NotFound {
                    ChainError::ObjectNotFound { id }
                } else {
                    ChainError::rpc("GetObject", status)
                }
            })?
            .into_inner();
        let object = response
            .object
            .ok_or_else(|| ChainError::malformed(format!("GetObject {id} without object")))?;
        raw_object_from_proto(id, &object)
    }

    /// The reference a transaction needs to pass a shared object: its id
    /// and initial shared version.
    ///
    /// # Errors
    /// [`ChainError::WrongOwnership`] if the object is not shared.
    pub async fn shared_object(
        &self,
        id: Address,
        mutable: bool,
    ) -> Result<ObjectInput, ChainError> {
        let cached = self
            .shared_versions
            .lock()
            .ok()
            .and_then(|versions| versions.get(&id).copied());
        if let Some(initial) = cached {
            return Ok(ObjectInput::shared(id, initial, mutable));
        }
        let object = self.object(id).await?;
        match object.owner {
            Owner::Shared(initial) => {
                if let Ok(mut versions) = self.shared_versions.lock() {
                    versions.insert(id, initial);
                }
                Ok(ObjectInput::shared(id, initial, mutable))
            }
            other => Err(ChainError::WrongOwnership {
                id,
                reason: format!("expected a shared object, found owner {other:?}"),
            }),
        }
    }

    /// The reference a transaction needs to pass an owned object: its
    /// current version and digest. Ownership is left for the chain to check.
    ///
    /// # Errors
    /// [`ChainError::ObjectNotFound`], or the object is shared.
    pub async fn owned_object(&self, id: Address) -> Result<ObjectInput, ChainError> {
        let object = self.object(id).await?;
        match object.owner {
            Owner::Shared(_) | Owner::ConsensusAddress { .. } => Err(ChainError::WrongOwnership {
                id,
                reason: "expected an owned object, found a shared one".to_owned(),
            }),
            _ => Ok(object.input(true)),
        }
    }

    /// Ids of the objects of Move type `object_type` owned by `owner`.
    ///
    /// # Errors
    /// The node is unreachable or answers badly.
    #[instrument(skip(self, owner, object_type), fields(%owner, %object_type), err(level = "debug"))]
    pub async fn owned_objects_of_type(
        &self,
        owner: Address,
        object_type: &StructTag,
    ) -> Result<Vec<Address>, ChainError> {
        let mut request = proto::ListOwnedObjectsRequest::default()
            .with_owner(owner.to_string())
            .with_object_type(object_type.to_string())
            .with_page_size(500u32);
        request.read_mask = Some(FieldMask::from_paths(["object_id", "object_type"]));
        let mut stream = Box::pin(self.rpc.list_owned_objects(request));
        let mut ids = Vec::new();
        while let Some(object) = stream.next().await {
            let object = object.map_err(|s| ChainError::rpc("ListOwnedObjects", s))?;
            ids.push(parse_address("owned object id", object.object_id.as_ref())?);
        }
        Ok(ids)
    }

    /// All `Coin<SUI>` objects of `owner`, largest first
    /// (`StateService.ListOwnedObjects`).
    ///
    /// # Errors
    /// The node is unreachable or answers badly.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn sui_coins(&self, owner: Address) -> Result<Vec<CoinRef>, ChainError> {
        let coin_type = StructTag::coin(TypeTag::Struct(Box::new(StructTag::sui())));
        let mut request = proto::ListOwnedObjectsRequest::default()
            .with_owner(owner.to_string())
            .with_object_type(coin_type.to_string())
            .with_page_size(500u32);
        request.read_mask = Some(FieldMask::from_paths([
            "object_id",
            "version",
            "digest",
            "balance",
            "object_type",
            "contents",
        ]));
        let mut stream = Box::pin(self.rpc.list_owned_objects(request));
        let mut coins = Vec::new();
        while let Some(object) = stream.next().await {
            let object = object.map_err(|s| ChainError::rpc("ListOwnedObjects", s))?;
            coins.push(coin_from_proto(&object)?);
        }
        coins.sort_by(|a, b| b.balance.cmp(&a.balance).then(a.id.cmp(&b.id)));
        Ok(coins)
    }

    /// Total MIST in `owner`'s SUI coins.
    ///
    /// # Errors
    /// As [`ChainClient::sui_coins`].
    pub async fn sui_balance(&self, owner: Address) -> Result<u64, ChainError> {
        Ok(self
            .sui_coins(owner)
            .await?
            .iter()
            .fold(0u64, |sum, c| sum.saturating_add(c.balance)))
    }

    /// Builds, pays for, signs, executes and waits for a transaction.
    ///
    /// `build` adds the transaction's commands to a builder whose sender is
    /// the signer and whose gas coin is the sender's SUI (coins merged by
    /// the gas payment). `spend` is how many MIST the commands split off the
    /// gas coin; coin selection covers `spend` plus gas. Unless `gas.budget`
    /// is given, the budget is the dry run's cost plus a safety overhead,
    /// and a Move abort in the dry run is returned without executing.
    ///
    /// # Errors
    /// Every [`ChainError`] a transaction can meet; Move aborts come back
    /// as [`ChainError::Aborted`] carrying module and code.
    #[instrument(skip(self, signer, gas, build), fields(sender = %signer.address()), err(level = "debug"))]
    pub async fn execute<F>(
        &self,
        signer: &dyn TransactionSigner,
        spend: u64,
        gas: GasOptions,
        build: F,
    ) -> Result<TxOutcome, ChainError>
    where
        F: FnOnce(&mut TransactionBuilder) -> Result<(), ChainError>,
    {
        let transaction = self.prepare(signer.address(), spend, gas, build).await?;
        self.sign_and_execute(signer, transaction).await
    }

    /// The paid-for transaction [`execute`](Self::execute) would sign,
    /// without signing or sending it: a caller that must survive a crash
    /// records its digest (or the whole transaction) first, then sends it
    /// with [`sign_and_execute`](Self::sign_and_execute) and, after a
    /// crash, looks it up with [`transaction`](Self::transaction).
    ///
    /// # Errors
    /// As [`execute`](Self::execute), up to the dry run.
    #[instrument(skip(self, gas, build), err(level = "debug"))]
    pub async fn prepare<F>(
        &self,
        sender: Address,
        spend: u64,
        gas: GasOptions,
        build: F,
    ) -> Result<Transaction, ChainError>
    where
        F: FnOnce(&mut TransactionBuilder) -> Result<(), ChainError>,
    {
        let price = match gas.price {
            Some(price) => price,
            None => self.reference_gas_price().await?,
        };
        let coins = self.sui_coins(sender).await?;
        let reserve = gas.budget.unwrap_or(DRY_RUN_RESERVE);
        let selected = select_coins(sender, &coins, spend, reserve, gas.budget.is_some())?;
        let selected_total = selected
            .iter()
            .fold(0u64, |s, c| s.saturating_add(c.balance));
        let dry_run_budget = match gas.budget {
            Some(budget) => budget,
            None => selected_total.saturating_sub(spend).min(MAX_DRY_RUN_BUDGET),
        };
        if dry_run_budget == 0 {
            return Err(ChainError::InsufficientFunds {
                owner: sender,
                needed: spend.saturating_add(1),
                available: selected_total,
            });
        }

        let mut builder = TransactionBuilder::new();
        builder.set_sender(sender);
        builder.set_gas_price(price);
        builder.set_gas_budget(dry_run_budget);
        builder.add_gas_objects(
            selected
                .iter()
                .map(|c| ObjectInput::owned(c.id, c.version, c.digest)),
        );
        build(&mut builder)?;
        let mut transaction = builder.try_build().map_err(ChainError::Build)?;

        if gas.budget.is_none() {
            let budget = self.estimate_budget(&transaction, price).await?;
            let needed = spend.saturating_add(budget);
            if needed > selected_total {
                return Err(ChainError::InsufficientFunds {
                    owner: sender,
                    needed,
                    available: selected_total,
                });
            }
            transaction.gas_payment.budget = budget;
        }
        Ok(transaction)
    }

    /// The executed transaction `digest`, or `None` if the node has not
    /// executed it.
    ///
    /// # Errors
    /// The node failed or answered badly; a transaction that executed and
    /// failed comes back as its error (e.g. [`ChainError::Aborted`]).
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn transaction(&self, digest: Digest) -> Result<Option<TxOutcome>, ChainError> {
        let mut request = proto::GetTransactionRequest::new(&digest);
        request.read_mask = Some(FieldMask::from_paths([
            "digest",
            "effects",
            "events",
            "checkpoint",
            "objects",
        ]));
        match self
            .rpc
            .clone()
            .ledger_client()
            .get_transaction(request)
            .await
        {
            Ok(response) => {
                let executed = response
                    .into_inner()
                    .transaction
                    .ok_or_else(|| ChainError::malformed("GetTransaction without transaction"))?;
                outcome_from_proto(digest, &executed).map(Some)
            }
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(ChainError::rpc("GetTransaction", status)),
        }
    }

    /// Dry-runs `transaction` and returns the budget to use: the dry run's
    /// computation cost plus a safety overhead (the TypeScript SDK's
    /// `GAS_SAFE_OVERHEAD` units at `price`) plus its storage cost. The
    /// storage rebate is not subtracted: a budget must cover computation and
    /// storage before the rebate is paid back, and it only caps the charge.
    ///
    /// # Errors
    /// The dry run failed; Move aborts as [`ChainError::Aborted`].
    #[instrument(skip(self, transaction), err(level = "debug"))]
    pub async fn estimate_budget(
        &self,
        transaction: &Transaction,
        price: u64,
    ) -> Result<u64, ChainError> {
        let effects = self.simulate(transaction).await?;
        let used = effects
            .gas_used
            .ok_or_else(|| ChainError::malformed("SimulateTransaction without gas_used"))?;
        let budget = used
            .computation_cost
            .unwrap_or_default()
            .saturating_add(GAS_SAFE_OVERHEAD.saturating_mul(price))
            .saturating_add(used.storage_cost.unwrap_or_default());
        debug!(budget, "gas budget from dry run");
        Ok(budget)
    }

    /// Runs `transaction` without committing it and returns its effects.
    ///
    /// # Errors
    /// The node refused it, or it failed: Move aborts as
    /// [`ChainError::Aborted`] with [`Stage::Simulation`].
    #[instrument(skip(self, transaction), err(level = "debug"))]
    pub async fn simulate(
        &self,
        transaction: &Transaction,
    ) -> Result<proto::TransactionEffects, ChainError> {
        let mut request =
            proto::SimulateTransactionRequest::new(transaction_to_proto(transaction)?);
        request.read_mask = Some(FieldMask::from_paths(["transaction.effects"]));
        let response = self
            .rpc
            .clone()
            .execution_client()
            .simulate_transaction(request)
            .await
            .map_err(|s| ChainError::rpc("SimulateTransaction", s))?
            .into_inner();
        let effects = response
            .transaction
            .and_then(|t| t.effects)
            .ok_or_else(|| ChainError::malformed("SimulateTransaction without effects"))?;
        check_status(&effects, Stage::Simulation, None)?;
        Ok(effects)
    }

    /// Signs a complete transaction, executes it and waits until it is
    /// final for this profile.
    ///
    /// # Errors
    /// Signing, execution or finality failed.
    #[instrument(skip(self, signer, transaction), fields(digest = %transaction.digest()), err(level = "debug"))]
    pub async fn sign_and_execute(
        &self,
        signer: &dyn TransactionSigner,
        transaction: Transaction,
    ) -> Result<TxOutcome, ChainError> {
        let signature = signer
            .sign_transaction(&transaction)
            .map_err(ChainError::Sign)?;
        let digest = transaction.digest();
        let mut request =
            proto::ExecuteTransactionRequest::new(transaction_to_proto(&transaction)?)
                .with_signatures(vec![signature.into()]);
        request.read_mask = Some(FieldMask::from_paths([
            "digest",
            "effects",
            "events",
            "checkpoint",
            "objects",
        ]));
        let response = self
            .rpc
            .clone()
            .execution_client()
            .execute_transaction(request)
            .await
            .map_err(|s| ChainError::rpc("ExecuteTransaction", s))?
            .into_inner();
        let executed = response
            .transaction
            .ok_or_else(|| ChainError::malformed("ExecuteTransaction without transaction"))?;
        let mut outcome = outcome_from_proto(digest, &executed)?;
        if self.config.profile.finality() == Finality::Checkpoint && outcome.checkpoint.is_none() {
            outcome.checkpoint = Some(self.wait_for_checkpoint(digest).await?);
        }
        Ok(outcome)
    }

    /// Waits until the transaction `digest` is in a checkpoint and returns
    /// the checkpoint's sequence number.
    ///
    /// # Errors
    /// [`ChainError::FinalityTimeout`] after the configured timeout.
    #[instrument(skip(self), err(level = "debug"))]
    pub async fn wait_for_checkpoint(&self, digest: Digest) -> Result<u64, ChainError> {
        let timeout = self.config.finality_timeout();
        let started = Instant::now();
        loop {
            let mut request = proto::GetTransactionRequest::new(&digest);
            request.read_mask = Some(FieldMask::from_paths(["digest", "checkpoint"]));
            match self
                .rpc
                .clone()
                .ledger_client()
                .get_transaction(request)
                .await
            {
                Ok(response) => {
                    if let Some(checkpoint) =
                        response.into_inner().transaction.and_then(|t| t.checkpoint)
                    {
                        return Ok(checkpoint);
                    }
                }
                Err(status) if status.code() == tonic::Code::NotFound => {}
                Err(status) => return Err(ChainError::rpc("GetTransaction", status)),
            }
            if started.elapsed() >= timeout {
                return Err(ChainError::FinalityTimeout {
                    digest,
                    waited_secs: timeout.as_secs(),
                });
            }
            tokio::time::sleep(FINALITY_POLL).await;
        }
    }
}

/// Picks the largest coins until they cover `spend + reserve`.
///
/// With `strict` the reserve is a fixed budget and must be covered; without
/// it the reserve is only a dry-run allowance and all coins are taken if
/// they cannot cover it.
fn select_coins(
    owner: Address,
    coins: &[CoinRef],
    spend: u64,
    reserve: u64,
    strict: bool,
) -> Result<Vec<CoinRef>, ChainError> {
    let target = spend.saturating_add(reserve);
    let mut selected = Vec::new();
    let mut total = 0u64;
    for coin in coins.iter().take(MAX_GAS_OBJECTS) {
        if total >= target {
            break;
        }
        total = total.saturating_add(coin.balance);
        selected.push(*coin);
    }
    let enough = if strict {
        total >= target
    } else {
        total > spend
    };
    if !enough || selected.is_empty() {
        return Err(ChainError::InsufficientFunds {
            owner,
            needed: if strict {
                target
            } else {
                spend.saturating_add(1)
            },
            available: total,
        });
    }
    Ok(selected)
}

pub(crate) fn transaction_to_proto(
    transaction: &Transaction,
) -> Result<proto::Transaction, ChainError> {
    let bcs = proto::Bcs::serialize(transaction).map_err(|source| ChainError::Decode {
        what: "transaction (encoding)".to_owned(),
        source,
    })?;
    let mut message = proto::Transaction::from(transaction.clone());
    message.bcs = Some(bcs);
    Ok(message)
}

fn parse_address(what: &str, value: Option<&String>) -> Result<Address, ChainError> {
    let value = value.ok_or_else(|| ChainError::malformed(format!("{what} missing")))?;
    Address::from_str(value)
        .map_err(|_| ChainError::malformed(format!("{what} {value:?} is not an address")))
}

fn parse_digest(what: &str, value: Option<&String>) -> Result<Digest, ChainError> {
    let value = value.ok_or_else(|| ChainError::malformed(format!("{what} missing")))?;
    Digest::from_str(value)
        .map_err(|_| ChainError::malformed(format!("{what} {value:?} is not a digest")))
}

fn parse_struct_tag(what: &str, value: &str) -> Result<StructTag, ChainError> {
    StructTag::from_str(value)
        .map_err(|_| ChainError::malformed(format!("{what} {value:?} is not a Move struct type")))
}

fn owner_from_proto(what: &str, owner: Option<&proto::Owner>) -> Result<Owner, ChainError> {
    let owner = owner.ok_or_else(|| ChainError::malformed(format!("{what} owner missing")))?;
    Owner::try_from(owner).map_err(|e| ChainError::malformed(format!("{what} owner: {e}")))
}

pub(crate) fn raw_object_from_proto(
    id: Address,
    object: &proto::Object,
) -> Result<RawObject, ChainError> {
    let what = format!("object {id}");
    // Prefer the full object BCS: it carries type, owner and contents at once.
    if let Some(bcs) = &object.bcs
        && bcs.value.is_some()
    {
        let full: sui_sdk_types::Object =
            bcs.deserialize().map_err(|source| ChainError::Decode {
                what: what.clone(),
                source,
            })?;
        let sui_sdk_types::ObjectData::Struct(move_struct) = full.data() else {
            return Err(ChainError::WrongObjectType {
                id,
                expected: "a Move object".to_owned(),
                found: "a package".to_owned(),
            });
        };
        return Ok(RawObject {
            id: full.object_id(),
            version: full.version(),
            digest: full.digest(),
            owner: *full.owner(),
            object_type: move_struct.object_type().clone(),
            contents: move_struct.contents().to_vec(),
        });
    }
    let object_type = object
        .object_type
        .as_deref()
        .ok_or_else(|| ChainError::malformed(format!("{what} without type")))?;
    let contents = object
        .contents
        .as_ref()
        .and_then(|c| c.value.as_ref())
        .ok_or_else(|| ChainError::malformed(format!("{what} without contents")))?;
    Ok(RawObject {
        id: parse_address(&format!("{what} id"), object.object_id.as_ref())?,
        version: object
            .version
            .ok_or_else(|| ChainError::malformed(format!("{what} without version")))?,
        digest: parse_digest(&format!("{what} digest"), object.digest.as_ref())?,
        owner: owner_from_proto(&what, object.owner.as_ref())?,
        object_type: parse_struct_tag(&format!("{what} type"), object_type)?,
        contents: contents.to_vec(),
    })
}

fn coin_from_proto(object: &proto::Object) -> Result<CoinRef, ChainError> {
    let id = parse_address("coin id", object.object_id.as_ref())?;
    let balance = match object.balance {
        Some(balance) => balance,
        None => {
            // A Coin<T> is (UID, Balance { value: u64 }): the balance is the
            // 8 bytes after the 32-byte id.
            let contents = object
                .contents
                .as_ref()
                .and_then(|c| c.value.as_ref())
                .ok_or_else(|| ChainError::malformed(format!("coin {id} without balance")))?;
            let bytes: [u8; 8] = contents
                .get(32..40)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| ChainError::malformed(format!("coin {id} contents too short")))?;
            u64::from_le_bytes(bytes)
        }
    };
    Ok(CoinRef {
        id,
        version: object
            .version
            .ok_or_else(|| ChainError::malformed(format!("coin {id} without version")))?,
        digest: parse_digest(&format!("coin {id} digest"), object.digest.as_ref())?,
        balance,
    })
}

/// Turns a failed status into [`ChainError::Aborted`] or
/// [`ChainError::ExecutionFailed`].
pub(crate) fn check_status(
    effects: &proto::TransactionEffects,
    stage: Stage,
    digest: Option<Digest>,
) -> Result<(), ChainError> {
    let status = effects
        .status
        .as_ref()
        .ok_or_else(|| ChainError::malformed("effects without status"))?;
    if status.success == Some(true) {
        return Ok(());
    }
    let error = status.error.clone().unwrap_or_default();
    let description = error.description.clone().unwrap_or_default();
    if let Some(proto::execution_error::ErrorDetails::Abort(abort)) = &error.error_details {
        let location = abort.location.clone().unwrap_or_default();
        return Err(ChainError::Aborted {
            stage,
            abort: Box::new(MoveAbort {
                package: location
                    .package
                    .as_deref()
                    .and_then(|p| Address::from_str(p).ok()),
                module: location.module.unwrap_or_default(),
                function: location.function_name,
                code: abort.abort_code.unwrap_or_default(),
                command: error.command,
            }),
            digest,
        });
    }
    let kind = error
        .kind
        .and_then(|k| proto::execution_error::ExecutionErrorKind::try_from(k).ok())
        .map_or_else(|| "UNKNOWN".to_owned(), |k| k.as_str_name().to_owned());
    Err(ChainError::ExecutionFailed {
        stage,
        kind,
        description,
        digest,
    })
}

fn outcome_from_proto(
    digest: Digest,
    executed: &proto::ExecutedTransaction,
) -> Result<TxOutcome, ChainError> {
    let effects = executed
        .effects
        .as_ref()
        .ok_or_else(|| ChainError::malformed("ExecuteTransaction without effects"))?;
    check_status(effects, Stage::Execution, Some(digest))?;

    // Types are not part of the effects; take them from the object set when
    // the node sends one.
    let mut types = std::collections::HashMap::new();
    if let Some(set) = &executed.objects {
        for object in &set.objects {
            if let (Some(id), Some(ty)) =
                (object.object_id.as_deref(), object.object_type.as_deref())
                && let (Ok(id), Ok(ty)) = (Address::from_str(id), StructTag::from_str(ty))
            {
                types.insert((id, object.version), ty);
            }
        }
    }

    let mut changes = Vec::new();
    for changed in &effects.changed_objects {
        let id = parse_address("changed object id", changed.object_id.as_ref())?;
        let exists =
            changed.output_state() == proto::changed_object::OutputObjectState::ObjectWrite;
        let kind = match (changed.id_operation(), exists) {
            (proto::changed_object::IdOperation::Created, true) => ChangeKind::Created,
            (_, true) => ChangeKind::Mutated,
            (_, false) => ChangeKind::Deleted,
        };
        let version = if exists { changed.output_version } else { None };
        let object_type = match changed.object_type.as_deref() {
            Some(ty) => StructTag::from_str(ty).ok(),
            None => types.get(&(id, version)).cloned(),
        };
        changes.push(ObjectChange {
            id,
            kind,
            version,
            digest: if exists {
                changed
                    .output_digest
                    .as_deref()
                    .and_then(|d| Digest::from_str(d).ok())
            } else {
                None
            },
            owner: if exists {
                changed
                    .output_owner
                    .as_ref()
                    .and_then(|o| Owner::try_from(o).ok())
            } else {
                None
            },
            object_type,
        });
    }

    let mut events = Vec::new();
    if let Some(list) = &executed.events {
        for event in &list.events {
            events.push(emitted_event_from_proto(event)?);
        }
    }
    let gas_charged = effects.gas_used.as_ref().map_or(0, |g| {
        i128::from(g.computation_cost.unwrap_or_default())
            + i128::from(g.storage_cost.unwrap_or_default())
            - i128::from(g.storage_rebate.unwrap_or_default())
    });
    Ok(TxOutcome {
        digest,
        checkpoint: executed.checkpoint,
        changes,
        events,
        gas_charged,
    })
}

pub(crate) fn emitted_event_from_proto(event: &proto::Event) -> Result<EmittedEvent, ChainError> {
    let ty = event
        .event_type
        .as_deref()
        .ok_or_else(|| ChainError::malformed("event without type"))?;
    Ok(EmittedEvent {
        event_type: parse_struct_tag("event type", ty)?,
        sender: event
            .sender
            .as_deref()
            .and_then(|s| Address::from_str(s).ok()),
        contents: event
            .contents
            .as_ref()
            .and_then(|c| c.value.as_ref())
            .map(|v| v.to_vec())
            .ok_or_else(|| ChainError::malformed(format!("event {ty} without contents")))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a `tracing` subscriber writes, shared with the test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        /// Captures this thread's events up to `level` until the guard
        /// drops.
        fn at(level: tracing::Level) -> (Self, tracing::subscriber::DefaultGuard) {
            let captured = Self::default();
            let writer = captured.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(level)
                .with_writer(move || writer.clone())
                .finish();
            (captured, tracing::subscriber::set_default(subscriber))
        }

        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    /// A failed call is the caller's to report: it knows whether it
    /// retries. The client traces it at debug level only, so a retried
    /// failure is not logged twice, once as an ERROR.
    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_call_is_returned_not_logged() {
        // A port nothing listens on: the connection is refused at once.
        let client = ChainClient::new(ChainConfig::devnet("http://127.0.0.1:9")).unwrap();
        let (info, guard) = Captured::at(tracing::Level::INFO);
        assert!(client.clock_timestamp_ms().await.is_err());
        drop(guard);
        assert_eq!(info.text(), "");

        // At debug level the failure is still in its span.
        let (debug, _guard) = Captured::at(tracing::Level::DEBUG);
        assert!(client.clock_timestamp_ms().await.is_err());
        assert!(
            debug.text().contains("clock_timestamp_ms"),
            "{}",
            debug.text()
        );
    }

    fn coin(n: u8, balance: u64) -> CoinRef {
        CoinRef {
            id: Address::new([n; 32]),
            version: 1,
            digest: Digest::ZERO,
            balance,
        }
    }

    #[test]
    fn coin_selection_takes_largest_until_covered() {
        let coins = [coin(1, 10), coin(2, 5), coin(3, 1)];
        let picked = select_coins(Address::ZERO, &coins, 8, 4, true).unwrap();
        assert_eq!(picked.len(), 2);
        let err = select_coins(Address::ZERO, &coins, 15, 4, true).unwrap_err();
        assert!(matches!(
            err,
            ChainError::InsufficientFunds {
                needed: 19,
                available: 16,
                ..
            }
        ));
    }

    #[test]
    fn failed_effects_become_typed_errors() {
        let mut location = proto::MoveLocation::default();
        location.module = Some("staking".to_owned());
        location.function_name = Some("withdraw".to_owned());
        location.package = Some(crate::package::PACKAGE_ID.to_string());
        let mut abort = proto::MoveAbort::default();
        abort.abort_code = Some(13);
        abort.location = Some(location);
        let mut error = proto::ExecutionError::default();
        error.kind = Some(proto::execution_error::ExecutionErrorKind::MoveAbort as i32);
        error.command = Some(0);
        error.error_details = Some(proto::execution_error::ErrorDetails::Abort(abort));
        let mut status = proto::ExecutionStatus::default();
        status.success = Some(false);
        status.error = Some(error);
        let mut effects = proto::TransactionEffects::default();
        effects.status = Some(status);
        let err = check_status(&effects, Stage::Execution, None).unwrap_err();
        let abort = err.move_abort().unwrap();
        assert_eq!(abort.package, Some(crate::package::PACKAGE_ID));
        assert_eq!(abort.function.as_deref(), Some("withdraw"));
        assert!(err.is_abort("staking", 13));

        let mut error = proto::ExecutionError::default();
        error.kind = Some(proto::execution_error::ExecutionErrorKind::InsufficientGas as i32);
        let mut status = proto::ExecutionStatus::default();
        status.success = Some(false);
        status.error = Some(error);
        effects.status = Some(status);
        let err = check_status(&effects, Stage::Simulation, None).unwrap_err();
        assert!(
            matches!(&err, ChainError::ExecutionFailed { kind, stage: Stage::Simulation, .. } if kind == "INSUFFICIENT_GAS"),
            "{err:?}"
        );
        effects.status = None;
        assert!(matches!(
            check_status(&effects, Stage::Execution, None),
            Err(ChainError::MalformedResponse { .. })
        ));
    }

    #[test]
    fn coin_selection_without_budget_takes_all_when_short_of_reserve() {
        let coins = [coin(1, 10), coin(2, 5)];
        let picked = select_coins(Address::ZERO, &coins, 8, 100, false).unwrap();
        assert_eq!(picked.len(), 2);
        assert!(select_coins(Address::ZERO, &coins, 15, 100, false).is_err());
        assert!(select_coins(Address::ZERO, &[], 0, 100, false).is_err());
    }
}
