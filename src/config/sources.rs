//! Where settings come from: `Config::load` merges the TOML file, the `GREGOR_*` environment
//! (typed by the `SETTINGS` table) and the flags, in rising order of precedence.

use std::path::{Path, PathBuf};

use clap::Parser;

use super::flags::Cli;
use super::{invalid, Config, ConfigError, LoadOutcome};

/// How an environment variable's text becomes a TOML value.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    List,
    Bool,
    Int,
    Str,
}

/// Every setting, by its file key. A unit test keeps it in step with [`Config`]'s fields.
pub(super) const SETTINGS: &[(&str, Kind)] = &[
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
    ("group_max_size", Kind::Int),
    ("group_consumer_max_size", Kind::Int),
    ("group_share_max_size", Kind::Int),
    ("group_share_max_share_sessions", Kind::Int),
    ("offsets_retention_minutes", Kind::Int),
    ("dlq_topic_name_prefix", Kind::Str),
    ("dlq_auto_create_topics", Kind::Bool),
    ("transaction_max_timeout_ms", Kind::Int),
    ("transactional_id_expiration_ms", Kind::Int),
    ("producer_id_expiration_ms", Kind::Int),
    ("log", Kind::Str),
    ("log_format", Kind::Str),
    ("http_listen", Kind::Str),
    ("metrics_listen", Kind::Str),
    ("mqtt_listen", Kind::Str),
    ("mqtt_tls_listen", Kind::Str),
    ("mqtt_allow_anonymous", Kind::Bool),
    ("http_allow_anonymous", Kind::Bool),
    ("https_listen", Kind::Str),
    ("mqtt_topic_map", Kind::List),
    ("mqtt_max_packet_bytes", Kind::Int),
    ("mqtt_max_inflight", Kind::Int),
    ("authorizer", Kind::Str),
    ("super_user", Kind::List),
    ("allow_everyone_if_no_acl_found", Kind::Bool),
    ("listener_security_protocol", Kind::List),
    ("ssl_cert", Kind::Str),
    ("ssl_key", Kind::Str),
    ("ssl_client_ca", Kind::Str),
    ("sasl_mechanisms", Kind::List),
    ("user", Kind::List),
    ("oauth_jwks", Kind::Str),
    ("oauth_expected_issuer", Kind::Str),
    ("oauth_expected_audience", Kind::List),
    ("oauth_allow_unverified_issuer", Kind::Bool),
    ("oauth_allow_unverified_audience", Kind::Bool),
    ("oauth_clock_skew_seconds", Kind::Int),
    ("oauth_sub_claim_name", Kind::Str),
    ("oauth_scope_claim_name", Kind::Str),
    ("connections_max_reauth_ms", Kind::Int),
    ("delegation_token_secret_key", Kind::Str),
    ("delegation_token_max_lifetime_ms", Kind::Int),
    ("delegation_token_expiry_time_ms", Kind::Int),
    ("delegation_token_expiry_check_interval_ms", Kind::Int),
    ("broker_session_timeout_ms", Kind::Int),
    ("max_incremental_fetch_session_cache_slots", Kind::Int),
    ("client_telemetry", Kind::Bool),
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
