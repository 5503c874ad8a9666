//! Broker configuration: a TOML file, `GREGOR_*` environment variables and command-line
//! flags, in rising order of precedence.
//!
//! A setting has one name everywhere: flag `--data-dir`, file key `data_dir`, variable
//! `GREGOR_DATA_DIR`. The doc comments of the flags (`Cli`) are the user documentation,
//! shown by `gregor --help`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::Parser;
use serde::{Deserialize, Serialize};

/// The listener name of a `--listen`/`--advertised-listener` value without `NAME://`.
pub const DEFAULT_LISTENER: &str = "PLAINTEXT";

/// The topic the homework's `loms` service writes to: the default of the `topic` setting.
pub const DEFAULT_TOPIC: &str = "loms.order-events:2:1";

const EXAMPLES: &str = "\
Examples:
  gregor --storage memory --listen 127.0.0.1:0 --topic orders:3
  gregor --listen INTERNAL://0.0.0.0:29092 --advertised-listener INTERNAL://kafka:29092 \\
         --listen PLAINTEXT://0.0.0.0:9092 --advertised-listener PLAINTEXT://localhost:9092
  GREGOR_FSYNC=interval:100 gregor --print-config

Admin commands against a running broker (gregor or Kafka), see their --help:
  gregor topics create|list|describe|delete --bootstrap-server HOST:PORT ...
  gregor groups list|describe --bootstrap-server HOST:PORT ...
  gregor health --metrics-address HOST:PORT     (GET /health of a --metrics-listen)";

/// A Kafka-wire-compatible message broker.
///
/// Every setting can also come from a TOML file (--config) under its flag's name with '_' for
/// '-' (data_dir = "/srv/gregor"), or from the environment variable GREGOR_ + that name in
/// upper case (GREGOR_DATA_DIR=/srv/gregor). Flags win over the environment, the environment
/// over the file. Lists in the environment are comma-separated, booleans are true or false.
/// Unknown keys in the file and unknown GREGOR_* variables are errors.
#[derive(Debug, Parser, Serialize)]
#[command(name = "gregor", version, max_term_width = 100, after_long_help = EXAMPLES)]
struct Cli {
    /// Read settings from this TOML file (also GREGOR_CONFIG).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    config: Option<PathBuf>,

    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    #[serde(skip)]
    print_config: bool,

    /// Address to accept clients on, [NAME://]HOST:PORT; repeatable, one per listener name.
    /// NAME defaults to PLAINTEXT; port 0 picks a free port. Default: 0.0.0.0:9092.
    #[arg(long, value_name = "[NAME://]HOST:PORT")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    listen: Vec<String>,

    /// Address given to clients that connect through the listener NAME (Kafka's
    /// advertised.listeners); repeatable. NAME must be a --listen name. A listener without one
    /// advertises its bind host (0.0.0.0 and :: as localhost) and its bound port.
    #[arg(long, value_name = "[NAME://]HOST:PORT")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    advertised_listener: Vec<String>,

    /// Directory of the logs and metadata (with --storage disk). Default: ./data.
    #[arg(long, value_name = "PATH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,

    /// Where data lives. Default: disk.
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    storage: Option<StorageKind>,

    /// Topic to create at start-up if absent, NAME:PARTITIONS[:REPLICATION_FACTOR] (the factor
    /// can only be 1); repeatable. Default: loms.order-events:2:1. Any topic given replaces
    /// the default; an empty GREGOR_TOPIC (or topic = [] in the file) creates none.
    #[arg(long, value_name = "NAME:PARTITIONS[:RF]")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    topic: Vec<String>,

    /// Create a topic when a client asks for its metadata or produces to it (Kafka's
    /// auto.create.topics.enable). Default: true.
    #[arg(long, value_name = "true|false")]
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_create_topics: Option<bool>,

    /// Partitions of an auto-created topic, and of a CreateTopics request that leaves the
    /// count to the broker (Kafka's num.partitions). Default: 1.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    num_partitions: Option<i32>,

    /// This broker's id (Kafka's node.id). Default: 1.
    #[arg(long, value_name = "ID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    node_id: Option<i32>,

    /// Cluster id reported to clients. Default: one generated on first start and kept in the
    /// data directory.
    #[arg(long, value_name = "ID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster_id: Option<String>,

    /// Largest record batch a topic accepts, unless its max.message.bytes says otherwise
    /// (Kafka's message.max.bytes). Default: 1048588.
    #[arg(long, value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_message_bytes: Option<u32>,

    /// Largest request a client may send; a larger one closes the connection (Kafka's
    /// socket.request.max.bytes). Default: 104857600.
    #[arg(long, value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_request_bytes: Option<u32>,

