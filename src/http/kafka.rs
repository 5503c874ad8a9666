//! The gateway's Kafka client: a typed request is encoded as a Kafka frame and handed to
//! `api::dispatch_from`, exactly as a Kafka connection's reader hands over what it read, and
//! the response frame is decoded back. So the REST API has no path of its own into the
//! services: it gets the Kafka handlers' validation, authorization and durability.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

use super::error::{HttpError, HttpResult};
use super::Gateway;
use crate::api::zero_copy::{Frame, Part};
use crate::api::{dispatch_from, Connection, Dispatch};
use crate::security::{SecurityProtocol, Session};

/// The client id HTTP requests carry (what quotas and logs see).
const CLIENT_ID: &str = "gregor-http";

impl Gateway {
    /// Send `request` (at `version`) through the broker's dispatch, as the gateway's session
    /// (else anonymously from `peer`), and wait for its response.
    pub async fn call<R: Request>(
        &self,
        peer: Option<SocketAddr>,
        version: i16,
        request: &R,
    ) -> HttpResult<R::Response> {
        let frame = encode(version, request).map_err(|e| HttpError::internal(e.to_string()))?;
        let session = self
            .session
            .clone()
            .unwrap_or_else(|| Arc::new(Session::anonymous(peer, SecurityProtocol::Plaintext)));
        let dispatched = dispatch_from(
            &self.services,
            &self.listener,
            &session,
            &Arc::new(Connection::detached()),
            frame,
        );
        let future = match dispatched {
            Dispatch::Respond(f) => f,
            Dispatch::Close(why) => return Err(HttpError::internal(why)),
        };
        match future.await {
            Ok(Some(Frame::Encoded(bytes))) => decode::<R::Response>(version, bytes)
                .map_err(|e| HttpError::internal(format!("undecodable response: {e}"))),
            // A Fetch answer whose record sets are file regions: read them in.
            Ok(Some(Frame::Spliced(parts))) => {
                let bytes = flatten(parts).map_err(|e| HttpError::internal(e.to_string()))?;
                decode::<R::Response>(version, bytes)
                    .map_err(|e| HttpError::internal(format!("undecodable response: {e}")))
            }
            Ok(_) => Err(HttpError::internal("no response")),
            Err(e) => Err(HttpError::internal(e.to_string())),
        }
    }
}

/// A spliced frame's bytes, its regions read from their segments.
fn flatten(parts: Vec<Part>) -> std::io::Result<Bytes> {
    let mut out = BytesMut::new();
    for part in parts {
        match part {
            Part::Bytes(b) => out.extend_from_slice(&b),
            Part::Region(r) => {
                let len = usize::try_from(r.len()).map_err(std::io::Error::other)?;
                let start = out.len();
                out.resize(start + len, 0);
                r.read_exact_at(0, &mut out[start..])?;
            }
        }
    }
    Ok(out.freeze())
}

fn encode<R: Request>(version: i16, request: &R) -> anyhow::Result<Bytes> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
    let mut buf = BytesMut::new();
    header.encode(&mut buf, R::header_version(version))?;
    request.encode(&mut buf, version)?;
    Ok(buf.freeze())
}

fn decode<T: Decodable + HeaderVersion>(version: i16, mut frame: Bytes) -> anyhow::Result<T> {
    anyhow::ensure!(frame.len() >= 4, "short frame");
    frame.advance(4);
    ResponseHeader::decode(&mut frame, T::header_version(version))?;
    T::decode(&mut frame, version)
}
