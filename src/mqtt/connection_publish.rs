//! A connection's QoS 0 and 1 publishes that arrived together: those for one Kafka topic go
//! in one Produce request (one append, one group commit), and the acknowledgements follow in
//! the order the publishes came, as MQTT requires. A client with many publishes in flight
//! thus pays one fsync per run, not one per message.

use std::collections::BTreeMap;

use super::Conn;
use crate::mqtt::auth;
use crate::mqtt::codec::{Message, Outgoing};

/// Most publishes handled as one run (a read buffer's worth in practice).
pub const MAX_RUN: usize = 1024;

/// What became of one publish of a run.
enum Outcome {
    Stored,
    Denied,
    Failed(String),
}

impl Conn {
    /// Store `run` (QoS 0 and 1 publishes with valid topic names, in arrival order) and
    /// acknowledge it. Err (the connection ends) at the first QoS 1 publish that could not be
    /// stored: it and the ones after it are not acknowledged, and the client sends them again.
    pub(super) async fn publish_run(&mut self, run: Vec<Message>) -> Result<(), String> {
        if run.is_empty() {
            return Ok(());
        }
        let mut outcomes: Vec<Outcome> = run.iter().map(|_| Outcome::Stored).collect();
        let mut by_topic: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, m) in run.iter().enumerate() {
            let kafka_topic = self.broker.settings.map.kafka_topic(&m.topic);
            if auth::may_write(&self.broker, &self.session, &kafka_topic) {
                by_topic.entry(kafka_topic).or_default().push(i);
            } else {
                outcomes[i] = Outcome::Denied;
            }
        }
        for (kafka_topic, indexes) in &by_topic {
            let messages: Vec<&Message> = indexes.iter().map(|i| &run[*i]).collect();
            let results = self
                .broker
                .publish_all(&self.gw, kafka_topic, &messages)
                .await;
            for (i, result) in indexes.iter().zip(results) {
                if let Err(e) = result {
                    outcomes[*i] = Outcome::Failed(e);
                }
            }
        }
        let mut acks = Vec::new();
        let mut failure = None;
        for (m, outcome) in run.iter().zip(outcomes) {
            match (m.qos, outcome) {
                (0, Outcome::Failed(e)) => {
                    tracing::debug!(error = %e, "mqtt: a QoS 0 publish was lost");
                }
                (0, _) => {}
                (_, Outcome::Stored) => acks.push(Outgoing::PubAck(m.pkid)),
                (_, Outcome::Denied) => acks.push(Outgoing::PubAckDenied(m.pkid)),
                // No negative acknowledgement in 3.1.1: the client sends it again on reconnecting.
                (_, Outcome::Failed(e)) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        self.send_all(acks).await?;
        failure.map_or(Ok(()), Err)
    }
}
