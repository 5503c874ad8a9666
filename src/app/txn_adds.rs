//! Cluster mode: the transaction coordinator's side of transactions v2 across brokers. A
//! partition leader that does not coordinate queues a Produce's partitions for the producer's
//! transaction (`pg::txn_adds`); while this broker coordinates, a thread of its own adds them
//! (durable before the answer) and writes each request's error code back. It reads the queue
//! when a notice says a request came (`NOTIFY gregor_txn_adds`), and every second in case one
//! was missed.

use std::sync::Arc;
use std::time::Duration;

use crate::pg::membership::Membership;
use crate::pg::notify;
use crate::pg::txn_adds::{self, AddRequest};
use crate::txn::coordinator::TxnCoordinator;

/// How long the thread waits for a notice before it reads the queue anyway (notices are
/// hints; one lost to a reconnection costs at most this).
const FALLBACK: Duration = Duration::from_secs(1);

pub(super) fn spawn(txns: TxnCoordinator, membership: Arc<Membership>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::error!("no runtime for the transaction coordinator's adds");
        return;
    };
    let db = membership.db().clone();
    let spawned = super::on_notices(
        "gregor-txn-adds",
        membership,
        notify::TXN_ADDS,
        FALLBACK,
        move || {
            if !txns.coordinates() {
                return;
            }
            let asked = match txn_adds::unanswered(&db) {
                Ok(asked) => asked,
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "could not read the transaction adds queued");
                    return;
                }
            };
            if asked.is_empty() {
                return;
            }
            // Together: the coordinator writes the adds of one round in one store write.
            let answers = runtime.block_on(futures::future::join_all(
                asked.into_iter().map(|r| add(&txns, r)),
            ));
            if let Err(e) = txn_adds::answer(&db, &answers) {
                tracing::warn!(error = %format!("{e:#}"), "could not answer the transaction adds");
            }
        },
    );
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the transaction coordinator's adds");
    }
}

/// Add the request's partitions as AddPartitionsToTxn would: (request id, Kafka error code,
/// 0 when added).
async fn add(txns: &TxnCoordinator, r: AddRequest) -> (i64, i16) {
    let added = txns
        .add_partitions(
            &r.transactional_id,
            r.producer_id,
            r.producer_epoch,
            r.partitions,
        )
        .await;
    (r.id, added.err().map_or(0, |e| e.code()))
}
