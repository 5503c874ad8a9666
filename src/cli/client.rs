//! A minimal Kafka client for the admin subcommands: one connection (TCP or TLS:
//! `transport`), authenticated with SASL when the protocol has it (`sasl`), requests encoded
//! with kafka-protocol's structs, versions negotiated through ApiVersions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::security::Security;
use super::transport::{self, Stream};
use crate::config::SecurityProtocol;

/// Largest response frame accepted (a Metadata answer for many topics fits easily).
const MAX_FRAME: usize = 256 << 20;

/// What can go wrong talking to a broker: one line each, for the user.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("{addr}: {reason}")]
    Io { addr: String, reason: String },
    #[error("{addr}: TLS handshake failed: {reason}")]
    Tls { addr: String, reason: String },
    #[error("{addr}: authentication failed: {reason}")]
    Auth { addr: String, reason: String },
    #[error("{addr}: {what}")]
    Protocol { addr: String, what: String },
    #[error(
        "{addr} does not support {api} (versions {min}..={max} needed, broker offers {broker})"
    )]
    Unsupported {
        addr: String,
        api: &'static str,
        min: i16,
        max: i16,
        broker: String,
    },
}

/// How to connect: the timeout for the connection and each response, and the security.
#[derive(Clone)]
pub struct Options {
    pub timeout: Duration,
    pub security: Arc<Security>,
}

impl Options {
    pub fn plaintext(timeout: Duration) -> Self {
        Self {
            timeout,
            security: Arc::new(Security::plaintext()),
        }
    }
}

pub struct Client {
    addr: String,
    stream: Box<dyn Stream>,
    options: Options,
    correlation: i32,
    /// API key → (min, max) the broker offers.
    versions: HashMap<i16, (i16, i16)>,
}

