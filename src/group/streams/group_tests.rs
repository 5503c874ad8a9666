use super::*;
use crate::group::streams::topology::tests::word_count;
use crate::group::streams::{MISSING_INTERNAL_TOPICS, MISSING_SOURCE_TOPICS};

/// Settings without delays, so every heartbeat may assign.
fn quick() -> Settings {
    Settings {
        initial_delay_ms: 0,
        assignment_interval_ms: 0,
        ..Settings::default()
    }
}

fn lookup(existing: &[&str]) -> impl Fn(&str) -> Option<(Uuid, i32)> {
    let names: Vec<String> = existing.iter().map(|s| s.to_string()).collect();
    move |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .map(|i| (Uuid::from_u128(i as u128 + 1), 4))
    }
}

const ALL: [&str; 3] = ["words", "app-counts-repartition", "app-counts-changelog"];

fn join(id: &str, process: &str) -> Heartbeat {
    Heartbeat {
        member_id: id.into(),
        epoch: 0,
        rebalance_timeout_ms: 30_000,
        topology: Some(word_count()),
        process_id: Some(process.into()),
        owned: Some(Owned::default()),
        ..Heartbeat::default()
    }
}

fn beat(id: &str, epoch: i32, owned: &(BTreeSet<TaskId>, BTreeSet<TaskId>)) -> Heartbeat {
    Heartbeat {
        member_id: id.into(),
        epoch,
        rebalance_timeout_ms: -1,
        owned: Some(Owned {
            active: owned.0.clone(),
            standby: owned.1.clone(),
        }),
        ..Heartbeat::default()
    }
}

#[test]
fn word_count_over_two_instances() {
    let mut g = StreamsGroup::default();
    let s = quick();
    // a joins before the internal topics exist: no tasks, the broker is to create them.
    let (a, _) = g
        .heartbeat("app", join("a", "P1"), &lookup(&["words"]), &s, true, 0)
        .unwrap();
    assert_eq!(a.tasks, Some(Default::default()));
    assert_eq!(a.statuses[0].code, MISSING_INTERNAL_TOPICS);
    assert_eq!(a.to_create.len(), 2);
    assert_eq!(a.endpoint_epoch, 0);
    assert_eq!(g.state(), GroupState::NotReady);
    // Once they exist, a gets all 8 tasks.
    let none = (BTreeSet::new(), BTreeSet::new());
    let (a, _) = g
        .heartbeat(
            "app",
            beat("a", a.epoch, &none),
            &lookup(&ALL),
            &s,
            false,
            1,
        )
        .unwrap();
    let all = a.tasks.clone().unwrap();
    assert_eq!((all.0.len(), a.statuses.len()), (8, 0));
    assert_eq!(g.state(), GroupState::Stable);
    // b joins: half of a's tasks are for b, which waits until a has let them go.
    let (b, _) = g
        .heartbeat("app", join("b", "P2"), &lookup(&ALL), &s, false, 2)
        .unwrap();
    assert_eq!(b.tasks, Some(Default::default()));
    let (a, _) = g
        .heartbeat("app", beat("a", a.epoch, &all), &lookup(&ALL), &s, false, 3)
        .unwrap();
    let kept = a.tasks.clone().unwrap();
    assert_eq!(kept.0.len(), 4);
    assert_eq!(g.state(), GroupState::Reconciling);
    let (a, _) = g
        .heartbeat(
            "app",
            beat("a", a.epoch, &kept),
            &lookup(&ALL),
            &s,
            false,
            4,
        )
        .unwrap();
    assert_eq!(a.epoch, g.epoch);
    let (b, _) = g
        .heartbeat(
            "app",
            beat("b", b.epoch, &none),
            &lookup(&ALL),
            &s,
            false,
            5,
        )
        .unwrap();
    let moved = b.tasks.unwrap();
    assert_eq!(moved.0.len(), 4);
    assert!(moved.0.is_disjoint(&kept.0));
    assert_eq!(g.state(), GroupState::Stable);
    // b leaves: its tasks go back to a.
    let leave = Heartbeat {
        epoch: LEAVE_EPOCH,
        ..beat("b", b.epoch, &moved)
    };
    let (left, _) = g
        .heartbeat("app", leave, &lookup(&ALL), &s, false, 6)
        .unwrap();
    assert_eq!(left.epoch, LEAVE_EPOCH);
    let (a, _) = g
        .heartbeat(
            "app",
            beat("a", a.epoch, &kept),
            &lookup(&ALL),
            &s,
            false,
            7,
        )
        .unwrap();
    assert_eq!(a.tasks.unwrap().0.len(), 8);
}

#[test]
fn a_missing_source_topic_holds_the_group() {
    let mut g = StreamsGroup::default();
    let (a, _) = g
        .heartbeat("app", join("a", "P1"), &lookup(&[]), &quick(), true, 0)
        .unwrap();
    assert_eq!(
        (a.statuses[0].code, a.statuses[0].detail.as_str()),
        (MISSING_SOURCE_TOPICS, "Source topics words are missing.")
    );
    assert!(a.to_create.is_empty());
}

