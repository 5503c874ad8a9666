//! From a request frame to its response: the header parsed, the API looked up, the body
//! decoded and handed to the handler with its context, the response encoded (with the
//! request quota's throttle time) — and the table's `serve` helpers handlers are run through.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};
use tracing::Instrument;

use super::request_quota::{RequestQuota, ThrottleTime};
use super::zero_copy::{self, Frame, WithFileRecords};
use super::{
    api_versions, parse_request, Connection, ListenerInfo, Parsed, RequestContext, ResponseFuture,
    Services,
};
use crate::security::{SecurityProtocol, Session};
use kafka_protocol::messages::ApiKey;

impl RequestContext {
    fn decode<Req: Decodable>(&self, mut body: Bytes) -> anyhow::Result<Req> {
        Req::decode(&mut body, self.version())
    }

    pub(super) fn serve<Req, Resp, Fut>(
        self,
        body: Bytes,
        handler: fn(RequestContext, Req) -> Fut,
    ) -> anyhow::Result<ResponseFuture>
    where
        Req: Decodable,
        Resp: Encodable + HeaderVersion + ThrottleTime + 'static,
        Fut: Future<Output = Resp> + Send + 'static,
    {
        self.serve_optional(body, move |ctx, req| handler(ctx, req).map(Some))
    }

    /// Decode, run the handler now (in request order), encode its response when it is ready
    /// (None: no response at all, which no request quota throttles, as Kafka's acks=0).
    pub(super) fn serve_optional<Req, Resp, Fut>(
        self,
        body: Bytes,
        handler: impl FnOnce(RequestContext, Req) -> Fut,
    ) -> anyhow::Result<ResponseFuture>
    where
        Req: Decodable,
        Resp: Encodable + HeaderVersion + ThrottleTime,
        Fut: Future<Output = Option<Resp>> + Send + 'static,
    {
        let request = self.decode(body)?;
        let (correlation_id, version) = (self.header.correlation_id, self.version());
        let quota = RequestQuota::start(&self);
        let response = handler(self, request);
        let quota = quota.map(RequestQuota::handled);
        Ok(Box::pin(async move {
            match RequestQuota::run(quota, response).await {
                Some(r) => Ok(Some(Frame::Encoded(encode_response(
                    correlation_id,
                    version,
                    &r,
                )?))),
                None => Ok(None),
            }
        }))
    }

    /// As `serve`, for responses with record sets sent straight from segment files.
    pub(super) fn serve_with_files<Req, Resp, Fut>(
        self,
        body: Bytes,
        handler: fn(RequestContext, Req) -> Fut,
    ) -> anyhow::Result<ResponseFuture>
    where
        Req: Decodable,
        Resp: Encodable + HeaderVersion + ThrottleTime + 'static,
        Fut: Future<Output = WithFileRecords<Resp>> + Send + 'static,
    {
        let request = self.decode(body)?;
        let (correlation_id, version) = (self.header.correlation_id, self.version());
        let quota = RequestQuota::start(&self);
        let response = handler(self, request);
        let quota = quota.map(RequestQuota::handled);
        Ok(Box::pin(async move {
            let r = RequestQuota::run(quota, response).await;
            let encoded = encode_response(correlation_id, version, &r.response)?;
            Ok(Some(zero_copy::splice(encoded, r.files, r.flexible)?))
        }))
    }
}

/// Length prefix, response header (of the version the API dictates), body.
pub fn encode_response<R: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    response: &R,
) -> anyhow::Result<Bytes> {
    let header =
        kafka_protocol::messages::ResponseHeader::default().with_correlation_id(correlation_id);
    let header_version = R::header_version(version);
    // Sized up front: a fetch response of many MiB would otherwise be copied on every growth.
    let size = 4 + header.compute_size(header_version)? + response.compute_size(version)?;
    let mut buf = BytesMut::with_capacity(size);
    buf.extend_from_slice(&[0; 4]);
    header.encode(&mut buf, header_version)?;
    response.encode(&mut buf, version)?;
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

/// What the connection does with one frame.
pub enum Dispatch {
    Respond(ResponseFuture),
    /// The request cannot be served: close the connection (Kafka does the same).
    Close(String),
}

/// Parse the request header, find the API and run its handler, for an anonymous client
/// without an address (in-process callers).
pub fn dispatch(services: &Arc<Services>, listener: &Arc<ListenerInfo>, frame: Bytes) -> Dispatch {
    let session = Arc::new(Session::anonymous(None, SecurityProtocol::Plaintext));
    dispatch_from(
        services,
        listener,
        &session,
        &Arc::new(Connection::detached()),
        frame,
    )
}

/// [`dispatch`] for a request from a connection's `session`.
pub fn dispatch_from(
    services: &Arc<Services>,
    listener: &Arc<ListenerInfo>,
    session: &Arc<Session>,
    connection: &Arc<Connection>,
    mut frame: Bytes,
) -> Dispatch {
    let request_size = frame.len();
    let (api, version, header) = match parse_request(&mut frame) {
        Parsed::Request {
            api,
            version,
            header,
        } => (api, version, header),
        Parsed::UnsupportedApiVersions { correlation_id } => {
            return Dispatch::Respond(api_versions::unsupported(correlation_id))
        }
        Parsed::Refused(why) => return Dispatch::Close(why),
    };
    if !api.enabled(&services.config) {
        return Dispatch::Close(format!("unknown or unsupported API key {}", api.key as i16));
    }
    let span = tracing::debug_span!("request", api = ?api.key, version, correlation_id = header.correlation_id);
    let timer = services.metrics.request_started(api.key);
    let ctx = RequestContext::new(
        services.clone(),
        listener.clone(),
        header,
        session.clone(),
        connection.clone(),
        request_size,
    );
    let started = Instant::now();
    let key = api.key;
    match span.in_scope(|| {
        tracing::debug!(client_id = ?ctx.header.client_id, "request");
        (api.handler)(ctx, frame)
    }) {
        Ok(f) => Dispatch::Respond(Box::pin(
            f.inspect(move |_| {
                if let Some(timer) = timer {
                    timer.finish()
                }
                warn_if_slow(key, started.elapsed());
            })
            .instrument(span),
        )),
        Err(e) => Dispatch::Close(format!("malformed {:?} v{version} request: {e}", api.key)),
    }
}

/// Longer than any request should take that does not wait by design: clients time out after
/// 30 s (Java's request.timeout.ms; franz-go's produce after 10 s plus overhead).
const SLOW_REQUEST: Duration = Duration::from_secs(10);

/// A request that took longer than [`SLOW_REQUEST`] is worth a warning (a stalled database, a
/// lock held too long), except those that wait by design: fetches (up to their max wait),
/// joins and syncs (until the group rebalances).
fn warn_if_slow(key: ApiKey, took: Duration) {
    let waits = matches!(
        key,
        ApiKey::Fetch | ApiKey::ShareFetch | ApiKey::JoinGroup | ApiKey::SyncGroup
    );
    if took > SLOW_REQUEST && !waits {
        tracing::warn!(api = ?key, took_ms = took.as_millis() as u64, "slow request");
    }
}
