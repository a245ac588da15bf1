//! The `sui.rpc.v2` gRPC services the devnet answers, over the ledger.
//!
//! Read masks are accepted and ignored: answers always carry every field
//! the devnet knows (a superset of what any mask asks for).

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_rpc::proto::sui::rpc::v2::ledger_service_server::LedgerService;
use sui_rpc::proto::sui::rpc::v2::state_service_server::StateService;
use sui_rpc::proto::sui::rpc::v2::subscription_service_server::SubscriptionService;
use sui_rpc::proto::sui::rpc::v2::transaction_execution_service_server::TransactionExecutionService;
use sui_sdk_types::{Address, Digest, Object, StructTag};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::events::{Filter, Frame, ListQuery, Position, checkpoint_events};
use crate::execute::RejectError;
use crate::gas::REFERENCE_GAS_PRICE;
use crate::ledger::{EPOCH, Ledger, LedgerError};
use crate::object;
use crate::store::{StoredCheckpoint, StoredTransaction};

/// A boxed stream of gRPC answers.
type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Name the devnet gives its chain in `GetServiceInfo`.
pub const CHAIN_NAME: &str = "k3s-daas-devnet";

/// Largest page `ListOwnedObjects` returns.
const MAX_PAGE: usize = 1000;

/// The gRPC service: one value implements every `sui.rpc.v2` service the
/// devnet serves.
#[derive(Debug, Clone)]
pub struct DevnetService {
    ledger: Arc<Ledger>,
    stopping: watch::Receiver<bool>,
    event_index: bool,
}

impl DevnetService {
    /// A service over `ledger`; its subscriptions end when `stopping`
    /// turns true (server shutdown).
    pub fn new(ledger: Arc<Ledger>, stopping: watch::Receiver<bool>) -> Self {
        Self {
            ledger,
            stopping,
            event_index: true,
        }
    }

    /// Whether `ListEvents` and `SubscribeEvents` are served (default);
    /// without, they answer `UNIMPLEMENTED` like a full node without the
    /// event index.
    #[must_use]
    pub fn with_event_index(mut self, event_index: bool) -> Self {
        self.event_index = event_index;
        self
    }

    fn require_event_index(&self, method: &str) -> Result<(), Status> {
        if self.event_index {
            Ok(())
        } else {
            Err(unimplemented(method))
        }
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, Status>
    where
        T: Send + 'static,
        F: FnOnce(&Ledger) -> Result<T, LedgerError> + Send + 'static,
    {
        let ledger = Arc::clone(&self.ledger);
        tokio::task::spawn_blocking(move || f(&ledger))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "ledger task failed");
                Status::internal("ledger task failed")
            })?
            .map_err(status)
    }
}

/// Maps a ledger error to a gRPC status: rejections are the caller's
/// fault, store failures are logged and reported as internal.
fn status(error: LedgerError) -> Status {
    match error {
        LedgerError::Rejected(RejectError::Store(e)) | LedgerError::Store(e) => {
            tracing::error!(error = %e, "store failure");
            Status::internal("devnet storage failure")
        }
        LedgerError::Rejected(e @ RejectError::ObjectNotFound(_)) => {
            Status::not_found(e.to_string())
        }
        LedgerError::Rejected(
            e @ (RejectError::StaleObject { .. }
            | RejectError::InsufficientGasBalance { .. }
            | RejectError::SharedVersion { .. }),
        ) => Status::failed_precondition(e.to_string()),
        LedgerError::Rejected(
            e @ (RejectError::SignatureCount(_)
            | RejectError::SignerMismatch { .. }
            | RejectError::BadSignature(_)
            | RejectError::UnsupportedScheme(_)),
        ) => Status::unauthenticated(e.to_string()),
        LedgerError::Rejected(e) => Status::invalid_argument(e.to_string()),
        other => {
            tracing::error!(error = %other, "ledger failure");
            Status::internal(other.to_string())
        }
    }
}

fn parse_address(field: &str, value: Option<&str>) -> Result<Address, Status> {
    let value = value.ok_or_else(|| Status::invalid_argument(format!("missing {field}")))?;
    value
        .parse()
        .map_err(|e| Status::invalid_argument(format!("{field} {value:?} is not an address: {e}")))
}

