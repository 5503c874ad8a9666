//! OffsetFetch (9): one group before v8, a batch of groups from v8. Null topics (v2+) asks
//! for every committed offset of the group. v10 (KIP-848) names topics by id: an id no topic
//! has answers UNKNOWN_TOPIC_ID for its partitions (after the others, as Kafka 4.4 does), and
//! of "every topic" only those that still exist are listed.

use std::collections::HashMap;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;
use uuid::Uuid;

use super::group_common::{str, topic_id_of, topic_names_by_id};
use super::RequestContext;
use crate::group::coordinator::FetchedOffsets;
use crate::group::offsets::CommittedOffset;
use crate::security::acl::AclOperation;

type Wanted = Option<Vec<(String, Vec<i32>)>>;

pub async fn handle(ctx: RequestContext, req: OffsetFetchRequest) -> OffsetFetchResponse {
    if ctx.version() >= 8 {
        let mut answers = Vec::with_capacity(req.groups.len());
        for g in req.groups {
            let mut naming = Naming::new(ctx.version() >= 10);
            let wanted: Wanted = match g.topics {
                None => None,
                Some(ts) if naming.by_id => Some(naming.resolve(&ctx, ts).await),
                Some(ts) => Some(
                    ts.into_iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes))
                        .collect(),
                ),
            };
            // v9: a consumer group's member id and epoch (null / -1 from admin tools).
            let member = (g.member_id.as_ref().map(|m| m.to_string()), g.member_epoch);
            let result = fetch(&ctx, &g.group_id, wanted, req.require_stable, member).await;
            answers.push(group_answer(&ctx, g.group_id, result, naming));
        }
        return OffsetFetchResponse::default().with_groups(answers);
    }
    let wanted: Wanted = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.to_string(), t.partition_indexes))
            .collect()
    });
    let member = (None, -1);
    match fetch(
        &ctx,
        &req.group_id,
        wanted.clone(),
        req.require_stable,
        member,
    )
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
                .map(|(t, ps)| (t, ps.into_iter().map(|p| (p, Ok(None))).collect()))
                .collect();
            OffsetFetchResponse::default().with_topics(single_group_topics(empty, Some(e)))
        }
        Err(e) => OffsetFetchResponse::default().with_error_code(e.code()),
    }
}

/// One group's offsets as the principal may see them (Kafka's KafkaApis): DESCRIBE on the
/// group, and offsets only of topics it may DESCRIBE — a topic asked for answers
/// TOPIC_AUTHORIZATION_FAILED, one found by "every topic" is left out.
async fn fetch(
    ctx: &RequestContext,
    group: &str,
    wanted: Wanted,
    require_stable: bool,
    (member_id, member_epoch): (Option<String>, i32),
) -> Result<Slots, E> {
    if !ctx.authorize_group(AclOperation::Describe, group) {
        return Err(E::GroupAuthorizationFailed);
    }
    let describable = |t: &str| ctx.authorize_topic(AclOperation::Describe, t);
    let (wanted, denied) = match wanted {
        None => (None, Vec::new()),
        Some(list) => {
            let (ok, denied): (Vec<_>, Vec<_>) =
                list.into_iter().partition(|(t, _)| describable(t));
            (Some(ok), denied)
        }
    };
    let all = wanted.is_none();
    let fetched = ctx
        .groups()
        .fetch_offsets_as(group.to_string(), wanted, member_id, member_epoch)
        .await?;
    let pending = pending(ctx, group, require_stable).await;
    let mut slots = mark_unstable(&pending, fetched);
    if all {
        slots.retain(|(t, _)| describable(t));
    }
    slots.extend(denied.into_iter().map(|(t, partitions)| {
        let failed = partitions
            .into_iter()
            .map(|p| (p, Err(E::TopicAuthorizationFailed)))
            .collect();
        (t, failed)
    }));
    Ok(slots)
}

/// A partition's committed offset, or why there is none to show.
type Slot = Result<Option<CommittedOffset>, E>;
/// Offsets by topic with their slots, as the response lists them.
type Slots = Vec<(String, Vec<(i32, Slot)>)>;

/// With require_stable (v7+): the group's partitions whose offset a transaction holds
/// pending (asked of the transaction coordinator; none when it is not available).
async fn pending(ctx: &RequestContext, group: &str, require_stable: bool) -> Pending {
    if !require_stable {
        return Pending::new();
    }
    ctx.txns().pending_offsets(group).await.unwrap_or_default()
}

type Pending = std::collections::HashSet<(String, i32)>;

