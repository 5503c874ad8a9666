//! The `sticky` task assignor of streams groups (Kafka 4.4's `StickyTaskAssignor`): active
//! tasks balanced over processes (an application instance, whatever its member count) and
//! their members, kept where they were while a member is under its share, then standby
//! replicas of the stateful tasks on other processes. A process never holds a task twice.
//!
//! Kafka leaves ties between equally loaded processes or members to its heap; here the
//! smaller process id, then member id, wins, so placements are deterministic.

use std::collections::{BTreeMap, BTreeSet};

/// (subtopology id, partition).
pub type TaskId = (String, i32);

/// A member as the assignor sees it.
#[derive(Debug, Clone, Default)]
pub struct MemberSpec {
    pub process: String,
    /// Its current tasks.
    pub active: BTreeSet<TaskId>,
    pub standby: BTreeSet<TaskId>,
    /// Offsets it reported for tasks (the state it has, for standby stickiness).
    pub task_offsets: BTreeMap<TaskId, i64>,
}

/// A subtopology: its task count and whether it keeps state (has changelogs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubtopologySpec {
    pub tasks: i32,
    pub stateful: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assigned {
    pub active: BTreeSet<TaskId>,
    pub standby: BTreeSet<TaskId>,
}

/// Tasks per member: ceil(tasks / members).
fn per_member(tasks: usize, members: usize) -> usize {
    tasks
        .checked_div(members)
        .map_or(0, |q| q + usize::from(!tasks.is_multiple_of(members)))
}

/// A quota that is worked out again over the rest whenever a member reaches it.
struct Quota {
    per_member: usize,
    tasks: usize,
    members: usize,
}

impl Quota {
    fn new(tasks: usize, members: usize) -> Self {
        Self {
            per_member: per_member(tasks, members),
            tasks,
            members,
        }
    }

    fn reached(&mut self, count: usize) {
        if count == self.per_member {
            self.members = self.members.saturating_sub(1);
            self.tasks = self.tasks.saturating_sub(count);
            self.per_member = per_member(self.tasks, self.members);
        }
    }
}

#[derive(Default)]
struct Process {
    capacity: usize,
    count: usize,
    /// Every task on any of its members, active or standby.
    tasks: BTreeSet<TaskId>,
}

impl Process {
    fn load(&self) -> f64 {
        self.count as f64 / self.capacity.max(1) as f64
    }
}

struct State<'a> {
    members: &'a BTreeMap<String, MemberSpec>,
    processes: BTreeMap<&'a str, Process>,
    counts: BTreeMap<&'a str, usize>,
    out: BTreeMap<String, Assigned>,
}

impl<'a> State<'a> {
    fn process_of(&self, member: &str) -> &'a str {
        self.members.get(member).map_or("", |m| m.process.as_str())
    }

    fn count(&self, member: &str) -> usize {
        self.counts.get(member).copied().unwrap_or(0)
    }

    fn holds(&self, member: &str, task: &TaskId) -> bool {
        self.processes
            .get(self.process_of(member))
            .is_some_and(|p| p.tasks.contains(task))
    }

    fn give(&mut self, member: &'a str, task: &TaskId, active: bool) -> usize {
        let process = self.process_of(member);
        if let Some(p) = self.processes.get_mut(process) {
            p.count += 1;
            p.tasks.insert(task.clone());
        }
        let count = self.counts.entry(member).or_default();
        *count += 1;
        let out = self.out.entry(member.to_string()).or_default();
        match active {
            true => out.active.insert(task.clone()),
            false => out.standby.insert(task.clone()),
        };
        *count
    }

    /// Of ranked candidates, the first unless a later one has both a lighter process and
    /// fewer tasks (Kafka's scan).
    fn least_loaded(&self, candidates: &[&'a str]) -> Option<&'a str> {
        let mut best: Option<&'a str> = None;
        for &c in candidates {
            best = match best {
                None => Some(c),
                Some(b) => {
                    let lighter = self.load(c) < self.load(b) && self.count(c) < self.count(b);
                    Some(if lighter { c } else { b })
                }
            };
        }
        best
    }

    fn load(&self, member: &str) -> f64 {
        self.processes
            .get(self.process_of(member))
            .map_or(0.0, Process::load)
    }

    /// The lightest process (not holding `task`, when given), then its member with the
    /// fewest tasks.
    fn lightest(&self, not_holding: Option<&TaskId>) -> Option<&'a str> {
        let process = self
            .processes
            .iter()
            .filter(|(_, p)| not_holding.is_none_or(|t| !p.tasks.contains(t)))
            .min_by(|(a, pa), (b, pb)| pa.load().total_cmp(&pb.load()).then(a.cmp(b)))
            .map(|(id, _)| *id)?;
        self.members
            .iter()
            .filter(|(_, m)| m.process == process)
            .min_by_key(|(id, _)| (self.count(id), id.as_str()))
            .map(|(id, _)| id.as_str())
    }
}

