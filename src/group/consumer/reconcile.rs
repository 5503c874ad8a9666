//! Incremental reconciliation of one member towards its target assignment, after Kafka's
//! `CurrentAssignmentBuilder`: partitions the member must give up are revoked first (it stays
//! at its epoch until it no longer reports them), and a partition of the target is handed to
//! the member only once no other member owns it (else it is "unreleased" and waits).

use std::collections::BTreeSet;

use uuid::Uuid;

use super::{Assignment, Member, MemberState};

/// Does the member still report any of `revoking` among the partitions it owns? A request
/// without owned partitions (None) counts as still owning them.
pub fn owns_any(owned: Option<&Assignment>, revoking: &Assignment) -> bool {
    let Some(owned) = owned else { return true };
    owned.iter().any(|(topic, ps)| {
        revoking
            .get(topic)
            .is_some_and(|r| ps.iter().any(|p| r.contains(p)))
    })
}

/// The member's next state. `owner_of(topic, partition)` is true when another member
/// currently owns the partition (assigned or pending revocation).
pub fn reconcile(
    member: &Member,
    target_epoch: i32,
    target: &Assignment,
    owned: Option<&Assignment>,
    owned_by_other: impl Fn(&Uuid, i32) -> bool,
) -> Member {
    match member.state {
        MemberState::Stable if member.epoch == target_epoch => member.clone(),
        MemberState::Stable | MemberState::UnreleasedPartitions => next(
            member,
            member.epoch,
            target_epoch,
            target,
            owned,
            &owned_by_other,
        ),
        MemberState::UnrevokedPartitions => {
            if owns_any(owned, &member.pending_revocation) {
                return member.clone();
            }
            next(
                member,
                member.epoch + 1,
                target_epoch,
                target,
                owned,
                &owned_by_other,
            )
        }
    }
}

fn next(
    member: &Member,
    epoch: i32,
    target_epoch: i32,
    target: &Assignment,
    owned: Option<&Assignment>,
    owned_by_other: &impl Fn(&Uuid, i32) -> bool,
) -> Member {
    let mut assigned = Assignment::new();
    let mut revoking = Assignment::new();
    let mut pending = Assignment::new();
    let mut unreleased = false;
    let topics: BTreeSet<Uuid> = target
        .keys()
        .chain(member.assigned.keys())
        .copied()
        .collect();
    let empty = BTreeSet::new();
    for topic in topics {
        let want = target.get(&topic).unwrap_or(&empty);
        let have = member.assigned.get(&topic).unwrap_or(&empty);
        let keep: BTreeSet<i32> = have.intersection(want).copied().collect();
        let revoke: BTreeSet<i32> = have.difference(&keep).copied().collect();
        let mut add: BTreeSet<i32> = want.difference(&keep).copied().collect();
        let before = add.len();
        add.retain(|p| !owned_by_other(&topic, *p));
        unreleased |= add.len() != before;
        if !keep.is_empty() {
            assigned.insert(topic, keep);
        }
        if !revoke.is_empty() {
            revoking.insert(topic, revoke);
        }
        if !add.is_empty() {
            pending.insert(topic, add);
        }
    }
    let mut out = member.clone();
    if !revoking.is_empty() && owns_any(owned, &revoking) {
        out.state = MemberState::UnrevokedPartitions;
        out.set_epoch(epoch);
        out.assigned = assigned;
        out.pending_revocation = revoking;
        return out;
    }
    for (topic, ps) in pending {
        assigned.entry(topic).or_default().extend(ps);
    }
    out.state = if unreleased {
        MemberState::UnreleasedPartitions
    } else {
        MemberState::Stable
    };
    out.set_epoch(target_epoch);
    out.assigned = assigned;
    out.pending_revocation = Assignment::new();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Uuid {
        Uuid::from_u128(7)
    }

    fn a(ps: &[i32]) -> Assignment {
        if ps.is_empty() {
            return Assignment::new();
        }
        [(t(), ps.iter().copied().collect())].into()
    }

    fn member(epoch: i32, assigned: &[i32]) -> Member {
        let mut m = Member::new("m".into());
        m.epoch = epoch;
        m.previous_epoch = epoch - 1;
        m.assigned = a(assigned);
        m
    }

    #[test]
    fn revokes_before_moving_on_and_waits_for_unreleased_partitions() {
        // Owns 0,1,2; the target at epoch 5 is 0,3.
        let m = member(4, &[0, 1, 2]);
        let owner = |_: &Uuid, p: i32| p == 3;
        let r = reconcile(&m, 5, &a(&[0, 3]), Some(&a(&[0, 1, 2])), owner);
        assert_eq!(r.state, MemberState::UnrevokedPartitions);
        assert_eq!(r.epoch, 4);
        assert_eq!(r.assigned, a(&[0]));
        assert_eq!(r.pending_revocation, a(&[1, 2]));
        // Still reports 1: nothing moves.
        let same = reconcile(&r, 5, &a(&[0, 3]), Some(&a(&[0, 1])), owner);
        assert_eq!(same, r);
        // Revoked; 3 is still owned by another member: unreleased, at the target epoch.
        let r = reconcile(&r, 5, &a(&[0, 3]), Some(&a(&[0])), owner);
        assert_eq!(r.state, MemberState::UnreleasedPartitions);
        assert_eq!(r.epoch, 5);
        assert_eq!(r.assigned, a(&[0]));
        // Released: assigned, stable.
        let r = reconcile(&r, 5, &a(&[0, 3]), Some(&a(&[0])), |_, _| false);
        assert_eq!(r.state, MemberState::Stable);
        assert_eq!(r.assigned, a(&[0, 3]));
    }

    #[test]
    fn a_member_that_already_dropped_partitions_moves_straight_on() {
        let m = member(2, &[0, 1]);
        let r = reconcile(&m, 3, &a(&[1]), Some(&a(&[1])), |_, _| false);
        assert_eq!((r.state, r.epoch), (MemberState::Stable, 3));
        assert_eq!(r.assigned, a(&[1]));
        assert_eq!(r.previous_epoch, 2);
    }

    /// Two members trade all their partitions over several heartbeats in any order: no
    /// partition is ever held by both.
    #[test]
    fn no_partition_is_owned_by_two_members() {
        let mut x = member(1, &[0, 1]);
        x.id = "x".into();
        let mut y = member(1, &[2, 3]);
        y.id = "y".into();
        let (tx, ty) = (a(&[2, 3]), a(&[0, 1]));
        for round in 0..6 {
            let owns = |m: &Member, p: i32| {
                m.assigned.get(&t()).is_some_and(|s| s.contains(&p))
                    || m.pending_revocation
                        .get(&t())
                        .is_some_and(|s| s.contains(&p))
            };
            if round % 2 == 0 {
                let yy = y.clone();
                let owned = x.assigned.clone();
                x = reconcile(&x, 2, &tx, Some(&owned), |_, p| owns(&yy, p));
            } else {
                let xx = x.clone();
                let owned = y.assigned.clone();
                y = reconcile(&y, 2, &ty, Some(&owned), |_, p| owns(&xx, p));
            }
            for p in 0..4 {
                assert!(
                    !(x.assigned.get(&t()).is_some_and(|s| s.contains(&p))
                        && y.assigned.get(&t()).is_some_and(|s| s.contains(&p)))
                );
            }
        }
        assert_eq!((x.assigned.clone(), y.assigned.clone()), (tx, ty));
        assert_eq!(
            (x.state, y.state),
            (MemberState::Stable, MemberState::Stable)
        );
    }
}
