//! One timer per key (a group, a share-partition), earliest first: what a coordinator's
//! [`Machine::fire_timers`](super::Machine::fire_timers) looks up.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

pub struct Deadlines<K> {
    by_time: BTreeSet<(i64, K)>,
    of: HashMap<K, i64>,
}

impl<K> Default for Deadlines<K> {
    fn default() -> Self {
        Self {
            by_time: BTreeSet::new(),
            of: HashMap::new(),
        }
    }
}

impl<K: Ord + Hash + Clone> Deadlines<K> {
    /// `key`'s timer fires at `deadline` (none: it has no timer).
    pub fn set(&mut self, key: K, deadline: Option<i64>) {
        self.remove(&key);
        if let Some(d) = deadline {
            self.by_time.insert((d, key.clone()));
            self.of.insert(key, d);
        }
    }

    /// `key`'s timer fires by `deadline` at the latest (an earlier one is kept).
    pub fn by(&mut self, key: K, deadline: i64) {
        if self.of.get(&key).is_none_or(|d| *d > deadline) {
            self.set(key, Some(deadline));
        }
    }

    pub fn remove(&mut self, key: &K) {
        if let Some(old) = self.of.remove(key) {
            self.by_time.remove(&(old, key.clone()));
        }
    }

    /// The keys whose timers are due at `now`, earliest first (they stay set).
    pub fn due(&self, now: i64) -> Vec<K> {
        self.by_time
            .iter()
            .take_while(|(d, _)| *d <= now)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// The earliest timer.
    pub fn next(&self) -> Option<i64> {
        self.by_time.first().map(|(d, _)| *d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_timer_per_key_earliest_first() {
        let mut t = Deadlines::default();
        t.set("a", Some(30));
        t.set("b", Some(10));
        t.set("a", Some(20));
        assert_eq!(t.next(), Some(10));
        assert_eq!(t.due(25), vec!["b", "a"]);
        t.by("b", 15); // later: kept at 10
        t.by("a", 5); // earlier: moved
        assert_eq!(t.due(10), vec!["a", "b"]);
        t.set("a", None);
        t.remove(&"b");
        assert_eq!((t.next(), t.due(100)), (None, vec![]));
    }
}
