//! The v2 consumer routes under `/consumers/{group}`, as REST Proxy answers them.

use std::collections::HashMap;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::membership::{self, Member};
use super::positions::{self, EARLIEST, LATEST};
use super::{fetch, illegal_state, invalid_config, Settings, Tp};
use crate::http::auth::Caller;
use crate::http::content_type::Embedded;
use crate::http::error::body_bytes;
use crate::http::error::{HttpError, HttpResult};
use crate::http::produce_v2::V2_JSON;
use crate::http::Gw;

/// How long `GET .../records` waits for records at most (REST Proxy's
/// `consumer.request.timeout.ms` default), whatever its `timeout` asks.
const MAX_WAIT_MS: i32 = 1_000;
/// `max_bytes` when the request gives none.
const DEFAULT_MAX_BYTES: i32 = 16 << 20;

fn answer(result: HttpResult<Option<Value>>) -> Response {
    match result {
        Ok(Some(body)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, V2_JSON)],
            axum::Json(body),
        )
            .into_response(),
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// The body as `T`; an empty body is `T::default()` where the route allows one.
fn parse<T: DeserializeOwned + Default>(
    body: Result<Bytes, BytesRejection>,
    empty_ok: bool,
) -> HttpResult<T> {
    let body = body_bytes(body)?;
    if body.iter().all(u8::is_ascii_whitespace) && empty_ok {
        return Ok(T::default());
    }
    serde_json::from_slice(&body).map_err(|e| HttpError::json(&e))
}

#[derive(Deserialize, Default)]
struct CreateBody {
    name: Option<String>,
    format: Option<String>,
    #[serde(rename = "auto.offset.reset")]
    auto_offset_reset: Option<String>,
    #[serde(rename = "auto.commit.enable")]
    auto_commit_enable: Option<String>,
}

/// `POST /consumers/{group}`: a new instance, `{instance_id, base_uri}`.
pub async fn create(
    Caller(gw): Caller,
    Path(group): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(create_instance(&gw, &group, &headers, body))
}

fn create_instance(
    gw: &Gw,
    group: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HttpResult<Option<Value>> {
    let body: CreateBody = parse(body, true)?;
    let format = match body.format.as_deref().unwrap_or("binary") {
        "binary" => Embedded::Binary,
        "json" => Embedded::Json,
        other => return Err(invalid_config(format!("format {other:?} (binary or json)"))),
    };
    let earliest = match body.auto_offset_reset.as_deref().unwrap_or("latest") {
        "earliest" | "smallest" => true,
        "latest" | "largest" => false,
        other => return Err(invalid_config(format!("auto.offset.reset {other:?}"))),
    };
    let auto_commit = match body.auto_commit_enable.as_deref().unwrap_or("true") {
        "true" => true,
        "false" => false,
        other => return Err(invalid_config(format!("auto.commit.enable {other:?}"))),
    };
    let name = body
        .name
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("rest-consumer-{}", uuid::Uuid::new_v4()));
    if group.is_empty() || name.contains('/') {
        return Err(invalid_config("a group and an instance name without '/'"));
    }
    let settings = Settings {
        format,
        earliest,
        auto_commit,
    };
    gw.consumers
        .create(group, &name, gw.session.clone(), settings)?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    Ok(Some(json!({
        "instance_id": name,
        "base_uri": format!("http://{host}/consumers/{group}/instances/{name}"),
    })))
}

/// `DELETE /consumers/{group}/instances/{name}`.
pub async fn delete(Caller(gw): Caller, Path((group, name)): Path<(String, String)>) -> Response {
    let result = match gw.consumers.remove(&group, &name, &gw.session) {
        Ok(instance) => {
            membership::close(&gw, &instance).await;
            Ok(None)
        }
        Err(e) => Err(e),
    };
    answer(result)
}

#[derive(Deserialize, Default)]
struct SubscribeBody {
    #[serde(default)]
    topics: Vec<String>,
    topic_pattern: Option<String>,
}

