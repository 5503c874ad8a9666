//! Static members, emptying, offset-commit checks, restore after a restart, describing.

use super::*;

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
