//! The API table: every Kafka API gregor serves, its version range and its handler. The same
//! table answers ApiVersions, so what is advertised is exactly what is dispatched.
//!
//! A handler is called in request order on the connection's reader task; whatever it does
//! before returning its future (produce appends) happens in that order. The futures are
//! then awaited one after another by the writer task, which keeps responses in order.

mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod alter_client_quotas;
mod alter_configs;
mod alter_partition_reassignments;
mod alter_replica_log_dirs;
mod alter_share_group_offsets;
mod alter_user_scram_credentials;
mod api_versions;
mod authz;
mod catalog;
mod config_resource;
mod connection;
mod consumer_group_describe;
mod consumer_group_heartbeat;
mod context;
mod create_acls;
mod create_delegation_token;
mod create_partitions;
mod create_topics;
mod delete_acls;
mod delete_groups;
mod delete_records;
mod delete_share_group_offsets;
mod delete_topics;
mod describe_acls;
mod describe_client_quotas;
mod describe_cluster;
mod describe_configs;
mod describe_delegation_token;
mod describe_groups;
mod describe_log_dirs;
mod describe_producers;
mod describe_quorum;
mod describe_share_group_offsets;
mod describe_topic_partitions;
mod describe_transactions;
mod describe_user_scram_credentials;
mod dispatch;
mod elect_leaders;
mod end_txn;
mod expire_delegation_token;
mod fetch;
mod fetch_session;
mod find_coordinator;
mod get_telemetry_subscriptions;
mod group_common;
mod heartbeat;
mod incremental_alter_configs;
mod init_producer_id;
mod join_group;
mod leader_epoch;
mod leave_group;
mod list_config_resources;
mod list_groups;
mod list_offsets;
mod list_partition_reassignments;
mod list_transactions;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
mod produce;
mod push_telemetry;
mod renew_delegation_token;
mod request;
mod request_quota;
mod sasl_authenticate;
mod sasl_handshake;
mod share_acknowledge;
mod share_common;
mod share_fetch;
mod share_group_describe;
mod share_group_heartbeat;
mod streams_group_describe;
mod streams_group_heartbeat;
mod streams_group_topology_description_update;
mod sync_group;
mod token_common;
mod txn_common;
mod txn_offset_commit;
mod update_features;
mod write_txn_markers;
pub mod zero_copy;

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

pub use connection::Connection;
pub use context::{ListenerInfo, RequestContext, Services};
pub use dispatch::{dispatch, dispatch_from, encode_response, Dispatch};
pub use fetch_session::FetchSessions;
pub use request::{parse_request, Parsed};
use zero_copy::Frame;

/// The encoded response frame (length prefix included), or None for no response at all
/// (acks=0 produce). An error closes the connection.
pub type ResponseFuture = Pin<Box<dyn Future<Output = anyhow::Result<Option<Frame>>> + Send>>;

type Handler = fn(RequestContext, Bytes) -> anyhow::Result<ResponseFuture>;

pub struct Api {
    pub key: ApiKey,
    pub min_version: i16,
    pub max_version: i16,
    handler: Handler,
}

