//! A batch whose store write fails: share changes answer COORDINATOR_NOT_AVAILABLE (Kafka's
//! answer when its persister cannot write a share state) and memory goes back to what the
//! store holds, so that nothing answered as done is lost and nothing undone is answered.

use std::collections::BTreeMap;

use super::*;
use crate::group::share::partition::{Ack, AcquireMode, Span, ACCEPT};
use crate::group::share::ShareHeartbeat;
use crate::store::flaky::Flaky;

fn config() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    }
}

fn session(
    epoch: i32,
    fetch: Option<Vec<ShareKey>>,
    acks: Vec<(ShareKey, Vec<Ack>)>,
) -> SessionRequest {
    SessionRequest {
        group_id: "g".into(),
        member_id: "m".into(),
        epoch,
        connection: 1,
        fetch,
        forgotten: Vec::new(),
        acks,
    }
}

#[tokio::test]
async fn a_failed_write_answers_share_changes_unavailable_and_rolls_memory_back() {
    let flaky = Arc::new(Flaky::default());
    let store: Arc<dyn KvStore> = flaky.clone();
    let earliest = [(
        "share.auto.offset.reset".to_string(),
        "earliest".to_string(),
    )];
    GroupConfigs::open(store.clone())
        .unwrap()
        .set("g", BTreeMap::from(earliest))
        .unwrap();
    let c = GroupCoordinator::open(store, config()).unwrap();
    let settings = c.share_settings("g");
    let topic = uuid::Uuid::from_u128(3);
    let lookup: TopicLookup = Arc::new(move |name: &str| (name == "t").then_some((topic, 2)));
    let join = ShareHeartbeat {
        member_id: "m".into(),
        epoch: 0,
        subscribed_topic_names: Some(vec!["t".into()]),
        ..Default::default()
    };
    c.share_heartbeat("g".into(), join, lookup).await.unwrap();
    let (p0, p1) = ((topic, 0), (topic, 1));
    let bounds = LogBounds {
        log_start: 0,
        high_watermark: 3,
    };
    let log = vec![Span {
        first: 0,
        last: 2,
        skip: false,
    }];
    let limit = FetchLimit {
        max_records: 10,
        mode: AcquireMode::BatchOptimized,
    };
    let acquire = || {
        c.share_acquire(
            "g".into(),
            "m".into(),
            vec![(p0, log.clone())],
            limit,
            settings,
        )
    };
    let got = |r: Vec<Vec<crate::group::share::partition::Acquired>>| -> Vec<(i64, i64, i16)> {
        r.iter()
            .flatten()
            .map(|a| (a.first, a.last, a.delivery_count))
            .collect()
    };
    let opened = c
        .share_session(session(0, Some(vec![p0]), vec![]), settings)
        .await;
    assert_eq!(opened.unwrap().fetch, vec![p0]);
    let prepared = c
        .share_prepare("g".into(), vec![(p0, bounds)], settings)
        .await;
    assert_eq!(prepared, Ok(vec![0]));
    assert_eq!(got(acquire().await.unwrap()), vec![(0, 2, 1)]);

    flaky.set_failing(true);
    // The acknowledgement is not stored: not done, and memory does not claim it.
    let accept = vec![(
        p0,
        vec![Ack {
            first: 0,
            last: 1,
            types: vec![ACCEPT],
        }],
    )];
    let outcome = c
        .share_session(session(1, Some(vec![p0]), accept), settings)
        .await;
    assert_eq!(
        outcome.unwrap().acks,
        vec![(p0, Err(E::CoordinatorNotAvailable))]
    );
    assert_eq!(c.share_offsets("g".into()).await.unwrap()[&p0].0, 0);
    // Nor is a new partition's start, nor an acquisition.
    let prepared = c
        .share_prepare("g".into(), vec![(p1, bounds)], settings)
        .await;
    assert_eq!(prepared, Err(E::CoordinatorNotAvailable));
    assert_eq!(acquire().await, Err(E::CoordinatorNotAvailable));
    let offsets = c.share_offsets("g".into()).await.unwrap();
    assert_eq!(offsets.keys().copied().collect::<Vec<_>>(), vec![p0]);

    flaky.set_failing(false);
    // What the store holds: records 0-2 available after one delivery (the acquisition that
    // failed to be stored is gone with its locks), so they come again as the second.
    assert_eq!(got(acquire().await.unwrap()), vec![(0, 2, 2)]);
    let accept = vec![(
        p0,
        vec![Ack {
            first: 0,
            last: 1,
            types: vec![ACCEPT],
        }],
    )];
    let outcome = c
        .share_session(session(2, Some(vec![p0]), accept), settings)
        .await;
    assert_eq!(outcome.unwrap().acks, vec![(p0, Ok(()))]);
    assert_eq!(c.share_offsets("g".into()).await.unwrap()[&p0].0, 2);
    c.shutdown();
}
