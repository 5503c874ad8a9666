//! CreateDelegationToken (38): a token for the requester, or for the owner it names, as
//! Kafka's `KafkaApis.handleCreateTokenRequest` and the controller's `createDelegationToken`:
//! refused on PLAINTEXT, one-way SSL and token-authenticated connections
//! (DELEGATION_TOKEN_REQUEST_NOT_ALLOWED); a token for another owner needs CREATE_TOKENS on
//! that owner's User resource (DELEGATION_TOKEN_AUTHORIZATION_FAILED); renewers must be users
//! (INVALID_PRINCIPAL_TYPE); without a secret key DELEGATION_TOKEN_AUTH_DISABLED.

use bytes::Bytes;
use kafka_protocol::messages::{CreateDelegationTokenRequest, CreateDelegationTokenResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::token_common::{allowed, blocking, error_code};
use super::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};
use crate::security::Principal;

/// Kafka's `prepareResponse(version, throttle, error, owner, requester)`: the principals, -1
/// timestamps, no token.
fn refused(
    error: ResponseError,
    owner: &Principal,
    requester: &Principal,
) -> CreateDelegationTokenResponse {
    principals(CreateDelegationTokenResponse::default(), owner, requester)
        .with_error_code(error.code())
        .with_issue_timestamp_ms(-1)
        .with_expiry_timestamp_ms(-1)
        .with_max_timestamp_ms(-1)
}

fn principals(
    r: CreateDelegationTokenResponse,
    owner: &Principal,
    requester: &Principal,
) -> CreateDelegationTokenResponse {
    r.with_principal_type(StrBytes::from(owner.principal_type.clone()))
        .with_principal_name(StrBytes::from(owner.name.clone()))
        .with_token_requester_principal_type(StrBytes::from(requester.principal_type.clone()))
        .with_token_requester_principal_name(StrBytes::from(requester.name.clone()))
}

pub async fn handle(
    ctx: RequestContext,
    req: CreateDelegationTokenRequest,
) -> CreateDelegationTokenResponse {
    let requester = ctx.session().principal.clone();
    let owner = match &req.owner_principal_name {
        Some(name) if !name.is_empty() => Principal {
            principal_type: req
                .owner_principal_type
                .as_ref()
                .map(|t| t.to_string())
                .unwrap_or_default(),
            name: name.to_string(),
        },
        _ => requester.clone(),
    };
    if !allowed(&ctx) {
        return refused(
            ResponseError::DelegationTokenRequestNotAllowed,
            &owner,
            &requester,
        );
    }
    if owner != requester
        && !ctx.authorize(
            AclOperation::CreateTokens,
            ResourceType::User,
            &owner.to_string(),
        )
    {
        return refused(
            ResponseError::DelegationTokenAuthorizationFailed,
            &owner,
            &requester,
        );
    }
    if req
        .renewers
        .iter()
        .any(|r| r.principal_type.as_str() != "User")
    {
        return refused(ResponseError::InvalidPrincipalType, &owner, &requester);
    }
    let renewers: Vec<Principal> = req
        .renewers
        .iter()
        .map(|r| Principal::user(r.principal_name.to_string()))
        .collect();
    let base = principals(CreateDelegationTokenResponse::default(), &owner, &requester);
    let (o, r, lifetime) = (owner.clone(), requester.clone(), req.max_lifetime_ms);
    let now = crate::clock::now_ms();
    match blocking(&ctx, move |t| t.create(o, r, renewers, lifetime, now)).await {
        Ok((info, hmac)) => base
            .with_issue_timestamp_ms(info.issue_ms)
            .with_expiry_timestamp_ms(info.expiry_ms)
            .with_max_timestamp_ms(info.max_ms)
            .with_token_id(StrBytes::from(info.token_id))
            .with_hmac(Bytes::from(hmac)),
        Err(e) => base.with_error_code(error_code(&e)),
    }
}
