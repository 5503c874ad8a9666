//! What a handler is given: the request's header and origin, and typed access to the
//! services it may call. Nothing below `api/` sees this context; services get plain values.

use std::sync::Arc;

use kafka_protocol::messages::RequestHeader;

use super::connection::Connection;
use super::fetch_session::FetchSessions;
use crate::cluster::ClusterView;
use crate::config::Config;
use crate::features::Features;
use crate::group::GroupCoordinator;
use crate::log_levels::LogLevels;
use crate::metrics::Metrics;
use crate::pg::membership::Membership;
use crate::quota::{ClientQuotas, Throttle};
use crate::security::credentials::Credentials;
use crate::security::tokens::DelegationTokens;
use crate::security::{Authorizer, Session};
use crate::shares::Shares;
use crate::telemetry::Telemetry;
use crate::topics::Topics;
use crate::txn::coordinator::TxnCoordinator;

/// The services handlers call, built once by the composition root (`crate::app`).
pub struct Services {
    pub config: Arc<Config>,
    pub cluster: Arc<dyn ClusterView>,
    pub topics: Arc<Topics>,
    pub groups: Arc<GroupCoordinator>,
    /// Share groups' partitions led here (KIP-932's leader side).
    pub shares: Arc<Shares>,
    pub txns: TxnCoordinator,
    /// Client quotas: their configuration and enforcement.
    pub quotas: Arc<ClientQuotas>,
    /// Incremental fetch sessions (KIP-227), broker-wide.
    pub fetch_sessions: Arc<FetchSessions>,
    pub metrics: Arc<Metrics>,
    /// Client telemetry (KIP-714): subscriptions and what clients pushed.
    pub telemetry: Arc<Telemetry>,
    /// The ACL authorizer (`--authorizer acl`); None: everything is allowed.
    pub authorizer: Option<Arc<Authorizer>>,
    /// SASL users' credentials.
    pub credentials: Arc<Credentials>,
    /// Delegation tokens (disabled without `delegation_token_secret_key`).
    pub tokens: Arc<DelegationTokens>,
    /// Cluster mode: this broker's membership (its leases, given up at shutdown).
    pub membership: Option<Arc<Membership>>,
    /// The log levels at run time (BROKER_LOGGER resources).
    pub log_levels: Arc<LogLevels>,
    /// The cluster's finalized feature levels (ApiVersions, UpdateFeatures).
    pub features: Arc<Features>,
}

/// Where a connection came in: the listener's name and the address it advertises.
#[derive(Debug, Clone)]
pub struct ListenerInfo {
    pub name: String,
    pub host: String,
    pub port: u16,
}

#[derive(Clone)]
pub struct RequestContext {
    services: Arc<Services>,
    pub listener: Arc<ListenerInfo>,
    pub header: RequestHeader,
    /// Who sent the request: principal, client address, listener protocol.
    session: Arc<Session>,
    /// The connection it came on: its throttle (client quotas), its share sessions.
    connection: Arc<Connection>,
    /// The request's size on the wire (what a produce byte-rate quota counts).
    pub request_size: usize,
}

impl RequestContext {
    pub(super) fn new(
        services: Arc<Services>,
        listener: Arc<ListenerInfo>,
        header: RequestHeader,
        session: Arc<Session>,
        connection: Arc<Connection>,
        request_size: usize,
    ) -> Self {
        Self {
            services,
            listener,
            header,
            session,
            connection,
            request_size,
        }
    }