/// A partition whose offset a transaction holds pending answers UNSTABLE_OFFSET_COMMIT, as
/// Kafka does.
fn mark_unstable(pending: &Pending, fetched: FetchedOffsets) -> Slots {
    fetched
        .into_iter()
        .map(|(topic, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(p, o)| {
                    let unstable = pending.contains(&(topic.clone(), p));
                    (
                        p,
                        if unstable {
                            Err(E::UnstableOffsetCommit)
                        } else {
                            Ok(o)
                        },
                    )
                })
                .collect();
            (topic, partitions)
        })
        .collect()
}

/// (offset, leader epoch, metadata, error code) as the response shows them; -1 for none.
fn values(o: Slot) -> (i64, i32, StrBytes, i16) {
    match o {
        Ok(Some(o)) => (o.offset, o.leader_epoch, str(o.metadata), 0),
        Ok(None) => (-1, -1, StrBytes::default(), 0),
        Err(e) => (-1, -1, StrBytes::default(), e.code()),
    }
}

fn single_group_topics(fetched: Slots, error: Option<E>) -> Vec<OffsetFetchResponseTopic> {
    fetched
        .into_iter()
        .map(|(topic, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(p, o)| {
                    let (offset, epoch, metadata, code) = values(o);
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(p)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(epoch)
                        .with_metadata(Some(metadata))
                        .with_error_code(error.map_or(code, |e| e.code()))
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(str(topic)))
                .with_partitions(partitions)
        })
        .collect()
}

/// How a v8+ answer names its topics: by name, or from v10 by id (the ids asked for, those
/// that name no topic kept aside for their UNKNOWN_TOPIC_ID answer).
struct Naming {
    by_id: bool,
    asked: HashMap<String, Uuid>,
    unknown: Vec<(Uuid, Vec<i32>)>,
}

impl Naming {
    fn new(by_id: bool) -> Naming {
        Naming {
            by_id,
            asked: HashMap::new(),
            unknown: Vec::new(),
        }
    }

    /// The topics asked for by id, as names with their partitions; unknown ids set aside.
    async fn resolve(
        &mut self,
        ctx: &RequestContext,
        topics: Vec<kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopics>,
    ) -> Vec<(String, Vec<i32>)> {
        let names = topic_names_by_id(ctx, topics.iter().map(|t| t.topic_id)).await;
        let mut wanted = Vec::with_capacity(topics.len());
        for (t, name) in topics.into_iter().zip(names) {
            match name {
                Some(name) => {
                    self.asked.insert(name.clone(), t.topic_id);
                    wanted.push((name, t.partition_indexes));
                }
                None => self.unknown.push((t.topic_id, t.partition_indexes)),
            }
        }
        wanted
    }

    /// The id a v10 answer gives the topic of that name; the zero id when it no longer exists.
    fn id_of(&self, ctx: &RequestContext, name: &str) -> Uuid {
        match self.asked.get(name) {
            Some(id) => *id,
            None => topic_id_of(ctx.topics(), name),
        }
    }
}

fn group_answer(
    ctx: &RequestContext,
    group_id: GroupId,
    result: Result<Slots, E>,
    naming: Naming,
) -> OffsetFetchResponseGroup {
    let fetched = match result {
        Ok(f) => f,
        Err(e) => {
            return OffsetFetchResponseGroup::default()
                .with_group_id(group_id)
                .with_error_code(e.code())
        }
    };
    let named = fetched.into_iter().map(|(topic, partitions)| {
        let id = match naming.by_id {
            true => naming.id_of(ctx, &topic),
            false => Uuid::nil(),
        };
        (TopicName(str(topic)), id, partitions)
    });
    let unknown = naming.unknown.iter().map(|(id, partitions)| {
        let failed = partitions
            .iter()
            .map(|p| (*p, Err(E::UnknownTopicId)))
            .collect();
        (TopicName::default(), *id, failed)
    });
    let topics = named
        // v10: a topic deleted since its offsets were committed has no id to show.
        .filter(|(_, id, _)| !naming.by_id || !id.is_nil())
        .chain(unknown)
        .map(|(name, id, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(p, o)| {
                    let (offset, epoch, metadata, code) = values(o);
                    OffsetFetchResponsePartitions::default()
                        .with_partition_index(p)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(epoch)
                        .with_metadata(Some(metadata))
                        .with_error_code(code)
                })
                .collect();
            OffsetFetchResponseTopics::default()
                .with_name(name)
                .with_topic_id(id)
                .with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponseGroup::default()
        .with_group_id(group_id)
        .with_topics(topics)
}
