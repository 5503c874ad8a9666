"""Consumer groups (issue 4) with real clients: librdkafka (confluent-kafka) with the classic
eager `range` assignor and with `cooperative-sticky`, and kafka-python with the same two
(its cooperative-sticky in the takeover scenario only, to keep the suite fast).

Every member of a group polls in its own thread, like one `notifier` process each, with
session.timeout.ms 6000 (the brokers' minimum) and heartbeats every second; offsets are
committed explicitly, so every outcome is exact:

- `group_three_members`: three members on a fresh 2-partition topic → the group settles with
  two members owning one partition each and the third owning none (the clients' own view and
  the broker's DescribeGroups agree); 1,000 keyed records are consumed exactly once, each by
  its partition's owner; for longer than a session timeout after that, nobody rebalances,
  errs or leaves the group (the idle member's heartbeats keep it in).
- `group_takeover_and_resume`: a member owning a partition closes (LeaveGroup) → the idle one
  takes a partition over and reads from the committed offset; consumption goes on without loss
  or duplicates; after a commit and the group emptying, a new member resumes exactly after the
  committed offsets.
- `group_resume_after_broker_kill9`: on a broker of the test's own (gregor on a temp data dir;
  the reference Kafka through `reference-kafka.sh kill9|restart`), a member commits part of
  what it read; more records are produced; the broker is killed with kill -9 and restarted on
  the same data; a new member of the group reads exactly the records after the last commit.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import Future
from pathlib import Path

import pytest
from confluent_kafka import Consumer, ConsumerGroupState, TopicPartition

import kafka  # kafka-python
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.structs import OffsetAndMetadata
from kafka.structs import TopicPartition as KpTopicPartition

from compat import TIMEOUT, Broker, ck_admin, ck_conf, ck_produce, create_topic, free_port, kp_conf, \
    port_open, unique_topic, wait_for

SESSION_TIMEOUT_MS = 6000  # the brokers' group.min.session.timeout.ms
HEARTBEAT_MS = 1000
# (client, assignor): the matrix row's client, and the scenario's parameter.
CLIENTS = [
    ("confluent-kafka", "range"),
    ("confluent-kafka", "cooperative-sticky"),
    ("kafka-python", "range"),
    ("kafka-python", "cooperative-sticky"),
]
# The long three-member scenario (it outlasts a session timeout) leaves kafka-python's
# cooperative-sticky to the takeover scenario, whose first rebalance already moves a partition
# in two cooperative rounds.
THREE_MEMBER_CLIENTS = CLIENTS[:3]
KP_ASSIGNORS = {"range": RangePartitionAssignor, "cooperative-sticky": CooperativeStickyAssignor}
COMPAT_DIR = Path(__file__).resolve().parent.parent
# Logs of the crash scenario's own brokers are kept beside the matrix (compat-tests/results/).
RESULTS_DIR = Path(os.environ.get("COMPAT_MATRIX", COMPAT_DIR / "results" / "matrix.md")).parent


def clients(variants):
    return pytest.mark.parametrize("client,assignor", variants,
                                   ids=[f"{c}-{a}" for c, a in variants])


# --------------------------------------------------------------------------------- members

class Member:
    """One group member: a consumer subscribed to `topic`, created, polled, committed and closed
    in its own thread (kafka-python's consumer is not thread-safe; librdkafka serves rebalance
    callbacks inside poll). Records land in `records()` as (partition, offset, key, value)."""

    def __init__(self, client: str, broker: Broker, topic: str, group: str, name: str,
                 assignor: str):
        self.client, self.broker, self.topic, self.group = client, broker, topic, group
        self.name, self.assignor = name, assignor
        self._lock = threading.Lock()
        self._records: list[tuple] = []
        self._assignment: frozenset = frozenset()
        self.errors: list[tuple[float, str]] = []  # (monotonic time, error)
        self.rebalance_calls = 0  # assign / revoke / lost callbacks
        self._cmds: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._started: Future = Future()
        self._thread = threading.Thread(target=self._run, name=f"member-{name}", daemon=True)
        self._thread.start()
        self._started.result(timeout=TIMEOUT)

    # --- views, safe from the test thread
    def records(self) -> list[tuple]:
        with self._lock:
            return list(self._records)

    def assignment(self) -> frozenset:
        with self._lock:
            return self._assignment

    def positions(self) -> dict[int, int]:
        """{partition: last consumed offset + 1} over everything this member has read."""
        out: dict[int, int] = {}
        for p, o, _, _ in self.records():
            out[p] = max(out.get(p, 0), o + 1)
        return out

    # --- commands, run in the member's thread between polls
    def call(self, fn):
        fut: Future = Future()
        self._cmds.put((fn, fut))
        return fut.result(timeout=TIMEOUT)

    def commit(self, offsets: dict[int, int]):
        """Synchronous OffsetCommit of {partition: next offset to read}."""
        def run(c):
            if self.client == "confluent-kafka":
                res = c.commit(offsets=[TopicPartition(self.topic, p, o) for p, o in offsets.items()],
                               asynchronous=False)
                bad = [(tp.partition, str(tp.error)) for tp in res if tp.error is not None]
                assert not bad, f"{self.name}: commit errors {bad}"
            else:
                c.commit({KpTopicPartition(self.topic, p): OffsetAndMetadata(o, "", -1)
                          for p, o in offsets.items()})
        self.call(run)

    def committed(self, partitions) -> dict[int, int | None]:
        """OffsetFetch through the member: {partition: committed offset or None}."""
        def run(c):
            if self.client == "confluent-kafka":
                res = c.committed([TopicPartition(self.topic, p) for p in partitions], timeout=TIMEOUT)
                return {tp.partition: (tp.offset if tp.offset >= 0 else None) for tp in res}
            return {p: c.committed(KpTopicPartition(self.topic, p)) for p in partitions}
        return self.call(run)

    def close(self):
        """Stop polling and close the consumer (LeaveGroup)."""
        self._stop.set()
        self._thread.join(TIMEOUT)
        assert not self._thread.is_alive(), f"{self.name}: close did not finish in {TIMEOUT}s"

    # --- the member's thread
    def _error(self, what):
        self.errors.append((time.monotonic(), f"{self.name}: {what}"))

    def _on_rebalance(self, *_):
        self.rebalance_calls += 1

    def _make(self):
        if self.client == "confluent-kafka":
            c = Consumer(ck_conf(self.broker, **{
                "group.id": self.group,
                "client.id": self.name,
                "partition.assignment.strategy": self.assignor,
                "session.timeout.ms": SESSION_TIMEOUT_MS,
                "heartbeat.interval.ms": HEARTBEAT_MS,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 100,
                "error_cb": lambda err: self._error(f"error_cb {err}"),
            }))
            c.subscribe([self.topic], on_assign=self._on_rebalance, on_revoke=self._on_rebalance,
                        on_lost=self._on_rebalance)
            return c
        member = self

        class Listener(kafka.ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                member._on_rebalance()

            def on_partitions_assigned(self, assigned):
                member._on_rebalance()

            def on_partitions_lost(self, lost):
                member._on_rebalance()

        c = kafka.KafkaConsumer(**kp_conf(
            self.broker,
            group_id=self.group,
            client_id=self.name,
            partition_assignment_strategy=[KP_ASSIGNORS[self.assignor]],
            session_timeout_ms=SESSION_TIMEOUT_MS,
            heartbeat_interval_ms=HEARTBEAT_MS,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
        ))
        c.subscribe([self.topic], listener=Listener())
        # Refresh metadata between subscribe() and the first poll(), so the coordinator's
        # metadata snapshot already holds the topic's partitions when the member joins.
        # Otherwise a leader assigns from an empty snapshot, rejoins when the topic's metadata
        # arrives, and kafka-python 3.0.12 can lose that rejoin for good: when poll(timeout_ms)
        # returns while the JoinGroup/SyncGroup task is in flight, the task itself brings the
        # leader's assignment snapshot up to date, so on the next poll need_rejoin() is False,
        # the finished task is never collected, heartbeats stay disabled and no assignment is
        # applied; the broker expires the member after the session timeout and the client
        # never notices (seen with Kafka and gregor alike).
        c.topics()
        return c

    def _poll(self, c):
        rows = []
        if self.client == "confluent-kafka":
            for msg in c.consume(num_messages=500, timeout=0.1):
                if msg.error() is not None:
                    self._error(f"consume: {msg.error()}")
                    continue
                rows.append((msg.partition(), msg.offset(), msg.key(), msg.value()))
        else:
            for tp, recs in c.poll(timeout_ms=100).items():
                rows += [(r.partition, r.offset, r.key, r.value) for r in recs]
        assignment = frozenset(tp.partition for tp in c.assignment())
        with self._lock:
            self._records += rows
            self._assignment = assignment

    def _serve(self, c):
        while True:
            try:
                fn, fut = self._cmds.get_nowait()
            except queue.Empty:
                return
            try:
                fut.set_result(fn(c))
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                fut.set_exception(e)

    def _run(self):
        try:
            c = self._make()
        except BaseException as e:  # noqa: BLE001
            self._started.set_exception(e)
            return
        self._started.set_result(None)
        try:
            while not self._stop.is_set():
                self._serve(c)
                self._poll(c)
        except BaseException as e:  # noqa: BLE001
            self._error(f"poll loop died: {e!r}")
        finally:
            try:
                c.close()
            except BaseException as e:  # noqa: BLE001
                self._error(f"close: {e!r}")
            while not self._cmds.empty():
                _, fut = self._cmds.get_nowait()
                fut.set_exception(RuntimeError(f"{self.name} is closed"))


class KafkaPythonWarnings(logging.Handler):
    """kafka-python reports trouble (failed heartbeats, coordinator errors) only in its log:
    collect WARNING and above as (monotonic time, message)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.seen: list[tuple[float, str]] = []

    def emit(self, record):
        message = record.getMessage()
        # Its own event loop's timing on a busy machine ("Task ... ran for 0.101s ... It is
        # blocking the event loop"), not a word from the broker: seen against Kafka in CI.
        if "blocking the event loop" in message:
            return
        self.seen.append((time.monotonic(), f"kafka-python {record.levelname}: {message}"))


