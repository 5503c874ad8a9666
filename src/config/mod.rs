//! Broker configuration: a TOML file, `GREGOR_*` environment variables and command-line
//! flags, in rising order of precedence.
//!
//! A setting has one name everywhere: flag `--data-dir`, file key `data_dir`, variable
//! `GREGOR_DATA_DIR`. The doc comments of the flags (`flags::Cli`) are the user
//! documentation, shown by `gregor --help`.
//!
//! This module holds the effective [`Config`] and its value types; `flags` the command line,
//! `sources` how the file, the environment and the flags are merged (`Config::load`),
//! `validate` the checks, `listeners` and `topics` the parsed `listen`/`topic` values.

mod flags;
mod listeners;
mod security;
mod sources;
#[cfg(test)]
mod tests;
mod topics;
mod validate;

pub use listeners::ListenerSpec;
pub use security::{SecurityProtocol, UserSpec, DEFAULT_SASL_MECHANISMS, SASL_MECHANISMS};
pub use topics::{valid_topic_name, TopicSpec};

use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The listener name of a `--listen`/`--advertised-listener` value without `NAME://`.
pub const DEFAULT_LISTENER: &str = "PLAINTEXT";

/// The topic the homework's `loms` service writes to: the default of the `topic` setting.
pub const DEFAULT_TOPIC: &str = "loms.order-events:2:1";

