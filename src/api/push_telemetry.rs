//! PushTelemetry (72): a client's metrics, OTLP protobuf (perhaps compressed), checked as
//! Kafka checks them and shown on /metrics (KIP-714; src/telemetry). Served only with
//! `client_telemetry` on (`Api::enabled`).

use kafka_protocol::messages::{PushTelemetryRequest, PushTelemetryResponse};

use super::get_telemetry_subscriptions::client_info;
use super::RequestContext;
use crate::telemetry::Push;

pub async fn handle(ctx: RequestContext, req: PushTelemetryRequest) -> PushTelemetryResponse {
    let push = Push {
        client_instance_id: req.client_instance_id,
        subscription_id: req.subscription_id,
        terminating: req.terminating,
        compression_type: req.compression_type,
        metrics: &req.metrics,
    };
    let client = client_info(&ctx);
    // Decompressing and decoding (at most 1 MiB out) is short work: done here.
    match ctx.telemetry().push(push, client, super::now_ms()) {
        Ok(()) => PushTelemetryResponse::default(),
        Err(e) => PushTelemetryResponse::default().with_error_code(e.code()),
    }
}