fn parse_digest(field: &str, value: Option<&str>) -> Result<Digest, Status> {
    let value = value.ok_or_else(|| Status::invalid_argument(format!("missing {field}")))?;
    value
        .parse()
        .map_err(|e| Status::invalid_argument(format!("{field} {value:?} is not a digest: {e}")))
}

fn timestamp(ms: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
        nanos: i32::try_from((ms % 1000) * 1_000_000).unwrap_or(0),
    }
}

/// The proto form of a stored object.
pub fn object_proto(object: Object) -> proto::Object {
    proto::Object::from(object)
}

/// The proto form of an executed transaction.
pub fn executed_proto(digest: Digest, record: StoredTransaction) -> proto::ExecutedTransaction {
    let mut out = proto::ExecutedTransaction::default();
    out.digest = Some(digest.to_string());
    out.transaction = Some(proto::Transaction::from(record.transaction));
    out.signatures = record
        .signatures
        .into_iter()
        .map(proto::UserSignature::from)
        .collect();
    let mut effects = proto::TransactionEffects::from(record.effects);
    let types: std::collections::BTreeMap<String, String> = record
        .input_objects
        .iter()
        .chain(&record.output_objects)
        .filter_map(|o| {
            o.as_struct()
                .map(|s| (o.object_id().to_string(), s.object_type().to_string()))
        })
        .collect();
    for changed in effects
        .changed_objects
        .iter_mut()
        .chain(effects.gas_object.iter_mut())
    {
        if changed.object_type.is_none() {
            changed.object_type = changed
                .object_id
                .as_ref()
                .and_then(|id| types.get(id))
                .cloned();
        }
    }
    out.effects = Some(effects);
    let mut events = proto::TransactionEvents::from(
        record
            .events
            .unwrap_or(sui_sdk_types::TransactionEvents(Vec::new())),
    );
    if events.events.is_empty() {
        events.digest = None;
    }
    out.events = Some(events);
    out.checkpoint = Some(record.checkpoint);
    out.timestamp = Some(timestamp(record.timestamp_ms));
    let mut objects = proto::ObjectSet::default();
    objects.objects = record
        .input_objects
        .into_iter()
        .chain(record.output_objects)
        .map(proto::Object::from)
        .collect();
    objects.sort_objects();
    out.objects = Some(objects);
    out
}

/// The proto form of a checkpoint with its transactions.
fn checkpoint_proto(
    ledger: &Ledger,
    stored: StoredCheckpoint,
) -> Result<proto::Checkpoint, LedgerError> {
    let mut out = proto::Checkpoint::default();
    out.sequence_number = Some(stored.summary.sequence_number);
    out.digest = Some(stored.summary.digest().to_string());
    let mut transactions = Vec::new();
    for info in stored.contents.transactions() {
        let digest = *info.transaction();
        if let Some(record) = ledger.store().transaction(&digest)? {
            transactions.push(executed_proto(digest, record));
        }
    }
    out.summary = Some(proto::CheckpointSummary::from(stored.summary));
    out.contents = Some(proto::CheckpointContents::from(stored.contents));
    out.transactions = transactions;
    Ok(out)
}

fn unimplemented(method: &str) -> Status {
    Status::unimplemented(format!("{method} is not implemented by the devnet"))
}

#[tonic::async_trait]
impl LedgerService for DevnetService {
    async fn get_service_info(
        &self,
        _request: Request<proto::GetServiceInfoRequest>,
    ) -> Result<Response<proto::GetServiceInfoResponse>, Status> {
        let chain = self.ledger.chain_id();
        let latest = self
            .blocking(|l| Ok(l.store().latest_checkpoint()?))
            .instrument(tracing::info_span!("GetServiceInfo"))
            .await?;
        let mut out = proto::GetServiceInfoResponse::default();
        out.chain_id = Some(chain.to_string());
        out.chain = Some(CHAIN_NAME.to_owned());
        out.epoch = Some(EPOCH);
        out.checkpoint_height = latest.as_ref().map(|c| c.summary.sequence_number);
        out.timestamp = latest.as_ref().map(|c| timestamp(c.summary.timestamp_ms));
        out.lowest_available_checkpoint = Some(0);
        out.lowest_available_checkpoint_objects = Some(0);
        out.server = Some(format!("daas-devnet/{}", env!("CARGO_PKG_VERSION")));
        Ok(Response::new(out))
    }

