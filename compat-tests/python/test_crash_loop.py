"""The crash loop (issue 14): a broker of the test's own is killed with kill -9 and restarted
again and again, at random moments, while an idempotent acks=all producer and a committing
consumer group of two members keep working against it (librdkafka, confluent-kafka).

- The producer sends keyed records (8 keys over 4 partitions, value = a global sequence
  number) at a steady rate and never stops for the crashes (message.timeout.ms outlasts them).
- Each member consumes, "processes" (records what it read) and then commits exactly what it
  processed, synchronously; a failed commit is retried while the member still owns the
  partition.
- Each cycle: kill -9, a pause of up to COMPAT_CRASH_PAUSE_MAX_S (0.5 s), restart on the same
  data; then every COMPAT_CRASH_WAIT_EVERY-th (2nd) cycle the group is given time to resume
  (every partition committed again), the others kill at a random moment 0.2 s to
  COMPAT_CRASH_UPTIME_MAX_S (3 s) after the restart, resumed or not.

At the end (producer flushed, last restart done):
- every acknowledged record is in the log exactly once, on its partition, in the order the
  producer sent it there; nothing unacknowledged is there twice;
- the group's committed offsets reach the end of every partition and what its members
  processed covers every record below them (redelivery after a crash is allowed, loss not).

How long the group took to resume after each restart (until every partition has had a
successful commit after it) is printed (max, median) but not asserted: it depends on the
machine. gregor runs COMPAT_CRASH_CYCLES (8) cycles; the reference Kafka, whose restart takes
15 s here, COMPAT_CRASH_CYCLES_KAFKA (3), enough to compare and to check the scenario against
the oracle. The soak command (scripts/soak.sh) runs many more (50 on gregor by default). Members use session.timeout.ms COMPAT_CRASH_SESSION_TIMEOUT_MS (10000) and
heartbeat.interval.ms COMPAT_CRASH_HEARTBEAT_MS (1000); COMPAT_CRASH_SEED fixes the random
moments; COMPAT_CRASH_STATIC=1 gives members a group.instance.id; COMPAT_CRASH_DEBUG=1
logs restarts and slow commits.

What a resume costs (docs/ARCHITECTURE.md, "Consumer groups"): when the broker is away longer
than the session timeout, librdkafka gives its member id up (SESSTMOUT) and joins as a new
member; the broker (gregor or Kafka alike) reloads the old members and waits one session
timeout from the restart for them before the rebalance can finish. Kafka's restart alone
outlasts a 10 s session, so it pays that on every cycle; gregor's (tens of ms) does not.
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from compat import TIMEOUT, ck_conf, create_topic, unique_topic, wait_for
from test_groups import own_brokers  # noqa: F401 - the session fixture of the kill -9 brokers

pytestmark = pytest.mark.client("confluent-kafka")

PARTITIONS = 4
KEYS = 8
CYCLES = {"gregor": int(os.environ.get("COMPAT_CRASH_CYCLES", "8")),
          "kafka": int(os.environ.get("COMPAT_CRASH_CYCLES_KAFKA", "3"))}
# librdkafka's defaults (session 45 s, heartbeat 3 s) unless overridden: a member the broker
# waits for costs a whole session timeout, which is what a resume time would show.
SESSION_TIMEOUT_MS = int(os.environ.get("COMPAT_CRASH_SESSION_TIMEOUT_MS", "10000"))
HEARTBEAT_MS = int(os.environ.get("COMPAT_CRASH_HEARTBEAT_MS", "1000"))
# Far above any normal resume: a group that has not resumed after this fails the test.
RESUME_BOUND_S = float(os.environ.get("COMPAT_CRASH_RESUME_BOUND_S", "150"))
PRODUCE_INTERVAL_S = 0.005
# Every how many cycles the group is given time to resume before the next kill (the others
# kill at a random moment up to UPTIME_MAX_S after the restart).
WAIT_EVERY = int(os.environ.get("COMPAT_CRASH_WAIT_EVERY", "2"))
PAUSE_MAX_S = float(os.environ.get("COMPAT_CRASH_PAUSE_MAX_S", "0.5"))
UPTIME_MAX_S = float(os.environ.get("COMPAT_CRASH_UPTIME_MAX_S", "3.0"))


# Static membership (group.instance.id per member) instead of dynamic members.
STATIC = bool(os.environ.get("COMPAT_CRASH_STATIC"))
DEBUG = bool(os.environ.get("COMPAT_CRASH_DEBUG"))  # restart times, slow commits


def log(msg: str):
    print(f"[crash-loop {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Clock:
    """Events on one monotonic time line, to line restarts up with commits."""

    def __init__(self):
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0


class KeyedProducer:
    """An idempotent acks=all producer in its own thread: record `seq` has key k{seq % KEYS}
    on partition (seq % KEYS) % PARTITIONS and value seq; delivery reports are kept."""

    def __init__(self, broker, topic: str):
        self.topic = topic
        self.errors: list[str] = []
        self.acked: dict[int, tuple[int, int]] = {}  # seq -> (partition, offset)
        self.failed: dict[int, str] = {}  # seq -> delivery error
        self.sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.p = Producer(ck_conf(broker, **{
            "enable.idempotence": True, "acks": "all", "linger.ms": 5,
            "message.timeout.ms": int(RESUME_BOUND_S * 1000) * 2,
            "error_cb": lambda e: self.errors.append(str(e)),
        }))
        self._thread = threading.Thread(target=self._run, name="crash-producer", daemon=True)
        self._thread.start()

    def _report(self, seq: int):
        def cb(err, msg):
            with self._lock:
                if err is not None:
                    self.failed[seq] = str(err)
                else:
                    self.acked[seq] = (msg.partition(), msg.offset())
        return cb

    def _run(self):
        seq = 0
        while not self._stop.is_set():
            key = seq % KEYS
            try:
                self.p.produce(self.topic, key=f"k{key}".encode(), value=str(seq).encode(),
                               partition=key % PARTITIONS, on_delivery=self._report(seq))
            except BufferError:
                self.p.poll(0.1)
                continue
            seq += 1
            self.sent = seq
            self.p.poll(0)
            time.sleep(PRODUCE_INTERVAL_S)

    def halt(self):
        """Stop sending (a failed test must not leave it producing)."""
        self._stop.set()

    def stop(self) -> int:
        """Stop sending, wait for every delivery report; returns how many stay undelivered."""
        self._stop.set()
        self._thread.join(TIMEOUT)
        return self.p.flush(RESUME_BOUND_S * 2)


class CommittingMember:
    """A group member in its own thread: consume, record what was processed, commit exactly
    that (synchronously), retry a failed commit while the partition is still owned."""

    def __init__(self, broker, topic: str, group: str, name: str, clock: Clock):
        self.topic, self.name, self.clock = topic, name, clock
        self.processed: list[tuple[int, int, int]] = []  # (partition, offset, seq)
        self.commits: list[tuple[float, dict[int, int]]] = []  # (time, {partition: offset})
        self.commit_errors: list[tuple[float, str]] = []
        self.rebalances: list[tuple[float, str, list[int]]] = []
        self.client_errors: list[tuple[float, str]] = []
        self._owned: set[int] = set()
        self._pending: dict[int, int] = {}  # processed, not yet committed: partition -> next
        self._lock = threading.Lock()
        self._stop = threading.Event()
        static = {"group.instance.id": f"{group}-{name}"} if STATIC else {}
        self.c = Consumer(ck_conf(broker, **static, **{
            "group.id": group, "client.id": name,
            "partition.assignment.strategy": "range",
            "session.timeout.ms": SESSION_TIMEOUT_MS, "heartbeat.interval.ms": HEARTBEAT_MS,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
            "error_cb": lambda e: self.client_errors.append((self.clock.now(), str(e))),
        }))
        self.c.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                         on_lost=self._on_lost)
        self._thread = threading.Thread(target=self._run, name=f"crash-{name}", daemon=True)
        self._thread.start()

    def _on_assign(self, _c, parts):
        self._owned = {tp.partition for tp in parts}
        self.rebalances.append((self.clock.now(), "assign", sorted(self._owned)))

    def _on_revoke(self, _c, parts):
        self.rebalances.append((self.clock.now(), "revoke", sorted(tp.partition for tp in parts)))
        self._owned = set()
        self._pending.clear()

    def _on_lost(self, _c, parts):
        self.rebalances.append((self.clock.now(), "lost", sorted(tp.partition for tp in parts)))
        self._owned = set()
        self._pending.clear()

    def _commit_pending(self):
        offsets = {p: o for p, o in self._pending.items() if p in self._owned}
        if not offsets:
            return
        t0 = self.clock.now()
        try:
            res = self.c.commit(offsets=[TopicPartition(self.topic, p, o)
                                         for p, o in sorted(offsets.items())],
                                asynchronous=False)
        except KafkaException as e:
            self.commit_errors.append((self.clock.now(), str(e.args[0])))
            return
        finally:
            if DEBUG and self.clock.now() - t0 > 0.5:
                log(f"{self.name}: commit {t0:.2f} took {self.clock.now() - t0:.2f} s")
        bad = [tp for tp in res if tp.error is not None]
        if bad:
            self.commit_errors.append((self.clock.now(), str(bad[0].error)))
            return
        with self._lock:
            self.commits.append((self.clock.now(), offsets))
        for p, o in offsets.items():
            if self._pending.get(p) == o:
                del self._pending[p]

    def _run(self):
        while not self._stop.is_set():
            msgs = self.c.consume(num_messages=500, timeout=0.1)
            rows = []
            for m in msgs:
                if m.error() is not None:
                    self.client_errors.append((self.clock.now(), f"consume: {m.error()}"))
                    continue
                rows.append((m.partition(), m.offset(), int(m.value())))
                self._pending[m.partition()] = max(self._pending.get(m.partition(), 0),
                                                   m.offset() + 1)
            with self._lock:
                self.processed += rows
            self._commit_pending()
        self.c.close()

    def close(self):
        self._stop.set()
        self._thread.join(TIMEOUT)

    def commit_log(self) -> list[tuple[float, dict[int, int]]]:
        with self._lock:
            return list(self.commits)


def committed_since(members, since: float) -> tuple[float, set[int]]:
    """(time by which every partition had a commit after `since`, or inf; partitions seen)."""
    first: dict[int, float] = {}
    for m in members:
        for t, offsets in m.commit_log():
            if t > since:
                for p in offsets:
                    first[p] = min(first.get(p, t), t)
    if len(first) < PARTITIONS:
        return float("inf"), set(first)
    return max(first.values()), set(first)


def committed_offsets(broker, topic: str, group: str) -> dict[int, int]:
    """The group's committed offsets (OffsetFetch from a consumer that never joins)."""
    c = Consumer(ck_conf(broker, **{"group.id": group, "enable.auto.commit": False}))
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=TIMEOUT)
        return {tp.partition: tp.offset for tp in got}
    finally:
        c.close()


