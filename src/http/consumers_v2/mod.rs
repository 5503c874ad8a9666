//! REST Proxy v2 consumer instances: `POST /consumers/{group}` makes a named consumer inside
//! the broker; the client then subscribes (a member of the group, KIP-848: the broker's own
//! group coordinator assigns its partitions) or assigns partitions itself, reads records with
//! `GET .../records`, moves its positions, commits offsets, and deletes the instance. Every
//! step is Kafka requests through the broker's dispatch, as the rest of the gateway.
//!
//! An instance not used for `consumer.instance.timeout.ms` (5 minutes, REST Proxy's default)
//! is closed: it leaves its group and goes.

mod fetch;
mod membership;
mod positions;
pub mod routes;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tokio_util::sync::CancellationToken;

use super::content_type::Embedded;
use super::error::HttpError;
use crate::security::{Principal, Session};

/// An instance idle this long is closed (REST Proxy's `consumer.instance.timeout.ms`).
const INSTANCE_TIMEOUT: Duration = Duration::from_secs(300);
/// Most instances at once (each may hold a group membership): more get 429.
const MAX_INSTANCES: usize = 512;

pub use super::client::Tp;

/// The consumer instances of one broker's gateway.
#[derive(Default)]
pub struct Consumers {
    instances: Mutex<HashMap<(String, String), Arc<Instance>>>,
}

/// How an instance was made (`POST /consumers/{group}`).
pub struct Settings {
    pub format: Embedded,
    /// `auto.offset.reset`: earliest, else latest.
    pub earliest: bool,
    /// `auto.commit.enable`: commit what was read at each read and at close.
    pub auto_commit: bool,
}

/// One consumer instance.
pub struct Instance {
    pub group: String,
    /// Who made it (None: anonymous): its Kafka requests are that user's, and only that user
    /// may use it.
    pub owner: Option<Arc<Session>>,
    pub settings: Settings,
    pub state: tokio::sync::Mutex<State>,
    last_used: Mutex<Instant>,
    /// Cancelled when the instance is closed: its heartbeat task stops.
    closed: CancellationToken,
}

/// What an instance reads and where.
#[derive(Default)]
pub struct State {
    /// Subscribed topics (then the group assigns), or none.
    pub subscription: Vec<String>,
    /// A `topic_pattern` subscription instead: a regex the group's coordinator matches against
    /// the topic names (KIP-848's SubscribedTopicRegex, RE2 syntax, whole names).
    pub pattern: Option<String>,
    /// Partitions assigned by the client (no group membership), or none.
    pub assigned: Vec<Tp>,
    /// The group membership of a subscribed instance.
    pub member: Option<membership::Member>,
    /// The next offset to read, per partition read so far or sought.
    pub positions: BTreeMap<Tp, i64>,
    /// What auto commit last committed (a read with nothing new commits nothing); emptied by
    /// an explicit commit, which may have committed something else.
    pub auto_committed: Vec<(Tp, i64)>,
}

impl State {
    /// The positions of the partitions read now: what a commit without offsets commits.
    pub fn consumed(&self) -> Vec<(Tp, i64)> {
        let parts = self.partitions();
        self.positions
            .iter()
            .filter(|(tp, _)| parts.contains(tp))
            .map(|(tp, o)| (tp.clone(), *o))
            .collect()
    }

