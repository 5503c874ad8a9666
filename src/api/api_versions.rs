//! ApiVersions (18): built from the API table. The response header is always v0.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::ResponseError;

use super::{encode_response, lookup, RequestContext, ResponseFuture, APIS};

pub async fn handle(_ctx: RequestContext, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(
        APIS.iter()
            .map(|a| {
                ApiVersion::default()
                    .with_api_key(a.key as i16)
                    .with_min_version(a.min_version)
                    .with_max_version(a.max_version)
            })
            .collect(),
    )
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