#[test]
fn the_initial_delay_holds_the_first_assignment() {
    let mut g = StreamsGroup::default();
    let s = Settings::default();
    let (a, _) = g
        .heartbeat("app", join("a", "P1"), &lookup(&ALL), &s, true, 0)
        .unwrap();
    assert_eq!(a.statuses[0].code, ASSIGNMENT_DELAYED);
    assert_eq!(g.next_deadline(), Some(3_000));
    assert!(g.tick(3_000, &s));
    let none = (BTreeSet::new(), BTreeSet::new());
    let (a, _) = g
        .heartbeat(
            "app",
            beat("a", a.epoch, &none),
            &lookup(&ALL),
            &s,
            false,
            3_001,
        )
        .unwrap();
    assert_eq!(a.tasks.unwrap().0.len(), 8);
    assert!(a.statuses.is_empty());
}

#[test]
fn sessions_expire_and_epochs_are_checked() {
    let mut g = StreamsGroup::default();
    let s = quick();
    let (a, _) = g
        .heartbeat("app", join("a", "P1"), &lookup(&ALL), &s, true, 0)
        .unwrap();
    let none = (BTreeSet::new(), BTreeSet::new());
    let err = g
        .heartbeat(
            "app",
            beat("a", a.epoch + 1, &none),
            &lookup(&ALL),
            &s,
            false,
            1,
        )
        .unwrap_err();
    assert_eq!(err.0, E::FencedMemberEpoch);
    let err = g
        .heartbeat("app", beat("zz", 3, &none), &lookup(&ALL), &s, false, 1)
        .unwrap_err();
    assert_eq!(
        err,
        (
            E::UnknownMemberId,
            "Member zz is not a member of group app.".into()
        )
    );
    assert!(g.tick(s.session_ms + 1, &s));
    assert!(g.is_empty());
    assert_eq!(g.state(), GroupState::Empty);
}

#[test]
fn a_static_member_comes_back_under_a_new_id_with_its_tasks() {
    let mut g = StreamsGroup::default();
    let s = quick();
    let mut first = join("a1", "P1");
    first.instance_id = Some("i".into());
    let (a, _) = g
        .heartbeat("app", first, &lookup(&ALL), &s, true, 0)
        .unwrap();
    let tasks = a.tasks.unwrap();
    assert_eq!(tasks.0.len(), 8);
    let mut pause = beat("a1", a.epoch, &tasks);
    pause.instance_id = Some("i".into());
    pause.epoch = STATIC_LEAVE_EPOCH;
    g.heartbeat("app", pause, &lookup(&ALL), &s, false, 2)
        .unwrap();
    let epoch = g.epoch;
    // Another member with that instance id while a1 is away takes its place, no rebalance.
    let mut back = join("a2", "P1");
    back.instance_id = Some("i".into());
    let (a2, _) = g
        .heartbeat("app", back, &lookup(&ALL), &s, false, 3)
        .unwrap();
    assert_eq!(a2.tasks.unwrap().0, tasks.0);
    assert_eq!(g.epoch, epoch);
    assert!(!g.members.contains_key("a1"));
    // A second claim of a held instance id is refused.
    let mut dup = join("a3", "P9");
    dup.instance_id = Some("i".into());
    let err = g
        .heartbeat("app", dup, &lookup(&ALL), &s, false, 4)
        .unwrap_err();
    assert_eq!(err.0, E::UnreleasedInstanceId);
}

#[test]
fn requests_are_checked_with_kafkas_messages() {
    let check = |req: Heartbeat| validate(&req, "app").unwrap_err().1;
    assert_eq!(check(join("", "P")), "MemberId can't be empty.");
    let mut r = join("a", "P");
    r.rebalance_timeout_ms = -1;
    assert_eq!(
        check(r),
        "RebalanceTimeoutMs must be provided in first request."
    );
    let mut r = join("a", "P");
    r.topology = None;
    assert_eq!(check(r), "Topology must be non-null when (re-)joining.");
    let mut r = beat("a", 3, &(BTreeSet::new(), BTreeSet::new()));
    r.topology = Some(word_count());
    assert_eq!(check(r), "Topology can only be provided when (re-)joining.");
    let r = Heartbeat {
        epoch: -3,
        ..beat("a", 0, &(BTreeSet::new(), BTreeSet::new()))
    };
    assert_eq!(
        check(r),
        "MemberEpoch is -3, but must be greater than or equal to -2."
    );
    assert!(validate(&join("a", "P"), "app").is_ok());
}

#[test]
fn survives_a_reload() {
    let mut g = StreamsGroup::default();
    let s = quick();
    g.heartbeat("app", join("a", "P1"), &lookup(&ALL), &s, true, 0)
        .unwrap();
    let stored = serde_json::to_vec(&g).unwrap();
    let back: StreamsGroup = serde_json::from_slice(&stored).unwrap();
    let back = back.restored(10, &s);
    assert_eq!(
        (back.epoch, back.assignment_epoch, back.members.len()),
        (g.epoch, g.assignment_epoch, 1)
    );
    assert_eq!(back.targets, g.targets);
    assert_eq!(back.next_deadline(), Some(10 + s.session_ms));
}
