//! What the four delegation token APIs share (Kafka's `KafkaApis.allowTokenRequests` and the
//! controller's errors).

use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::security::tokens::TokenError;
use crate::security::{Principal, SecurityProtocol};

/// Kafka's `allowTokenRequests`: not on a token-authenticated connection, not on PLAINTEXT,
/// not by an anonymous client on SSL (one-way TLS).
pub fn allowed(ctx: &RequestContext) -> bool {
    let s = ctx.session();
    !(s.token_authenticated
        || s.security_protocol == SecurityProtocol::Plaintext
        || (s.security_protocol == SecurityProtocol::Ssl && s.principal == Principal::anonymous()))
}

/// The Kafka error of a failed token operation; a store failure is logged.
pub fn error_code(e: &TokenError) -> i16 {
    match e {
        TokenError::Disabled => ResponseError::DelegationTokenAuthDisabled,
        TokenError::NotFound => ResponseError::DelegationTokenNotFound,
        TokenError::Expired => ResponseError::DelegationTokenExpired,
        TokenError::OwnerMismatch => ResponseError::DelegationTokenOwnerMismatch,
        TokenError::Store(e) => {
            tracing::warn!(error = %e, "storing a delegation token failed");
            ResponseError::UnknownServerError
        }
    }
    .code()
}

/// Run a token operation (it blocks on the store) on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    ctx: &RequestContext,
    op: impl FnOnce(&crate::security::tokens::DelegationTokens) -> Result<T, TokenError>
        + Send
        + 'static,
) -> Result<T, TokenError> {
    let tokens = ctx.tokens().clone();
    tokio::task::spawn_blocking(move || op(&tokens))
        .await
        .unwrap_or_else(|e| {
            Err(TokenError::Store(crate::store::StoreError(format!(
                "token operation failed: {e}"
            ))))
        })
}
