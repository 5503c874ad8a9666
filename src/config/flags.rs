//! The command-line flags (`Cli`, parsed by clap); their doc comments are the user
//! documentation, shown by `gregor --help`.

use std::path::PathBuf;

use clap::Parser;
use serde::Serialize;

use super::{AuthorizerKind, FsyncPolicy, LogFormat, StorageKind};

const EXAMPLES: &str = "\
Examples:
  gregor --storage memory --listen 127.0.0.1:0 --topic orders:3
  gregor --listen INTERNAL://0.0.0.0:29092 --advertised-listener INTERNAL://kafka:29092 \\
         --listener-security-protocol INTERNAL:PLAINTEXT \\
         --listen PLAINTEXT://0.0.0.0:9092 --advertised-listener PLAINTEXT://localhost:9092
  GREGOR_FSYNC=interval:100 gregor --print-config

Admin commands against a running broker (gregor or Kafka), see their --help:
  gregor topics create|list|describe|delete --bootstrap-server HOST:PORT ...
  gregor groups list|describe --bootstrap-server HOST:PORT ...
  gregor health --metrics-address HOST:PORT     (GET /health of an --http-listen)";

/// A Kafka-wire-compatible message broker.
///
/// Every setting can also come from a TOML file (--config) under its flag's name with '_' for
/// '-' (data_dir = "/srv/gregor"), or from the environment variable GREGOR_ + that name in
/// upper case (GREGOR_DATA_DIR=/srv/gregor). Flags win over the environment, the environment
/// over the file. Lists in the environment are comma-separated, booleans are true or false.
/// Unknown keys in the file and unknown GREGOR_* variables are errors.
#[derive(Debug, Parser, Serialize)]
#[command(name = "gregor", version, max_term_width = 100, after_long_help = EXAMPLES)]
pub(super) struct Cli {
    /// Read settings from this TOML file (also GREGOR_CONFIG).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub(super) config: Option<PathBuf>,

    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    #[serde(skip)]
    pub(super) print_config: bool,

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

    /// Where data lives: disk, memory, or postgres://USER[:PASS]@HOST[:PORT][,HOST2[:PORT2]...]/DB[?target_session_attrs=read-write&sslmode=verify-full&sslrootcert=CA.pem&...]
    /// (cluster mode: every broker given the same database is a member of one cluster; the
    /// data directory then holds only a cache and the node id; TLS to it as libpq's sslmode
    /// says, prefer by default). Default: disk.
    #[arg(long, value_name = "disk|memory|URL")]
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

    /// This broker's id (Kafka's node.id), distinct per broker of a cluster. Default: 1; in
    /// cluster mode one from the database's sequence, kept in the data directory.
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

    /// Members a classic group may have (Kafka's group.max.size): a JoinGroup that would go
    /// beyond is answered GROUP_MAX_SIZE_REACHED. At least 1. Default: 2147483647.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    group_max_size: Option<i32>,

    /// Members a consumer group (KIP-848, group.protocol=consumer) may have (Kafka's
    /// group.consumer.max.size): a new member beyond is answered GROUP_MAX_SIZE_REACHED; classic
    /// members in a consumer group count too. At least 1. Default: 2147483647.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    group_consumer_max_size: Option<i32>,

    /// Members a share group (KIP-932) may have (Kafka's group.share.max.size): a new member
    /// beyond is answered GROUP_MAX_SIZE_REACHED. 1 to 1000. Default: 200.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    group_share_max_size: Option<i32>,

    /// Share sessions this broker keeps at once (Kafka's group.share.max.share.sessions): a
    /// ShareFetch opening one more is answered SHARE_SESSION_LIMIT_REACHED. A session ends
    /// with its member's final fetch, its connection or its membership. At least 1.
    /// Default: 2000.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    group_share_max_share_sessions: Option<i32>,

    /// How long committed offsets of a group without members are kept (Kafka's
    /// offsets.retention.minutes). Default: 10080.
    #[arg(long, value_name = "MINUTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    offsets_retention_minutes: Option<u64>,

