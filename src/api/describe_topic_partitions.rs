//! DescribeTopicPartitions (75, KIP-966): topics and their partitions, sorted by name, at most
//! `response_partition_limit` partitions per answer (and never more than Kafka's
//! `max.request.partition.size.limit`, 2000), continued from a cursor. Kafka 4's AdminClient
//! `describeTopics` (so `kafka-topics --describe`) uses it instead of Metadata. As Kafka's
//! `DescribeTopicPartitionsRequestHandler` and `KRaftMetadataCache
//! .getTopicMetadataForDescribeTopicResponse` answer:
//!
//! - no topics named: every topic from the cursor's on, those the principal may not DESCRIBE
//!   left out; topics named: those from the cursor's name on (the cursor's topic must be one
//!   of them), each missing one UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION for a bad
//!   name), each not describable TOPIC_AUTHORIZATION_FAILED after the others;
//! - a page ends inside a topic with the cursor at its next partition, or between topics
//!   with the cursor at the next topic's partition 0 (a topic whose remaining partitions do not
//!   fit is cut, never left out);
//! - a cursor outside the names asked for, or with a negative partition, is INVALID_REQUEST
//!   for every topic asked for (Kafka's `getErrorResponse`).

use std::collections::BTreeSet;
use std::ops::Range;

use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as K;
use uuid::Uuid;

use super::{RequestContext, AUTHORIZED_OPERATIONS_OMITTED};
use crate::cluster::ClusterView;
use crate::meta::Topic;
use crate::security::acl::{AclOperation, ResourceType};

/// Kafka's `max.request.partition.size.limit` (default 2000): the most partitions one answer
/// holds whatever the request asks.
pub const MAX_PARTITIONS_PER_RESPONSE: i32 = 2000;

pub async fn handle(
    ctx: RequestContext,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let fetch_all = req.topics.is_empty();
    let cursor = req
        .cursor
        .as_ref()
        .map(|c| (c.topic_name.to_string(), c.partition_index));
    let from = cursor.as_ref().map_or("", |(name, _)| name.as_str());
    let names: BTreeSet<String> = if fetch_all {
        ctx.topics().all().iter().map(|t| t.name.clone()).collect()
    } else {
        req.topics.iter().map(|t| t.name.to_string()).collect()
    };
    let names: BTreeSet<String> = names.into_iter().filter(|n| n.as_str() >= from).collect();
    if let Some((name, partition)) = &cursor {
        // Kafka throws InvalidRequestException: the cursor's topic must be among those named,
        // and its partition valid.
        if (!fetch_all && !names.contains(name)) || *partition < 0 {
            return invalid_request(&req);
        }
    }
    let (describable, denied): (Vec<String>, Vec<String>) = names
        .into_iter()
        .partition(|n| ctx.authorize_topic(AclOperation::Describe, n));
    let limit = req
        .response_partition_limit
        .clamp(1, MAX_PARTITIONS_PER_RESPONSE);
    let topics = ctx.topics();
    let lookup = |name: &str| topics.get(name);
    let (shown, next) = page(
        describable.iter().map(String::as_str),
        |name| lookup(name).map(|t| t.partition_count()),
        |name| match &cursor {
            Some((cursor_name, partition)) if cursor_name == name => *partition,
            _ => 0,
        },
        limit,
        fetch_all,
    );
    let mut answer: Vec<DescribeTopicPartitionsResponseTopic> = shown
        .into_iter()
        .map(|s| {
            let ops = ctx.authorized_operations(ResourceType::Topic, &s.name);
            match (s.partitions, lookup(&s.name)) {
                (Some(range), Some(topic)) => describe(ctx.cluster(), &topic, range),
                _ => {
                    let code = if crate::config::valid_topic_name(&s.name) {
                        K::UnknownTopicOrPartition.code()
                    } else {
                        K::InvalidTopicException.code()
                    };
                    topic_entry(&s.name, code, Uuid::nil())
                }
            }
            .with_topic_authorized_operations(ops)
        })
        .collect();
    if !fetch_all {
        // Kafka names no topic id for a topic the principal may not describe.
        answer.extend(
            denied
                .iter()
                .map(|n| topic_entry(n, K::TopicAuthorizationFailed.code(), Uuid::nil())),
        );
    }
    DescribeTopicPartitionsResponse::default()
        .with_topics(answer)
        .with_next_cursor(next.map(|(name, partition)| {
            Cursor::default()
                .with_topic_name(topic_name(&name))
                .with_partition_index(partition)
        }))
}

/// One topic of a page: its name and the indexes of the partitions shown, or None for a topic
/// that does not exist.
#[derive(Debug, PartialEq)]
struct Shown {
    name: String,
    partitions: Option<Range<i32>>,
}

/// Kafka's `getTopicMetadataForDescribeTopicResponse` over `names` (sorted): each topic's
/// partitions from `start(name)` on while fewer than `limit` are taken; a missing topic
/// (`count` None) is shown unless `skip_missing`. The answer's topics and the cursor where the
/// next page begins (None: nothing left).
fn page<'a>(
    names: impl Iterator<Item = &'a str>,
    count: impl Fn(&str) -> Option<i32>,
    start: impl Fn(&str) -> i32,
    limit: i32,
    skip_missing: bool,
) -> (Vec<Shown>, Option<(String, i32)>) {
    let mut remaining = limit;
    let mut shown = Vec::new();
    for name in names {
        if remaining <= 0 {
            // Every partition of the topics before is in: the next page starts at this one.
            return (shown, Some((name.to_string(), 0)));
        }
        match count(name) {
            Some(count) => {
                let first = start(name);
                let end = count.min(first.saturating_add(remaining));
                shown.push(Shown {
                    name: name.to_string(),
                    partitions: Some(first..end.max(first)),
                });
                if end < count {
                    return (shown, Some((name.to_string(), end)));
                }
                remaining -= (end - first).max(0);
            }
            None if skip_missing => {}
            None => shown.push(Shown {
                name: name.to_string(),
                partitions: None,
            }),
        }
    }
    (shown, None)
}

