//! Metadata (3): the brokers, controller and partition leaders the cluster view names (today
//! this node, at the address of the listener the client came through). A missing topic that
//! may be auto-created is created, and answered UNKNOWN_TOPIC_OR_PARTITION in this response
//! as Kafka answers while its controller creates it; a later request finds it. With an
//! authorizer, topics are filtered and auto-created as KafkaApis does (see `handle`).

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

use super::{catalog, RequestContext, AUTHORIZED_OPERATIONS_OMITTED};
use crate::cluster::ClusterView;
use crate::meta::Topic;
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::topics::Topics;

pub async fn handle(ctx: RequestContext, req: MetadataRequest) -> MetadataResponse {
    let cluster = ctx.cluster();
    let version = ctx.version();
    // v0: an empty list means every topic; v1+: null means every topic.
    // A topic named by id is looked up by id, whatever its name field holds: Java's client
    // leaves it "" (its default), and Kafka ignores names once any id is given.
    let requested = match req.topics {
        Some(t) if !(version == 0 && t.is_empty()) => Some(
            t.into_iter()
                .map(|mut t| {
                    if !t.topic_id.is_nil() {
                        t.name = None;
                    }
                    t
                })
                .collect::<Vec<_>>(),
        ),
        _ => None,
    };
    // Cluster mode: a topic another broker created since this one last read the catalog
    // (at most a tick ago) is found before the answer says it does not exist, or leaves it
    // out of every topic.
    let lagging = match &requested {
        Some(list) => catalog::lagging(
            &ctx,
            list.iter()
                .filter_map(|t| t.name.as_ref().map(|n| n.0.as_str())),
        ),
        None => ctx.topics().is_shared(),
    };
    catalog::catch_up_if(&ctx, lagging).await;
    let allow_create =
        ctx.config().auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    // As Kafka: a topic the principal may not DESCRIBE is left out of "every topic" and
    // answered TOPIC_AUTHORIZATION_FAILED when named (nothing said about whether it exists);
    // a missing one is auto-created only with CREATE on the cluster or on the topic.
    let describable = |name: &str| ctx.authorize_topic(AclOperation::Describe, name);
    let may_create_any = allow_create && ctx.authorize_cluster(AclOperation::Create);
    let creatable = |name: &str| may_create_any || ctx.authorize_topic(AclOperation::Create, name);
    let topic_ops = |name: &str| {
        ctx.authorized_operations_if(
            req.include_topic_authorized_operations,
            ResourceType::Topic,
            name,
        )
    };
    let denied = K::TopicAuthorizationFailed.code();
    let topics = match requested {
        None => ctx
            .topics()
            .all()
            .iter()
            .filter(|t| describable(&t.name))
            .map(|t| describe(cluster, t, topic_ops(&t.name)))
            .collect(),
        Some(list) => {
            let list = distinct(list);
            let creating = if allow_create {
                let wanted = list
                    .iter()
                    .filter_map(|t| t.name.as_ref())
                    .filter(|n| describable(n) && creatable(n));
                auto_create(ctx.topics(), wanted).await
            } else {
                HashSet::new()
            };
            list.into_iter()
                .map(|t| match (t.name, t.topic_id) {
                    (Some(name), _) if !describable(&name) => failed(
                        Some(name),
                        Uuid::nil(),
                        denied,
                        AUTHORIZED_OPERATIONS_OMITTED,
                    ),
                    // Kafka (AutoTopicCreationManager) answers a topic it sends to be created
                    // UNKNOWN_TOPIC_OR_PARTITION; it is there from a later request on.
                    (Some(name), _) if creating.contains(&name) => {
                        let ops = topic_ops(&name);
                        failed(
                            Some(name),
                            Uuid::nil(),
                            K::UnknownTopicOrPartition.code(),
                            ops,
                        )
                    }
                    (Some(name), _) => match ctx.topics().get(&name) {
                        Some(topic) => describe(cluster, &topic, topic_ops(&name)),
                        None if allow_create && !creatable(&name) => failed(
                            Some(name),
                            Uuid::nil(),
                            denied,
                            AUTHORIZED_OPERATIONS_OMITTED,
                        ),
                        None => {
                            let code = if crate::config::valid_topic_name(&name) {
                                K::UnknownTopicOrPartition.code()
                            } else {
                                K::InvalidTopicException.code()
                            };
                            let ops = topic_ops(&name);
                            failed(Some(name), Uuid::nil(), code, ops)
                        }
                    },
                    (None, id) => match ctx.topics().by_id(&id) {
                        // Topic ids are not secret: Kafka names the id it refuses.
                        Some(topic) if !describable(&topic.name) => {
                            failed(None, id, denied, AUTHORIZED_OPERATIONS_OMITTED)
                        }
                        Some(topic) => describe(cluster, &topic, topic_ops(&topic.name)),
                        None => failed(
                            None,
                            id,
                            K::UnknownTopicId.code(),
                            AUTHORIZED_OPERATIONS_OMITTED,
                        ),
                    },
                })
                .collect()
        }
    };
    // Kafka fills the cluster's operations for v8-10 when asked (0 without DESCRIBE on it).
    let cluster_ops = if (8..=10).contains(&version) && req.include_cluster_authorized_operations {
        if ctx.authorize_cluster(AclOperation::Describe) {
            ctx.authorized_operations(ResourceType::Cluster, CLUSTER_NAME)
        } else {
            0
        }
    } else {
        AUTHORIZED_OPERATIONS_OMITTED
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
        .with_cluster_authorized_operations(cluster_ops)
}

fn describe(cluster: &dyn ClusterView, topic: &Topic, topic_ops: i32) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.id)
        .with_partitions(
            (0..topic.partition_count())
                .map(|i| {
                    let replicas: Vec<BrokerId> = cluster
                        .replicas(&topic.name, i, topic.replication_factor)
                        .into_iter()
                        .map(BrokerId)
                        .collect();
                    let partition = MetadataResponsePartition::default()
                        .with_partition_index(i)
                        .with_leader_epoch(cluster.leader_epoch(&topic.name, i))
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
async fn auto_create<'a>(
    topics: &Arc<Topics>,
    wanted: impl Iterator<Item = &'a TopicName>,
) -> HashSet<TopicName> {
    let missing: Vec<TopicName> = wanted
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

fn failed(name: Option<TopicName>, id: Uuid, error: i16, ops: i32) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(name)
        .with_topic_id(id)
        .with_error_code(error)
        .with_topic_authorized_operations(ops)
}
