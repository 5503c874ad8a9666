//! What a handler is given: the request's header and origin, and typed access to the
//! services it may call. Nothing below `api/` sees this context; services get plain values.

use std::sync::Arc;

use kafka_protocol::messages::RequestHeader;

use crate::cluster::ClusterView;
use crate::config::Config;
use crate::group::GroupCoordinator;
use crate::metrics::Metrics;
use crate::security::credentials::Credentials;
use crate::security::Session;
use crate::topics::Topics;
use crate::txn::coordinator::TxnCoordinator;

/// The services handlers call, built once by the composition root (`crate::app`).
pub struct Services {
    pub config: Arc<Config>,
    pub cluster: Arc<dyn ClusterView>,
    pub topics: Arc<Topics>,
    pub groups: Arc<GroupCoordinator>,
    pub txns: TxnCoordinator,
    pub metrics: Arc<Metrics>,
    /// SASL users' credentials.
    pub credentials: Arc<Credentials>,
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
}

impl RequestContext {
    pub(super) fn new(
        services: Arc<Services>,
        listener: Arc<ListenerInfo>,
        header: RequestHeader,
        session: Arc<Session>,
    ) -> Self {
        Self {
            services,
            listener,
            header,
            session,
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
    pub fn txns(&self) -> &TxnCoordinator {
        &self.services.txns
    }

    /// SASL users' credentials (SCRAM, PLAIN).
    pub fn credentials(&self) -> &Arc<Credentials> {
        &self.services.credentials
    }

    /// Brokers, leaders and coordinators.
    pub fn cluster(&self) -> &dyn ClusterView {
        self.services.cluster.as_ref()
    }

    /// The broker's settings (read-only).
    pub fn config(&self) -> &Config {
        &self.services.config
    }

    /// Every broker with the address it advertises on the request's listener, as (node,
    /// host, port). Only this node's address is known (the listener's); the cluster view has
    /// no other brokers yet.
    pub fn broker_endpoints(&self) -> Vec<(i32, String, i32)> {
        let this = self.cluster().this_node();
        self.cluster()
            .brokers()
            .into_iter()
            .filter(|node| *node == this)
            .map(|node| {
                (
                    node,
                    self.listener.host.clone(),
                    i32::from(self.listener.port),
                )
            })
            .collect()
    }
}