    async fn get_object(
        &self,
        request: Request<proto::GetObjectRequest>,
    ) -> Result<Response<proto::GetObjectResponse>, Status> {
        let request = request.into_inner();
        let id = parse_address("object_id", request.object_id.as_deref())?;
        let version = request.version;
        let span = tracing::info_span!("GetObject", %id, ?version);
        let object = self
            .blocking(move |l| {
                Ok(match version {
                    Some(v) => l.store().object_at(&id, v)?,
                    None => l.store().object(&id)?,
                })
            })
            .instrument(span)
            .await?;
        let object = object.ok_or_else(|| match version {
            Some(v) => Status::not_found(format!("object {id} version {v} not found")),
            None => Status::not_found(format!("object {id} not found")),
        })?;
        let mut out = proto::GetObjectResponse::default();
        out.object = Some(object_proto(object));
        Ok(Response::new(out))
    }

    async fn batch_get_objects(
        &self,
        request: Request<proto::BatchGetObjectsRequest>,
    ) -> Result<Response<proto::BatchGetObjectsResponse>, Status> {
        let request = request.into_inner();
        let mut wanted = Vec::with_capacity(request.requests.len());
        for r in &request.requests {
            wanted.push((
                parse_address("object_id", r.object_id.as_deref())?,
                r.version,
            ));
        }
        let span = tracing::info_span!("BatchGetObjects", count = wanted.len());
        let found = self
            .blocking(move |l| {
                let mut out = Vec::with_capacity(wanted.len());
                for (id, version) in wanted {
                    let o = match version {
                        Some(v) => l.store().object_at(&id, v)?,
                        None => l.store().object(&id)?,
                    };
                    out.push((id, version, o));
                }
                Ok(out)
            })
            .instrument(span)
            .await?;
        let mut out = proto::BatchGetObjectsResponse::default();
        out.objects = found
            .into_iter()
            .map(|(id, version, o)| {
                let mut result = proto::GetObjectResult::default();
                result.result = Some(match o {
                    Some(o) => proto::get_object_result::Result::Object(object_proto(o)),
                    None => {
                        let message = match version {
                            Some(v) => format!("object {id} version {v} not found"),
                            None => format!("object {id} not found"),
                        };
                        proto::get_object_result::Result::Error(
                            sui_rpc::proto::google::rpc::Status {
                                code: tonic::Code::NotFound as i32,
                                message,
                                ..Default::default()
                            },
                        )
                    }
                });
                result
            })
            .collect();
        Ok(Response::new(out))
    }

    async fn get_transaction(
        &self,
        request: Request<proto::GetTransactionRequest>,
    ) -> Result<Response<proto::GetTransactionResponse>, Status> {
        let request = request.into_inner();
        let digest = parse_digest("digest", request.digest.as_deref())?;
        let record = self
            .blocking(move |l| Ok(l.store().transaction(&digest)?))
            .instrument(tracing::info_span!("GetTransaction", %digest))
            .await?
            .ok_or_else(|| Status::not_found(format!("transaction {digest} not found")))?;
        let mut out = proto::GetTransactionResponse::default();
        out.transaction = Some(executed_proto(digest, record));
        Ok(Response::new(out))
    }

    async fn batch_get_transactions(
        &self,
        _request: Request<proto::BatchGetTransactionsRequest>,
    ) -> Result<Response<proto::BatchGetTransactionsResponse>, Status> {
        Err(unimplemented("BatchGetTransactions"))
    }

