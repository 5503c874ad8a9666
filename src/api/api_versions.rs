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

use super::{encode_response, lookup, RequestContext, ResponseFuture, APIS};
use crate::features::java_hash_order;

/// ApiVersions v5: the request's cluster id and node id (KIP-1242).
const NAMES_NODE: i16 = 5;

/// No node id (ApiVersions v5's default).
const NO_NODE: i32 = -1;

pub async fn handle(ctx: RequestContext, req: ApiVersionsRequest) -> ApiVersionsResponse {
    // Kafka's order: the request's own validity first (`isValid`), then whether it reached the
    // node it names. Kafka's error answer: the code alone, no APIs.
    if let Err(e) = check_valid(ctx.version(), &req).and_then(|()| check_node(&ctx, &req)) {
        return ApiVersionsResponse::default().with_error_code(e.code());
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
    // The features (`crate::features`): what this broker supports and what the cluster has
    // finalized, as Kafka's `ApiVersionsResponse.Builder` reports them: finalized features at
    // level 0 are left out, and to a v3 request (clients that cannot read a minimum of 0) so
    // are the supported features whose minimum is 0 (Kafka's `alterFeatureLevel0`).
    let features = ctx.features();
    let finalized = features.finalized();
    // In Java HashMap bucket order, as Kafka lists them (but for keys sharing a bucket, whose
    // order is their insertion's there).
    let supported = java_hash_order(
        features
            .supported()
            .iter()
            .filter(|(_, range)| ctx.version() >= 4 || range.min != 0)
            .map(|(name, range)| (name.to_string(), range.min, range.max))
            .collect(),
    )
    .into_iter()
    .map(|(name, min, max)| {
        SupportedFeatureKey::default()
            .with_name(StrBytes::from_string(name))
            .with_min_version(min)
            .with_max_version(max)
    })
    .collect();
    let finalized_keys = java_hash_order(
        finalized
            .levels
            .iter()
            .filter(|(_, level)| **level != 0)
            .map(|(name, level)| (name.clone(), *level, ()))
            .collect(),
    )
    .into_iter()
    .map(|(name, level, ())| {
        FinalizedFeatureKey::default()
            .with_name(StrBytes::from_string(name))
            .with_min_version_level(level)
            .with_max_version_level(level)
    })
    .collect();
    response
        .with_supported_features(supported)
        .with_finalized_features_epoch(finalized.epoch)
        .with_finalized_features(finalized_keys)
}

/// Kafka's `ApiVersionsRequest.isValid` (else INVALID_REQUEST): from v5 both or neither of
/// cluster id and node id; from v3 a client software name and version of letters, digits, `-`
/// and `.`, starting and ending with a letter or digit (KIP-511).
fn check_valid(version: i16, req: &ApiVersionsRequest) -> Result<(), ResponseError> {
    let pair = req.cluster_id.is_some() == (req.node_id != NO_NODE);
    let software = |s: &str| {
        let ok = |c: char| c.is_ascii_alphanumeric();
        s.starts_with(ok) && s.ends_with(ok) && s.chars().all(|c| ok(c) || c == '-' || c == '.')
    };
    let valid = (version < NAMES_NODE || pair)
        && (version < 3
            || software(&req.client_software_name) && software(&req.client_software_version));
    if valid {
        Ok(())
    } else {
        Err(ResponseError::InvalidRequest)
    }
}

/// ApiVersions v5: a cluster id and node id, when given, must be this broker's (else
/// REBOOTSTRAP_REQUIRED: the client reached another cluster or node than it meant to).
fn check_node(ctx: &RequestContext, req: &ApiVersionsRequest) -> Result<(), ResponseError> {
    if ctx.version() < NAMES_NODE {
        return Ok(());
    }
    match (&req.cluster_id, req.node_id) {
        (None, _) | (Some(_), NO_NODE) => Ok(()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(name: &str, version: &str) -> ApiVersionsRequest {
        ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_string(name.into()))
            .with_client_software_version(StrBytes::from_string(version.into()))
    }

    #[test]
    fn client_software_follows_kafkas_pattern_from_v3() {
        for (name, version) in [("apache-kafka-java", "4.4.0"), ("k", "1"), ("a.b-c", "X9")] {
            assert!(
                check_valid(3, &ask(name, version)).is_ok(),
                "{name} {version}"
            );
        }
        for (name, version) in [
            ("", "1"),
            ("a b", "1"),
            ("kafka_go", "1"),
            ("-x", "1"),
            ("x.", "1"),
            ("x", ""),
            ("x", "1.0-"),
            ("é", "1"),
        ] {
            let req = ask(name, version);
            assert!(check_valid(3, &req).is_err(), "{name:?} {version:?}");
            assert!(check_valid(2, &req).is_ok(), "v2 has no such fields");
        }
    }

    #[test]
    fn v5_needs_both_or_neither_of_cluster_and_node() {
        let cluster = Some(StrBytes::from_static_str("c"));
        for (cluster, node, ok) in [
            (None, -1, true),
            (cluster.clone(), 3, true),
            (cluster, -1, false),
            (None, 3, false),
        ] {
            let req = ask("k", "1").with_cluster_id(cluster).with_node_id(node);
            assert_eq!(check_valid(5, &req).is_ok(), ok, "{req:?}");
            assert!(check_valid(4, &req).is_ok(), "v4 has no such fields");
        }
    }
}
