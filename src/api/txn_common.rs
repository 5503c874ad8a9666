//! What the transaction APIs share.

use kafka_protocol::ResponseError as E;

use super::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};

/// Before the version that introduced PRODUCER_FENCED (v2 of AddPartitionsToTxn,
/// AddOffsetsToTxn and EndTxn, v4 of InitProducerId), Kafka answers INVALID_PRODUCER_EPOCH.
pub fn fenced_error(e: E, version: i16, fenced_since: i16) -> E {
    if e == E::ProducerFenced && version < fenced_since {
        E::InvalidProducerEpoch
    } else {
        e
    }
}

/// Kafka's first check of every transactional request: WRITE on the transactional id.
pub fn check_transactional_id(ctx: &RequestContext, id: &str) -> Result<(), E> {
    if ctx.authorize(AclOperation::Write, ResourceType::TransactionalId, id) {
        Ok(())
    } else {
        Err(E::TransactionalIdAuthorizationFailed)
    }
}

/// The code of a result.
pub fn code(r: Result<(), E>, version: i16, fenced_since: i16) -> i16 {
    r.err()
        .map_or(0, |e| fenced_error(e, version, fenced_since).code())
}
