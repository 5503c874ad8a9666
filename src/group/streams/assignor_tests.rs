use proptest::prelude::*;

use super::*;

fn task(s: &str, p: i32) -> TaskId {
    (s.to_string(), p)
}

fn member(process: &str) -> MemberSpec {
    MemberSpec {
        process: process.into(),
        ..MemberSpec::default()
    }
}

/// "0": 4 stateless tasks, "1": 4 stateful ones (word count).
fn word_count() -> BTreeMap<String, SubtopologySpec> {
    [
        (
            "0".to_string(),
            SubtopologySpec {
                tasks: 4,
                stateful: false,
            },
        ),
        (
            "1".to_string(),
            SubtopologySpec {
                tasks: 4,
                stateful: true,
            },
        ),
    ]
    .into()
}

fn names(tasks: &BTreeSet<TaskId>) -> Vec<String> {
    tasks.iter().map(|(s, p)| format!("{s}_{p}")).collect()
}

#[test]
fn balances_over_processes_then_places_standbys_elsewhere() {
    let members: BTreeMap<String, MemberSpec> = [
        ("a".to_string(), member("P1")),
        ("b".to_string(), member("P1")),
        ("c".to_string(), member("P2")),
    ]
    .into();
    let out = assign(&members, &word_count(), 1);
    let view = |m: &str| (names(&out[m].active), names(&out[m].standby));
    assert_eq!(
        view("a"),
        (
            vec!["0_0".into(), "0_3".into(), "1_2".into()],
            vec!["1_0".into()]
        )
    );
    assert_eq!(
        view("b"),
        (vec!["0_2".into(), "1_1".into()], vec!["1_3".into()])
    );
    assert_eq!(
        view("c"),
        (
            vec!["0_1".into(), "1_0".into(), "1_3".into()],
            vec!["1_1".into(), "1_2".into()]
        )
    );
}

#[test]
fn keeps_tasks_where_they_were_and_moves_a_leavers_to_their_standbys() {
    // The assignment above, after c left.
    let mut a = member("P1");
    a.active = [task("0", 0), task("0", 3), task("1", 2)].into();
    a.standby = [task("1", 0)].into();
    let mut b = member("P1");
    b.active = [task("0", 2), task("1", 1)].into();
    b.standby = [task("1", 3)].into();
    let members: BTreeMap<String, MemberSpec> = [("a".to_string(), a), ("b".to_string(), b)].into();
    let out = assign(&members, &word_count(), 1);
    assert_eq!(names(&out["a"].active), ["0_0", "0_3", "1_0", "1_2"]);
    assert_eq!(names(&out["b"].active), ["0_1", "0_2", "1_1", "1_3"]);
    // One process cannot hold a task twice: no room for standbys.
    assert!(out["a"].standby.is_empty() && out["b"].standby.is_empty());
}

#[test]
fn no_members_no_tasks_and_no_standbys_by_default() {
    assert!(assign(&BTreeMap::new(), &word_count(), 1).is_empty());
    let members: BTreeMap<String, MemberSpec> = [("a".to_string(), member("P1"))].into();
    let out = assign(&members, &word_count(), 0);
    assert_eq!(out["a"].active.len(), 8);
    assert!(out["a"].standby.is_empty());
}

prop_compose! {
    fn a_group()(
        processes in proptest::collection::vec(1usize..4, 1..5),
        tasks in proptest::collection::vec((0i32..7, any::<bool>()), 1..4),
        standbys in 0usize..3,
        previous in proptest::collection::vec((0usize..16, 0usize..3, 0i32..7), 0..20),
    ) -> (BTreeMap<String, MemberSpec>, BTreeMap<String, SubtopologySpec>, usize) {
        let mut members = BTreeMap::new();
        for (p, n) in processes.iter().enumerate() {
            for i in 0..*n {
                members.insert(format!("m{p}-{i}"), member(&format!("P{p}")));
            }
        }
        let topology: BTreeMap<String, SubtopologySpec> = tasks
            .iter()
            .enumerate()
            .map(|(i, &(n, stateful))| (i.to_string(), SubtopologySpec { tasks: n, stateful }))
            .collect();
        // Some previous ownership, possibly stale or conflicting (as after a failure).
        let ids: Vec<String> = members.keys().cloned().collect();
        for (m, s, p) in previous {
            let id = &ids[m % ids.len()];
            if let Some(spec) = members.get_mut(id) {
                spec.active.insert((s.to_string(), p));
            }
        }
        (members, topology, standbys)
    }
}

proptest! {
    #[test]
    fn every_task_active_once_and_no_process_holds_a_task_twice(
        (members, topology, standbys) in a_group()
    ) {
        let out = assign(&members, &topology, standbys);
        let mut seen = BTreeSet::new();
        for a in out.values() {
            for t in &a.active {
                prop_assert!(seen.insert(t.clone()), "{t:?} active twice");
            }
        }
        let all: BTreeSet<TaskId> = topology
            .iter()
            .flat_map(|(s, spec)| (0..spec.tasks).map(move |p| (s.clone(), p)))
            .collect();
        prop_assert_eq!(&seen, &all);
        let mut per_process: BTreeMap<&str, BTreeSet<TaskId>> = BTreeMap::new();
        for (id, a) in &out {
            let held = per_process.entry(members[id].process.as_str()).or_default();
            for t in a.active.iter().chain(&a.standby) {
                prop_assert!(held.insert(t.clone()), "{t:?} twice on one process");
                if a.standby.contains(t) {
                    prop_assert!(topology[&t.0].stateful, "standby of a stateless task");
                }
            }
        }
        let mut standby_count: BTreeMap<&TaskId, usize> = BTreeMap::new();
        for a in out.values() {
            for t in &a.standby {
                *standby_count.entry(t).or_default() += 1;
            }
        }
        prop_assert!(standby_count.values().all(|&n| n <= standbys));
    }

    #[test]
    fn without_history_members_differ_by_at_most_one_active_task_per_process_share(
        n in 1usize..6, tasks in 1i32..20
    ) {
        // One member per process: plain balance.
        let members: BTreeMap<String, MemberSpec> =
            (0..n).map(|i| (format!("m{i}"), member(&format!("P{i}")))).collect();
        let topology = [("0".to_string(), SubtopologySpec { tasks, stateful: false })].into();
        let out = assign(&members, &topology, 0);
        let counts: Vec<usize> = out.values().map(|a| a.active.len()).collect();
        let (min, max) = (counts.iter().min().copied(), counts.iter().max().copied());
        prop_assert!(max.unwrap_or(0) - min.unwrap_or(0) <= 1, "{counts:?}");
    }
}
