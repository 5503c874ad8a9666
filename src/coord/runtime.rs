//! A coordinator runtime: one OS thread owns a state value (all groups, or all transactional
//! ids), takes commands over a channel, fires the state's timers, and makes each batch of
//! changes durable with one store write before it answers any request of the batch.
//!
//! A thread rather than a task: store writes are synchronous (RocksDB with fsync) and must
//! not stall the async workers, and one owner needs no locks around the state. Handlers send
//! closures ([`Runtime::call`], [`Runtime::query`]) and await a oneshot; the answer is queued
//! on the batch ([`Batch::reply`]) and sent only after the batch's write (or at once when the
//! batch wrote nothing). A command that panics costs its own caller an answer (the sender is
//! dropped: COORDINATOR_NOT_AVAILABLE), not the thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use kafka_protocol::ResponseError as E;
use tokio::sync::oneshot;

use crate::store::{KvStore, WriteOp};

/// Commands taken per batch (one store write) before timers get their turn.
const MAX_BATCH: usize = 256;
/// The longest the thread sleeps without looking at the clock.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// A command: runs on the runtime's thread with the state and the batch's clock (ms).
pub type Command<S> = Box<dyn FnOnce(&mut S, i64) + Send>;

type AfterWrite = Box<dyn FnOnce(bool) + Send>;

/// What one batch changed: the store writes, and what to do once they are durable (true)
/// or have failed (false). The state owns it ([`Machine::batch`]).
#[derive(Default)]
pub struct Batch {
    writes: Vec<WriteOp>,
    after_write: Vec<AfterWrite>,
}

impl Batch {
    /// A store write of this batch.
    pub fn write(&mut self, op: WriteOp) {
        self.writes.push(op);
    }

    /// Answer once this batch is durable (whether or not the write succeeded: callers whose
    /// answer depends on it use [`Batch::after_write`]).
    pub fn reply<R: Send + 'static>(&mut self, tx: oneshot::Sender<R>, value: R) {
        self.after_write(move |_| {
            let _ = tx.send(value);
        });
    }

    /// Run `f` with the outcome of this batch's write.
    pub fn after_write(&mut self, f: impl FnOnce(bool) + Send + 'static) {
        self.after_write.push(Box::new(f));
    }

    pub fn has_writes(&self) -> bool {
        !self.writes.is_empty()
    }
}

/// A state a [`Runtime`] can own.
pub trait Machine: Send + 'static {
    /// The pending batch.
    fn batch(&mut self) -> &mut Batch;
    /// Fire whatever is due at `now`.
    fn fire_timers(&mut self, now: i64);
    /// When the next timer is due (ms), if any.
    fn next_deadline(&self) -> Option<i64>;
    /// Writes of this batch that are not key-value ops (a share leader's fenced state
    /// writes), made before the batch's store write and its answers. Default: nothing.
    fn persist(&mut self) {}
    /// The batch's write has succeeded (`ok`) or failed; called before its answers are sent,
    /// so that memory can be put back to what the store holds first.
    fn written(&mut self, ok: bool) {
        let _ = ok;
    }
    /// No more commands will come: answer whatever is parked.
    fn stopping(&mut self) {}
}

/// The state's own writes ([`Machine::persist`]), one store write for the batch, then the
/// state's [`Machine::written`], then the answers.
pub fn flush<S: Machine>(state: &mut S, store: &dyn KvStore, name: &str) {
    state.persist();
    let batch = std::mem::take(state.batch());
    let ok = if batch.writes.is_empty() {
        true
    } else {
        match store.write(batch.writes) {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(coordinator = name, error = %e, "could not persist a batch");
                false
            }
        }
    };
    state.written(ok);
    for f in batch.after_write {
        f(ok);
    }
    // `written` may itself have queued answers (nothing to write for them).
    if state.batch().has_writes() || !state.batch().after_write.is_empty() {
        flush(state, store, name);
    }
}

/// The handle: commands in, one thread. Once shut down every call answers
/// COORDINATOR_NOT_AVAILABLE; while not serving (in cluster mode another broker is the
/// coordinator) NOT_COORDINATOR.
pub struct Runtime<S> {
    name: &'static str,
    tx: Mutex<Option<mpsc::Sender<Command<S>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    serving: AtomicBool,
}

impl<S: Machine> Runtime<S> {
    /// Start the thread `gregor-<name>` owning `state`, writing to `store`.
    pub fn start(name: &'static str, state: S, store: Arc<dyn KvStore>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("gregor-{name}"))
            .spawn(move || run(name, state, store, rx))?;
        Ok(Self {
            name,
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            serving: AtomicBool::new(true),
        })
    }

