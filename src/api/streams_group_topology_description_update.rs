//! StreamsGroupTopologyDescriptionUpdate (93, KIP-1331): a Kafka Streams member hands the
//! broker a readable description of its topology for a topology-description plugin. gregor,
//! as Kafka 4.4 without `group.streams.topology.description.plugin.class` (its default), has
//! no plugin: after the protocol, authorization and coordinator checks the answer is
//! UNSUPPORTED_VERSION with Kafka's message. (Clients send it only when a heartbeat asks,
//! which gregor never does.)

use kafka_protocol::messages::{
    StreamsGroupTopologyDescriptionUpdateRequest, StreamsGroupTopologyDescriptionUpdateResponse,
};
use kafka_protocol::ResponseError as E;

use super::group_common::str;
use super::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(
    ctx: RequestContext,
    req: StreamsGroupTopologyDescriptionUpdateRequest,
) -> StreamsGroupTopologyDescriptionUpdateResponse {
    let answer = StreamsGroupTopologyDescriptionUpdateResponse::default();
    if !ctx.features().streams_groups_enabled() {
        return answer.with_error_code(E::UnsupportedVersion.code());
    }
    if !ctx.authorize_group(AclOperation::Read, &req.group_id) {
        return answer.with_error_code(E::GroupAuthorizationFailed.code());
    }
    answer
        .with_error_code(E::UnsupportedVersion.code())
        .with_error_message(Some(str(
            "The broker has no streams group topology description plugin configured.".into(),
        )))
}
