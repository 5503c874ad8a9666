//! DescribeClientQuotas (48): the stored quotas of every entity the filter matches, as
//! Kafka's `ClientQuotasImage.describe` answers: a component per entity type (EXACT a name,
//! DEFAULT the default entity, SPECIFIED any entity having the type), `strict` for exactly the
//! filter's types. A bad filter is answered with an error for the whole request and no
//! entries: INVALID_REQUEST (an empty or repeated type, a match string where none belongs or
//! missing, an unknown match type, IP with user/client-id), UNSUPPORTED_VERSION for an unknown
//! entity type.

use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::quota::entity::{CLIENT_ID, IP, USER};
use crate::quota::{Filter, Match};
use crate::security::acl::AclOperation;

const MATCH_TYPE_EXACT: i8 = 0;
const MATCH_TYPE_DEFAULT: i8 = 1;
const MATCH_TYPE_SPECIFIED: i8 = 2;

pub async fn handle(
    ctx: RequestContext,
    req: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    // Kafka: DESCRIBE_CONFIGS on the cluster, checked before the filter.
    if !ctx.authorize_cluster(AclOperation::DescribeConfigs) {
        return DescribeClientQuotasResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "Cluster authorization failed.",
            )))
            .with_entries(None);
    }
    let filter = match filter_of(&req) {
        Ok(f) => f,
        Err((error, message)) => {
            return DescribeClientQuotasResponse::default()
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(message)))
                .with_entries(None)
        }
    };
    let entries = ctx
        .quotas()
        .describe(&filter)
        .into_iter()
        .map(|(entity, values)| {
            EntryData::default()
                .with_entity(
                    entity
                        .into_iter()
                        .map(|(kind, name)| {
                            EntityData::default()
                                .with_entity_type(StrBytes::from_string(kind))
                                .with_entity_name(name.map(StrBytes::from_string))
                        })
                        .collect(),
                )
                .with_values(
                    values
                        .into_iter()
                        .map(|(key, value)| {
                            ValueData::default()
                                .with_key(StrBytes::from_string(key))
                                .with_value(value)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeClientQuotasResponse::default().with_entries(Some(entries))
}

/// The request's filter checked in Kafka's order.
fn filter_of(req: &DescribeClientQuotasRequest) -> Result<Filter, (ResponseError, String)> {
    let invalid = |m: String| (ResponseError::InvalidRequest, m);
    let mut components: Vec<(String, Match)> = Vec::new();
    for c in &req.components {
        let kind = c.entity_type.to_string();
        if kind.is_empty() {
            return Err(invalid("Invalid empty entity type.".into()));
        }
        if components.iter().any(|(k, _)| *k == kind) {
            return Err(invalid(format!(
                "Entity type {kind} cannot appear more than once in the filter."
            )));
        }
        if ![IP, USER, CLIENT_ID].contains(&kind.as_str()) {
            return Err((
                ResponseError::UnsupportedVersion,
                format!("Unsupported entity type {kind}"),
            ));
        }
        let name = c._match.as_ref().map(|m| m.to_string());
        let m =
            match (c.match_type, name) {
                (MATCH_TYPE_EXACT, Some(name)) => Match::Exact(name),
                (MATCH_TYPE_EXACT, None) => {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_EXACT, but set match string to null.".into(),
                    ))
                }
                (MATCH_TYPE_DEFAULT, None) => Match::Default,
                (MATCH_TYPE_DEFAULT, Some(_)) => {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."
                            .into(),
                    ))
                }
                (MATCH_TYPE_SPECIFIED, None) => Match::Specified,
                (MATCH_TYPE_SPECIFIED, Some(_)) => return Err(invalid(
                    "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."
                        .into(),
                )),
                (other, _) => return Err(invalid(format!("Unknown match type {other}"))),
            };
        components.push((kind, m));
    }
    let has = |t: &str| components.iter().any(|(k, _)| k == t);
    if has(IP) && (has(USER) || has(CLIENT_ID)) {
        return Err(invalid(
            "Invalid entity filter component combination. IP filter component should not be \
             used with user or clientId filter component."
                .into(),
        ));
    }
    Ok(Filter {
        components,
        strict: req.strict,
    })
}
