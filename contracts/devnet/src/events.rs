//! `ListEvents` and `SubscribeEvents`: the ledger's events in chain order,
//! filtered by `sui.rpc.v2`'s event DNF filter, with resumable cursors.
//!
//! Every event has a position `(checkpoint, transaction index, event
//! index)`, the order Sui fixes. A cursor is that position as 20 bytes,
//! big-endian (`u64 ‖ u64 ‖ u32`); the cursor "after every event of
//! checkpoint `c`" is `(c, u64::MAX, u32::MAX)`. Clients treat cursors as
//! opaque, as they must with a real full node; the devnet only promises
//! that the last watermark it sent is a safe place to resume.
//!
//! Supported filter predicates: event type and emitting module (every
//! specificity level of the proto: address, module, name, instantiation)
//! and sender, each optionally negated. The event-stream-head predicate is
//! refused as unimplemented: the devnet has no authenticated event streams.

use std::str::FromStr;

use prost::bytes::Bytes;
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_rpc::proto::sui::rpc::v2::event_literal::Predicate;
use sui_sdk_types::{Address, Event};
use tonic::Status;

use crate::ledger::{Ledger, LedgerError};

/// Items a `ListEvents` answer carries when the request names no limit.
pub const DEFAULT_LIMIT: u32 = 50;
/// Most items one `ListEvents` answer carries.
pub const MAX_LIMIT: u32 = 1000;
/// Most checkpoints one `ListEvents` request scans before it ends with
/// `QUERY_END_REASON_SCAN_LIMIT`.
pub const SCAN_LIMIT: u64 = 10_000;

/// Position of an event: checkpoint, transaction index, event index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// Checkpoint sequence number.
    pub checkpoint: u64,
    /// Index of the transaction within the checkpoint.
    pub transaction: u64,
    /// Index of the event within the transaction.
    pub event: u32,
}

impl Position {
    const LEN: usize = 20;

    /// The position after every event of `checkpoint`.
    pub const fn end_of(checkpoint: u64) -> Self {
        Self {
            checkpoint,
            transaction: u64::MAX,
            event: u32::MAX,
        }
    }

    /// The cursor bytes.
    pub fn encode(self) -> Bytes {
        let mut out = Vec::with_capacity(Self::LEN);
        out.extend_from_slice(&self.checkpoint.to_be_bytes());
        out.extend_from_slice(&self.transaction.to_be_bytes());
        out.extend_from_slice(&self.event.to_be_bytes());
        Bytes::from(out)
    }

    /// Parses cursor bytes the devnet issued.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` naming `field` when they are not 20 bytes.
    pub fn decode(field: &str, bytes: &[u8]) -> Result<Self, Status> {
        let bad =
            || Status::invalid_argument(format!("{field} is not a cursor this devnet issued"));
        if bytes.len() != Self::LEN {
            return Err(bad());
        }
        let (checkpoint, rest) = bytes.split_at(8);
        let (transaction, event) = rest.split_at(8);
        Ok(Self {
            checkpoint: u64::from_be_bytes(checkpoint.try_into().map_err(|_| bad())?),
            transaction: u64::from_be_bytes(transaction.try_into().map_err(|_| bad())?),
            event: u32::from_be_bytes(event.try_into().map_err(|_| bad())?),
        })
    }
}

/// A Move path of one to three `::` parts plus optional type parameters,
/// as the type and module predicates take them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MovePath {
    address: Address,
    module: Option<String>,
    name: Option<String>,
    /// The whole text, when it has type parameters (matched exactly).
    instantiation: Option<String>,
}

