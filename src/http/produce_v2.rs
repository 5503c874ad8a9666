//! REST Proxy v2 produce: `POST /topics/{topic}` and `POST /topics/{topic}/partitions/{p}`
//! with `application/vnd.kafka.json.v2+json` (keys and values any JSON, stored as their JSON
//! text), `application/vnd.kafka.binary.v2+json` (base64) or plain `application/json` (json).
//! The answer is REST Proxy's: `{"offsets": [{partition, offset, error_code, error}],
//! "key_schema_id": null, "value_schema_id": null}`, one entry per record in request order.

use axum::extract::rejection::BytesRejection;
use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::content_type::{v2_embedded, Embedded, Refused};
use super::error::body_bytes;
use super::error::{kafka_status, HttpError, HttpResult};
use super::records::OutRecord;
use super::Gw;
use super::Peer;

/// The content type of v2 answers.
pub const V2_JSON: &str = "application/vnd.kafka.v2+json";

#[derive(Deserialize)]
struct ProduceBody {
    records: Vec<V2Record>,
}

#[derive(Deserialize)]
struct V2Record {
    #[serde(default)]
    key: Option<Value>,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    partition: Option<i32>,
}

pub async fn to_topic(
    Caller(gw): Caller,
    Extension(peer): Extension<Peer>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    respond(produce(&gw, peer, &topic, None, &headers, body).await)
}

pub async fn to_partition(
    Caller(gw): Caller,
    Extension(peer): Extension<Peer>,
    Path((topic, partition)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = match partition.parse::<i32>() {
        Ok(p) => produce(&gw, peer, &topic, Some(p), &headers, body).await,
        Err(_) => Err(HttpError::partition_not_found()),
    };
    respond(result)
}

fn respond(result: HttpResult<(StatusCode, Value)>) -> Response {
    match result {
        Ok((status, body)) => {
            (status, [(header::CONTENT_TYPE, V2_JSON)], axum::Json(body)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn produce(
    gw: &Gw,
    peer: Peer,
    topic: &str,
    partition: Option<i32>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> HttpResult<(StatusCode, Value)> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let embedded = v2_embedded(content_type).map_err(|r| match r {
        Refused::NeedsSchemaRegistry(t) => HttpError::plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("{t} needs a schema registry, which gregor does not have; use the json or binary format"),
        ),
        Refused::Unsupported(t) => HttpError::plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("HTTP 415 Unsupported Media Type: {t:?}; expected application/vnd.kafka.json.v2+json, application/vnd.kafka.binary.v2+json or application/json"),
        ),
    })?;
    let body = body_bytes(body)?;
    let parsed: ProduceBody = serde_json::from_slice(&body).map_err(|e| HttpError::json(&e))?;
    if parsed.records.is_empty() {
        return Err(HttpError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42206,
            "Payload error. records must not be empty",
        ));
    }
    let records = parsed
        .records
        .into_iter()
        .map(|r| {
            Ok(OutRecord {
                partition: r.partition.or(partition),
                key: embed(embedded, r.key, "key")?,
                value: embed(embedded, r.value, "value")?,
                headers: Vec::new(),
            })
        })
        .collect::<HttpResult<Vec<_>>>()?;
    let delivered = gw.produce(Some(peer.0), topic, records).await?;
    let mut status = StatusCode::OK;
    let offsets: Vec<Value> = delivered
        .iter()
        .map(|d| match &d.result {
            Ok(offset) => json!({"partition": d.partition, "offset": offset, "error_code": null, "error": null}),
            Err((code, message)) => {
                let (http, rest_code) = record_error(*code);
                if http != StatusCode::OK {
                    status = http;
                }
                json!({"partition": null, "offset": null, "error_code": rest_code, "error": message})
            }
        })
        .collect();
    Ok((
        status,
        json!({"offsets": offsets, "key_schema_id": null, "value_schema_id": null}),
    ))
}

/// A record's bytes in the embedded format (None: a null key or value).
fn embed(embedded: Embedded, v: Option<Value>, what: &str) -> HttpResult<Option<Bytes>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    match embedded {
        Embedded::Json => serde_json::to_vec(&v)
            .map(|b| Some(Bytes::from(b)))
            .map_err(|e| HttpError::internal(e.to_string())),
        Embedded::Binary => {
            let text = v.as_str().ok_or_else(|| {
                HttpError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    42207,
                    format!("Error serializing message. The binary {what} must be a base64 string"),
                )
            })?;
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map(|b| Some(Bytes::from(b)))
                .map_err(|e| {
                    HttpError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        42207,
                        format!("Error serializing message. The binary {what} is not base64: {e}"),
                    )
                })
        }
    }
}

/// REST Proxy's (status, error code) of one record's failure (AbstractProduceAction
/// .errorCodeFromProducerException): authentication 401/40101 and authorization 403/40301
/// fail the request's status; retriable errors 50003 and others 50002 leave it 200.
fn record_error(code: i16) -> (StatusCode, i32) {
    match kafka_status(code) {
        (s @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN), c) => (s, c),
        (_, 50003) => (StatusCode::OK, 50003),
        _ => (StatusCode::OK, 50002),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_formats() {
        let json = embed(Embedded::Json, Some(json!({"a": 1})), "value").unwrap();
        assert_eq!(json.as_deref(), Some(&b"{\"a\":1}"[..]));
        let text = embed(Embedded::Json, Some(json!("k")), "key").unwrap();
        assert_eq!(text.as_deref(), Some(&b"\"k\""[..]));
        assert_eq!(
            embed(Embedded::Json, Some(Value::Null), "key").unwrap(),
            None
        );
        let bin = embed(Embedded::Binary, Some(json!("aGVsbG8=")), "value").unwrap();
        assert_eq!(bin.as_deref(), Some(&b"hello"[..]));
        let e = embed(Embedded::Binary, Some(json!("not base64!")), "value").unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::UNPROCESSABLE_ENTITY, 42207)
        );
        let e = embed(Embedded::Binary, Some(json!(12)), "value").unwrap_err();
        assert_eq!(e.code, 42207);
    }

    #[test]
    fn record_errors() {
        assert_eq!(record_error(29), (StatusCode::FORBIDDEN, 40301));
        assert_eq!(record_error(6), (StatusCode::OK, 50003));
        assert_eq!(record_error(10), (StatusCode::OK, 50002));
    }
}