/// `POST .../subscription`: join the group for `topics` (replacing an assignment).
pub async fn subscribe(
    Caller(gw): Caller,
    Path((group, name)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(subscribe_to(&gw, &group, &name, body).await)
}

async fn subscribe_to(
    gw: &Gw,
    group: &str,
    name: &str,
    body: Result<Bytes, BytesRejection>,
) -> HttpResult<Option<Value>> {
    let instance = gw.consumers.get(group, name, &gw.session)?;
    let body: SubscribeBody = parse(body, false)?;
    let pattern = body.topic_pattern.filter(|p| !p.is_empty());
    if pattern.is_some() && !body.topics.is_empty() {
        return Err(illegal_state(
            "Subscription to topics, partitions and pattern are mutually exclusive",
        ));
    }
    if pattern.is_none() && (body.topics.is_empty() || body.topics.iter().any(String::is_empty)) {
        return Err(invalid_config(
            "a subscription names one or more topics, or a topic_pattern",
        ));
    }
    let mut state = instance.state.lock().await;
    let spawn = state.member.is_none();
    state.assigned.clear();
    state.subscription = body.topics;
    state.pattern = pattern;
    // Other topics: their ids are read again at the next heartbeat.
    state
        .member
        .get_or_insert_with(Member::new)
        .forget_topic_ids();
    // The first heartbeat joins here, so a refused join is this answer.
    if let Err(e) = membership::heartbeat(gw, &instance, &mut state).await {
        state.member = None;
        state.subscription.clear();
        state.pattern = None;
        return Err(e);
    }
    drop(state);
    if spawn {
        membership::spawn_heartbeats(gw.clone(), instance);
    }
    Ok(None)
}

/// `GET .../subscription`: `{topics}`; for a `topic_pattern`, the matched topics it reads
/// (what Kafka's consumer reports as its subscription).
pub async fn subscription(
    Caller(gw): Caller,
    Path((group, name)): Path<(String, String)>,
) -> Response {
    let result = match gw.consumers.get(&group, &name, &gw.session) {
        Ok(instance) => {
            let state = instance.state.lock().await;
            let topics = match state.pattern {
                Some(_) => {
                    let mut names: Vec<String> =
                        state.partitions().into_iter().map(|(t, _)| t).collect();
                    names.dedup();
                    names
                }
                None => state.subscription.clone(),
            };
            Ok(Some(json!({ "topics": topics })))
        }
        Err(e) => Err(e),
    };
    answer(result)
}

/// `DELETE .../subscription`: leave the group.
pub async fn unsubscribe(
    Caller(gw): Caller,
    Path((group, name)): Path<(String, String)>,
) -> Response {
    let result = match gw.consumers.get(&group, &name, &gw.session) {
        Ok(instance) => {
            let mut state = instance.state.lock().await;
            membership::leave(&gw, &instance, &mut state).await;
            state.subscription.clear();
            state.pattern = None;
            Ok(None)
        }
        Err(e) => Err(e),
    };
    answer(result)
}

#[derive(Deserialize)]
struct PartitionRef {
    topic: String,
    partition: i32,
}

#[derive(Deserialize, Default)]
struct PartitionsBody {
    #[serde(default)]
    partitions: Vec<PartitionRef>,
}

fn tps(body: PartitionsBody) -> Vec<Tp> {
    body.partitions
        .into_iter()
        .map(|p| (p.topic, p.partition))
        .collect()
}

fn partition_list(parts: &[Tp]) -> Value {
    json!({"partitions": parts.iter().map(|(t, p)| json!({"topic": t, "partition": p})).collect::<Vec<_>>()})
}

/// `POST .../assignments`: read exactly these partitions (no group membership).
pub async fn assign(
    Caller(gw): Caller,
    Path((group, name)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let instance = gw.consumers.get(&group, &name, &gw.session)?;
        let parts = tps(parse(body, false)?);
        let mut state = instance.state.lock().await;
        if state.member.is_some() {
            return Err(illegal_state(
                "Subscription to topics, partitions and pattern are mutually exclusive",
            ));
        }
        state.positions.retain(|tp, _| parts.contains(tp));
        state.assigned = parts;
        Ok(None)
    };
    answer(result.await)
}

/// `GET .../assignments`: `{partitions}` read now.
pub async fn assignments(
    Caller(gw): Caller,
    Path((group, name)): Path<(String, String)>,
) -> Response {
    let result = match gw.consumers.get(&group, &name, &gw.session) {
        Ok(instance) => Ok(Some(partition_list(
            &instance.state.lock().await.partitions(),
        ))),
        Err(e) => Err(e),
    };
    answer(result)
}

#[derive(Deserialize)]
struct OffsetRef {
    topic: String,
    partition: i32,
    offset: i64,
}

#[derive(Deserialize, Default)]
struct OffsetsBody {
    #[serde(default)]
    offsets: Vec<OffsetRef>,
}

/// `POST .../positions`: read next from these offsets.
pub async fn seek(
    Caller(gw): Caller,
    Path((group, name)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let instance = gw.consumers.get(&group, &name, &gw.session)?;
        let body: OffsetsBody = parse(body, false)?;
        let mut state = instance.state.lock().await;
        let parts = state.partitions();
        for o in &body.offsets {
            let tp = (o.topic.clone(), o.partition);
            if !parts.contains(&tp) || o.offset < 0 {
                return Err(illegal_state(&format!(
                    "No current assignment for partition {}-{} (or a negative offset)",
                    o.topic, o.partition
                )));
            }
        }
        for o in body.offsets {
            state.positions.insert((o.topic, o.partition), o.offset);
        }
        Ok(None)
    };
    answer(result.await)
}

/// `POST .../positions/beginning` and `.../positions/end`.
async fn seek_to(
    gw: &Gw,
    group: &str,
    name: &str,
    body: Result<Bytes, BytesRejection>,
    at: i64,
) -> HttpResult<Option<Value>> {
    let instance = gw.consumers.get(group, name, &gw.session)?;
    let wanted = tps(parse(body, false)?);
    let mut state = instance.state.lock().await;
    let parts = state.partitions();
    if let Some((t, p)) = wanted.iter().find(|tp| !parts.contains(tp)) {
        return Err(illegal_state(&format!(
            "No current assignment for partition {t}-{p}"
        )));
    }
    let found = positions::ends(gw, &wanted, at).await?;
    state.positions.extend(found);
    Ok(None)
}

pub async fn seek_beginning(
    Caller(gw): Caller,
    Path((group, name)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(seek_to(&gw, &group, &name, body, EARLIEST).await)
}

pub async fn seek_end(
    Caller(gw): Caller,
    Path((group, name)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(seek_to(&gw, &group, &name, body, LATEST).await)
}

/// `POST .../offsets`: commit these offsets, or (no body) every position read now.
pub async fn commit(
    Caller(gw): Caller,
    Path((group, name)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let instance = gw.consumers.get(&group, &name, &gw.session)?;
        let body: OffsetsBody = parse(body, true)?;
        let mut state = instance.state.lock().await;
        state.auto_committed.clear();
        let offsets: Vec<(Tp, i64)> = if body.offsets.is_empty() {
            state.consumed()
        } else {
            body.offsets
                .into_iter()
                .map(|o| ((o.topic, o.partition), o.offset))
                .collect()
        };
        if offsets.iter().any(|(_, o)| *o < 0) {
            return Err(invalid_config("a negative offset"));
        }
        positions::commit(&gw, &instance, &state, &offsets).await
    };
    match result.await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET .../offsets`: the group's committed offsets of the partitions named in the body.
pub async fn committed(
    Caller(gw): Caller,
    Path((group, name)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let instance = gw.consumers.get(&group, &name, &gw.session)?;
        let wanted = tps(parse(body, true)?);
        let found = positions::committed(&gw, &instance.group, &wanted).await?;
        let offsets: Vec<Value> = wanted
            .iter()
            .filter_map(|tp| {
                let (offset, metadata) = found.get(tp)?;
                Some(json!({"topic": tp.0, "partition": tp.1, "offset": offset, "metadata": metadata}))
            })
            .collect();
        Ok(Some(json!({"offsets": offsets})))
    };
    answer(result.await)
}

/// `GET .../records?timeout=MS&max_bytes=N`.
pub async fn records(
    Caller(gw): Caller,
    Path((group, name)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let instance = gw.consumers.get(&group, &name, &gw.session)?;
        let format = instance.settings.format;
        check_accept(&headers, format)?;
        let number = |key: &str, default: i32| -> HttpResult<i32> {
            match query.get(key) {
                None => Ok(default),
                Some(v) => v
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .map(|n| n.min(i64::from(i32::MAX)) as i32)
                    .ok_or_else(|| {
                        HttpError::plain(
                            StatusCode::BAD_REQUEST,
                            format!("{key} must be a non-negative integer"),
                        )
                    }),
            }
        };
        let wait = number("timeout", MAX_WAIT_MS)?.min(MAX_WAIT_MS);
        let max_bytes = number("max_bytes", DEFAULT_MAX_BYTES)?.max(1);
        let mut state = instance.state.lock().await;
        if state.subscription.is_empty() && state.pattern.is_none() && state.assigned.is_empty() {
            return Err(illegal_state(
                "Consumer is not subscribed to any topics or assigned any partitions",
            ));
        }
        if instance.settings.auto_commit {
            // As Kafka's consumer: each poll first commits what earlier polls returned.
            let offsets = state.consumed();
            if offsets != state.auto_committed {
                positions::commit(&gw, &instance, &state, &offsets).await?;
                state.auto_committed = offsets;
            }
        }
        positions::resolve(&gw, &instance, &mut state).await?;
        let records = fetch::records(&gw, &instance, &mut state, wait, max_bytes).await?;
        Ok((format, records))
    };
    match result.await {
        Ok((format, records)) => {
            let content_type = match format {
                Embedded::Json => "application/vnd.kafka.json.v2+json",
                Embedded::Binary => "application/vnd.kafka.binary.v2+json",
            };
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, content_type)],
                axum::Json(records),
            )
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// 406 40601 when `Accept` asks for the other embedded format than the instance reads.
fn check_accept(headers: &HeaderMap, format: Embedded) -> HttpResult<()> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let wants_json = accept.contains("vnd.kafka.json.");
    let wants_binary = accept.contains("vnd.kafka.binary.");
    let mismatch = match format {
        Embedded::Json => wants_binary && !wants_json,
        Embedded::Binary => wants_json && !wants_binary,
    };
    if mismatch {
        return Err(HttpError::new(
            StatusCode::NOT_ACCEPTABLE,
            40601,
            "The requested embedded data format does not match the deserializer for this consumer instance",
        ));
    }
    Ok(())
}
