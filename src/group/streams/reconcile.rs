//! A streams member's way from the tasks it has to its target (Kafka 4.4's
//! `CurrentAssignmentBuilder` for streams groups): tasks leaving it are revoked first (the
//! member keeps its epoch until it stops reporting them), and a task is granted only once no
//! other member still has it active, nor another member of the same process a copy of it.
//! A task moving from standby to active on one member is converted in place.
//!
//! Warm-up tasks are left out: Kafka 4.4 never assigns them (its assignment refiner is a
//! no-op), so targets and members never hold any.

use std::collections::{BTreeMap, BTreeSet};

use super::assignor::TaskId;

/// Kafka's streams `MemberState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MemberState {
    Stable,
    UnrevokedTasks,
    UnreleasedTasks,
}

/// Tasks by role; active ones with the group epoch at which they were granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tasks {
    #[serde(with = "as_pairs")]
    pub active: BTreeMap<TaskId, i32>,
    pub standby: BTreeSet<TaskId>,
}

impl Tasks {
    pub fn is_empty(&self) -> bool {
        self.active.is_empty() && self.standby.is_empty()
    }
}

/// A map with tuple keys stored as a list of pairs (JSON keys are strings).
mod as_pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Vec::<(K, V)>::deserialize(d).map(|pairs| pairs.into_iter().collect())
    }
}

/// A target: the tasks a member should end up with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub active: BTreeSet<TaskId>,
    pub standby: BTreeSet<TaskId>,
}

/// What a member reported owning in its heartbeat (None: it did not say).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owned {
    pub active: BTreeSet<TaskId>,
    pub standby: BTreeSet<TaskId>,
}

/// A member's reconciled assignment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Current {
    pub epoch: i32,
    pub previous_epoch: i32,
    pub state: MemberState,
    pub assigned: Tasks,
    pub pending_revocation: Tasks,
}

impl Default for Current {
    fn default() -> Self {
        Self {
            epoch: 0,
            previous_epoch: 0,
            state: MemberState::Stable,
            assigned: Tasks::default(),
            pending_revocation: Tasks::default(),
        }
    }
}

/// Who has each task, across the group (assigned or still being revoked).
#[derive(Debug, Default)]
pub struct Owners {
    active: BTreeMap<TaskId, BTreeSet<(String, String)>>,
    standby: BTreeMap<TaskId, BTreeSet<(String, String)>>,
}

impl Owners {
    /// From every member: (member id, process id, its current assignment).
    pub fn of<'a>(members: impl IntoIterator<Item = (&'a str, &'a str, &'a Current)>) -> Self {
        let mut owners = Self::default();
        for (id, process, c) in members {
            let who = (id.to_string(), process.to_string());
            for t in c
                .assigned
                .active
                .keys()
                .chain(c.pending_revocation.active.keys())
            {
                owners
                    .active
                    .entry(t.clone())
                    .or_default()
                    .insert(who.clone());
            }
            for t in c
                .assigned
                .standby
                .iter()
                .chain(&c.pending_revocation.standby)
            {
                owners
                    .standby
                    .entry(t.clone())
                    .or_default()
                    .insert(who.clone());
            }
        }
        owners
    }

    fn active_elsewhere(&self, t: &TaskId, me: &str) -> bool {
        self.active
            .get(t)
            .is_some_and(|s| s.iter().any(|(m, _)| m != me))
    }

    fn on_my_process(
        map: &BTreeMap<TaskId, BTreeSet<(String, String)>>,
        t: &TaskId,
        me: &str,
        process: &str,
    ) -> bool {
        map.get(t)
            .is_some_and(|s| s.iter().any(|(m, p)| m != me && p == process))
    }

    /// An active task is not free while any other member has it active, or another member
    /// of this process has a standby copy.
    fn active_unreleased(&self, t: &TaskId, me: &str, process: &str) -> bool {
        self.active_elsewhere(t, me) || Self::on_my_process(&self.standby, t, me, process)
    }

    /// A process holds a task once: a standby is not free while another member of this
    /// process has it, active or standby.
    fn standby_unreleased(&self, t: &TaskId, me: &str, process: &str) -> bool {
        Self::on_my_process(&self.active, t, me, process)
            || Self::on_my_process(&self.standby, t, me, process)
    }
}