/// Supported APIs. Minimum versions stay as low as the oldest clients send (see
/// shared/CLIENTS.md); maxima stop where gregor implements every field's meaning.
pub static APIS: &[Api] = &[
    Api {
        key: ApiKey::Produce,
        min_version: 3,
        max_version: 13,
        handler: |c, b| c.serve_optional(b, produce::handle),
    },
    Api {
        key: ApiKey::Fetch,
        min_version: 4,
        max_version: 18,
        handler: |c, b| c.serve_with_files(b, fetch::handle),
    },
    Api {
        key: ApiKey::ListOffsets,
        min_version: 1,
        max_version: 11,
        handler: |c, b| c.serve(b, list_offsets::handle),
    },
    Api {
        key: ApiKey::OffsetForLeaderEpoch,
        min_version: 2,
        max_version: 4,
        handler: |c, b| c.serve(b, offset_for_leader_epoch::handle),
    },
    Api {
        key: ApiKey::Metadata,
        min_version: 0,
        max_version: 13,
        handler: |c, b| c.serve(b, metadata::handle),
    },
    Api {
        key: ApiKey::DescribeTopicPartitions,
        min_version: 0,
        max_version: 0,
        handler: |c, b| c.serve(b, describe_topic_partitions::handle),
    },
    Api {
        key: ApiKey::ApiVersions,
        min_version: 0,
        max_version: 5,
        handler: |c, b| c.serve(b, api_versions::handle),
    },
    Api {
        key: ApiKey::CreateTopics,
        min_version: 2,
        max_version: 7,
        handler: |c, b| c.serve(b, create_topics::handle),
    },
    Api {
        key: ApiKey::DeleteTopics,
        min_version: 1,
        max_version: 6,
        handler: |c, b| c.serve(b, delete_topics::handle),
    },
    Api {
        key: ApiKey::DeleteRecords,
        min_version: 0,
        max_version: 2,
        handler: |c, b| c.serve(b, delete_records::handle),
    },
    Api {
        key: ApiKey::CreatePartitions,
        min_version: 0,
        max_version: 3,
        handler: |c, b| c.serve(b, create_partitions::handle),
    },
    Api {
        key: ApiKey::DescribeCluster,
        min_version: 0,
        max_version: 2,
        handler: |c, b| c.serve(b, describe_cluster::handle),
    },
    // InitProducerId v6 (KIP-939 two-phase commit) is "latestVersionUnstable" in Kafka 4.4: a
    // 4.4 broker advertises up to v5 and closes the connection on a v6 request (unless
    // unstable.api.versions.enable), so the Java 4.4 client sends v5. gregor does the same.
    Api {
        key: ApiKey::InitProducerId,
        min_version: 0,
        max_version: 5,
        handler: |c, b| c.serve(b, init_producer_id::handle),
    },
    // Transactions (src/txn). AddPartitionsToTxn v4+ is Kafka's broker-to-broker form (a
    // batch of transactions to add to or verify; gregor's own implicit add of transactions v2
    // happens inside Produce v12+), served for CLUSTER_ACTION as Kafka serves it. EndTxn v5,
    // TxnOffsetCommit v5 and Produce v12 are transactions v2 (KIP-890 part 2); TxnOffsetCommit
    // v6 (KIP-1319) is v5 with topics by id.
    Api {
        key: ApiKey::AddPartitionsToTxn,
        min_version: 0,
        max_version: 5,
        handler: |c, b| c.serve(b, add_partitions_to_txn::handle),
    },
    Api {
        key: ApiKey::AddOffsetsToTxn,
        min_version: 0,
        max_version: 4,
        handler: |c, b| c.serve(b, add_offsets_to_txn::handle),
    },
    Api {
        key: ApiKey::EndTxn,
        min_version: 0,
        max_version: 5,
        handler: |c, b| c.serve(b, end_txn::handle),
    },
    Api {
        key: ApiKey::TxnOffsetCommit,
        min_version: 0,
        max_version: 6,
        handler: |c, b| c.serve(b, txn_offset_commit::handle),
    },
    // WriteTxnMarkers: what `kafka-transactions abort` sends to a partition's leader (gregor's
    // coordinator writes its own markers in-process).
    Api {
        key: ApiKey::WriteTxnMarkers,
        min_version: 1,
        max_version: 2,
        handler: |c, b| c.serve(b, write_txn_markers::handle),
    },
    Api {
        key: ApiKey::DescribeProducers,
        min_version: 0,
        max_version: 0,
        handler: |c, b| c.serve(b, describe_producers::handle),
    },
    Api {
        key: ApiKey::DescribeTransactions,
        min_version: 0,
        max_version: 0,
        handler: |c, b| c.serve(b, describe_transactions::handle),
    },
    Api {
        key: ApiKey::ListTransactions,
        min_version: 0,
        max_version: 2,
        handler: |c, b| c.serve(b, list_transactions::handle),
    },
    // Consumer groups (src/group): kafka-go and old Sarama hard-code v0/v1 of several.
    Api {
        key: ApiKey::FindCoordinator,
        min_version: 0,
        max_version: 6,
        handler: |c, b| c.serve(b, find_coordinator::handle),
    },
    Api {
        key: ApiKey::JoinGroup,
        min_version: 0,
        max_version: 9,
        handler: |c, b| c.serve(b, join_group::handle),
    },
    Api {
        key: ApiKey::SyncGroup,
        min_version: 0,
        max_version: 5,
        handler: |c, b| c.serve(b, sync_group::handle),
    },
    Api {
        key: ApiKey::Heartbeat,
        min_version: 0,
        max_version: 4,
        handler: |c, b| c.serve(b, heartbeat::handle),
    },
    Api {
        key: ApiKey::LeaveGroup,
        min_version: 0,
        max_version: 5,
        handler: |c, b| c.serve(b, leave_group::handle),
    },
    Api {
        key: ApiKey::OffsetCommit,
        min_version: 2,
        max_version: 10,
        handler: |c, b| c.serve(b, offset_commit::handle),
    },
    Api {
        key: ApiKey::OffsetFetch,
        min_version: 1,
        max_version: 10,
        handler: |c, b| c.serve(b, offset_fetch::handle),
    },
    Api {
        key: ApiKey::ListGroups,
        min_version: 0,
        max_version: 5,
        handler: |c, b| c.serve(b, list_groups::handle),
    },
    Api {
        key: ApiKey::DescribeGroups,
        min_version: 0,
        max_version: 6,
        handler: |c, b| c.serve(b, describe_groups::handle),
    },
    Api {
        key: ApiKey::DeleteGroups,
        min_version: 0,
        max_version: 3,
        handler: |c, b| c.serve(b, delete_groups::handle),
    },
    Api {
        key: ApiKey::OffsetDelete,
        min_version: 0,
        max_version: 0,
        handler: |c, b| c.serve(b, offset_delete::handle),
    },
    // KIP-848's consumer group protocol (src/group/consumer).
    Api {
        key: ApiKey::ConsumerGroupHeartbeat,
        min_version: 0,
        max_version: 1,
        handler: |c, b| c.serve(b, consumer_group_heartbeat::handle),
    },
    Api {
        key: ApiKey::ConsumerGroupDescribe,
        min_version: 0,
        max_version: 1,
        handler: |c, b| c.serve(b, consumer_group_describe::handle),
    },
    // KIP-932's share groups (src/group/share). ShareFetch/ShareAcknowledge v2 (share.version
    // 2): RENEW acknowledgements, ShareAcquireMode, the lock duration in ShareAcknowledge.
    Api {
        key: ApiKey::ShareGroupHeartbeat,
        min_version: 1,
        max_version: 1,
        handler: |c, b| c.serve(b, share_group_heartbeat::handle),
    },
    Api {
        key: ApiKey::ShareGroupDescribe,
        min_version: 1,
        max_version: 1,
        handler: |c, b| c.serve(b, share_group_describe::handle),
    },
    Api {
        key: ApiKey::ShareFetch,
        min_version: 1,
        max_version: 2,
        handler: |c, b| c.serve(b, share_fetch::handle),
    },
    Api {
        key: ApiKey::ShareAcknowledge,
        min_version: 1,
        max_version: 2,
        handler: |c, b| c.serve(b, share_acknowledge::handle),
    },
    Api {
        key: ApiKey::DescribeShareGroupOffsets,
        min_version: 0,
        max_version: 1,
        handler: |c, b| c.serve(b, describe_share_group_offsets::handle),
    },
    Api {
        key: ApiKey::AlterShareGroupOffsets,
        min_version: 0,
        max_version: 0,
        handler: |c, b| c.serve(b, alter_share_group_offsets::handle),
    },
    Api {
        key: ApiKey::DeleteShareGroupOffsets,
        min_version: 0,
        max_version: 0,
        handler: |c, b| c.serve(b, delete_share_group_offsets::handle),
    },
    // KIP-1071's streams groups (src/group/streams), served with streams.version 1.
    Api {
        key: ApiKey::StreamsGroupHeartbeat,
        min_version: 0,
        max_version: 1,
        handler: |c, b| c.serve(b, streams_group_heartbeat::handle),
    },
    Api {
        key: ApiKey::StreamsGroupDescribe,
        min_version: 0,
        max_version: 1,
        handler: |c, b| c.serve(b, streams_group_describe::handle),
    },
    Api {
        key: ApiKey::StreamsGroupTopologyDescriptionUpdate,
        min_version: 0,
        max_version: 0,
        handler: |c, b| c.serve(b, streams_group_topology_description_update::handle),
    },
    // Administration (configs, log dirs, ACLs).
    Api {
        key: ApiKey::DescribeConfigs,
        min_version: 1,
        max_version: 4,
        handler: |c, b| c.serve(b, describe_configs::handle),
    },
    Api {
        key: ApiKey::AlterConfigs,
        min_version: 0,
        max_version: 2,
        handler: |c, b| c.serve(b, alter_configs::handle),
    },
    Api {
        key: ApiKey::IncrementalAlterConfigs,
        min_version: 0,
        max_version: 1,
        handler: |c, b| c.serve(b, incremental_alter_configs::handle),
    },
    Api {
        key: ApiKey::ListConfigResources,
        min_version: 0,
        max_version: 1,
        handler: |c, b| c.serve(b, list_config_resources::handle),
    },
    Api {
        key: ApiKey::DescribeLogDirs,
        min_version: 1,
        max_version: 5,
        handler: |c, b| c.serve(b, describe_log_dirs::handle),
    },
    // One log directory: a replica can only "move" to the one it is in (success, as Kafka).
    Api {
        key: ApiKey::AlterReplicaLogDirs,
        min_version: 1,
        max_version: 2,
        handler: |c, b| c.serve(b, alter_replica_log_dirs::handle),
    },
    Api {
        key: ApiKey::DescribeAcls,
        min_version: 1,
        max_version: 3,
        handler: |c, b| c.serve(b, describe_acls::handle),
    },
    Api {
        key: ApiKey::CreateAcls,
        min_version: 1,
        max_version: 3,
        handler: |c, b| c.serve(b, create_acls::handle),
    },
    Api {
        key: ApiKey::DeleteAcls,
        min_version: 1,
        max_version: 3,
        handler: |c, b| c.serve(b, delete_acls::handle),
    },
    Api {
        key: ApiKey::ListPartitionReassignments,
        min_version: 0,
        max_version: 0,
        handler: |c, b| c.serve(b, list_partition_reassignments::handle),
    },
    Api {
        key: ApiKey::AlterPartitionReassignments,
        min_version: 0,
        max_version: 1,
        handler: |c, b| c.serve(b, alter_partition_reassignments::handle),
    },
    Api {
        key: ApiKey::DescribeQuorum,
        min_version: 0,
        max_version: 2,
        handler: |c, b| c.serve(b, describe_quorum::handle),
    },
    Api {
        key: ApiKey::ElectLeaders,
        min_version: 0,
        max_version: 2,
        handler: |c, b| c.serve(b, elect_leaders::handle),
    },
    // The finalized feature levels (src/features): what ApiVersions reports and
    // `kafka-features` changes.
    Api {
        key: ApiKey::UpdateFeatures,
        min_version: 0,
        max_version: 2,
        handler: |c, b| c.serve(b, update_features::handle),
    },
    // KIP-714 client telemetry (src/telemetry): only with `client_telemetry` on (see
    // `Api::enabled`).
    Api {
        key: ApiKey::GetTelemetrySubscriptions,
        min_version: 0,
        max_version: 0,
        handler: |c, b| c.serve(b, get_telemetry_subscriptions::handle),
    },
    Api {
        key: ApiKey::PushTelemetry,
        min_version: 0,
        max_version: 0,
        handler: |c, b| c.serve(b, push_telemetry::handle),
    },
    Api {
        key: ApiKey::DescribeClientQuotas,
        min_version: 0,
        max_version: 1,
        handler: |c, b| c.serve(b, describe_client_quotas::handle),
    },
    Api {
        key: ApiKey::AlterClientQuotas,
        min_version: 0,
        max_version: 1,
        handler: |c, b| c.serve(b, alter_client_quotas::handle),
    },
    // Authentication: answered by the connection's authenticator before authentication on
    // SASL listeners (server/sasl.rs); these handlers answer what comes after or elsewhere.
    Api {
        key: ApiKey::SaslHandshake,
        min_version: 0,
        max_version: 1,
        handler: |c, b| c.serve(b, sasl_handshake::handle),
    },
    Api {
        key: ApiKey::SaslAuthenticate,
        min_version: 0,
        max_version: 2,
        handler: |c, b| c.serve(b, sasl_authenticate::handle),
    },
    Api {
        key: ApiKey::DescribeUserScramCredentials,
        min_version: 0,
        max_version: 0,
        handler: |c, b| c.serve(b, describe_user_scram_credentials::handle),
    },
    Api {
        key: ApiKey::AlterUserScramCredentials,
        min_version: 0,
        max_version: 0,
        handler: |c, b| c.serve(b, alter_user_scram_credentials::handle),
    },
    // Delegation tokens (security/tokens.rs): served always, DELEGATION_TOKEN_AUTH_DISABLED
    // without a secret key, as Kafka.
    Api {
        key: ApiKey::CreateDelegationToken,
        min_version: 1,
        max_version: 3,
        handler: |c, b| c.serve(b, create_delegation_token::handle),
    },
    Api {
        key: ApiKey::RenewDelegationToken,
        min_version: 1,
        max_version: 2,
        handler: |c, b| c.serve(b, renew_delegation_token::handle),
    },
    Api {
        key: ApiKey::ExpireDelegationToken,
        min_version: 1,
        max_version: 2,
        handler: |c, b| c.serve(b, expire_delegation_token::handle),
    },
    Api {
        key: ApiKey::DescribeDelegationToken,
        min_version: 1,
        max_version: 3,
        handler: |c, b| c.serve(b, describe_delegation_token::handle),
    },
];

impl Api {
    /// Whether this broker advertises and serves the API: all do, but KIP-714's telemetry
    /// APIs only with `client_telemetry` on, as Kafka advertises them only with a
    /// client-telemetry metrics reporter configured. A request for a disabled API is
    /// refused as one for an unknown key.
    pub fn enabled(&self, config: &crate::config::Config) -> bool {
        match self.key {
            ApiKey::GetTelemetrySubscriptions | ApiKey::PushTelemetry => config.client_telemetry,
            _ => true,
        }
    }
}

pub fn lookup(key: i16) -> Option<&'static Api> {
    APIS.iter().find(|a| a.key as i16 == key)
}

/// Kafka's message for UNSUPPORTED_VERSION (`Errors.UNSUPPORTED_VERSION.message()`).
pub const UNSUPPORTED_VERSION_MESSAGE: &str = "The version of API is not supported.";

/// Kafka's "not provided" for authorized-operations fields.
pub const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

pub use crate::clock::now_ms;

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
