//! REST Proxy v3 administration: clusters, topics (list, create, describe, delete), their
//! partitions and configs, in Confluent's shapes (`kind`, `metadata.self`, `data` arrays,
//! relationships as `{"related": url}`). Each call is Kafka requests (Metadata, CreateTopics,
//! DeleteTopics, DescribeConfigs) through the broker's handlers.

use axum::extract::rejection::BytesRejection;
use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::body_bytes;
use super::error::{HttpError, HttpResult};
use super::Gw;
use super::Peer;

/// Where a resource is: `http://<Host header>/v3/clusters/<id>`.
pub struct Links {
    pub cluster: String,
    pub cluster_id: String,
}

impl Links {
    pub fn new(headers: &HeaderMap, cluster_id: &str) -> Self {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        Self {
            cluster: format!("http://{host}/v3/clusters/{cluster_id}"),
            cluster_id: cluster_id.to_string(),
        }
    }

    /// `{"related": <cluster url><path>}`.
    pub fn related(&self, path: &str) -> Value {
        json!({"related": format!("{}{path}", self.cluster)})
    }

    /// A resource's `metadata`: its url and Confluent's resource name.
    pub fn metadata(&self, path: &str, crn: &str) -> Value {
        json!({
            "self": format!("{}{path}", self.cluster),
            "resource_name": format!("crn:///kafka={}{crn}", self.cluster_id),
        })
    }

    /// A collection: `{"kind", "metadata": {"self", "next": null}, "data"}`.
    pub fn list(&self, kind: &str, path: &str, data: Vec<Value>) -> Value {
        json!({
            "kind": kind,
            "metadata": {"self": format!("{}{path}", self.cluster), "next": null},
            "data": data,
        })
    }
}

/// The links of `cluster_id`, or 404 when it is not this cluster's id.
pub fn cluster_links(gw: &Gw, headers: &HeaderMap, cluster_id: &str) -> HttpResult<Links> {
    if gw.services.cluster.cluster_id() != cluster_id {
        return Err(HttpError::plain(
            StatusCode::NOT_FOUND,
            format!("Cluster {cluster_id} cannot be found."),
        ));
    }
    Ok(Links::new(headers, cluster_id))
}

pub fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn answer(result: HttpResult<Value>) -> Response {
    match result {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => e.into_response(),
    }
}

fn cluster_data(gw: &Gw, links: &Links) -> Value {
    let controller = gw.services.cluster.controller();
    json!({
        "kind": "KafkaCluster",
        "metadata": links.metadata("", ""),
        "cluster_id": links.cluster_id,
        "controller": links.related(&format!("/brokers/{controller}")),
        "acls": links.related("/acls"),
        "brokers": links.related("/brokers"),
        "broker_configs": links.related("/broker-configs"),
        "consumer_groups": links.related("/consumer-groups"),
        "topics": links.related("/topics"),
        "partition_reassignments": links.related("/topics/-/partitions/-/reassignment"),
    })
}

pub async fn clusters(Caller(gw): Caller, headers: HeaderMap) -> Response {
    let links = Links::new(&headers, gw.services.cluster.cluster_id());
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    json_response(
        StatusCode::OK,
        json!({
            "kind": "KafkaClusterList",
            "metadata": {"self": format!("http://{host}/v3/clusters"), "next": null},
            "data": [cluster_data(&gw, &links)],
        }),
    )
}

pub async fn cluster(
    Caller(gw): Caller,
    headers: HeaderMap,
    Path(cluster_id): Path<String>,
) -> Response {
    answer(cluster_links(&gw, &headers, &cluster_id).map(|links| cluster_data(&gw, &links)))
}

fn topic_data(links: &Links, t: &MetadataResponseTopic) -> Value {
    let name = t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
    let replication = t.partitions.first().map_or(0, |p| p.replica_nodes.len());
    let path = format!("/topics/{name}");
    json!({
        "kind": "KafkaTopic",
        "metadata": links.metadata(&path, &format!("/topic={name}")),
        "cluster_id": links.cluster_id,
        "topic_name": name,
        "is_internal": t.is_internal,
        "replication_factor": replication,
        "partitions_count": t.partitions.len(),
        "partitions": links.related(&format!("{path}/partitions")),
        "configs": links.related(&format!("{path}/configs")),
        "partition_reassignments": links.related(&format!("{path}/partitions/-/reassignment")),
    })
}