/// The effective configuration. The fields are the settings documented by `gregor --help`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Raw `[NAME://]HOST:PORT` values; see [`Config::listeners`].
    pub listen: Vec<String>,
    /// Raw `[NAME://]HOST:PORT` values; see [`Config::listeners`].
    pub advertised_listener: Vec<String>,
    pub data_dir: PathBuf,
    pub storage: StorageKind,
    /// Raw `NAME:PARTITIONS[:RF]` values; see [`Config::topics`].
    pub topic: Vec<String>,
    pub auto_create_topics: bool,
    pub num_partitions: i32,
    /// None: 1, or in cluster mode one from the database (kept in --data-dir).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<i32>,
    /// None: the broker generates one on first start and persists it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    pub max_message_bytes: u32,
    pub max_request_bytes: u32,
    pub max_connections: usize,
    pub connections_max_idle_ms: u64,
    pub queued_max_request_bytes: u64,
    pub connection_max_queued_bytes: u64,
    /// None: derived from the open-file limit at start-up (see `meta::limits`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_broker_partitions: Option<u64>,
    pub fsync: FsyncPolicy,
    pub segment_bytes: u64,
    pub segment_ms: i64,
    pub log_retention_ms: i64,
    pub log_retention_bytes: i64,
    pub log_retention_check_interval_ms: u64,
    pub log_cleaner_backoff_ms: u64,
    pub log_scrub_bytes_per_second: u64,
    pub log_scrub_interval_ms: u64,
    pub group_initial_rebalance_delay_ms: u64,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    /// Kafka's group.max.size: members of a classic group, at most.
    pub group_max_size: i32,
    /// Kafka's group.consumer.max.size: members of a consumer group (KIP-848), at most.
    pub group_consumer_max_size: i32,
    /// Kafka's group.share.max.size: members of a share group (KIP-932), at most.
    pub group_share_max_size: i32,
    /// Kafka's group.share.max.share.sessions: share sessions on this broker, at most.
    pub group_share_max_share_sessions: i32,
    pub offsets_retention_minutes: u64,
    /// KIP-1191: a share group's dead-letter topic name must start with this ("": any).
    pub dlq_topic_name_prefix: String,
    /// KIP-1191: create a missing dead-letter topic on its first record.
    pub dlq_auto_create_topics: bool,
    pub transaction_max_timeout_ms: i32,
    pub transactional_id_expiration_ms: i64,
    pub producer_id_expiration_ms: i64,
    /// A `tracing_subscriber::EnvFilter` directive string.
    pub log: String,
    pub log_format: LogFormat,
    /// `HOST:PORT` of the HTTP listener (/metrics, /health, the REST API); None: not served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_listen: Option<String>,
    /// The older name of `http_listen` (an alias: at most one of the two is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
    /// REST API requests without credentials are let in even when the broker has users.
    pub http_allow_anonymous: bool,
    /// `HOST:PORT` of the HTTPS listener (the HTTP endpoints over TLS); None: not served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub https_listen: Option<String>,
    /// `HOST:PORT` of the MQTT listener; None: not served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mqtt_listen: Option<String>,
    /// `HOST:PORT` of the MQTT TLS listener; None: not served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mqtt_tls_listen: Option<String>,
    /// Anonymous MQTT clients are let in even when the broker has users.
    pub mqtt_allow_anonymous: bool,
    /// `FILTER=KAFKA_TOPIC` rules from MQTT topics to Kafka topics, first match first.
    pub mqtt_topic_map: Vec<String>,
    /// Largest MQTT packet a client may send.
    pub mqtt_max_packet_bytes: u64,
    /// QoS 1/2 messages sent to an MQTT client and not acknowledged, at most.
    pub mqtt_max_inflight: u64,
    /// Who decides what a principal may do: none (everything is allowed) or acl.
    pub authorizer: AuthorizerKind,
    /// Principals allowed everything (`User:NAME`, or a bare NAME).
    pub super_user: Vec<String>,
    pub allow_everyone_if_no_acl_found: bool,
    /// Raw `NAME:PROTOCOL` values; see [`Config::listener_protocol`].
    pub listener_security_protocol: Vec<String>,
    /// PEM certificate chain of the TLS listeners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_cert: Option<PathBuf>,
    /// PEM private key of `ssl_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_key: Option<PathBuf>,
    /// PEM CA certificates that client certificates must chain to; None: none asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_client_ca: Option<PathBuf>,
    /// Mechanisms SASL listeners offer, in Kafka's names.
    pub sasl_mechanisms: Vec<String>,
    /// Raw `NAME:PASSWORD` values; see [`Config::users`].
    pub user: Vec<String>,
    /// JWKS file of the keys that sign OAUTHBEARER tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_jwks: Option<PathBuf>,
    /// The `iss` every OAUTHBEARER token must carry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_expected_issuer: Option<String>,
    /// One of these must be in a token's `aud`.
    pub oauth_expected_audience: Vec<String>,
    pub oauth_allow_unverified_issuer: bool,
    pub oauth_allow_unverified_audience: bool,
    pub oauth_clock_skew_seconds: u64,
    pub oauth_sub_claim_name: String,
    pub oauth_scope_claim_name: String,
    /// KIP-368: longest a SASL session lasts before the client must re-authenticate; 0: no
    /// limit (an OAUTHBEARER session still ends with its token).
    pub connections_max_reauth_ms: u64,
    /// Delegation tokens' HMAC key (Kafka's delegation.token.secret.key), the same on every
    /// broker; None: delegation tokens are disabled. Never printed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegation_token_secret_key: Option<String>,
    /// Longest a delegation token lives, renewals included.
    pub delegation_token_max_lifetime_ms: u64,
    /// A delegation token's life from its creation or last renewal (its default renewal).
    pub delegation_token_expiry_time_ms: u64,
    /// How often expired delegation tokens are removed.
    pub delegation_token_expiry_check_interval_ms: u64,
    /// Cluster mode: how long a broker's lease lasts without a heartbeat.
    pub broker_session_timeout_ms: u64,
    /// Incremental fetch sessions (KIP-227) the broker keeps at once.
    pub max_incremental_fetch_session_cache_slots: usize,
    /// KIP-714 client telemetry: advertise and serve GetTelemetrySubscriptions and
    /// PushTelemetry, and show what clients push on /metrics (Kafka does so only with a
    /// client-telemetry metrics reporter configured).
    pub client_telemetry: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: vec!["0.0.0.0:9092".into()],
            // Empty, not localhost:9092: then `--listen 0.0.0.0:9093` alone advertises 9093.
            advertised_listener: vec![],
            data_dir: PathBuf::from("./data"),
            storage: StorageKind::Disk,
            topic: vec![DEFAULT_TOPIC.into()],
            auto_create_topics: true,
            num_partitions: 1,
            node_id: None,
            cluster_id: None,
            max_message_bytes: 1_048_588,
            max_request_bytes: 104_857_600,
            max_connections: 10_000,
            connections_max_idle_ms: 600_000,
            queued_max_request_bytes: 536_870_912,
            connection_max_queued_bytes: 16_777_216,
            max_broker_partitions: None,
            fsync: FsyncPolicy::Always,
            segment_bytes: 1_073_741_824,
            segment_ms: 604_800_000,
            log_retention_ms: 604_800_000,
            log_retention_bytes: -1,
            log_retention_check_interval_ms: 300_000,
            log_cleaner_backoff_ms: 15_000,
            log_scrub_bytes_per_second: 1 << 20,
            log_scrub_interval_ms: 3_600_000,
            group_initial_rebalance_delay_ms: 3_000,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_max_size: i32::MAX,
            group_consumer_max_size: i32::MAX,
            group_share_max_size: 200,
            group_share_max_share_sessions: 2000,
            offsets_retention_minutes: 10_080,
            dlq_topic_name_prefix: "dlq.".into(),
            dlq_auto_create_topics: false,
            transaction_max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 604_800_000,
            producer_id_expiration_ms: 86_400_000,
            log: "info".into(),
            log_format: LogFormat::Text,
            http_listen: None,
            metrics_listen: None,
            http_allow_anonymous: false,
            https_listen: None,
            mqtt_listen: None,
            mqtt_tls_listen: None,
            mqtt_allow_anonymous: false,
            mqtt_topic_map: vec![],
            mqtt_max_packet_bytes: 1_048_588,
            mqtt_max_inflight: 32,
            authorizer: AuthorizerKind::None,
            super_user: vec![],
            allow_everyone_if_no_acl_found: false,
            listener_security_protocol: vec![],
            ssl_cert: None,
            ssl_key: None,
            ssl_client_ca: None,
            sasl_mechanisms: DEFAULT_SASL_MECHANISMS
                .iter()
                .map(|m| m.to_string())
                .collect(),
            user: vec![],
            oauth_jwks: None,
            oauth_expected_issuer: None,
            oauth_expected_audience: vec![],
            oauth_allow_unverified_issuer: false,
            oauth_allow_unverified_audience: false,
            oauth_clock_skew_seconds: 30,
            oauth_sub_claim_name: "sub".into(),
            oauth_scope_claim_name: "scope".into(),
            connections_max_reauth_ms: 0,
            delegation_token_secret_key: None,
            delegation_token_max_lifetime_ms: 604_800_000,
            delegation_token_expiry_time_ms: 86_400_000,
            delegation_token_expiry_check_interval_ms: 3_600_000,
            broker_session_timeout_ms: 9000,
            max_incremental_fetch_session_cache_slots: 1000,
            client_telemetry: false,
        }
    }
}

