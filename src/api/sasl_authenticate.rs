//! SaslAuthenticate (36). On a SASL listener the connection's authenticator
//! (server/sasl.rs) takes the tokens before authentication; a request that reaches this
//! handler is answered ILLEGAL_SASL_STATE, as Kafka's KafkaApis does.

use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::RequestContext;

pub async fn handle(
    _ctx: RequestContext,
    _req: SaslAuthenticateRequest,
) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(ResponseError::IllegalSaslState.code())
        .with_error_message(Some(StrBytes::from_static_str(
            "SaslAuthenticate request received after successful authentication",
        )))
}
