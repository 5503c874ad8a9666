//! kill -9 of the real binary: every record acknowledged with acks=all is there after restart.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use tokio::net::TcpStream;

/// A broker process of the real binary, killed when dropped: a test that fails half-way
/// leaves no broker running.
pub(crate) struct Broker(Child);

impl std::ops::Deref for Broker {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Broker {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn spawn(dir: &std::path::Path, port: u16) -> Broker {
    spawn_with(dir, port, &[])
}

pub(crate) fn spawn_with(dir: &std::path::Path, port: u16, extra: &[&str]) -> Broker {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gregor"));
    // Our settings only: the broker rejects GREGOR_* variables it does not know.
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("GREGOR_")) {
        cmd.env_remove(key);
    }
    cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir)
        .args(extra)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Broker)
        .expect("gregor starts")
}

pub(crate) async fn connect(port: u16) -> Client {
    for _ in 0..200 {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)).await {
            return Client::from_stream(stream);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("broker did not come up on port {port}");
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

#[tokio::test]
async fn acknowledged_records_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = spawn(dir.path(), port);
    let mut c = connect(port).await;
    let mut acked = 0;
    for i in 0..50 {
        let records: Vec<_> = (0..10)
            .map(|j| record(&format!("order-{i}-{j}"), "payed", 1_000))
            .collect();
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(name("loms.order-events"))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(i % 2)
                    .with_records(Some(batch(&records, Compression::Zstd)))])]);
        let resp = c.call(&req, 9).await;
        assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
        acked += 10;
    }
    child.kill().unwrap(); // SIGKILL: no clean shutdown, no flush beyond what was acknowledged.
    child.wait().unwrap();

    let mut child = spawn(dir.path(), port);
    let mut c = connect(port).await;
    let mut found = 0;
    for partition in 0..2 {
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_bytes(50 << 20)
            .with_topics(vec![FetchTopic::default()
                .with_topic(name("loms.order-events"))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_partition_max_bytes(50 << 20)])]);
        let resp = c.call(&req, 12).await;
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, 0);
        let records = decode_records(p.records.clone().unwrap());
        assert_eq!(records.len() as i64, p.high_watermark);
        assert!(records
            .iter()
            .enumerate()
            .all(|(i, r)| r.offset == i as i64));
        found += records.len();
    }
    assert_eq!(found, acked);
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn produce(c: &mut Client, partition: i32, n: usize) {
    let records: Vec<_> = (0..n)
        .map(|j| record(&format!("order-{j}"), "new", 1_000))
        .collect();
    let req = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name("loms.order-events"))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch(&records, Compression::None)))])]);
    assert_eq!(
        c.call(&req, 9).await.responses[0].partition_responses[0].error_code,
        0
    );
}

async fn high_watermark(c: &mut Client, partition: i32) -> i64 {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name("loms.order-events"))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_partition_max_bytes(1 << 20)])]);
    c.call(&req, 12).await.responses[0].partitions[0].high_watermark
}

/// SIGTERM: finish, make everything durable (even with fsync=never), exit 0.
#[tokio::test]
async fn sigterm_shuts_down_cleanly_and_durably() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = spawn_with(dir.path(), port, &["--fsync", "never"]);
    let mut c = connect(port).await;
    produce(&mut c, 0, 25).await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "gregor exits 0 on SIGTERM, got {exit:?}");

    let mut child = spawn(dir.path(), port);
    let mut c = connect(port).await;
    assert_eq!(high_watermark(&mut c, 0).await, 25);
    produce(&mut c, 0, 5).await;
    assert_eq!(
        high_watermark(&mut c, 0).await,
        30,
        "appends continue after the recovered end"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Share groups (KIP-932) under kill -9: every acknowledgement answered before the kill holds
/// after the restart (accepted records are not delivered again), and every record not
/// accepted comes again, the ones in flight with their delivery counted.
#[tokio::test]
async fn share_acknowledgements_survive_kill_9() {
    use super::share_groups::{ack, ack_code, acquired, fetch, join, produce, set_group_configs};
    use super::share_groups::{ACCEPT, REJECT, RELEASE};
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = spawn(dir.path(), port);
    let mut c = connect(port).await;
    let g = "share-kill9";
    let configs = [("share.auto.offset.reset", "earliest")];
    assert_eq!(set_group_configs(&mut c, g, &configs).await, (0, None));
    produce(&mut c, 10).await;
    let topic = join(&mut c, g, "m1").await;
    let r = c.call(&fetch(g, "m1", 0, topic, vec![]), 1).await;
    assert_eq!(acquired(&r), vec![(0, 9, 1)]);
    // Accept 0-3, reject 4, release 5; 6-9 stay in flight when the broker dies.
    let acks = [(0, 3, ACCEPT), (4, 4, REJECT), (5, 5, RELEASE)];
    let r = c.call(&ack(g, "m1", 1, topic, &acks), 1).await;
    assert_eq!(ack_code(&r), (0, 0));
    child.kill().unwrap();
    child.wait().unwrap();

    let mut child = spawn(dir.path(), port);
    let mut c = connect(port).await;
    join(&mut c, g, "m2").await;
    let r = c.call(&fetch(g, "m2", 0, topic, vec![]), 1).await;
    // 5 was released after one delivery, 6-9 were delivered once and never acknowledged.
    assert_eq!(acquired(&r), vec![(5, 9, 2)]);
    child.kill().unwrap();
    child.wait().unwrap();
}
