//! Admin subcommands: `gregor topics create|list|describe|delete`,
//! `gregor groups list|describe` and `gregor users add|delete|list`. They speak the Kafka protocol to any broker (gregor or
//! Kafka) given by `--bootstrap-server`, so an init container needs nothing but the gregor
//! image:
//!
//! ```text
//! gregor topics create --bootstrap-server kafka:29092 --topic loms.order-events \
//!        --partitions 2 --replication-factor 1 --if-not-exists
//! ```
//!
//! Output follows kafka-topics / kafka-consumer-groups. Every command takes a Kafka client's
//! security settings (`--security-protocol`, `--sasl-*`, `--ssl-*`, or a properties file
//! with `--command-config`): TLS and SASL PLAIN / SCRAM. Errors are one line on stderr
//! (`gregor: ...`) with exit status 1; usage errors exit 2.
//!
//! `gregor health` asks a broker's HTTP listener (`--http-listen`) for GET /health, for
//! container healthchecks.
//!
//! `main.rs` sends here when the first argument is `topics`, `groups`, `users` or `health`; every other
//! command line is the broker's, parsed by [`crate::config`] as before.
//!
//! This module holds the command line (clap) and what runs each command; `topics`, `groups`
//! and `users` the requests and output of their subcommands, `client` the Kafka client
//! (`transport`: TCP and TLS, `sasl` and `scram`: authentication), `security` and
//! `properties` the security settings, `health` the GET /health probe.

mod client;
mod groups;
mod health;
mod properties;
mod sasl;
mod scram;
mod security;
mod topics;
mod transport;
mod users;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use kafka_protocol::messages::ListGroupsRequest;
use kafka_protocol::protocol::StrBytes;

use groups::groups_describe;
use security::SecurityArgs;
use topics::{metadata, topics_create, topics_delete, topics_describe};
use users::{parse_mechanisms, users_add, users_delete, users_list};

pub use client::{Client, ClientError, Options};

/// The first arguments that select an admin subcommand instead of the broker.
pub const SUBCOMMANDS: [&str; 4] = ["topics", "groups", "users", "health"];

/// True when `args` (with the program name first) is an admin command line.
pub fn is_admin_command(args: &[String]) -> bool {
    args.get(1)
        .is_some_and(|a| SUBCOMMANDS.contains(&a.as_str()))
}

/// gregor's admin commands: topics and consumer groups of a running broker (gregor or Apache
/// Kafka), over the Kafka protocol.
#[derive(Debug, Parser)]
#[command(name = "gregor", max_term_width = 100)]
struct AdminCli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, list, describe and delete topics (like kafka-topics).
    Topics {
        #[command(subcommand)]
        command: TopicsCommand,
    },
    /// List and describe consumer groups (like kafka-consumer-groups).
    Groups {
        #[command(subcommand)]
        command: GroupsCommand,
    },
    /// Add, delete and list users' SCRAM credentials (like kafka-configs --entity-type users).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Ask a broker's HTTP listener (--http-listen) whether it is healthy (GET /health);
    /// exit 0 when it answers 200.
    Health {
        /// The broker's --http-listen (or --metrics-listen) address, HOST:PORT.
        #[arg(long, value_name = "HOST:PORT", default_value = "localhost:9644")]
        metrics_address: String,
        /// Seconds to wait for the answer.
        #[arg(long, value_name = "SECONDS", default_value_t = 5)]
        timeout: u64,
    },
}

#[derive(Debug, Args)]
struct Conn {
    /// Broker to talk to, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", default_value = "localhost:9092")]
    bootstrap_server: String,

    /// Seconds to wait for the connection and for each response.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,

    #[command(flatten)]
    security: SecurityArgs,
}