    /// Most client connections open at once; more wait to be accepted. Default: 10000.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_connections: Option<usize>,

    /// Close a connection that has sent nothing and awaits no answer for this long (Kafka's
    /// connections.max.idle.ms). Default: 600000.
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    connections_max_idle_ms: Option<u64>,

    /// Bytes of requests being read or awaiting their answers, over all connections; a
    /// connection waits before reading more (Kafka's queued.max.request.bytes). At least
    /// max_request_bytes. Default: 536870912.
    #[arg(long, value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    queued_max_request_bytes: Option<u64>,

    /// The same bound for one connection: its pipelined requests hold at most this many bytes
    /// (a single larger request is still read when nothing else is pending). Default: 16777216.
    #[arg(long, value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    connection_max_queued_bytes: Option<u64>,

    /// Most partitions this broker holds; CreateTopics, CreatePartitions and auto-creation
    /// that would pass it are refused whole (POLICY_VIOLATION, or UNKNOWN_TOPIC_OR_PARTITION
    /// for auto-creation, as Kafka's Metadata answers a refused one). A partition keeps one
    /// file open per log segment, so the default is a quarter of the open-file limit
    /// (ulimit -n) at start-up, at most 10000: two segments per partition on half the
    /// descriptors, the other half for connections and the metadata store. Raise ulimit -n
    /// before raising this. Default: RLIMIT_NOFILE / 4 (5000 for 20000), at most 10000.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_broker_partitions: Option<u64>,

    /// When appended records reach the disk: always (before acknowledging; one fsync serves
    /// every append that arrived meanwhile), interval:MS (acknowledge at once, fsync every MS
    /// milliseconds) or never (when the OS decides). Default: always.
    #[arg(long, value_name = "always|interval:MS|never")]
    #[serde(skip_serializing_if = "Option::is_none")]
    fsync: Option<FsyncPolicy>,

    /// Size at which a partition starts a new log segment (Kafka's log.segment.bytes).
    /// Default: 1073741824.
    #[arg(long, value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    segment_bytes: Option<u64>,

    /// Age at which a partition starts a new log segment (Kafka's log.roll.ms).
    /// Default: 604800000.
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    segment_ms: Option<i64>,

    /// How long a topic keeps a segment after its newest record, unless its retention.ms
    /// says otherwise; -1: forever (Kafka's log.retention.ms; log.retention.hours=168).
    /// Default: 604800000.
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    log_retention_ms: Option<i64>,

    /// Size a partition's log is cut back to (whole old segments), unless the topic's
    /// retention.bytes says otherwise; -1: no limit (Kafka's log.retention.bytes). Default: -1.
    #[arg(long, value_name = "BYTES", allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    log_retention_bytes: Option<i64>,

    /// How often retention deletes old segments (Kafka's log.retention.check.interval.ms).
    /// Default: 300000.
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    log_retention_check_interval_ms: Option<u64>,

    /// How often the log cleaner looks for compacted topics to clean (Kafka's
    /// log.cleaner.backoff.ms). Default: 15000.
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    log_cleaner_backoff_ms: Option<u64>,

    /// Read rate of the background scrub, which checks the lengths and CRCs of sealed
    /// segments' batches so that data damaged on disk is reported and not served; 0 turns it
    /// off (no Kafka equivalent). Default: 1048576.
    #[arg(long, value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    log_scrub_bytes_per_second: Option<u64>,

    /// Pause between two scrub passes over every sealed segment (the first pass starts this
    /// long after start-up). Default: 3600000.
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    log_scrub_interval_ms: Option<u64>,

    /// How long a new consumer group waits for more members before its first rebalance
    /// (Kafka's group.initial.rebalance.delay.ms). Default: 3000.
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    group_initial_rebalance_delay_ms: Option<u64>,

    /// Shortest session timeout a consumer may ask for (Kafka's
    /// group.min.session.timeout.ms). Default: 6000.
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    group_min_session_timeout_ms: Option<i32>,

    /// Longest session timeout a consumer may ask for (Kafka's
    /// group.max.session.timeout.ms). Default: 1800000.
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    group_max_session_timeout_ms: Option<i32>,

    /// How long committed offsets of a group without members are kept (Kafka's
    /// offsets.retention.minutes). Default: 10080.
    #[arg(long, value_name = "MINUTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    offsets_retention_minutes: Option<u64>,

    /// Longest transaction timeout a transactional producer may ask for (Kafka's
    /// transaction.max.timeout.ms). Default: 900000.
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_max_timeout_ms: Option<i32>,

