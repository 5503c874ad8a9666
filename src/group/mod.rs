//! The group coordinator: Kafka's classic group protocol (JoinGroup/SyncGroup/Heartbeat/
//! LeaveGroup) and committed offsets.
//!
//! [`classic`] is the pure state machine of one group (no I/O, time passed in); [`offsets`]
//! the committed-offset values and their expiry; [`record`] how both are persisted in the
//! metadata store; [`coordinator`] the driver: a [`crate::coord::Runtime`] that owns every
//! group, runs their timers and makes their changes durable before answering.

pub mod classic;
pub mod configs;
pub mod consumer;
pub mod coordinator;
pub mod offsets;
pub mod record;
pub mod share;
pub mod streams;

pub use coordinator::GroupCoordinator;

use crate::config::Config;

/// Kafka's `group.min.session.timeout.ms` default.
pub const MIN_SESSION_TIMEOUT_MS: i32 = 6_000;
/// Kafka's `group.max.session.timeout.ms` default.
pub const MAX_SESSION_TIMEOUT_MS: i32 = 1_800_000;
/// Kafka's `offsets.retention.minutes` default (7 days).
pub const OFFSETS_RETENTION_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// Kafka's `offsets.retention.check.interval.ms` default.
pub const OFFSETS_RETENTION_CHECK_INTERVAL_MS: i64 = 600_000;
/// Kafka's `group.classic.new.member.join.timeout.ms`... internal default: how long a new
/// member's parked JoinGroup may wait before it is dropped (it cannot heartbeat yet).
pub const NEW_MEMBER_JOIN_TIMEOUT_MS: i64 = 5 * 60 * 1000;
/// Kafka's `offset.metadata.max.bytes` default.
pub const OFFSET_METADATA_MAX_BYTES: usize = 4096;

/// Kafka's `group.share.max.size` default (`group.max.size` and `group.consumer.max.size`
/// default to Integer.MAX_VALUE).
pub const SHARE_MAX_SIZE: usize = 200;

/// A validated size setting (at least 1) as a count.
fn size(n: i32) -> usize {
    usize::try_from(n).unwrap_or(1).max(1)
}

/// The coordinator's settings (Kafka's names in the comments).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// group.initial.rebalance.delay.ms
    pub initial_rebalance_delay_ms: i64,
    /// group.min.session.timeout.ms
    pub min_session_timeout_ms: i32,
    /// group.max.session.timeout.ms
    pub max_session_timeout_ms: i32,
    /// offsets.retention.minutes, in ms
    pub offsets_retention_ms: i64,
    /// offsets.retention.check.interval.ms
    pub retention_check_interval_ms: i64,
    pub new_member_join_timeout_ms: i64,
    /// offset.metadata.max.bytes
    pub offset_metadata_max_bytes: usize,
    /// group.max.size: members of a classic group, at most.
    pub classic_max_size: usize,
    /// group.consumer.max.size: members of a consumer group, at most.
    pub consumer_max_size: usize,
    /// group.share.max.size: members of a share group, at most.
    pub share_max_size: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            initial_rebalance_delay_ms: 3_000,
            min_session_timeout_ms: MIN_SESSION_TIMEOUT_MS,
            max_session_timeout_ms: MAX_SESSION_TIMEOUT_MS,
            offsets_retention_ms: OFFSETS_RETENTION_MS,
            retention_check_interval_ms: OFFSETS_RETENTION_CHECK_INTERVAL_MS,
            new_member_join_timeout_ms: NEW_MEMBER_JOIN_TIMEOUT_MS,
            offset_metadata_max_bytes: OFFSET_METADATA_MAX_BYTES,
            classic_max_size: i32::MAX as usize,
            consumer_max_size: i32::MAX as usize,
            share_max_size: SHARE_MAX_SIZE,
        }
    }
}

impl GroupConfig {
    pub fn from_config(config: &Config) -> Self {
        Self {
            initial_rebalance_delay_ms: i64::try_from(config.group_initial_rebalance_delay_ms)
                .unwrap_or(i64::MAX),
            min_session_timeout_ms: config.group_min_session_timeout_ms,
            max_session_timeout_ms: config.group_max_session_timeout_ms,
            offsets_retention_ms: i64::try_from(
                config.offsets_retention_minutes.saturating_mul(60_000),
            )
            .unwrap_or(i64::MAX),
            classic_max_size: size(config.group_max_size),
            consumer_max_size: size(config.group_consumer_max_size),
            share_max_size: size(config.group_share_max_size),
            ..Self::default()
        }
    }
}

/// Wall-clock milliseconds: timers, state timestamps and commit timestamps (Kafka uses the
/// wall clock for all three, and the timestamps outlive restarts).
pub fn now_ms() -> i64 {
    crate::clock::now_ms()
}
