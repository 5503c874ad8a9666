//! Group size limits over the wire (issue 17): a broker with group.max.size,
//! group.consumer.max.size and group.share.max.size of 1 refuses the second member of each
//! kind of group with GROUP_MAX_SIZE_REACHED, as Kafka 4.4 does, and describes the settings.

use crate::common::*;
use gregor::config::Config;
use gregor::server::{start, RunningBroker};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;

const TOPIC: &str = "loms.order-events";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn small_broker() -> RunningBroker {
    let config = Config {
        group_max_size: 1,
        group_consumer_max_size: 1,
        group_share_max_size: 1,
        group_initial_rebalance_delay_ms: 0,
        ..config(None)
    };
    start(config).await.expect("broker starts")
}

fn join_request(group: &str, member: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(member))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(bytes::Bytes::from_static(&[
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ]))])
}

fn consumer_join(group: &str, member: &str) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![TopicName(s(TOPIC))]))
        .with_topic_partitions(Some(vec![]))
}

fn share_join(group: &str, member: &str) -> ShareGroupHeartbeatRequest {
    ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(0)
        .with_subscribed_topic_names(Some(vec![TopicName(s(TOPIC))]))
}

#[tokio::test]
async fn a_classic_group_of_one_refuses_a_second_member() {
    let b = small_broker().await;
    let mut c = Client::connect(&b).await;
    let first = c.call(&join_request("classic-1", ""), 5).await;
    assert_eq!(first.error_code, E::MemberIdRequired.code());
    let joined = c
        .call(&join_request("classic-1", &first.member_id), 5)
        .await;
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.member_id, first.member_id);
    // The group has its one member: a newcomer is refused before it gets an id.
    let mut other = Client::connect(&b).await;
    let refused = other.call(&join_request("classic-1", ""), 5).await;
    assert_eq!(refused.error_code, E::GroupMaxSizeReached.code());
    assert_eq!(refused.member_id.as_str(), "");
    // The member itself rejoins.
    let again = c
        .call(&join_request("classic-1", &first.member_id), 5)
        .await;
    assert_eq!(again.error_code, 0);
}

#[tokio::test]
async fn a_consumer_group_of_one_refuses_a_second_member_and_a_classic_one() {
    let b = small_broker().await;
    let mut c = Client::connect(&b).await;
    let a = c.call(&consumer_join("kip848-1", "a"), 1).await;
    assert_eq!(a.error_code, 0, "{:?}", a.error_message);
    let refused = c.call(&consumer_join("kip848-1", "b"), 1).await;
    assert_eq!(refused.error_code, E::GroupMaxSizeReached.code());
    assert_eq!(
        refused.error_message.as_deref(),
        Some("The consumer group has reached its maximum capacity of 1 members.")
    );
    // A classic member joining the consumer group counts as well.
    let classic = c.call(&join_request("kip848-1", ""), 5).await;
    assert_eq!(classic.error_code, E::GroupMaxSizeReached.code());
    assert_eq!(classic.member_id.as_str(), "");
    // a leaves: b gets in.
    let leave = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s("kip848-1")))
        .with_member_id(s("a"))
        .with_member_epoch(-1);
    assert_eq!(c.call(&leave, 1).await.error_code, 0);
    let b2 = c.call(&consumer_join("kip848-1", "b"), 1).await;
    assert_eq!(b2.error_code, 0, "{:?}", b2.error_message);
}

#[tokio::test]
async fn a_share_group_of_one_refuses_a_second_member() {
    let b = small_broker().await;
    let mut c = Client::connect(&b).await;
    let a = c.call(&share_join("share-1", "a"), 1).await;
    assert_eq!(a.error_code, 0, "{:?}", a.error_message);
    let refused = c.call(&share_join("share-1", "b"), 1).await;
    assert_eq!(refused.error_code, E::GroupMaxSizeReached.code());
    assert_eq!(
        refused.error_message.as_deref(),
        Some("The share group has reached its maximum capacity of 1 members.")
    );
}

#[tokio::test]
async fn describe_configs_reports_the_limits_under_kafkas_names() {
    let b = small_broker().await;
    let mut c = Client::connect(&b).await;
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(s("1"))]);
    let resp = c.call(&req, 4).await;
    assert_eq!(resp.results[0].error_code, 0);
    let configs = &resp.results[0].configs;
    for name in [
        "group.max.size",
        "group.consumer.max.size",
        "group.share.max.size",
    ] {
        let e = configs
            .iter()
            .find(|e| e.name.as_str() == name)
            .unwrap_or_else(|| panic!("{name} described"));
        // Set by gregor's configuration: a static broker config, read-only as in Kafka.
        assert_eq!(
            (e.value.as_deref(), e.config_source, e.read_only),
            (Some("1"), 4, true),
            "{name}"
        );
    }
}
