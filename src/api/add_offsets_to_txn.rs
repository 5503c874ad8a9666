//! AddOffsetsToTxn (25): a consumer group's offsets join the transaction.

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::txn_common::code;
use super::RequestContext;

pub async fn handle(ctx: RequestContext, req: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let result = ctx
        .txns()
        .add_group(
            &req.transactional_id,
            req.producer_id.0,
            req.producer_epoch,
            &req.group_id,
        )
        .await;
    AddOffsetsToTxnResponse::default().with_error_code(code(result, ctx.version(), 2))
}
