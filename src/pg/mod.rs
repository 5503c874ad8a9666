//! PostgreSQL, the storage of cluster mode (`--storage postgres://...`).
//!
//! gregor grows no replication protocol of its own: in cluster mode every record batch, offset
//! and piece of metadata is a row in one PostgreSQL database, whose synchronous standbys and
//! failover (Patroni, pg_auto_failover, a managed service) make it survive a node loss, and
//! every broker given that database is a member of one cluster. This module holds what the
//! store (`store::postgres`) and the log medium (`log::storage::postgres`) share: the
//! connection pool, the schema and its migrations, and this broker's node id.
//!
//! Every call here blocks (a round trip to the database), so it runs on the blocking pool or
//! a coordinator thread; [`Db::conn`] checks that.

pub mod catalog;
pub mod dead_letters;
pub mod fence;
pub mod lease;
pub mod markers;
pub mod membership;
pub mod notify;
pub mod placement;
mod schema;
#[cfg(test)]
pub mod testing;
pub mod tls;
pub mod txn_adds;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use r2d2_postgres::postgres::config::{Host, SslMode};
use r2d2_postgres::postgres::Config as PgConfig;
use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

pub use r2d2_postgres::postgres;

use crate::blocking::blocking_call;

/// A pooled connection to the cluster's database (over TLS or not, as `sslmode` says).
pub type Conn = r2d2::PooledConnection<PostgresConnectionManager<MakeRustlsConnect>>;

/// Connections kept open per broker: the group commits of several partitions, the
/// coordinators' writes and administration run at once.
const POOL_SIZE: u32 = 16;

/// The cluster's database, shared by everything one broker stores.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<PostgresConnectionManager<MakeRustlsConnect>>,
    /// The URL without its password, for logs.
    display: String,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

impl Db {
    /// Connect (the URL's hosts in turn, as libpq does with `target_session_attrs`; TLS as its
    /// `sslmode` says, see [`tls`]) and bring the schema up to date. Several brokers may do
    /// this at once.
    ///
    /// `session`: the broker session. The server ends any session of ours left idle inside a
    /// transaction longer than that (`idle_in_transaction_session_timeout`): a broker cut off
    /// mid-transaction (a partition that closes no socket) would otherwise hold its row locks,
    /// and with them the partitions another broker must take over, until TCP gives up (hours).
    pub fn open(url: &str, session: Duration) -> anyhow::Result<Db> {
        let display = redact(url);
        let (mut config, tls) = settings(url).with_context(|| format!("--storage {display}"))?;
        let options = format!(
            "{} -c idle_in_transaction_session_timeout={}",
            config.get_options().unwrap_or(""),
            session.as_millis()
        );
        config.options(options.trim());
        let manager = PostgresConnectionManager::new(config, tls);
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            // A pooled connection to a primary that died or was demoted is replaced, not
            // reused: every checkout asks the server, cheaply, whether it still answers.
            .test_on_check_out(true)
            .error_handler(Box::new(PoolErrors))
            .build(manager)
            .with_context(|| format!("connecting to {display}"))?;
        let db = Db { pool, display };
        schema::migrate(&mut *db.conn()?).with_context(|| format!("migrating {}", db.display))?;
        Ok(db)
    }

    /// A connection from the pool. Blocks: never on an async worker.
    #[track_caller]
    pub fn conn(&self) -> anyhow::Result<Conn> {
        blocking_call("a PostgreSQL round trip");
        self.pool
            .get()
            .with_context(|| format!("no connection to {}", self.display))
    }

    /// This broker's node id: `given` if set, else the one kept in `data_dir`, else a new one
    /// from the database's sequence (then kept in `data_dir`, so a restart is the same broker).
    pub fn node_id(&self, given: Option<i32>, data_dir: &Path) -> anyhow::Result<i32> {
        if let Some(id) = given {
            return Ok(id);
        }
        let file = data_dir.join("node-id");
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                return text
                    .trim()
                    .parse()
                    .with_context(|| format!("{}: not a node id", file.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
        }
        let id: i64 = self
            .conn()?
            .query_one("SELECT nextval('gregor_node_ids')", &[])?
            .get(0);
        let id = i32::try_from(id).context("node id sequence past i32")?;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let tmp = data_dir.join("node-id.tmp");
        std::fs::write(&tmp, format!("{id}\n"))?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &file)?;
        std::fs::File::open(data_dir)?.sync_all()?;
        Ok(id)
    }
}

/// The postgres crate's settings for a `--storage` URL, and the TLS connector its `ssl*`
/// parameters ask for (which the crate's parser does not all know: [`tls::split`]).
/// Reads the certificate files.
pub fn settings(url: &str) -> anyhow::Result<(PgConfig, MakeRustlsConnect)> {
    let (rest, tls) = tls::split(url)?;
    // The crate's errors name the setting, never the password.
    let mut config = PgConfig::from_str(&rest).map_err(|e| anyhow::anyhow!("{e}"))?;
    // libpq never asks for TLS on a Unix socket, whatever sslmode says; tokio-postgres would
    // ask, and with require give up when the server says no.
    let hosts = config.get_hosts();
    let unix_only = !hosts.is_empty() && hosts.iter().all(|h| matches!(h, Host::Unix(_)));
    config.ssl_mode(if unix_only {
        SslMode::Disable
    } else {
        tls.wire_mode()
    });
    Ok((config, tls.connector()?))
}

/// The pool's own connection failures (each one, while the database fails over): at debug,
/// since whoever needed the connection reports the failure that matters.
#[derive(Debug)]
struct PoolErrors;

impl r2d2::HandleError<postgres::Error> for PoolErrors {
    fn handle_error(&self, error: postgres::Error) {
        tracing::debug!(%error, "database connection failed");
    }
}

/// The URL with its password (if any) replaced, for logs and error messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user_info, hosts)) => {
            let user = user_info.split_once(':').map_or(user_info, |(u, _)| u);
            let hidden = if user_info.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{hosts}{tail}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: Duration = Duration::from_secs(9);

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://gregor:s3cret@h1:5432,h2:5433/db?target_session_attrs=read-write"),
            "postgres://gregor:***@h1:5432,h2:5433/db?target_session_attrs=read-write"
        );
        assert_eq!(redact("postgres://gregor@h/db"), "postgres://gregor@h/db");
        assert_eq!(redact("postgresql://h/db"), "postgresql://h/db");
        // A password holding '@' (percent-encoding is the rule, but do not leak it either way).
        assert_eq!(redact("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
    }

    #[test]
    fn node_ids_come_from_the_sequence_once_then_from_the_data_dir() {
        let pg = testing::database();
        let db = Db::open(&pg.url, SESSION).unwrap();
        let dir = tempfile::TempDir::new().unwrap();
        let first = db.node_id(None, dir.path()).unwrap();
        assert_eq!(db.node_id(None, dir.path()).unwrap(), first);
        let other = tempfile::TempDir::new().unwrap();
        let second = db.node_id(None, other.path()).unwrap();
        assert_ne!(first, second);
        assert_eq!(db.node_id(Some(42), dir.path()).unwrap(), 42);
    }
}
