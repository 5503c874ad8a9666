//! REST Proxy v2 topic metadata: `GET /topics` (the topic names) and `GET /topics/{topic}`
//! (`{"name", "configs": {name: value}, "partitions": [{"partition", "leader", "replicas":
//! [{"broker", "leader", "in_sync"}]}]}`), from Metadata and DescribeConfigs.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{DescribeConfigsRequest, MetadataRequest};
use kafka_protocol::protocol::StrBytes;
use serde_json::{json, Map, Value};

use super::auth::Caller;
use super::error::HttpResult;
use super::produce_v2::V2_JSON;
use super::Peer;

fn respond(result: HttpResult<Value>) -> Response {
    match result {
        Ok(v) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, V2_JSON)],
            axum::Json(v),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn list(Caller(gw): Caller, Extension(peer): Extension<Peer>) -> Response {
    let result = async {
        let request = MetadataRequest::default().with_topics(None);
        let metadata = gw.call(Some(peer.0), 12, &request).await?;
        let mut names: Vec<String> = metadata
            .topics
            .iter()
            .filter(|t| t.error_code == 0)
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .collect();
        names.sort();
        Ok(json!(names))
    }
    .await;
    respond(result)
}

pub async fn describe(
    Caller(gw): Caller,
    Extension(peer): Extension<Peer>,
    Path(topic): Path<String>,
) -> Response {
    let result = async {
        let metadata = gw.topic_metadata(Some(peer.0), &topic).await?;
        let t = &metadata.topics[0];
        let partitions: Vec<Value> = t
            .partitions
            .iter()
            .map(|p| {
                let replicas: Vec<Value> = p
                    .replica_nodes
                    .iter()
                    .map(|b| {
                        json!({"broker": b.0, "leader": *b == p.leader_id, "in_sync": p.isr_nodes.contains(b)})
                    })
                    .collect();
                json!({"partition": p.partition_index, "leader": p.leader_id.0, "replicas": replicas})
            })
            .collect();
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_string(topic.clone()))
                .with_configuration_keys(None),
        ]);
        let described = gw.call(Some(peer.0), 4, &request).await?;
        let mut configs = Map::new();
        for c in described.results.iter().flat_map(|r| &r.configs) {
            let value = if c.is_sensitive { None } else { c.value.as_deref() };
            configs.insert(c.name.to_string(), json!(value));
        }
        Ok(json!({"name": topic, "configs": configs, "partitions": partitions}))
    }
    .await;
    respond(result)
}