    /// Whether calls are served (else they answer NOT_COORDINATOR).
    pub fn set_serving(&self, serving: bool) {
        self.serving.store(serving, Ordering::Release);
    }

    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::Acquire)
    }

    /// Run `f` on the thread and wait for it here (a blocking caller: the cluster's tick).
    pub fn run_blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut S, i64) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = std::sync::mpsc::channel();
        if !self.send(move |s, now| {
            let _ = tx.send(f(s, now));
        }) {
            return None;
        }
        rx.recv().ok()
    }

    /// Queue `f`; false when the runtime has stopped.
    pub fn send(&self, f: impl FnOnce(&mut S, i64) + Send + 'static) -> bool {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        tx.as_ref().is_some_and(|tx| tx.send(Box::new(f)).is_ok())
    }

    /// Run `f` on the thread; it answers through the sender it is given (now, through
    /// [`Batch::reply`], or from a later batch).
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut S, i64, oneshot::Sender<R>) + Send + 'static,
    ) -> Result<R, E> {
        if !self.serving.load(Ordering::Acquire) {
            return Err(E::NotCoordinator);
        }
        self.call_any(f).await
    }

    /// [`Runtime::call`] also while not serving (what any broker answers).
    pub async fn call_any<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut S, i64, oneshot::Sender<R>) + Send + 'static,
    ) -> Result<R, E> {
        let (tx, rx) = oneshot::channel();
        if !self.send(move |s, now| f(s, now, tx)) {
            return Err(E::CoordinatorNotAvailable);
        }
        rx.await.map_err(|_| E::CoordinatorNotAvailable)
    }

    /// Run `f` on the thread and answer with its result once the batch is durable.
    pub async fn query<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut S, i64) -> R + Send + 'static,
    ) -> Result<R, E> {
        self.call(move |s, now, tx| {
            let result = f(s, now);
            s.batch().reply(tx, result);
        })
        .await
    }

    /// Stop the thread after it has written what it has (its state's
    /// [`Machine::stopping`] answers what is parked); the store is released when this returns.
    pub fn shutdown(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            if thread.join().is_err() {
                tracing::error!(coordinator = self.name, "the coordinator thread panicked");
            }
        }
    }
}

impl<S> Drop for Runtime<S> {
    fn drop(&mut self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

/// A bug must cost one request (its caller sees COORDINATOR_NOT_AVAILABLE), not the whole
/// coordinator.
fn guarded<S>(name: &str, state: &mut S, f: impl FnOnce(&mut S)) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(state))).is_err() {
        tracing::error!(
            coordinator = name,
            "a coordinator operation panicked; carrying on"
        );
    }
}

fn run<S: Machine>(
    name: &'static str,
    mut state: S,
    store: Arc<dyn KvStore>,
    rx: mpsc::Receiver<Command<S>>,
) {
    loop {
        let now = crate::clock::now_ms();
        let wake = state.next_deadline().unwrap_or(i64::MAX);
        let sleep = Duration::from_millis(wake.saturating_sub(now).max(0) as u64).min(MAX_SLEEP);
        let first = match rx.recv_timeout(sleep) {
            Ok(command) => Some(command),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let now = crate::clock::now_ms();
        if let Some(command) = first {
            guarded(name, &mut state, |s| command(s, now));
            for command in rx.try_iter().take(MAX_BATCH) {
                guarded(name, &mut state, |s| command(s, now));
            }
        }
        guarded(name, &mut state, |s| s.fire_timers(now));
        flush(&mut state, store.as_ref(), name);
    }
    guarded(name, &mut state, |s| s.stopping());
    flush(&mut state, store.as_ref(), name);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    /// A counter persisted under "n"; `fail` makes the next write fail.
    #[derive(Default)]
    struct Counter {
        batch: Batch,
        n: u64,
        durable: u64,
        deadline: Option<i64>,
        fired: u32,
        /// Calls of `persist`, and the durable count each one saw.
        persisted: Vec<u64>,
    }

    impl Machine for Counter {
        fn batch(&mut self) -> &mut Batch {
            &mut self.batch
        }
        fn fire_timers(&mut self, now: i64) {
            if self.deadline.is_some_and(|d| d <= now) {
                self.deadline = None;
                self.fired += 1;
            }
        }
        fn next_deadline(&self) -> Option<i64> {
            self.deadline
        }
        fn persist(&mut self) {
            self.persisted.push(self.durable);
        }
        fn written(&mut self, ok: bool) {
            if ok {
                self.durable = self.n;
            } else {
                self.n = self.durable;
            }
        }
    }

    #[tokio::test]
    async fn persist_runs_once_per_batch_before_its_write_and_answers() {
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let rt = Runtime::start("test", Counter::default(), store).unwrap();
        let persisted_before_answer = rt
            .call(|c: &mut Counter, _, tx| {
                c.n += 1;
                c.batch.write(WriteOp::Put(b"n".to_vec(), vec![1]));
                let before = c.persisted.len();
                c.batch.after_write(move |_| {
                    let _ = tx.send(before);
                });
            })
            .await
            .unwrap();
        assert_eq!(persisted_before_answer, 0);
        // That batch persisted once, before its write made n durable.
        let persisted = rt.query(|c, _| c.persisted.clone()).await.unwrap();
        assert_eq!(persisted.first(), Some(&0));
        assert_eq!(persisted.len(), 1, "{persisted:?}");
        rt.shutdown();
    }

    #[tokio::test]
    async fn answers_after_the_batch_is_written_and_fires_timers() {
        let store: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
        let rt = Runtime::start("test", Counter::default(), store.clone()).unwrap();
        let store2 = store.clone();
        let seen = rt
            .call(move |c: &mut Counter, _, tx| {
                c.n += 1;
                c.batch
                    .write(WriteOp::Put(b"n".to_vec(), c.n.to_be_bytes().to_vec()));
                // Not yet written when the command runs.
                assert_eq!(store2.get(b"n").unwrap(), None);
                c.batch.reply(tx, c.n);
            })
            .await
            .unwrap();
        assert_eq!(seen, 1);
        assert_eq!(store.get(b"n").unwrap(), Some(1u64.to_be_bytes().to_vec()));
        assert_eq!(rt.query(|c, _| c.durable).await, Ok(1));
        rt.query(|c, now| c.deadline = Some(now + 20))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(rt.query(|c, _| c.fired).await, Ok(1));
        // A panicking command costs only its caller.
        assert_eq!(
            rt.query(|_, _| -> u32 { panic!("boom") }).await,
            Err(E::CoordinatorNotAvailable)
        );
        assert_eq!(rt.query(|c, _| c.n).await, Ok(1));
        rt.shutdown();
        assert_eq!(rt.query(|c, _| c.n).await, Err(E::CoordinatorNotAvailable));
    }
}
