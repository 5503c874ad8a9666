//! Topic administration: create, grow, delete and auto-create, under one admin lock.
//!
//! A request is checked whole before anything is made: Kafka's limit on what one operation
//! may create and this broker's partition cap refuse it at once, for every topic in it. A
//! topic (or a growth) is then made whole or not at all: when a partition cannot be opened
//! (an I/O error, no descriptors left) the directories made so far are removed and no
//! record is written. These calls block on files and the store: async callers run them on
//! the blocking pool.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use uuid::Uuid;

use super::{log_name, topic_key, LogMedia, Topics};
use crate::error::{BrokerError, Result};
use crate::meta::limits::{self, EXCESSIVE_BATCH, EXCESSIVE_PARTITIONS, MAX_RECORDS_PER_USER_OP};
use crate::meta::{self, Partition, Topic, TopicConfig};

/// A topic to create.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

/// A topic that passed its checks, not made yet.
struct Planned {
    name: String,
    partitions: i32,
    replication_factor: i16,
    config: TopicConfig,
}

/// Partitions just opened, with the directories their opening made (to undo it).
struct Opened {
    partitions: Vec<Arc<Partition>>,
    made_dirs: Vec<PathBuf>,
}

impl Opened {
    /// Close the partitions and remove the directories this creation made.
    fn discard(self) {
        drop(self.partitions);
        for dir in self.made_dirs {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(dir = %dir.display(), error = %e, "could not remove the directory of a partition whose creation failed");
                }
            }
        }
    }
}

/// The whole-request refusal Kafka's controller gives an operation over its record limit.
fn excessive() -> BrokerError {
    BrokerError::PolicyViolation(EXCESSIVE_BATCH.to_string())
}

impl Topics {
    /// Create topics (Kafka's CreateTopics semantics; `validate_only` checks without doing).
    /// `Err` refuses the whole request (every topic gets that error), else one result per
    /// topic in order; a validate-only result is a topic with no partitions.
    pub fn create_topics(
        &self,
        topics: Vec<NewTopic>,
        validate_only: bool,
    ) -> Result<Vec<Result<Arc<Topic>>>> {
        let _admin = self.admin_lock();
        let planned: Vec<Result<Planned>> = topics.into_iter().map(|t| self.plan(t)).collect();
        let valid = planned.iter().filter_map(|p| p.as_ref().ok());
        let records: u64 = valid
            .clone()
            .map(|p| limits::create_topic_records(p.partitions, p.config.0.len()))
            .sum();
        if records > MAX_RECORDS_PER_USER_OP {
            return Err(excessive());
        }
        self.check_cap(valid.map(|p| p.partitions as u64).sum())?;
        Ok(planned
            .into_iter()
            .map(|p| match p {
                Ok(p) if validate_only => Ok(Arc::new(topic_shell(&p, Uuid::nil()))),
                Ok(p) => self.make_topic(p),
                Err(e) => Err(e),
            })
            .collect())
    }

    /// Create one topic (start-up topics, tests).
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Arc<Topic>> {
        let new = NewTopic {
            name: name.to_string(),
            partitions,
            replication_factor: 1,
            configs,
        };
        self.create_topics(vec![new], validate_only)?
            .pop()
            .unwrap_or_else(|| Err(BrokerError::UnknownTopicOrPartition))
    }

    /// Kafka's per-topic checks, in its order: name, existence, collision, configs, count.
    fn plan(&self, t: NewTopic) -> Result<Planned> {
        if !crate::config::valid_topic_name(&t.name) {
            return Err(BrokerError::InvalidTopic(format!(
                "'{}' is not a valid topic name: up to 249 characters of [a-zA-Z0-9._-], not '.' or '..'",
                t.name
            )));
        }
        if self.registry.get(&t.name).is_some() {
            return Err(BrokerError::TopicAlreadyExists(t.name));
        }
        if let Some(other) = self.registry.colliding(&t.name) {
            return Err(BrokerError::InvalidTopic(limits::collision_message(
                &t.name, &other,
            )));
        }
        let config = TopicConfig::new(t.configs)?;
        if t.partitions < 1 {
            return Err(BrokerError::InvalidPartitions(format!(
                "number of partitions must be larger than 0, got {}",
                t.partitions
            )));
        }
        Ok(Planned {
            name: t.name,
            partitions: t.partitions,
            replication_factor: t.replication_factor,
            config,
        })
    }

