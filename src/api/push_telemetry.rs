//! PushTelemetry (72): a client's metrics, OTLP protobuf (perhaps compressed), checked as
//! Kafka checks them and shown on /metrics (KIP-714; src/telemetry). Served only with
//! `client_telemetry` on (`Api::enabled`).

use kafka_protocol::messages::{PushTelemetryRequest, PushTelemetryResponse};

use super::get_telemetry_subscriptions::client_info;
use super::RequestContext;
use crate::telemetry::Push;

pub async fn handle(ctx: RequestContext, req: PushTelemetryRequest) -> PushTelemetryResponse {
    let client = client_info(&ctx);
    // Decompressing and decoding up to 1 MiB takes milliseconds: off the async workers, which
    // serve every produce and fetch.
    let pushed = tokio::task::spawn_blocking(move || {
        let push = Push {
            client_instance_id: req.client_instance_id,
            subscription_id: req.subscription_id,
            terminating: req.terminating,
            compression_type: req.compression_type,
            metrics: &req.metrics,
        };
        ctx.telemetry().push(push, client, super::now_ms())
    })
    .await;
    match pushed {
        Ok(Ok(())) => PushTelemetryResponse::default(),
        Ok(Err(e)) => PushTelemetryResponse::default().with_error_code(e.code()),
        Err(e) => {
            tracing::error!(error = %e, "a telemetry push failed");
            PushTelemetryResponse::default()
                .with_error_code(kafka_protocol::ResponseError::UnknownServerError.code())
        }
    }
}