fn still_owns(owned: Option<&Owned>, tasks: &Tasks) -> bool {
    match owned {
        None => true,
        Some(o) => {
            tasks.active.keys().any(|t| o.active.contains(t))
                || tasks.standby.iter().any(|t| o.standby.contains(t))
        }
    }
}

/// The member's next assignment toward `target` at `target_epoch`.
pub fn reconcile(
    current: &Current,
    target: &Target,
    target_epoch: i32,
    owned: Option<&Owned>,
    me: &str,
    process: &str,
    owners: &Owners,
) -> Current {
    let step = Step {
        current,
        target,
        target_epoch,
        owned,
        me,
        process,
        owners,
    };
    match current.state {
        MemberState::Stable if current.epoch == target_epoch => current.clone(),
        MemberState::Stable | MemberState::UnreleasedTasks => step.next(current.epoch),
        MemberState::UnrevokedTasks if still_owns(owned, &current.pending_revocation) => {
            current.clone()
        }
        MemberState::UnrevokedTasks => step.next(current.epoch + 1),
    }
}

struct Step<'a> {
    current: &'a Current,
    target: &'a Target,
    target_epoch: i32,
    owned: Option<&'a Owned>,
    me: &'a str,
    process: &'a str,
    owners: &'a Owners,
}

impl Step<'_> {
    fn next(&self, epoch: i32) -> Current {
        let c = &self.current.assigned;
        let t = self.target;
        let mut assigned = Tasks {
            active: c
                .active
                .iter()
                .filter(|(task, _)| t.active.contains(*task))
                .map(|(task, e)| (task.clone(), *e))
                .collect(),
            standby: c.standby.intersection(&t.standby).cloned().collect(),
        };
        let mut revoke = Tasks {
            active: c
                .active
                .iter()
                .filter(|(task, _)| !t.active.contains(*task))
                .map(|(task, e)| (task.clone(), *e))
                .collect(),
            standby: c.standby.difference(&t.standby).cloned().collect(),
        };
        let (mut grant_active, mut unreleased) = (BTreeSet::new(), false);
        for task in t.active.iter().filter(|x| !c.active.contains_key(*x)) {
            match self.owners.active_unreleased(task, self.me, self.process) {
                true => unreleased = true,
                false => {
                    grant_active.insert(task.clone());
                }
            }
        }
        let mut grant_standby = BTreeSet::new();
        for task in t.standby.difference(&c.standby) {
            // Demoted in place: the member keeps its copy as a standby while it revokes the
            // active one.
            if c.active.contains_key(task) {
                assigned.standby.insert(task.clone());
                continue;
            }
            match self.owners.standby_unreleased(task, self.me, self.process) {
                true => unreleased = true,
                false => {
                    grant_standby.insert(task.clone());
                }
            }
        }
        // Promoted in place: a standby the target makes active is not revoked; it stays a
        // standby until the active grant happens.
        let promoted: Vec<TaskId> = c.standby.intersection(&t.active).cloned().collect();
        for task in &promoted {
            revoke.standby.remove(task);
        }
        let blocked = !revoke.is_empty() && still_owns(self.owned, &revoke);
        for task in promoted {
            if blocked || !grant_active.contains(&task) {
                assigned.standby.insert(task);
            }
        }
        let mut next = Current {
            epoch: self.target_epoch,
            previous_epoch: self.current.epoch,
            state: MemberState::Stable,
            assigned,
            pending_revocation: Tasks::default(),
        };
        if blocked {
            next.epoch = epoch;
            next.state = MemberState::UnrevokedTasks;
            next.pending_revocation = revoke;
            return next;
        }
        for task in grant_active {
            next.assigned.active.insert(task, self.target_epoch);
        }
        next.assigned.standby.extend(grant_standby);
        if unreleased {
            next.state = MemberState::UnreleasedTasks;
        }
        next
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
