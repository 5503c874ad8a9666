//! `GET .../records`: one Fetch from the instance's positions, its batches decoded, and the
//! records as REST Proxy v2 gives them — `{topic, key, value, partition, offset}`, keys and
//! values base64 (binary) or the JSON they hold (json) — up to `max_bytes` of keys and values.

use base64::Engine;
use bytes::Bytes;
use kafka_protocol::records::Record;
use kafka_protocol::ResponseError;
use serde_json::{json, Value};

use super::positions::{ends, EARLIEST, LATEST};
use super::{Instance, State, Tp};
use crate::http::client;
use crate::http::content_type::Embedded;
use crate::http::error::{HttpError, HttpResult};
use crate::http::Gateway;
use axum::http::StatusCode;

/// Records from `state`'s positions, waiting up to `wait_ms` for some, at most `max_bytes`
/// of keys and values (at least one record); the positions move past what is returned.
pub async fn records(
    gw: &Gateway,
    instance: &Instance,
    state: &mut State,
    wait_ms: i32,
    max_bytes: i32,
) -> HttpResult<Vec<Value>> {
    let reading: Vec<(Tp, i64)> = state
        .partitions()
        .into_iter()
        .filter_map(|tp| state.positions.get(&tp).map(|o| (tp, *o)))
        .collect();
    if reading.is_empty() {
        // Nothing assigned yet (a group still assigning): an empty answer, after the wait.
        tokio::time::sleep(std::time::Duration::from_millis(wait_ms.max(0) as u64)).await;
        return Ok(Vec::new());
    }
    let from = reading.iter().map(|(tp, o)| (tp, *o));
    let response = client::fetch(gw, from, wait_ms, max_bytes, max_bytes).await?;
    if response.error_code != 0 {
        return Err(HttpError::kafka(response.error_code, None));
    }
    let mut out = Vec::new();
    let mut budget = i64::from(max_bytes.max(1));
    let mut out_of_range: Vec<Tp> = Vec::new();
    let mut moved: Vec<(Tp, i64)> = Vec::new();
    for t in response.responses {
        let topic = t.topic.0.to_string();
        for p in t.partitions {
            let tp = (topic.clone(), p.partition_index);
            if p.error_code == ResponseError::OffsetOutOfRange.code() {
                out_of_range.push(tp);
                continue;
            }
            if p.error_code != 0 {
                return Err(HttpError::kafka(p.error_code, None));
            }
            let Some(position) = state.positions.get(&tp).copied() else {
                continue;
            };
            let mut next = position;
            for record in decode(p.records.unwrap_or_default())? {
                if record.offset < next {
                    continue; // the batch began before the position
                }
                if record.control {
                    next = record.offset + 1;
                    continue;
                }
                let size = record.key.as_ref().map_or(0, Bytes::len)
                    + record.value.as_ref().map_or(0, Bytes::len);
                if !out.is_empty() && budget - (size as i64) < 0 {
                    break;
                }
                budget -= size as i64;
                out.push(as_json(
                    &topic,
                    p.partition_index,
                    &record,
                    instance.settings.format,
                )?);
                next = record.offset + 1;
            }
            moved.push((tp, next));
        }
    }
    // Only now: a failure above leaves every position where it was.
    state.positions.extend(moved);
    if !out_of_range.is_empty() {
        // As the consumer's auto.offset.reset: read on from the log's start or end.
        let at = if instance.settings.earliest {
            EARLIEST
        } else {
            LATEST
        };
        state.positions.extend(ends(gw, &out_of_range, at).await?);
    }
    Ok(out)
}

fn decode(bytes: Bytes) -> HttpResult<Vec<Record>> {
    match client::decode_batches(bytes) {
        (records, None) => Ok(records),
        (_, Some(e)) => Err(HttpError::internal(format!(
            "undecodable record batch: {e}"
        ))),
    }
}

fn as_json(topic: &str, partition: i32, r: &Record, format: Embedded) -> HttpResult<Value> {
    let embed = |b: &Option<Bytes>| -> HttpResult<Value> {
        let Some(b) = b else {
            return Ok(Value::Null);
        };
        match format {
            Embedded::Binary => Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(b),
            )),
            Embedded::Json => serde_json::from_slice(b).map_err(|e| {
                HttpError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    42203,
                    format!(
                        "Record at {topic}-{partition}@{} is not JSON: {e}",
                        r.offset
                    ),
                )
            }),
        }
    };
    Ok(json!({
        "topic": topic,
        "key": embed(&r.key)?,
        "value": embed(&r.value)?,
        "partition": partition,
        "offset": r.offset,
    }))
}
