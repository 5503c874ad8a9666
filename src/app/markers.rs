//! Cluster mode: this broker writes the transaction markers the coordinator (another broker)
//! queued for partitions it leads (`pg::markers`), and appends the share groups' dead letters
//! other brokers queued for them (`pg::dead_letters`), on a thread of its own that reads both
//! queues when a notice says rows were queued (`NOTIFY gregor_markers`), and every second in
//! case one was missed.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::now_ms;
use crate::error::BrokerError;
use crate::log::records::{self, Rules};
use crate::partition::MarkerSpec;
use crate::pg::dead_letters;
use crate::pg::markers::{self, Marker};
use crate::pg::membership::Membership;
use crate::pg::notify;
use crate::topics::Topics;
use crate::txn::coordinator::COORDINATOR_EPOCH;

/// How long the writer waits for a notice before it reads the queue anyway: notices are hints
/// (one lost to a reconnection), and markers queued for a partition this broker has just come
/// to lead were announced before it listened for them.
const FALLBACK: Duration = Duration::from_secs(1);

pub(super) fn spawn(topics: &Arc<Topics>, membership: Arc<Membership>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::error!("no runtime for the transaction marker writer");
        return;
    };
    let topics = Arc::downgrade(topics);
    let member = membership.clone();
    let spawned = super::on_notices(
        "gregor-markers",
        membership,
        notify::MARKERS,
        FALLBACK,
        move || {
            let Some(topics) = topics.upgrade() else {
                return;
            };
            let led = Led::of(&topics);
            if led.logs.is_empty() {
                return;
            }
            if let Err(e) = write_queued(&topics, &led, &member, &runtime) {
                tracing::warn!(error = %format!("{e:#}"), "could not write queued transaction markers");
            }
            if let Err(e) = append_dead_letters(&topics, &led, &member, &runtime) {
                tracing::warn!(error = %format!("{e:#}"), "could not append queued dead letters");
            }
        },
    );
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the transaction marker writer");
    }
}

/// The partition logs this broker leads: their names, and each one's topic and index.
struct Led {
    logs: Vec<String>,
    partitions: Vec<(String, String, i32)>,
}

impl Led {
    fn of(topics: &Topics) -> Self {
        let partitions = topics.led_logs();
        let logs = partitions.iter().map(|(log, _, _)| log.clone()).collect();
        Self { logs, partitions }
    }

    /// (topic, index) of log `log`, if led here.
    fn find(&self, log: &str) -> Option<(&str, i32)> {
        let (_, topic, index) = self.partitions.iter().find(|(l, _, _)| l == log)?;
        Some((topic, *index))
    }
}

fn write_queued(
    topics: &Topics,
    led: &Led,
    membership: &Membership,
    runtime: &tokio::runtime::Handle,
) -> anyhow::Result<()> {
    for marker in markers::queued(membership.db(), &led.logs)? {
        let Some((topic, index)) = led.find(&marker.log) else {
            continue;
        };
        if write(topics, topic, index, &marker, runtime)? {
            markers::done(membership.db(), marker.id)?;
        }
    }
    Ok(())
}

/// Append the share groups' dead letters queued for partitions led here (`pg::dead_letters`),
/// each deleted once durable.
fn append_dead_letters(
    topics: &Topics,
    led: &Led,
    membership: &Membership,
    runtime: &tokio::runtime::Handle,
) -> anyhow::Result<()> {
    for queued in dead_letters::queued(membership.db(), &led.logs)? {
        let Some((topic, index)) = led.find(&queued.log) else {
            continue;
        };
        let partition = match topics.partition(topic, index) {
            Ok(p) => p,
            Err(BrokerError::NotLeaderOrFollower) => continue,
            Err(_) => {
                dead_letters::done(membership.db(), queued.id)?; // deleted: nowhere to go
                continue;
            }
        };
        let now = now_ms();
        // Checked against the topic's limits when queued.
        let rules = Rules {
            max_batch_bytes: usize::MAX,
            ..Rules::defaults(now)
        };
        let header = match records::validate_batch(&queued.batch, &rules) {
            Ok(header) => header,
            Err(e) => {
                tracing::warn!(log = queued.log, error = %e, "dropping an unreadable queued dead letter");
                dead_letters::done(membership.db(), queued.id)?;
                continue;
            }
        };
        let batch = bytes::Bytes::from(queued.batch);
        let appended = match partition.append(&header, batch, now) {
            Ok(appended) => appended,
            Err(e) => {
                tracing::warn!(log = queued.log, error = %e, "cannot append a queued dead letter yet");
                continue;
            }
        };
        match runtime.block_on(partition.commit(appended.info.last_offset)) {
            Ok(()) => dead_letters::done(membership.db(), queued.id)?,
            Err(e) => {
                tracing::warn!(log = queued.log, error = %e, "a queued dead letter did not become durable")
            }
        }
    }
    Ok(())
}

/// Write one marker and wait until it is durable; false if it is to be tried again later
/// (the partition is led elsewhere now, or could not take it).
fn write(
    topics: &Topics,
    topic: &str,
    index: i32,
    m: &Marker,
    runtime: &tokio::runtime::Handle,
) -> anyhow::Result<bool> {
    let partition = match topics.partition(topic, index) {
        Ok(p) => p,
        Err(BrokerError::NotLeaderOrFollower) => return Ok(false),
        Err(_) => return Ok(true), // deleted: nothing to mark
    };
    let spec = MarkerSpec {
        producer_id: m.producer_id,
        producer_epoch: m.producer_epoch,
        commit: m.commit,
        coordinator_epoch: COORDINATOR_EPOCH,
        transaction_version: 0,
    };
    let appended = partition.append_marker(&spec, now_ms());
    match appended {
        Ok(offset) => match runtime.block_on(partition.commit(offset)) {
            Ok(()) => Ok(true),
            Err(e) => {
                tracing::warn!(log = m.log, error = %e, "a transaction marker did not become durable");
                Ok(false)
            }
        },
        // A newer producer or coordinator epoch already wrote here: this transaction's data
        // is decided.
        Err(
            BrokerError::InvalidProducerEpoch
            | BrokerError::Transaction(kafka_protocol::ResponseError::TransactionCoordinatorFenced),
        ) => Ok(true),
        Err(e) => {
            tracing::warn!(log = m.log, error = %e, "cannot write a queued transaction marker");
            Ok(false)
        }
    }
}
