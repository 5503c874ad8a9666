//! What one client connection holds across its requests: its throttle (client quotas) and
//! the share sessions opened through it. Kafka ties a share session to the connection that
//! opened it (`ShareSessionCache`'s disconnect listener): when the connection closes, the
//! session ends and the member's acquired records are released at once, not when their
//! locks run out or the member's session times out.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::quota::Throttle;
use crate::shares::Shares;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub struct Connection {
    id: u64,
    throttle: Arc<Throttle>,
    shares: Weak<Shares>,
    /// (group, member) of the share sessions opened here and not closed.
    share_sessions: Mutex<BTreeSet<(String, String)>>,
    /// The client software's (name, version) its ApiVersions (v3+) named (client telemetry
    /// matches on them).
    software: Mutex<(String, String)>,
}

impl Connection {
    pub fn new(shares: &Arc<Shares>) -> Self {
        Self::with_shares(Arc::downgrade(shares))
    }

    /// A connection of no client (the HTTP gateway's in-broker requests): nothing to end.
    pub fn detached() -> Self {
        Self::with_shares(Weak::new())
    }

    fn with_shares(shares: Weak<Shares>) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            throttle: Arc::default(),
            shares,
            share_sessions: Mutex::default(),
            software: Mutex::default(),
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn throttle(&self) -> &Arc<Throttle> {
        &self.throttle
    }

    pub fn set_software(&self, name: &str, version: &str) {
        *self.software.lock().unwrap_or_else(|e| e.into_inner()) =
            (name.to_string(), version.to_string());
    }

    /// (name, version) of the client software, empty when it did not say.
    pub fn software(&self) -> (String, String) {
        self.software
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A share session was opened (`open`) or closed through this connection.
    pub fn share_session(&self, group: &str, member: &str, open: bool) {
        let mut sessions = self
            .share_sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let key = (group.to_string(), member.to_string());
        if open {
            sessions.insert(key);
        } else {
            sessions.remove(&key);
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let Some(shares) = self.shares.upgrade() else {
            return;
        };
        let sessions = self
            .share_sessions
            .get_mut()
            .unwrap_or_else(|e| e.into_inner());
        for (group, member) in std::mem::take(sessions) {
            shares.connection_closed(group, member, self.id);
        }
    }
}
