//! A subscribed instance's group membership, by the consumer group protocol of KIP-848: the
//! first ConsumerGroupHeartbeat joins (epoch 0), each later one keeps the membership and
//! brings the assignment the broker's group coordinator computed, and epoch -1 leaves. A task
//! per subscribed instance heartbeats at the interval the coordinator asks for; it also closes
//! the instances left idle.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ConsumerGroupHeartbeatRequest, GroupId, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use uuid::Uuid;

use super::{Instance, State, Tp};
use crate::http::error::{HttpError, HttpResult};
use crate::http::Gateway;

/// How long the coordinator waits for a member to give up revoked partitions (Kafka's
/// `max.poll.interval.ms` default, which its consumer sends).
const REBALANCE_TIMEOUT_MS: i32 = 300_000;
/// The heartbeat protocol version sent (v1: the member id is made here).
const HEARTBEAT_VERSION: i16 = 1;

/// A member of the instance's group.
pub struct Member {
    pub id: String,
    pub epoch: i32,
    /// The partitions the coordinator gave it (and it owns).
    pub assignment: Vec<Tp>,
    /// Subscribed topics' ids (assignments name topics by id).
    ids: HashMap<Uuid, String>,
}

impl Member {
    pub fn new() -> Self {
        Self {
            id: Uuid::new_v4().to_string(),
            epoch: 0,
            assignment: Vec::new(),
            ids: HashMap::new(),
        }
    }

    /// The subscription changed: read the topics' ids again.
    pub fn forget_topic_ids(&mut self) {
        self.ids.clear();
    }
}

/// One heartbeat of `state`'s member (joining if it has not yet); returns when the next is due.
pub async fn heartbeat(
    gw: &Gateway,
    instance: &Instance,
    state: &mut State,
) -> HttpResult<Duration> {
    let subscription = state.subscription.clone();
    let pattern = state.pattern.clone();
    let Some(member) = state.member.as_mut() else {
        return Ok(Duration::from_secs(1));
    };
    if member.ids.len() < subscription.len() {
        member.ids = topic_ids(gw, Some(&subscription)).await?;
    }
    if pattern.is_some() && member.ids.is_empty() && !member.assignment.is_empty() {
        member.ids = topic_ids(gw, None).await?;
    }
    let by_name: HashMap<&String, Uuid> = member.ids.iter().map(|(id, n)| (n, *id)).collect();
    let mut owned: HashMap<Uuid, Vec<i32>> = HashMap::new();
    for (topic, p) in &member.assignment {
        if let Some(id) = by_name.get(topic) {
            owned.entry(*id).or_default().push(*p);
        }
    }
    let request = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(instance.group.clone())))
        .with_member_id(StrBytes::from_string(member.id.clone()))
        .with_member_epoch(member.epoch)
        .with_rebalance_timeout_ms(REBALANCE_TIMEOUT_MS)
        .with_subscribed_topic_names(pattern.is_none().then(|| {
            subscription
                .iter()
                .map(|t| TopicName(StrBytes::from_string(t.clone())))
                .collect()
        }))
        .with_subscribed_topic_regex(pattern.map(StrBytes::from_string))
        .with_topic_partitions(Some(
            owned
                .into_iter()
                .map(|(id, partitions)| {
                    TopicPartitions::default()
                        .with_topic_id(id)
                        .with_partitions(partitions)
                })
                .collect(),
        ));
    let response = gw.call(None, HEARTBEAT_VERSION, &request).await?;
    let code = response.error_code;
    if code == ResponseError::UnknownMemberId.code()
        || code == ResponseError::FencedMemberEpoch.code()
    {
        // Lost the membership (a session timeout): join again at once with nothing owned.
        member.epoch = 0;
        member.assignment.clear();
        state.positions.clear();
        return Ok(Duration::ZERO);
    }
    if code == ResponseError::InvalidRegularExpression.code() {
        return Err(super::invalid_config(
            "topic_pattern is not a regular expression (RE2 syntax)",
        ));
    }
    if code == ResponseError::GroupIdNotFound.code()
        || code == ResponseError::InconsistentGroupProtocol.code()
    {
        return Err(super::illegal_state(&format!(
            "group {} is not a consumer group a subscription can join (another type, or a classic group with members)",
            instance.group
        )));
    }
    if code != 0 {
        let message = response.error_message.as_ref().map(|m| m.to_string());
        return Err(HttpError::kafka(code, message.as_deref()));
    }
    member.epoch = response.member_epoch;
    if let Some(assignment) = response.assignment {
        let unknown = |ids: &HashMap<Uuid, String>| {
            assignment
                .topic_partitions
                .iter()
                .any(|tp| !ids.contains_key(&tp.topic_id))
        };
        if unknown(&member.ids) {
            // A topic the pattern matched, or one re-created under its name: read the ids.
            member.ids = topic_ids(gw, None).await?;
        }
        let mut given = Vec::new();
        for tp in assignment.topic_partitions {
            if let Some(name) = member.ids.get(&tp.topic_id) {
                given.extend(tp.partitions.iter().map(|p| (name.clone(), *p)));
            }
        }
        given.sort();
        member.assignment = given;
        let assigned = &member.assignment;
        state.positions.retain(|tp, _| assigned.contains(tp));
    }
    let interval = response.heartbeat_interval_ms.clamp(100, 30_000);
    Ok(Duration::from_millis(interval as u64))
}