fn describe(
    cluster: &dyn ClusterView,
    topic: &Topic,
    range: Range<i32>,
) -> DescribeTopicPartitionsResponseTopic {
    let partitions = range
        .map(|i| {
            let replicas: Vec<BrokerId> = cluster
                .replicas(&topic.name, i, topic.replication_factor)
                .into_iter()
                .map(BrokerId)
                .collect();
            // Kafka: an empty (not null) eligible-leader list when there is none.
            DescribeTopicPartitionsResponsePartition::default()
                .with_partition_index(i)
                .with_leader_id(BrokerId(cluster.leader(&topic.name, i).unwrap_or(-1)))
                .with_leader_epoch(cluster.leader_epoch(&topic.name, i))
                .with_isr_nodes(replicas.clone())
                .with_replica_nodes(replicas)
                .with_eligible_leader_replicas(Some(Vec::new()))
                .with_last_known_elr(Some(Vec::new()))
        })
        .collect();
    topic_entry(&topic.name, 0, topic.id).with_partitions(partitions)
}

fn topic_entry(name: &str, error: i16, id: Uuid) -> DescribeTopicPartitionsResponseTopic {
    DescribeTopicPartitionsResponseTopic::default()
        .with_error_code(error)
        .with_name(Some(topic_name(name)))
        .with_topic_id(id)
        .with_is_internal(is_internal(name))
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}

/// Kafka's `Topic.isInternal`: the names of its internal topics.
fn is_internal(name: &str) -> bool {
    matches!(
        name,
        "__consumer_offsets" | "__transaction_state" | "__share_group_state"
    )
}

/// Kafka's `getErrorResponse`: every topic asked for, with the error and nothing else.
fn invalid_request(req: &DescribeTopicPartitionsRequest) -> DescribeTopicPartitionsResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            DescribeTopicPartitionsResponseTopic::default()
                .with_error_code(K::InvalidRequest.code())
                .with_name(Some(t.name.clone()))
                .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
        })
        .collect();
    DescribeTopicPartitionsResponse::default().with_topics(topics)
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Page = (Vec<(String, Option<Range<i32>>)>, Option<(String, i32)>);

    fn run(
        topics: &[(&str, Option<i32>)],
        cursor: Option<(&str, i32)>,
        limit: i32,
        skip_missing: bool,
    ) -> Page {
        let count = |n: &str| topics.iter().find(|t| t.0 == n).and_then(|t| t.1);
        let start = |n: &str| match cursor {
            Some((c, p)) if c == n => p,
            _ => 0,
        };
        let (shown, next) = page(
            topics.iter().map(|t| t.0),
            count,
            start,
            limit,
            skip_missing,
        );
        let shown = shown.into_iter().map(|s| (s.name, s.partitions)).collect();
        (shown, next)
    }

    fn s(name: &str, r: Option<Range<i32>>) -> (String, Option<Range<i32>>) {
        (name.to_string(), r)
    }

    #[test]
    fn a_page_cut_inside_a_topic_points_at_its_next_partition() {
        let topics = [("a", Some(3)), ("b", Some(4))];
        assert_eq!(
            run(&topics, None, 5, true),
            (
                vec![s("a", Some(0..3)), s("b", Some(0..2))],
                Some(("b".into(), 2))
            )
        );
        assert_eq!(
            run(&topics[1..], Some(("b", 2)), 5, true),
            (vec![s("b", Some(2..4))], None)
        );
    }

    #[test]
    fn a_full_page_between_topics_points_at_the_next_topic() {
        let topics = [("a", Some(2)), ("b", None), ("c", Some(1))];
        // The missing topic is shown (topics named) and takes no room.
        assert_eq!(
            run(&topics, None, 2, false),
            (vec![s("a", Some(0..2))], Some(("b".into(), 0)))
        );
        assert_eq!(
            run(&topics, None, 3, false),
            (
                vec![s("a", Some(0..2)), s("b", None), s("c", Some(0..1))],
                None
            )
        );
        assert_eq!(
            run(&topics, None, 3, true),
            (vec![s("a", Some(0..2)), s("c", Some(0..1))], None)
        );
        // The last topic exactly filling the page: no cursor.
        assert_eq!(
            run(&topics[2..], None, 1, true),
            (vec![s("c", Some(0..1))], None)
        );
    }

    #[test]
    fn a_cursor_past_the_last_partition_shows_the_topic_empty() {
        let topics = [("a", Some(2)), ("b", Some(1))];
        assert_eq!(
            run(&topics, Some(("a", 7)), 1, true),
            (vec![s("a", Some(7..7)), s("b", Some(0..1))], None)
        );
        assert_eq!(
            run(&topics, Some(("a", i32::MAX)), 1, true),
            (
                vec![s("a", Some(i32::MAX..i32::MAX)), s("b", Some(0..1))],
                None
            )
        );
    }
}