@pytest.fixture
def group_members():
    """start(...) → Member; every member still open at the end is closed; kafka-python's
    warnings are collected in `.kp_warnings`."""
    members: list[Member] = []
    handler = KafkaPythonWarnings()
    kp_logger = logging.getLogger("kafka")
    kp_logger.addHandler(handler)
    # kafka-python's join / sync / heartbeat story, shown with a failure (pytest's log capture).
    coordinator_log = logging.getLogger("kafka.coordinator")
    coordinator_level = coordinator_log.level
    coordinator_log.setLevel(logging.INFO)

    class Group:
        kp_warnings = handler.seen

        @staticmethod
        def start(*args, **kw) -> Member:
            m = Member(*args, **kw)
            members.append(m)
            return m

    try:
        yield Group
    finally:
        kp_logger.removeHandler(handler)
        coordinator_log.setLevel(coordinator_level)
        for m in members:
            m._stop.set()
        for m in members:
            m._thread.join(TIMEOUT)


# --------------------------------------------------------------------------------- helpers

def keyed_records(n: int, tag: str) -> list[tuple]:
    """n keyed records (40 order ids) in ck_produce's form."""
    return [(f"order-{i % 40}".encode(), f"{tag} event {i}".encode(), None, None, None)
            for i in range(n)]