/// Leave the group (epoch -1); the membership goes whatever the answer.
pub async fn leave(gw: &Gateway, instance: &Instance, state: &mut State) {
    let Some(member) = state.member.take() else {
        return;
    };
    let request = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(instance.group.clone())))
        .with_member_id(StrBytes::from_string(member.id))
        .with_member_epoch(-1);
    if let Err(e) = gw.call(None, HEARTBEAT_VERSION, &request).await {
        tracing::debug!(group = %instance.group, error = %e.message, "http consumer: leaving failed");
    }
    state.positions.clear();
}

/// Close `instance`: commit what it read (with auto commit), leave its group.
pub async fn close(gw: &Gateway, instance: &Instance) {
    let mut state = instance.state.lock().await;
    if instance.settings.auto_commit {
        let offsets = state.consumed();
        if let Err(e) = super::positions::commit(gw, instance, &state, &offsets).await {
            tracing::debug!(group = %instance.group, error = %e.message, "http consumer: commit at close failed");
        }
    }
    leave(gw, instance, &mut state).await;
}

/// Heartbeat `instance` until it is closed or unsubscribed; close idle instances on the way.
pub fn spawn_heartbeats(gw: Arc<Gateway>, instance: Arc<Instance>) {
    tokio::spawn(async move {
        loop {
            for idle in gw.consumers.take_idle(Instant::now()) {
                close(&gw.acting_for(idle.owner.clone()), &idle).await;
            }
            let next = {
                let mut state = instance.state.lock().await;
                if instance.closed.is_cancelled() || state.member.is_none() {
                    return;
                }
                match heartbeat(&gw, &instance, &mut state).await {
                    Ok(next) => next,
                    Err(e) => {
                        tracing::debug!(group = %instance.group, error = %e.message, "http consumer: heartbeat failed");
                        Duration::from_secs(1)
                    }
                }
            };
            tokio::select! {
                _ = instance.closed.cancelled() => return,
                _ = tokio::time::sleep(next) => {}
            }
        }
    });
}

/// The ids of `topics` (None: of every topic the caller may see) that exist, from Metadata.
async fn topic_ids(gw: &Gateway, topics: Option<&[String]>) -> HttpResult<HashMap<Uuid, String>> {
    let request = MetadataRequest::default().with_topics(topics.map(|topics| {
        topics
            .iter()
            .map(|t| {
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
            })
            .collect()
    }));
    let response = gw.call(None, 12, &request).await?;
    Ok(response
        .topics
        .into_iter()
        .filter(|t| t.error_code == 0)
        .filter_map(|t| Some((t.topic_id, t.name?.0.to_string())))
        .collect())
}
