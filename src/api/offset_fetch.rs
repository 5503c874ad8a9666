//! OffsetFetch (9): one group before v8, a batch of groups from v8. Null topics (v2+) asks
//! for every committed offset of the group.

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

use super::group_common::str;
use super::RequestContext;
use crate::group::coordinator::FetchedOffsets;
use crate::group::offsets::CommittedOffset;

type Wanted = Option<Vec<(String, Vec<i32>)>>;

pub async fn handle(ctx: RequestContext, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let groups = &ctx.broker.groups;
    if ctx.version() >= 8 {
        let mut answers = Vec::with_capacity(req.groups.len());
        for g in req.groups {
            let wanted: Wanted = g.topics.map(|ts| {
                ts.into_iter()
                    .map(|t| (t.name.to_string(), t.partition_indexes))
                    .collect()
            });
            let result = groups.fetch_offsets(g.group_id.to_string(), wanted).await;
            answers.push(group_answer(g.group_id, result));
        }
        return OffsetFetchResponse::default().with_groups(answers);
    }
    let wanted: Wanted = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.to_string(), t.partition_indexes))
            .collect()
    });
    match groups
        .fetch_offsets(req.group_id.to_string(), wanted.clone())
        .await
    {
        Ok(fetched) => {
            OffsetFetchResponse::default().with_topics(single_group_topics(fetched, None))
        }
        // Before v2 there is no top-level error: each partition carries it.
        Err(e) if ctx.version() < 2 => {
            let empty = wanted
                .unwrap_or_default()
                .into_iter()
                .map(|(t, ps)| (t, ps.into_iter().map(|p| (p, None)).collect()))
                .collect();
            OffsetFetchResponse::default().with_topics(single_group_topics(empty, Some(e)))
        }
        Err(e) => OffsetFetchResponse::default().with_error_code(e.code()),
    }
}

/// (offset, leader epoch, metadata) as the response shows them; -1 for none.
fn values(o: Option<CommittedOffset>) -> (i64, i32, StrBytes) {
    match o {
        Some(o) => (o.offset, o.leader_epoch, str(o.metadata)),
        None => (-1, -1, StrBytes::default()),
    }
}

fn single_group_topics(fetched: FetchedOffsets, error: Option<E>) -> Vec<OffsetFetchResponseTopic> {
    fetched
        .into_iter()
        .map(|(topic, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(p, o)| {
                    let (offset, epoch, metadata) = values(o);
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(p)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(epoch)
                        .with_metadata(Some(metadata))
                        .with_error_code(error.map_or(0, |e| e.code()))
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(str(topic)))
                .with_partitions(partitions)
        })
        .collect()
}

fn group_answer(group_id: GroupId, result: Result<FetchedOffsets, E>) -> OffsetFetchResponseGroup {
    let fetched = match result {
        Ok(f) => f,
        Err(e) => {
            return OffsetFetchResponseGroup::default()
                .with_group_id(group_id)
                .with_error_code(e.code())
        }
    };
    let topics = fetched
        .into_iter()
        .map(|(topic, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(p, o)| {
                    let (offset, epoch, metadata) = values(o);
                    OffsetFetchResponsePartitions::default()
                        .with_partition_index(p)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(epoch)
                        .with_metadata(Some(metadata))
                })
                .collect();
            OffsetFetchResponseTopics::default()
                .with_name(TopicName(str(topic)))
                .with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponseGroup::default()
        .with_group_id(group_id)
        .with_topics(topics)
}