#[derive(Debug, Subcommand)]
enum TopicsCommand {
    /// Create a topic.
    Create {
        #[command(flatten)]
        conn: Conn,
        /// Topic name.
        #[arg(long)]
        topic: String,
        /// Partitions (default: the broker's num.partitions).
        #[arg(long, value_name = "N")]
        partitions: Option<i32>,
        /// Replication factor (default: the broker's; gregor supports 1).
        #[arg(long, value_name = "N")]
        replication_factor: Option<i16>,
        /// Topic config KEY=VALUE (e.g. retention.ms=86400000); repeatable.
        #[arg(long, value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// Succeed (exit 0) when the topic already exists.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// List topic names, one a line.
    List {
        #[command(flatten)]
        conn: Conn,
    },
    /// Show partitions, leaders and replicas of topics (all when no --topic is given).
    Describe {
        #[command(flatten)]
        conn: Conn,
        /// Topic to describe; repeatable.
        #[arg(long)]
        topic: Vec<String>,
    },
    /// Delete a topic.
    Delete {
        #[command(flatten)]
        conn: Conn,
        /// Topic name.
        #[arg(long)]
        topic: String,
        /// Succeed (exit 0) when the topic does not exist.
        #[arg(long)]
        if_exists: bool,
    },
}

#[derive(Debug, Subcommand)]
enum GroupsCommand {
    /// List consumer group ids, one a line.
    List {
        #[command(flatten)]
        conn: Conn,
    },
    /// Show a group's state, members, assignments, committed offsets and lag.
    Describe {
        #[command(flatten)]
        conn: Conn,
        /// Group id.
        #[arg(long)]
        group: String,
    },
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Set a user's SCRAM credentials from a password (the salted password is computed
    /// here, as kafka-configs does; the password is not sent).
    Add {
        #[command(flatten)]
        conn: Conn,
        /// User name.
        name: String,
        #[arg(long)]
        password: String,
        /// SCRAM-SHA-256, SCRAM-SHA-512 or both.
        #[arg(long, value_name = "MECHANISM", default_value = "both")]
        mechanism: String,
        /// PBKDF2 iterations (4096 to 16384, as Kafka accepts).
        #[arg(long, value_name = "N", default_value_t = 4096)]
        iterations: u32,
    },
    /// Delete a user's SCRAM credentials (every mechanism it has, unless --mechanism says).
    Delete {
        #[command(flatten)]
        conn: Conn,
        /// User name.
        name: String,
        /// SCRAM-SHA-256, SCRAM-SHA-512 or both.
        #[arg(long, value_name = "MECHANISM")]
        mechanism: Option<String>,
    },
    /// List users with SCRAM credentials, one a line: NAME, a tab, MECHANISM=iterations=N,...
    List {
        #[command(flatten)]
        conn: Conn,
        /// Users to show (default: all).
        names: Vec<String>,
    },
}

/// A failure to report: one line, exit status 1.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Msg(String),
}

