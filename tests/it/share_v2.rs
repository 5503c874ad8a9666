//! share.version 2 over the wire (ShareFetch and ShareAcknowledge v2, as Kafka 4.4): RENEW
//! acknowledgements keep records with their member and delivery count, only in a v2 request
//! that says IsRenewAck, and a renewing ShareFetch fetches nothing; ShareAcquireMode counts
//! MaxRecords by whole batches or exactly; ShareAcknowledge v2 answers the lock duration.

use super::share_groups::*;
use crate::common::*;
use kafka_protocol::messages::*;
use kafka_protocol::ResponseError as E;

const RENEW: i8 = 4;
const V2: i16 = 2;

/// A ShareFetch v2 carrying only renewals: Kafka wants every limit 0.
fn renew_fetch(
    group: &str,
    member: &str,
    epoch: i32,
    topic: uuid::Uuid,
    acks: Vec<(i64, i64, i8)>,
) -> ShareFetchRequest {
    fetch(group, member, epoch, topic, acks)
        .with_is_renew_ack(true)
        .with_max_wait_ms(0)
        .with_max_bytes(0)
        .with_max_records(0)
}

fn ack_error(r: &ShareFetchResponse) -> i16 {
    r.responses[0].partitions[0].acknowledge_error_code
}

async fn earliest(c: &mut Client, group: &str) {
    let configs = [("share.auto.offset.reset", "earliest")];
    assert_eq!(set_group_configs(c, group, &configs).await, (0, None));
}

#[tokio::test]
async fn renewed_records_stay_with_their_member() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let g = "share-renew";
    earliest(&mut c, g).await;
    produce(&mut c, 3).await;
    let topic = join(&mut c, g, "m1").await;
    join(&mut c, g, "m2").await;
    let r = c.call(&fetch(g, "m1", 0, topic, vec![]), V2).await;
    assert_eq!(acquired(&r), vec![(0, 2, 1)]);
    assert_eq!(r.acquisition_lock_timeout_ms, 30_000);

    // RENEW only in v2, and only with IsRenewAck: INVALID_REQUEST for the partition.
    let r = c
        .call(&fetch(g, "m1", 1, topic, vec![(0, 0, RENEW)]), 1)
        .await;
    assert_eq!(ack_error(&r), E::InvalidRequest.code());
    let r = c
        .call(&fetch(g, "m1", 2, topic, vec![(0, 0, RENEW)]), V2)
        .await;
    assert_eq!(ack_error(&r), E::InvalidRequest.code());
    let r = c.call(&ack(g, "m1", 3, topic, &[(0, 0, RENEW)]), 1).await;
    assert_eq!(ack_code(&r), (0, E::InvalidRequest.code()));
    // A renewing fetch asks for nothing: any limit set is a top-level INVALID_REQUEST (the
    // session's epoch does not move).
    let loud = renew_fetch(g, "m1", 4, topic, vec![(0, 0, RENEW)]).with_max_records(10);
    let r = c.call(&loud, V2).await;
    assert_eq!(r.error_code, E::InvalidRequest.code());

    // Renewed in a fetch (no records come back, though record 3 waits) and in a
    // ShareAcknowledge v2, which answers the lock duration.
    produce(&mut c, 1).await;
    let r = c
        .call(&renew_fetch(g, "m1", 4, topic, vec![(0, 0, RENEW)]), V2)
        .await;
    assert_eq!((r.error_code, ack_error(&r)), (0, 0));
    assert_eq!(acquired(&r), vec![], "a renewing fetch fetches nothing");
    let mut renewing = ack(g, "m1", 5, topic, &[(1, 1, RENEW), (2, 2, ACCEPT)]);
    renewing.is_renew_ack = true;
    let r = c.call(&renewing, V2).await;
    assert_eq!(ack_code(&r), (0, 0));
    assert_eq!(r.acquisition_lock_timeout_ms, 30_000);

    // Still m1's: m2 gets only the new record and may not renew m1's.
    let r = c.call(&fetch(g, "m2", 0, topic, vec![]), V2).await;
    assert_eq!(acquired(&r), vec![(3, 3, 1)]);
    let mut theirs = ack(g, "m2", 1, topic, &[(0, 0, RENEW)]);
    theirs.is_renew_ack = true;
    let r = c.call(&theirs, V2).await;
    assert_eq!(ack_code(&r), (0, E::InvalidRecordState.code()));

    // m1 accepts what it renewed; with renewing turned off for the group, RENEW is
    // INVALID_RECORD_STATE.
    let r = c.call(&ack(g, "m1", 6, topic, &[(0, 1, ACCEPT)]), V2).await;
    assert_eq!(ack_code(&r), (0, 0));
    let off = [("share.renew.acknowledge.enable", "false")];
    assert_eq!(set_group_configs(&mut c, g, &off).await, (0, None));
    let mut refused = ack(g, "m2", 2, topic, &[(3, 3, RENEW)]);
    refused.is_renew_ack = true;
    let r = c.call(&refused, V2).await;
    assert_eq!(ack_code(&r), (0, E::InvalidRecordState.code()));
    // Nothing was delivered twice: m1's records are done, record 3 is still m2's.
    let r = c.call(&ack(g, "m2", 3, topic, &[(3, 3, ACCEPT)]), V2).await;
    assert_eq!(ack_code(&r), (0, 0));
    b.shutdown().await;
}

#[tokio::test]
async fn acquire_modes_count_max_records() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let g = "share-modes";
    earliest(&mut c, g).await;
    // Two batches: 0..=4 and 5..=9.
    produce(&mut c, 5).await;
    produce(&mut c, 5).await;
    let topic = join(&mut c, g, "m1").await;
    let limited = |epoch, max, mode| {
        fetch(g, "m1", epoch, topic, vec![])
            .with_max_records(max)
            .with_share_acquire_mode(mode)
    };
    // record_limit: exactly MaxRecords, across a batch boundary too.
    let r = c.call(&limited(0, 3, 1), V2).await;
    assert_eq!(acquired(&r), vec![(0, 2, 1)]);
    let r = c.call(&limited(1, 3, 1), V2).await;
    assert_eq!(acquired(&r), vec![(3, 5, 1)]);
    // batch_optimized: the batch holding the last record allowed, to its end.
    let r = c.call(&limited(2, 1, 0), V2).await;
    assert_eq!(acquired(&r), vec![(6, 9, 1)]);
    // A mode Kafka does not know: UNKNOWN_SERVER_ERROR.
    let r = c.call(&limited(3, 1, 7), V2).await;
    assert_eq!(r.error_code, E::UnknownServerError.code());

    // v1 has no mode: batch_optimized.
    let g1 = "share-modes-v1";
    earliest(&mut c, g1).await;
    join(&mut c, g1, "m1").await;
    let r = c
        .call(&fetch(g1, "m1", 0, topic, vec![]).with_max_records(2), 1)
        .await;
    assert_eq!(acquired(&r), vec![(0, 4, 1)]);
    b.shutdown().await;
}
