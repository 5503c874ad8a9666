//! Cluster mode: the group coordinator's news for the share-partitions' leaders on other
//! brokers (a member left, a group's state was reset or deleted), as PostgreSQL notices on
//! [`notify::SHARES`]. Only hints, as the design has them: a notice lost to a reconnection
//! costs a released member's records their lock duration (Kafka's behaviour, which has no such
//! news), and a copy of a reset state is refused at its next write (`StateFenced`) and reloads.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Shares;
use crate::group::coordinator::ShareEvents;
use crate::pg::notify::{self, Listener};
use crate::pg::Db;

/// How long one wait for notices lasts (the thread looks whether to stop in between).
const WAIT: Duration = Duration::from_millis(500);

/// One notice's payload (JSON: group ids may hold any character).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "news", rename_all = "snake_case")]
pub enum Notice {
    MemberLeft {
        group: String,
        member: String,
    },
    ForgetGroup {
        group: String,
        topics: Option<Vec<Uuid>>,
    },
}

impl Notice {
    /// Hand the news to this broker's leader.
    pub fn apply(self, shares: &Shares) {
        match self {
            Notice::MemberLeft { group, member } => shares.member_left(&group, &member),
            Notice::ForgetGroup { group, topics } => shares.forget_group(&group, topics.as_deref()),
        }
    }
}

/// The coordinator's side: every broker's leader hears it (this one's through its own
/// listener too).
pub struct Announcer {
    db: Db,
}

impl Announcer {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    fn announce(&self, notice: &Notice) {
        let sent = serde_json::to_string(notice)
            .map_err(anyhow::Error::from)
            .and_then(|payload| notify::send(&self.db, notify::SHARES, &payload));
        if let Err(e) = sent {
            // A hint: lock expiry and the state epoch's fence stand in for it.
            tracing::warn!(error = %format!("{e:#}"), ?notice, "could not announce share group news");
        }
    }
}

impl ShareEvents for Announcer {
    fn member_left(&self, group_id: &str, member_id: &str) {
        self.announce(&Notice::MemberLeft {
            group: group_id.to_string(),
            member: member_id.to_string(),
        });
    }

    fn forget_group(&self, group_id: &str, topics: Option<&[Uuid]>) {
        self.announce(&Notice::ForgetGroup {
            group: group_id.to_string(),
            topics: topics.map(<[Uuid]>::to_vec),
        });
    }
}

/// The leaders' side: a thread (`gregor-share-news`) listening for the coordinator's news
/// and handing it to `shares`, until `stop` says so.
pub fn listen(
    db: Db,
    shares: Arc<Shares>,
    stop: impl Fn() -> bool + Send + 'static,
) -> std::io::Result<()> {
    let mut listener = Listener::new(db, notify::SHARES);
    std::thread::Builder::new()
        .name("gregor-share-news".into())
        .spawn(move || {
            while !stop() {
                for payload in listener.take(WAIT) {
                    match serde_json::from_str::<Notice>(&payload) {
                        Ok(notice) => notice.apply(&shares),
                        Err(e) => tracing::warn!(error = %e, payload, "unreadable share notice"),
                    }
                }
            }
        })
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip() {
        let notices = [
            Notice::MemberLeft {
                group: "g\t\"1".into(),
                member: "m".into(),
            },
            Notice::ForgetGroup {
                group: "g".into(),
                topics: Some(vec![Uuid::from_u128(7)]),
            },
            Notice::ForgetGroup {
                group: "g".into(),
                topics: None,
            },
        ];
        for notice in notices {
            let payload = serde_json::to_string(&notice).unwrap();
            assert_eq!(serde_json::from_str::<Notice>(&payload).unwrap(), notice);
        }
    }
}