/// Assign every task of `topology` to `members`, with `standbys` replicas of each stateful
/// task.
pub fn assign(
    members: &BTreeMap<String, MemberSpec>,
    topology: &BTreeMap<String, SubtopologySpec>,
    standbys: usize,
) -> BTreeMap<String, Assigned> {
    let mut state = State {
        members,
        processes: BTreeMap::new(),
        counts: BTreeMap::new(),
        out: members
            .keys()
            .map(|id| (id.clone(), Assigned::default()))
            .collect(),
    };
    for m in members.values() {
        state.processes.entry(&m.process).or_default().capacity += 1;
    }
    if members.is_empty() {
        return state.out;
    }
    let tasks: Vec<TaskId> = topology
        .iter()
        .flat_map(|(s, spec)| (0..spec.tasks.max(0)).map(move |p| (s.clone(), p)))
        .collect();
    let stateful: Vec<TaskId> = tasks
        .iter()
        .filter(|(s, _)| topology.get(s).is_some_and(|t| t.stateful))
        .cloned()
        .collect();
    let mut previous_active: BTreeMap<&TaskId, &str> = BTreeMap::new();
    for (id, m) in members {
        for t in &m.active {
            previous_active.insert(t, id.as_str());
        }
    }
    let candidates = standby_candidates(members);
    let by_partition = |a: &TaskId, b: &TaskId| (a.1, &a.0).cmp(&(b.1, &b.0));

    // Active tasks: back to their owner, then to a member with their state, then balanced.
    let mut active = Quota::new(tasks.len(), members.len());
    let mut rest: Vec<TaskId> = tasks.clone();
    rest.sort_by(by_partition);
    rest.retain(|t| match previous_active.get(t) {
        Some(&m) if state.count(m) < active.per_member => {
            let n = state.give(m, t, true);
            active.reached(n);
            false
        }
        _ => true,
    });
    rest.retain(|t| {
        let ranked = candidates.get(t).map(Vec::as_slice).unwrap_or_default();
        match state.least_loaded(ranked) {
            Some(m) if state.count(m) < active.per_member => {
                let n = state.give(m, t, true);
                active.reached(n);
                false
            }
            _ => true,
        }
    });
    rest.sort();
    for t in &rest {
        if let Some(m) = state.lightest(None) {
            state.give(m, t, true);
        }
    }
    if standbys == 0 {
        return state.out;
    }

    // Standby replicas of stateful tasks, never on a process that has the task.
    let mut total = Quota::new(tasks.len() + stateful.len() * standbys, members.len());
    let mut order = stateful;
    order.sort_by(|a, b| by_partition(b, a));
    let mut left: Vec<(TaskId, usize)> = Vec::new();
    for t in order {
        for replica in 0..standbys {
            let owner = previous_active
                .get(&t)
                .copied()
                .filter(|&m| !state.holds(m, &t) && state.count(m) < total.per_member);
            let chosen = owner.or_else(|| {
                let ranked: Vec<&str> = candidates
                    .get(&t)
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|&m| !state.holds(m, &t) && state.count(m) < total.per_member)
                    .collect();
                state.least_loaded(&ranked)
            });
            match chosen {
                Some(m) => {
                    let n = state.give(m, &t, false);
                    total.reached(n);
                }
                None => {
                    left.push((t.clone(), standbys - replica));
                    break;
                }
            }
        }
    }
    left.sort_by(|a, b| b.0.cmp(&a.0));
    for (t, replicas) in left {
        for _ in 0..replicas {
            match state.lightest(Some(&t)) {
                Some(m) => {
                    state.give(m, &t, false);
                }
                None => {
                    tracing::warn!(
                        task = %format!("{}_{}", t.0, t.1),
                        "not enough capacity for the requested standby replicas: add threads or application instances"
                    );
                    break;
                }
            }
        }
    }
    state.out
}

/// Per task, the members with its state: those holding it as a standby first, then those
/// reporting an offset for it; each by offset, highest first.
fn standby_candidates(members: &BTreeMap<String, MemberSpec>) -> BTreeMap<TaskId, Vec<&str>> {
    let mut ranked: BTreeMap<TaskId, Vec<(bool, i64, &str)>> = BTreeMap::new();
    for (id, m) in members {
        for t in &m.standby {
            let offset = m.task_offsets.get(t).copied().unwrap_or(0);
            ranked
                .entry(t.clone())
                .or_default()
                .push((false, offset, id.as_str()));
        }
        for (t, &offset) in &m.task_offsets {
            if !m.standby.contains(t) {
                ranked
                    .entry(t.clone())
                    .or_default()
                    .push((true, offset, id.as_str()));
            }
        }
    }
    ranked
        .into_iter()
        .map(|(t, mut c)| {
            c.sort_by(|a, b| (a.0, b.1, a.2).cmp(&(b.0, a.1, b.2)));
            (t, c.into_iter().map(|(_, _, id)| id).collect())
        })
        .collect()
}

#[cfg(test)]
#[path = "assignor_tests.rs"]
mod tests;