def produced_rows(records, reports) -> list[tuple]:
    """(partition, offset, key, value) of produced records, sorted."""
    return sorted((p, o, k, v) for (k, v, _, _, _), (p, o) in zip(records, reports))


def describe_group(admin, group: str):
    """DescribeGroups: (state, {client id: (member id, frozenset of partitions)})."""
    desc = admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=TIMEOUT)
    return desc.state, {
        m.client_id: (m.member_id, frozenset(tp.partition for tp in m.assignment.topic_partitions))
        for m in desc.members}


def group_view(admin, group: str):
    """The broker's view (DescribeGroups): (state, {client id: frozenset of partitions})."""
    state, members = describe_group(admin, group)
    return state, {name: parts for name, (_, parts) in members.items()}


# Once broker and clients agree, how long no member may see a rebalance callback for the
# group to count as settled: an idle member's view (nothing) and an unchanged owner's view
# match the broker's new generation before their callbacks for it have run, so agreement
# alone can come a few polls early.
SETTLE_QUIET_S = 0.5


def wait_settled(admin, group: str, members: list[Member], partitions=(0, 1)) -> dict[str, frozenset]:
    """Wait until the broker reports the group Stable with exactly `members`, every partition
    assigned (a cooperative rebalance is Stable between its two rounds with the moving
    partition unassigned), each member's own assignment is what the broker says it got, and
    that stays so, with no member seeing a rebalance callback, for SETTLE_QUIET_S; return
    {name: partitions}."""
    last = {}

    def settled():
        state, view = group_view(admin, group)
        last["broker"] = (state, view)
        last["clients"] = {m.name: m.assignment() for m in members}
        if state != ConsumerGroupState.STABLE or set(view) != {m.name for m in members}:
            return None
        if frozenset().union(*view.values()) != frozenset(partitions):
            return None
        return view if all(m.assignment() == view[m.name] for m in members) else None

    def settled_and_quiet():
        view = settled()
        if view is None:
            return None
        calls = [m.rebalance_calls for m in members]
        time.sleep(SETTLE_QUIET_S)
        if [m.rebalance_calls for m in members] != calls or settled() != view:
            return None
        return view

    try:
        return wait_for(settled_and_quiet, f"group {group} to settle", interval=0.2)
    except AssertionError as e:
        raise AssertionError(f"{e}; broker view {last.get('broker')}, "
                             f"clients' view {last.get('clients')}") from None


