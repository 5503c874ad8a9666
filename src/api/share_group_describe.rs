//! ShareGroupDescribe (77): a share group's state, epochs, assignor (`simple`) and members
//! with their assignments. A missing group, or one of another type, answers
//! GROUP_ID_NOT_FOUND.

use kafka_protocol::messages::share_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{ShareGroupDescribeRequest, ShareGroupDescribeResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

use super::group_common::{opt_str, str};
use super::RequestContext;
use crate::group::consumer::Assignment as Assigned;
use crate::group::share::{ShareDescription, ASSIGNOR};
use crate::security::acl::{AclOperation, ResourceType};

pub async fn handle(
    ctx: RequestContext,
    req: ShareGroupDescribeRequest,
) -> ShareGroupDescribeResponse {
    // share.version 0: share groups are off, every group UNSUPPORTED_VERSION (Kafka).
    if !ctx.features().share_groups_enabled() {
        let groups = req
            .group_ids
            .into_iter()
            .map(|id| {
                DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(E::UnsupportedVersion.code())
            })
            .collect();
        return ShareGroupDescribeResponse::default().with_groups(groups);
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
    let mut described = match ctx.groups().share_describe(ids).await {
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
            return ShareGroupDescribeResponse::default().with_groups(failed);
        }
    };
    let groups = req
        .group_ids
        .into_iter()
        .zip(allowed)
        .map(|(id, allowed)| {
            let result = if !allowed {
                Err(E::GroupAuthorizationFailed)
            } else if id.is_empty() {
                Err(E::InvalidGroupId)
            } else {
                described.next().unwrap_or(Err(E::UnknownServerError))
            };
            let group = match result {
                Ok(d) => describe(&ctx, d),
                Err(e) => DescribedGroup::default().with_error_code(e.code()),
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
    ShareGroupDescribeResponse::default().with_groups(groups)
}

fn describe(ctx: &RequestContext, d: ShareDescription) -> DescribedGroup {
    let assignment = |a: Assigned| {
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
        .map(|m| {
            Member::default()
                .with_member_id(str(m.id))
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
                .with_assignment(assignment(m.assigned))
        })
        .collect();
    DescribedGroup::default()
        .with_group_state(StrBytes::from_static_str(d.state))
        .with_group_epoch(d.epoch)
        .with_assignment_epoch(d.assignment_epoch)
        .with_assignor_name(StrBytes::from_static_str(ASSIGNOR))
        .with_members(members)
}
