//! The request quota (`request_percentage`), as Kafka's `ClientRequestQuotaManager` applies it
//! to every request that gets a response: the time spent handling it (here: the handler's
//! synchronous part plus the time its response future spends being polled, the work Kafka's
//! request handler threads do) counts as a percentage of one second; a client over its
//! share gets `throttle_time_ms` in the response (the larger of this and the byte-rate
//! throttle the handler set) and its connection muted. Nothing is measured while no request
//! quota was ever set (one atomic load per request).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::poll_fn;
use kafka_protocol::messages::*;

use super::zero_copy::WithFileRecords;
use super::{now_ms, RequestContext};
use crate::quota::{ClientQuotas, Throttle};

/// A response's `throttle_time_ms` (ignored when encoding versions without it); None for the
/// responses that have no such field (the SASL exchange's, DescribeQuorum's).
pub trait ThrottleTime {
    fn throttle_time_ms(&mut self) -> Option<&mut i32>;
}

macro_rules! throttle_time {
    ($($t:ty),* $(,)?) => {
        $(impl ThrottleTime for $t {
            fn throttle_time_ms(&mut self) -> Option<&mut i32> {
                Some(&mut self.throttle_time_ms)
            }
        })*
    };
}

// Kafka's SaslHandshake and SaslAuthenticate responses carry no throttle time.
impl ThrottleTime for SaslHandshakeResponse {
    fn throttle_time_ms(&mut self) -> Option<&mut i32> {
        None
    }
}

impl ThrottleTime for SaslAuthenticateResponse {
    fn throttle_time_ms(&mut self) -> Option<&mut i32> {
        None
    }
}

// Nor does DescribeQuorum's: the request quota leaves it alone, as it does the SASL exchange.
impl ThrottleTime for DescribeQuorumResponse {
    fn throttle_time_ms(&mut self) -> Option<&mut i32> {
        None
    }
}

// Nor does WriteTxnMarkers' (Kafka answers it exempt from throttling).
impl ThrottleTime for WriteTxnMarkersResponse {
    fn throttle_time_ms(&mut self) -> Option<&mut i32> {
        None
    }
}

// Every response type a handler in the API table returns.
throttle_time!(
    GetTelemetrySubscriptionsResponse,
    PushTelemetryResponse,
    AddOffsetsToTxnResponse,
    AddPartitionsToTxnResponse,
    AlterClientQuotasResponse,
    AlterConfigsResponse,
    AlterPartitionReassignmentsResponse,
    AlterReplicaLogDirsResponse,
    AlterUserScramCredentialsResponse,
    UpdateFeaturesResponse,
    ApiVersionsResponse,
    CreateAclsResponse,
    CreateDelegationTokenResponse,
    RenewDelegationTokenResponse,
    ExpireDelegationTokenResponse,
    DescribeDelegationTokenResponse,
    CreatePartitionsResponse,
    CreateTopicsResponse,
    DeleteAclsResponse,
    DeleteGroupsResponse,
    ConsumerGroupHeartbeatResponse,
    ConsumerGroupDescribeResponse,
    DeleteRecordsResponse,
    DeleteTopicsResponse,
    DescribeAclsResponse,
    DescribeClientQuotasResponse,
    DescribeClusterResponse,
    DescribeConfigsResponse,
    DescribeGroupsResponse,
    DescribeLogDirsResponse,
    DescribeProducersResponse,
    DescribeTopicPartitionsResponse,
    DescribeTransactionsResponse,
    DescribeUserScramCredentialsResponse,
    ElectLeadersResponse,
    EndTxnResponse,
    FetchResponse,
    FindCoordinatorResponse,
    HeartbeatResponse,
    IncrementalAlterConfigsResponse,
    InitProducerIdResponse,
    JoinGroupResponse,
    LeaveGroupResponse,
    ListConfigResourcesResponse,
    ListGroupsResponse,
    ListOffsetsResponse,
    ListPartitionReassignmentsResponse,
    ListTransactionsResponse,
    MetadataResponse,
    OffsetCommitResponse,
    OffsetDeleteResponse,
    OffsetFetchResponse,
    OffsetForLeaderEpochResponse,
    ProduceResponse,
    ShareAcknowledgeResponse,
    DescribeShareGroupOffsetsResponse,
    AlterShareGroupOffsetsResponse,
    DeleteShareGroupOffsetsResponse,
    ShareFetchResponse,
    ShareGroupDescribeResponse,
    ShareGroupHeartbeatResponse,
    StreamsGroupDescribeResponse,
    StreamsGroupHeartbeatResponse,
    StreamsGroupTopologyDescriptionUpdateResponse,
    SyncGroupResponse,
    TxnOffsetCommitResponse,
);

/// What a handler's future yields, with the response's throttle time if there is a response.
pub trait Answer {
    fn throttle_slot(&mut self) -> Option<&mut i32>;
}

impl<R: ThrottleTime> Answer for Option<R> {
    fn throttle_slot(&mut self) -> Option<&mut i32> {
        self.as_mut().and_then(ThrottleTime::throttle_time_ms)
    }
}

impl<R: ThrottleTime> Answer for WithFileRecords<R> {
    fn throttle_slot(&mut self) -> Option<&mut i32> {
        self.response.throttle_time_ms()
    }
}

/// One request's measurement, when request quotas exist.
pub struct RequestQuota {
    quotas: Arc<ClientQuotas>,
    user: String,
    client_id: String,
    throttle: Arc<Throttle>,
    started: Instant,
    spent: Duration,
}

impl RequestQuota {
    /// Before the handler runs: None while no request quota was ever set.
    pub fn start(ctx: &RequestContext) -> Option<Self> {
        if !ctx.quotas().request.enabled() {
            return None;
        }
        Some(Self {
            quotas: ctx.quotas().clone(),
            user: ctx.session().principal.name.clone(),
            client_id: ctx.client_id().to_string(),
            throttle: ctx.throttle_handle(),
            started: Instant::now(),
            spent: Duration::ZERO,
        })
    }

    /// After the handler's synchronous part.
    pub fn handled(mut self) -> Self {
        self.spent = self.started.elapsed();
        self
    }

    /// Await the response, timing its polls; then record the request's time and throttle.
    pub async fn run<F>(quota: Option<Self>, response: F) -> F::Output
    where
        F: Future,
        F::Output: Answer,
    {
        let Some(q) = quota else {
            return response.await;
        };
        let mut response = std::pin::pin!(response);
        let mut spent = q.spent;
        let mut out = poll_fn(|cx| {
            let t = Instant::now();
            let p = response.as_mut().poll(cx);
            spent += t.elapsed();
            p
        })
        .await;
        if let Some(slot) = out.throttle_slot() {
            // Kafka's nanosToPercentage: 100% is one second of handling per second.
            let percent = spent.as_nanos() as f64 * 100.0 / 1e9;
            let ms = q
                .quotas
                .request
                .record(&q.user, &q.client_id, percent, now_ms());
            if ms > 0 {
                q.quotas.request.throttled(ms);
                q.throttle.mute_for(ms);
                *slot = (*slot).max(ms as i32);
            }
        }
        out
    }
}