/// `--authorizer`: Kafka's authorizer.class.name, unset or StandardAuthorizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuthorizerKind {
    /// No authorizer: every request is allowed, the ACL APIs answer SECURITY_DISABLED.
    None,
    /// ACLs (CreateAcls/DeleteAcls/DescribeAcls), kept in the metadata store.
    Acl,
}

/// Where data lives: `disk`, `memory`, or a PostgreSQL URL (cluster mode, see `pg`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum StorageKind {
    /// Segment files and RocksDB under --data-dir.
    Disk,
    /// Nothing survives a restart (tests, experiments).
    Memory,
    /// Every record, offset and piece of metadata in PostgreSQL (a libpq URL,
    /// `postgres://USER[:PASS]@HOST[:PORT][,HOST2[:PORT2]...]/DB[?...]`); --data-dir holds
    /// only a cache and this broker's node id.
    Postgres(String),
}

impl FromStr for StorageKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "disk" => Ok(StorageKind::Disk),
            "memory" => Ok(StorageKind::Memory),
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(StorageKind::Postgres(url.to_string()))
            }
            _ => Err(format!(
                "invalid storage {s:?}: expected disk, memory or a postgres:// URL"
            )),
        }
    }
}

impl TryFrom<String> for StorageKind {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<StorageKind> for String {
    fn from(k: StorageKind) -> String {
        match k {
            StorageKind::Disk => "disk".into(),
            StorageKind::Memory => "memory".into(),
            StorageKind::Postgres(url) => url,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line (tracing-subscriber's JSON format).
    Json,
}

/// When appended records are fsynced; `always`, `interval:MS` or `never` in text form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum FsyncPolicy {
    Always,
    /// Milliseconds between fsyncs, at least 1.
    Interval(u64),
    Never,
}

impl FromStr for FsyncPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(FsyncPolicy::Always),
            "never" => Ok(FsyncPolicy::Never),
            _ => match s.strip_prefix("interval:").map(str::parse::<u64>) {
                Some(Ok(ms)) if ms >= 1 => Ok(FsyncPolicy::Interval(ms)),
                _ => Err(format!(
                    "invalid fsync policy {s:?}: expected always, interval:MS (MS >= 1) or never"
                )),
            },
        }
    }
}

