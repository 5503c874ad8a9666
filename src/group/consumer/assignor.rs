//! The server-side assignors of KIP-848 (`group.consumer.assignors`: `uniform`, the default,
//! then `range`). Both are pure: members' subscriptions and previous target assignment in,
//! the new target assignment out.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::Assignment;

pub const UNIFORM: &str = "uniform";
pub const RANGE: &str = "range";
/// Kafka's `group.consumer.assignors` default, in its order (the first is the default).
pub const ASSIGNORS: &[&str] = &[UNIFORM, RANGE];

/// What the assignor sees of one member.
#[derive(Debug, Clone)]
pub struct MemberSpec<'a> {
    pub id: &'a str,
    /// Subscribed topics that exist, by id.
    pub topics: BTreeSet<Uuid>,
    /// The member's current target assignment (stickiness).
    pub previous: Option<&'a Assignment>,
}

/// The target assignment of every member, by member id. `partitions` gives each existing
/// subscribed topic's partition count.
pub fn assign(
    name: &str,
    members: &[MemberSpec<'_>],
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    if name == RANGE {
        range(members, partitions)
    } else {
        uniform(members, partitions)
    }
}

/// Kafka's range assignor: per topic, the members subscribed to it (by member id) each take a
/// contiguous range; the first `count % members` take one more.
fn range(
    members: &[MemberSpec<'_>],
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.id.to_string(), Assignment::new()))
        .collect();
    for (topic, count) in partitions {
        let mut subscribed: Vec<&str> = members
            .iter()
            .filter(|m| m.topics.contains(topic))
            .map(|m| m.id)
            .collect();
        subscribed.sort_unstable();
        let n = subscribed.len() as i32;
        if n == 0 {
            continue;
        }
        let (quota, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, id) in subscribed.iter().enumerate() {
            let take = quota + i32::from((i as i32) < extra);
            let set: BTreeSet<i32> = (next..next + take).collect();
            next += take;
            if !set.is_empty() {
                if let Some(a) = out.get_mut(*id) {
                    a.insert(*topic, set);
                }
            }
        }
    }
    out
}

/// Kafka's uniform assignor: balanced (member counts differ by at most one among members with
/// the same subscription) and sticky (a partition stays with its previous owner while that
/// keeps the balance). Previous partitions are kept up to each member's quota; the rest go,
/// one at a time, to the least loaded member subscribed to the topic.
fn uniform(
    members: &[MemberSpec<'_>],
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    let mut order: Vec<&MemberSpec<'_>> = members.iter().collect();
    order.sort_by(|a, b| a.id.cmp(b.id));
    let mut load: BTreeMap<&str, usize> = order.iter().map(|m| (m.id, 0)).collect();
    let mut out: BTreeMap<String, Assignment> = order
        .iter()
        .map(|m| (m.id.to_string(), Assignment::new()))
        .collect();
    let size = |topics: &BTreeSet<Uuid>| -> usize {
        topics
            .iter()
            .filter_map(|t| partitions.get(t))
            .map(|c| usize::try_from(*c).unwrap_or(0))
            .sum()
    };
    let homogeneous = order.windows(2).all(|w| w[0].topics == w[1].topics);
    let n = order.len().max(1);
    let total = order.first().map_or(0, |m| size(&m.topics));
    // Homogeneous: floor(total / n) each, and `total % n` members one more (those that
    // keep most). Otherwise each member's fair share of what it can take.
    let (floor, mut ceil_slots) = (total / n, total % n);
    let share = |m: &MemberSpec<'_>| -> usize {
        let sharing = order
            .iter()
            .filter(|o| o.topics.iter().any(|t| m.topics.contains(t)))
            .count()
            .max(1);
        size(&m.topics).div_ceil(sharing)
    };
    let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
    let mut keepers: Vec<&MemberSpec<'_>> = order.clone();
    keepers.sort_by_key(|m| std::cmp::Reverse(m.previous.map_or(0, count)));
    for m in keepers {
        let Some(previous) = m.previous else { continue };
        let cap = match (homogeneous, ceil_slots > 0) {
            (true, true) => floor + 1,
            (true, false) => floor,
            (false, _) => share(m),
        };
        let mut kept = 0;
        for (topic, ps) in previous {
            let Some(count) = partitions.get(topic) else {
                continue;
            };
            if !m.topics.contains(topic) {
                continue;
            }
            for p in ps {
                if kept >= cap || *p >= *count || !taken.insert((*topic, *p)) {
                    continue;
                }
                out.entry(m.id.to_string())
                    .or_default()
                    .entry(*topic)
                    .or_default()
                    .insert(*p);
                kept += 1;
            }
        }
        if homogeneous && kept > floor {
            ceil_slots = ceil_slots.saturating_sub(1);
        }
        load.insert(m.id, kept);
    }
    for (topic, count) in partitions {
        for p in 0..*count {
            if taken.contains(&(*topic, p)) {
                continue;
            }
            let target = order
                .iter()
                .filter(|m| m.topics.contains(topic))
                .min_by_key(|m| (load.get(m.id).copied().unwrap_or(0), m.id));
            let Some(target) = target else { continue };
            *load.entry(target.id).or_default() += 1;
            taken.insert((*topic, p));
            out.entry(target.id.to_string())
                .or_default()
                .entry(*topic)
                .or_default()
                .insert(p);
        }
    }
    out
}