impl MovePath {
    fn parse(field: &str, text: &str) -> Result<Self, Status> {
        let bad = |why: &str| Status::invalid_argument(format!("{field} {text:?}: {why}"));
        let (head, generic) = match text.find('<') {
            Some(at) => (&text[..at], true),
            None => (text, false),
        };
        let mut parts = head.split("::");
        let address = parts
            .next()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| bad("missing the address"))?;
        let address = Address::from_str(address).map_err(|_| bad("not an address"))?;
        let module = parts.next().map(str::to_owned);
        let name = parts.next().map(str::to_owned);
        if parts.next().is_some() || module.as_deref() == Some("") || name.as_deref() == Some("") {
            return Err(bad("expected address[::module[::Name[<params>]]]"));
        }
        if generic && name.is_none() {
            return Err(bad("type parameters need a type name"));
        }
        Ok(Self {
            address,
            module,
            name,
            instantiation: generic.then(|| text.replace(' ', "")),
        })
    }

    fn matches(&self, address: &Address, module: &str, name: Option<&str>, full: &str) -> bool {
        if self.address != *address || self.module.as_deref().is_some_and(|m| m != module) {
            return false;
        }
        match (&self.name, name) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(wanted), Some(actual)) if wanted != actual => false,
            (Some(_), Some(_)) => self
                .instantiation
                .as_ref()
                .is_none_or(|exact| *exact == full.replace(' ', "")),
        }
    }
}

/// One literal of the filter, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Literal {
    Sender(Address),
    EmitModule(MovePath),
    EventType(MovePath),
}

impl Literal {
    fn matches(&self, event: &Event) -> bool {
        match self {
            Self::Sender(sender) => event.sender == *sender,
            Self::EmitModule(path) => {
                path.matches(&event.package_id, event.module.as_str(), None, "")
            }
            Self::EventType(path) => path.matches(
                event.type_.address(),
                event.type_.module().as_str(),
                Some(event.type_.name().as_str()),
                &event.type_.to_string(),
            ),
        }
    }
}

/// The parsed DNF filter: any term, all of its literals (each maybe negated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `None`: no filter, everything matches.
    terms: Option<Vec<Vec<(bool, Literal)>>>,
}

impl Filter {
    /// Parses the request's filter.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` for a present filter without terms, a term without
    /// literals, a literal without predicate or a malformed address or path;
    /// `UNIMPLEMENTED` for the event-stream-head predicate.
    pub fn parse(filter: Option<&proto::EventFilter>) -> Result<Self, Status> {
        let Some(filter) = filter else {
            return Ok(Self::default());
        };
        if filter.terms.is_empty() {
            return Err(Status::invalid_argument(
                "filter: a present filter needs a term",
            ));
        }
        let mut terms = Vec::with_capacity(filter.terms.len());
        for (t, term) in filter.terms.iter().enumerate() {
            if term.literals.is_empty() {
                return Err(Status::invalid_argument(format!(
                    "filter.terms[{t}]: a term needs a literal"
                )));
            }
            let literals = term
                .literals
                .iter()
                .enumerate()
                .map(|(l, literal)| {
                    let field = format!("filter.terms[{t}].literals[{l}]");
                    Ok((literal.negated, parse_literal(&field, literal)?))
                })
                .collect::<Result<Vec<_>, Status>>()?;
            terms.push(literals);
        }
        Ok(Self { terms: Some(terms) })
    }

    /// Whether `event` passes.
    pub fn matches(&self, event: &Event) -> bool {
        self.terms.as_ref().is_none_or(|terms| {
            terms.iter().any(|term| {
                term.iter()
                    .all(|(negated, literal)| literal.matches(event) != *negated)
            })
        })
    }
}

fn parse_literal(field: &str, literal: &proto::EventLiteral) -> Result<Literal, Status> {
    let missing = |what: &str| Status::invalid_argument(format!("{field}: missing {what}"));
    match &literal.predicate {
        None => Err(missing("predicate")),
        Some(Predicate::Sender(sender)) => {
            let text = sender
                .address
                .as_deref()
                .ok_or_else(|| missing("address"))?;
            Address::from_str(text).map(Literal::Sender).map_err(|_| {
                Status::invalid_argument(format!("{field}: {text:?} is not an address"))
            })
        }
        Some(Predicate::EmitModule(module)) => {
            let text = module.module.as_deref().ok_or_else(|| missing("module"))?;
            let path = MovePath::parse(field, text)?;
            if path.name.is_some() {
                return Err(Status::invalid_argument(format!(
                    "{field}: {text:?} is not of the form package[::module]"
                )));
            }
            Ok(Literal::EmitModule(path))
        }
        Some(Predicate::EventType(event_type)) => {
            let text = event_type
                .event_type
                .as_deref()
                .ok_or_else(|| missing("event_type"))?;
            MovePath::parse(field, text).map(Literal::EventType)
        }
        Some(_) => Err(Status::unimplemented(format!(
            "{field}: the devnet filters by sender, emitting module and event type only"
        ))),
    }
}