pub async fn topics(
    Caller(gw): Caller,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path(cluster_id): Path<String>,
) -> Response {
    answer(
        async {
            let links = cluster_links(&gw, &headers, &cluster_id)?;
            let request = MetadataRequest::default().with_topics(None);
            let metadata = gw.call(Some(peer.0), 12, &request).await?;
            let mut topics: Vec<_> = metadata
                .topics
                .iter()
                .filter(|t| t.error_code == 0)
                .collect();
            topics.sort_by(|a, b| a.name.cmp(&b.name));
            let data = topics.iter().map(|t| topic_data(&links, t)).collect();
            Ok(links.list("KafkaTopicList", "/topics", data))
        }
        .await,
    )
}

/// The topic's Metadata, with a missing topic answered as v3 does (404 error_code 404).
async fn v3_topic(gw: &Gw, peer: Peer, topic: &str) -> HttpResult<MetadataResponseTopic> {
    match gw.topic_metadata(Some(peer.0), topic).await {
        Ok(mut m) => Ok(m.topics.remove(0)),
        Err(e) if e.code == 40401 => Err(HttpError::plain(
            StatusCode::NOT_FOUND,
            format!("Topic {topic} not found."),
        )),
        Err(e) => Err(e),
    }
}

pub async fn topic(
    Caller(gw): Caller,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path((cluster_id, topic)): Path<(String, String)>,
) -> Response {
    answer(
        async {
            let links = cluster_links(&gw, &headers, &cluster_id)?;
            Ok(topic_data(&links, &v3_topic(&gw, peer, &topic).await?))
        }
        .await,
    )
}

#[derive(Deserialize)]
struct CreateTopic {
    topic_name: String,
    #[serde(default)]
    partitions_count: Option<i32>,
    #[serde(default)]
    replication_factor: Option<i16>,
    #[serde(default)]
    configs: Vec<ConfigEntry>,
    #[serde(default)]
    validate_only: bool,
}

#[derive(Deserialize)]
struct ConfigEntry {
    name: String,
    #[serde(default)]
    value: Option<String>,
}

