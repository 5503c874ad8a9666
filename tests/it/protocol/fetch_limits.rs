//! A fetch's byte limits with record batches larger than them: the first partition that has
//! records gets its first batch whole (so a consumer always makes progress), a later one
//! whose first batch exceeds what is left gets no records — not the batch cut at the limit,
//! which Kafka's log reads but its fetch (v3 on) replaces with nothing.

use super::{fetch_request, produce, TOPIC};
use crate::common::*;
use kafka_protocol::records::Compression;

#[tokio::test]
async fn a_batch_over_the_limit_comes_whole_first_and_not_at_all_after() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let big = "x".repeat(40_000);
    for partition in [0, 1] {
        produce(
            &mut c,
            TOPIC,
            partition,
            batch(&[record("k", &big, 1)], Compression::None),
        )
        .await;
    }
    let mut req = fetch_request(TOPIC, 0, 0, 0);
    let mut second = req.topics[0].partitions[0].clone();
    second.partition = 1;
    req.topics[0].partitions.push(second);
    for p in &mut req.topics[0].partitions {
        p.partition_max_bytes = 10_000;
    }
    let resp = c.call(&req, 12).await;
    let parts = &resp.responses[0].partitions;
    let first = parts[0].records.clone().unwrap_or_default();
    assert!(first.len() > 40_000, "partition 0: {} bytes", first.len());
    assert_eq!(decode_records(first).len(), 1);
    assert_eq!(parts[1].error_code, 0);
    assert_eq!(parts[1].high_watermark, 1);
    assert_eq!(
        parts[1].records.as_ref().map_or(0, |r| r.len()),
        0,
        "a cut batch was sent"
    );
}
