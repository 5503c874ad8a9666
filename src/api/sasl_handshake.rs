//! SaslHandshake (17). On a SASL listener the connection's authenticator
//! (server/sasl.rs) answers it before authentication; a request that reaches this handler
//! came on a listener without SASL, or after authentication on a connection whose session
//! has no end or began re-authenticating less than a second ago (server/connection.rs
//! starts a KIP-368 re-authentication otherwise), and Kafka answers it ILLEGAL_SASL_STATE.

use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};
use kafka_protocol::ResponseError;

use super::RequestContext;

pub async fn handle(_ctx: RequestContext, _req: SaslHandshakeRequest) -> SaslHandshakeResponse {
    SaslHandshakeResponse::default().with_error_code(ResponseError::IllegalSaslState.code())
}
