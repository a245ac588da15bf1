//! `ListEvents` and `SubscribeEvents` over real gRPC: package/type filters,
//! paging by watermark cursor, bad requests, and the event follower's
//! fallback to checkpoints on a devnet started without the event index.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Net, address_of, key};
use daas_core::chain::{ChainClient, ChainConfig, EventFollower, FileCursorStore};
use daas_core::package::{Mist, PACKAGE_ID, Role};
use daas_devnet::{DEFAULT_FAUCET_AMOUNT, DevnetConfig};
use futures::StreamExt;
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_rpc::proto::sui::rpc::v2::event_literal::Predicate;

const SUI: u64 = 1_000_000_000;

fn type_filter(text: &str) -> proto::EventFilter {
    let mut event_type = proto::EventTypeFilter::default();
    event_type.event_type = Some(text.to_owned());
    let mut literal = proto::EventLiteral::default();
    literal.predicate = Some(Predicate::EventType(event_type));
    let mut term = proto::EventTerm::default();
    term.literals = vec![literal];
    let mut filter = proto::EventFilter::default();
    filter.terms = vec![term];
    filter
}

/// Every frame of one `ListEvents` answer.
async fn list(
    net: &mut Net,
    filter: Option<proto::EventFilter>,
    after: Option<tonic::codegen::Bytes>,
    limit: Option<u32>,
) -> Result<Vec<proto::ListEventsResponse>, tonic::Status> {
    let mut request = proto::ListEventsRequest::default();
    request.filter = filter;
    let mut options = proto::QueryOptions::default();
    options.after = after;
    options.limit = limit;
    request.options = Some(options);
    let mut stream = net
        .client
        .ledger_client()
        .list_events(request)
        .await?
        .into_inner();
    let mut frames = Vec::new();
    while let Some(frame) = stream.next().await {
        frames.push(frame?);
    }
    Ok(frames)
}

fn event_types(frames: &[proto::ListEventsResponse]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|f| f.event.as_ref()?.event_type.clone())
        .map(|t| t.rsplit("::").next().unwrap_or_default().to_owned())
        .collect()
}

fn end_reason(frames: &[proto::ListEventsResponse]) -> proto::QueryEndReason {
    frames.last().unwrap().end.unwrap().reason()
}

fn chain(net: &Net) -> ChainClient {
    ChainClient::new(ChainConfig::devnet(net.devnet.url())).unwrap()
}

/// Stakes and adds stake twice: StakeDeposited/SealTokenMinted-style
/// events of the package, three transactions.
async fn package_activity(net: &mut Net) -> ChainClient {
    let user = key(0x31);
    net.fund(address_of(&user)).await;
    let chain = chain(net);
    let minted = chain
        .stake_and_mint(&user, Mist::new(SUI), Role::User, "")
        .await
        .unwrap();
    for _ in 0..2 {
        chain
            .add_stake(&user, minted.token, Mist::new(SUI))
            .await
            .unwrap();
    }
    chain
}

#[tokio::test]
async fn list_events_filters_pages_and_resumes_by_cursor() {
    let mut net = common::start().await;
    package_activity(&mut net).await;
    let package = PACKAGE_ID.to_string();

    let all = list(&mut net, Some(type_filter(&package)), None, None)
        .await
        .unwrap();
    assert_eq!(end_reason(&all), proto::QueryEndReason::LedgerTip);
    let names = event_types(&all);
    assert_eq!(
        names.iter().filter(|n| *n == "StakeAdded").count(),
        2,
        "{names:?}"
    );
    // Every event carries its position, in chain order.
    let positions: Vec<_> = all
        .iter()
        .filter_map(|f| f.event.as_ref())
        .map(|e| {
            (
                e.checkpoint.unwrap(),
                e.transaction_index.unwrap(),
                e.event_index.unwrap(),
            )
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert!(
        all.iter()
            .all(|f| f.watermark.as_ref().unwrap().cursor.is_some())
    );

    // A type filter at name level.
    let added = list(
        &mut net,
        Some(type_filter(&format!("{package}::staking::StakeAdded"))),
        None,
        None,
    )
    .await
    .unwrap();
    assert_eq!(event_types(&added), ["StakeAdded", "StakeAdded"]);
    // Another package's address matches nothing of ours.
    let none = list(&mut net, Some(type_filter("0x2")), None, None)
        .await
        .unwrap();
    assert!(event_types(&none).is_empty());

    // Pages of one, each resumed from the last watermark, give the same
    // events exactly once.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = list(
            &mut net,
            Some(type_filter(&package)),
            after.clone(),
            Some(1),
        )
        .await
        .unwrap();
        paged.extend(event_types(&page));
        after = page.last().unwrap().watermark.clone().unwrap().cursor;
        if end_reason(&page) == proto::QueryEndReason::LedgerTip {
            break;
        }
        assert_eq!(end_reason(&page), proto::QueryEndReason::ItemLimit);
    }
    assert_eq!(paged, names);

    // Resuming from the tip's watermark gives nothing until a new event.
    let tip = list(&mut net, Some(type_filter(&package)), after.clone(), None)
        .await
        .unwrap();
    assert!(event_types(&tip).is_empty());
}