def wait_consumed(members: list[Member], want: int, what: str):
    """Wait until the members together hold `want` records."""
    wait_for(lambda: sum(len(m.records()) for m in members) >= want,
             f"{want} records consumed {what}", interval=0.05)


def no_member_errors(members, since: float = 0.0, kp_warnings=()):
    errs = [e for m in members for t, e in m.errors if t >= since]
    errs += [w for t, w in kp_warnings if t >= since]
    return errs


def assert_two_owners_one_idle(view: dict[str, frozenset], partitions=(0, 1)):
    sizes = sorted(len(v) for v in view.values())
    assert sizes == [0] + [1] * len(partitions), f"assignment {view}"
    assert frozenset().union(*view.values()) == frozenset(partitions), f"assignment {view}"


# ------------------------------------------------------------------------------- scenarios

@clients(THREE_MEMBER_CLIENTS)
def test_group_three_members(broker, client, assignor, group_members):
    topic = create_topic(broker, unique_topic("group3"), 2)
    group = "compat-g3-" + uuid.uuid4().hex[:10]
    admin = ck_admin(broker)
    members = [group_members.start(client, broker, topic, group, f"m{i}", assignor)
               for i in (1, 2, 3)]
    view = wait_settled(admin, group, members)
    settled_at = time.monotonic()
    assert_two_owners_one_idle(view)
    calls = {m.name: m.rebalance_calls for m in members}
    described = describe_group(admin, group)  # member ids too: an expelled member gets a new one

    records = keyed_records(1000, "g3")
    reports = ck_produce(broker, topic, records)
    want = produced_rows(records, reports)
    wait_consumed(members, len(want), "by the group")
    # Stay polling past a whole session timeout since the group settled: a member whose
    # heartbeats the broker did not count would be expelled and the group would rebalance.
    # The broker's view is sampled meanwhile.
    while time.monotonic() < settled_at + SESSION_TIMEOUT_MS / 1000 + 0.5:
        assert describe_group(admin, group) == described, (
            f"the group changed while every member was healthy: {described} became "
            f"{describe_group(admin, group)}")
        time.sleep(0.5)

    got = sorted(r for m in members for r in m.records())
    assert len(got) == len(want), f"consumed {len(got)} records for {len(want)} produced"
    assert got == want, "the group did not consume every record exactly once"
    for m in members:
        rows = m.records()
        owned = view[m.name]
        assert {p for p, *_ in rows} <= owned, f"{m.name} read partitions it does not own ({owned})"
        for p in owned:
            assert [o for q, o, *_ in rows if q == p] == [o for q, o, *_ in want if q == p], (
                f"{m.name}: partition {p} not read in offset order from 0")
        if not owned:
            assert rows == [], f"idle member {m.name} consumed records"
    # librdkafka reports no error at all; kafka-python logs no warning once the group settled
    # (while it forms, heartbeats answered REBALANCE_IN_PROGRESS are logged as warnings).
    assert no_member_errors(members) == []
    assert no_member_errors(members, settled_at, group_members.kp_warnings) == []
    assert {m.name: m.rebalance_calls for m in members} == calls, "a rebalance after settling"
    assert {m.name: m.assignment() for m in members} == view
    assert describe_group(admin, group) == described, "the group changed while every member was healthy"


