//! What ShareFetch and ShareAcknowledge share: their acknowledgement batches, a group's
//! share settings, how a partition is found, and the connection's share sessions.

use std::sync::Arc;

use kafka_protocol::ResponseError as E;
use uuid::Uuid;

use super::RequestContext;
use crate::group::coordinator::ShareSettings;
use crate::group::share::partition::{Ack, REJECT, RENEW};
use crate::meta::Partition;
use crate::security::acl::AclOperation;
use crate::shares::{FINAL_EPOCH, OPEN_EPOCH};

/// Acknowledgement batches as the state machine takes them.
pub fn acks(batches: impl IntoIterator<Item = (i64, i64, Vec<i8>)>) -> Vec<Ack> {
    batches
        .into_iter()
        .map(|(first, last, types)| Ack { first, last, types })
        .collect()
}

/// Kafka's `validateAcknowledgementBatches` on what the request's version allows: types up
/// to REJECT in v1, up to RENEW in v2, and RENEW only in a request that says IsRenewAck.
/// Otherwise the partition's acknowledgements are INVALID_REQUEST (the state machine checks
/// the rest of their form).
pub fn check_types(acks: &[Ack], version: i16, is_renew_ack: bool) -> Result<(), E> {
    let highest = if version >= 2 { RENEW } else { REJECT };
    let types = || acks.iter().flat_map(|a| a.types.iter().copied());
    if types().any(|t| !(0..=highest).contains(&t))
        || (!is_renew_ack && types().any(|t| t == RENEW))
    {
        return Err(E::InvalidRequest);
    }
    Ok(())
}

/// The group's share settings: its configs (IncrementalAlterConfigs on the GROUP) over the
/// defaults.
pub fn settings(ctx: &RequestContext, group_id: &str) -> ShareSettings {
    ctx.groups().share_settings(group_id)
}

/// The partition a share request names, if it exists here, is led here and the principal
/// may read its topic.
pub fn partition(ctx: &RequestContext, topic_id: &Uuid, index: i32) -> Result<Arc<Partition>, E> {
    let topic = ctx.topics().by_id(topic_id).ok_or(E::UnknownTopicId)?;
    if !ctx.authorize_topic(AclOperation::Read, &topic.name) {
        return Err(E::TopicAuthorizationFailed);
    }
    let p = topic.partition(index).ok_or(E::UnknownTopicOrPartition)?;
    if !p.is_led() {
        return Err(E::NotLeaderOrFollower);
    }
    Ok(p)
}

/// Whether a partition's acknowledgements may be applied here: only on its leader, which
/// holds its share state. Kafka 4.4's `SharePartitionManager.acknowledge` answers
/// UNKNOWN_TOPIC_OR_PARTITION for a partition it has no share partition of, which is every
/// partition another broker leads (`KafkaApis` answered TOPIC_AUTHORIZATION_FAILED and
/// UNKNOWN_TOPIC_OR_PARTITION before); nothing is applied and the other partitions are served.
pub fn acknowledgeable(
    ctx: &RequestContext,
    topic_id: &Uuid,
    index: i32,
) -> Result<Arc<Partition>, E> {
    match partition(ctx, topic_id, index) {
        Ok(p) => Ok(p),
        Err(E::NotLeaderOrFollower) => Err(E::UnknownTopicOrPartition),
        Err(e) => Err(e),
    }
}

/// A partition's leader as this broker knows it, for a partition answering
/// NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH (Kafka 4.4's `KafkaApis.getCurrentLeader`,
/// used by ShareFetch and ShareAcknowledge): its id and epoch (-1, -1 when unknown) and, when
/// it is live, its address on the request's listener for the response's NodeEndpoints.
pub struct CurrentLeader {
    pub id: i32,
    pub epoch: i32,
    pub endpoint: Option<(i32, String, i32)>,
}

/// Whether a partition's answer carries its current leader (Kafka's condition).
pub fn names_leader(error_code: i16) -> bool {
    error_code == E::NotLeaderOrFollower.code() || error_code == E::FencedLeaderEpoch.code()
}

pub fn current_leader(ctx: &RequestContext, topic_id: &Uuid, index: i32) -> CurrentLeader {
    let unknown = CurrentLeader {
        id: -1,
        epoch: -1,
        endpoint: None,
    };
    let Some(topic) = ctx.topics().by_id(topic_id) else {
        return unknown;
    };
    let cluster = ctx.cluster();
    let Some(id) = cluster.leader(&topic.name, index) else {
        return unknown;
    };
    CurrentLeader {
        id,
        epoch: cluster.leader_epoch(&topic.name, index),
        endpoint: ctx
            .broker_endpoints()
            .into_iter()
            .find(|(n, _, _)| *n == id),
    }
}

/// The request's group and member ids: both must be given (INVALID_REQUEST), and the
/// principal may READ the group.
pub fn ids(
    ctx: &RequestContext,
    group_id: Option<&str>,
    member_id: Option<&str>,
) -> Result<(String, String), E> {
    let group_id = group_id.unwrap_or_default();
    if !ctx.authorize_group(AclOperation::Read, group_id) {
        return Err(E::GroupAuthorizationFailed);
    }
    let member_id = member_id.unwrap_or_default();
    if group_id.is_empty() || member_id.is_empty() {
        return Err(E::InvalidRequest);
    }
    Ok((group_id.to_string(), member_id.to_string()))
}

/// A share session step succeeded: the connection remembers the sessions it opened (epoch
/// 0) and forgets those it closed (-1), so that its closing ends what is still open.
pub fn note_session(ctx: &RequestContext, group_id: &str, member_id: &str, epoch: i32) {
    match epoch {
        OPEN_EPOCH => ctx.connection().share_session(group_id, member_id, true),
        FINAL_EPOCH => ctx.connection().share_session(group_id, member_id, false),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::share::partition::ACCEPT;

    #[test]
    fn renew_needs_v2_and_is_renew_ack() {
        let renew = acks([(0, 1, vec![ACCEPT, RENEW])]);
        let accept = acks([(0, 1, vec![ACCEPT])]);
        assert_eq!(check_types(&renew, 1, true), Err(E::InvalidRequest));
        assert_eq!(check_types(&renew, 2, false), Err(E::InvalidRequest));
        assert_eq!(check_types(&renew, 2, true), Ok(()));
        assert_eq!(check_types(&accept, 1, false), Ok(()));
        assert_eq!(
            check_types(&accept, 2, true),
            Ok(()),
            "IsRenewAck may carry others"
        );
        assert_eq!(
            check_types(&acks([(0, 0, vec![5])]), 2, true),
            Err(E::InvalidRequest)
        );
        assert_eq!(
            check_types(&acks([(0, 0, vec![-1])]), 1, false),
            Err(E::InvalidRequest)
        );
    }
}
