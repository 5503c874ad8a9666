//! Every version in the API table answers: each request at each advertised version gets a
//! response its version can encode.

use super::{fetch_request, name, produce_request, TOPIC};
use crate::common::*;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

/// Every version in the table must encode its response: a field set that a version lacks
/// makes the encoder fail, which closes the connection.
#[tokio::test]
async fn every_advertised_version_answers() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let range = |key: ApiKey| {
        let api = gregor::api::lookup(key as i16).unwrap();
        api.min_version..=api.max_version
    };
    let records = || batch(&[record("k", "v", 1)], Compression::None);
    let topic_id = b.services.topics.get(TOPIC).unwrap().id;
    for v in range(ApiKey::Produce) {
        let mut req = produce_request(TOPIC, 0, records(), -1);
        // v13 names topics by id only.
        req.topic_data[0].topic_id = topic_id;
        let resp = c.call(&req, v).await;
        assert_eq!(
            resp.responses[0].partition_responses[0].error_code, 0,
            "produce v{v}"
        );
    }
    for v in range(ApiKey::Fetch) {
        let mut req = fetch_request(TOPIC, 0, 0, 0);
        req.topics[0].topic_id = topic_id;
        let resp = c.call(&req, v).await;
        assert_eq!(resp.responses[0].partitions[0].error_code, 0, "fetch v{v}");
    }
    for v in range(ApiKey::ListOffsets) {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name(TOPIC))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)])]);
        let resp = c.call(&req, v).await;
        assert_eq!(
            resp.topics[0].partitions[0].offset,
            range(ApiKey::Produce).count() as i64,
            "list offsets v{v}"
        );
    }
    for v in range(ApiKey::Metadata) {
        let req = MetadataRequest::default()
            .with_topics(None)
            .with_include_topic_authorized_operations(v >= 8);
        assert!(!c.call(&req, v).await.topics.is_empty(), "metadata v{v}");
    }
    for v in range(ApiKey::ApiVersions) {
        assert_eq!(
            c.call(&crate::common::api_versions(), v).await.error_code,
            0,
            "api versions v{v}"
        );
    }
    for v in range(ApiKey::CreateTopics) {
        let req = CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
            .with_name(name(&format!("t{v}")))
            .with_num_partitions(1)
            .with_replication_factor(1)]);
        assert_eq!(
            c.call(&req, v).await.topics[0].error_code,
            0,
            "create topics v{v}"
        );
    }
    for v in range(ApiKey::CreatePartitions) {
        if b.services.topics.get(&format!("t{v}")).is_none() {
            b.services
                .topics
                .create_topic(&format!("t{v}"), 1, Default::default(), false)
                .unwrap();
        }
        let req = CreatePartitionsRequest::default().with_topics(vec![
            kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic::default()
                .with_name(name(&format!("t{v}")))
                .with_count(2),
        ]);
        assert_eq!(
            c.call(&req, v).await.results[0].error_code,
            0,
            "create partitions v{v}"
        );
    }
    for v in range(ApiKey::DeleteTopics) {
        let topic = format!("t{v}");
        if b.services.topics.get(&topic).is_none() {
            b.services
                .topics
                .create_topic(&topic, 1, Default::default(), false)
                .unwrap();
        }
        let req = if v >= 6 {
            DeleteTopicsRequest::default().with_topics(vec![
                kafka_protocol::messages::delete_topics_request::DeleteTopicState::default()
                    .with_name(Some(name(&topic))),
            ])
        } else {
            DeleteTopicsRequest::default().with_topic_names(vec![name(&topic)])
        };
        assert_eq!(
            c.call(&req, v).await.responses[0].error_code,
            0,
            "delete topics v{v}"
        );
    }
    for v in range(ApiKey::DeleteRecords) {
        use kafka_protocol::messages::delete_records_request::{
            DeleteRecordsPartition, DeleteRecordsTopic,
        };
        let req = DeleteRecordsRequest::default().with_topics(vec![DeleteRecordsTopic::default()
            .with_name(name(TOPIC))
            .with_partitions(vec![DeleteRecordsPartition::default().with_offset(-1)])]);
        let resp = c.call(&req, v).await;
        let p = &resp.topics[0].partitions[0];
        assert_eq!(p.error_code, 0, "delete records v{v}");
        assert!(p.low_watermark > 0, "delete records v{v}");
    }
    for v in range(ApiKey::InitProducerId) {
        let resp = c
            .call(
                &InitProducerIdRequest::default().with_transactional_id(None),
                v,
            )
            .await;
        assert_eq!(resp.error_code, 0, "init producer id v{v}");
    }
    for v in range(ApiKey::DescribeCluster) {
        let req =
            DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
        assert_eq!(
            c.call(&req, v).await.brokers.len(),
            1,
            "describe cluster v{v}"
        );
    }
    // Admin APIs (admin.rs checks their meaning).
    for v in range(ApiKey::DescribeConfigs) {
        let req = DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str(TOPIC)),
        ]);
        let resp = c.call(&req, v).await;
        assert_eq!(resp.results[0].error_code, 0, "describe configs v{v}");
        assert!(!resp.results[0].configs.is_empty(), "describe configs v{v}");
    }
    for v in range(ApiKey::AlterConfigs) {
        let resp = c.call(&AlterConfigsRequest::default(), v).await;
        assert!(resp.responses.is_empty(), "alter configs v{v}");
    }
    for v in range(ApiKey::IncrementalAlterConfigs) {
        let resp = c.call(&IncrementalAlterConfigsRequest::default(), v).await;
        assert!(resp.responses.is_empty(), "incremental alter configs v{v}");
    }
    for v in range(ApiKey::DescribeLogDirs) {
        let resp = c
            .call(&DescribeLogDirsRequest::default().with_topics(None), v)
            .await;
        assert_eq!(resp.results.len(), 1, "describe log dirs v{v}");
    }
    for v in range(ApiKey::DescribeAcls) {
        let resp = c.call(&DescribeAclsRequest::default(), v).await;
        assert_eq!(resp.error_code, 54, "describe acls v{v}");
    }
    for v in range(ApiKey::ListPartitionReassignments) {
        let req = ListPartitionReassignmentsRequest::default().with_topics(None);
        assert_eq!(
            c.call(&req, v).await.error_code,
            0,
            "list reassignments v{v}"
        );
    }
    for v in range(ApiKey::AlterPartitionReassignments) {
        let req = AlterPartitionReassignmentsRequest::default();
        assert_eq!(
            c.call(&req, v).await.error_code,
            0,
            "alter reassignments v{v}"
        );
    }
    for v in range(ApiKey::DescribeClientQuotas) {
        let resp = c.call(&DescribeClientQuotasRequest::default(), v).await;
        assert_eq!(resp.error_code, 0, "describe client quotas v{v}");
    }
    for v in range(ApiKey::AlterClientQuotas) {
        use kafka_protocol::messages::alter_client_quotas_request::{
            EntityData, EntryData, OpData,
        };
        let entry = |remove: bool| {
            EntryData::default()
                .with_entity(vec![EntityData::default()
                    .with_entity_type(StrBytes::from_static_str("user"))
                    .with_entity_name(Some(StrBytes::from_static_str("alice")))])
                .with_ops(vec![OpData::default()
                    .with_key(StrBytes::from_static_str("producer_byte_rate"))
                    .with_value(1024.0)
                    .with_remove(remove)])
        };
        for (remove, code) in [(false, 0), (true, 0)] {
            let req = AlterClientQuotasRequest::default().with_entries(vec![entry(remove)]);
            let resp = c.call(&req, v).await;
            assert_eq!(resp.entries.len(), 1, "alter client quotas v{v}");
            assert_eq!(resp.entries[0].error_code, code, "alter client quotas v{v}");
            assert_eq!(
                resp.entries[0].entity[0].entity_name.as_deref(),
                Some("alice")
            );
        }
    }
    for v in range(ApiKey::DescribeUserScramCredentials) {
        let req = DescribeUserScramCredentialsRequest::default().with_users(None);
        assert_eq!(c.call(&req, v).await.error_code, 0, "describe scram v{v}");
    }
    for v in range(ApiKey::AlterUserScramCredentials) {
        let resp = c
            .call(&AlterUserScramCredentialsRequest::default(), v)
            .await;
        assert!(resp.results.is_empty(), "alter scram v{v}");
    }
}