    async fn get_checkpoint(
        &self,
        request: Request<proto::GetCheckpointRequest>,
    ) -> Result<Response<proto::GetCheckpointResponse>, Status> {
        let request = request.into_inner();
        let id = request.checkpoint_id.clone();
        let span = tracing::info_span!("GetCheckpoint", ?id);
        let checkpoint = self
            .blocking(move |l| {
                let stored = match id {
                    Some(proto::get_checkpoint_request::CheckpointId::SequenceNumber(n)) => {
                        l.store().checkpoint(n)?
                    }
                    Some(proto::get_checkpoint_request::CheckpointId::Digest(d)) => {
                        let Ok(digest) = d.parse::<Digest>() else {
                            return Ok(Err(Status::invalid_argument(format!(
                                "checkpoint digest {d:?} is not a digest"
                            ))));
                        };
                        find_checkpoint_by_digest(l, &digest)?
                    }
                    _ => l.store().latest_checkpoint()?,
                };
                match stored {
                    Some(s) => Ok(Ok(checkpoint_proto(l, s)?)),
                    None => Ok(Err(Status::not_found("checkpoint not found"))),
                }
            })
            .instrument(span)
            .await??;
        let mut out = proto::GetCheckpointResponse::default();
        out.checkpoint = Some(checkpoint);
        Ok(Response::new(out))
    }

    async fn get_epoch(
        &self,
        request: Request<proto::GetEpochRequest>,
    ) -> Result<Response<proto::GetEpochResponse>, Status> {
        let request = request.into_inner();
        if let Some(e) = request.epoch.filter(|e| *e != EPOCH) {
            return Err(Status::not_found(format!(
                "epoch {e} not found: the devnet has only epoch {EPOCH}"
            )));
        }
        let genesis = self
            .blocking(|l| Ok(l.store().checkpoint(0)?))
            .instrument(tracing::info_span!("GetEpoch"))
            .await?;
        let mut epoch = proto::Epoch::default();
        epoch.epoch = Some(EPOCH);
        epoch.first_checkpoint = Some(0);
        epoch.start = genesis.map(|g| timestamp(g.summary.timestamp_ms));
        epoch.reference_gas_price = Some(REFERENCE_GAS_PRICE);
        let mut out = proto::GetEpochResponse::default();
        out.epoch = Some(epoch);
        Ok(Response::new(out))
    }

    async fn list_checkpoints(
        &self,
        _request: Request<proto::ListCheckpointsRequest>,
    ) -> Result<Response<BoxStream<proto::ListCheckpointsResponse>>, Status> {
        Err(unimplemented("ListCheckpoints"))
    }

    async fn list_transactions(
        &self,
        _request: Request<proto::ListTransactionsRequest>,
    ) -> Result<Response<BoxStream<proto::ListTransactionsResponse>>, Status> {
        Err(unimplemented("ListTransactions"))
    }

    async fn list_events(
        &self,
        request: Request<proto::ListEventsRequest>,
    ) -> Result<Response<BoxStream<proto::ListEventsResponse>>, Status> {
        self.require_event_index("ListEvents")?;
        let query = ListQuery::parse(request.get_ref())?;
        let span = tracing::info_span!("ListEvents", start = query.start, after = ?query.after);
        let frames = self
            .blocking(move |l| query.run(l))
            .instrument(span)
            .await?;
        let frames = frames.into_iter().map(|f| Ok(f.into_list()));
        Ok(Response::new(Box::pin(futures::stream::iter(frames))))
    }
}

fn find_checkpoint_by_digest(
    ledger: &Ledger,
    digest: &Digest,
) -> Result<Option<StoredCheckpoint>, LedgerError> {
    let Some(latest) = ledger.store().latest_checkpoint()? else {
        return Ok(None);
    };
    let mut sequence = latest.summary.sequence_number;
    loop {
        if let Some(c) = ledger.store().checkpoint(sequence)?
            && c.summary.digest() == *digest
        {
            return Ok(Some(c));
        }
        if sequence == 0 {
            return Ok(None);
        }
        sequence -= 1;
    }
}

#[tonic::async_trait]
impl StateService for DevnetService {
    async fn list_dynamic_fields(
        &self,
        _request: Request<proto::ListDynamicFieldsRequest>,
    ) -> Result<Response<proto::ListDynamicFieldsResponse>, Status> {
        Err(unimplemented("ListDynamicFields"))
    }

