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

#[test]
fn three_members_on_two_partitions_the_third_gets_an_empty_assignment() {
    let mut h = Harness::new();
    let a = h.join_new("a");
    assert_eq!(h.group.state(), State::PreparingRebalance);
    h.advance(1_000);
    let b = h.join_new("b");
    let c = h.join_new("c");
    // Members kept arriving: the delay is extended once more.
    h.advance(DELAY);
    assert_eq!(h.group.state(), State::PreparingRebalance);
    h.advance(DELAY);
    assert_eq!(h.group.state(), State::CompletingRebalance);
    let (ja, jb, jc) = (
        h.joined(a).clone(),
        h.joined(b).clone(),
        h.joined(c).clone(),
    );
    assert_eq!(ja.generation, 1);
    assert_eq!(ja.leader, "a");
    assert_eq!(ja.protocol_name.as_deref(), Some("range"));
    assert_eq!(ja.members.len(), 3, "the leader sees everyone's metadata");
    assert_eq!(ja.members[1].metadata, Bytes::from("meta-range"));
    assert!(jb.members.is_empty() && jc.members.is_empty());

    // Followers wait for the leader's assignment.
    let sb = h.sync("b", 1, &[]);
    assert!(!h.syncs.contains_key(&sb));
    let sa = h.sync("a", 1, &[("a", "p0"), ("b", "p1")]);
    assert_eq!(h.persisted, 1, "the assignment is persisted");
    assert_eq!(h.group.state(), State::Stable);
    assert_eq!(h.synced(sa).assignment, Bytes::from("p0"));
    assert_eq!(h.synced(sb).assignment, Bytes::from("p1"));
    let sc = h.sync("c", 1, &[]);
    assert_eq!(h.synced(sc).error, None);
    assert!(h.synced(sc).assignment.is_empty(), "idle member");
    assert_eq!(h.synced(sc).protocol_name.as_deref(), Some("range"));

    // The idle member heartbeats cleanly for as long as it likes.
    for _ in 0..10 {
        h.advance(3_000);
        assert_eq!(h.heartbeat("c", 1), Ok(()));
        assert_eq!(h.heartbeat("a", 1), Ok(()));
        assert_eq!(h.heartbeat("b", 1), Ok(()));
    }
    assert_eq!(h.group.state(), State::Stable);
}

#[test]
fn heartbeat_errors() {
    let mut h = Harness::new();
    let generation = h.three_members_stable();
    assert_eq!(h.heartbeat("zzz", generation), Err(E::UnknownMemberId));
    assert_eq!(h.heartbeat("a", generation + 1), Err(E::IllegalGeneration));
    assert_eq!(
        h.group
            .heartbeat("a", Some("not-static"), generation, h.now),
        Err(E::UnknownMemberId)
    );
}

#[test]
fn a_leaving_member_triggers_a_rebalance_that_the_others_see_in_heartbeats() {
    let mut h = Harness::new();
    let generation = h.three_members_stable();
    assert_eq!(h.leave("b"), Ok(()));
    assert_eq!(h.group.state(), State::PreparingRebalance);
    assert_eq!(h.heartbeat("a", generation), Err(E::RebalanceInProgress));
    assert_eq!(h.heartbeat("c", generation), Err(E::RebalanceInProgress));
    assert_eq!(h.leave("b"), Err(E::UnknownMemberId));
    // Commits are still accepted while members rejoin.
    assert_eq!(
        h.group.validate_offset_commit("a", None, generation),
        Ok(())
    );
    let a = h.rejoin("a");
    assert!(!h.joins.contains_key(&a));
    let c = h.rejoin("c");
    // Everyone rejoined: no need to wait for the rebalance timeout.
    assert_eq!(h.group.state(), State::CompletingRebalance);
    assert_eq!(h.joined(a).generation, generation + 1);
    assert_eq!(h.joined(a).members.len(), 2);
    assert!(h.joined(c).members.is_empty());
    // During CompletingRebalance: commits must wait, heartbeats are fine.
    assert_eq!(
        h.group.validate_offset_commit("a", None, generation + 1),
        Err(E::RebalanceInProgress)
    );
    assert_eq!(h.heartbeat("c", generation + 1), Ok(()));
    let sc = h.sync("c", generation + 1, &[]);
    let sa = h.sync("a", generation + 1, &[("a", "p0"), ("c", "p1")]);
    assert_eq!(
        h.synced(sc).assignment,
        Bytes::from("p1"),
        "the idle member takes over"
    );
    assert_eq!(h.synced(sa).assignment, Bytes::from("p0"));
}

