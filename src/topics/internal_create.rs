//! Creation of streams groups' internal topics (repartition and changelog topics), as Kafka
//! 4.4's broker does it after a StreamsGroupHeartbeat (`DefaultAutoTopicCreationManager`):
//! fire and forget, one creation at a time per name, and each failure remembered for a
//! while so that the next heartbeats can tell the member why its topics are still missing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::{NewTopic, Topics};
use crate::clock::now_ms;
use crate::error::BrokerError;

/// At most this many failures are remembered (Kafka's cache is bounded the same way).
const MAX_ERRORS: usize = 1000;

#[derive(Default)]
pub struct InternalTopicCreator {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    in_flight: HashSet<String>,
    /// name → (why its creation failed, until when that is told)
    errors: HashMap<String, (String, i64)>,
}

impl InternalTopicCreator {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The remembered failures of these names, in their order: (name, message).
    pub fn errors(&self, names: &[String]) -> Vec<(String, String)> {
        let now = now_ms();
        let state = self.state();
        names
            .iter()
            .filter_map(|n| {
                let (message, until) = state.errors.get(n)?;
                (*until > now).then(|| (n.clone(), message.clone()))
            })
            .collect()
    }

    fn remember(&self, name: &str, outcome: Result<(), String>, ttl_ms: i64) {
        let mut state = self.state();
        state.in_flight.remove(name);
        match outcome {
            Ok(()) => {
                state.errors.remove(name);
            }
            Err(message) => {
                let now = now_ms();
                state.errors.retain(|_, (_, until)| *until > now);
                if state.errors.len() < MAX_ERRORS {
                    state
                        .errors
                        .insert(name.to_string(), (message, now + ttl_ms));
                }
            }
        }
    }
}

impl Topics {
    /// Create `topics` in the background (those not being created already); a topic that
    /// exists meanwhile is a success. Failures are remembered for `ttl_ms`.
    pub fn create_internal_topics(self: &Arc<Self>, topics: Vec<NewTopic>, ttl_ms: i64) {
        let fresh: Vec<NewTopic> = {
            let mut state = self.internal.state();
            topics
                .into_iter()
                .filter(|t| state.in_flight.insert(t.name.clone()))
                .collect()
        };
        if fresh.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let this = self.clone();
        runtime.spawn_blocking(move || {
            let names: Vec<String> = fresh.iter().map(|t| t.name.clone()).collect();
            let outcomes: Vec<Result<(), String>> = match this.create_topics(fresh, false) {
                Ok(results) => results
                    .into_iter()
                    .map(|r| match r {
                        Ok(_) | Err(BrokerError::TopicAlreadyExists(_)) => Ok(()),
                        Err(e) => Err(e.to_string()),
                    })
                    .collect(),
                Err(e) => names.iter().map(|_| Err(e.to_string())).collect(),
            };
            for (name, outcome) in names.iter().zip(outcomes) {
                match &outcome {
                    Ok(()) => tracing::info!(topic = %name, "created a streams group's internal topic"),
                    Err(e) => tracing::warn!(topic = %name, error = %e, "could not create a streams group's internal topic"),
                }
                this.internal.remember(name, outcome, ttl_ms);
            }
        });
    }

    /// Why creating these internal topics failed lately (name, message), in their order.
    pub fn internal_topic_errors(&self, names: &[String]) -> Vec<(String, String)> {
        self.internal.errors(names)
    }
}
