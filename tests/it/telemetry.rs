//! KIP-714 client telemetry over the wire: GetTelemetrySubscriptions (71) and PushTelemetry
//! (72) only with `client_telemetry` on; subscriptions as CLIENT_METRICS config resources
//! (IncrementalAlterConfigs, DescribeConfigs, ListConfigResources), kept across a restart;
//! Kafka's error codes; pushed metrics on /metrics.

use std::io::Write;
use std::time::Duration;

use crate::common::*;
use crate::metrics::http;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError as E;
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Metric, MetricsData, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum,
};
use prost::Message;

const CLIENT_METRICS: i8 = 16;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn telemetry_config(dir: &std::path::Path) -> gregor::config::Config {
    gregor::config::Config {
        client_telemetry: true,
        http_listen: Some("127.0.0.1:0".into()),
        ..config(Some(dir))
    }
}

async fn alter(c: &mut Client, name: &str, configs: &[(&str, i8, Option<&str>)]) -> (i16, String) {
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(CLIENT_METRICS)
            .with_resource_name(s(name))
            .with_configs(
                configs
                    .iter()
                    .map(|(k, op, v)| {
                        AlterableConfig::default()
                            .with_name(s(k))
                            .with_config_operation(*op)
                            .with_value(v.map(s))
                    })
                    .collect(),
            ),
    ]);
    let r = c.call(&req, 1).await;
    let r = &r.responses[0];
    (
        r.error_code,
        r.error_message.as_deref().unwrap_or("").to_string(),
    )
}

async fn listed(c: &mut Client) -> Vec<String> {
    let r = c
        .call(
            &ListConfigResourcesRequest::default().with_resource_types(vec![CLIENT_METRICS]),
            1,
        )
        .await;
    r.config_resources
        .iter()
        .map(|r| r.resource_name.to_string())
        .collect()
}

async fn api_keys(c: &mut Client) -> Vec<i16> {
    let r = c.call(&crate::common::api_versions(), 3).await;
    r.api_keys.iter().map(|k| k.api_key).collect()
}