#[tokio::test]
async fn bad_list_requests_name_the_problem() {
    let mut net = common::start().await;
    let err = list(&mut net, None, Some(b"garbage".to_vec().into()), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("options.after"), "{err}");

    let err = list(&mut net, Some(type_filter("not-an-address::m")), None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("filter.terms[0].literals[0]"),
        "{err}"
    );

    let err = list(&mut net, Some(proto::EventFilter::default()), None, None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    let mut stream_head = proto::EventLiteral::default();
    stream_head.predicate = Some(Predicate::EventStreamHead(
        proto::EventStreamHeadFilter::default(),
    ));
    let mut filter = type_filter("0x2");
    filter.terms[0].literals.push(stream_head);
    let err = list(&mut net, Some(filter), None, None).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
}

#[tokio::test]
async fn subscribe_events_streams_new_matching_events_with_watermarks() {
    let mut net = common::start().await;
    let mut request = proto::SubscribeEventsRequest::default();
    request.filter = Some(type_filter(&format!("{PACKAGE_ID}::staking::StakeAdded")));
    let mut stream = net
        .client
        .subscription_client()
        .subscribe_events(request)
        .await
        .unwrap()
        .into_inner();
    package_activity(&mut net).await;
    let mut added = 0;
    while added < 2 {
        let frame = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("a frame within 10 s")
            .unwrap()
            .unwrap();
        assert!(frame.watermark.unwrap().cursor.is_some());
        if let Some(event) = frame.event {
            assert!(event.event_type.unwrap().ends_with("::staking::StakeAdded"));
            assert!(event.checkpoint.is_some() && event.transaction_digest.is_some());
            added += 1;
        }
    }
}

#[tokio::test]
async fn the_follower_reads_checkpoints_from_a_node_without_the_event_index() {
    let dir = tempfile::tempdir().unwrap();
    let devnet = daas_devnet::start(DevnetConfig {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: None,
        slasher: None,
        faucet_amount: DEFAULT_FAUCET_AMOUNT,
        insecure_dev_attestation_root: None,
        allow_debug_attestation: false,
        event_index: false,
    })
    .await
    .unwrap();
    let mut net = Net {
        client: sui_rpc::Client::new(devnet.url()).unwrap(),
        devnet,
        dir,
    };
    let err = list(&mut net, None, None, None).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);

    let chain = package_activity(&mut net).await;
    let cursor = FileCursorStore::new(net.dir.path().join("cursor.json"));
    let mut follower = EventFollower::new(chain, cursor);
    let mut names = Vec::new();
    while let Some(event) = follower.try_next().await.unwrap() {
        names.push(event.event.event_type.name().to_string());
        follower.ack(&event).await.unwrap();
    }
    assert!(!follower.uses_list_events());
    assert_eq!(
        names.iter().filter(|n| *n == "StakeAdded").count(),
        2,
        "{names:?}"
    );
    assert!(follower.stats().checkpoints_read > 0);
    // Waiting without a subscription sleeps and returns.
    follower.wait(Duration::from_millis(10)).await;
}
