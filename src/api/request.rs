//! Reading a request frame's header and checking it against the API table (`APIS`), before
//! dispatch hands the body to the API's handler.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;

use super::{lookup, Api};

/// A request frame's header, read and checked against the API table.
pub enum Parsed {
    /// A supported API and version; the frame now holds the request body.
    Request {
        api: &'static Api,
        version: i16,
        header: RequestHeader,
    },
    /// ApiVersions of a version gregor does not serve: answered so clients can retry lower.
    UnsupportedApiVersions { correlation_id: i32 },
    /// Nothing to answer: the connection is closed (as Kafka does).
    Refused(String),
}

/// Read the request header at the start of `frame`, leaving the body.
pub fn parse_request(frame: &mut Bytes) -> Parsed {
    if frame.len() < 8 {
        return Parsed::Refused(format!(
            "request of {} bytes is shorter than a request header",
            frame.len()
        ));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let Some(api) = lookup(key) else {
        return Parsed::Refused(format!("unknown or unsupported API key {key}"));
    };
    let supported = (api.min_version..=api.max_version).contains(&version);
    // An unsupported ApiVersions is answered (with its v0 body) so clients can retry lower.
    let header_version = if api.key == ApiKey::ApiVersions && !supported {
        if version >= 3 {
            2
        } else {
            1
        }
    } else {
        api.key.request_header_version(version)
    };
    let header = match RequestHeader::decode(frame, header_version) {
        Ok(h) => h,
        Err(e) => return Parsed::Refused(format!("malformed request header: {e}")),
    };
    if !supported {
        if api.key == ApiKey::ApiVersions {
            return Parsed::UnsupportedApiVersions {
                correlation_id: header.correlation_id,
            };
        }
        return Parsed::Refused(format!("{:?} v{version} is not supported", api.key));
    }
    Parsed::Request {
        api,
        version,
        header,
    }
}
