//! The API table's checks: within what the codec decodes, and the README's table of APIs.

use super::*;
use kafka_protocol::protocol::Message;

fn crate_range(key: ApiKey) -> (i16, i16) {
    use kafka_protocol::messages::*;
    let r = match key {
        ApiKey::Produce => ProduceRequest::VERSIONS,
        ApiKey::Fetch => FetchRequest::VERSIONS,
        ApiKey::ListOffsets => ListOffsetsRequest::VERSIONS,
        ApiKey::OffsetForLeaderEpoch => OffsetForLeaderEpochRequest::VERSIONS,
        ApiKey::Metadata => MetadataRequest::VERSIONS,
        ApiKey::DescribeTopicPartitions => DescribeTopicPartitionsRequest::VERSIONS,
        ApiKey::ApiVersions => ApiVersionsRequest::VERSIONS,
        ApiKey::CreateTopics => CreateTopicsRequest::VERSIONS,
        ApiKey::DeleteTopics => DeleteTopicsRequest::VERSIONS,
        ApiKey::DeleteRecords => DeleteRecordsRequest::VERSIONS,
        ApiKey::CreatePartitions => CreatePartitionsRequest::VERSIONS,
        ApiKey::DescribeCluster => DescribeClusterRequest::VERSIONS,
        ApiKey::InitProducerId => InitProducerIdRequest::VERSIONS,
        ApiKey::FindCoordinator => FindCoordinatorRequest::VERSIONS,
        ApiKey::JoinGroup => JoinGroupRequest::VERSIONS,
        ApiKey::SyncGroup => SyncGroupRequest::VERSIONS,
        ApiKey::Heartbeat => HeartbeatRequest::VERSIONS,
        ApiKey::LeaveGroup => LeaveGroupRequest::VERSIONS,
        ApiKey::OffsetCommit => OffsetCommitRequest::VERSIONS,
        ApiKey::OffsetFetch => OffsetFetchRequest::VERSIONS,
        ApiKey::ListGroups => ListGroupsRequest::VERSIONS,
        ApiKey::DescribeGroups => DescribeGroupsRequest::VERSIONS,
        ApiKey::DeleteGroups => DeleteGroupsRequest::VERSIONS,
        ApiKey::ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest::VERSIONS,
        ApiKey::ConsumerGroupDescribe => ConsumerGroupDescribeRequest::VERSIONS,
        ApiKey::OffsetDelete => OffsetDeleteRequest::VERSIONS,
        ApiKey::DescribeConfigs => DescribeConfigsRequest::VERSIONS,
        ApiKey::AlterConfigs => AlterConfigsRequest::VERSIONS,
        ApiKey::IncrementalAlterConfigs => IncrementalAlterConfigsRequest::VERSIONS,
        ApiKey::DescribeLogDirs => DescribeLogDirsRequest::VERSIONS,
        ApiKey::AlterReplicaLogDirs => AlterReplicaLogDirsRequest::VERSIONS,
        ApiKey::DescribeAcls => DescribeAclsRequest::VERSIONS,
        ApiKey::CreateAcls => CreateAclsRequest::VERSIONS,
        ApiKey::DeleteAcls => DeleteAclsRequest::VERSIONS,
        ApiKey::ListPartitionReassignments => ListPartitionReassignmentsRequest::VERSIONS,
        ApiKey::AlterPartitionReassignments => AlterPartitionReassignmentsRequest::VERSIONS,
        ApiKey::DescribeClientQuotas => DescribeClientQuotasRequest::VERSIONS,
        ApiKey::AlterClientQuotas => AlterClientQuotasRequest::VERSIONS,
        ApiKey::DescribeUserScramCredentials => DescribeUserScramCredentialsRequest::VERSIONS,
        ApiKey::AlterUserScramCredentials => AlterUserScramCredentialsRequest::VERSIONS,
        ApiKey::AddPartitionsToTxn => AddPartitionsToTxnRequest::VERSIONS,
        ApiKey::AddOffsetsToTxn => AddOffsetsToTxnRequest::VERSIONS,
        ApiKey::EndTxn => EndTxnRequest::VERSIONS,
        ApiKey::TxnOffsetCommit => TxnOffsetCommitRequest::VERSIONS,
        ApiKey::WriteTxnMarkers => WriteTxnMarkersRequest::VERSIONS,
        ApiKey::DescribeProducers => DescribeProducersRequest::VERSIONS,
        ApiKey::DescribeTransactions => DescribeTransactionsRequest::VERSIONS,
        ApiKey::ListTransactions => ListTransactionsRequest::VERSIONS,
        ApiKey::SaslHandshake => SaslHandshakeRequest::VERSIONS,
        ApiKey::ShareGroupHeartbeat => ShareGroupHeartbeatRequest::VERSIONS,
        ApiKey::ShareGroupDescribe => ShareGroupDescribeRequest::VERSIONS,
        ApiKey::ShareFetch => ShareFetchRequest::VERSIONS,
        ApiKey::StreamsGroupHeartbeat => StreamsGroupHeartbeatRequest::VERSIONS,
        ApiKey::StreamsGroupDescribe => StreamsGroupDescribeRequest::VERSIONS,
        ApiKey::StreamsGroupTopologyDescriptionUpdate => {
            StreamsGroupTopologyDescriptionUpdateRequest::VERSIONS
        }
        ApiKey::ShareAcknowledge => ShareAcknowledgeRequest::VERSIONS,
        ApiKey::DescribeShareGroupOffsets => DescribeShareGroupOffsetsRequest::VERSIONS,
        ApiKey::AlterShareGroupOffsets => AlterShareGroupOffsetsRequest::VERSIONS,
        ApiKey::DeleteShareGroupOffsets => DeleteShareGroupOffsetsRequest::VERSIONS,
        ApiKey::SaslAuthenticate => SaslAuthenticateRequest::VERSIONS,
        ApiKey::DescribeQuorum => DescribeQuorumRequest::VERSIONS,
        ApiKey::ElectLeaders => ElectLeadersRequest::VERSIONS,
        ApiKey::UpdateFeatures => UpdateFeaturesRequest::VERSIONS,
        ApiKey::ListConfigResources => ListConfigResourcesRequest::VERSIONS,
        ApiKey::GetTelemetrySubscriptions => GetTelemetrySubscriptionsRequest::VERSIONS,
        ApiKey::PushTelemetry => PushTelemetryRequest::VERSIONS,
        ApiKey::CreateDelegationToken => CreateDelegationTokenRequest::VERSIONS,
        ApiKey::RenewDelegationToken => RenewDelegationTokenRequest::VERSIONS,
        ApiKey::ExpireDelegationToken => ExpireDelegationTokenRequest::VERSIONS,
        ApiKey::DescribeDelegationToken => DescribeDelegationTokenRequest::VERSIONS,
        other => panic!("no range known for {other:?}: add it here"),
    };
    (r.min, r.max)
}