/// One frame of a `ListEvents` or `SubscribeEvents` answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The matching event, if the frame carries one.
    pub event: Option<proto::Event>,
    /// The safe resume cursor.
    pub cursor: Position,
    /// The last checkpoint fully covered, if any.
    pub covered: Option<u64>,
    /// Why the answer ends, on its last frame.
    pub end: Option<proto::QueryEndReason>,
}

impl Frame {
    fn watermark(&self) -> proto::Watermark {
        let mut watermark = proto::Watermark::default();
        watermark.cursor = Some(self.cursor.encode());
        watermark.checkpoint = self.covered;
        watermark
    }

    /// As a `ListEvents` answer frame.
    pub fn into_list(self) -> proto::ListEventsResponse {
        let mut out = proto::ListEventsResponse::default();
        out.watermark = Some(self.watermark());
        out.end = self.end.map(|reason| {
            let mut end = proto::QueryEnd::default();
            end.reason = Some(reason as i32);
            end
        });
        out.event = self.event;
        out
    }

    /// As a `SubscribeEvents` answer frame.
    pub fn into_subscribe(self) -> proto::SubscribeEventsResponse {
        let mut out = proto::SubscribeEventsResponse::default();
        out.watermark = Some(self.watermark());
        out.event = self.event;
        out
    }
}

/// The matching events of checkpoint `sequence` strictly after `after`,
/// with their positions; empty when the checkpoint does not exist.
///
/// # Errors
/// The store failed.
pub fn checkpoint_events(
    ledger: &Ledger,
    sequence: u64,
    filter: &Filter,
    after: Option<Position>,
) -> Result<Vec<(Position, proto::Event)>, LedgerError> {
    let Some(checkpoint) = ledger.store().checkpoint(sequence)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (transaction, info) in checkpoint.contents.transactions().iter().enumerate() {
        let digest = *info.transaction();
        let Some(record) = ledger.store().transaction(&digest)? else {
            continue;
        };
        let Some(events) = record.events else {
            continue;
        };
        for (index, event) in events.0.into_iter().enumerate() {
            let position = Position {
                checkpoint: sequence,
                transaction: transaction as u64,
                event: u32::try_from(index).unwrap_or(u32::MAX),
            };
            if after.is_some_and(|a| position <= a) || !filter.matches(&event) {
                continue;
            }
            let mut proto_event = proto::Event::from(event);
            proto_event.checkpoint = Some(sequence);
            proto_event.transaction_digest = Some(digest.to_string());
            proto_event.transaction_index = Some(position.transaction);
            proto_event.event_index = Some(position.event);
            out.push((position, proto_event));
        }
    }
    Ok(out)
}

/// What a `ListEvents` request asks, validated.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// The filter.
    pub filter: Filter,
    /// Exclusive lower bound.
    pub after: Option<Position>,
    /// Exclusive upper bound.
    pub before: Option<Position>,
    /// First checkpoint (inclusive).
    pub start: u64,
    /// Requested end checkpoint (exclusive), if any.
    pub end: Option<u64>,
    /// Most events to return.
    pub limit: u32,
}

impl ListQuery {
    /// Validates `request`.
    ///
    /// # Errors
    /// `INVALID_ARGUMENT` naming the bad field; `UNIMPLEMENTED` for
    /// descending order.
    pub fn parse(request: &proto::ListEventsRequest) -> Result<Self, Status> {
        let filter = Filter::parse(request.filter.as_ref())?;
        let options = request.options.clone().unwrap_or_default();
        if options
            .ordering
            .is_some_and(|o| o != proto::Ordering::Ascending as i32)
        {
            return Err(Status::unimplemented(
                "options.ordering: the devnet lists events in ascending order only",
            ));
        }
        let after = options
            .after
            .as_deref()
            .map(|b| Position::decode("options.after", b))
            .transpose()?;
        let before = options
            .before
            .as_deref()
            .map(|b| Position::decode("options.before", b))
            .transpose()?;
        if let (Some(start), Some(end)) = (request.start_checkpoint, request.end_checkpoint)
            && end < start
        {
            return Err(Status::invalid_argument(format!(
                "end_checkpoint {end} is before start_checkpoint {start}"
            )));
        }
        Ok(Self {
            filter,
            after,
            before,
            start: request.start_checkpoint.unwrap_or(0),
            end: request.end_checkpoint,
            limit: options
                .limit
                .filter(|l| *l > 0)
                .unwrap_or(DEFAULT_LIMIT)
                .min(MAX_LIMIT),
        })
    }