    /// How long a transactional id with no transaction open is kept after its last use
    /// (Kafka's transactional.id.expiration.ms). Default: 604800000.
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    transactional_id_expiration_ms: Option<i64>,

    /// How long a partition remembers an idle producer's sequence numbers (Kafka's
    /// producer.id.expiration.ms). Default: 86400000.
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    producer_id_expiration_ms: Option<i64>,

    /// What to log, as a tracing filter (error, warn, info, debug, trace, or per module:
    /// info,gregor::server=debug). Default: info, or RUST_LOG if that is set.
    #[arg(long, value_name = "FILTER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<String>,

    /// How log lines look: text (human-readable) or json (one JSON object a line, for log
    /// collectors). Default: text.
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    log_format: Option<LogFormat>,

    /// Serve Prometheus metrics (GET /metrics) and a health check (GET /health, 200 "ok"
    /// once every listener accepts clients) over HTTP on HOST:PORT. Default: off.
    #[arg(long, value_name = "HOST:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics_listen: Option<String>,
}

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
    pub node_id: i32,
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
    pub offsets_retention_minutes: u64,
    pub transaction_max_timeout_ms: i32,
    pub transactional_id_expiration_ms: i64,
    pub producer_id_expiration_ms: i64,
    /// A `tracing_subscriber::EnvFilter` directive string.
    pub log: String,
    pub log_format: LogFormat,
    /// `HOST:PORT` of the /metrics and /health endpoint; None: not served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
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
            node_id: 1,
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
            offsets_retention_minutes: 10_080,
            transaction_max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 604_800_000,
            producer_id_expiration_ms: 86_400_000,
            log: "info".into(),
            log_format: LogFormat::Text,
            metrics_listen: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Segment files and RocksDB under --data-dir.
    Disk,
    /// Nothing survives a restart (tests, experiments).
    Memory,
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

/// One listener: where it binds, and what it tells clients if not its bound address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    /// Upper case, as Kafka normalises listener names.
    pub name: String,
    /// `HOST:PORT` for `TcpListener::bind` (IPv6 hosts in brackets; port may be 0).
    pub bind: String,
    /// Host (IPv6 without brackets) and port from `advertised_listener`.
    pub advertised: Option<(String, u16)>,
}

/// A topic to ensure at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    /// Always 1: a single broker holds one replica.
    pub replication_factor: i16,
}

/// Kafka's topic name rule: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn valid_topic_name(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// How an environment variable's text becomes a TOML value.
#[derive(Clone, Copy)]
enum Kind {
    List,
    Bool,
    Int,
    Str,
}

/// Every setting, by its file key. A unit test keeps it in step with [`Config`]'s fields.
const SETTINGS: &[(&str, Kind)] = &[
    ("listen", Kind::List),
    ("advertised_listener", Kind::List),
    ("data_dir", Kind::Str),
    ("storage", Kind::Str),
    ("topic", Kind::List),
    ("auto_create_topics", Kind::Bool),
    ("num_partitions", Kind::Int),
    ("node_id", Kind::Int),
    ("cluster_id", Kind::Str),
    ("max_message_bytes", Kind::Int),
    ("max_request_bytes", Kind::Int),
    ("max_connections", Kind::Int),
    ("connections_max_idle_ms", Kind::Int),
    ("queued_max_request_bytes", Kind::Int),
    ("connection_max_queued_bytes", Kind::Int),
    ("max_broker_partitions", Kind::Int),
    ("fsync", Kind::Str),
    ("segment_bytes", Kind::Int),
    ("segment_ms", Kind::Int),
    ("log_retention_ms", Kind::Int),
    ("log_retention_bytes", Kind::Int),
    ("log_retention_check_interval_ms", Kind::Int),
    ("log_cleaner_backoff_ms", Kind::Int),
    ("log_scrub_bytes_per_second", Kind::Int),
    ("log_scrub_interval_ms", Kind::Int),
    ("group_initial_rebalance_delay_ms", Kind::Int),
    ("group_min_session_timeout_ms", Kind::Int),
    ("group_max_session_timeout_ms", Kind::Int),
    ("offsets_retention_minutes", Kind::Int),
    ("transaction_max_timeout_ms", Kind::Int),
    ("transactional_id_expiration_ms", Kind::Int),
    ("producer_id_expiration_ms", Kind::Int),
    ("log", Kind::Str),
    ("log_format", Kind::Str),
    ("metrics_listen", Kind::Str),
];

const ENV_PREFIX: &str = "GREGOR_";
/// Not a setting but where settings come from, like `--config`.
const ENV_CONFIG: &str = "GREGOR_CONFIG";

