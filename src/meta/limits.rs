//! Limits on topic administration: Kafka's cap on what one admin operation may create, its
//! rule against topic names that differ only by '.' and '_', and gregor's own cap on the
//! partitions one broker holds (a partition keeps a file descriptor open per segment).

/// Kafka's controller refuses a user operation that would write more metadata records than
/// this (`QuorumController.MAX_RECORDS_PER_USER_OP`, its records-per-batch limit).
pub const MAX_RECORDS_PER_USER_OP: u64 = 10_000;

/// What Kafka answers (POLICY_VIOLATION) to such an operation, for every topic in it.
pub const EXCESSIVE_BATCH: &str = "Unable to perform excessively large batch operation.";

/// What Kafka 4.4 answers (POLICY_VIOLATION) to a CreatePartitions adding more than
/// [`MAX_RECORDS_PER_USER_OP`] partitions (Kafka 4.3 answered UNKNOWN_SERVER_ERROR).
pub const EXCESSIVE_PARTITIONS: &str =
    "Excessively large number of additional partitions per request.";

/// Metadata records Kafka writes to create a topic: one for the topic, one per config set,
/// one per partition.
pub fn create_topic_records(partitions: i32, configs: usize) -> u64 {
    1 + configs as u64 + u64::try_from(partitions).unwrap_or(0)
}

/// Kafka's collision rule: `a.b` and `a_b` would share metric names, so only one may exist.
pub fn collision_key(name: &str) -> Option<String> {
    (name.contains('.') || name.contains('_')).then(|| name.replace('.', "_"))
}

/// The first of `existing` that `name` collides with (same name after unifying '.' and '_',
/// but not the same name: that is TOPIC_ALREADY_EXISTS).
pub fn colliding_topic<'a>(
    name: &str,
    existing: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let key = collision_key(name)?;
    existing
        .into_iter()
        .find(|other| *other != name && collision_key(other).as_deref() == Some(key.as_str()))
}

/// Kafka's message for a refused collision (INVALID_TOPIC_EXCEPTION).
pub fn collision_message(name: &str, existing: &str) -> String {
    format!("Topic '{name}' collides with existing topic: {existing}")
}

/// Largest default for `max_broker_partitions`, however many descriptors the process may
/// open: beyond this a single node's start-up recovery and memory matter more than files.
pub const MAX_DEFAULT_BROKER_PARTITIONS: u64 = 10_000;

/// The default partition cap for a process allowed `fd_limit` open files (soft
/// RLIMIT_NOFILE): a quarter of them. A partition holds one descriptor per segment (the
/// active one and every sealed one stay open), so this leaves two segments per partition on
/// half the descriptors, and the other half for connections, RocksDB and the rest.
pub fn default_max_broker_partitions(fd_limit: Option<u64>) -> u64 {
    let limit = fd_limit.unwrap_or(1024);
    (limit / 4).clamp(1, MAX_DEFAULT_BROKER_PARTITIONS)
}

/// The process's soft limit on open files, if it can be read.
pub fn fd_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct we pass.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            return None;
        }
        if limit.rlim_cur == libc::RLIM_INFINITY {
            return Some(u64::MAX);
        }
        #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every platform
        Some(limit.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Why creating `adding` partitions is refused on a broker holding `held` of at most `cap`.
pub fn over_broker_cap(held: u64, adding: u64, cap: u64) -> Option<String> {
    let total = held.saturating_add(adding);
    (total > cap).then(|| {
        format!(
            "Unable to create {adding} partition(s): this broker holds {held} and may hold at most {cap} (max_broker_partitions)."
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_count_topic_configs_and_partitions() {
        assert_eq!(create_topic_records(9_999, 0), MAX_RECORDS_PER_USER_OP);
        assert_eq!(create_topic_records(1, 2), 4);
        assert_eq!(create_topic_records(-1, 0), 1);
    }

    #[test]
    fn collisions_are_dot_against_underscore_only() {
        let existing = ["coll.x", "plain", "a-b"];
        assert_eq!(colliding_topic("coll_x", existing), Some("coll.x"));
        assert_eq!(colliding_topic("coll.x", existing), None, "same name");
        assert_eq!(colliding_topic("coll-x", existing), None);
        assert_eq!(colliding_topic("a_b", existing), None, "'-' is not unified");
        assert_eq!(colliding_topic("plain", existing), None);
        assert_eq!(
            collision_message("coll_x", "coll.x"),
            "Topic 'coll_x' collides with existing topic: coll.x"
        );
    }

    #[test]
    fn default_cap_is_a_quarter_of_the_descriptors_within_bounds() {
        assert_eq!(default_max_broker_partitions(Some(20_000)), 5_000);
        assert_eq!(default_max_broker_partitions(Some(1_024)), 256);
        assert_eq!(default_max_broker_partitions(Some(u64::MAX)), 10_000);
        assert_eq!(default_max_broker_partitions(Some(2)), 1);
        assert_eq!(default_max_broker_partitions(None), 256);
    }

    #[test]
    fn cap_counts_what_is_held_and_what_is_added() {
        assert_eq!(over_broker_cap(10, 0, 10), None);
        assert_eq!(over_broker_cap(9, 1, 10), None);
        let refused = over_broker_cap(9, 2, 10).unwrap();
        assert!(refused.contains("holds 9") && refused.contains("at most 10"));
        assert!(over_broker_cap(u64::MAX, 1, 10).is_some());
    }

    #[test]
    fn the_process_has_a_descriptor_limit() {
        assert!(fd_limit().is_some_and(|l| l > 0));
    }
}