@clients(CLIENTS)
def test_group_takeover_and_resume(broker, client, assignor, group_members):
    topic = create_topic(broker, unique_topic("takeover"), 2)
    group = "compat-gt-" + uuid.uuid4().hex[:10]
    admin = ck_admin(broker)
    members = [group_members.start(client, broker, topic, group, f"m{i}", assignor)
               for i in (1, 2, 3)]
    view = wait_settled(admin, group, members)
    assert_two_owners_one_idle(view)
    idle = next(m for m in members if not view[m.name])
    leaving, staying = [m for m in members if view[m.name]]

    # Phase 1: the two owners read 400 records and commit what they read.
    recs1 = keyed_records(400, "phase1")
    want1 = produced_rows(recs1, ck_produce(broker, topic, recs1))
    wait_consumed(members, len(want1), "in phase 1")
    assert sorted(r for m in members for r in m.records()) == want1
    for m in (leaving, staying):
        m.commit(m.positions())
    committed1 = {p: max(o for q, o, *_ in want1 if q == p) + 1 for p in (0, 1)}

    # The owner of one partition leaves: the idle member gets a partition.
    lost_partition = next(iter(view[leaving.name]))
    leaving.close()
    rest = [staying, idle]
    view2 = wait_settled(admin, group, rest)
    assert sorted(len(v) for v in view2.values()) == [1, 1], f"after the leave: {view2}"
    assert view2[idle.name], "the idle member took no partition over"
    if assignor == "cooperative-sticky":  # sticky: the staying owner keeps its partition
        assert view2[staying.name] == view[staying.name] and view2[idle.name] == {lost_partition}

    # Phase 2: consumption continues from the committed offsets, nothing lost or repeated.
    seen_before = {m.name: len(m.records()) for m in rest}
    recs2 = keyed_records(400, "phase2")
    want2 = produced_rows(recs2, ck_produce(broker, topic, recs2))
    wait_consumed(rest, sum(seen_before.values()) + len(want2), "in phase 2")
    got2 = sorted(r for m in rest for r in m.records()[seen_before[m.name]:])
    assert got2 == want2, "after the takeover the group lost or repeated records"
    for m in rest:
        new = m.records()[seen_before[m.name]:]
        assert {p for p, *_ in new} <= view2[m.name]
        for p in view2[m.name]:
            first = min(o for q, o, *_ in new if q == p)
            assert first == committed1[p], (
                f"{m.name} started partition {p} at {first}, committed offset {committed1[p]}")
    for m in rest:
        m.commit({p: o for p, o in m.positions().items() if p in view2[m.name]})
    committed2 = {p: max(o for q, o, *_ in want2 if q == p) + 1 for p in (0, 1)}
    assert staying.committed([0, 1]) == committed2, "OffsetFetch after the phase-2 commits"
    for m in rest:
        m.close()
    assert no_member_errors(members) == [], "client errors"

    # Phase 3: records produced while the group is empty; a new member resumes exactly after
    # the committed offsets.
    recs3 = keyed_records(300, "phase3")
    want3 = produced_rows(recs3, ck_produce(broker, topic, recs3))
    newcomer = group_members.start(client, broker, topic, group, "m4", assignor)
    wait_consumed([newcomer], len(want3), "by the new member")
    assert sorted(newcomer.records()) == want3, "the new member did not resume at the commits"
    assert newcomer.assignment() == {0, 1}
    assert newcomer.errors == []


