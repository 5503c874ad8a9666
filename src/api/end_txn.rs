//! EndTxn (26): commit or abort. Answered once the markers are durable on every partition of
//! the transaction (and a commit's group offsets are visible). v5 is transactions v2
//! (KIP-890): the end bumps the producer epoch and answers the producer id and epoch the
//! client continues with.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::txn_common::{check_transactional_id, code};
use super::RequestContext;

/// The first EndTxn version of transactions v2.
const V2: i16 = 5;

pub async fn handle(ctx: RequestContext, req: EndTxnRequest) -> EndTxnResponse {
    let response = EndTxnResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if let Err(e) = check_transactional_id(&ctx, &req.transactional_id) {
        return response.with_error_code(code(Err(e), ctx.version(), 2));
    }
    let txns = ctx.txns();
    let (id, pid, epoch, commit) = (
        &req.transactional_id,
        req.producer_id.0,
        req.producer_epoch,
        req.committed,
    );
    if ctx.version() < V2 {
        let result = txns.end(id, pid, epoch, commit).await;
        return response.with_error_code(code(result, ctx.version(), 2));
    }
    match txns.end_v2(id, pid, epoch, commit).await {
        Ok((pid, epoch)) => response
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch),
        Err(e) => response.with_error_code(code(Err(e), ctx.version(), 2)),
    }
}