    /// The prefix a share group's dead-letter topic must have (Kafka's
    /// errors.deadletterqueue.topic.name.prefix). Default: dlq. ("" allows any name)
    #[arg(long, value_name = "PREFIX")]
    #[serde(skip_serializing_if = "Option::is_none")]
    dlq_topic_name_prefix: Option<String>,

    /// Create a share group's missing dead-letter topic when a record first goes there
    /// (Kafka's errors.deadletterqueue.auto.create.topics.enable). Default: false.
    #[arg(long, value_name = "true|false")]
    #[serde(skip_serializing_if = "Option::is_none")]
    dlq_auto_create_topics: Option<bool>,

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

    /// Incremental fetch sessions (KIP-227) kept at once, over all clients (Kafka's
    /// max.incremental.fetch.session.cache.slots). A full cache makes room by evicting a
    /// session idle for 2 minutes, or a smaller one; 0: no sessions (every fetch is answered
    /// in full). Default: 1000.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    max_incremental_fetch_session_cache_slots: Option<usize>,

    /// Client telemetry (KIP-714): advertise and serve GetTelemetrySubscriptions and
    /// PushTelemetry, and show the metrics clients push on /metrics (as Kafka with a
    /// client-telemetry metrics reporter). Subscriptions are CLIENT_METRICS config resources.
    /// Default: false (clients see neither API, as with Kafka without a reporter).
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    client_telemetry: bool,

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

    /// Serve HTTP on HOST:PORT: Prometheus metrics (GET /metrics), a health check (GET
    /// /health, 200 "ok" once every listener accepts clients), the REST Proxy API (v2
    /// produce, v3 admin) and its OpenAPI document (GET /openapi.json). Default: off.
    #[arg(long, value_name = "HOST:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    http_listen: Option<String>,

    /// The same as --http-listen (its older name); give one of the two.
    #[arg(long, value_name = "HOST:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    metrics_listen: Option<String>,

    /// Serve the same HTTP endpoints over TLS (HTTPS) on HOST:PORT, with the SSL listeners'
    /// --ssl-cert and --ssl-key (no client certificate asked: REST API callers authenticate
    /// with HTTP Basic). Default: off.
    #[arg(long, value_name = "HOST:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    https_listen: Option<String>,

    /// Let HTTP requests without credentials in (as User:ANONYMOUS) even when the broker has
    /// users. Without it, REST API requests must carry HTTP Basic credentials (a user's name
    /// and password, checked as MQTT's are) while the broker has users, and get 401 otherwise;
    /// /metrics, /health and /openapi.json never ask. Default: false.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    http_allow_anonymous: bool,

    /// Serve MQTT 3.1.1 and 5 (TCP) on HOST:PORT: MQTT clients publish to and subscribe on
    /// the broker's topics (README, "MQTT"). Default: off.
    #[arg(long, value_name = "HOST:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    mqtt_listen: Option<String>,

    /// Serve MQTT over TLS on HOST:PORT (MQTT's 8883), with the SSL listeners' --ssl-cert and
    /// --ssl-key; with --ssl-client-ca clients must present a certificate, whose subject is
    /// their principal as on a Kafka SSL listener. Default: off.
    #[arg(long, value_name = "HOST:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    mqtt_tls_listen: Option<String>,

    /// Let MQTT clients connect without a user name (as User:ANONYMOUS) even when the broker
    /// has users (Mosquitto's allow_anonymous). Without it, anonymous MQTT clients are let in
    /// only while the broker has no users at all, and refused with "not authorized"
    /// otherwise. A user name and password, when sent, are always checked. Default: false.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    mqtt_allow_anonymous: bool,