#[test]
fn a_silent_member_expires_after_its_session_timeout() {
    let mut h = Harness::new();
    let generation = h.three_members_stable();
    for _ in 0..3 {
        h.advance(SESSION as i64 / 3);
        assert_eq!(h.heartbeat("a", generation), Ok(()));
        assert_eq!(h.heartbeat("c", generation), Ok(()));
    }
    assert!(h.group.member("b").is_some());
    h.advance(2);
    // "b" never heartbeated: it is gone, and the rest must rejoin.
    assert!(h.group.member("b").is_none());
    assert_eq!(h.heartbeat("a", generation), Err(E::RebalanceInProgress));
    assert_eq!(h.heartbeat("b", generation), Err(E::UnknownMemberId));
    let a = h.rejoin("a");
    let c = h.rejoin("c");
    assert_eq!(h.joined(a).generation, generation + 1);
    assert_eq!(h.joined(c).leader, "a");
}

#[test]
fn the_rebalance_timeout_drops_members_that_do_not_rejoin() {
    let mut h = Harness::new();
    let generation = h.three_members_stable();
    let a = h.rejoin("a"); // the leader rejoining forces a rebalance
    assert_eq!(h.group.state(), State::PreparingRebalance);
    let b = h.rejoin("b");
    for _ in 0..((REBALANCE / 2_000) - 1) {
        h.advance(2_000);
        assert_eq!(h.heartbeat("c", generation), Err(E::RebalanceInProgress));
    }
    assert!(!h.joins.contains_key(&a));
    h.advance(2_500);
    // c kept heartbeating but never rejoined: dropped when the join phase ended.
    assert_eq!(h.joined(a).generation, generation + 1);
    assert_eq!(h.joined(b).members.len(), 0);
    assert_eq!(h.joined(a).members.len(), 2);
    assert!(h.group.member("c").is_none());
    assert_eq!(h.heartbeat("c", generation), Err(E::UnknownMemberId));
}

#[test]
fn a_leader_that_does_not_rejoin_is_replaced_by_one_that_did() {
    let mut h = Harness::new();
    let generation = h.three_members_stable();
    assert_eq!(h.leave("c"), Ok(()));
    let b = h.rejoin("b");
    h.advance(REBALANCE as i64 + 1);
    assert_eq!(h.joined(b).leader, "b");
    assert_eq!(h.joined(b).generation, generation + 1);
    assert_eq!(h.joined(b).members.len(), 1);
}

#[test]
fn members_that_never_sync_are_removed_after_the_rebalance_timeout() {
    let mut h = Harness::new();
    let ws: Vec<Waiter> = ["a", "b"].iter().map(|id| h.join_new(id)).collect();
    h.advance(DELAY * 2);
    let generation = h.joined(ws[0]).generation;
    let sa = h.sync("a", generation, &[("a", "p0"), ("b", "p1")]);
    assert_eq!(h.synced(sa).error, None);
    // b heartbeats but never sends SyncGroup.
    for _ in 0..(REBALANCE / 3_000 - 1) {
        h.advance(3_000);
        assert_eq!(h.heartbeat("a", generation), Ok(()));
        assert_eq!(h.heartbeat("b", generation), Ok(()));
    }
    assert!(h.group.member("b").is_some());
    h.advance(3_000);
    assert!(h.group.member("b").is_none());
    assert_eq!(h.group.state(), State::PreparingRebalance);
}

#[test]
fn sync_errors() {
    let mut h = Harness::new();
    let ws = [h.join_new("a"), h.join_new("b")];
    h.advance(DELAY * 2);
    let generation = h.joined(ws[0]).generation;
    let w = h.sync("a", generation + 1, &[]);
    assert_eq!(h.synced(w).error, Some(E::IllegalGeneration));
    let w = h.sync("nobody", generation, &[]);
    assert_eq!(h.synced(w).error, Some(E::UnknownMemberId));
    h.next_waiter += 1;
    let mut out = Outbox::default();
    let wrong = SyncRequest {
        member_id: "a".into(),
        instance_id: None,
        generation,
        protocol_type: Some("connect".into()),
        protocol_name: None,
        assignments: vec![],
    };
    h.group.sync(wrong, h.next_waiter, h.now, &mut out);
    h.collect(out);
    assert_eq!(
        h.synced(h.next_waiter).error,
        Some(E::InconsistentGroupProtocol)
    );
    // A follower waiting for the leader is told to rejoin when a rebalance starts instead.
    let sb = h.sync("b", generation, &[]);
    assert_eq!(h.leave("a"), Ok(()));
    assert_eq!(h.synced(sb).error, Some(E::RebalanceInProgress));
    let w = h.sync("b", generation, &[]);
    assert_eq!(h.synced(w).error, Some(E::RebalanceInProgress));
}

