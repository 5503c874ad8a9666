//! RenewDelegationToken (39): extend a token's expiry, as the controller's
//! `renewDelegationToken` (after `KafkaApis.allowTokenRequests`): the token's owner or a
//! renewer, for at most (and by default) `delegation_token_expiry_time_ms`, never past its
//! max lifetime.

use kafka_protocol::messages::{RenewDelegationTokenRequest, RenewDelegationTokenResponse};
use kafka_protocol::ResponseError;

use super::token_common::{allowed, blocking, error_code};
use super::RequestContext;

pub async fn handle(
    ctx: RequestContext,
    req: RenewDelegationTokenRequest,
) -> RenewDelegationTokenResponse {
    if !allowed(&ctx) {
        return RenewDelegationTokenResponse::default()
            .with_error_code(ResponseError::DelegationTokenRequestNotAllowed.code());
    }
    let principal = ctx.session().principal.clone();
    let (hmac, period, now) = (req.hmac, req.renew_period_ms, crate::clock::now_ms());
    match blocking(&ctx, move |t| t.renew(&hmac, &principal, period, now)).await {
        Ok(expiry) => RenewDelegationTokenResponse::default().with_expiry_timestamp_ms(expiry),
        Err(e) => RenewDelegationTokenResponse::default().with_error_code(error_code(&e)),
    }
}