    async fn list_owned_objects(
        &self,
        request: Request<proto::ListOwnedObjectsRequest>,
    ) -> Result<Response<proto::ListOwnedObjectsResponse>, Status> {
        let request = request.into_inner();
        let owner = parse_address("owner", request.owner.as_deref())?;
        let type_filter: Option<StructTag> = match request.object_type.as_deref() {
            None | Some("") => None,
            Some(t) => Some(t.parse().map_err(|e| {
                Status::invalid_argument(format!("object_type {t:?} is not a struct type: {e}"))
            })?),
        };
        let after = match request.page_token.as_deref() {
            None | Some([]) => None,
            Some(token) => Some(Address::from_bytes(token).map_err(|_| {
                Status::invalid_argument("page_token is not one this devnet issued")
            })?),
        };
        let page_size = request
            .page_size
            .map(|p| usize::try_from(p).unwrap_or(MAX_PAGE))
            .filter(|p| *p > 0)
            .unwrap_or(50)
            .min(MAX_PAGE);
        let span = tracing::info_span!("ListOwnedObjects", %owner);
        let (objects, next) = self
            .blocking(move |l| {
                let mut out = Vec::new();
                let mut cursor = after;
                loop {
                    let batch = l
                        .store()
                        .owned_objects(&owner, cursor.as_ref(), page_size)?;
                    let Some(last) = batch.last() else {
                        return Ok((out, None));
                    };
                    cursor = Some(last.object_id());
                    for o in batch {
                        let keep = match (&type_filter, o.as_struct()) {
                            (None, _) => true,
                            (Some(t), Some(s)) => type_matches(t, s.object_type()),
                            (Some(_), None) => false,
                        };
                        if keep {
                            out.push(o);
                        }
                        if out.len() == page_size {
                            return Ok((out, cursor));
                        }
                    }
                }
            })
            .instrument(span)
            .await?;
        let mut out = proto::ListOwnedObjectsResponse::default();
        out.next_page_token = next
            .filter(|_| objects.len() == page_size)
            .map(|a| prost::bytes::Bytes::copy_from_slice(a.as_bytes()));
        out.objects = objects.into_iter().map(object_proto).collect();
        Ok(Response::new(out))
    }

    async fn get_coin_info(
        &self,
        _request: Request<proto::GetCoinInfoRequest>,
    ) -> Result<Response<proto::GetCoinInfoResponse>, Status> {
        Err(unimplemented("GetCoinInfo"))
    }

    async fn get_balance(
        &self,
        request: Request<proto::GetBalanceRequest>,
    ) -> Result<Response<proto::GetBalanceResponse>, Status> {
        let request = request.into_inner();
        let owner = parse_address("owner", request.owner.as_deref())?;
        let sui = object::sui_type();
        if let Some(t) = request.coin_type.as_deref() {
            let parsed: sui_sdk_types::TypeTag = t.parse().map_err(|e| {
                Status::invalid_argument(format!("coin_type {t:?} is not a type: {e}"))
            })?;
            if parsed != sui {
                return Err(Status::invalid_argument(format!(
                    "coin_type {t}: the devnet only has 0x2::sui::SUI"
                )));
            }
        }
        let (balance, _) = self
            .blocking(move |l| l.sui_balance(&owner))
            .instrument(tracing::info_span!("GetBalance", %owner))
            .await?;
        let mut b = proto::Balance::default();
        b.coin_type = Some(sui.to_string());
        b.balance = Some(balance);
        b.coin_balance = Some(balance);
        b.address_balance = Some(0);
        let mut out = proto::GetBalanceResponse::default();
        out.balance = Some(b);
        Ok(Response::new(out))
    }

    async fn list_balances(
        &self,
        _request: Request<proto::ListBalancesRequest>,
    ) -> Result<Response<proto::ListBalancesResponse>, Status> {
        Err(unimplemented("ListBalances"))
    }
}

/// Whether `actual` matches the filter `wanted`; a filter without type
/// parameters matches every instantiation.
fn type_matches(wanted: &StructTag, actual: &StructTag) -> bool {
    if wanted.type_params().is_empty() {
        wanted.address() == actual.address()
            && wanted.module() == actual.module()
            && wanted.name() == actual.name()
    } else {
        wanted == actual
    }
}

fn decode_transaction(
    transaction: Option<&proto::Transaction>,
) -> Result<sui_sdk_types::Transaction, Status> {
    let transaction = transaction.ok_or_else(|| Status::invalid_argument("missing transaction"))?;
    sui_sdk_types::Transaction::try_from(transaction)
        .map_err(|e| Status::invalid_argument(format!("transaction cannot be decoded: {e}")))
}