impl Config {
    /// Parse the command line `args` (with argv\[0\]) over the environment `env` over the
    /// config file, then validate. `main` passes the process's; tests pass their own.
    pub fn load(
        args: impl IntoIterator<Item = String>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<LoadOutcome, ConfigError> {
        let cli = Cli::try_parse_from(args)?;
        let env: Vec<(String, String)> = env.into_iter().collect();
        let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());

        let file = cli
            .config
            .clone()
            .or_else(|| var(ENV_CONFIG).map(PathBuf::from));
        let mut table = match &file {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };
        table.extend(env_table(&env)?);
        table.extend(toml::Table::try_from(&cli).map_err(|e| invalid(e.to_string()))?);
        if !table.contains_key("log") {
            if let Some(filter) = var("RUST_LOG").filter(|f| !f.is_empty()) {
                table.insert("log".into(), filter.into());
            }
        }
        let config: Config = table.try_into().map_err(|e| invalid(e.to_string()))?;
        config.validate()?;
        Ok(if cli.print_config {
            LoadOutcome::PrintConfig(config)
        } else {
            LoadOutcome::Run(config)
        })
    }

    /// Check everything the broker would otherwise trip over later.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listeners()?;
        self.topics()?;
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
        if self.node_id < 0 {
            return Err(invalid(format!(
                "node_id must not be negative, not {}",
                self.node_id
            )));
        }
        if self.cluster_id.as_deref() == Some("") {
            return Err(invalid("cluster_id must not be empty".into()));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log)
            .map_err(|e| invalid(format!("log: invalid filter {:?}: {e}", self.log)))?;
        if let Some(addr) = &self.metrics_listen {
            let port = addr
                .rsplit_once(':')
                .map(|(host, port)| (host, port.parse::<u16>()));
            if !matches!(port, Some((host, Ok(_))) if !host.is_empty()) {
                return Err(invalid(format!(
                    "metrics_listen {addr:?}: expected HOST:PORT"
                )));
            }
        }
        Ok(())
    }

    /// The listeners in `listen` order, each with its `advertised_listener` entry if any.
    pub fn listeners(&self) -> Result<Vec<ListenerSpec>, ConfigError> {
        let mut specs: Vec<ListenerSpec> = Vec::new();
        for entry in &self.listen {
            let (name, host, port) =
                parse_listener(entry).map_err(|m| invalid(format!("listen {entry:?}: {m}")))?;
            if specs.iter().any(|s| s.name == name) {
                return Err(invalid(format!("listen: listener {name} is given twice")));
            }
            // An empty host binds every interface, as in Kafka's `PLAINTEXT://:9092`.
            let host = if host.is_empty() { "0.0.0.0" } else { host };
            let bind = if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            };
            specs.push(ListenerSpec {
                name,
                bind,
                advertised: None,
            });
        }
        if specs.is_empty() {
            return Err(invalid("listen: at least one listener is needed".into()));
        }
        for entry in &self.advertised_listener {
            let at = |m: String| invalid(format!("advertised_listener {entry:?}: {m}"));
            let (name, host, port) = parse_listener(entry).map_err(at)?;
            if host.is_empty() || port == 0 {
                return Err(at("a client needs a host and a port other than 0".into()));
            }
            let spec = specs
                .iter_mut()
                .find(|s| s.name == name)
                .ok_or_else(|| at(format!("no listener named {name} in listen")))?;
            if spec.advertised.is_some() {
                return Err(at(format!("listener {name} is advertised twice")));
            }
            spec.advertised = Some((host.to_string(), port));
        }
        Ok(specs)
    }

    /// The topics to ensure at start-up.
    pub fn topics(&self) -> Result<Vec<TopicSpec>, ConfigError> {
        let mut specs: Vec<TopicSpec> = Vec::new();
        for entry in &self.topic {
            let spec = parse_topic(entry).map_err(|m| invalid(format!("topic {entry:?}: {m}")))?;
            if specs.iter().any(|s| s.name == spec.name) {
                return Err(invalid(format!("topic: {} is given twice", spec.name)));
            }
            specs.push(spec);
        }
        Ok(specs)
    }

    /// The configuration as a TOML file that `--config` reads back.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }
}

/// `[NAME://]HOST:PORT` → (upper-case name, host without IPv6 brackets, port).
fn parse_listener(s: &str) -> Result<(String, &str, u16), String> {
    let (name, addr) = s.split_once("://").unwrap_or((DEFAULT_LISTENER, s));
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "invalid listener name {name:?}: use letters, digits, '_' and '-'"
        ));
    }
    let (host, port) = addr.rsplit_once(':').ok_or("expected [NAME://]HOST:PORT")?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("invalid port {port:?}"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Ok((name.to_ascii_uppercase(), host, port))
}

