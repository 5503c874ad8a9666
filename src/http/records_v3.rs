//! REST Proxy v3 produce: `POST /v3/clusters/{id}/topics/{t}/records` with one record
//! `{"partition_id", "headers": [{"name", "value": base64}], "key": {"type", "data"},
//! "value": {"type", "data"}}`; types BINARY (base64), JSON (stored as its JSON text, the
//! default) and STRING. The answer is the record's delivery report.

use axum::extract::rejection::BytesRejection;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::admin_v3::{cluster_links, json_response};
use super::auth::Caller;
use super::error::body_bytes;
use super::error::{kafka_status, HttpError, HttpResult};
use super::records::OutRecord;
use super::Peer;

#[derive(Deserialize)]
struct ProduceRecord {
    #[serde(default)]
    partition_id: Option<i32>,
    #[serde(default)]
    headers: Vec<Header>,
    #[serde(default)]
    key: Option<Data>,
    #[serde(default)]
    value: Option<Data>,
}

#[derive(Deserialize)]
struct Header {
    name: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    data: Value,
}

fn bad(message: String) -> HttpError {
    HttpError::plain(StatusCode::BAD_REQUEST, message)
}

/// (type, bytes) of a key or value; None: null.
fn serialize(d: Option<Data>) -> HttpResult<Option<(&'static str, Bytes)>> {
    let Some(d) = d else { return Ok(None) };
    let kind = d.kind.as_deref().unwrap_or("JSON").to_ascii_uppercase();
    match kind.as_str() {
        _ if d.data.is_null() => Ok(None),
        "BINARY" => {
            let text = d.data.as_str().ok_or_else(|| bad("BINARY data must be a base64 string".into()))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| bad(format!("BINARY data is not base64: {e}")))?;
            Ok(Some(("BINARY", Bytes::from(bytes))))
        }
        "STRING" => {
            let text = d.data.as_str().ok_or_else(|| bad("STRING data must be a string".into()))?;
            Ok(Some(("STRING", Bytes::copy_from_slice(text.as_bytes()))))
        }
        "JSON" => serde_json::to_vec(&d.data)
            .map(|b| Some(("JSON", Bytes::from(b))))
            .map_err(|e| HttpError::internal(e.to_string())),
        other => Err(bad(format!(
            "type {other} is not supported (BINARY, JSON or STRING; schema formats need a schema registry)"
        ))),
    }
}

pub async fn produce(
    Caller(gw): Caller,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    Path((cluster_id, topic)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let links = cluster_links(&gw, &headers, &cluster_id)?;
        let body = body_bytes(body)?;
        let record: ProduceRecord = serde_json::from_slice(&body).map_err(|e| {
            let e = HttpError::json(&e);
            HttpError::plain(StatusCode::BAD_REQUEST, e.message)
        })?;
        let key = serialize(record.key)?;
        let value = serialize(record.value)?;
        let record_headers = record
            .headers
            .into_iter()
            .map(|h| {
                let value = match h.value {
                    Some(v) => Some(Bytes::from(
                        base64::engine::general_purpose::STANDARD
                            .decode(v)
                            .map_err(|e| {
                                bad(format!("header {:?}: value is not base64: {e}", h.name))
                            })?,
                    )),
                    None => None,
                };
                Ok((h.name, value))
            })
            .collect::<HttpResult<Vec<_>>>()?;
        let out = OutRecord {
            partition: record.partition_id,
            key: key.as_ref().map(|(_, b)| b.clone()),
            value: value.as_ref().map(|(_, b)| b.clone()),
            headers: record_headers,
        };
        let delivered = match gw.produce(Some(peer.0), &topic, vec![out]).await {
            Err(e) if e.code == 40401 || e.code == 40402 => {
                return Err(HttpError::plain(StatusCode::NOT_FOUND, e.message))
            }
            other => other?,
        };
        let Some(d) = delivered.into_iter().next() else {
            return Err(HttpError::internal("no delivery report"));
        };
        let offset = match d.result {
            Ok(offset) => offset,
            Err((code, message)) => {
                let (status, rest_code) = kafka_status(code);
                return Err(HttpError::new(status, rest_code, message));
            }
        };
        let size = |x: &Option<(&str, Bytes)>| {
            x.as_ref()
                .map(|(kind, b)| json!({"type": kind, "size": b.len()}))
        };
        Ok(json!({
            "error_code": 200,
            "cluster_id": links.cluster_id,
            "topic_name": topic,
            "partition_id": d.partition,
            "offset": offset,
            "timestamp": iso8601(d.timestamp),
            "key": size(&key),
            "value": size(&value),
        }))
    }
    .await;
    match result {
        Ok(v) => json_response(StatusCode::OK, v),
        Err(e) => e.into_response(),
    }
}

/// `2024-01-31T12:34:56.789Z` of milliseconds since the epoch (UTC, proleptic Gregorian).
pub fn iso8601(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso8601(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
    }

    #[test]
    fn data_types() {
        let d = |kind: &str, data: Value| {
            serialize(Some(Data {
                kind: Some(kind.into()),
                data,
            }))
        };
        assert_eq!(d("STRING", json!("hi")).unwrap().unwrap().1.as_ref(), b"hi");
        assert_eq!(
            d("binary", json!("aGk=")).unwrap().unwrap().1.as_ref(),
            b"hi"
        );
        assert_eq!(
            d("JSON", json!({"a": 1})).unwrap().unwrap().1.as_ref(),
            b"{\"a\":1}"
        );
        assert!(d("JSON", Value::Null).unwrap().is_none());
        assert_eq!(
            d("AVRO", json!(1)).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(d("BINARY", json!("!!")).unwrap_err().code, 400);
    }
}