pub async fn create_topic(
    Caller(gw): Caller,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path(cluster_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let links = cluster_links(&gw, &headers, &cluster_id)?;
        let body = body_bytes(body)?;
        let req: CreateTopic = serde_json::from_slice(&body).map_err(|e| HttpError::json(&e))?;
        let configs = req
            .configs
            .into_iter()
            .map(|c| {
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_string(c.name))
                    .with_value(c.value.map(StrBytes::from_string))
            })
            .collect();
        let topic = CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(req.topic_name.clone())))
            .with_num_partitions(req.partitions_count.unwrap_or(-1))
            .with_replication_factor(req.replication_factor.unwrap_or(-1))
            .with_configs(configs);
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(30_000)
            .with_validate_only(req.validate_only);
        let response = gw.call(Some(peer.0), 7, &request).await?;
        let Some(result) = response.topics.first() else {
            return Err(HttpError::internal("CreateTopics answered no topic"));
        };
        if result.error_code != 0 {
            let message = result.error_message.as_ref().map(|m| m.to_string());
            return Err(HttpError::kafka(result.error_code, message.as_deref()));
        }
        let name = &req.topic_name;
        let path = format!("/topics/{name}");
        let data = json!({
            "kind": "KafkaTopic",
            "metadata": links.metadata(&path, &format!("/topic={name}")),
            "cluster_id": links.cluster_id,
            "topic_name": name,
            "is_internal": false,
            "replication_factor": result.replication_factor,
            "partitions_count": result.num_partitions,
            "partitions": links.related(&format!("{path}/partitions")),
            "configs": links.related(&format!("{path}/configs")),
            "partition_reassignments": links.related(&format!("{path}/partitions/-/reassignment")),
        });
        let status = if req.validate_only {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        let location = format!("{}{path}", links.cluster);
        Ok((status, location, data))
    }
    .await;
    match result {
        Ok((status, location, data)) => {
            (status, [(header::LOCATION, location)], axum::Json(data)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

pub async fn delete_topic(
    Caller(gw): Caller,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path((cluster_id, topic)): Path<(String, String)>,
) -> Response {
    let result = async {
        cluster_links(&gw, &headers, &cluster_id)?;
        let request = DeleteTopicsRequest::default()
            .with_topics(vec![DeleteTopicState::default()
                .with_name(Some(TopicName(StrBytes::from_string(topic.clone()))))])
            .with_timeout_ms(30_000);
        let response = gw.call(Some(peer.0), 6, &request).await?;
        match response.responses.first() {
            Some(r) if r.error_code != 0 => {
                let message = r.error_message.as_ref().map(|m| m.to_string());
                Err(HttpError::kafka(r.error_code, message.as_deref()))
            }
            _ => Ok(()),
        }
    }
    .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn partitions(
    Caller(gw): Caller,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path((cluster_id, topic)): Path<(String, String)>,
) -> Response {
    answer(
        async {
            let links = cluster_links(&gw, &headers, &cluster_id)?;
            let t = v3_topic(&gw, peer, &topic).await?;
            let data = t
                .partitions
                .iter()
                .map(|p| {
                    let path = format!("/topics/{topic}/partitions/{}", p.partition_index);
                    json!({
                        "kind": "KafkaPartition",
                        "metadata": links.metadata(&path, &format!("/topic={topic}/partition={}", p.partition_index)),
                        "cluster_id": links.cluster_id,
                        "topic_name": topic,
                        "partition_id": p.partition_index,
                        "leader": links.related(&format!("{path}/replicas/{}", p.leader_id.0)),
                        "replicas": links.related(&format!("{path}/replicas")),
                        "reassignment": links.related(&format!("{path}/reassignment")),
                    })
                })
                .collect();
            Ok(links.list(
                "KafkaPartitionList",
                &format!("/topics/{topic}/partitions"),
                data,
            ))
        }
        .await,
    )
}

/// Kafka's DescribeConfigs config source as Confluent's ConfigSource names it.
fn config_source(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        _ => "UNKNOWN",
    }
}

pub async fn configs(
    Caller(gw): Caller,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path((cluster_id, topic)): Path<(String, String)>,
) -> Response {
    answer(
        async {
            let links = cluster_links(&gw, &headers, &cluster_id)?;
            v3_topic(&gw, peer, &topic).await?;
            let request = DescribeConfigsRequest::default()
                .with_resources(vec![DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(StrBytes::from_string(topic.clone()))
                    .with_configuration_keys(None)])
                .with_include_synonyms(true);
            let response = gw.call(Some(peer.0), 4, &request).await?;
            let Some(result) = response.results.first() else {
                return Err(HttpError::internal("DescribeConfigs answered no resource"));
            };
            if result.error_code != 0 {
                let message = result.error_message.as_ref().map(|m| m.to_string());
                return Err(HttpError::kafka(result.error_code, message.as_deref()));
            }
            let data = result
                .configs
                .iter()
                .map(|c| {
                    let path = format!("/topics/{topic}/configs/{}", c.name);
                    let synonyms: Vec<Value> = c
                        .synonyms
                        .iter()
                        .map(|s| json!({"name": s.name.as_str(), "value": s.value.as_deref(), "source": config_source(s.source)}))
                        .collect();
                    json!({
                        "kind": "KafkaTopicConfig",
                        "metadata": links.metadata(&path, &format!("/topic={topic}/config={}", c.name)),
                        "cluster_id": links.cluster_id,
                        "topic_name": topic,
                        "name": c.name.as_str(),
                        "value": if c.is_sensitive { None } else { c.value.as_deref() },
                        "is_default": c.config_source == 5,
                        "is_read_only": c.read_only,
                        "is_sensitive": c.is_sensitive,
                        "source": config_source(c.config_source),
                        "synonyms": synonyms,
                    })
                })
                .collect();
            Ok(links.list(
                "KafkaTopicConfigList",
                &format!("/topics/{topic}/configs"),
                data,
            ))
        }
        .await,
    )
}
