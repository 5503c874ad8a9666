//! This broker's membership of a cluster: its lease and registration, and whether it holds
//! the coordinator's lease. A lease that cannot be renewed within the session stops the
//! process (`lost`): other brokers may have taken over what it held by then.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::lease::{Lease, Taken};
use super::placement::{self, Endpoint};
use super::Db;

/// What to do when a lease is lost (the broker stops).
pub type Lost = fn(String);

pub struct Membership {
    db: Db,
    node_id: i32,
    session: Duration,
    lease: Arc<Lease>,
    coordinator: Arc<Lease>,
    coordinating: AtomicBool,
    left: AtomicBool,
    lost: Lost,
}

impl Membership {
    /// Join the cluster as `node_id`: take its lease (a new run of a node id replaces the
    /// earlier one at once), register the listeners, fence what an earlier run led.
    pub fn join(
        db: Db,
        node_id: i32,
        session: Duration,
        endpoints: &[Endpoint],
        lost: Lost,
    ) -> anyhow::Result<Arc<Self>> {
        let lease = Arc::new(Lease::broker(db.clone(), node_id, session));
        if let Taken::HeldBy { node_id: other, .. } = lease.try_acquire()? {
            anyhow::bail!("the lease of broker {node_id} is held by broker {other}");
        }
        placement::register(&db, node_id, endpoints)?;
        let refenced = placement::refence(&db, node_id)?;
        if refenced > 0 {
            tracing::info!(
                partitions = refenced,
                "fenced what an earlier run of this broker led"
            );
        }
        lease
            .clone()
            .keep(move |why| lost(format!("broker lease: {why}")));
        Ok(Arc::new(Self {
            coordinator: Arc::new(Lease::coordinator(db.clone(), node_id, session)),
            db,
            node_id,
            session,
            lease,
            coordinating: AtomicBool::new(false),
            left: AtomicBool::new(false),
            lost,
        }))
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    pub fn session(&self) -> Duration {
        self.session
    }

    /// Register the listeners as bound (a port 0 is known only then).
    pub fn advertise(&self, endpoints: &[Endpoint]) -> anyhow::Result<()> {
        placement::register(&self.db, self.node_id, endpoints)
    }

    /// Hold the coordinator's lease: true if this broker does now (it just took it: the
    /// caller loads the coordinators' state), false if a live broker does.
    pub fn try_coordinate(&self) -> anyhow::Result<bool> {
        if self.coordinating.load(Ordering::Acquire) {
            return Ok(true);
        }
        if self.coordinator.try_acquire()? != Taken::Acquired {
            return Ok(false);
        }
        self.coordinating.store(true, Ordering::Release);
        let lost = self.lost;
        self.coordinator
            .clone()
            .keep(move |why| lost(format!("coordinator lease: {why}")));
        Ok(true)
    }

    /// This broker's claim on the coordinator's lease (whether it holds it or not).
    pub fn coordinator_holder(&self) -> super::lease::Holder {
        self.coordinator.holder()
    }

    pub fn is_coordinator(&self) -> bool {
        self.coordinating.load(Ordering::Acquire)
    }

    /// Whether [`Self::leave`] has run.
    pub fn has_left(&self) -> bool {
        self.left.load(Ordering::Acquire)
    }

    /// Clean shutdown: give both leases up, so that other brokers take over at once.
    pub fn leave(&self) {
        self.left.store(true, Ordering::Release);
        if self.is_coordinator() {
            self.coordinator.release();
        }
        self.lease.release();
    }
}