/// `NAME:PARTITIONS[:REPLICATION_FACTOR]` (topic names cannot contain ':').
fn parse_topic(s: &str) -> Result<TopicSpec, String> {
    const FORMAT: &str = "expected NAME:PARTITIONS[:REPLICATION_FACTOR]";
    let parts: Vec<&str> = s.split(':').collect();
    let (name, partitions, rf) = match parts[..] {
        [name, partitions] => (name, partitions, "1"),
        [name, partitions, rf] => (name, partitions, rf),
        _ => return Err(FORMAT.into()),
    };
    if !valid_topic_name(name) {
        return Err(format!(
            "invalid topic name {name:?}: 1 to 249 of a-z A-Z 0-9 . _ -, and not . or .."
        ));
    }
    let partitions = partitions
        .parse::<i32>()
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| format!("partitions must be a number of at least 1, not {partitions:?}"))?;
    let replication_factor = rf.parse::<i16>().map_err(|_| FORMAT.to_string())?;
    if replication_factor != 1 {
        return Err(format!(
            "replication factor {replication_factor} is impossible with a single broker; use 1"
        ));
    }
    Ok(TopicSpec {
        name: name.into(),
        partitions,
        replication_factor,
    })
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.into(),
        source,
    })?;
    let error = |e: toml::de::Error| ConfigError::File {
        path: path.into(),
        message: e.to_string(),
    };
    // Deserialized on its own first so that an unknown key or a bad value is reported with
    // its line; the merge below loses positions.
    toml::from_str::<Config>(&text).map_err(error)?;
    toml::from_str(&text).map_err(error)
}