    /// Who sent the request.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The client's address (shown as a group member's host), when known.
    pub fn peer(&self) -> Option<std::net::SocketAddr> {
        self.session.peer
    }

    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }

    /// Topics and their partitions: lookup, administration, configs.
    pub fn topics(&self) -> &Arc<Topics> {
        &self.services.topics
    }

    /// Consumer groups and committed offsets.
    pub fn groups(&self) -> &GroupCoordinator {
        &self.services.groups
    }

    /// Transactions and producer ids.
    /// Share sessions and the share-partitions led here.
    pub fn shares(&self) -> &Shares {
        &self.services.shares
    }

    pub fn txns(&self) -> &TxnCoordinator {
        &self.services.txns
    }

    /// Client quotas: configuration (Alter/DescribeClientQuotas) and enforcement.
    pub fn quotas(&self) -> &Arc<ClientQuotas> {
        &self.services.quotas
    }

    /// Incremental fetch sessions (KIP-227).
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.services.telemetry
    }

    pub fn features(&self) -> &Arc<Features> {
        &self.services.features
    }

    pub fn fetch_sessions(&self) -> &Arc<FetchSessions> {
        &self.services.fetch_sessions
    }

    /// The client id of the request ("" when none), as quotas key clients.
    pub fn client_id(&self) -> &str {
        self.header.client_id.as_deref().unwrap_or("")
    }

    /// The client's host as Kafka's group descriptions show it (InetAddress.toString():
    /// "/127.0.0.1"); "" for an in-process request.
    pub fn client_host(&self) -> String {
        self.peer()
            .map(|p| format!("/{}", p.ip()))
            .unwrap_or_default()
    }

    /// Mute the connection for `ms` (a quota's throttle time): no further request is read
    /// from it until then.
    pub fn throttle(&self, ms: i64) {
        self.connection.throttle().mute_for(ms);
    }

    /// The connection the request came on.
    pub fn connection(&self) -> &Arc<Connection> {
        &self.connection
    }

    /// The connection's mute, for work that ends after the handler returns.
    pub fn throttle_handle(&self) -> Arc<Throttle> {
        self.connection.throttle().clone()
    }

    /// SASL users' credentials (SCRAM, PLAIN).
    pub fn credentials(&self) -> &Arc<Credentials> {
        &self.services.credentials
    }

    /// Delegation tokens.
    pub fn tokens(&self) -> &Arc<DelegationTokens> {
        &self.services.tokens
    }

    /// Brokers, leaders and coordinators.
    pub fn cluster(&self) -> &dyn ClusterView {
        self.services.cluster.as_ref()
    }

    /// [`Self::cluster`] to take along to a blocking task.
    pub fn cluster_shared(&self) -> &Arc<dyn ClusterView> {
        &self.services.cluster
    }

    /// The broker's log levels (BROKER_LOGGER resources).
    pub fn log_levels(&self) -> &LogLevels {
        &self.services.log_levels
    }

    /// Cluster mode: this broker's membership (the cluster's database).
    pub fn membership(&self) -> Option<&Arc<Membership>> {
        self.services.membership.as_ref()
    }

    /// The ACL authorizer, when one is configured (see `api/authz.rs` for the checks).
    pub fn authorizer(&self) -> Option<&Arc<Authorizer>> {
        self.services.authorizer.as_ref()
    }

    /// The broker's settings (read-only).
    pub fn config(&self) -> &Config {
        &self.services.config
    }

    /// Every live broker with the address it advertises on the request's listener, as (node,
    /// host, port): this node's is the listener's; another broker without a listener of that
    /// name is left out (Kafka lists a broker only on the listeners it has).
    pub fn broker_endpoints(&self) -> Vec<(i32, String, i32)> {
        let cluster = self.cluster();
        let this = cluster.this_node();
        cluster
            .brokers()
            .into_iter()
            .filter_map(|node| {
                if node == this {
                    return Some((node, self.listener.host.clone(), self.listener.port));
                }
                cluster
                    .endpoint(node, &self.listener.name)
                    .map(|(h, p)| (node, h, p))
            })
            .map(|(node, host, port)| (node, host, i32::from(port)))
            .collect()
    }

    /// [`Self::broker_endpoints`] for the registered brokers that are not live (Kafka's
    /// fenced brokers; DescribeCluster v2).
    pub fn fenced_broker_endpoints(&self) -> Vec<(i32, String, i32)> {
        let cluster = self.cluster();
        cluster
            .fenced_brokers()
            .into_iter()
            .filter_map(|node| {
                let (host, port) = cluster.endpoint(node, &self.listener.name)?;
                Some((node, host, i32::from(port)))
            })
            .collect()
    }
}
