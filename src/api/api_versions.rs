//! ApiVersions (18): built from the API table. The response header is always v0.
//! v5 (KIP-1242): a client that names the cluster and node it means to reach (after a
//! rebootstrap, say) is answered REBOOTSTRAP_REQUIRED when this broker is not that node of that
//! cluster; naming only one of the two is INVALID_REQUEST (Kafka's `ApiVersionsRequest.isValid`).

use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::config::StorageKind;
use crate::meta::config_view::METADATA_VERSION_LEVEL;

use super::{encode_response, lookup, RequestContext, ResponseFuture, APIS};

/// The oldest metadata.version Kafka 4.x supports (3.3-IV3).
const METADATA_VERSION_MIN: i16 = 7;

/// Kafka 4.x's group.version (GV_1: the consumer rebalance protocol).
const GROUP_VERSION_LEVEL: i16 = 1;

/// Kafka 4.4's share.version: SV_2 (share groups, KIP-932, with RENEW acknowledgements,
/// ShareAcquireMode and dead-letter topics; ShareFetch/ShareAcknowledge v2).
const SHARE_VERSION_LEVEL: i16 = 2;

/// Kafka 4.x's transaction.version (TV_2: transactions v2, KIP-890 part 2), finalized by
/// default on a new Kafka 4.4 cluster.
const TRANSACTION_VERSION_LEVEL: i16 = 2;

/// Epoch of the finalized features; they never change while gregor runs.
const FINALIZED_FEATURES_EPOCH: i64 = 1;

/// ApiVersions v5: the request's cluster id and node id (KIP-1242).
const NAMES_NODE: i16 = 5;

/// No node id (ApiVersions v5's default).
const NO_NODE: i32 = -1;

pub async fn handle(ctx: RequestContext, req: ApiVersionsRequest) -> ApiVersionsResponse {
    if ctx.version() >= NAMES_NODE {
        if let Err(e) = check_node(&ctx, &req) {
            // Kafka's error answer: the code alone, no APIs.
            return ApiVersionsResponse::default().with_error_code(e.code());
        }
    }
    if ctx.version() >= 3 {
        ctx.connection()
            .set_software(&req.client_software_name, &req.client_software_version);
    }
    let response = ApiVersionsResponse::default().with_api_keys(
        APIS.iter()
            .filter(|a| a.enabled(ctx.config()))
            .map(|a| {
                ApiVersion::default()
                    .with_api_key(a.key as i16)
                    .with_min_version(a.min_version)
                    .with_max_version(a.max_version)
            })
            .collect(),
    );
    if ctx.version() < 3 {
        return response;
    }
    // metadata.version, as Kafka 4.x reports it (tools map it to a release),
    // group.version 1 (KIP-848's consumer group protocol), share.version 2 (KIP-932) and
    // transaction.version 2 (KIP-890 part 2) — except in cluster mode, where a broker that is
    // not the coordinator cannot add a partition to a transaction on produce: no
    // transaction.version there (level 0), so clients keep transactions v1.
    let metadata = || StrBytes::from_static_str("metadata.version");
    let group = || StrBytes::from_static_str("group.version");
    let share = || StrBytes::from_static_str("share.version");
    let transaction = || StrBytes::from_static_str("transaction.version");
    let txn_v2 = !matches!(ctx.config().storage, StorageKind::Postgres(_));
    let response = response
        .with_supported_features(vec![
            SupportedFeatureKey::default()
                .with_name(metadata())
                .with_min_version(METADATA_VERSION_MIN)
                .with_max_version(METADATA_VERSION_LEVEL),
            SupportedFeatureKey::default()
                .with_name(group())
                .with_min_version(0)
                .with_max_version(GROUP_VERSION_LEVEL),
            SupportedFeatureKey::default()
                .with_name(share())
                .with_min_version(0)
                .with_max_version(SHARE_VERSION_LEVEL),
        ])
        .with_finalized_features_epoch(FINALIZED_FEATURES_EPOCH)
        .with_finalized_features(vec![
            FinalizedFeatureKey::default()
                .with_name(metadata())
                .with_min_version_level(METADATA_VERSION_LEVEL)
                .with_max_version_level(METADATA_VERSION_LEVEL),
            FinalizedFeatureKey::default()
                .with_name(group())
                .with_min_version_level(GROUP_VERSION_LEVEL)
                .with_max_version_level(GROUP_VERSION_LEVEL),
            FinalizedFeatureKey::default()
                .with_name(share())
                .with_min_version_level(SHARE_VERSION_LEVEL)
                .with_max_version_level(SHARE_VERSION_LEVEL),
        ]);
    if !txn_v2 {
        return response;
    }
    let mut response = response;
    response.supported_features.push(
        SupportedFeatureKey::default()
            .with_name(transaction())
            .with_min_version(0)
            .with_max_version(TRANSACTION_VERSION_LEVEL),
    );
    response.finalized_features.push(
        FinalizedFeatureKey::default()
            .with_name(transaction())
            .with_min_version_level(TRANSACTION_VERSION_LEVEL)
            .with_max_version_level(TRANSACTION_VERSION_LEVEL),
    );
    response
}

/// ApiVersions v5: both or neither of cluster id and node id (else INVALID_REQUEST); when
/// given, they must be this broker's (else REBOOTSTRAP_REQUIRED: the client reached another
/// cluster or node than it meant to).
fn check_node(ctx: &RequestContext, req: &ApiVersionsRequest) -> Result<(), ResponseError> {
    match (&req.cluster_id, req.node_id) {
        (None, NO_NODE) => Ok(()),
        (None, _) | (Some(_), NO_NODE) => Err(ResponseError::InvalidRequest),
        (Some(cluster), node) => {
            let view = ctx.cluster();
            if cluster.as_str() == view.cluster_id() && node == view.this_node() {
                Ok(())
            } else {
                Err(ResponseError::RebootstrapRequired)
            }
        }
    }
}

/// The answer to an ApiVersions version we do not know: a v0 body with UNSUPPORTED_VERSION
/// and our ApiVersions range, so the client retries with a version we support.
pub fn unsupported(correlation_id: i32) -> ResponseFuture {
    let range = lookup(ApiKey::ApiVersions as i16)
        .map(|a| (a.min_version, a.max_version))
        .unwrap_or((0, 0));
    let response = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(vec![ApiVersion::default()
            .with_api_key(ApiKey::ApiVersions as i16)
            .with_min_version(range.0)
            .with_max_version(range.1)]);
    Box::pin(async move {
        Ok(Some(super::zero_copy::Frame::Encoded(encode_response(
            correlation_id,
            0,
            &response,
        )?)))
    })
}