    /// POLICY_VIOLATION if holding `adding` more partitions would pass the broker's cap.
    fn check_cap(&self, adding: u64) -> Result<()> {
        let held = self.registry.partition_total();
        match limits::over_broker_cap(held, adding, self.max_partitions) {
            Some(message) => Err(BrokerError::PolicyViolation(message)),
            None => Ok(()),
        }
    }

    /// The record first, as Kafka's controller does: the name is taken in the store (which
    /// brokers of a cluster share) or someone took it first; then the partitions.
    fn make_topic(&self, p: Planned) -> Result<Arc<Topic>> {
        let topic = Arc::new(topic_shell(&p, Uuid::new_v4()));
        let key = topic_key(&p.name);
        let record = Self::record_of(&topic, p.partitions)?;
        if !self.store.compare_and_swap(key.as_bytes(), None, &record)? {
            return Err(BrokerError::TopicAlreadyExists(p.name));
        }
        match self.open_new_partitions(&p.name, 0..p.partitions, &p.config) {
            Ok(opened) => *meta::write(&topic.partitions) = opened.partitions,
            Err(e) => {
                if let Err(undo) = self.store.delete(key.as_bytes()) {
                    tracing::error!(topic = %p.name, error = %undo, "could not remove the record of a topic whose creation failed");
                }
                return Err(e);
            }
        }
        self.registry.insert(topic.clone());
        self.announce();
        Ok(topic)
    }

    /// Open partitions `range` of `topic` (several at once, see `parallel`); on a failure
    /// close them again and remove the directories this call made (not ones that were
    /// there before).
    fn open_new_partitions(
        &self,
        topic: &str,
        range: Range<i32>,
        config: &TopicConfig,
    ) -> Result<Opened> {
        let placed = self.place(topic, range.clone())?;
        let made_dirs = Mutex::new(Vec::new());
        let result = super::parallel::map(range, super::parallel::WORKERS, |index| {
            let dir = self.partition_dir(topic, index);
            let absent = |d: &PathBuf| matches!(std::fs::symlink_metadata(d), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
            if let Some(dir) = dir.filter(absent) {
                super::lock(&made_dirs).push(dir);
            }
            self.open_partition(topic, index, config, placed.get(&index).copied())
                .inspect_err(|e| tracing::error!(topic, partition = index, error = %e, "creating a partition failed; undoing the creation"))
        });
        let made_dirs = made_dirs.into_inner().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(partitions) => Ok(Opened {
                partitions,
                made_dirs,
            }),
            Err(e) => {
                // `map` dropped (closed) the partitions that did open.
                let partitions = Vec::new();
                Opened {
                    partitions,
                    made_dirs,
                }
                .discard();
                Err(e)
            }
        }
    }

    /// Delete a topic and its data.
    pub fn delete_topic(&self, name: &str) -> Result<Uuid> {
        let _admin = self.admin_lock();
        let topic = self
            .registry
            .get(name)
            .ok_or(BrokerError::UnknownTopicOrPartition)?;
        self.store.delete(topic_key(name).as_bytes())?;
        self.registry.remove(name);
        self.announce();
        for partition in topic.partitions() {
            if let LogMedia::Postgres(logs) = &self.media {
                let log = log_name(name, partition.index);
                super::lock(&self.led).remove(&log);
                if let Err(e) = logs.delete(&log) {
                    tracing::warn!(log, error = %e, "could not remove a deleted partition's rows");
                }
            }
            // Rename first so a new topic of the same name gets fresh directories even while
            // (or if a crash interrupts) the removal.
            if let Some(dir) = self.partition_dir(name, partition.index) {
                let doomed = dir.with_file_name(format!(
                    "{}-{}.{}-delete",
                    name,
                    partition.index,
                    topic.id.simple()
                ));
                if let Err(e) = std::fs::rename(&dir, &doomed) {
                    tracing::warn!(dir = %dir.display(), error = %e, "could not rename a deleted partition");
                    continue;
                }
                std::thread::spawn(move || {
                    let _ = std::fs::remove_dir_all(doomed);
                });
            }
        }
        Ok(topic.id)
    }

