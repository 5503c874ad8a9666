//! Idempotent produce over the wire: a retried batch (same producer id, epoch and sequence)
//! is written once.

use std::time::Duration;

use super::{produce_request, TOPIC};
use crate::common::*;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

fn idempotent_batch(producer_id: i64, epoch: i16, sequence: i32, count: usize) -> bytes::Bytes {
    let keys: Vec<String> = (0..count).map(|i| format!("k{i}")).collect();
    let records: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), "v")).collect();
    producer_batch(producer_id, epoch, sequence, false, &records)
}

#[tokio::test]
async fn idempotent_retries_are_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    let init = c
        .call(
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000),
            4,
        )
        .await;
    assert_eq!(init.error_code, 0);
    let pid = init.producer_id.0;
    let again = c
        .call(
            &InitProducerIdRequest::default().with_transactional_id(None),
            0,
        )
        .await;
    assert_ne!(again.producer_id.0, pid, "every producer gets its own id");

    let send = |seq: i32| produce_request(TOPIC, 0, idempotent_batch(pid, 0, seq, 3), -1);
    let code_and_base = |r: ProduceResponse| {
        (
            r.responses[0].partition_responses[0].error_code,
            r.responses[0].partition_responses[0].base_offset,
        )
    };
    assert_eq!(code_and_base(c.call(&send(0), 9).await), (0, 0));
    assert_eq!(code_and_base(c.call(&send(3), 9).await), (0, 3));
    assert_eq!(
        code_and_base(c.call(&send(0), 9).await),
        (0, 0),
        "a retry gets its original offset"
    );
    assert_eq!(
        code_and_base(c.call(&send(9), 9).await).0,
        45,
        "a gap is OUT_OF_ORDER_SEQUENCE_NUMBER"
    );
    assert_eq!(
        b.services
            .topics
            .partition(TOPIC, 0)
            .unwrap()
            .log_end_offset(),
        6,
        "the retry was not written"
    );

    // After a restart the state comes back from the log: the retry is still recognised.
    b.shutdown().await;
    let b = broker(Some(dir.path())).await;
    let mut c = Client::connect(&b).await;
    assert_eq!(code_and_base(c.call(&send(3), 9).await), (0, 3));
    assert_eq!(code_and_base(c.call(&send(6), 9).await), (0, 6));
    let transactional = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(StrBytes::from("tx"))));
    assert_eq!(
        c.call(&transactional, 4).await.error_code,
        50,
        "INVALID_TRANSACTION_TIMEOUT for a zero timeout"
    );
    let transactional = transactional.with_transaction_timeout_ms(60_000);
    assert_eq!(c.call(&transactional, 4).await.error_code, 0);
}

/// Past `max_connections`, a new connection waits until another one closes.
#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let config = gregor::config::Config {
        max_connections: 1,
        ..config(None)
    };
    let b = gregor::server::start(config).await.unwrap();
    let mut first = Client::connect(&b).await;
    first.call(&crate::common::api_versions(), 3).await;
    let mut second = Client::connect(&b).await; // accepted by the kernel, not yet served
    let pending = tokio::spawn(async move {
        second.call(&crate::common::api_versions(), 3).await;
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished(), "the second connection must wait");
    drop(first);
    tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("served once the first closed")
        .unwrap();
}
