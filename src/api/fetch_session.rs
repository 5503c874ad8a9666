//! Incremental fetch sessions (KIP-227), as Kafka's `FetchManager`, `FetchSessionCache(Shard)`
//! and `FetchContext`s (server/src/main/java/org/apache/kafka/server/Fetch*.java) keep them.
//!
//! A full fetch (epoch 0) may open a session: the broker remembers the partitions and what it
//! last told the client of each, and answers with a session id. The client then sends
//! incremental fetches (that id, the next epoch): only the partitions whose fetch parameters
//! changed, plus the ones to forget; the broker reads every partition of the session and
//! answers only those with something new (records, a high watermark or log start offset that
//! moved, an error). Epoch -1 is a sessionless full fetch (and closes the session it names).
//!
//! One cache per broker, at most `max_incremental_fetch_session_cache_slots` sessions (Kafka
//! splits its slots over 8 shards; here they are one pool). When it is full, a new session
//! takes the place of one idle longer than [`EVICTION_MS`], or else of the least valuable
//! one (by privileged = from a follower, then size) if the new one is worth more.
//!
//! Pure bookkeeping: the handler (`fetch.rs`) reads the partitions a [`Context`] names and
//! hands back what it found; times are passed in.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use indexmap::IndexMap;
use kafka_protocol::messages::TopicName;
use kafka_protocol::ResponseError;
use uuid::Uuid;

/// A full fetch that may create a session.
pub const INITIAL_EPOCH: i32 = 0;
/// A full fetch that creates none (and pre-v7 fetches).
pub const FINAL_EPOCH: i32 = -1;
/// "No session" in a response.
pub const INVALID_SESSION_ID: i32 = 0;
/// Kafka's MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS: a session unused this long may be
/// evicted by any new one, and a session younger than this only by a privileged one.
pub const EVICTION_MS: i64 = 120_000;

/// A topic as the session names it: by id from Fetch v13 on, else by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TopicKey {
    Name(TopicName),
    Id(Uuid),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PartitionKey {
    pub topic: TopicKey,
    pub partition: i32,
}

/// What the fetcher asks of one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchParams {
    pub fetch_offset: i64,
    pub max_bytes: i32,
    /// The fetcher's own log start offset (followers; -1 from consumers).
    pub log_start_offset: i64,
    /// The leader epoch the fetcher's metadata names (-1: none; KIP-320).
    pub current_leader_epoch: i32,
    /// v12+: the epoch of the last batch the fetcher holds (-1: none; followers send it).
    pub last_fetched_epoch: i32,
}

/// One partition to read, with its parameters.
pub type Wanted = (PartitionKey, FetchParams);

/// What the response says of one partition, as far as the session compares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    pub has_records: bool,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub error: bool,
}

/// Kafka's `FetchMetadata.nextEpoch`.
pub fn next_epoch(epoch: i32) -> i32 {
    if epoch < 0 {
        FINAL_EPOCH
    } else if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

#[derive(Debug)]
struct Cached {
    params: FetchParams,
    /// What the client was last told (-1: nothing yet, or an error since).
    high_watermark: i64,
    log_start_offset: i64,
}

#[derive(Debug)]
pub struct Session {
    /// The epoch the next incremental request must carry.
    epoch: i32,
    uses_topic_ids: bool,
    /// In fetch order: partitions that returned records move to the end.
    partitions: IndexMap<PartitionKey, Cached>,
}

impl Session {
    fn wanted(&self) -> Vec<Wanted> {
        let entries = self.partitions.iter();
        entries.map(|(k, c)| (k.clone(), c.params)).collect()
    }
}

/// How one Fetch request is served, from [`FetchSessions::new_context`].
pub enum Context {
    /// The session cannot be used: this top-level error, no partitions, session id 0.
    Error(ResponseError),
    /// Answered in full, no session (epoch -1, or an incremental fetch that left its session
    /// empty, which closed it).
    Sessionless(Vec<Wanted>),
    /// Answered in full; a session is created when the answer goes out, if the cache admits it.
    Full {
        wanted: Vec<Wanted>,
        privileged: bool,
        uses_topic_ids: bool,
    },
    /// Every partition of the session is read; only what changed is answered.
    Incremental {
        session: Arc<Mutex<Session>>,
        id: i32,
        /// The session's epoch once this request was taken in.
        expected_epoch: i32,
        wanted: Vec<Wanted>,
    },
}

impl Context {
    /// The partitions to read, in answer order.
    pub fn wanted(&self) -> &[Wanted] {
        match self {
            Context::Error(_) => &[],
            Context::Sessionless(w) | Context::Full { wanted: w, .. } => w,
            Context::Incremental { wanted, .. } => wanted,
        }
    }
}

/// What goes out: the top-level error, the session id, and which answers are sent.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub error: Option<ResponseError>,
    pub session_id: i32,
    pub keep: Vec<bool>,
}