    /// A rule from MQTT topics to a Kafka topic, FILTER=KAFKA_TOPIC (e.g. 'sensors/#=sensors');
    /// repeatable, the first matching rule wins. A topic no rule matches goes to the Kafka
    /// topic named after its first level (a/b/c → a; characters Kafka does not allow become
    /// _). Default: no rules.
    #[arg(long, value_name = "FILTER=TOPIC")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mqtt_topic_map: Vec<String>,

    /// Largest MQTT packet a client may send, in bytes; a larger one closes its connection.
    /// Default: 1048588 (Kafka's message.max.bytes).
    #[arg(long, value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    mqtt_max_packet_bytes: Option<u64>,

    /// QoS 1/2 messages sent to an MQTT client and not yet acknowledged, at most (less if
    /// the client's MQTT 5 receive maximum is smaller). Default: 32.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    mqtt_max_inflight: Option<u64>,

    /// Who decides what a client may do (Kafka's authorizer.class.name): none allows
    /// everything; acl checks every request against the ACLs that CreateAcls/DeleteAcls
    /// (kafka-acls.sh) manage, kept in the metadata store, with Kafka's StandardAuthorizer
    /// rules. Default: none.
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    authorizer: Option<AuthorizerKind>,

    /// A principal allowed everything whatever the ACLs say (Kafka's super.users), User:NAME
    /// or a bare NAME for User:NAME; repeatable.
    #[arg(long, value_name = "NAME")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    super_user: Vec<String>,

    /// With --authorizer acl, allow an operation on a resource that no ACL names at all
    /// (Kafka's allow.everyone.if.no.acl.found). Default: false.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    allow_everyone_if_no_acl_found: bool,
    /// The security protocol of the listener NAME (Kafka's listener.security.protocol.map):
    /// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL; repeatable. Listeners named after a
    /// protocol use it without an entry here.
    #[arg(long, value_name = "NAME:PROTOCOL")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    listener_security_protocol: Vec<String>,

    /// PEM certificate (a chain allowed, the server's first) of the SSL and SASL_SSL
    /// listeners. Reloaded, with --ssl-key and --ssl-client-ca, on SIGHUP.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    ssl_cert: Option<PathBuf>,

    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of --ssl-cert.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    ssl_key: Option<PathBuf>,

    /// PEM CA certificates: TLS listeners then require a client certificate signed by one of
    /// them (mutual TLS; Kafka's ssl.client.auth=required). On an SSL listener the principal
    /// is the certificate's subject, User:CN=...,OU=...,O=... as Kafka writes it.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    ssl_client_ca: Option<PathBuf>,

    /// SASL mechanisms that SASL listeners offer (Kafka's sasl.enabled.mechanisms),
    /// comma-separated, of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER (which needs
    /// --oauth-jwks). Default: PLAIN,SCRAM-SHA-256,SCRAM-SHA-512.
    #[arg(long, value_name = "MECHANISMS", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sasl_mechanisms: Vec<String>,

    /// A SASL user, NAME:PASSWORD; repeatable. At start-up a user without credentials gets
    /// its SCRAM-SHA-256 and SCRAM-SHA-512 credentials (4096 iterations) and its PLAIN
    /// password, all stored salted and hashed in the metadata store (as kafka-storage format
    /// --add-scram does); a user who has them keeps them (change them with kafka-configs
    /// --alter --entity-type users or gregor users).
    #[arg(long, value_name = "NAME:PASSWORD")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    user: Vec<String>,

    /// OAUTHBEARER: a JWKS file (RFC 7517, as an identity provider publishes at its jwks_uri)
    /// with the public keys that sign the tokens (RS256/384/512, PS256/384/512, ES256, ES384,
    /// EdDSA); chosen by the token's kid. Reloaded on SIGHUP. Kafka's
    /// sasl.oauthbearer.jwks.endpoint.url with a file: URL.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    oauth_jwks: Option<PathBuf>,

    /// OAUTHBEARER: the issuer (iss claim) every token must name exactly (Kafka's
    /// sasl.oauthbearer.expected.issuer). Needed unless --oauth-allow-unverified-issuer.
    #[arg(long, value_name = "ISSUER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    oauth_expected_issuer: Option<String>,

