//! Metadata (3): the brokers, controller and partition leaders the cluster view names (today
//! this node, at the address of the listener the client came through). A missing topic that
//! may be auto-created is created, and answered UNKNOWN_TOPIC_OR_PARTITION in this response
//! as Kafka answers while its controller creates it; a later request finds it.

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as K;
use uuid::Uuid;

use super::{RequestContext, AUTHORIZED_OPERATIONS_OMITTED};
use crate::cluster::ClusterView;
use crate::meta::Topic;
use crate::topics::Topics;

/// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS: what a
/// topic allows without an authorizer.
const TOPIC_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

pub async fn handle(ctx: RequestContext, req: MetadataRequest) -> MetadataResponse {
    let cluster = ctx.cluster();
    let version = ctx.version();
    // v0: an empty list means every topic; v1+: null means every topic.
    let requested = match req.topics {
        Some(t) if !(version == 0 && t.is_empty()) => Some(t),
        _ => None,
    };
    let allow_create =
        ctx.config().auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    let topic_ops = if req.include_topic_authorized_operations {
        TOPIC_OPERATIONS
    } else {
        AUTHORIZED_OPERATIONS_OMITTED
    };
    let topics = match requested {
        None => ctx
            .topics()
            .all()
            .iter()
            .map(|t| describe(cluster, t, topic_ops))
            .collect(),
        Some(list) => {
            let list = distinct(list);
            let creating = if allow_create {
                auto_create(ctx.topics(), &list).await
            } else {
                HashSet::new()
            };
            list.into_iter()
                .map(|t| match (t.name, t.topic_id) {
                    // Kafka (AutoTopicCreationManager) answers a topic it sends to be created
                    // UNKNOWN_TOPIC_OR_PARTITION; it is there from a later request on.
                    (Some(name), _) if creating.contains(&name) => {
                        failed(Some(name), Uuid::nil(), K::UnknownTopicOrPartition.code())
                    }
                    (Some(name), _) => match ctx.topics().get(&name) {
                        Some(topic) => describe(cluster, &topic, topic_ops),
                        None if !crate::config::valid_topic_name(&name) => {
                            failed(Some(name), Uuid::nil(), K::InvalidTopicException.code())
                        }
                        None => failed(Some(name), Uuid::nil(), K::UnknownTopicOrPartition.code()),
                    },
                    (None, id) => match ctx.topics().by_id(&id) {
                        Some(topic) => describe(cluster, &topic, topic_ops),
                        None => failed(None, id, K::UnknownTopicId.code()),
                    },
                })
                .collect()
        }
    };
    let brokers = ctx
        .broker_endpoints()
        .into_iter()
        .map(|(node, host, port)| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(node))
                .with_host(StrBytes::from_string(host))
                .with_port(port)
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(
            cluster.cluster_id().to_string(),
        )))
        .with_controller_id(BrokerId(cluster.controller()))
        .with_topics(topics)
        .with_cluster_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}

fn describe(cluster: &dyn ClusterView, topic: &Topic, topic_ops: i32) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_partitions(
            (0..topic.partition_count())
                .map(|i| {
                    let replicas: Vec<BrokerId> = cluster
                        .replicas(&topic.name, i)
                        .into_iter()
                        .map(BrokerId)
                        .collect();
                    let partition = MetadataResponsePartition::default()
                        .with_partition_index(i)
                        .with_leader_epoch(0)
                        .with_isr_nodes(replicas.clone())
                        .with_replica_nodes(replicas);
                    match cluster.leader(&topic.name, i) {
                        Some(leader) => partition.with_leader_id(BrokerId(leader)),
                        None => partition
                            .with_leader_id(BrokerId(-1))
                            .with_error_code(K::LeaderNotAvailable.code()),
                    }
                })
                .collect(),
        )
        .with_topic_authorized_operations(topic_ops)
}

/// Each topic once, in the order first asked for (Kafka answers a set of topics).
fn distinct(list: Vec<MetadataRequestTopic>) -> Vec<MetadataRequestTopic> {
    let mut names = HashSet::new();
    let mut ids = HashSet::new();
    list.into_iter()
        .filter(|t| match &t.name {
            Some(name) => names.insert(name.clone()),
            None => ids.insert(t.topic_id),
        })
        .collect()
}

/// Auto-create the valid names asked for that do not exist, as one operation on the
/// blocking pool (it makes directories and writes the store; failures are logged there, as
/// Kafka logs a failed auto-creation). The names it tried to create.
async fn auto_create(topics: &Arc<Topics>, list: &[MetadataRequestTopic]) -> HashSet<TopicName> {
    let missing: Vec<TopicName> = list
        .iter()
        .filter_map(|t| t.name.as_ref())
        .filter(|n| crate::config::valid_topic_name(n) && topics.get(n).is_none())
        .cloned()
        .collect();
    if missing.is_empty() {
        return HashSet::new();
    }
    let creator = topics.clone();
    let names: Vec<String> = missing.iter().map(|n| n.to_string()).collect();
    if let Err(e) = tokio::task::spawn_blocking(move || creator.auto_create_topics(&names)).await {
        tracing::error!(error = %e, "auto-creating topics failed");
    }
    missing.into_iter().collect()
}

fn failed(name: Option<TopicName>, id: Uuid, error: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(name)
        .with_topic_id(id)
        .with_error_code(error)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}
