//! ExpireDelegationToken (40): end a token, as the controller's `expireDelegationToken`
//! (after `KafkaApis.allowTokenRequests`): the token's owner or a renewer; a negative period
//! removes it at once (what the AdminClient and kafka-delegation-tokens --expire send by
//! default), else it expires that long from now, never past its max lifetime.

use kafka_protocol::messages::{ExpireDelegationTokenRequest, ExpireDelegationTokenResponse};
use kafka_protocol::ResponseError;

use super::token_common::{allowed, blocking, error_code};
use super::RequestContext;

pub async fn handle(
    ctx: RequestContext,
    req: ExpireDelegationTokenRequest,
) -> ExpireDelegationTokenResponse {
    if !allowed(&ctx) {
        return ExpireDelegationTokenResponse::default()
            .with_error_code(ResponseError::DelegationTokenRequestNotAllowed.code());
    }
    let principal = ctx.session().principal.clone();
    let (hmac, period, now) = (req.hmac, req.expiry_time_period_ms, crate::clock::now_ms());
    match blocking(&ctx, move |t| t.expire(&hmac, &principal, period, now)).await {
        Ok(expiry) => ExpireDelegationTokenResponse::default().with_expiry_timestamp_ms(expiry),
        Err(e) => ExpireDelegationTokenResponse::default().with_error_code(error_code(&e)),
    }
}
