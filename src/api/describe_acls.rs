//! DescribeAcls (29): gregor has no authorizer, so it answers as Kafka does without one:
//! SECURITY_DISABLED, which tools such as kafka-ui read as "ACLs are off".

use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::RequestContext;

pub async fn handle(_ctx: RequestContext, _req: DescribeAclsRequest) -> DescribeAclsResponse {
    DescribeAclsResponse::default()
        .with_error_code(ResponseError::SecurityDisabled.code())
        .with_error_message(Some(StrBytes::from_static_str(
            "No Authorizer is configured.",
        )))
}