/// How many partitions an assignment holds.
pub fn count(a: &Assignment) -> usize {
    a.values().map(BTreeSet::len).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn specs<'a>(
        ids: &'a [String],
        topics: &[Uuid],
        previous: &'a BTreeMap<String, Assignment>,
    ) -> Vec<MemberSpec<'a>> {
        ids.iter()
            .map(|id| MemberSpec {
                id,
                topics: topics.iter().copied().collect(),
                previous: previous.get(id),
            })
            .collect()
    }

    fn all_once(out: &BTreeMap<String, Assignment>, partitions: &BTreeMap<Uuid, i32>) {
        let mut seen = BTreeSet::new();
        for a in out.values() {
            for (t, ps) in a {
                for p in ps {
                    assert!(seen.insert((*t, *p)), "{t}-{p} assigned twice");
                }
            }
        }
        let total: usize = partitions.values().map(|c| *c as usize).sum();
        assert_eq!(seen.len(), total, "every partition assigned");
    }

    #[test]
    fn uniform_balances_and_assigns_each_partition_once() {
        let partitions: BTreeMap<Uuid, i32> = [(topic(1), 6)].into();
        for n in 1..=7 {
            let ids: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
            let none = BTreeMap::new();
            let out = uniform(&specs(&ids, &[topic(1)], &none), &partitions);
            all_once(&out, &partitions);
            let counts: Vec<usize> = out.values().map(count).collect();
            let (min, max) = (counts.iter().min(), counts.iter().max());
            assert!(max.unwrap() - min.unwrap() <= 1, "{n} members: {counts:?}");
        }
    }

    #[test]
    fn uniform_is_sticky_when_a_member_joins_or_leaves() {
        let partitions: BTreeMap<Uuid, i32> = [(topic(1), 6), (topic(2), 3)].into();
        let two: Vec<String> = vec!["a".into(), "b".into()];
        let none = BTreeMap::new();
        let first = uniform(&specs(&two, &[topic(1), topic(2)], &none), &partitions);
        all_once(&first, &partitions);
        // A third member: a and b keep what they had up to their new share (3 each).
        let three: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
        let second = uniform(&specs(&three, &[topic(1), topic(2)], &first), &partitions);
        all_once(&second, &partitions);
        for id in ["a", "b"] {
            let kept = second[id]
                .iter()
                .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
                .filter(|(t, p)| first[id].get(t).is_some_and(|s| s.contains(p)))
                .count();
            assert_eq!(kept, 3, "{id} keeps its share: {second:?}");
        }
        assert_eq!(count(&second["c"]), 3);
        // c leaves again: a and b keep everything they had.
        let third = uniform(&specs(&two, &[topic(1), topic(2)], &second), &partitions);
        all_once(&third, &partitions);
        for id in ["a", "b"] {
            for (t, ps) in &second[id] {
                assert!(ps.is_subset(&third[id][t]));
            }
        }
    }

    #[test]
    fn uniform_respects_subscriptions() {
        let partitions: BTreeMap<Uuid, i32> = [(topic(1), 4), (topic(2), 2)].into();
        let a = MemberSpec {
            id: "a",
            topics: [topic(1)].into(),
            previous: None,
        };
        let b = MemberSpec {
            id: "b",
            topics: [topic(1), topic(2)].into(),
            previous: None,
        };
        let out = uniform(&[a, b], &partitions);
        all_once(&out, &partitions);
        assert!(!out["a"].contains_key(&topic(2)));
    }

    #[test]
    fn range_gives_contiguous_ranges() {
        let partitions: BTreeMap<Uuid, i32> = [(topic(1), 5)].into();
        let ids: Vec<String> = vec!["b".into(), "a".into()];
        let none = BTreeMap::new();
        let out = range(&specs(&ids, &[topic(1)], &none), &partitions);
        assert_eq!(out["a"][&topic(1)], [0, 1, 2].into());
        assert_eq!(out["b"][&topic(1)], [3, 4].into());
    }
}