impl Client {
    /// Connects to `addr` (HOST:PORT), shakes hands for TLS, learns the broker's API versions
    /// and authenticates with SASL, as `options` say.
    /// Connect to the first of `addrs` (a comma-separated bootstrap list, as Kafka's tools
    /// take) that answers; the last failure if none does.
    pub async fn connect(addrs: &str, options: &Options) -> Result<Client, ClientError> {
        let mut failure = None;
        for addr in addrs.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            match Self::connect_one(addr, options).await {
                Ok(client) => return Ok(client),
                Err(e) => failure = Some(e),
            }
        }
        Err(failure.unwrap_or_else(|| ClientError::Connect {
            addr: addrs.to_string(),
            reason: "no address given".into(),
        }))
    }

    async fn connect_one(addr: &str, options: &Options) -> Result<Client, ClientError> {
        let stream = transport::open(addr, options.security.tls.as_ref(), options.timeout).await?;
        let mut client = Client {
            addr: addr.to_string(),
            stream,
            options: options.clone(),
            correlation: 0,
            versions: HashMap::new(),
        };
        // v0 works on every broker (and is what an unsupported higher version falls back to).
        let resp = client.send(&ApiVersionsRequest::default(), 0).await?;
        if resp.error_code != 0 {
            return Err(client.protocol(format!(
                "ApiVersions failed: {}",
                crate::cli::error_name(resp.error_code)
            )));
        }
        client.versions = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        if let Some(sasl) = options.security.sasl.clone() {
            super::sasl::authenticate(&mut client, &sasl).await?;
        }
        Ok(client)
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    pub fn auth_error(&self, reason: String) -> ClientError {
        ClientError::Auth {
            addr: self.addr.clone(),
            reason,
        }
    }

    fn protocol(&self, what: String) -> ClientError {
        ClientError::Protocol {
            addr: self.addr.clone(),
            what,
        }
    }

    fn io(&self, e: std::io::Error) -> ClientError {
        let reason = e.to_string();
        // TLS 1.3: the broker refuses a client certificate after the client's handshake.
        if self.options.security.tls.is_some() && reason.contains("alert") {
            return ClientError::Tls {
                addr: self.addr.clone(),
                reason: transport::explain(&reason),
            };
        }
        ClientError::Io {
            addr: self.addr.clone(),
            reason,
        }
    }

    /// The broker hung up: perhaps the listener wants another security protocol.
    fn closed(&self) -> ClientError {
        let ours = self.options.security.protocol;
        let hint = match ours {
            SecurityProtocol::SaslSsl => String::new(),
            SecurityProtocol::Ssl => {
                " (is the listener's security protocol SSL? does it require a \
                                      client certificate: --ssl-cert?)"
                    .to_string()
            }
            p => format!(
                " (is the listener's security protocol {}? see --security-protocol)",
                p.name()
            ),
        };
        self.protocol(format!("the broker closed the connection{hint}"))
    }

    /// The highest version of `R` both this client (capped at `cap`) and the broker speak.
    pub fn version<R: Request>(&self, api: &'static str, cap: i16) -> Result<i16, ClientError> {
        let ours = (R::VERSIONS.min, R::VERSIONS.max.min(cap));
        let theirs = self.versions.get(&R::KEY).copied();
        match theirs {
            Some((min, max)) if max.min(ours.1) >= min.max(ours.0) => Ok(max.min(ours.1)),
            _ => Err(ClientError::Unsupported {
                addr: self.addr.clone(),
                api,
                min: ours.0,
                max: ours.1,
                broker: theirs.map_or("none".into(), |(a, b)| format!("{a}..={b}")),
            }),
        }
    }

    /// Sends one request at `version` and reads its response.
    pub async fn send<R: Request>(
        &mut self,
        req: &R,
        version: i16,
    ) -> Result<R::Response, ClientError> {
        self.correlation += 1;
        let correlation = self.correlation;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from_static_str("gregor-cli")));
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0; 4]);
        header
            .encode(&mut buf, R::header_version(version))
            .and_then(|()| req.encode(&mut buf, version))
            .map_err(|e| self.protocol(format!("cannot encode request key {}: {e}", R::KEY)))?;
        let len = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&len.to_be_bytes());

        let timeout = self.options.timeout;
        let tls = self.options.security.tls.is_some();
        let frame = tokio::time::timeout(timeout, async {
            self.stream.write_all(&buf).await?;
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await?;
            let len = i32::from_be_bytes(len);
            if len < 0 || len as usize > MAX_FRAME {
                // 0x15 0x03: a TLS alert record, the answer of a TLS listener to plaintext.
                let what = if !tls && len >> 16 == 0x1503 {
                    "the broker answered with TLS (is the listener SSL or SASL_SSL? see \
                     --security-protocol)"
                        .to_string()
                } else {
                    format!("response frame of {len} bytes")
                };
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, what));
            }
            let mut frame = vec![0u8; len as usize];
            self.stream.read_exact(&mut frame).await?;
            Ok(frame)
        })
        .await
        .map_err(|_| self.protocol(format!("no response within {timeout:?}")))?
        .map_err(|e| {
            use std::io::ErrorKind::{BrokenPipe, ConnectionReset, UnexpectedEof};
            if matches!(e.kind(), UnexpectedEof | ConnectionReset | BrokenPipe) {
                self.closed()
            } else {
                self.io(e)
            }
        })?;
        let mut frame = Bytes::from(frame);
        // ApiVersions answers always carry a v0 response header.
        let header_version = if R::KEY == 18 {
            0
        } else {
            <R::Response as HeaderVersion>::header_version(version)
        };
        let header = ResponseHeader::decode(&mut frame, header_version)
            .map_err(|e| self.protocol(format!("bad response header: {e}")))?;
        if header.correlation_id != correlation {
            return Err(self.protocol(format!(
                "response correlation id {} for request {correlation}",
                header.correlation_id
            )));
        }
        R::Response::decode(&mut frame, version)
            .map_err(|e| self.protocol(format!("bad response to API key {}: {e}", R::KEY)))
    }
}
