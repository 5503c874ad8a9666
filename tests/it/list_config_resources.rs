//! ListConfigResources (74) over the wire: which resources have configs, by type, in Kafka
//! 4.4's order; v0 (ListClientMetricsResources) knows only client metrics; unknown types
//! UNSUPPORTED_VERSION; versions past 1 close the connection.

use std::time::Duration;

use crate::common::*;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::ResponseError as E;

const TOPIC: &str = "loms.order-events";
const GROUP_RESOURCE: i8 = 32;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// (type, name) of every resource listed, in order.
async fn listed(c: &mut Client, types: &[i8], version: i16) -> (i16, Vec<(i8, String)>) {
    let r = c
        .call(
            &ListConfigResourcesRequest::default().with_resource_types(types.to_vec()),
            version,
        )
        .await;
    let resources = r
        .config_resources
        .iter()
        .map(|c| (c.resource_type, c.resource_name.to_string()))
        .collect();
    (r.error_code, resources)
}

#[tokio::test]
async fn resources_with_configs_by_type_in_kafkas_order() {
    let b = broker(None).await;
    let node = b.services.cluster.this_node().to_string();
    let mut c = Client::connect(&b).await;
    // Nothing set yet: no group is listed, brokers and topics always are.
    let all = [(8, node.clone()), (4, node.clone()), (2, TOPIC.to_string())];
    assert_eq!(listed(&mut c, &[], 1).await, (0, all.to_vec()));
    let set = IncrementalAlterConfigsRequest::default().with_resources(
        ["g-b", "g-a"]
            .iter()
            .map(|g| {
                AlterConfigsResource::default()
                    .with_resource_type(GROUP_RESOURCE)
                    .with_resource_name(s(g))
                    .with_configs(vec![AlterableConfig::default()
                        .with_name(s("consumer.session.timeout.ms"))
                        .with_config_operation(0)
                        .with_value(Some(s("50000")))])
            })
            .collect(),
    );
    let r = c.call(&set, 1).await;
    assert!(r.responses.iter().all(|r| r.error_code == 0));
    let mut want = vec![(32, "g-a".to_string()), (32, "g-b".to_string())];
    want.extend(all.iter().cloned());
    assert_eq!(listed(&mut c, &[], 1).await, (0, want));
    // Only the types asked for, whatever their order in the request.
    assert_eq!(
        listed(&mut c, &[2, 32], 1).await,
        (
            0,
            vec![
                (32, "g-a".to_string()),
                (32, "g-b".to_string()),
                (2, TOPIC.to_string())
            ]
        )
    );
    assert_eq!(listed(&mut c, &[4], 1).await, (0, vec![(4, node.clone())]));
    // No client-metrics resources: gregor takes no CLIENT_METRICS configs.
    assert_eq!(listed(&mut c, &[16], 1).await, (0, vec![]));
    // v0 lists client metrics only (the request has no types then).
    assert_eq!(listed(&mut c, &[], 0).await, (0, vec![]));
}

#[tokio::test]
async fn a_type_without_configs_is_unsupported() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    // 0 is UNKNOWN, 1, 3 and 64 are no type: one of them spoils the whole request.
    for types in [&[1][..], &[3], &[2, 64], &[0]] {
        assert_eq!(
            listed(&mut c, types, 1).await,
            (E::UnsupportedVersion.code(), vec![]),
            "{types:?}"
        );
    }
}

#[tokio::test]
async fn bad_versions_and_bodies_close_the_connection() {
    let b = broker(None).await;
    let frame = |version: i16, body: &[u8]| {
        let mut buf = bytes::BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(ApiKey::ListConfigResources as i16)
            .with_request_api_version(version)
            .with_correlation_id(3)
            .with_client_id(Some(StrBytes::from_static_str("raw")))
            .encode(&mut buf, 2)
            .unwrap();
        buf.extend_from_slice(body);
        [&(buf.len() as i32).to_be_bytes()[..], &buf[..]].concat()
    };
    let answered = |bytes: Vec<u8>| {
        let b = &b;
        async move {
            let mut c = Client::connect(b).await;
            c.write_raw(&bytes).await;
            tokio::time::timeout(Duration::from_secs(5), c.read_frame())
                .await
                .expect("the broker reacts")
                .is_some()
        }
    };
    // v1: one type (2), no tagged fields. v2 does not exist; a count of 5 with nothing after.
    assert!(answered(frame(1, &[2, 2, 0])).await);
    assert!(!answered(frame(2, &[2, 2, 0])).await);
    assert!(!answered(frame(1, &[6])).await);
}