#[tonic::async_trait]
impl TransactionExecutionService for DevnetService {
    async fn execute_transaction(
        &self,
        request: Request<proto::ExecuteTransactionRequest>,
    ) -> Result<Response<proto::ExecuteTransactionResponse>, Status> {
        let request = request.into_inner();
        let transaction = decode_transaction(request.transaction.as_ref())?;
        let mut signatures = Vec::with_capacity(request.signatures.len());
        for (i, s) in request.signatures.iter().enumerate() {
            signatures.push(sui_sdk_types::UserSignature::try_from(s).map_err(|e| {
                Status::invalid_argument(format!("signature {i} cannot be decoded: {e}"))
            })?);
        }
        let digest = transaction.digest();
        let span = tracing::info_span!("ExecuteTransaction", %digest, sender = %transaction.sender);
        let submitted = self
            .blocking(move |l| l.submit(&transaction, &signatures))
            .instrument(span)
            .await?;
        let mut out = proto::ExecuteTransactionResponse::default();
        out.transaction = Some(executed_proto(submitted.digest, submitted.record));
        Ok(Response::new(out))
    }

    async fn simulate_transaction(
        &self,
        request: Request<proto::SimulateTransactionRequest>,
    ) -> Result<Response<proto::SimulateTransactionResponse>, Status> {
        let request = request.into_inner();
        let transaction = decode_transaction(request.transaction.as_ref())?;
        let digest = transaction.digest();
        let span = tracing::info_span!("SimulateTransaction", %digest);
        let tx = transaction.clone();
        let executed = self
            .blocking(move |l| l.simulate(&tx))
            .instrument(span)
            .await?;
        let record = StoredTransaction {
            transaction,
            signatures: Vec::new(),
            effects: executed.effects,
            events: executed.events,
            checkpoint: 0,
            timestamp_ms: 0,
            input_objects: executed.input_objects,
            output_objects: executed.written,
        };
        let mut executed = executed_proto(digest, record);
        executed.checkpoint = None;
        executed.timestamp = None;
        let mut out = proto::SimulateTransactionResponse::default();
        out.transaction = Some(executed);
        out.suggested_gas_price = Some(REFERENCE_GAS_PRICE);
        Ok(Response::new(out))
    }
}

