//! Incremental fetch sessions (KIP-227) over the wire: what a session answers, how it ends.

use std::time::{Duration, Instant};

use super::{name, produce, TOPIC};
use crate::common::*;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;

/// A fetch in session `id` at `epoch` naming `parts` (partition, fetch offset) and forgetting
/// `forget`.
fn fetch(id: i32, epoch: i32, parts: &[(i32, i64)], forget: &[i32], wait: i32) -> FetchRequest {
    let partitions = parts
        .iter()
        .map(|(p, offset)| {
            FetchPartition::default()
                .with_partition(*p)
                .with_fetch_offset(*offset)
                .with_partition_max_bytes(1 << 20)
        })
        .collect();
    let topics = match parts.is_empty() {
        true => vec![],
        false => vec![FetchTopic::default()
            .with_topic(name(TOPIC))
            .with_partitions(partitions)],
    };
    let forgotten = match forget.is_empty() {
        true => vec![],
        false => vec![ForgottenTopic::default()
            .with_topic(name(TOPIC))
            .with_partitions(forget.to_vec())],
    };
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(wait)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_session_id(id)
        .with_session_epoch(epoch)
        .with_topics(topics)
        .with_forgotten_topics_data(forgotten)
}

/// (partition, error, high watermark, records) of each partition answered.
fn answered(resp: &FetchResponse) -> Vec<(i32, i16, i64, usize)> {
    resp.responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| {
            let records = p.records.clone().map_or(0, |r| decode_records(r).len());
            (p.partition_index, p.error_code, p.high_watermark, records)
        })
        .collect()
}

async fn send(c: &mut Client, p: i32) {
    let records = batch(&[record("k", "v", 1)], Compression::None);
    produce(c, TOPIC, p, records).await;
}

#[tokio::test]
async fn a_session_answers_only_what_changed_until_it_is_closed() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    send(&mut c, 0).await;
    // Full fetch, epoch 0: everything, and a session (partition 5 does not exist).
    let resp = c
        .call(&fetch(0, 0, &[(0, 0), (1, 0), (5, 0)], &[], 0), 12)
        .await;
    let id = resp.session_id;
    assert!(id > 0, "a session is created");
    assert_eq!(
        answered(&resp),
        vec![(0, 0, 1, 1), (1, 0, 0, 0), (5, 3, -1, 0)]
    );
    assert_eq!(
        (
            b.services.fetch_sessions.len(),
            b.services.fetch_sessions.partitions()
        ),
        (1, 3)
    );
    // Nothing new: only the erroneous partition, after the wait (it does not end it).
    let started = Instant::now();
    let resp = c.call(&fetch(id, 1, &[(0, 1)], &[], 300), 12).await;
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!((resp.error_code, resp.session_id), (0, id));
    assert_eq!(answered(&resp), vec![(5, 3, -1, 0)]);
    // Records on partition 1: it alone (with the error) is answered.
    send(&mut c, 1).await;
    let resp = c.call(&fetch(id, 2, &[], &[], 5000), 12).await;
    assert_eq!(answered(&resp), vec![(1, 0, 1, 1), (5, 3, -1, 0)]);
    // A retry of epoch 2, an unknown session: errors without partitions, session id 0.
    let resp = c.call(&fetch(id, 2, &[], &[], 0), 12).await;
    assert_eq!((resp.error_code, resp.session_id), (71, 0));
    assert!(resp.responses.is_empty());
    let resp = c.call(&fetch(id ^ 0x55, 3, &[], &[], 0), 12).await;
    assert_eq!((resp.error_code, resp.session_id), (70, 0));
    // By topic id (v13) in a session made by name.
    let resp = c.call(&fetch(id, 3, &[], &[], 0), 13).await;
    assert_eq!((resp.error_code, resp.session_id), (106, 0));
    // Forget partitions 5 and 1; a record on 1 is then not answered.
    let resp = c.call(&fetch(id, 3, &[], &[5, 1], 0), 12).await;
    assert_eq!((resp.error_code, answered(&resp)), (0, vec![]));
    assert_eq!(b.services.fetch_sessions.partitions(), 1);
    send(&mut c, 1).await;
    let resp = c.call(&fetch(id, 4, &[], &[], 100), 12).await;
    assert_eq!(answered(&resp), vec![]);
    // Forgetting the last partition closes the session.
    let resp = c.call(&fetch(id, 5, &[], &[0], 0), 12).await;
    assert_eq!((resp.error_code, resp.session_id), (0, 0));
    assert_eq!(b.services.fetch_sessions.len(), 0);
    // Epoch -1 naming a session closes it too, answered in full without one.
    let resp = c.call(&fetch(0, 0, &[(0, 0)], &[], 0), 12).await;
    let id = resp.session_id;
    assert!(id > 0);
    let resp = c.call(&fetch(id, -1, &[(0, 0)], &[], 0), 12).await;
    assert_eq!((resp.session_id, answered(&resp)), (0, vec![(0, 0, 1, 1)]));
    let resp = c.call(&fetch(id, 1, &[], &[], 0), 12).await;
    assert_eq!(resp.error_code, 70);
}

#[tokio::test]
async fn without_slots_no_session_is_created() {
    let mut config = config(None);
    config.max_incremental_fetch_session_cache_slots = 0;
    let b = gregor::server::start(config).await.expect("broker starts");
    let mut c = Client::connect(&b).await;
    let resp = c.call(&fetch(0, 0, &[(0, 0)], &[], 0), 12).await;
    assert_eq!((resp.error_code, resp.session_id), (0, 0));
    assert_eq!(answered(&resp), vec![(0, 0, 0, 0)]);
}
