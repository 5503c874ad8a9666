//! Joins, syncs, heartbeats, leaves and the timeouts of a rebalance.

use super::*;

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
