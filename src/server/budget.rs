//! Byte budgets for requests read and not yet answered: one shared by every connection
//! (Kafka's queued.max.request.bytes) and one per connection, so neither many senders nor one
//! pipelining client can make the broker hold unbounded memory. A request takes from both as
//! its bytes arrive (a frame announced but not sent holds nothing) and gives everything back
//! once it is answered.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What one request holds until its response is written.
#[derive(Default)]
pub struct Held {
    connection: Option<OwnedSemaphorePermit>,
    shared: Option<OwnedSemaphorePermit>,
}

pub struct Budgets {
    shared: Arc<Semaphore>,
    shared_cap: u64,
    connection: Arc<Semaphore>,
    connection_cap: u64,
}

impl Budgets {
    /// `shared` is the broker-wide semaphore of `shared_cap` permits.
    pub fn new(shared: Arc<Semaphore>, shared_cap: u64, connection_cap: u64) -> Self {
        Budgets {
            shared,
            shared_cap,
            connection: Arc::new(Semaphore::new(connection_cap as usize)),
            connection_cap,
        }
    }

    /// Count `chunk` more bytes of a frame of `frame_len` bytes in both budgets, waiting until
    /// they fit, and add them to `held`. A frame larger than a budget takes at most all of it, so it is read once
    /// everything before it is answered. The connection's budget is taken first: a connection
    /// waiting on its own answers holds nothing more of the shared one.
    pub async fn take(&self, held: &mut Held, frame_len: usize, chunk: usize) {
        let frame_len = frame_len as u64;
        take_from(
            &self.connection,
            &mut held.connection,
            frame_len.min(self.connection_cap),
            chunk,
        )
        .await;
        take_from(
            &self.shared,
            &mut held.shared,
            frame_len.min(self.shared_cap),
            chunk,
        )
        .await;
    }

    /// True when every request read on this connection has been answered.
    pub fn all_answered(&self) -> bool {
        self.connection.available_permits() as u64 == self.connection_cap
    }
}

/// Take up to `chunk` permits from `from` into `held`, never more than `total` in all.
async fn take_from(
    from: &Arc<Semaphore>,
    held: &mut Option<OwnedSemaphorePermit>,
    total: u64,
    chunk: usize,
) {
    let already = held.as_ref().map_or(0, |p| p.num_permits() as u64);
    let want = (chunk as u64).min(total.saturating_sub(already));
    if want == 0 {
        return;
    }
    // `want` fits u32: a frame is at most max_request_bytes (an i32).
    let Ok(permit) = from.clone().acquire_many_owned(want as u32).await else {
        return; // never closed
    };
    match held {
        Some(h) => h.merge(permit),
        None => *held = Some(permit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn budgets(shared: &Arc<Semaphore>, shared_cap: u64, connection_cap: u64) -> Budgets {
        Budgets::new(shared.clone(), shared_cap, connection_cap)
    }

    async fn blocks(fut: impl std::future::Future) -> bool {
        tokio::time::timeout(Duration::from_millis(50), fut)
            .await
            .is_err()
    }

    async fn frame(b: &Budgets, len: usize) -> Held {
        let mut held = Held::default();
        b.take(&mut held, len, len).await;
        held
    }

    #[tokio::test]
    async fn a_connection_waits_for_its_own_answers() {
        let shared = Arc::new(Semaphore::new(1000));
        let b = budgets(&shared, 1000, 100);
        let first = frame(&b, 60).await;
        assert!(!b.all_answered());
        assert!(
            blocks(frame(&b, 60)).await,
            "60 + 60 exceeds the connection's 100"
        );
        drop(first);
        assert!(b.all_answered());
        let second = frame(&b, 60).await;
        // Larger than the whole budget: read once nothing else is pending.
        assert!(blocks(frame(&b, 500)).await);
        drop(second);
        let _big = frame(&b, 500).await;
        assert_eq!(
            shared.available_permits(),
            500,
            "the shared budget has room for it all"
        );
    }

    #[tokio::test]
    async fn connections_share_the_broker_budget() {
        let shared = Arc::new(Semaphore::new(100));
        let (a, b) = (budgets(&shared, 100, 1000), budgets(&shared, 100, 1000));
        let held = frame(&a, 80).await;
        assert!(blocks(frame(&b, 30)).await);
        let small = frame(&b, 20).await;
        drop(held);
        assert!(blocks(frame(&a, 1_000_000)).await, "takes the whole budget");
        drop(small);
        let _big = frame(&a, 1_000_000).await;
        assert_eq!(shared.available_permits(), 0);
    }

    #[tokio::test]
    async fn bytes_are_taken_as_they_arrive() {
        let shared = Arc::new(Semaphore::new(100));
        let b = budgets(&shared, 100, 1000);
        let mut announced_large = Held::default();
        b.take(&mut announced_large, 90, 10).await;
        assert_eq!(shared.available_permits(), 90, "only what arrived so far");
        let _other = frame(&budgets(&shared, 100, 1000), 50).await;
        b.take(&mut announced_large, 90, 40).await;
        assert_eq!(shared.available_permits(), 0);
        assert!(blocks(b.take(&mut announced_large, 90, 40)).await);
    }
}