    /// Grow topics to the given partition counts (CreatePartitions). `Err` refuses the whole
    /// request, else one result per topic in order.
    pub fn create_partitions(
        &self,
        growths: &[(String, i32)],
        validate_only: bool,
    ) -> Result<Vec<Result<()>>> {
        let _admin = self.admin_lock();
        let planned: Vec<Result<(Arc<Topic>, i32)>> = growths
            .iter()
            .map(|(name, count)| self.plan_growth(name, *count))
            .collect();
        let adding: u64 = planned
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .map(|(topic, count)| (*count - topic.partition_count()) as u64)
            .sum();
        if adding > MAX_RECORDS_PER_USER_OP {
            // Kafka 4.4 refuses it up front, POLICY_VIOLATION with this message (4.3 answered
            // UNKNOWN_SERVER_ERROR and kept the first 10,000 partitions).
            return Err(BrokerError::PolicyViolation(
                EXCESSIVE_PARTITIONS.to_string(),
            ));
        }
        self.check_cap(adding)?;
        Ok(planned
            .into_iter()
            .map(|p| match p {
                Ok(_) if validate_only => Ok(()),
                Ok((topic, count)) => self.grow(&topic, count),
                Err(e) => Err(e),
            })
            .collect())
    }

    fn plan_growth(&self, name: &str, count: i32) -> Result<(Arc<Topic>, i32)> {
        let topic = self
            .registry
            .get(name)
            .ok_or(BrokerError::UnknownTopicOrPartition)?;
        let current = topic.partition_count();
        if count == current {
            return Err(BrokerError::InvalidPartitions(format!(
                "Topic already has {current} partition(s)."
            )));
        }
        if count < current {
            return Err(BrokerError::InvalidPartitions(format!(
                "The topic {name} currently has {current} partition(s); {count} would not be an increase."
            )));
        }
        Ok((topic, count))
    }

    fn grow(&self, topic: &Topic, count: i32) -> Result<()> {
        let current = topic.partition_count();
        let opened = self.open_new_partitions(&topic.name, current..count, &topic.config())?;
        meta::write(&topic.partitions).extend(opened.partitions.iter().cloned());
        if let Err(e) = self.persist(topic) {
            meta::write(&topic.partitions).truncate(usize::try_from(current).unwrap_or(0));
            opened.discard();
            return Err(e);
        }
        Ok(())
    }

    /// Auto-create `names` (Metadata, Produce) as one operation with the default partition
    /// count, as Kafka's broker sends its controller one CreateTopics for them. One result
    /// per name: the topic (also when someone else created it meanwhile), INVALID_TOPIC for
    /// an invalid name, else UNKNOWN_TOPIC_OR_PARTITION: Kafka's client never sees why its
    /// controller refused an auto-creation (a collision, a limit), so the reason is logged.
    pub fn auto_create_topics(&self, names: &[String]) -> Vec<Result<Arc<Topic>>> {
        let new = names
            .iter()
            .map(|name| NewTopic {
                name: name.clone(),
                partitions: self.config.num_partitions,
                replication_factor: 1,
                configs: BTreeMap::new(),
            })
            .collect();
        let results = match self.create_topics(new, false) {
            Ok(results) => results,
            Err(refused) => {
                tracing::warn!(topics = ?names, error = %refused, "auto-creation refused");
                return names
                    .iter()
                    .map(|_| Err(BrokerError::UnknownTopicOrPartition))
                    .collect();
            }
        };
        names
            .iter()
            .zip(results)
            .map(|(name, result)| match result {
                Ok(topic) => {
                    tracing::info!(topic = %name, "auto-created topic");
                    Ok(topic)
                }
                Err(BrokerError::TopicAlreadyExists(_)) => self
                    .registry
                    .get(name)
                    .ok_or(BrokerError::UnknownTopicOrPartition),
                Err(e) if !crate::config::valid_topic_name(name) => Err(e),
                Err(e) => {
                    tracing::warn!(topic = %name, error = %e, "auto-creation failed");
                    Err(BrokerError::UnknownTopicOrPartition)
                }
            })
            .collect()
    }
}

fn topic_shell(p: &Planned, id: Uuid) -> Topic {
    Topic {
        name: p.name.clone(),
        id,
        replication_factor: p.replication_factor,
        config: RwLock::new(p.config.clone()),
        partitions: RwLock::new(Vec::new()),
    }
}
