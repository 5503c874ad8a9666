//! InitProducerId (22): ids for idempotent producers. Transactional ids are not served yet.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

use super::RequestContext;

pub async fn handle(ctx: RequestContext, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if req.transactional_id.is_some() {
        // Refused clearly rather than half-served: transactions are not implemented yet.
        return response.with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code());
    }
    // Without a transactional id, Kafka gives a fresh id with epoch 0 every time (also when a
    // producer asks to bump the epoch of the id it had).
    match ctx.broker.new_producer_id() {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            tracing::error!(error = %e, "cannot allocate a producer id");
            response.with_error_code(e.code())
        }
    }
}
