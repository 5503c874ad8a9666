//! ACLs (`--authorizer acl`): the ACL APIs and the checks handlers make, with requests sent
//! in-process as any principal from any address (`api::dispatch_from`), as SASL would set them.

use std::sync::Arc;

use gregor::security::Session;
use gregor::server::RunningBroker;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

use crate::acl_support::{acl, broker, call, grant, who};
use crate::common;

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const INVALID_REQUEST: i16 = 42;
const SECURITY_DISABLED: i16 = 54;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

// Kafka's codes: resource types, pattern types, operations, permissions.
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const TXN_ID: i8 = 5;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const ANY: i8 = 1;
const READ: i8 = 3;
const WRITE: i8 = 4;
const CREATE: i8 = 5;
const DESCRIBE: i8 = 8;
const ALL: i8 = 2;
const DENY: i8 = 2;
const ALLOW: i8 = 3;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn produce(b: &RunningBroker, who: &Arc<Session>, topic: &str) -> i16 {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let batch = common::batch(&[common::record("k", "v", 1)], Compression::None);
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch))])]);
    call(b, who, &req, 9).await.responses[0].partition_responses[0].error_code
}

async fn fetch(b: &RunningBroker, who: &Arc<Session>, topic: &str) -> i16 {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s(topic)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20)])]);
    call(b, who, &req, 12).await.responses[0].partitions[0].error_code
}

async fn metadata(
    b: &RunningBroker,
    who: &Arc<Session>,
    topics: Option<&[&str]>,
) -> Vec<(String, i16, i32)> {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    let req = MetadataRequest::default()
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(TopicName(s(t)))))
                .collect()
        }))
        .with_allow_auto_topic_creation(true)
        .with_include_topic_authorized_operations(true);
    let mut got: Vec<_> = call(b, who, &req, 12)
        .await
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.map(|n| n.to_string()).unwrap_or_default();
            (name, t.error_code, t.topic_authorized_operations)
        })
        .collect();
    got.sort();
    got
}

#[tokio::test]
async fn acl_apis_create_describe_delete_and_refuse_others() {
    let b = broker(None, false).await;
    let admin = who("admin", "10.0.0.9");
    let alice = who("alice", "10.0.0.1");
    let bad = vec![
        acl(CLUSTER, "other", LITERAL, "User:a", "*", READ, ALLOW),
        acl(TOPIC, "", LITERAL, "User:a", "*", READ, ALLOW),
        acl(ANY, "t", LITERAL, "User:a", "*", READ, ALLOW),
        acl(TOPIC, "t", ANY, "User:a", "*", READ, ALLOW),
        acl(TOPIC, "t", LITERAL, "alice", "*", READ, ALLOW),
        acl(TOPIC, "t", LITERAL, "User:a", "*", ANY, ALLOW),
        acl(TOPIC, "t", LITERAL, "User:a", "*", READ, ANY),
        acl(TOPIC, "orders", LITERAL, "User:alice", "*", READ, ALLOW),
    ];
    let r = call(
        &b,
        &admin,
        &CreateAclsRequest::default().with_creations(bad),
        3,
    )
    .await;
    let codes: Vec<i16> = r.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [42, 42, 42, 42, 42, 42, 42, 0]);
    assert_eq!(
        r.results[0].error_message.as_deref(),
        Some("The only valid name for the CLUSTER resource is kafka-cluster")
    );

    // Only ALTER on the cluster may create or delete, DESCRIBE on it describe.
    let r = call(
        &b,
        &alice,
        &CreateAclsRequest::default().with_creations(vec![acl(
            TOPIC,
            "x",
            LITERAL,
            "User:alice",
            "*",
            ALL,
            ALLOW,
        )]),
        3,
    )
    .await;
    assert_eq!(r.results[0].error_code, CLUSTER_AUTHORIZATION_FAILED);
    let any = DescribeAclsRequest::default()
        .with_resource_name_filter(None)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_resource_type_filter(ANY)
        .with_pattern_type_filter(ANY)
        .with_operation(ANY)
        .with_permission_type(ANY);
    assert_eq!(
        call(&b, &alice, &any, 3).await.error_code,
        CLUSTER_AUTHORIZATION_FAILED
    );

    grant(
        &b,
        vec![acl(TOPIC, "pay.", PREFIXED, "User:bob", "*", WRITE, DENY)],
    )
    .await;
    let described = call(&b, &admin, &any, 3).await;
    assert_eq!(described.error_code, 0);
    let mut listed: Vec<(String, i8, usize)> = described
        .resources
        .iter()
        .map(|r| (r.resource_name.to_string(), r.pattern_type, r.acls.len()))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [("orders".into(), LITERAL, 1), ("pay.".into(), PREFIXED, 1)]
    );
    // MATCH: every binding that applies to the named topic.
    let matching = any
        .clone()
        .with_resource_type_filter(TOPIC)
        .with_resource_name_filter(Some(s("pay.x")))
        .with_pattern_type_filter(2);
    let m = call(&b, &admin, &matching, 3).await;
    assert_eq!(m.resources.len(), 1);
    assert_eq!(m.resources[0].acls[0].principal.as_str(), "User:bob");
    let unknown = any.clone().with_operation(0);
    assert_eq!(
        call(&b, &admin, &unknown, 3).await.error_code,
        INVALID_REQUEST
    );

    let delete = DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()
        .with_resource_name_filter(None)
        .with_host_filter(None)
        .with_resource_type_filter(TOPIC)
        .with_pattern_type_filter(ANY)
        .with_principal_filter(Some(s("User:bob")))
        .with_operation(ANY)
        .with_permission_type(ANY)]);
    let r = call(&b, &alice, &delete, 3).await;
    assert_eq!(r.filter_results[0].error_code, CLUSTER_AUTHORIZATION_FAILED);
    let r = call(&b, &admin, &delete, 3).await;
    assert_eq!(r.filter_results[0].matching_acls.len(), 1);
    assert_eq!(
        r.filter_results[0].matching_acls[0].resource_name.as_str(),
        "pay."
    );
    assert_eq!(call(&b, &admin, &any, 3).await.resources.len(), 1);
    b.shutdown().await;

    // Without an authorizer: SECURITY_DISABLED, and everything else is allowed.
    let plain = common::broker(None).await;
    assert_eq!(
        call(&plain, &alice, &any, 3).await.error_code,
        SECURITY_DISABLED
    );
    let r = call(
        &plain,
        &alice,
        &CreateAclsRequest::default()
            .with_creations(vec![acl(TOPIC, "x", LITERAL, "User:a", "*", ALL, ALLOW)]),
        3,
    )
    .await;
    assert_eq!(r.results[0].error_code, SECURITY_DISABLED);
    plain.shutdown().await;
}