#[test]
fn member_id_required_then_join_with_the_given_id() {
    let mut h = Harness::new();
    let mut req = request("", "m-1");
    req.require_known_member_id = true;
    let w = h.join(req);
    assert_eq!(h.joined(w).error, Some(E::MemberIdRequired));
    assert_eq!(h.joined(w).member_id, "m-1");
    assert_eq!(h.group.state(), State::Empty);
    let mut again = request("m-1", "unused");
    again.require_known_member_id = true;
    let w = h.join(again);
    h.advance(DELAY);
    assert_eq!(h.joined(w).error, None);
    assert_eq!(h.joined(w).member_id, "m-1");
    assert_eq!(h.joined(w).leader, "m-1");
    // An id the group never handed out is refused.
    let w = h.join(request("made-up", "unused"));
    assert_eq!(h.joined(w).error, Some(E::UnknownMemberId));
}

#[test]
fn pending_members_that_never_come_back_expire() {
    let mut h = Harness::new();
    let generation = h.three_members_stable();
    let a = h.rejoin("a");
    let mut req = request("", "late");
    req.require_known_member_id = true;
    h.join(req);
    let b = h.rejoin("b");
    let c = h.rejoin("c");
    // The rebalance waits for the pending member until its session timeout.
    assert!(!h.joins.contains_key(&a));
    h.advance(SESSION as i64);
    assert_eq!(h.joined(a).generation, generation + 1);
    assert_eq!(h.joined(a).members.len(), 3);
    assert!(h.joins.contains_key(&b) && h.joins.contains_key(&c));
}

#[test]
fn a_follower_rejoining_unchanged_gets_the_current_generation_at_once() {
    let mut h = Harness::new();
    let generation = h.three_members_stable();
    let w = h.rejoin("b");
    assert_eq!(h.joined(w).generation, generation);
    assert_eq!(h.group.state(), State::Stable);
    // With different metadata, it triggers a rebalance.
    let mut changed = request("b", "unused");
    changed.protocols = protocols(&["range"]);
    let w = h.join(changed);
    assert!(!h.joins.contains_key(&w));
    assert_eq!(h.group.state(), State::PreparingRebalance);
}

#[test]
fn protocols_must_be_compatible() {
    let mut h = Harness::new();
    let mut first = request("", "a");
    first.protocols = vec![];
    let w = h.join(first);
    assert_eq!(h.joined(w).error, Some(E::InconsistentGroupProtocol));
    h.join_new("a");
    let mut other_type = request("", "b");
    other_type.protocol_type = "connect".into();
    let w = h.join(other_type);
    assert_eq!(h.joined(w).error, Some(E::InconsistentGroupProtocol));
    let mut disjoint = request("", "c");
    disjoint.protocols = protocols(&["sticky"]);
    let w = h.join(disjoint);
    assert_eq!(h.joined(w).error, Some(E::InconsistentGroupProtocol));
    // The most-preferred common protocol wins the vote.
    let mut prefers_rr = request("", "d");
    prefers_rr.protocols = protocols(&["roundrobin", "range"]);
    let d = h.join(prefers_rr);
    let mut also_rr = request("", "e");
    also_rr.protocols = protocols(&["roundrobin", "range"]);
    h.join(also_rr);
    h.advance(DELAY * 3);
    assert_eq!(h.joined(d).protocol_name.as_deref(), Some("roundrobin"));
}

fn static_request(instance: &str, fresh: &str) -> JoinRequest {
    let mut req = request("", fresh);
    req.instance_id = Some(instance.into());
    req.require_known_member_id = true;
    req
}

