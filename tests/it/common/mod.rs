//! An in-process broker on 127.0.0.1:0 and a minimal raw-protocol client built on the
//! kafka-protocol message structs.
#![allow(dead_code)]

use std::path::Path;

use bytes::{Bytes, BytesMut};
use gregor::config::{Config, StorageKind};
use gregor::server::{start, RunningBroker};
use indexmap::IndexMap;
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub fn config(data_dir: Option<&Path>) -> Config {
    let (storage, data_dir) = match data_dir {
        Some(d) => (StorageKind::Disk, d.to_path_buf()),
        None => (StorageKind::Memory, Config::default().data_dir),
    };
    Config {
        listen: vec!["127.0.0.1:0".into()],
        advertised_listener: vec![],
        storage,
        data_dir,
        ..Config::default()
    }
}

pub async fn broker(data_dir: Option<&Path>) -> RunningBroker {
    start(config(data_dir)).await.expect("broker starts")
}

pub struct Client {
    stream: TcpStream,
    next_correlation: i32,
}

impl Client {
    pub async fn connect(b: &RunningBroker) -> Client {
        Client::from_stream(TcpStream::connect(b.addr()).await.unwrap())
    }

    pub fn from_stream(stream: TcpStream) -> Client {
        Client {
            stream,
            next_correlation: 1,
        }
    }

    /// Send a request without reading its response (for pipelining); returns the correlation id.
    pub async fn send<R: Request>(&mut self, req: &R, version: i16) -> i32 {
        let correlation = self.next_correlation;
        self.next_correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation)
            .with_client_id(Some(StrBytes::from("gregor-tests")));
        let mut buf = BytesMut::new();
        header.encode(&mut buf, R::header_version(version)).unwrap();
        req.encode(&mut buf, version).unwrap();
        self.stream
            .write_all(&(buf.len() as i32).to_be_bytes())
            .await
            .unwrap();
        self.stream.write_all(&buf).await.unwrap();
        correlation
    }

    /// Read one response frame: (correlation id, body decoded as R::Response).
    pub async fn receive<R: Request>(&mut self, version: i16) -> (i32, R::Response) {
        let frame = self.read_frame().await.expect("a response");
        let mut frame = Bytes::from(frame);
        let header = ResponseHeader::decode(
            &mut frame,
            <R::Response as HeaderVersion>::header_version(version),
        )
        .unwrap();
        let body = R::Response::decode(&mut frame, version).unwrap();
        (header.correlation_id, body)
    }

    pub async fn call<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        let sent = self.send(req, version).await;
        let (got, resp) = self.receive::<R>(version).await;
        assert_eq!(sent, got, "correlation id");
        resp
    }

    pub async fn write_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Next frame, or None once the broker closed the connection.
    pub async fn read_frame(&mut self) -> Option<Vec<u8>> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).await.ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut body).await.ok()?;
        Some(body)
    }
}

pub fn record(key: &str, value: &str, timestamp: i64) -> Record {
    let mut headers = IndexMap::new();
    headers.insert(StrBytes::from("h"), Some(Bytes::from_static(b"v")));
    Record {
        transactional: false,
        control: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp,
        key: Some(Bytes::copy_from_slice(key.as_bytes())),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        headers,
        delete_horizon: false,
    }
}

/// One v2 batch holding `records` (offsets relative from 0). The encoder starts a new batch
/// whenever offset minus sequence changes, so sequences follow offsets.
pub fn batch(records: &[Record], compression: Compression) -> Bytes {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            offset: i as i64,
            sequence: i as i32,
            ..r.clone()
        })
        .collect();
    encode(&records, compression)
}

/// One v2 batch from producer (`producer_id`, `epoch`), a record per (key, value) at sequences
/// from `first_sequence`, stamped now: producer state expires by its batches' timestamps (as
/// Kafka's), and the expiry check could forget a producer whose batches say 1970 mid-test.
pub fn producer_batch(
    producer_id: i64,
    epoch: i16,
    first_sequence: i32,
    transactional: bool,
    records: &[(&str, &str)],
) -> Bytes {
    let now = gregor::api::now_ms();
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (k, v))| Record {
            transactional,
            producer_id,
            producer_epoch: epoch,
            sequence: first_sequence + i as i32,
            offset: i as i64,
            ..record(k, v, now)
        })
        .collect();
    encode(&records, Compression::None)
}

fn encode(records: &[Record], compression: Compression) -> Bytes {
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buf.freeze()
}

pub fn decode_records(mut bytes: Bytes) -> Vec<Record> {
    RecordBatchDecoder::decode_all(&mut bytes)
        .unwrap()
        .into_iter()
        .flat_map(|s| s.records)
        .collect()
}

pub fn api_key<R: Request>() -> ApiKey {
    ApiKey::try_from(R::KEY).unwrap()
}

/// An ApiVersions request naming its client software as Kafka requires from v3 on (KIP-511:
/// an empty name is INVALID_REQUEST there).
pub fn api_versions() -> kafka_protocol::messages::ApiVersionsRequest {
    kafka_protocol::messages::ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("gregor-tests"))
        .with_client_software_version(StrBytes::from_static_str("1.0"))
}

/// A loopback port for a broker this test starts as a process of its own. Taken in turn from
/// 31000-32699, below Linux's ephemeral ports (32768-60999): a port the kernel picked (bind to
/// port 0) and released could be taken, before the broker binds it, by another test's
/// in-process broker or by an outgoing connection (a test once talked to another test's broker
/// that way). Each test process starts at its own place in the range.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 31_000;
    const COUNT: u32 = 1_700;
    let start = std::process::id().wrapping_mul(7_919) % COUNT;
    for _ in 0..COUNT {
        let port = (FIRST + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % COUNT) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 31000-32699");
}
