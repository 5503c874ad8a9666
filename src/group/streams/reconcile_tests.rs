use super::*;

fn task(s: &str, p: i32) -> TaskId {
    (s.to_string(), p)
}

fn stable(epoch: i32, active: &[&TaskId], standby: &[&TaskId]) -> Current {
    Current {
        epoch,
        previous_epoch: epoch - 1,
        assigned: Tasks {
            active: active.iter().map(|t| ((*t).clone(), epoch)).collect(),
            standby: standby.iter().map(|t| (*t).clone()).collect(),
        },
        ..Current::default()
    }
}

fn target(active: &[&TaskId], standby: &[&TaskId]) -> Target {
    Target {
        active: active.iter().map(|t| (*t).clone()).collect(),
        standby: standby.iter().map(|t| (*t).clone()).collect(),
    }
}

fn owned(active: &[&TaskId], standby: &[&TaskId]) -> Owned {
    Owned {
        active: active.iter().map(|t| (*t).clone()).collect(),
        standby: standby.iter().map(|t| (*t).clone()).collect(),
    }
}

#[test]
fn a_task_moves_only_after_its_owner_revoked_it() {
    let (t0, t3) = (task("0", 0), task("0", 3));
    let mut a = stable(5, &[&t0, &t3], &[]);
    let mut d = Current::default();
    let owners = |a: &Current, d: &Current| Owners::of([("a", "P1", a), ("d", "P2", d)]);
    // Epoch 6: a keeps 0_0, d gets 0_3. a first revokes, at its epoch.
    let next = reconcile(
        &a,
        &target(&[&t0], &[]),
        6,
        Some(&owned(&[&t0, &t3], &[])),
        "a",
        "P1",
        &owners(&a, &d),
    );
    assert_eq!((next.state, next.epoch), (MemberState::UnrevokedTasks, 5));
    assert_eq!(
        next.pending_revocation.active.keys().collect::<Vec<_>>(),
        [&t3]
    );
    assert_eq!(next.assigned.active.keys().collect::<Vec<_>>(), [&t0]);
    a = next;
    // d waits: a still has 0_3.
    let next = reconcile(
        &d,
        &target(&[&t3], &[]),
        6,
        None,
        "d",
        "P2",
        &owners(&a, &d),
    );
    assert_eq!((next.state, next.epoch), (MemberState::UnreleasedTasks, 6));
    assert!(next.assigned.is_empty());
    d = next;
    // a stops reporting 0_3: revoked, it moves to epoch 6.
    let next = reconcile(
        &a,
        &target(&[&t0], &[]),
        6,
        Some(&owned(&[&t0], &[])),
        "a",
        "P1",
        &owners(&a, &d),
    );
    assert_eq!(
        (next.state, next.epoch, next.previous_epoch),
        (MemberState::Stable, 6, 5)
    );
    assert!(next.pending_revocation.is_empty());
    a = next;
    // Now d gets it, granted at epoch 6.
    let next = reconcile(
        &d,
        &target(&[&t3], &[]),
        6,
        None,
        "d",
        "P2",
        &owners(&a, &d),
    );
    assert_eq!((next.state, next.epoch), (MemberState::Stable, 6));
    assert_eq!(next.assigned.active.get(&t3), Some(&6));
    // Stable at the target: nothing changes.
    assert_eq!(
        reconcile(
            &next,
            &target(&[&t3], &[]),
            6,
            None,
            "d",
            "P2",
            &owners(&a, &next)
        ),
        next
    );
}

#[test]
fn a_process_never_gets_a_second_copy_of_a_task() {
    // b (same process as a) is to get 1_0 as a standby while a still has it active.
    let t = task("1", 0);
    let a = stable(3, &[&t], &[]);
    let b = stable(3, &[], &[]);
    let owners = Owners::of([("a", "P1", &a), ("b", "P1", &b)]);
    let next = reconcile(&b, &target(&[], &[&t]), 4, None, "b", "P1", &owners);
    assert_eq!(next.state, MemberState::UnreleasedTasks);
    assert!(next.assigned.standby.is_empty());
    // On another process it is granted at once.
    let owners = Owners::of([("a", "P1", &a), ("b", "P2", &b)]);
    let next = reconcile(&b, &target(&[], &[&t]), 4, None, "b", "P2", &owners);
    assert_eq!(next.state, MemberState::Stable);
    assert!(next.assigned.standby.contains(&t));
}

#[test]
fn roles_change_in_place() {
    let (x, y) = (task("1", 0), task("1", 1));
    // Demotion: x active → standby. The member keeps a standby copy while it revokes the
    // active one.
    let m = stable(2, &[&x], &[]);
    let owners = Owners::of([("m", "P1", &m)]);
    let next = reconcile(
        &m,
        &target(&[], &[&x]),
        3,
        Some(&owned(&[&x], &[])),
        "m",
        "P1",
        &owners,
    );
    assert_eq!(next.state, MemberState::UnrevokedTasks);
    assert!(next.assigned.standby.contains(&x));
    assert!(next.pending_revocation.active.contains_key(&x));
    // Promotion: y standby → active with nothing else to revoke: granted at once, no longer a
    // standby.
    let m = stable(2, &[], &[&y]);
    let owners = Owners::of([("m", "P1", &m)]);
    let next = reconcile(
        &m,
        &target(&[&y], &[]),
        3,
        Some(&owned(&[], &[&y])),
        "m",
        "P1",
        &owners,
    );
    assert_eq!((next.state, next.epoch), (MemberState::Stable, 3));
    assert_eq!(next.assigned.active.get(&y), Some(&3));
    assert!(next.assigned.standby.is_empty() && next.pending_revocation.is_empty());
    // Promotion while something else is being revoked: y stays a standby meanwhile.
    let m = stable(2, &[&x], &[&y]);
    let owners = Owners::of([("m", "P1", &m)]);
    let next = reconcile(
        &m,
        &target(&[&y], &[]),
        3,
        Some(&owned(&[&x], &[&y])),
        "m",
        "P1",
        &owners,
    );
    assert_eq!(next.state, MemberState::UnrevokedTasks);
    assert!(next.assigned.standby.contains(&y));
    assert!(!next.assigned.active.contains_key(&y));
    assert!(!next.pending_revocation.standby.contains(&y));
}