/// The cache's bookkeeping of one session (under the cache lock; the session has its own).
struct Slot {
    session: Arc<Mutex<Session>>,
    privileged: bool,
    created_ms: i64,
    last_used_ms: i64,
    size: usize,
    evictable_by_all: bool,
    evictable_by_privileged: bool,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<i32, Slot>,
    partitions: usize,
}

/// The broker's fetch sessions.
pub struct FetchSessions {
    max_slots: usize,
    inner: Mutex<Inner>,
    evictions: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FetchSessions {
    pub fn new(max_slots: usize) -> Self {
        Self {
            max_slots,
            inner: Mutex::default(),
            evictions: AtomicU64::new(0),
        }
    }

    /// Sessions in the cache (Kafka's NumIncrementalFetchSessions).
    pub fn len(&self) -> usize {
        lock(&self.inner).slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Partitions over all sessions (NumIncrementalFetchPartitionsCached).
    pub fn partitions(&self) -> usize {
        lock(&self.inner).partitions
    }

    /// Sessions evicted to make room for new ones (IncrementalFetchSessionEvictionsPerSec).
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Kafka's `FetchManager.newContext`: a full request (epoch 0 or -1) closes the session it
    /// names; an incremental one must name a cached session at its epoch, and updates it with
    /// the partitions it names (added or changed) and forgets.
    pub fn new_context(
        &self,
        (session_id, epoch): (i32, i32),
        uses_topic_ids: bool,
        privileged: bool,
        wanted: Vec<Wanted>,
        forgotten: Vec<PartitionKey>,
        now_ms: i64,
    ) -> Context {
        if epoch == INITIAL_EPOCH || epoch == FINAL_EPOCH {
            if session_id != INVALID_SESSION_ID {
                let mut inner = lock(&self.inner);
                remove(&mut inner, session_id);
            }
            return if epoch == FINAL_EPOCH {
                Context::Sessionless(wanted)
            } else {
                Context::Full {
                    wanted,
                    privileged,
                    uses_topic_ids,
                }
            };
        }
        let mut inner = lock(&self.inner);
        let Some(slot) = inner.slots.get(&session_id) else {
            return Context::Error(ResponseError::FetchSessionIdNotFound);
        };
        let handle = slot.session.clone();
        let mut session = lock(&handle);
        if session.epoch != epoch {
            return Context::Error(ResponseError::InvalidFetchSessionEpoch);
        }
        if session.uses_topic_ids != uses_topic_ids {
            return Context::Error(ResponseError::FetchSessionTopicIdError);
        }
        for (key, params) in &wanted {
            match session.partitions.get_mut(key) {
                Some(cached) => cached.params = *params,
                None => {
                    let cached = Cached {
                        params: *params,
                        high_watermark: -1,
                        log_start_offset: -1,
                    };
                    session.partitions.insert(key.clone(), cached);
                }
            }
        }
        for key in &forgotten {
            session.partitions.shift_remove(key);
        }
        if session.partitions.is_empty() {
            drop(session);
            remove(&mut inner, session_id);
            return Context::Sessionless(wanted);
        }
        session.epoch = next_epoch(session.epoch);
        let size = session.partitions.len();
        let (expected_epoch, all) = (session.epoch, session.wanted());
        drop(session);
        touch(&mut inner, session_id, size, now_ms);
        Context::Incremental {
            session: handle,
            id: session_id,
            expected_epoch,
            wanted: all,
        }
    }

    /// The answer to send, given what was read of each partition of `ctx.wanted()` (in that
    /// order): a full fetch creates its session here; an incremental one keeps only the
    /// partitions with something new and remembers what it told the client.
    pub fn finish(&self, ctx: &Context, answers: &[Answer], now_ms: i64) -> Outcome {
        let all = |session_id| Outcome {
            error: None,
            session_id,
            keep: vec![true; answers.len()],
        };
        match ctx {
            Context::Error(e) => Outcome {
                error: Some(*e),
                session_id: INVALID_SESSION_ID,
                keep: vec![false; answers.len()],
            },
            Context::Sessionless(_) => all(INVALID_SESSION_ID),
            Context::Full {
                wanted,
                privileged,
                uses_topic_ids,
            } => {
                let mut partitions = IndexMap::with_capacity(wanted.len());
                for ((key, params), answer) in wanted.iter().zip(answers) {
                    let cached = Cached {
                        params: *params,
                        high_watermark: answer.high_watermark,
                        log_start_offset: answer.log_start_offset,
                    };
                    partitions.insert(key.clone(), cached);
                }
                let id = self.create(*privileged, *uses_topic_ids, partitions, now_ms);
                all(id)
            }
            Context::Incremental {
                session,
                id,
                expected_epoch,
                wanted,
            } => {
                let mut session = lock(session);
                if session.epoch != *expected_epoch {
                    // Another request moved the session on meanwhile (a duplicate).
                    return Outcome {
                        error: Some(ResponseError::InvalidFetchSessionEpoch),
                        session_id: *id,
                        keep: vec![false; answers.len()],
                    };
                }
                let mut moved = Vec::new();
                let keep = wanted
                    .iter()
                    .zip(answers)
                    .map(|((key, _), answer)| {
                        let Some(cached) = session.partitions.get_mut(key) else {
                            return true;
                        };
                        let keep = must_respond(cached, answer);
                        if answer.has_records {
                            moved.push(key.clone());
                        }
                        keep
                    })
                    .collect();
                move_to_end(&mut session.partitions, &moved);
                Outcome {
                    error: None,
                    session_id: *id,
                    keep,
                }
            }
        }
    }

    /// Kafka's `getThrottledResponse`: (error, session id) of the empty answer to a throttled
    /// request. The session is not updated (nor created).
    pub fn throttled(&self, ctx: &Context) -> (Option<ResponseError>, i32) {
        match ctx {
            Context::Incremental {
                session,
                id,
                expected_epoch,
                ..
            } => {
                if lock(session).epoch != *expected_epoch {
                    (Some(ResponseError::InvalidFetchSessionEpoch), *id)
                } else {
                    (None, *id)
                }
            }
            _ => (None, INVALID_SESSION_ID),
        }
    }

    /// Kafka's `maybeCreateSession`: the new session's id, or 0 when the cache is full of
    /// sessions worth keeping.
    fn create(
        &self,
        privileged: bool,
        uses_topic_ids: bool,
        partitions: IndexMap<PartitionKey, Cached>,
        now_ms: i64,
    ) -> i32 {
        let mut inner = lock(&self.inner);
        let size = partitions.len();
        if inner.slots.len() >= self.max_slots {
            if !try_evict(&mut inner, privileged, size, now_ms) {
                return INVALID_SESSION_ID;
            }
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
        let id = new_session_id(&inner);
        let session = Session {
            epoch: next_epoch(INITIAL_EPOCH),
            uses_topic_ids,
            partitions,
        };
        let slot = Slot {
            session: Arc::new(Mutex::new(session)),
            privileged,
            created_ms: now_ms,
            last_used_ms: now_ms,
            size: 0,
            evictable_by_all: false,
            evictable_by_privileged: false,
        };
        inner.slots.insert(id, slot);
        touch(&mut inner, id, size, now_ms);
        id
    }
}

/// Kafka's `CachedPartition.maybeUpdateResponseData`: whether the partition must be in the
/// answer, remembering what the client is told.
fn must_respond(cached: &mut Cached, answer: &Answer) -> bool {
    let mut must = answer.has_records;
    if cached.high_watermark != answer.high_watermark {
        must = true;
        cached.high_watermark = answer.high_watermark;
    }
    if cached.log_start_offset != answer.log_start_offset {
        must = true;
        cached.log_start_offset = answer.log_start_offset;
    }
    if answer.error {
        // So the partition is answered again once the error is gone.
        cached.high_watermark = -1;
        must = true;
    }
    must
}

/// Partitions that returned records go to the end, in their order, so the others are read
/// first next time (the response size limit then serves them).
fn move_to_end(partitions: &mut IndexMap<PartitionKey, Cached>, moved: &[PartitionKey]) {
    if moved.is_empty() {
        return;
    }
    for key in moved {
        if let Some((k, v)) = partitions.shift_remove_entry(key) {
            partitions.insert(k, v);
        }
    }
}

fn new_session_id(inner: &Inner) -> i32 {
    loop {
        let id = (Uuid::new_v4().as_u128() as u32 & 0x7fff_ffff) as i32;
        if id != INVALID_SESSION_ID && id != i32::MAX && !inner.slots.contains_key(&id) {
            return id;
        }
    }
}

fn remove(inner: &mut Inner, id: i32) -> bool {
    match inner.slots.remove(&id) {
        Some(slot) => {
            inner.partitions -= slot.size;
            true
        }
        None => false,
    }
}

/// Kafka's `touch`: last use, size, and which new sessions may evict it (a session younger than
/// the eviction time only a privileged one, unless it is privileged itself).
fn touch(inner: &mut Inner, id: i32, size: usize, now_ms: i64) {
    let Some(slot) = inner.slots.get_mut(&id) else {
        return;
    };
    let old = std::mem::replace(&mut slot.size, size);
    slot.last_used_ms = now_ms;
    let old_enough = now_ms - slot.created_ms > EVICTION_MS;
    slot.evictable_by_privileged = !slot.privileged || old_enough;
    slot.evictable_by_all = old_enough;
    inner.partitions = inner.partitions - old + size;
}

/// Kafka's `tryEvict`: the least recently used session if it is stale, else the least
/// valuable evictable one (by privileged, size, id) if the new one (privileged, size) is
/// worth more.
fn try_evict(inner: &mut Inner, privileged: bool, size: usize, now_ms: i64) -> bool {
    let lru = inner
        .slots
        .iter()
        .min_by_key(|(id, s)| (s.last_used_ms, **id))
        .map(|(id, s)| (*id, s.last_used_ms));
    let Some((lru, last_used)) = lru else {
        return false;
    };
    if now_ms - last_used > EVICTION_MS {
        return remove(inner, lru);
    }
    let least = inner
        .slots
        .iter()
        .filter(|(_, s)| match privileged {
            true => s.evictable_by_privileged,
            false => s.evictable_by_all,
        })
        .min_by_key(|(id, s)| (s.privileged, s.size, **id))
        .map(|(id, s)| (*id, (s.privileged, s.size)));
    match least {
        // Kafka compares (privileged, size, 0) with (privileged, size, id ≥ 1): a tie keeps
        // the old session.
        Some((id, worth)) if (privileged, size) > worth => remove(inner, id),
        _ => false,
    }
}

#[cfg(test)]
#[path = "fetch_session_tests.rs"]
mod tests;
