//! InitProducerId (22): ids for idempotent producers; with a transactional id, the
//! transaction coordinator's id and epoch (fencing the id's previous producer).

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use kafka_protocol::ResponseError;

use super::txn_common::{check_transactional_id, fenced_error};
use super::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

pub async fn handle(ctx: RequestContext, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    // Kafka: WRITE on the transactional id; without one, IDEMPOTENT_WRITE on the cluster or
    // WRITE on some topic.
    let allowed = match &req.transactional_id {
        Some(id) => check_transactional_id(&ctx, id),
        None if ctx.authorize_cluster(AclOperation::IdempotentWrite)
            || ctx.authorize_by_resource_type(AclOperation::Write, ResourceType::Topic) =>
        {
            Ok(())
        }
        None => Err(ResponseError::ClusterAuthorizationFailed),
    };
    if let Err(e) = allowed {
        return response.with_error_code(e.code());
    }
    // Kafka (after the authorization checks): a producer id without an epoch, or an epoch
    // without an id, is INVALID_REQUEST. Both fields are v3+; older versions read -1 for both.
    if (req.producer_id.0 == -1) != (req.producer_epoch == -1) {
        return response.with_error_code(ResponseError::InvalidRequest.code());
    }
    if let Some(id) = &req.transactional_id {
        // v3+ may carry the producer's current id and epoch to resume after an error (KIP-360).
        let expected = (req.producer_id.0 >= 0).then_some((req.producer_id.0, req.producer_epoch));
        return match ctx
            .txns()
            .init_producer_id(id, req.transaction_timeout_ms, expected)
            .await
        {
            Ok((pid, epoch)) => response
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch),
            Err(e) => response.with_error_code(fenced_error(e, ctx.version(), 4).code()),
        };
    }
    // Without a transactional id, Kafka gives a fresh id with epoch 0 every time (also when a
    // producer asks to bump the epoch of the id it had).
    match ctx.txns().new_producer_id().await {
        Ok(id) => response
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(e) => {
            tracing::error!(error = %e, "cannot allocate a producer id");
            response.with_error_code(e.code())
        }
    }
}
