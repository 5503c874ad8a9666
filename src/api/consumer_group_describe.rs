//! ConsumerGroupDescribe (69): a consumer group's epochs, assignor and members with their
//! current and target assignments. A missing or classic group answers GROUP_ID_NOT_FOUND.

use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

use super::group_common::{opt_str, str};
use super::RequestContext;
use crate::group::consumer::{self, Description};
use crate::security::acl::{AclOperation, ResourceType};

/// KIP-1099's member type of a member using the consumer protocol.
const CONSUMER_MEMBER: i8 = 1;
/// A member still on the classic protocol (a group migrating between the protocols).
const CLASSIC_MEMBER: i8 = 0;

pub async fn handle(
    ctx: RequestContext,
    req: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    // group.version 0: every group UNSUPPORTED_VERSION, as Kafka answers.
    if !ctx.features().consumer_protocol_enabled() {
        let groups = req
            .group_ids
            .into_iter()
            .map(|id| {
                DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(E::UnsupportedVersion.code())
            })
            .collect();
        return ConsumerGroupDescribeResponse::default().with_groups(groups);
    }
    let allowed: Vec<bool> = req
        .group_ids
        .iter()
        .map(|g| ctx.authorize_group(AclOperation::Describe, g))
        .collect();
    let ids: Vec<String> = req
        .group_ids
        .iter()
        .zip(&allowed)
        .filter(|(_, ok)| **ok)
        .map(|(g, _)| g.to_string())
        .collect();
    let described = ctx.groups().consumer_describe(ids).await;
    let mut described = match described {
        Ok(d) => d.into_iter(),
        Err(e) => {
            let failed = req
                .group_ids
                .into_iter()
                .map(|id| {
                    DescribedGroup::default()
                        .with_group_id(id)
                        .with_error_code(e.code())
                })
                .collect();
            return ConsumerGroupDescribeResponse::default().with_groups(failed);
        }
    };
    let groups = req
        .group_ids
        .into_iter()
        .zip(allowed)
        .map(|(id, allowed)| {
            let result = if !allowed {
                Err((E::GroupAuthorizationFailed, None))
            } else if id.is_empty() {
                Err((E::InvalidGroupId, None))
            } else {
                match described.next() {
                    Some(Ok(d)) => Ok(d),
                    Some(Err((e, message))) => Err((e, Some(message))),
                    None => Err((E::UnknownServerError, None)),
                }
            };
            let group = match result {
                Ok(d) => describe(&ctx, d),
                Err((e, message)) => DescribedGroup::default()
                    .with_error_code(e.code())
                    .with_error_message(message.map(StrBytes::from_string)),
            };
            let operations = ctx.authorized_operations_if(
                allowed && req.include_authorized_operations,
                ResourceType::Group,
                &id,
            );
            group
                .with_group_id(id)
                .with_authorized_operations(operations)
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}

fn describe(ctx: &RequestContext, d: Description) -> DescribedGroup {
    let assignment = |a: consumer::Assignment| {
        Assignment::default().with_topic_partitions(
            a.into_iter()
                .map(|(topic_id, ps)| {
                    let name = ctx
                        .topics()
                        .by_id(&topic_id)
                        .map(|t| t.name.clone())
                        .unwrap_or_default();
                    TopicPartitions::default()
                        .with_topic_id(topic_id)
                        .with_topic_name(TopicName(str(name)))
                        .with_partitions(ps.into_iter().collect())
                })
                .collect(),
        )
    };
    let members = d
        .members
        .into_iter()
        .map(|(m, target)| {
            Member::default()
                .with_member_id(str(m.id))
                .with_instance_id(opt_str(m.instance_id))
                .with_rack_id(opt_str(m.rack_id))
                .with_member_epoch(m.epoch)
                .with_client_id(str(m.client_id))
                .with_client_host(str(m.client_host))
                .with_subscribed_topic_names(
                    m.subscribed_topic_names
                        .into_iter()
                        .map(|n| TopicName(str(n)))
                        .collect(),
                )
                .with_subscribed_topic_regex(opt_str(m.subscribed_topic_regex))
                .with_assignment(assignment(m.assigned))
                .with_target_assignment(assignment(target))
                .with_member_type(match m.classic {
                    Some(_) => CLASSIC_MEMBER,
                    None => CONSUMER_MEMBER,
                })
        })
        .collect();
    DescribedGroup::default()
        .with_group_state(StrBytes::from_static_str(d.state.name()))
        .with_group_epoch(d.epoch)
        .with_assignment_epoch(d.assignment_epoch)
        .with_assignor_name(str(d.assignor))
        .with_members(members)
}
