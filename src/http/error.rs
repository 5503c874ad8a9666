//! Error answers as Confluent's REST Proxy gives them: an HTTP status and the body
//! `{"error_code": <status * 100 + n, or the status>, "message": "..."}`.

use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use kafka_protocol::ResponseError;

/// One error answer.
#[derive(Debug)]
pub struct HttpError {
    pub status: StatusCode,
    pub code: i32,
    pub message: String,
}

pub type HttpResult<T> = Result<T, HttpError>;

impl HttpError {
    pub fn new(status: StatusCode, code: i32, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// The error code is the status itself (REST Proxy's generic errors).
    pub fn plain(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, i32::from(status.as_u16()), message)
    }

    /// 40401: the topic does not exist.
    pub fn topic_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 40401, "Topic not found.")
    }

    /// 40402: the topic has no such partition.
    pub fn partition_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 40402, "Partition not found.")
    }

    /// 400: the body is not JSON (REST Proxy's JsonParseExceptionMapper), or 422 42203 when
    /// it is JSON of the wrong shape (JSON_CONVERSION_ERROR_CODE).
    pub fn json(e: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                42203,
                format!("Conversion of JSON to Object failed: {e}"),
            ),
            _ => Self::plain(StatusCode::BAD_REQUEST, format!("Malformed JSON: {e}")),
        }
    }

    /// A Kafka error code answered for a whole request, mapped as REST Proxy's
    /// KafkaExceptionMapper maps the client's exceptions.
    pub fn kafka(code: i16, message: Option<&str>) -> Self {
        let error = ResponseError::try_from_code(code);
        let message = match message.filter(|m| !m.is_empty()) {
            Some(m) => m.to_string(),
            None => error.map_or(format!("Kafka error {code}"), |e| e.to_string()),
        };
        let (status, code) = kafka_status(code);
        Self::new(status, code, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::plain(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

/// REST Proxy's (status, error code) for a Kafka error (rest-utils KafkaExceptionMapper).
pub fn kafka_status(code: i16) -> (StatusCode, i32) {
    use ResponseError as E;
    let Some(error) = ResponseError::try_from_code(code) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, 50002);
    };
    match error {
        E::SaslAuthenticationFailed | E::IllegalSaslState | E::UnsupportedSaslMechanism => {
            (StatusCode::UNAUTHORIZED, 40101)
        }
        E::TopicAuthorizationFailed
        | E::GroupAuthorizationFailed
        | E::ClusterAuthorizationFailed
        | E::TransactionalIdAuthorizationFailed => (StatusCode::FORBIDDEN, 40301),
        E::UnknownTopicOrPartition | E::UnknownTopicId => (StatusCode::NOT_FOUND, 40403),
        E::MessageTooLarge | E::RecordListTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, 413),
        E::ThrottlingQuotaExceeded => (StatusCode::TOO_MANY_REQUESTS, 42901),
        E::InvalidReplicationFactor
        | E::UnsupportedVersion
        | E::InvalidPartitions
        | E::InvalidRequest
        | E::UnknownServerError
        | E::PolicyViolation
        | E::TopicAlreadyExists
        | E::InvalidConfig
        | E::TopicDeletionDisabled
        | E::InvalidTopicException
        | E::InvalidReplicaAssignment
        // The records themselves were refused (a keyless record on a compacted topic, a
        // timestamp out of bounds): the client's to change, not a server error.
        | E::InvalidRecord
        | E::InvalidTimestamp => (StatusCode::BAD_REQUEST, 40002),
        E::BrokerNotAvailable => (StatusCode::SERVICE_UNAVAILABLE, 50302),
        e if e.is_retriable() => (StatusCode::INTERNAL_SERVER_ERROR, 50003),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, 50002),
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error_code": self.code, "message": self.message});
        (self.status, axum::Json(body)).into_response()
    }
}

/// The request body, or the JSON error for one too large (413) or cut short.
pub fn body_bytes(body: Result<Bytes, BytesRejection>) -> HttpResult<Bytes> {
    body.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "Request body is larger than the limit (max_message_bytes)".to_string()
        } else {
            rejection.body_text()
        };
        HttpError::plain(status, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_errors_map_as_rest_proxy() {
        assert_eq!(kafka_status(29), (StatusCode::FORBIDDEN, 40301));
        assert_eq!(kafka_status(36), (StatusCode::BAD_REQUEST, 40002));
        // INVALID_RECORD (a keyless record on a compacted topic), INVALID_TIMESTAMP.
        assert_eq!(kafka_status(87), (StatusCode::BAD_REQUEST, 40002));
        assert_eq!(kafka_status(32), (StatusCode::BAD_REQUEST, 40002));
        assert_eq!(kafka_status(3), (StatusCode::NOT_FOUND, 40403));
        assert_eq!(kafka_status(10), (StatusCode::PAYLOAD_TOO_LARGE, 413));
        // NOT_LEADER_OR_FOLLOWER is retriable.
        assert_eq!(kafka_status(6), (StatusCode::INTERNAL_SERVER_ERROR, 50003));
        assert_eq!(
            kafka_status(-99),
            (StatusCode::INTERNAL_SERVER_ERROR, 50002)
        );
        let e = HttpError::json(&serde_json::from_str::<Vec<i32>>("[1,").unwrap_err());
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, 400));
        let e = HttpError::json(&serde_json::from_str::<Vec<i32>>("{}").unwrap_err());
        assert_eq!(
            (e.status, e.code),
            (StatusCode::UNPROCESSABLE_ENTITY, 42203)
        );
    }
}