    /// Scans the ledger up to its tip and returns every frame of the
    /// answer; the last one carries the end reason.
    ///
    /// # Errors
    /// The store failed.
    pub fn run(&self, ledger: &Ledger) -> Result<Vec<Frame>, LedgerError> {
        let tip = ledger
            .store()
            .latest_checkpoint()?
            .map_or(0, |c| c.summary.sequence_number.saturating_add(1));
        let first = self
            .after
            .map_or(self.start, |a| self.start.max(a.checkpoint));
        let (stop, bound) = match self.end {
            Some(end) if end <= tip => (end, proto::QueryEndReason::CheckpointBound),
            _ => (tip, proto::QueryEndReason::LedgerTip),
        };
        let scan_stop = stop.min(first.saturating_add(SCAN_LIMIT));
        let mut frames = Vec::new();
        let mut covered = first.checked_sub(1);
        let mut count = 0;
        for sequence in first..scan_stop {
            for (position, event) in checkpoint_events(ledger, sequence, &self.filter, self.after)?
            {
                if let Some(before) = self.before
                    && position >= before
                {
                    return Ok(finish(
                        frames,
                        before,
                        covered,
                        proto::QueryEndReason::CursorBound,
                    ));
                }
                count += 1;
                let end = (count == self.limit).then_some(proto::QueryEndReason::ItemLimit);
                frames.push(Frame {
                    event: Some(event),
                    cursor: position,
                    covered,
                    end,
                });
                if end.is_some() {
                    return Ok(frames);
                }
            }
            covered = Some(sequence);
        }
        let reason = if scan_stop < stop {
            proto::QueryEndReason::ScanLimit
        } else {
            bound
        };
        // Only an empty ledger has nothing covered and no `after`.
        let covered_cursor = Position::end_of(covered.unwrap_or(0));
        let cursor = self.after.map_or(covered_cursor, |a| a.max(covered_cursor));
        Ok(finish(frames, cursor, covered, reason))
    }
}

/// Appends the final frame.
fn finish(
    mut frames: Vec<Frame>,
    cursor: Position,
    covered: Option<u64>,
    reason: proto::QueryEndReason,
) -> Vec<Frame> {
    frames.push(Frame {
        event: None,
        cursor,
        covered,
        end: Some(reason),
    });
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_foreign_bytes() {
        let p = Position {
            checkpoint: 7,
            transaction: 1,
            event: 3,
        };
        assert_eq!(Position::decode("c", &p.encode()).unwrap(), p);
        assert!(Position::end_of(7) > p);
        let err = Position::decode("options.after", b"short").unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("options.after"), "{err}");
    }

    #[test]
    fn paths_parse_at_every_level_and_refuse_garbage() {
        let p = MovePath::parse("f", "0x2::coin::Coin<0x2::sui::SUI>").unwrap();
        assert_eq!(p.name.as_deref(), Some("Coin"));
        assert!(p.instantiation.is_some());
        assert!(MovePath::parse("f", "0x2").unwrap().module.is_none());
        for bad in ["", "zz::m", "0x2::", "0x2::m::N::x", "0x2::m<u8>"] {
            let err = MovePath::parse("f", bad).unwrap_err();
            assert_eq!(err.code(), tonic::Code::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn empty_filters_and_terms_are_refused() {
        let mut filter = proto::EventFilter::default();
        assert!(Filter::parse(Some(&filter)).is_err());
        filter.terms.push(proto::EventTerm::default());
        let err = Filter::parse(Some(&filter)).unwrap_err();
        assert!(err.message().contains("terms[0]"), "{err}");
        assert_eq!(Filter::parse(None).unwrap(), Filter::default());
    }
}
