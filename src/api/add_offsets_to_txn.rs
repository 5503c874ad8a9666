//! AddOffsetsToTxn (25): a consumer group's offsets join the transaction.

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::txn_common::{check_transactional_id, code};
use super::RequestContext;
use crate::security::acl::AclOperation;

pub async fn handle(ctx: RequestContext, req: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    // Kafka: WRITE on the transactional id, then READ on the group.
    let result = match check_transactional_id(&ctx, &req.transactional_id) {
        Err(e) => Err(e),
        Ok(()) if !ctx.authorize_group(AclOperation::Read, &req.group_id) => {
            Err(kafka_protocol::ResponseError::GroupAuthorizationFailed)
        }
        Ok(()) => {
            ctx.txns()
                .add_group(
                    &req.transactional_id,
                    req.producer_id.0,
                    req.producer_epoch,
                    &req.group_id,
                )
                .await
        }
    };
    AddOffsetsToTxnResponse::default().with_error_code(code(result, ctx.version(), 2))
}