/// The `GREGOR_*` variables as TOML values, each checked on its own so that an error names it.
fn env_table(env: &[(String, String)]) -> Result<toml::Table, ConfigError> {
    let mut table = toml::Table::new();
    for (var, raw) in env {
        let Some(key) = var.strip_prefix(ENV_PREFIX).map(str::to_ascii_lowercase) else {
            continue;
        };
        if var == ENV_CONFIG {
            continue;
        }
        let error = |message: String| ConfigError::Env {
            var: var.clone(),
            message,
        };
        let (_, kind) = SETTINGS
            .iter()
            .find(|(k, _)| *k == key)
            .ok_or_else(|| error(format!("no such setting (`{key}`); see gregor --help")))?;
        let value = match kind {
            Kind::List => toml::Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(toml::Value::from)
                    .collect(),
            ),
            Kind::Bool => match raw.trim() {
                "true" => true.into(),
                "false" => false.into(),
                _ => return Err(error(format!("expected true or false, not {raw:?}"))),
            },
            Kind::Int => raw
                .trim()
                .parse::<i64>()
                .map_err(|_| error(format!("expected an integer, not {raw:?}")))?
                .into(),
            Kind::Str => raw.as_str().into(),
        };
        let alone = toml::Table::from_iter([(key.clone(), value.clone())]);
        alone
            .try_into::<Config>()
            // toml puts "in `key`" on a line of its own.
            .map_err(|e| error(e.to_string().trim().replace('\n', " ")))?;
        table.insert(key, value);
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn load(args: &[&str], env: &[(&str, &str)]) -> Result<LoadOutcome, ConfigError> {
        let args = std::iter::once("gregor")
            .chain(args.iter().copied())
            .map(String::from);
        Config::load(
            args,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    fn run(args: &[&str], env: &[(&str, &str)]) -> Config {
        match load(args, env) {
            Ok(LoadOutcome::Run(c)) => c,
            other => panic!("expected Run, got {other:?}"),
        }
    }

    fn error(args: &[&str], env: &[(&str, &str)]) -> String {
        match load(args, env) {
            Err(e) => e.to_string(),
            Ok(o) => panic!("expected an error, got {o:?}"),
        }
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    #[test]
    fn no_arguments_give_the_homework_defaults() {
        let c = run(&[], &[]);
        assert_eq!(c, Config::default());
        assert_eq!(
            c.listeners().unwrap(),
            [ListenerSpec {
                name: "PLAINTEXT".into(),
                bind: "0.0.0.0:9092".into(),
                advertised: None
            }]
        );
        let topic = TopicSpec {
            name: "loms.order-events".into(),
            partitions: 2,
            replication_factor: 1,
        };
        assert_eq!(c.topics().unwrap(), [topic]);
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(
            (c.storage, c.fsync),
            (StorageKind::Disk, FsyncPolicy::Always)
        );
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let f = file(
            "node_id = 10\nnum_partitions = 3\nlog = \"warn\"\ntopic = [\"a:1\"]\nsegment_ms = 5\n",
        );
        let path = f.path().to_str().unwrap();
        let env = [
            ("GREGOR_NODE_ID", "20"),
            ("GREGOR_NUM_PARTITIONS", "4"),
            ("GREGOR_SEGMENT_MS", "6"),
        ];
        let c = run(&["--config", path, "--node-id", "30"], &env);
        assert_eq!((c.node_id, c.num_partitions, c.segment_ms), (30, 4, 6));
        assert_eq!(
            (c.log.as_str(), c.topic.as_slice()),
            ("warn", ["a:1".to_string()].as_slice())
        );
        // Untouched settings keep their defaults.
        assert_eq!(c.max_message_bytes, 1_048_588);
    }

    #[test]
    fn config_file_from_env_and_flag_wins() {
        let (a, b) = (file("node_id = 7"), file("node_id = 8"));
        let env = [("GREGOR_CONFIG", a.path().to_str().unwrap())];
        assert_eq!(run(&[], &env).node_id, 7);
        assert_eq!(
            run(&["--config", b.path().to_str().unwrap()], &env).node_id,
            8
        );
    }

    #[test]
    fn rust_log_counts_only_when_log_is_not_set() {
        assert_eq!(run(&[], &[("RUST_LOG", "debug")]).log, "debug");
        assert_eq!(
            run(&[], &[("RUST_LOG", "debug"), ("GREGOR_LOG", "warn")]).log,
            "warn"
        );
        assert_eq!(
            run(&["--log", "error"], &[("RUST_LOG", "debug")]).log,
            "error"
        );
        let f = file("log = \"trace\"");
        assert_eq!(
            run(
                &["--config", f.path().to_str().unwrap()],
                &[("RUST_LOG", "debug")]
            )
            .log,
            "trace"
        );
        assert!(error(&["--log", "gregor=loud"], &[]).contains("log"));
    }

    #[test]
    fn unknown_file_key_is_named() {
        let f = file("node_id = 1\nlisten_port = 9092\n");
        let e = error(&["--config", f.path().to_str().unwrap()], &[]);
        assert!(
            e.contains("listen_port") && e.contains(f.path().to_str().unwrap()),
            "{e}"
        );
        let e = error(&["--config", "/nonexistent/gregor.toml"], &[]);
        assert!(e.contains("/nonexistent/gregor.toml"), "{e}");
    }

    #[test]
    fn bad_file_value_is_reported_with_its_key() {
        let f = file("storage = \"tape\"\n");
        let e = error(&["--config", f.path().to_str().unwrap()], &[]);
        assert!(e.contains("storage") && e.contains("tape"), "{e}");
    }

    #[test]
    fn unknown_env_var_is_named() {
        let e = error(&[], &[("GREGOR_PORT", "9092")]);
        assert!(e.contains("GREGOR_PORT"), "{e}");
        // Other variables are none of our business.
        run(&[], &[("PATH", "/bin"), ("KAFKA_PORT", "1")]);
    }

    #[test]
    fn bad_env_values_are_named() {
        for (var, value) in [
            ("GREGOR_NODE_ID", "x"),
            ("GREGOR_NODE_ID", "99999999999"),
            ("GREGOR_STORAGE", "tape"),
            ("GREGOR_AUTO_CREATE_TOPICS", "yes"),
            ("GREGOR_FSYNC", "interval:0"),
        ] {
            let e = error(&[], &[(var, value)]);
            assert!(e.contains(var), "{var}={value}: {e}");
        }
    }

    #[test]
    fn env_values_are_typed() {
        let env = [
            (
                "GREGOR_LISTEN",
                "INTERNAL://0.0.0.0:29092, PLAINTEXT://0.0.0.0:9092",
            ),
            ("GREGOR_ADVERTISED_LISTENER", "INTERNAL://kafka:29092"),
            ("GREGOR_AUTO_CREATE_TOPICS", "false"),
            ("GREGOR_STORAGE", "memory"),
            ("GREGOR_FSYNC", "interval:50"),
            ("GREGOR_CLUSTER_ID", "12345"),
            ("GREGOR_DATA_DIR", "/srv/gregor"),
            ("GREGOR_TOPIC", ""),
        ];
        let c = run(&[], &env);
        assert_eq!(
            c.listen,
            ["INTERNAL://0.0.0.0:29092", "PLAINTEXT://0.0.0.0:9092"]
        );
        assert!(!c.auto_create_topics);
        assert_eq!(
            (c.storage, c.fsync),
            (StorageKind::Memory, FsyncPolicy::Interval(50))
        );
        assert_eq!(c.cluster_id.as_deref(), Some("12345"));
        assert_eq!(c.data_dir, PathBuf::from("/srv/gregor"));
        assert!(c.topics().unwrap().is_empty());
    }

    #[test]
    fn the_compose_listeners() {
        let c = run(
            &[
                "--listen",
                "INTERNAL://0.0.0.0:29092",
                "--advertised-listener",
                "INTERNAL://kafka:29092",
                "--listen",
                "PLAINTEXT://0.0.0.0:9092",
                "--advertised-listener",
                "PLAINTEXT://localhost:9092",
            ],
            &[],
        );
        let l = c.listeners().unwrap();
        assert_eq!(
            l,
            [
                ListenerSpec {
                    name: "INTERNAL".into(),
                    bind: "0.0.0.0:29092".into(),
                    advertised: Some(("kafka".into(), 29092)),
                },
                ListenerSpec {
                    name: "PLAINTEXT".into(),
                    bind: "0.0.0.0:9092".into(),
                    advertised: Some(("localhost".into(), 9092)),
                },
            ]
        );
    }

    #[test]
    fn listener_forms() {
        let c = Config {
            listen: vec![
                "127.0.0.1:0".into(),
                "v6://[::]:9093".into(),
                "other://:9094".into(),
            ],
            advertised_listener: vec!["[::1]:1234".into()],
            ..Config::default()
        };
        let l = c.listeners().unwrap();
        assert_eq!(
            (l[0].name.as_str(), l[0].bind.as_str()),
            ("PLAINTEXT", "127.0.0.1:0")
        );
        assert_eq!(l[0].advertised, Some(("::1".into(), 1234)));
        assert_eq!(
            (l[1].name.as_str(), l[1].bind.as_str()),
            ("V6", "[::]:9093")
        );
        assert_eq!(
            (l[2].name.as_str(), l[2].bind.as_str()),
            ("OTHER", "0.0.0.0:9094")
        );
    }

    #[test]
    fn bad_listeners() {
        for (args, needle) in [
            (
                &["--advertised-listener", "EXTERNAL://kafka:9092"][..],
                "EXTERNAL",
            ),
            (&["--listen", "0.0.0.0"], "0.0.0.0"),
            (&["--listen", "0.0.0.0:99999"], "99999"),
            (
                &["--listen", "a://0.0.0.0:1", "--listen", "A://0.0.0.0:2"],
                "twice",
            ),
            (&["--advertised-listener", "localhost:0"], "localhost:0"),
            (
                &[
                    "--advertised-listener",
                    "a:1",
                    "--advertised-listener",
                    "b:2",
                ],
                "twice",
            ),
            (&["--listen", "bad name://0.0.0.0:1"], "bad name"),
        ] {
            let e = error(args, &[]);
            assert!(e.contains(needle), "{args:?}: {e}");
        }
        assert!(error(&[], &[("GREGOR_LISTEN", "")]).contains("at least one"));
    }

    #[test]
    fn topics_are_validated() {
        let c = run(&["--topic", "a.b_c-D:3", "--topic", "x:1:1"], &[]);
        let t = c.topics().unwrap();
        assert_eq!(
            (t[0].name.as_str(), t[0].partitions, t[0].replication_factor),
            ("a.b_c-D", 3, 1)
        );
        assert_eq!((t[1].name.as_str(), t[1].partitions), ("x", 1));
        for (topic, needle) in [
            ("t:2:3", "replication factor 3"),
            ("t:0", "partitions"),
            ("t", "NAME:PARTITIONS"),
            ("t:1:1:1", "NAME:PARTITIONS"),
            ("a/b:1", "a/b"),
            ("..:1", "\"..\""),
        ] {
            let e = error(&["--topic", topic], &[]);
            assert!(e.contains(needle), "{topic}: {e}");
        }
        assert!(error(&["--topic", "t:1", "--topic", "t:2"], &[]).contains("twice"));
    }

    #[test]
    fn topic_names_follow_kafka() {
        assert!(valid_topic_name("loms.order-events"));
        assert!(valid_topic_name(&"a".repeat(249)));
        assert!(valid_topic_name("..."));
        for bad in ["", ".", "..", "a b", "a:b", "é", &"a".repeat(250)] {
            assert!(!valid_topic_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn numbers_are_checked() {
        assert!(error(&["--num-partitions", "0"], &[]).contains("num_partitions"));
        assert!(error(&["--node-id=-1"], &[]).contains("node_id"));
        assert!(error(&["--max-connections", "0"], &[]).contains("max_connections"));
        assert!(error(&["--max-broker-partitions", "0"], &[]).contains("max_broker_partitions"));
        let c = run(&[], &[("GREGOR_MAX_BROKER_PARTITIONS", "7")]);
        assert_eq!(c.max_broker_partitions, Some(7));
        assert_eq!(
            run(&[], &[]).max_broker_partitions,
            None,
            "derived at start-up"
        );
        assert!(error(&["--cluster-id", ""], &[]).contains("cluster_id"));
        // clap rejects what does not parse, naming the flag.
        assert!(error(&["--node-id", "x"], &[]).contains("--node-id"));
    }

    #[test]
    fn observability_settings() {
        let c = run(
            &["--metrics-listen", "0.0.0.0:9644"],
            &[("GREGOR_LOG_FORMAT", "json")],
        );
        assert_eq!(c.metrics_listen.as_deref(), Some("0.0.0.0:9644"));
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(run(&[], &[]).metrics_listen, None);
        assert_eq!(run(&[], &[]).log_format, LogFormat::Text);
        for bad in ["9644", ":9644", "localhost:http", "localhost:70000"] {
            assert!(
                error(&["--metrics-listen", bad], &[]).contains("metrics_listen"),
                "{bad}"
            );
        }
        assert!(error(&["--log-format", "xml"], &[]).contains("--log-format"));
    }

    #[test]
    fn fsync_policy_text() {
        assert_eq!("always".parse(), Ok(FsyncPolicy::Always));
        assert_eq!("never".parse(), Ok(FsyncPolicy::Never));
        assert_eq!("interval:100".parse(), Ok(FsyncPolicy::Interval(100)));
        for bad in [
            "interval:0",
            "interval:",
            "interval:-1",
            "sometimes",
            "Always",
        ] {
            assert!(bad.parse::<FsyncPolicy>().is_err(), "{bad}");
        }
        assert_eq!(
            run(&["--fsync", "interval:5"], &[]).fsync,
            FsyncPolicy::Interval(5)
        );
    }

    #[test]
    fn print_config_round_trips() {
        let args = [
            "--print-config",
            "--fsync",
            "interval:20",
            "--cluster-id",
            "abc",
            "--storage",
            "memory",
        ];
        let Ok(LoadOutcome::PrintConfig(c)) = load(&args, &[]) else {
            panic!("expected PrintConfig")
        };
        let text = c.to_toml().unwrap();
        assert!(text.contains("fsync = \"interval:20\""), "{text}");
        let f = file(&text);
        assert_eq!(run(&["--config", f.path().to_str().unwrap()], &[]), c);
    }

    #[test]
    fn help_and_version_are_clap_exits() {
        for flag in ["--help", "--version"] {
            match load(&[flag], &[]) {
                Err(ConfigError::Cli(e)) => assert_eq!(e.exit_code(), 0),
                other => panic!("{flag}: {other:?}"),
            }
        }
        match load(&["--no-such-flag"], &[]) {
            Err(ConfigError::Cli(e)) => assert_eq!(e.exit_code(), 2),
            other => panic!("{other:?}"),
        }
    }

    /// SETTINGS, Config's fields and the flags must name the same settings.
    #[test]
    fn settings_table_matches_config_and_flags() {
        let config = Config {
            cluster_id: Some("x".into()),
            metrics_listen: Some("127.0.0.1:9644".into()),
            max_broker_partitions: Some(100),
            ..Config::default()
        };
        let fields: Vec<String> = toml::Table::try_from(&config)
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let mut settings: Vec<String> = SETTINGS.iter().map(|(k, _)| k.to_string()).collect();
        settings.sort();
        assert_eq!(fields, settings);
        let mut flags: Vec<String> = Cli::command()
            .get_arguments()
            .filter_map(|a| a.get_long())
            .filter(|l| !matches!(*l, "config" | "print-config" | "help" | "version"))
            .map(|l| l.replace('-', "_"))
            .collect();
        flags.sort();
        assert_eq!(flags, settings);
    }

    /// The defaults are written into the help text by hand; this keeps them true.
    #[test]
    fn help_states_the_defaults() {
        Cli::command().debug_assert();
        // Joined into one line: clap wraps long help anywhere.
        let help = Cli::command().render_long_help().to_string();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for (key, value) in toml::Table::try_from(Config::default()).unwrap() {
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Array(a) => a
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            assert!(
                help.contains(&format!("Default: {value}")) || value.is_empty(),
                "{key}: {value}"
            );
        }
    }
}
