//! The state machine under join / sync / leave / timeout / restart sequences. Each test is a
//! script of steps against a small harness that plays the driver: it hands out waiter ids,
//! collects replies, and advances a fake clock.

use super::*;

const SESSION: i32 = 10_000;
const REBALANCE: i32 = 30_000;
const DELAY: i64 = 3_000;

fn cfg() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: DELAY,
        ..GroupConfig::default()
    }
}

struct Harness {
    group: Group,
    now: i64,
    next_waiter: Waiter,
    joins: HashMap<Waiter, JoinResponse>,
    syncs: HashMap<Waiter, SyncResponse>,
    persisted: usize,
}

fn protocols(names: &[&str]) -> Vec<Protocol> {
    names
        .iter()
        .map(|n| Protocol {
            name: n.to_string(),
            metadata: Bytes::from(format!("meta-{n}")),
        })
        .collect()
}

fn request(member_id: &str, fresh: &str) -> JoinRequest {
    JoinRequest {
        member_id: member_id.into(),
        instance_id: None,
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        protocol_type: "consumer".into(),
        protocols: protocols(&["range", "roundrobin"]),
        fresh_member_id: fresh.into(),
        require_known_member_id: false,
        supports_skip_assignment: false,
    }
}

impl Harness {
    fn new() -> Self {
        Harness {
            group: Group::new("g", 0),
            now: 0,
            next_waiter: 0,
            joins: HashMap::new(),
            syncs: HashMap::new(),
            persisted: 0,
        }
    }

    fn collect(&mut self, out: Outbox) {
        self.persisted += out.persist as usize;
        for reply in out.replies {
            match reply {
                Reply::Join(w, r) => assert!(
                    self.joins.insert(w, r).is_none(),
                    "waiter {w} answered twice"
                ),
                Reply::Sync(w, r) => assert!(
                    self.syncs.insert(w, r).is_none(),
                    "waiter {w} answered twice"
                ),
            }
        }
    }

    fn join(&mut self, req: JoinRequest) -> Waiter {
        self.next_waiter += 1;
        let w = self.next_waiter;
        let mut out = Outbox::default();
        self.group.join(req, w, self.now, &cfg(), &mut out);
        self.collect(out);
        w
    }

    /// A new dynamic member (JoinGroup v0-v3 style: no MEMBER_ID_REQUIRED round).
    fn join_new(&mut self, id: &str) -> Waiter {
        self.join(request("", id))
    }

    fn rejoin(&mut self, id: &str) -> Waiter {
        self.join(request(id, "unused"))
    }

    fn sync(&mut self, id: &str, generation: i32, assignments: &[(&str, &str)]) -> Waiter {
        self.next_waiter += 1;
        let w = self.next_waiter;
        let req = SyncRequest {
            member_id: id.into(),
            instance_id: self.group.member(id).and_then(|m| m.instance_id.clone()),
            generation,
            protocol_type: Some("consumer".into()),
            protocol_name: None,
            assignments: assignments
                .iter()
                .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
                .collect(),
        };
        let mut out = Outbox::default();
        self.group.sync(req, w, self.now, &mut out);
        self.collect(out);
        w
    }

    fn leave(&mut self, id: &str) -> Result<(), E> {
        let mut out = Outbox::default();
        let r = self
            .group
            .leave(&[(id.to_string(), None)], self.now, &cfg(), &mut out)
            .unwrap()
            .remove(0);
        self.collect(out);
        r
    }

    fn heartbeat(&mut self, id: &str, generation: i32) -> Result<(), E> {
        self.group.heartbeat(id, None, generation, self.now)
    }

    /// Move the clock, firing timers on the way as the driver would.
    fn advance(&mut self, ms: i64) {
        let target = self.now + ms;
        while let Some(d) = self.group.next_deadline().filter(|d| *d <= target) {
            self.now = d.max(self.now);
            let mut out = Outbox::default();
            self.group.tick(self.now, &cfg(), &mut out);
            self.collect(out);
        }
        self.now = target;
    }

    fn joined(&self, w: Waiter) -> &JoinResponse {
        self.joins
            .get(&w)
            .unwrap_or_else(|| panic!("waiter {w} has no JoinGroup answer"))
    }

    fn synced(&self, w: Waiter) -> &SyncResponse {
        self.syncs
            .get(&w)
            .unwrap_or_else(|| panic!("waiter {w} has no SyncGroup answer"))
    }

    /// Three members join an empty group together; the initial delay ends the join phase.
    fn three_members_stable(&mut self) -> i32 {
        let ws: Vec<Waiter> = ["a", "b", "c"].iter().map(|id| self.join_new(id)).collect();
        assert!(
            ws.iter().all(|w| !self.joins.contains_key(w)),
            "parked during the initial delay"
        );
        self.advance(DELAY * 2);
        let generation = self.joined(ws[0]).generation;
        let s = [
            self.sync("a", generation, &[("a", "p0"), ("b", "p1")]),
            self.sync("b", generation, &[]),
            self.sync("c", generation, &[]),
        ];
        assert!(s.iter().all(|w| self.synced(*w).error.is_none()));
        assert_eq!(self.group.state(), State::Stable);
        generation
    }
}

mod lifecycle;
mod rebalance;
