//! gregor's integration tests, in one test binary so that RocksDB is linked once. Each module
//! is one area's scenarios; `common` holds the in-process broker and raw-protocol client they
//! share. Tests run in parallel threads of this one process: none may change process-wide
//! state (environment variables, a global subscriber, fixed ports); child processes get their
//! environment through `Command`.

mod common;

mod acl;
mod acl_support;
mod add_partitions_to_txn_v5;
mod admin;
mod admin_cli;
mod admin_cli_security;
mod admin_limits;
mod alter_replica_log_dirs;
mod api_versions_4_4;
mod blocking;
mod broker_configs;
mod cli;
mod consumer_groups;
mod delegation_tokens;
mod describe_groups_v6;
mod durability;
mod features;
mod fuzz_dispatch;
mod group_limits;
mod groups;
mod integrity;
mod lifecycle;
mod list_config_resources;
mod metrics;
mod parity_4_4;
mod producer_state;
mod protocol;
mod quorum_elections;
mod quotas;
mod security;
mod share_dead_letters;
mod share_groups;
mod share_not_led;
mod share_read_committed;
mod share_v2;
mod streams_groups;
mod streams_groups_errors;
mod telemetry;
mod transactions;
mod transactions_v2;
mod txn_offset_commit_v6;
mod write_txn_markers;
