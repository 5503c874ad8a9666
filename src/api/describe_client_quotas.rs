//! DescribeClientQuotas (48): gregor enforces no client quotas, so there are none to list.

use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};

use super::RequestContext;

pub async fn handle(
    _ctx: RequestContext,
    _req: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    DescribeClientQuotasResponse::default().with_entries(Some(Vec::new()))
}
