//! EndTxn (26): commit or abort. Answered once the markers are durable on every partition of
//! the transaction (and a commit's group offsets are visible). v5 (KIP-890 transactions v2)
//! is not advertised.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

use super::txn_common::{check_transactional_id, code};
use super::RequestContext;

pub async fn handle(ctx: RequestContext, req: EndTxnRequest) -> EndTxnResponse {
    let result = match check_transactional_id(&ctx, &req.transactional_id) {
        Ok(()) => {
            ctx.txns()
                .end(
                    &req.transactional_id,
                    req.producer_id.0,
                    req.producer_epoch,
                    req.committed,
                )
                .await
        }
        Err(e) => Err(e),
    };
    EndTxnResponse::default().with_error_code(code(result, ctx.version(), 2))
}
