//! No store or file administration on an async worker: a broker on a runtime whose workers
//! are marked as the binary marks them (`gregor::blocking`) serves the APIs that write the
//! store or touch directories. A blocking call there panics in a debug build (the request's
//! connection dies and the call below fails) and is counted in a release build.

use crate::common::*;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn topic(v: &str) -> TopicName {
    TopicName(s(v))
}

#[test]
fn store_and_file_administration_stay_off_the_async_workers() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_park(gregor::blocking::mark_async_worker)
        .on_thread_unpark(gregor::blocking::mark_async_worker)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let before = gregor::blocking::violations();
    runtime.block_on(async {
        let mut cfg = config(Some(dir.path()));
        cfg.auto_create_topics = true;
        let b = gregor::server::start(cfg).await.unwrap();
        // Let both workers park once (they are marked from then on).
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut c = Client::connect(&b).await;
        exercise(&mut c).await;
        b.shutdown().await;
    });
    assert_eq!(gregor::blocking::violations(), before);
}

async fn exercise(c: &mut Client) {
    // Topic administration: create, grow, alter configs, auto-create through Metadata.
    let created = c
        .call(
            &CreateTopicsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![CreatableTopic::default()
                    .with_name(topic("b1"))
                    .with_num_partitions(1)
                    .with_replication_factor(1)]),
            7,
        )
        .await;
    assert_eq!(created.topics[0].error_code, 0);
    let grown = c
        .call(
            &CreatePartitionsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![CreatePartitionsTopic::default()
                    .with_name(topic("b1"))
                    .with_count(2)]),
            3,
        )
        .await;
    assert_eq!(grown.results[0].error_code, 0);
    let altered = c
        .call(
            &IncrementalAlterConfigsRequest::default().with_resources(vec![
                AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("b1"))
                    .with_configs(vec![AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_config_operation(0)
                        .with_value(Some(s("600000")))]),
            ]),
            1,
        )
        .await;
    assert_eq!(altered.responses[0].error_code, 0);
    let metadata = c
        .call(
            &MetadataRequest::default()
                .with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(topic("b-auto")))
                ]))
                .with_allow_auto_topic_creation(true),
            9,
        )
        .await;
    // Created, answered UNKNOWN_TOPIC_OR_PARTITION this time as Kafka does.
    assert_eq!(metadata.topics[0].error_code, 3);

    // Data, then DeleteRecords (a checkpoint and unlinked segments).
    let records = batch(
        &[record("k", "v", 1), record("k", "w", 2)],
        Compression::None,
    );
    let produced = c
        .call(
            &ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(5000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(topic("b1"))
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records))])]),
            9,
        )
        .await;
    assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);
    let deleted = c
        .call(
            &DeleteRecordsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(vec![DeleteRecordsTopic::default()
                    .with_name(topic("b1"))
                    .with_partitions(vec![DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(1)])]),
            2,
        )
        .await;
    assert_eq!(deleted.topics[0].partitions[0].error_code, 0);

    // Committed offsets and a transaction (coordinator writes, producer ids, markers).
    let committed = c
        .call(
            &OffsetCommitRequest::default()
                .with_group_id(GroupId(s("blocking-group")))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(topic("b1"))
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(2)])]),
            8,
        )
        .await;
    assert_eq!(committed.topics[0].partitions[0].error_code, 0);
    let init = c
        .call(
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s("blocking-txn"))))
                .with_transaction_timeout_ms(10_000),
            4,
        )
        .await;
    assert_eq!(init.error_code, 0);
    let added = c
        .call(
            &AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(TransactionalId(s("blocking-txn")))
                .with_v3_and_below_producer_id(init.producer_id)
                .with_v3_and_below_producer_epoch(init.producer_epoch)
                .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                    .with_name(topic("b1"))
                    .with_partitions(vec![1])]),
            3,
        )
        .await;
    assert_eq!(
        added.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
        0
    );
    let offsets_added = c
        .call(
            &AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(s("blocking-txn")))
                .with_producer_id(init.producer_id)
                .with_producer_epoch(init.producer_epoch)
                .with_group_id(GroupId(s("blocking-group"))),
            3,
        )
        .await;
    assert_eq!(offsets_added.error_code, 0);
    let ended = c
        .call(
            &EndTxnRequest::default()
                .with_transactional_id(TransactionalId(s("blocking-txn")))
                .with_producer_id(init.producer_id)
                .with_producer_epoch(init.producer_epoch)
                .with_committed(false),
            3,
        )
        .await;
    assert_eq!(ended.error_code, 0);

    // Deletion last.
    let gone = c
        .call(
            &DeleteTopicsRequest::default()
                .with_timeout_ms(5000)
                .with_topic_names(vec![topic("b1"), topic("b-auto")]),
            5,
        )
        .await;
    assert!(gone.responses.iter().all(|r| r.error_code == 0));
}
