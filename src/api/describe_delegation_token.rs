//! DescribeDelegationToken (41): the tokens a principal may see, as Kafka's
//! `KafkaApis.handleDescribeTokensRequest` and `DelegationTokenManager.filterToken`: refused
//! as the other token APIs are (DELEGATION_TOKEN_REQUEST_NOT_ALLOWED), then
//! DELEGATION_TOKEN_AUTH_DISABLED without a secret key; an empty owner list describes
//! nothing, a null one every token. A token is shown when it belongs to (as owner, requester
//! or renewer) one of the owners asked for, and the requester is its owner, requester or a
//! renewer, or may DESCRIBE the DelegationToken resource of its id or DESCRIBE_TOKENS on its
//! owner's User resource.

use bytes::Bytes;
use kafka_protocol::messages::describe_delegation_token_response::{
    DescribedDelegationToken, DescribedDelegationTokenRenewer,
};
use kafka_protocol::messages::{DescribeDelegationTokenRequest, DescribeDelegationTokenResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::token_common::allowed;
use super::RequestContext;
use crate::security::acl::{AclOperation, ResourceType};
use crate::security::tokens::TokenInfo;
use crate::security::Principal;

fn described(info: TokenInfo, hmac: Vec<u8>) -> DescribedDelegationToken {
    let s = |v: String| StrBytes::from(v);
    DescribedDelegationToken::default()
        .with_principal_type(s(info.owner.principal_type))
        .with_principal_name(s(info.owner.name))
        .with_token_requester_principal_type(s(info.requester.principal_type))
        .with_token_requester_principal_name(s(info.requester.name))
        .with_issue_timestamp(info.issue_ms)
        .with_expiry_timestamp(info.expiry_ms)
        .with_max_timestamp(info.max_ms)
        .with_token_id(s(info.token_id))
        .with_hmac(Bytes::from(hmac))
        .with_renewers(
            info.renewers
                .into_iter()
                .map(|r| {
                    DescribedDelegationTokenRenewer::default()
                        .with_principal_type(s(r.principal_type))
                        .with_principal_name(s(r.name))
                })
                .collect(),
        )
}

pub async fn handle(
    ctx: RequestContext,
    req: DescribeDelegationTokenRequest,
) -> DescribeDelegationTokenResponse {
    let refused =
        |e: ResponseError| DescribeDelegationTokenResponse::default().with_error_code(e.code());
    if !allowed(&ctx) {
        return refused(ResponseError::DelegationTokenRequestNotAllowed);
    }
    if !ctx.tokens().enabled() {
        return refused(ResponseError::DelegationTokenAuthDisabled);
    }
    let owners: Option<Vec<Principal>> = req.owners.map(|owners| {
        owners
            .into_iter()
            .map(|o| Principal {
                principal_type: o.principal_type.to_string(),
                name: o.principal_name.to_string(),
            })
            .collect()
    });
    if owners.as_ref().is_some_and(|o| o.is_empty()) {
        return DescribeDelegationTokenResponse::default();
    }
    let requester = ctx.session().principal.clone();
    let eligible = |t: &TokenInfo| {
        let asked = owners
            .as_ref()
            .is_none_or(|o| o.iter().any(|p| t.owner_or_renewer(p)));
        asked
            && (t.owner_or_renewer(&requester)
                || ctx.authorize(
                    AclOperation::Describe,
                    ResourceType::DelegationToken,
                    &t.token_id,
                )
                || ctx.authorize(
                    AclOperation::DescribeTokens,
                    ResourceType::User,
                    &t.owner.to_string(),
                ))
    };
    let tokens = ctx
        .tokens()
        .tokens(eligible)
        .into_iter()
        .map(|(info, hmac)| described(info, hmac))
        .collect();
    DescribeDelegationTokenResponse::default().with_tokens(tokens)
}