#[test]
fn a_restarted_static_member_gets_its_assignment_back_without_a_rebalance() {
    let mut h = Harness::new();
    let a = h.join(static_request("ia", "a1"));
    let b = h.join(static_request("ib", "b1"));
    h.advance(DELAY * 2);
    let generation = h.joined(a).generation;
    assert_eq!(
        h.joined(b).error,
        None,
        "static members skip MEMBER_ID_REQUIRED"
    );
    h.sync("a1", generation, &[("a1", "p0"), ("b1", "p1")]);
    h.sync("b1", generation, &[]);
    let persisted = h.persisted;

    // b restarts: a new JoinGroup with no member id but the same instance id.
    let b2 = h.join(static_request("ib", "b2"));
    let j = h.joined(b2).clone();
    assert_eq!(
        (
            j.error,
            j.generation,
            j.member_id.as_str(),
            j.leader.as_str()
        ),
        (None, generation, "b2", "a1")
    );
    assert_eq!(h.group.state(), State::Stable, "no rebalance");
    assert_eq!(h.persisted, persisted + 1, "the new member id is persisted");
    let s = h.sync("b2", generation, &[]);
    assert_eq!(h.synced(s).assignment, Bytes::from("p1"));
    // The old incarnation is fenced.
    assert_eq!(
        h.group.heartbeat("b1", Some("ib"), generation, h.now),
        Err(E::FencedInstanceId)
    );
    assert_eq!(
        h.group.heartbeat("b2", Some("ib"), generation, h.now),
        Ok(())
    );
    assert_eq!(h.heartbeat("a1", generation), Ok(()));

    // The static leader restarting acts as a follower (old leader id returned) unless it
    // can skip the assignment (JoinGroup v9).
    let a2 = h.join(static_request("ia", "a2"));
    assert_eq!(h.joined(a2).leader, "a1");
    let mut skip = static_request("ia", "a3");
    skip.supports_skip_assignment = true;
    let a3 = h.join(skip);
    let j = h.joined(a3);
    assert_eq!(
        (j.leader.as_str(), j.skip_assignment, j.members.len()),
        ("a3", true, 2)
    );
    assert_eq!(h.group.state(), State::Stable);
    assert_eq!(
        h.group
            .leave(
                &[(String::new(), Some("ib".into()))],
                h.now,
                &cfg(),
                &mut Outbox::default()
            )
            .unwrap(),
        vec![Ok(())]
    );
    assert_eq!(h.group.state(), State::PreparingRebalance);
}

#[test]
fn static_members_survive_the_rebalance_timeout_but_not_their_session() {
    let mut h = Harness::new();
    let a = h.join(static_request("ia", "a1"));
    h.join(static_request("ib", "b1"));
    h.advance(DELAY * 2);
    let generation = h.joined(a).generation;
    h.sync("a1", generation, &[]);
    h.sync("b1", generation, &[]);
    let a = h.rejoin("a1");
    // b does not rejoin within the rebalance timeout but is static: it keeps its place
    // until its session expires.
    h.advance(SESSION as i64 + 1);
    assert!(h.group.member("b1").is_none());
    assert_eq!(h.joined(a).members.len(), 1);
}

#[test]
fn the_last_member_leaving_empties_the_group() {
    let mut h = Harness::new();
    let w = h.join_new("a");
    h.advance(DELAY);
    let generation = h.joined(w).generation;
    h.sync("a", generation, &[("a", "x")]);
    let persisted = h.persisted;
    assert_eq!(h.leave("a"), Ok(()));
    assert_eq!(h.group.state(), State::Empty);
    assert_eq!(h.group.generation(), generation + 1);
    assert_eq!(h.group.protocol_name(), None);
    assert_eq!(
        h.group.protocol_type(),
        Some("consumer"),
        "the protocol type stays"
    );
    assert_eq!(h.persisted, persisted + 1);
    assert_eq!(h.group.offset_expiry(), OffsetExpiry::Since(h.now));
    // Admin-style commits (generation -1, no member) are fine now, not before.
    assert_eq!(h.group.validate_offset_commit("", None, -1), Ok(()));
}

#[test]
fn offset_commit_validation() {
    let mut h = Harness::new();
    assert_eq!(h.group.validate_offset_commit("", None, -1), Ok(()));
    let generation = h.three_members_stable();
    assert_eq!(
        h.group.validate_offset_commit("", None, -1),
        Err(E::UnknownMemberId)
    );
    assert_eq!(
        h.group.validate_offset_commit("a", None, generation),
        Ok(())
    );
    assert_eq!(
        h.group.validate_offset_commit("a", None, generation - 1),
        Err(E::IllegalGeneration)
    );
    assert_eq!(
        h.group.validate_offset_commit("x", None, generation),
        Err(E::UnknownMemberId)
    );
}

#[test]
fn a_new_member_whose_client_gave_up_is_dropped() {
    let mut h = Harness::new();
    let generation = h.three_members_stable();
    let d = h.join_new("d");
    // The others never rejoin; the new member's parked join is dropped by its own timer
    // only if it outlasts the rebalance; here the rebalance ends first.
    h.advance(REBALANCE as i64 + 1);
    assert_eq!(h.joined(d).generation, generation + 1);
    assert_eq!(h.joined(d).leader, "d");
}