    /// The partitions this instance reads now.
    pub fn partitions(&self) -> Vec<Tp> {
        match &self.member {
            Some(m) => m.assignment.clone(),
            None => self.assigned.clone(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Instance {
    fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }

    fn idle_at(&self, now: Instant) -> bool {
        now.saturating_duration_since(*lock(&self.last_used)) >= INSTANCE_TIMEOUT
    }
}

impl Consumers {
    /// Make instance `name` of `group`; 409 if it exists, 429 past the limit.
    pub fn create(
        &self,
        group: &str,
        name: &str,
        owner: Option<Arc<Session>>,
        settings: Settings,
    ) -> Result<Arc<Instance>, HttpError> {
        let mut instances = lock(&self.instances);
        let key = (group.to_string(), name.to_string());
        if instances.contains_key(&key) {
            return Err(HttpError::new(
                StatusCode::CONFLICT,
                40902,
                "Consumer instance with the specified name already exists.",
            ));
        }
        if instances.len() >= MAX_INSTANCES {
            return Err(HttpError::plain(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many consumer instances (at most {MAX_INSTANCES})."),
            ));
        }
        let instance = Arc::new(Instance {
            group: group.to_string(),
            owner,
            settings,
            state: tokio::sync::Mutex::new(State::default()),
            last_used: Mutex::new(Instant::now()),
            closed: CancellationToken::new(),
        });
        instances.insert(key, instance.clone());
        Ok(instance)
    }

    /// Instance `name` of `group` (its idle clock restarted), or 404 40403; 403 40301 when
    /// `caller` is not its owner.
    pub fn get(
        &self,
        group: &str,
        name: &str,
        caller: &Option<Arc<Session>>,
    ) -> Result<Arc<Instance>, HttpError> {
        let instance = lock(&self.instances)
            .get(&(group.to_string(), name.to_string()))
            .cloned()
            .ok_or_else(not_found)?;
        owned_by(&instance, caller)?;
        instance.touch();
        Ok(instance)
    }

    /// Take instance `name` of `group` out (the caller closes it), or 404 40403; 403 40301
    /// when `caller` is not its owner.
    pub fn remove(
        &self,
        group: &str,
        name: &str,
        caller: &Option<Arc<Session>>,
    ) -> Result<Arc<Instance>, HttpError> {
        let mut instances = lock(&self.instances);
        let key = (group.to_string(), name.to_string());
        owned_by(instances.get(&key).ok_or_else(not_found)?, caller)?;
        let instance = instances.remove(&key).ok_or_else(not_found)?;
        instance.closed.cancel();
        Ok(instance)
    }

    /// Take out the instances idle past the timeout at `now` (the caller closes them).
    pub fn take_idle(&self, now: Instant) -> Vec<Arc<Instance>> {
        let mut instances = lock(&self.instances);
        let idle: Vec<_> = instances
            .iter()
            .filter(|(_, i)| i.idle_at(now))
            .map(|(k, _)| k.clone())
            .collect();
        idle.iter()
            .filter_map(|k| instances.remove(k))
            .inspect(|i| i.closed.cancel())
            .collect()
    }
}

fn principal(session: &Option<Arc<Session>>) -> Principal {
    session
        .as_ref()
        .map_or_else(Principal::anonymous, |s| s.principal.clone())
}

/// An instance is its maker's alone (REST Proxy keeps instances per authenticated user).
fn owned_by(instance: &Instance, caller: &Option<Arc<Session>>) -> Result<(), HttpError> {
    if principal(&instance.owner) == principal(caller) {
        return Ok(());
    }
    Err(HttpError::new(
        StatusCode::FORBIDDEN,
        40301,
        "The consumer instance belongs to another user.",
    ))
}

fn not_found() -> HttpError {
    HttpError::new(StatusCode::NOT_FOUND, 40403, "Consumer instance not found.")
}

/// 422 42204: a setting or subscription REST Proxy refuses.
fn invalid_config(message: impl std::fmt::Display) -> HttpError {
    HttpError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        42204,
        format!("Invalid consumer configuration: {message}"),
    )
}

/// 409 40903: the instance cannot do that in its state (REST Proxy's illegal state).
fn illegal_state(message: &str) -> HttpError {
    HttpError::new(
        StatusCode::CONFLICT,
        40903,
        format!("Illegal state: {message}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            format: Embedded::Binary,
            earliest: true,
            auto_commit: false,
        }
    }

    #[test]
    fn instances_are_named_per_group_and_go_when_removed() {
        let c = Consumers::default();
        c.create("g", "a", None, settings()).unwrap();
        c.create("h", "a", None, settings()).unwrap();
        let again = c.create("g", "a", None, settings()).err().unwrap();
        assert_eq!((again.status, again.code), (StatusCode::CONFLICT, 40902));
        assert_eq!(c.get("g", "a", &None).unwrap().group, "g");
        let removed = c.remove("g", "a", &None).unwrap();
        assert!(removed.closed.is_cancelled());
        assert_eq!(c.get("g", "a", &None).err().unwrap().code, 40403);
        assert_eq!(c.remove("g", "a", &None).err().unwrap().code, 40403);
        assert!(c.take_idle(Instant::now()).is_empty());
        let later = Instant::now() + INSTANCE_TIMEOUT;
        assert_eq!(c.take_idle(later).len(), 1);
        assert_eq!(c.get("h", "a", &None).err().unwrap().code, 40403);
    }
}