/// A gzip-compressed OTLP payload with one delta counter point of `value`.
fn payload(value: f64) -> Vec<u8> {
    let data = MetricsData {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "org.apache.kafka.producer.record.send.total".into(),
                    data: Some(metric::Data::Sum(Sum {
                        data_points: vec![NumberDataPoint {
                            value: Some(number_data_point::Value::AsDouble(value)),
                            ..Default::default()
                        }],
                        aggregation_temporality: 1,
                        is_monotonic: true,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&data.encode_to_vec()).unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn not_advertised_nor_served_without_the_setting() {
    let b = broker(None).await;
    let mut c = Client::connect(&b).await;
    let keys = api_keys(&mut c).await;
    assert!(!keys.contains(&71) && !keys.contains(&72), "{keys:?}");
    // Subscriptions are configs all the same (as Kafka takes them without a reporter).
    assert_eq!(
        alter(&mut c, "sub", &[("metrics", 0, Some("*"))]).await.0,
        0
    );
    assert_eq!(listed(&mut c).await, ["sub"]);
    // A request for a key not advertised closes the connection, as an unknown key does.
    c.send(&GetTelemetrySubscriptionsRequest::default(), 0)
        .await;
    let answer = tokio::time::timeout(Duration::from_secs(5), c.read_frame())
        .await
        .expect("the broker reacts");
    assert!(answer.is_none());
}

#[tokio::test]
async fn subscriptions_are_validated_described_listed_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let b = gregor::server::start(telemetry_config(dir.path()))
        .await
        .unwrap();
    let mut c = Client::connect(&b).await;
    assert_eq!(
        alter(&mut c, "s", &[("nope", 0, Some("1"))]).await,
        (
            E::InvalidRequest.code(),
            "Unknown client metrics configuration: nope".into()
        )
    );
    assert_eq!(
        alter(&mut c, "s", &[("interval.ms", 0, Some("50"))])
            .await
            .0,
        E::InvalidRequest.code()
    );
    assert_eq!(
        alter(&mut c, "s", &[("match", 0, Some("who=x"))]).await.0,
        E::InvalidConfig.code()
    );
    assert!(listed(&mut c).await.is_empty());
    let set = [
        ("metrics", 0, Some("org.apache.kafka.producer.")),
        ("interval.ms", 0, Some("100")),
        ("match", 0, Some("client_software_name=apache-kafka-java")),
    ];
    assert_eq!(alter(&mut c, "s", &set).await.0, 0);
    assert_eq!(
        alter(
            &mut c,
            "s",
            &[("metrics", 2, Some("org.apache.kafka.consumer."))]
        )
        .await
        .0,
        0
    );
    let describe =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(CLIENT_METRICS)
            .with_resource_name(s("s"))]);
    let r = c.call(&describe, 4).await;
    let got: Vec<(String, String, i8)> = r.results[0]
        .configs
        .iter()
        .map(|e| {
            (
                e.name.to_string(),
                e.value.as_deref().unwrap_or("").to_string(),
                e.config_source,
            )
        })
        .collect();
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(
        got,
        [
            ("interval.ms".into(), "100".into(), 7),
            (
                "match".into(),
                "client_software_name=apache-kafka-java".into(),
                7
            ),
            (
                "metrics".into(),
                "org.apache.kafka.producer.,org.apache.kafka.consumer.".into(),
                7
            ),
        ]
    );
    b.shutdown().await;
    // After a restart the subscription is still there; deleting its configs removes it.
    let b = gregor::server::start(telemetry_config(dir.path()))
        .await
        .unwrap();
    let mut c = Client::connect(&b).await;
    assert_eq!(listed(&mut c).await, ["s"]);
    let delete = [
        ("metrics", 1, None),
        ("interval.ms", 1, None),
        ("match", 1, None),
    ];
    assert_eq!(alter(&mut c, "s", &delete).await.0, 0);
    assert!(listed(&mut c).await.is_empty());
    b.shutdown().await;
}

#[tokio::test]
async fn a_client_subscribes_pushes_and_its_metrics_are_scraped() {
    let dir = tempfile::tempdir().unwrap();
    let b = gregor::server::start(telemetry_config(dir.path()))
        .await
        .unwrap();
    let http_addr = b.http_addr.expect("http is served");
    let mut c = Client::connect(&b).await;
    assert!(api_keys(&mut c).await.contains(&71));
    let set = [("metrics", 0, Some("*")), ("interval.ms", 0, Some("100"))];
    assert_eq!(alter(&mut c, "all", &set).await.0, 0);

    let get = GetTelemetrySubscriptionsRequest::default();
    let sub = c.call(&get, 0).await;
    assert_eq!(sub.error_code, 0);
    assert!(!sub.client_instance_id.is_nil());
    assert_eq!(sub.requested_metrics, [s("*")]);
    assert_eq!(sub.push_interval_ms, 100);
    assert_eq!(sub.accepted_compression_types, [4, 3, 1, 2]);
    assert!(sub.delta_temporality);
    assert_eq!(sub.telemetry_max_bytes, 1024 * 1024);
    // Asking again at once is throttled.
    let again =
        GetTelemetrySubscriptionsRequest::default().with_client_instance_id(sub.client_instance_id);
    assert_eq!(
        c.call(&again, 0).await.error_code,
        E::ThrottlingQuotaExceeded.code()
    );

    let push = |value: f64| {
        PushTelemetryRequest::default()
            .with_client_instance_id(sub.client_instance_id)
            .with_subscription_id(sub.subscription_id)
            .with_compression_type(1)
            .with_metrics(payload(value).into())
    };
    assert_eq!(c.call(&push(2.0), 0).await.error_code, 0);
    // Too early, then a stale subscription id, an unknown codec, a payload that is not OTLP.
    assert_eq!(
        c.call(&push(1.0), 0).await.error_code,
        E::ThrottlingQuotaExceeded.code()
    );
    let pause = || tokio::time::sleep(Duration::from_millis(150));
    pause().await;
    let stale = push(1.0).with_subscription_id(sub.subscription_id.wrapping_add(1));
    assert_eq!(
        c.call(&stale, 0).await.error_code,
        E::UnknownSubscriptionId.code()
    );
    pause().await;
    assert_eq!(
        c.call(&push(1.0).with_compression_type(7), 0)
            .await
            .error_code,
        E::UnsupportedCompressionType.code()
    );
    pause().await;
    let garbage = push(1.0)
        .with_compression_type(0)
        .with_metrics(vec![0xff; 8].into());
    assert_eq!(
        c.call(&garbage, 0).await.error_code,
        E::InvalidRecord.code()
    );
    pause().await;
    assert_eq!(c.call(&push(3.0), 0).await.error_code, 0);

    let (_, _, body) = http(http_addr, "GET /metrics HTTP/1.1").await;
    let key = format!(
        "org_apache_kafka_producer_record_send_total{{client_instance_id=\"{}\",client_id=\"gregor-tests\",client_software_name=\"gregor-tests\",client_software_version=\"1.0\"}}",
        gregor::telemetry::kafka_uuid(sub.client_instance_id)
    );
    // The delta points add up: 2 + 3.
    let line = body
        .lines()
        .find(|l| l.starts_with(&key))
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(line.rsplit(' ').next(), Some("5"));
    assert!(body.contains("# TYPE org_apache_kafka_producer_record_send_total counter"));

    // A terminating push is taken early; anything after it is INVALID_REQUEST.
    let last = push(1.0).with_terminating(true);
    assert_eq!(c.call(&last, 0).await.error_code, 0);
    pause().await;
    assert_eq!(
        c.call(&push(1.0), 0).await.error_code,
        E::InvalidRequest.code()
    );
    let zero = PushTelemetryRequest::default();
    assert_eq!(c.call(&zero, 0).await.error_code, E::InvalidRequest.code());
    b.shutdown().await;
}
