//! Small conversions the group APIs share.

use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

use std::sync::Arc;

use uuid::Uuid;

use super::{catalog, RequestContext};
use crate::group::consumer::{TopicLookup, TopicView};
use crate::security::acl::{AclOperation, ResourceType};
use crate::security::{Authorizer, Session};
use crate::topics::Topics;

pub fn str(s: String) -> StrBytes {
    StrBytes::from_string(s)
}

pub fn opt_str(s: Option<String>) -> Option<StrBytes> {
    s.map(StrBytes::from_string)
}

pub fn code(e: Option<E>) -> i16 {
    e.map_or(0, |e| e.code())
}

/// Offsets can be committed or deleted only for partitions that exist (as in Kafka).
pub fn partition_exists(topics: &Topics, topic: &str, partition: i32) -> bool {
    topics
        .get(topic)
        .is_some_and(|t| (0..t.partition_count()).contains(&partition))
}

/// The names of the topics with these ids (OffsetCommit and OffsetFetch v10), in order; None
/// where no topic has the id (the zero id never does): Kafka answers UNKNOWN_TOPIC_ID there.
/// In cluster mode the catalog is brought up to date first when an id is not known yet.
pub async fn topic_names_by_id(
    ctx: &RequestContext,
    ids: impl Iterator<Item = Uuid> + Clone,
) -> Vec<Option<String>> {
    let lagging = ctx
        .topics()
        .may_lag_ids(ids.clone().collect::<Vec<_>>().iter());
    catalog::catch_up_if(ctx, lagging).await;
    ids.map(|id| ctx.topics().by_id(&id).map(|t| t.name.clone()))
        .collect()
}

/// The name of each topic a request names (OffsetCommit v10 and TxnOffsetCommit v6 name them
/// by id, earlier versions by name), None where no topic has the id.
pub async fn requested_topic_names<'a>(
    ctx: &RequestContext,
    by_id: bool,
    topics: impl Iterator<Item = (Uuid, &'a str)> + Clone,
) -> Vec<Option<String>> {
    if by_id {
        topic_names_by_id(ctx, topics.map(|(id, _)| id)).await
    } else {
        topics.map(|(_, name)| Some(name.to_string())).collect()
    }
}

/// The id of the topic of that name, or the zero id when there is none.
pub fn topic_id_of(topics: &Topics, name: &str) -> Uuid {
    topics.get(name).map_or(Uuid::nil(), |t| t.id)
}

/// The topics as a group member sees them (its heartbeat or its classic JoinGroup into a
/// consumer group).
pub fn member_topics(ctx: &RequestContext) -> TopicLookup {
    Arc::new(MemberTopics {
        topics: ctx.topics().clone(),
        authorizer: ctx.authorizer().cloned(),
        session: ctx.session().clone(),
    })
}

/// The topics as the heartbeating member sees them: by name, and through its regex those it
/// may describe (Kafka resolves a regex with its member's permissions, and leaves out the
/// others silently).
struct MemberTopics {
    topics: Arc<Topics>,
    authorizer: Option<Arc<Authorizer>>,
    session: Session,
}

impl TopicView for MemberTopics {
    fn lookup(&self, name: &str) -> Option<(uuid::Uuid, i32)> {
        self.topics.get(name).map(|t| (t.id, t.partition_count()))
    }

    fn matching(&self, regex: &regex::Regex) -> Vec<String> {
        let may_describe = |name: &str| {
            self.authorizer.as_ref().is_none_or(|a| {
                a.authorize(
                    &self.session,
                    AclOperation::Describe,
                    ResourceType::Topic,
                    name,
                )
            })
        };
        let mut names: Vec<String> = self
            .topics
            .all()
            .into_iter()
            .filter(|t| regex.is_match(&t.name) && may_describe(&t.name))
            .map(|t| t.name.clone())
            .collect();
        names.sort();
        names
    }
}
