//! `Config::validate`: the checks that refuse a configuration before the broker starts.

use super::{invalid, Config, ConfigError};

impl Config {
    /// Check everything the broker would otherwise trip over later.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listeners()?;
        self.topics()?;
        self.validate_security()?;
        let at_least_one = [
            ("num_partitions", i64::from(self.num_partitions)),
            ("max_message_bytes", i64::from(self.max_message_bytes)),
            ("max_request_bytes", i64::from(self.max_request_bytes)),
            (
                "max_connections",
                self.max_connections.min(i64::MAX as usize) as i64,
            ),
            (
                "connections_max_idle_ms",
                self.connections_max_idle_ms.min(i64::MAX as u64) as i64,
            ),
            (
                "connection_max_queued_bytes",
                self.connection_max_queued_bytes.min(i64::MAX as u64) as i64,
            ),
            (
                "segment_bytes",
                self.segment_bytes.min(i64::MAX as u64) as i64,
            ),
            ("segment_ms", self.segment_ms),
            (
                "log_retention_check_interval_ms",
                self.log_retention_check_interval_ms.min(i64::MAX as u64) as i64,
            ),
            (
                "log_cleaner_backoff_ms",
                self.log_cleaner_backoff_ms.min(i64::MAX as u64) as i64,
            ),
            (
                "log_scrub_interval_ms",
                self.log_scrub_interval_ms.min(i64::MAX as u64) as i64,
            ),
            (
                "group_min_session_timeout_ms",
                i64::from(self.group_min_session_timeout_ms),
            ),
            ("group_max_size", i64::from(self.group_max_size)),
            (
                "group_consumer_max_size",
                i64::from(self.group_consumer_max_size),
            ),
            (
                "group_share_max_share_sessions",
                i64::from(self.group_share_max_share_sessions),
            ),
            (
                "transaction_max_timeout_ms",
                i64::from(self.transaction_max_timeout_ms),
            ),
            (
                "transactional_id_expiration_ms",
                self.transactional_id_expiration_ms,
            ),
            ("producer_id_expiration_ms", self.producer_id_expiration_ms),
            (
                "max_broker_partitions",
                self.max_broker_partitions
                    .map_or(1, |n| n.min(i64::MAX as u64) as i64),
            ),
        ];
        for (key, value) in at_least_one {
            if value < 1 {
                return Err(invalid(format!("{key} must be at least 1, not {value}")));
            }
        }
        if self.group_max_session_timeout_ms < self.group_min_session_timeout_ms {
            return Err(invalid(format!(
                "group_max_session_timeout_ms ({}) must not be below group_min_session_timeout_ms ({})",
                self.group_max_session_timeout_ms, self.group_min_session_timeout_ms
            )));
        }
        // Kafka's bounds of group.share.max.size.
        if !(1..=1000).contains(&self.group_share_max_size) {
            return Err(invalid(format!(
                "group_share_max_size {}: expected 1 to 1000",
                self.group_share_max_size
            )));
        }
        // Otherwise a request of the largest size could never be read.
        if self.queued_max_request_bytes < u64::from(self.max_request_bytes) {
            return Err(invalid(format!(
                "queued_max_request_bytes ({}) must not be below max_request_bytes ({})",
                self.queued_max_request_bytes, self.max_request_bytes
            )));
        }
        // Byte budgets are semaphores too (see below).
        for (key, value) in [
            ("queued_max_request_bytes", self.queued_max_request_bytes),
            (
                "connection_max_queued_bytes",
                self.connection_max_queued_bytes,
            ),
        ] {
            if value > tokio::sync::Semaphore::MAX_PERMITS as u64 {
                return Err(invalid(format!(
                    "{key} must be at most {}",
                    tokio::sync::Semaphore::MAX_PERMITS
                )));
            }
        }
        // The connection cap is a semaphore, which panics above this.
        if self.max_connections > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(invalid(format!(
                "max_connections must be at most {}",
                tokio::sync::Semaphore::MAX_PERMITS
            )));
        }
        if let Some(id) = self.node_id.filter(|id| *id < 0) {
            return Err(invalid(format!("node_id must not be negative, not {id}")));
        }
        if self.broker_session_timeout_ms < 300 {
            return Err(invalid(format!(
                "broker_session_timeout_ms must be at least 300, not {}",
                self.broker_session_timeout_ms
            )));
        }
        for (key, value) in [
            (
                "delegation_token_max_lifetime_ms",
                self.delegation_token_max_lifetime_ms,
            ),
            (
                "delegation_token_expiry_time_ms",
                self.delegation_token_expiry_time_ms,
            ),
            (
                "delegation_token_expiry_check_interval_ms",
                self.delegation_token_expiry_check_interval_ms,
            ),
        ] {
            // Kafka: at least 1; the token timestamps are i64 milliseconds.
            if value < 1 || value > i64::MAX as u64 {
                return Err(invalid(format!("{key} must be at least 1, not {value}")));
            }
        }
        if self.delegation_token_secret_key.as_deref() == Some("") {
            return Err(invalid(
                "delegation_token_secret_key must not be empty (leave it unset to disable \
                 delegation tokens)"
                    .into(),
            ));
        }
        if self.cluster_id.as_deref() == Some("") {
            return Err(invalid("cluster_id must not be empty".into()));
        }
        for name in &self.super_user {
            let bad = match name.split_once(':') {
                Some((kind, user)) => kind.is_empty() || user.is_empty(),
                None => name.trim().is_empty(),
            };
            if bad {
                return Err(invalid(format!(
                    "super_user {name:?}: expected User:NAME or NAME"
                )));
            }
        }
        tracing_subscriber::EnvFilter::try_new(&self.log)
            .map_err(|e| invalid(format!("log: invalid filter {:?}: {e}", self.log)))?;
        for (key, value) in [
            ("http_listen", &self.http_listen),
            ("metrics_listen", &self.metrics_listen),
            ("https_listen", &self.https_listen),
            ("mqtt_listen", &self.mqtt_listen),
            ("mqtt_tls_listen", &self.mqtt_tls_listen),
        ] {
            let Some(addr) = value else { continue };
            let port = addr
                .rsplit_once(':')
                .map(|(host, port)| (host, port.parse::<u16>()));
            if !matches!(port, Some((host, Ok(_))) if !host.is_empty()) {
                return Err(invalid(format!("{key} {addr:?}: expected HOST:PORT")));
            }
        }
        for rule in &self.mqtt_topic_map {
            if !matches!(rule.rsplit_once('='), Some((f, t)) if !f.is_empty() && !t.is_empty()) {
                return Err(invalid(format!(
                    "mqtt_topic_map {rule:?}: expected MQTT_FILTER=KAFKA_TOPIC"
                )));
            }
        }
        if !(2..=268_435_460).contains(&self.mqtt_max_packet_bytes) {
            return Err(invalid(format!(
                "mqtt_max_packet_bytes {}: expected 2 to 268435460 (MQTT's largest packet)",
                self.mqtt_max_packet_bytes
            )));
        }
        if !(1..=65_535).contains(&self.mqtt_max_inflight) {
            return Err(invalid(format!(
                "mqtt_max_inflight {}: expected 1 to 65535",
                self.mqtt_max_inflight
            )));
        }
        if let (Some(http), Some(metrics)) = (&self.http_listen, &self.metrics_listen) {
            if http != metrics {
                return Err(invalid(format!(
                    "http_listen {http:?} and metrics_listen {metrics:?}: metrics_listen is \
                     another name for http_listen; give one of them"
                )));
            }
        }
        Ok(())
    }
}