#[tokio::test]
async fn produce_and_fetch_need_write_and_read_deny_wins_hosts_and_prefixes_count() {
    let b = broker(None, false).await;
    let alice = who("alice", "10.0.0.1");
    let alice_elsewhere = who("alice", "10.0.0.2");
    assert_eq!(
        produce(&b, &alice, "orders").await,
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(
        fetch(&b, &alice, "orders").await,
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(
        produce(&b, &who("admin", "1.2.3.4"), "orders").await,
        0,
        "super user"
    );
    assert_eq!(
        produce(&b, &alice, "no-such").await,
        TOPIC_AUTHORIZATION_FAILED,
        "denied before unknown"
    );

    grant(
        &b,
        vec![
            acl(
                TOPIC,
                "orders",
                LITERAL,
                "User:alice",
                "10.0.0.1",
                WRITE,
                ALLOW,
            ),
            acl(TOPIC, "orders", LITERAL, "User:alice", "*", READ, ALLOW),
            acl(TOPIC, "pay.", PREFIXED, "User:*", "*", ALL, ALLOW),
            acl(TOPIC, "pay.secret", LITERAL, "User:alice", "*", WRITE, DENY),
        ],
    )
    .await;
    assert_eq!(produce(&b, &alice, "orders").await, 0);
    assert_eq!(
        produce(&b, &alice_elsewhere, "orders").await,
        TOPIC_AUTHORIZATION_FAILED,
        "host"
    );
    assert_eq!(fetch(&b, &alice, "orders").await, 0);
    assert_eq!(produce(&b, &alice, "pay.open").await, 0, "prefixed, User:*");
    assert_eq!(
        produce(&b, &alice, "pay.secret").await,
        TOPIC_AUTHORIZATION_FAILED,
        "DENY wins"
    );
    assert_eq!(produce(&b, &who("bob", "10.0.0.3"), "pay.secret").await, 0);
    assert_eq!(
        fetch(&b, &alice, "pay.secret").await,
        0,
        "the DENY is for WRITE only"
    );
    b.shutdown().await;
}

#[tokio::test]
async fn metadata_leaves_out_what_may_not_be_described_and_auto_creates_with_create() {
    let b = broker(None, false).await;
    let alice = who("alice", "10.0.0.1");
    assert!(metadata(&b, &alice, None).await.is_empty());
    grant(
        &b,
        vec![
            acl(TOPIC, "orders", LITERAL, "User:alice", "*", READ, ALLOW),
            acl(TOPIC, "new.", PREFIXED, "User:alice", "*", CREATE, ALLOW),
            acl(TOPIC, "new.", PREFIXED, "User:alice", "*", DESCRIBE, ALLOW),
        ],
    )
    .await;
    // READ implies DESCRIBE; the operations field shows READ and DESCRIBE only.
    let read_describe = (1 << 3) | (1 << 8);
    assert_eq!(
        metadata(&b, &alice, None).await,
        [("orders".into(), 0, read_describe)]
    );
    let named = metadata(
        &b,
        &alice,
        Some(&["orders", "pay.secret", "nothing", "new.one"]),
    )
    .await;
    assert_eq!(
        named[0],
        (
            "new.one".into(),
            UNKNOWN_TOPIC_OR_PARTITION,
            (1 << 5) | (1 << 8)
        )
    );
    assert_eq!(
        named[1].1, TOPIC_AUTHORIZATION_FAILED,
        "undescribable: not said to be missing"
    );
    assert_eq!(named[2], ("orders".into(), 0, read_describe));
    assert_eq!(named[3].1, TOPIC_AUTHORIZATION_FAILED);
    assert!(
        b.services.topics.get("new.one").is_some(),
        "auto-created with CREATE on new.*"
    );
    assert!(b.services.topics.get("nothing").is_none());
    // The super user sees everything with every operation.
    let all = metadata(&b, &who("admin", "1.1.1.1"), None).await;
    assert_eq!(all.len(), 4);
    assert!(all
        .iter()
        .all(|(_, e, ops)| *e == 0 && *ops == 0b1101_1111_1000));
    b.shutdown().await;
}

#[tokio::test]
async fn groups_need_read_and_listing_shows_describable_ones() {
    let b = broker(None, false).await;
    let alice = who("alice", "10.0.0.1");
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(s("g1")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
        )
        .with_name(s("range"))]);
    assert_eq!(
        call(&b, &alice, &join, 5).await.error_code,
        GROUP_AUTHORIZATION_FAILED
    );
    let hb = HeartbeatRequest::default().with_group_id(GroupId(s("g1")));
    assert_eq!(
        call(&b, &alice, &hb, 3).await.error_code,
        GROUP_AUTHORIZATION_FAILED
    );
    let find = FindCoordinatorRequest::default().with_key(s("g1"));
    assert_eq!(
        call(&b, &alice, &find, 2).await.error_code,
        GROUP_AUTHORIZATION_FAILED
    );

    grant(
        &b,
        vec![acl(GROUP, "g", PREFIXED, "User:alice", "*", READ, ALLOW)],
    )
    .await;
    assert_eq!(
        call(&b, &alice, &find, 2).await.error_code,
        0,
        "READ implies DESCRIBE"
    );
    // A static member (instance id) joins at once: the group then exists.
    let joined = call(
        &b,
        &alice,
        &join.clone().with_group_instance_id(Some(s("i1"))),
        5,
    )
    .await;
    assert_eq!(joined.error_code, 0);
    let admin = who("admin", "1.1.1.1");
    let other = join
        .clone()
        .with_group_id(GroupId(s("other")))
        .with_group_instance_id(Some(s("i2")));
    assert_eq!(call(&b, &admin, &other, 5).await.error_code, 0);

    let listed = |r: ListGroupsResponse| {
        let mut ids: Vec<String> = r.groups.iter().map(|g| g.group_id.to_string()).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        listed(call(&b, &alice, &ListGroupsRequest::default(), 4).await),
        ["g1"]
    );
    assert_eq!(
        listed(call(&b, &admin, &ListGroupsRequest::default(), 4).await),
        ["g1", "other"]
    );

    let describe = DescribeGroupsRequest::default()
        .with_groups(vec![GroupId(s("g1")), GroupId(s("other"))])
        .with_include_authorized_operations(true);
    let d = call(&b, &alice, &describe, 5).await;
    assert_eq!(d.groups[0].error_code, 0);
    assert_eq!(d.groups[0].authorized_operations, (1 << 3) | (1 << 8));
    assert_eq!(d.groups[1].error_code, GROUP_AUTHORIZATION_FAILED);
    let delete = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("g1"))]);
    let r = call(&b, &alice, &delete, 2).await;
    assert_eq!(
        r.results[0].error_code, GROUP_AUTHORIZATION_FAILED,
        "DELETE is not READ"
    );
    b.shutdown().await;
}