# ---------------------------------------------------------------- crash: a broker of our own

def keep_log(path: Path, name: str):
    try:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, RESULTS_DIR / name)
    except OSError:
        pass


class OwnGregor:
    """A gregor process on a free port and a temp data dir (--storage disk unless `storage`
    says otherwise, e.g. a postgres:// URL), for kill -9."""

    def __init__(self, workdir: Path, storage: str = "disk", extra_args: tuple = (),
                 wait: bool = True):
        # The binary run.sh tests: COMPAT_GREGOR_BIN, else $CARGO_TARGET_DIR/debug/gregor with
        # the target dir defaulting to $COMPAT_CACHE_DIR/target (~/.cache/gregor/target).
        cache = os.environ.get("COMPAT_CACHE_DIR") or str(Path.home() / ".cache/gregor")
        target = os.environ.get("CARGO_TARGET_DIR") or f"{cache}/target"
        self.bin = os.environ.get("COMPAT_GREGOR_BIN") or f"{target}/debug/gregor"
        if not os.access(self.bin, os.X_OK):
            pytest.skip(f"no gregor binary at {self.bin} (set COMPAT_GREGOR_BIN)")
        self.port = free_port()
        self.data = workdir / "data"
        self.log = workdir / "gregor.log"
        self.storage = storage
        self.extra_args = list(extra_args)
        self.proc = None
        self.start(wait)

    @property
    def broker(self) -> Broker:
        return Broker("gregor-own", f"127.0.0.1:{self.port}")

    def start(self, wait: bool = True):
        """Start it; with `wait`, until it listens (a cluster-mode standby listens only once
        it is active: then wait with `wait_listening`)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GREGOR_")}
        env["NO_COLOR"] = "1"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.bin, "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data),
                 "--storage", self.storage, "--group-initial-rebalance-delay-ms", "0",
                 *self.extra_args],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_listening()

    def wait_listening(self, timeout: float = TIMEOUT):
        wait_for(lambda: self.proc.poll() is not None or port_open(self.port),
                 f"gregor listening on {self.port}", timeout=timeout, interval=0.02)
        assert self.proc.poll() is None, f"gregor exited: {self.log.read_text()[-3000:]}"

    restart = start

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(TIMEOUT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        keep_log(self.log, "gregor-crash.log")


class OwnKafka:
    """A second reference Kafka (reference-kafka.sh with its own state dir and ports)."""

    script = COMPAT_DIR / "kafka" / "reference-kafka.sh"

    def __init__(self, workdir: Path):
        self.port, self.cport = free_port(), free_port()
        self.env = dict(os.environ, COMPAT_KAFKA_PORT=str(self.port),
                        COMPAT_KAFKA_CONTROLLER_PORT=str(self.cport),
                        COMPAT_KAFKA_STATE=str(workdir / "kafka"), COMPAT_KAFKA_HEAP="384m")
        self._run("start", "loms.order-events:2")

    @property
    def broker(self) -> Broker:
        return Broker("kafka-own", f"127.0.0.1:{self.port}")

    def _run(self, *args):
        res = subprocess.run([str(self.script), *args], env=self.env, capture_output=True,
                             text=True, timeout=180)
        assert res.returncode == 0, f"reference-kafka.sh {' '.join(args)}: {res.stderr[-3000:]}"

    def kill9(self):
        self._run("kill9")

    def restart(self):
        self._run("restart")

    def stop(self):
        keep_log(Path(self.env["COMPAT_KAFKA_STATE"]) / "server.log", "kafka-crash-server.log")
        self._run("stop")


class OwnBrokers:
    """The crash scenario's own brokers, {kind: OwnGregor | OwnKafka}, each started once and
    shared by its client variants; a Kafka (seconds to start) can be started in the background
    while the other group scenarios run."""

    def __init__(self):
        self.workdir = Path(tempfile.mkdtemp(prefix="gregor-compat-groups-"))
        self._lock = threading.Lock()
        self._started: dict[str, Future] = {}

    def prestart(self, kind: str):
        self._future(kind, background=True)

    def get(self, kind: str):
        if kind not in ("gregor", "kafka"):
            pytest.skip(f"no way to start a broker of kind {kind!r} of the test's own")
        return self._future(kind, background=False).result(timeout=180)

    def _future(self, kind: str, background: bool) -> Future:
        with self._lock:
            if kind in self._started:
                return self._started[kind]
            fut: Future = Future()
            self._started[kind] = fut

        def start():
            try:
                (self.workdir / kind).mkdir()
                cls = OwnGregor if kind == "gregor" else OwnKafka
                fut.set_result(cls(self.workdir / kind))
            except BaseException as e:  # noqa: BLE001 - raised by get()
                fut.set_exception(e)

        if background:
            threading.Thread(target=start, name=f"start-own-{kind}", daemon=True).start()
        else:
            start()
        return fut

    def stop_all(self):
        for fut in self._started.values():
            try:
                fut.result(timeout=180).stop()
            except BaseException:  # noqa: BLE001 - a broker that never started
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def own_brokers():
    brokers = OwnBrokers()
    try:
        yield brokers
    finally:
        brokers.stop_all()


@pytest.fixture(scope="module", autouse=True)
def _prestart_own_kafka(request, own_brokers):
    """Boot the crash scenario's own Kafka while the other scenarios of this module run."""
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if (item.originalname == "test_group_resume_after_broker_kill9" and callspec
                and callspec.params["broker"].name == "kafka"):
            own_brokers.prestart("kafka")
            break