/// Runs an admin command line (`args[0]` is the program name) and returns the exit status.
pub fn main(args: Vec<String>) -> ExitCode {
    let cli = match AdminCli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gregor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = String::new();
    let result = runtime.block_on(run(cli.command, &mut out));
    print!("{out}");
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gregor: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn connect(conn: &Conn) -> Result<Client, CliError> {
    let security = conn.security.resolve().map_err(CliError::Msg)?;
    let options = Options {
        timeout: Duration::from_secs(conn.timeout.max(1)),
        security: std::sync::Arc::new(security),
    };
    Ok(Client::connect(&conn.bootstrap_server, &options).await?)
}

async fn run(command: Command, out: &mut String) -> Result<(), CliError> {
    match command {
        Command::Topics { command } => match command {
            TopicsCommand::Create {
                conn,
                topic,
                partitions,
                replication_factor,
                config,
                if_not_exists,
            } => {
                let configs = config
                    .iter()
                    .map(|kv| match kv.split_once('=') {
                        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
                        _ => Err(CliError::Msg(format!(
                            "--config {kv:?}: want KEY=VALUE (e.g. retention.ms=86400000)"
                        ))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let mut c = connect(&conn).await?;
                topics_create(
                    &mut c,
                    &topic,
                    partitions,
                    replication_factor,
                    &configs,
                    if_not_exists,
                    out,
                )
                .await
            }
            TopicsCommand::List { conn } => {
                let mut c = connect(&conn).await?;
                let md = metadata(&mut c, None).await?;
                let mut names: Vec<&str> = md
                    .topics
                    .iter()
                    .filter_map(|t| t.name.as_ref().map(|n| n.0.as_str()))
                    .collect();
                names.sort_unstable();
                for n in names {
                    out.push_str(n);
                    out.push('\n');
                }
                Ok(())
            }
            TopicsCommand::Describe { conn, topic } => {
                let mut c = connect(&conn).await?;
                topics_describe(&mut c, &topic, out).await
            }
            TopicsCommand::Delete {
                conn,
                topic,
                if_exists,
            } => {
                let mut c = connect(&conn).await?;
                topics_delete(&mut c, &topic, if_exists, out).await
            }
        },
        Command::Groups { command } => match command {
            GroupsCommand::List { conn } => {
                let mut c = connect(&conn).await?;
                let v = c.version::<ListGroupsRequest>("ListGroups", 4)?;
                let resp = c.send(&ListGroupsRequest::default(), v).await?;
                check(resp.error_code, "ListGroups")?;
                let mut ids: Vec<&str> =
                    resp.groups.iter().map(|g| g.group_id.0.as_str()).collect();
                ids.sort_unstable();
                for id in ids {
                    out.push_str(id);
                    out.push('\n');
                }
                Ok(())
            }
            GroupsCommand::Describe { conn, group } => {
                let mut c = connect(&conn).await?;
                groups_describe(&mut c, &group, out).await
            }
        },
        Command::Users { command } => match command {
            UsersCommand::Add {
                conn,
                name,
                password,
                mechanism,
                iterations,
            } => {
                let mechanisms = parse_mechanisms(&mechanism)
                    .map_err(|e| CliError::Msg(format!("--mechanism {e}")))?;
                let mut c = connect(&conn).await?;
                users_add(&mut c, &name, &password, &mechanisms, iterations, out).await
            }
            UsersCommand::Delete {
                conn,
                name,
                mechanism,
            } => {
                let mechanisms = parse_mechanisms(mechanism.as_deref().unwrap_or("both"))
                    .map_err(|e| CliError::Msg(format!("--mechanism {e}")))?;
                let mut c = connect(&conn).await?;
                users_delete(&mut c, &name, &mechanisms, mechanism.is_none(), out).await
            }
            UsersCommand::List { conn, names } => {
                let mut c = connect(&conn).await?;
                users_list(&mut c, &names, out).await
            }
        },
        Command::Health {
            metrics_address,
            timeout,
        } => {
            let body = health::check(&metrics_address, Duration::from_secs(timeout.max(1)))
                .await
                .map_err(CliError::Msg)?;
            out.push_str(&body);
            out.push('\n');
            Ok(())
        }
    }
}

/// Kafka's name of an error code: TOPIC_ALREADY_EXISTS for 36.
pub fn error_name(code: i16) -> String {
    match kafka_protocol::ResponseError::try_from_code(code) {
        None => "NONE".into(),
        Some(kafka_protocol::ResponseError::Unknown(c)) => format!("error code {c}"),
        Some(e) => {
            let mut s = String::new();
            for (i, ch) in format!("{e:?}").chars().enumerate() {
                if ch.is_ascii_uppercase() && i > 0 {
                    s.push('_');
                }
                s.push(ch.to_ascii_uppercase());
            }
            s
        }
    }
}

fn check(code: i16, what: &str) -> Result<(), CliError> {
    if code == 0 {
        Ok(())
    } else {
        Err(CliError::Msg(format!("{what}: {}", error_name(code))))
    }
}

fn with_message(code: i16, message: Option<&StrBytes>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!("{}: {}", error_name(code), m.as_str()),
        _ => error_name(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(0), "NONE");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
    }

    #[test]
    fn admin_command_lines_are_recognised() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(is_admin_command(&args(&["gregor", "topics", "list"])));
        assert!(is_admin_command(&args(&["gregor", "groups"])));
        assert!(is_admin_command(&args(&["gregor", "health"])));
        assert!(is_admin_command(&args(&["gregor", "users", "list"])));
        assert!(!is_admin_command(&args(&["gregor"])));
        assert!(!is_admin_command(&args(&["gregor", "--listen", "topics"])));
        assert!(!is_admin_command(&args(&["gregor", "--print-config"])));
    }

    #[test]
    fn usage_is_checked() {
        assert!(AdminCli::try_parse_from(["gregor", "topics", "create"]).is_err());
        let ok = AdminCli::try_parse_from([
            "gregor",
            "topics",
            "create",
            "--bootstrap-server=kafka:29092",
            "--topic=loms.order-events",
            "--partitions=2",
            "--replication-factor=1",
            "--if-not-exists",
        ]);
        assert!(ok.is_ok(), "{ok:?}");
        let ok = AdminCli::try_parse_from([
            "gregor",
            "users",
            "add",
            "alice",
            "--password=secret",
            "--mechanism=SCRAM-SHA-512",
            "--security-protocol=SASL_SSL",
            "--sasl-mechanism=SCRAM-SHA-512",
            "--sasl-username=admin",
            "--sasl-password=admin-secret",
            "--ssl-ca=ca.pem",
        ]);
        assert!(ok.is_ok(), "{ok:?}");
        // A client certificate needs its key.
        assert!(AdminCli::try_parse_from(["gregor", "users", "list", "--ssl-cert=c.pem"]).is_err());
        assert!(AdminCli::try_parse_from(["gregor", "users", "add", "alice"]).is_err());
    }
}
