//! Reading a PushTelemetry payload: OTLP `MetricsData` protobuf (opentelemetry-proto's types,
//! decoded with prost) into the points gregor shows on /metrics. Gauges and sums are kept;
//! histograms and summaries (which Kafka's clients do not push) are skipped.

use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
use opentelemetry_proto::tonic::metrics::v1::{MetricsData, NumberDataPoint};
use prost::Message;

/// OTLP's AggregationTemporality.DELTA.
const DELTA: i32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointKind {
    Gauge,
    /// A monotonic sum: `delta` when each point is the change since the previous push
    /// (KIP-714's deltaTemporality), else the total since the start.
    Counter {
        delta: bool,
    },
}

/// One data point of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub name: String,
    pub kind: PointKind,
    /// The point's attributes, in the order pushed.
    pub attributes: Vec<(String, String)>,
    pub value: f64,
}

/// The points of a decoded payload, or why it is not OTLP metrics.
pub fn decode(payload: &[u8]) -> Result<Vec<Point>, prost::DecodeError> {
    let data = MetricsData::decode(payload)?;
    let mut points = Vec::new();
    for metric in data
        .resource_metrics
        .into_iter()
        .flat_map(|r| r.scope_metrics)
        .flat_map(|s| s.metrics)
    {
        let (kind, data_points) = match metric.data {
            Some(Data::Gauge(g)) => (PointKind::Gauge, g.data_points),
            Some(Data::Sum(s)) if s.is_monotonic => (
                PointKind::Counter {
                    delta: s.aggregation_temporality == DELTA,
                },
                s.data_points,
            ),
            // A sum that may fall is shown as what it is now.
            Some(Data::Sum(s)) => (PointKind::Gauge, s.data_points),
            _ => continue,
        };
        for p in data_points {
            let Some(value) = number(&p) else { continue };
            points.push(Point {
                name: metric.name.clone(),
                kind,
                attributes: p.attributes.iter().map(attribute).collect(),
                value,
            });
        }
    }
    Ok(points)
}

fn number(p: &NumberDataPoint) -> Option<f64> {
    match p.value.as_ref()? {
        Value::AsDouble(v) => Some(*v),
        Value::AsInt(v) => Some(*v as f64),
    }
}

fn attribute(kv: &KeyValue) -> (String, String) {
    let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        _ => String::new(),
    };
    (kv.key.clone(), value)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::AnyValue as Any;
    use opentelemetry_proto::tonic::metrics::v1::{
        metric, Gauge, Metric, ResourceMetrics, ScopeMetrics, Sum,
    };

    fn point(value: Value, attrs: &[(&str, &str)]) -> NumberDataPoint {
        NumberDataPoint {
            attributes: attrs
                .iter()
                .map(|(k, v)| KeyValue {
                    key: k.to_string(),
                    value: Some(Any {
                        value: Some(AnyValue::StringValue(v.to_string())),
                    }),
                    ..Default::default()
                })
                .collect(),
            value: Some(value),
            ..Default::default()
        }
    }

    /// A payload as a Java client pushes it: a delta counter and a gauge.
    pub(crate) fn payload(counter: f64, gauge: f64) -> Vec<u8> {
        let metrics = vec![
            Metric {
                name: "org.apache.kafka.producer.record.send.total".into(),
                data: Some(metric::Data::Sum(Sum {
                    data_points: vec![point(Value::AsDouble(counter), &[("topic", "t")])],
                    aggregation_temporality: DELTA,
                    is_monotonic: true,
                })),
                ..Default::default()
            },
            Metric {
                name: "org.apache.kafka.producer.buffer.available.bytes".into(),
                data: Some(metric::Data::Gauge(Gauge {
                    data_points: vec![point(Value::AsInt(gauge as i64), &[])],
                })),
                ..Default::default()
            },
        ];
        MetricsData {
            resource_metrics: vec![ResourceMetrics {
                scope_metrics: vec![ScopeMetrics {
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec()
    }

    #[test]
    fn gauges_and_sums_are_read_with_their_attributes() {
        let points = decode(&payload(3.0, 7.0)).unwrap();
        assert_eq!(
            points,
            vec![
                Point {
                    name: "org.apache.kafka.producer.record.send.total".into(),
                    kind: PointKind::Counter { delta: true },
                    attributes: vec![("topic".into(), "t".into())],
                    value: 3.0,
                },
                Point {
                    name: "org.apache.kafka.producer.buffer.available.bytes".into(),
                    kind: PointKind::Gauge,
                    attributes: vec![],
                    value: 7.0,
                },
            ]
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(&[0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        assert!(decode(&[]).unwrap().is_empty());
    }
}