@pytest.mark.single_broker("kills and restarts a broker of its own")
@pytest.mark.parametrize("client", ["confluent-kafka", "kafka-python"])
def test_group_resume_after_broker_kill9(broker, client, own_brokers, group_members):
    own = own_brokers.get(broker.name)
    target = own.broker
    topic = create_topic(target, unique_topic("crash"), 2)
    group = "compat-gc-" + uuid.uuid4().hex[:10]
    assignor = "range"

    recs1 = keyed_records(600, "before")
    want1 = produced_rows(recs1, ck_produce(target, topic, recs1))
    first = group_members.start(client, target, topic, group, "m1", assignor)
    wait_consumed([first], len(want1), "before the crash")
    assert sorted(first.records()) == want1
    # Commit part of what was read: the middle offset of each partition.
    commit = {p: len([1 for q, *_ in want1 if q == p]) // 2 for p in (0, 1)}
    first.commit(commit)
    assert first.committed([0, 1]) == commit
    first.close()

    recs2 = keyed_records(300, "after")  # acknowledged (acks=all) right before the kill
    want2 = produced_rows(recs2, ck_produce(target, topic, recs2))
    own.kill9()
    own.restart()

    second = group_members.start(client, target, topic, group, "m2", assignor)
    want = sorted([r for r in want1 if r[1] >= commit[r[0]]] + want2)
    wait_consumed([second], len(want), "after the restart")
    got = sorted(second.records())
    assert got == want, (
        f"after kill -9 and restart the member read {len(got)} records "
        f"(first per partition: { {p: min((o for q, o, *_ in got if q == p), default=None) for p in (0, 1)} }), "
        f"expected {len(want)} from the committed offsets {commit}")
    assert second.committed([0, 1]) == commit
