//! DescribeShareGroupOffsets (90): each share partition's start offset (the first record not
//! yet done with) and, from v1, its lag, of the topics asked for or (null) of every topic the
//! group has state for. `kafka-share-groups --describe` shows them. The lag is Kafka's: the
//! partition's end (high watermark) minus the start offset minus the records past it already
//! done with; -1 where it cannot be told (no state yet). In cluster mode the end of a
//! partition another broker leads is read from the database (what is committed).

use kafka_protocol::messages::describe_share_group_offsets_response::{
    DescribeShareGroupOffsetsResponseGroup as Group,
    DescribeShareGroupOffsetsResponsePartition as Partition,
    DescribeShareGroupOffsetsResponseTopic as Topic,
};
use kafka_protocol::messages::{
    DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

use super::RequestContext;
use crate::pg::placement;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: RequestContext,
    req: DescribeShareGroupOffsetsRequest,
) -> DescribeShareGroupOffsetsResponse {
    let mut groups = Vec::new();
    for g in req.groups {
        let id = g.group_id.to_string();
        let group = Group::default().with_group_id(g.group_id);
        // share.version 0: share groups are off (Kafka: UNSUPPORTED_VERSION per group).
        if !ctx.features().share_groups_enabled() {
            groups.push(group.with_error_code(E::UnsupportedVersion.code()));
            continue;
        }
        if !ctx.authorize_group(AclOperation::Describe, &id) {
            groups.push(group.with_error_code(E::GroupAuthorizationFailed.code()));
            continue;
        }
        let offsets = match ctx.groups().share_offsets(id).await {
            Ok(o) => o,
            Err(e) => {
                groups.push(group.with_error_code(e.code()));
                continue;
            }
        };
        // The topics asked for (name, partitions), or every topic with share state.
        let asked: Vec<(String, Option<Vec<i32>>)> = match g.topics {
            Some(topics) => topics
                .into_iter()
                .map(|t| (t.topic_name.to_string(), Some(t.partitions)))
                .collect(),
            None => {
                let mut ids: Vec<_> = offsets.keys().map(|(t, _)| *t).collect();
                ids.dedup();
                ids.into_iter()
                    .filter_map(|id| ctx.topics().by_id(&id).map(|t| (t.name.clone(), None)))
                    .collect()
            }
        };
        let mut topics = Vec::new();
        for (name, partitions) in asked {
            if !ctx.authorize_topic(AclOperation::Describe, &name) {
                continue;
            }
            let topic = ctx.topics().get(&name);
            let id = topic.as_ref().map(|t| t.id).unwrap_or_default();
            let partitions = partitions.unwrap_or_else(|| {
                offsets
                    .keys()
                    .filter(|(t, _)| *t == id)
                    .map(|(_, p)| *p)
                    .collect()
            });
            let partitions = partitions
                .into_iter()
                .map(|p| {
                    let partition = Partition::default().with_partition_index(p);
                    match (&topic, offsets.get(&(id, p))) {
                        (None, _) => partition
                            .with_start_offset(-1)
                            .with_lag(-1)
                            .with_leader_epoch(-1)
                            .with_error_code(E::UnknownTopicOrPartition.code()),
                        (Some(t), Some((start, complete))) => {
                            let end = match t.partition(p).filter(|p| p.is_led()) {
                                Some(led) => Some(led.high_watermark()),
                                None => end_elsewhere(&ctx, &name, p),
                            };
                            let lag = end.map_or(-1, |end| end - start - complete);
                            // Kafka: the leader epoch its share state was written under, the
                            // partition leader's (kafka-share-groups shows it as LEADER-EPOCH).
                            partition
                                .with_start_offset(*start)
                                .with_lag(lag)
                                .with_leader_epoch(ctx.cluster().leader_epoch(&name, p))
                        }
                        // Not initialised yet: no start offset.
                        (Some(_), None) => partition
                            .with_start_offset(-1)
                            .with_lag(-1)
                            .with_leader_epoch(-1),
                    }
                })
                .collect();
            topics.push(
                Topic::default()
                    .with_topic_name(TopicName(StrBytes::from_string(name)))
                    .with_topic_id(id)
                    .with_partitions(partitions),
            );
        }
        groups.push(group.with_topics(topics));
    }
    DescribeShareGroupOffsetsResponse::default().with_groups(groups)
}

/// Cluster mode: the committed end of a partition another broker leads.
fn end_elsewhere(ctx: &RequestContext, topic: &str, index: i32) -> Option<i64> {
    let m = ctx.membership()?;
    let log = placement::log_name(topic, index);
    crate::blocking::block_in_place(|| placement::log_end(m.db(), &log))
        .inspect_err(
            |e| tracing::warn!(log, error = %format!("{e:#}"), "could not read a log's end"),
        )
        .ok()
        .flatten()
}