#[tonic::async_trait]
impl SubscriptionService for DevnetService {
    async fn subscribe_checkpoints(
        &self,
        _request: Request<proto::SubscribeCheckpointsRequest>,
    ) -> Result<Response<BoxStream<proto::SubscribeCheckpointsResponse>>, Status> {
        let ledger = Arc::clone(&self.ledger);
        let mut receiver = ledger.subscribe();
        let mut stopping = self.stopping.clone();
        let stream = async_stream(move |tx| async move {
            loop {
                let Some(sequence) = next_checkpoint(
                    &mut receiver,
                    &mut stopping,
                    &tx,
                    "resubscribe and replay with GetCheckpoint",
                )
                .await
                else {
                    return;
                };
                let l = Arc::clone(&ledger);
                let checkpoint = tokio::task::spawn_blocking(move || {
                    l.store()
                        .checkpoint(sequence)
                        .map_err(LedgerError::from)
                        .and_then(|c| c.map(|c| checkpoint_proto(&l, c)).transpose())
                })
                .await;
                let item = match checkpoint {
                    Ok(Ok(Some(c))) => {
                        let mut r = proto::SubscribeCheckpointsResponse::default();
                        r.cursor = Some(sequence);
                        r.checkpoint = Some(c);
                        Ok(r)
                    }
                    Ok(Ok(None)) => continue,
                    Ok(Err(e)) => Err(status(e)),
                    Err(_) => Err(Status::internal("ledger task failed")),
                };
                if tx.send(item).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(stream))
    }

    async fn subscribe_transactions(
        &self,
        _request: Request<proto::SubscribeTransactionsRequest>,
    ) -> Result<Response<BoxStream<proto::SubscribeTransactionsResponse>>, Status> {
        Err(unimplemented("SubscribeTransactions"))
    }

    /// Streams the matching events of every checkpoint from the next one
    /// on, then a frame with the watermark after each checkpoint (so a
    /// subscriber of a quiet filter still sees progress).
    async fn subscribe_events(
        &self,
        request: Request<proto::SubscribeEventsRequest>,
    ) -> Result<Response<BoxStream<proto::SubscribeEventsResponse>>, Status> {
        self.require_event_index("SubscribeEvents")?;
        let filter = Filter::parse(request.get_ref().filter.as_ref())?;
        let ledger = Arc::clone(&self.ledger);
        let mut receiver = ledger.subscribe();
        let mut stopping = self.stopping.clone();
        let stream = async_stream(move |tx| async move {
            loop {
                let Some(sequence) = next_checkpoint(
                    &mut receiver,
                    &mut stopping,
                    &tx,
                    "resume with ListEvents from the last watermark",
                )
                .await
                else {
                    return;
                };
                let l = Arc::clone(&ledger);
                let f = filter.clone();
                let read =
                    tokio::task::spawn_blocking(move || checkpoint_events(&l, sequence, &f, None))
                        .await;
                let events = match read {
                    Ok(Ok(events)) => events,
                    Ok(Err(e)) => {
                        let _ = tx.send(Err(status(e))).await;
                        return;
                    }
                    Err(_) => {
                        let _ = tx.send(Err(Status::internal("ledger task failed"))).await;
                        return;
                    }
                };
                let covered = sequence.checked_sub(1);
                let frames = events
                    .into_iter()
                    .map(|(cursor, event)| Frame {
                        event: Some(event),
                        cursor,
                        covered,
                        end: None,
                    })
                    .chain(std::iter::once(Frame {
                        event: None,
                        cursor: Position::end_of(sequence),
                        covered: Some(sequence),
                        end: None,
                    }));
                for frame in frames {
                    if tx.send(Ok(frame.into_subscribe())).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(stream))
    }
}

/// The next checkpoint a subscription streams, or `None` when it ends: the
/// devnet is stopping, the ledger is gone, or the subscriber fell behind
/// (told so, with `resume` saying how to catch up).
async fn next_checkpoint<T>(
    receiver: &mut broadcast::Receiver<u64>,
    stopping: &mut watch::Receiver<bool>,
    tx: &tokio::sync::mpsc::Sender<Result<T, Status>>,
    resume: &str,
) -> Option<u64> {
    let next = tokio::select! {
        next = receiver.recv() => next,
        _ = stopping.wait_for(|s| *s) => return None,
    };
    match next {
        Ok(sequence) => Some(sequence),
        Err(RecvError::Lagged(n)) => {
            let _ = tx
                .send(Err(Status::data_loss(format!(
                    "subscriber fell {n} checkpoints behind; {resume}"
                ))))
                .await;
            None
        }
        Err(RecvError::Closed) => None,
    }
}

/// A stream fed by a task that sends into a channel; the task ends when the
/// client goes away.
fn async_stream<T, F, Fut>(producer: F) -> BoxStream<T>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<Result<T, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(producer(tx).instrument(tracing::info_span!("subscription")));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// Services the devnet registers only so that every call names the method
/// it does not implement.
macro_rules! unimplemented_service {
    ($trait:path { $($method:ident($request:ident) -> $response:ident = $name:literal;)* }) => {
        #[tonic::async_trait]
        impl $trait for DevnetService {
            $(
                async fn $method(
                    &self,
                    _request: Request<proto::$request>,
                ) -> Result<Response<proto::$response>, Status> {
                    Err(unimplemented($name))
                }
            )*
        }
    };
}

unimplemented_service!(proto::move_package_service_server::MovePackageService {
    get_package(GetPackageRequest) -> GetPackageResponse = "GetPackage";
    get_datatype(GetDatatypeRequest) -> GetDatatypeResponse = "GetDatatype";
    get_function(GetFunctionRequest) -> GetFunctionResponse = "GetFunction";
    list_package_versions(ListPackageVersionsRequest) -> ListPackageVersionsResponse = "ListPackageVersions";
});

unimplemented_service!(proto::name_service_server::NameService {
    lookup_name(LookupNameRequest) -> LookupNameResponse = "LookupName";
    reverse_lookup_name(ReverseLookupNameRequest) -> ReverseLookupNameResponse = "ReverseLookupName";
});

unimplemented_service!(proto::signature_verification_service_server::SignatureVerificationService {
    verify_signature(VerifySignatureRequest) -> VerifySignatureResponse = "VerifySignature";
});