impl TryFrom<String> for FsyncPolicy {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<FsyncPolicy> for String {
    fn from(p: FsyncPolicy) -> String {
        match p {
            FsyncPolicy::Always => "always".into(),
            FsyncPolicy::Interval(ms) => format!("interval:{ms}"),
            FsyncPolicy::Never => "never".into(),
        }
    }
}

/// What the command line asked for.
#[derive(Debug)]
pub enum LoadOutcome {
    Run(Config),
    /// `--print-config`: print [`Config::to_toml`] and exit.
    PrintConfig(Config),
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A bad flag, or `--help`/`--version`: print it with `clap::Error::print` and exit with
    /// its `exit_code`.
    #[error(transparent)]
    Cli(#[from] clap::Error),
    #[error("reading config file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

fn invalid(message: String) -> ConfigError {
    ConfigError::Invalid(message)
}

impl Config {
    /// This broker's id (once `app::open` has settled it in cluster mode).
    pub fn node_id(&self) -> i32 {
        self.node_id.unwrap_or(1)
    }

    /// Where the HTTP listener binds: `http_listen`, or its older name `metrics_listen`.
    pub fn http_address(&self) -> Option<&str> {
        self.http_listen
            .as_deref()
            .or(self.metrics_listen.as_deref())
    }

    /// The configuration as a TOML file that `--config` reads back — except passwords, which
    /// are never printed: `--user` values are left out (the users are named in a comment;
    /// their credentials, once stored, need no `--user` on later starts) and a PostgreSQL
    /// URL's password is masked (a comment says so).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        let mut comments = String::new();
        let mut printed = self.clone();
        if !self.user.is_empty() {
            let names: Vec<&str> = self
                .user
                .iter()
                .map(|u| u.split_once(':').map_or(u.as_str(), |(name, _)| name))
                .collect();
            comments += &format!(
                "# user: {} (omitted: passwords are not printed)\n",
                names.join(", ")
            );
            printed.user = vec![];
        }
        if self.delegation_token_secret_key.is_some() {
            comments += "# delegation_token_secret_key: omitted (secrets are not printed)\n";
            printed.delegation_token_secret_key = None;
        }
        if let StorageKind::Postgres(url) = &self.storage {
            let masked = crate::pg::redact(url);
            if masked != *url {
                comments += "# storage: the password is masked (not printed)\n";
                printed.storage = StorageKind::Postgres(masked);
            }
        }
        Ok(format!("{comments}{}", toml::to_string(&printed)?))
    }
}