#[test]
fn table_is_within_what_the_codec_decodes_and_unique() {
    for api in APIS {
        let (min, max) = crate_range(api.key);
        assert!(
            api.min_version >= min && api.max_version <= max,
            "{:?}",
            api.key
        );
        assert!(api.min_version <= api.max_version);
        assert_eq!(APIS.iter().filter(|a| a.key == api.key).count(), 1);
    }
}

#[test]
fn produce_and_fetch_only_speak_record_batch_v2() {
    assert_eq!(lookup(ApiKey::Produce as i16).unwrap().min_version, 3);
    assert_eq!(lookup(ApiKey::Fetch as i16).unwrap().min_version, 4);
    assert!(lookup(9999).is_none());
}

mod docs {
    use super::super::APIS;

    /// The README's table of supported APIs is the API table, row for row.
    #[test]
    fn readme_lists_every_api_with_its_versions() {
        let readme = include_str!("../../README.md");
        for api in APIS {
            let row = format!(
                "| {:?} ({}) | {}–{} |",
                api.key, api.key as i16, api.min_version, api.max_version
            );
            assert!(readme.contains(&row), "README.md lacks the row `{row}`");
        }
        let rows = readme
            .lines()
            .filter(|l| l.starts_with("| ") && l.contains(") | ") && l.contains('–'))
            .count();
        assert_eq!(
            rows,
            APIS.len(),
            "README.md lists APIs that the table does not serve"
        );
    }
}