#[test]
fn restore_reloads_a_stable_group_whose_members_must_heartbeat() {
    let mut h = Harness::new();
    let generation = h.three_members_stable();
    let members: Vec<Member> = h
        .group
        .members()
        .cloned()
        .map(|m| {
            Member::restored(
                m.id,
                m.instance_id,
                m.client_id,
                m.client_host,
                m.rebalance_timeout_ms,
                m.session_timeout_ms,
                m.protocol_type,
                m.protocols,
                m.assignment,
            )
        })
        .collect();
    let mut restored = Group::restore(
        "g",
        generation,
        Some("consumer".into()),
        Some("range".into()),
        Some("a".into()),
        0,
        members,
        1_000,
    );
    assert_eq!(restored.state(), State::Stable);
    assert_eq!(restored.heartbeat("a", None, generation, 2_000), Ok(()));
    assert_eq!(restored.heartbeat("b", None, generation, 2_000), Ok(()));
    // c never comes back after the restart: it expires, the others rebalance.
    let mut out = Outbox::default();
    restored.tick(1_000 + SESSION as i64, &cfg(), &mut out);
    assert!(restored.member("c").is_none());
    assert_eq!(restored.state(), State::PreparingRebalance);
    assert_eq!(restored.member("a").unwrap().assignment, Bytes::from("p0"));
}

#[test]
fn describe_shows_metadata_only_when_stable() {
    let mut h = Harness::new();
    h.join_new("a");
    let d = h.group.describe();
    assert_eq!(
        (d.state.name(), d.protocol_data.as_str()),
        ("PreparingRebalance", "")
    );
    assert!(d.members[0].metadata.is_empty());
    h.advance(DELAY);
    h.sync("a", 1, &[("a", "x")]);
    let d = h.group.describe();
    assert_eq!(
        (
            d.state.name(),
            d.protocol_type.as_str(),
            d.protocol_data.as_str()
        ),
        ("Stable", "consumer", "range")
    );
    assert_eq!(d.members[0].metadata, Bytes::from("meta-range"));
    assert_eq!(d.members[0].assignment, Bytes::from("x"));
}

#[test]
fn subscriptions_parse_from_consumer_protocol_metadata() {
    // version 1, topics ["t1", "t2"], user data null, owned partitions...
    let mut m = vec![
        0, 1, 0, 0, 0, 2, 0, 2, b't', b'1', 0, 2, b't', b'2', 0xff, 0xff, 0xff, 0xff,
    ];
    assert_eq!(
        parse_subscription_topics(&m),
        Some(vec!["t1".into(), "t2".into()])
    );
    m.truncate(9);
    assert_eq!(parse_subscription_topics(&m), None);
    assert_eq!(
        parse_subscription_topics(&[0, 0, 0x7f, 0xff, 0xff, 0xff]),
        None,
        "no huge allocation"
    );
}

/// The crash loop's stall (issue 14): clients whose session ran out while the broker was away
/// give their member ids up and join afresh; the reloaded old ids are ghosts the rebalance
/// waits for — one session timeout from the reload, as in Kafka, not the rebalance timeout.
#[test]
fn after_a_restart_new_members_wait_one_session_for_the_reloaded_ghosts() {
    let mut h = Harness::new();
    let generation = h.three_members_stable();
    let members: Vec<Member> = h
        .group
        .members()
        .cloned()
        .map(|m| {
            Member::restored(
                m.id,
                m.instance_id,
                m.client_id,
                m.client_host,
                m.rebalance_timeout_ms,
                m.session_timeout_ms,
                m.protocol_type,
                m.protocols,
                m.assignment,
            )
        })
        .collect();
    let reload = 50_000;
    h.group = Group::restore(
        "g",
        generation,
        Some("consumer".into()),
        Some("range".into()),
        Some("a".into()),
        0,
        members,
        reload,
    );
    h.now = reload;
    h.advance(100);
    let fresh: Vec<Waiter> = ["a2", "b2", "c2"].iter().map(|id| h.join_new(id)).collect();
    assert_eq!(h.group.state(), State::PreparingRebalance);
    h.advance(SESSION as i64 - 101);
    assert_eq!(h.now, reload + SESSION as i64 - 1);
    assert!(
        fresh.iter().all(|w| !h.joins.contains_key(w)),
        "the ghosts still count until their sessions (from the reload) run out"
    );
    h.advance(1);
    assert_eq!(h.group.state(), State::CompletingRebalance);
    let joined = h.joined(fresh[0]).clone();
    assert_eq!(joined.generation, generation + 1);
    assert_eq!(joined.members.len() + h.joined(fresh[1]).members.len(), 3);
    assert!(h.group.member("a").is_none() && h.group.member("a2").is_some());
}