#[tokio::test]
async fn producer_ids_need_the_transactional_id_or_idempotent_write() {
    let b = broker(None, false).await;
    let alice = who("alice", "10.0.0.1");
    let txn = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s("tx-1"))))
        .with_transaction_timeout_ms(10_000);
    assert_eq!(
        call(&b, &alice, &txn, 4).await.error_code,
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
    let idempotent = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(-1);
    assert_eq!(
        call(&b, &alice, &idempotent, 4).await.error_code,
        CLUSTER_AUTHORIZATION_FAILED
    );
    // WRITE on some topic is enough for an idempotent producer (Kafka 2.8+).
    grant(
        &b,
        vec![
            acl(TOPIC, "orders", LITERAL, "User:alice", "*", WRITE, ALLOW),
            acl(TXN_ID, "tx-", PREFIXED, "User:alice", "*", WRITE, ALLOW),
        ],
    )
    .await;
    assert_eq!(call(&b, &alice, &idempotent, 4).await.error_code, 0);
    assert_eq!(call(&b, &alice, &txn, 4).await.error_code, 0);
    let end = EndTxnRequest::default().with_transactional_id(TransactionalId(s("other")));
    assert_eq!(
        call(&b, &alice, &end, 3).await.error_code,
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    );
    b.shutdown().await;
}