    /// OAUTHBEARER: an audience identifying this cluster; a token's aud claim must hold one
    /// of them (Kafka's sasl.oauthbearer.expected.audience); repeatable or comma-separated.
    /// Needed unless --oauth-allow-unverified-audience.
    #[arg(long, value_name = "AUDIENCE", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    oauth_expected_audience: Vec<String>,

    /// OAUTHBEARER without --oauth-expected-issuer: accept tokens of any issuer (Kafka's
    /// sasl.oauthbearer.allow.unverified.issuer). Default: false.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    oauth_allow_unverified_issuer: bool,

    /// OAUTHBEARER without --oauth-expected-audience: accept tokens for any audience
    /// (Kafka's sasl.oauthbearer.allow.unverified.audience). Default: false.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    oauth_allow_unverified_audience: bool,

    /// OAUTHBEARER: how far the identity provider's clock may be from the broker's when
    /// checking exp and nbf (Kafka's sasl.oauthbearer.clock.skew.seconds). Default: 30.
    #[arg(long, value_name = "SECONDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    oauth_clock_skew_seconds: Option<u64>,

    /// OAUTHBEARER: the claim that names the principal, User:<its value> (Kafka's
    /// sasl.oauthbearer.sub.claim.name). Default: sub.
    #[arg(long, value_name = "CLAIM")]
    #[serde(skip_serializing_if = "Option::is_none")]
    oauth_sub_claim_name: Option<String>,

    /// OAUTHBEARER: the claim holding the token's scopes, checked to be well formed (Kafka's
    /// sasl.oauthbearer.scope.claim.name). Default: scope.
    #[arg(long, value_name = "CLAIM")]
    #[serde(skip_serializing_if = "Option::is_none")]
    oauth_scope_claim_name: Option<String>,

    /// Longest a SASL session lasts (Kafka's connections.max.reauth.ms, KIP-368): a client
    /// is told its session lifetime when it authenticates (the least of this and an
    /// OAUTHBEARER token's remaining life) and must re-authenticate on the same connection
    /// (SaslHandshake + SaslAuthenticate, same mechanism and principal) before it ends; after
    /// that any other request closes the connection. 0: no limit (an OAUTHBEARER session
    /// still ends with its token, as in Kafka). Default: 0.
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    connections_max_reauth_ms: Option<u64>,

    /// Enables delegation tokens (CreateDelegationToken and the others; SCRAM with
    /// tokenauth=true): the key of their HMACs (HmacSHA512 of the token id), the same on
    /// every broker (Kafka's delegation.token.secret.key). Never printed. Default: none
    /// (DELEGATION_TOKEN_AUTH_DISABLED).
    #[arg(long, value_name = "SECRET")]
    #[serde(skip_serializing_if = "Option::is_none")]
    delegation_token_secret_key: Option<String>,

    /// Longest a delegation token lives, renewals included (Kafka's
    /// delegation.token.max.lifetime.ms). Default: 604800000 (7 days).
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    delegation_token_max_lifetime_ms: Option<u64>,

    /// A delegation token's life from its creation or renewal when the renewal names no
    /// shorter one (Kafka's delegation.token.expiry.time.ms). Default: 86400000 (1 day).
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    delegation_token_expiry_time_ms: Option<u64>,

    /// How often expired delegation tokens are removed (Kafka's
    /// delegation.token.expiry.check.interval.ms). Default: 3600000 (1 hour).
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    delegation_token_expiry_check_interval_ms: Option<u64>,

    /// Cluster mode: how long a broker's lease lasts without a heartbeat (Kafka's
    /// broker.session.timeout.ms). Other brokers take its partitions (and, if it coordinated,
    /// the groups and transactions) over this long after it died or lost the database.
    /// Default: 9000.
    #[arg(long, value_name = "MS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    broker_session_timeout_ms: Option<u64>,
}
