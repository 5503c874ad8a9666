//! gregor: a Kafka-wire-compatible message broker.
//!
//! The crate is a library so that `tests/` can start a broker in-process; `main.rs` is a thin
//! command-line wrapper around [`server::run`].

pub mod api;
pub mod app;
pub mod blocking;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod coord;
pub mod error;
pub mod features;
#[doc(hidden)]
pub mod fuzzing;
pub mod group;
pub mod http;
#[cfg(test)]
mod layering;
pub mod log;
pub mod log_levels;
pub mod meta;
pub mod metrics;
pub mod mqtt;
pub mod partition;
pub mod pg;
pub mod quota;
pub mod security;
pub mod server;
pub mod shares;
pub mod store;
pub mod telemetry;
pub mod topics;
pub mod txn;