def read_log(broker, topic: str) -> dict[int, list[tuple[int, int]]]:
    """Every record of every partition, {partition: [(offset, seq)]}, to the high watermark."""
    c = Consumer(ck_conf(broker, **{"group.id": "crash-reader-" + uuid.uuid4().hex,
                                    "enable.auto.commit": False, "enable.partition.eof": True}))
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT)[1]
                for p in range(PARTITIONS)}
        c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        out: dict[int, list[tuple[int, int]]] = {p: [] for p in range(PARTITIONS)}
        deadline = time.monotonic() + TIMEOUT * 2
        while any((out[p][-1][0] + 1 if out[p] else 0) < ends[p] for p in out):
            assert time.monotonic() < deadline, "reading the log back timed out"
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error() is None:
                    out[m.partition()].append((m.offset(), int(m.value())))
        return out
    finally:
        c.close()


# Bounded: RESUME_BOUND_S per wait; the cycles themselves take a minute or two.
@pytest.mark.timeout(900)
@pytest.mark.single_broker("kills and restarts a broker of its own")
def test_crash_loop(broker, own_brokers, capsys):  # noqa: F811
    own = own_brokers.get(broker.name)
    target = own.broker
    cycles = CYCLES.get(broker.name, 3)
    if cycles <= 0:
        pytest.skip(f"no crash cycles configured for {broker.name}")
    rng = random.Random(os.environ.get("COMPAT_CRASH_SEED") or None)
    topic = create_topic(target, unique_topic("crash-loop"), PARTITIONS)
    group = "compat-crash-loop-" + uuid.uuid4().hex[:10]
    clock = Clock()
    producer = KeyedProducer(target, topic)
    members = [CommittingMember(target, topic, group, f"m{i}", clock) for i in (1, 2)]
    restarts: list[float] = []
    resumes: list[float | None] = []  # per restart: seconds to resume, None if killed before
    started = time.monotonic()
    try:
        wait_for(lambda: committed_since(members, 0.0)[0] < float("inf"),
                 "the group committing on every partition before the first crash",
                 timeout=RESUME_BOUND_S)
        for i in range(cycles):
            own.kill9()
            down = clock.now()
            time.sleep(rng.uniform(0, PAUSE_MAX_S))
            own.restart()
            t = clock.now()
            restarts.append(t)
            if DEBUG:
                log(f"restart {i + 1} at {t:.2f} (down {t - down:.2f} s)")
            if i % WAIT_EVERY == WAIT_EVERY - 1 or i == cycles - 1:
                # Let the group resume, then a little steady state.
                at = wait_for(lambda: (r := committed_since(members, t)[0]) < float("inf") and r,
                              f"the group resuming after restart {i + 1}",
                              timeout=RESUME_BOUND_S, interval=0.05)
                resumes.append(at - t)
                time.sleep(rng.uniform(0, 1.5))
            else:
                # Kill at a random moment, resumed or not (crashes during a rebalance).
                time.sleep(rng.uniform(0.2, UPTIME_MAX_S))
                at = committed_since(members, t)[0]
                resumes.append(at - t if at < clock.now() else None)
            log(f"{broker.name} cycle {i + 1}/{cycles}: "
                f"resumed after {resumes[-1]:.2f} s" if resumes[-1] is not None
                else f"{broker.name} cycle {i + 1}/{cycles}: killed before the group resumed")
        undelivered = producer.stop()
        assert undelivered == 0, f"{undelivered} records undelivered; errors {producer.errors[-5:]}"
        ends = {}
        log_rows = read_log(target, topic)
        for p, rows in log_rows.items():
            ends[p] = rows[-1][0] + 1 if rows else 0

        wait_for(lambda: committed_offsets(target, topic, group) == ends,
                 f"the group committing every partition's end ({ends})", timeout=RESUME_BOUND_S)
    finally:
        producer.halt()
        for m in members:
            m.close()
        wall = time.monotonic() - started
        done = [r for r in resumes if r is not None]
        lines = [f"{broker.name}: {len(restarts)} kill -9 cycles in {wall:.0f} s, "
                 f"{producer.sent} records sent; group resumed after restart (s): "
                 + (f"max {max(done):.2f}, median {statistics.median(done):.2f}, "
                    f"all {[round(r, 2) for r in done]}" if done else "none measured")
                 + f"; killed before resuming: {resumes.count(None)}"]
        for m in members:
            errs: dict[str, int] = {}
            for _, e in m.commit_errors:
                errs[e] = errs.get(e, 0) + 1
            lines.append(f"  {m.name}: {len(m.commits)} commits, "
                         f"{len(m.rebalances)} rebalance callbacks, commit errors {errs}")
        # The timings are the point of the comparison: shown even when pytest captures output.
        with capsys.disabled():
            for line in lines:
                log(line)

    # The log: every acknowledged record exactly once, on its partition, in producer order.
    assert not producer.failed, f"delivery errors: {list(producer.failed.items())[:5]}"
    seen: dict[int, int] = {}
    for p, rows in log_rows.items():
        for _, seq in rows:
            seen[seq] = seen.get(seq, 0) + 1
    dup = [s for s, n in seen.items() if n > 1]
    assert not dup, f"records in the log more than once: {dup[:10]}"
    for seq, (p, off) in producer.acked.items():
        assert seen.get(seq) == 1, f"acknowledged record {seq} (partition {p} offset {off}) missing"
    for p, rows in log_rows.items():
        seqs = [s for _, s in rows]
        assert seqs == sorted(seqs), f"partition {p} out of producer order"
        assert all(s % KEYS % PARTITIONS == p for s in seqs), f"partition {p} holds foreign records"
        want = sorted((off, s) for s, (q, off) in producer.acked.items() if q == p)
        assert [r for r in rows if r[1] in producer.acked] == want, \
            f"partition {p}: acknowledged offsets differ from the log"

    # The group: committed to the end, and what it processed covers everything below.
    processed: dict[int, set[int]] = {p: set() for p in range(PARTITIONS)}
    for m in members:
        for p, off, seq in m.processed:
            processed[p].add(off)
    at = {p: dict(rows) for p, rows in log_rows.items()}
    wrong = [(m.name, p, off, seq) for m in members for p, off, seq in m.processed
             if at[p].get(off) != seq]
    assert not wrong, f"members processed records the log does not hold: {wrong[:5]}"
    for p, rows in log_rows.items():
        missing = [off for off, _ in rows if off not in processed[p]]
        assert not missing, f"partition {p}: records the group never processed: {missing[:10]}"
