//! GetTelemetrySubscriptions (71): which metrics a client is to push, how often and how
//! (KIP-714; src/telemetry). Served only with `client_telemetry` on (`Api::enabled`).

use kafka_protocol::messages::{
    GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::telemetry::{ClientInfo, ACCEPTED_COMPRESSION_TYPES, TELEMETRY_MAX_BYTES};

pub async fn handle(
    ctx: RequestContext,
    req: GetTelemetrySubscriptionsRequest,
) -> GetTelemetrySubscriptionsResponse {
    let client = client_info(&ctx);
    match ctx
        .telemetry()
        .get_subscriptions(req.client_instance_id, client, super::now_ms())
    {
        Err(e) => GetTelemetrySubscriptionsResponse::default().with_error_code(e.code()),
        Ok(s) => GetTelemetrySubscriptionsResponse::default()
            .with_client_instance_id(s.client_instance_id)
            .with_subscription_id(s.subscription_id)
            .with_accepted_compression_types(ACCEPTED_COMPRESSION_TYPES.to_vec())
            .with_push_interval_ms(s.push_interval_ms)
            .with_telemetry_max_bytes(TELEMETRY_MAX_BYTES)
            .with_delta_temporality(true)
            .with_requested_metrics(s.metrics.into_iter().map(StrBytes::from_string).collect()),
    }
}

/// What a subscription's `match` may name about the request's client.
pub(super) fn client_info(ctx: &RequestContext) -> ClientInfo {
    let (software_name, software_version) = ctx.connection().software();
    ClientInfo {
        client_id: ctx.client_id().to_string(),
        software_name,
        software_version,
        peer: ctx.peer(),
    }
}