#[tokio::test]
async fn topic_administration_needs_create_delete_and_configs_rights() {
    let b = broker(None, false).await;
    let alice = who("alice", "10.0.0.1");
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    let create = |name: &str| {
        CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(s(name)))
            .with_num_partitions(1)
            .with_replication_factor(1)])
    };
    let r = call(&b, &alice, &create("a.one"), 7).await;
    assert_eq!(r.topics[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(
        r.topics[0].error_message.as_deref(),
        Some("Authorization failed.")
    );
    grant(
        &b,
        vec![acl(TOPIC, "a.", PREFIXED, "User:alice", "*", CREATE, ALLOW)],
    )
    .await;
    let r = call(&b, &alice, &create("a.one"), 7).await;
    assert_eq!(r.topics[0].error_code, 0);
    // Without DESCRIBE_CONFIGS, Kafka leaves the configs out.
    assert_eq!(
        r.topics[0].topic_config_error_code,
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(r.topics[0].num_partitions, -1);

    use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
    let delete = DeleteTopicsRequest::default().with_topics(vec![
        DeleteTopicState::default().with_name(Some(TopicName(s("a.one"))))
    ]);
    let r = call(&b, &alice, &delete, 6).await;
    assert_eq!(r.responses[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    // By id, a topic that may not be described is not named back.
    let id = b.services.topics.get("orders").unwrap().id;
    let by_id = DeleteTopicsRequest::default()
        .with_topics(vec![DeleteTopicState::default().with_topic_id(id)]);
    let r = call(&b, &alice, &by_id, 6).await;
    assert_eq!(
        (r.responses[0].error_code, r.responses[0].name.clone()),
        (TOPIC_AUTHORIZATION_FAILED, None)
    );

    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    let configs = DescribeConfigsRequest::default().with_resources(vec![
        DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("orders")),
        DescribeConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(s("1")),
    ]);
    let r = call(&b, &alice, &configs, 4).await;
    assert_eq!(r.results[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    assert_eq!(r.results[1].error_code, CLUSTER_AUTHORIZATION_FAILED);
    b.shutdown().await;
}

#[tokio::test]
async fn no_acl_on_a_resource_allows_everyone_when_configured() {
    let b = broker(None, true).await;
    let alice = who("alice", "10.0.0.1");
    assert_eq!(produce(&b, &alice, "orders").await, 0);
    grant(
        &b,
        vec![acl(TOPIC, "orders", LITERAL, "User:bob", "*", WRITE, ALLOW)],
    )
    .await;
    assert_eq!(
        produce(&b, &alice, "orders").await,
        TOPIC_AUTHORIZATION_FAILED,
        "orders has ACLs now"
    );
    assert_eq!(produce(&b, &alice, "pay.open").await, 0);
    b.shutdown().await;
}

#[tokio::test]
async fn acls_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let alice = who("alice", "10.0.0.1");
    let b = broker(Some(dir.path()), false).await;
    grant(
        &b,
        vec![acl(
            TOPIC,
            "orders",
            LITERAL,
            "User:alice",
            "*",
            WRITE,
            ALLOW,
        )],
    )
    .await;
    b.shutdown().await;
    let b = broker(Some(dir.path()), false).await;
    assert_eq!(produce(&b, &alice, "orders").await, 0);
    assert_eq!(
        produce(&b, &alice, "pay.open").await,
        TOPIC_AUTHORIZATION_FAILED
    );
    b.shutdown().await;
}
