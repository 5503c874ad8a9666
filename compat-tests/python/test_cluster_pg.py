"""Cluster mode on PostgreSQL (issue 21), first part: one gregor whose every record, offset and
piece of metadata lives in a real PostgreSQL primary with a synchronous standby (Debian's
packages, pgcluster.py). The broker keeps nothing of its own: its data directory is wiped
between restarts.

An idempotent acks=all producer (librdkafka) writes keyed records to 4 partitions while
- the broker is killed with kill -9 and restarted, several times, half of them on an empty
  data directory;
- then the database primary is killed with kill -9 and the standby promoted; the broker
  reaches it through the multi-host URL (target_session_attrs=read-write).
Afterwards every acknowledged record is read back exactly once, in the order sent, per
partition; nothing is left undelivered.

Three brokers started at once on a fresh database report one cluster id (three rounds).

Three brokers on one database all serve: Metadata lists the three with their listeners, a
topic of replication factor 3 has its leaders spread over them (4 is refused, as Kafka
does), and while the producers (librdkafka, and the Java client on a topic of its own, both
bootstrapped with all three) write, the leader of one
partition after another is killed with kill -9 and restarted: its partitions move to live
brokers within the session, at new epochs, and every acknowledged record is read back once,
in order. Then the broker coordinating a consumer group is killed: the next coordinator
serves the group's committed offsets from the database and a new member resumes exactly
after them. A clean stop gives the broker's lease up and its partitions move at once.

A transaction over partitions led by all three brokers commits and aborts correctly for
read_committed and read_uncommitted readers (the coordinator queues the markers of other
brokers' partitions in the database; their leaders write them).

A share group over the three: while a KafkaShareConsumer accepts records, a broker leading
some of its share-partitions (not the coordinator) is killed with kill -9; the new leaders
load the stored states, every record is acknowledged in the end and none whose
acknowledgement was answered is delivered again.

Fencing: one of two brokers reaches the database through a TCP proxy that stops forwarding
(a network partition that closes nothing). It stops by itself within the session (its lease
cannot be renewed), the other takes its partitions over, and no record acknowledged by
either is lost.

Marked `once` (it starts its own broker and database; no broker fixture). Ports: from
COMPAT_PG_PORT + 10 (default 25442).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from compat import (TIMEOUT, Broker, ck_admin, ck_conf, ck_error, ck_produce, create_topic,
                    set_group_config, unique_topic, wait_for)
from pgcluster import APP_DB, APP_USER, PgCluster
from stallproxy import StallProxy
from test_crash_loop import PARTITIONS, KeyedProducer, committed_offsets, read_log
from test_groups import OwnGregor
from test_java import java_compat  # noqa: F401 - the fixture

pytestmark = [pytest.mark.once, pytest.mark.client("confluent-kafka")]

BASE = int(os.environ.get("COMPAT_PG_PORT", "25432")) + 10
CYCLES = int(os.environ.get("COMPAT_PG_CRASH_CYCLES", "4"))
# The active broker's lease (--broker-session-timeout-ms): short, so failovers are quick here.
SESSION_MS = 3000
FAST = ("--broker-session-timeout-ms", str(SESSION_MS))


@pytest.fixture
def pg_cluster():
    # Under /tmp: the servers run as `postgres` and need a path they can reach.
    work = Path(tempfile.mkdtemp(prefix="gregor-cluster-pg."))
    cluster = PgCluster(work / "pg", BASE, BASE + 1)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        if not os.environ.get("COMPAT_KEEP_PG"):
            shutil.rmtree(work, ignore_errors=True)


class JavaTool:
    """A compat-tests/java tool in a JVM of its own that runs until its stop file exists (the
    scenario `SCENARIO:STOPFILE`); each line it prints goes to `line` as it comes."""

    def __init__(self, java_compat: list[str], broker: Broker, scenario: str, workdir: Path,
                 name: str):
        self.stop_file = workdir / f"{name}.stop"
        self.stderr = open(workdir / f"{name}.err", "w+")
        env = dict(os.environ, COMPAT_DEADLINE="1200")
        self.proc = subprocess.Popen(
            [*java_compat, "java", f"{scenario}:{self.stop_file}", broker.address],
            stdout=subprocess.PIPE, stderr=self.stderr, text=True, env=env,
            stdin=subprocess.DEVNULL)
        self._reader = threading.Thread(target=self._read, name=name, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.line(line.strip())

    def line(self, line: str):
        raise NotImplementedError

    def halt(self):
        """Stop it; wait a while for it to end, then kill it."""
        self.stop_file.touch()
        try:
            self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._reader.join(TIMEOUT)


class JavaKeyedProducer(JavaTool):
    """KeyedProducer's twin in the Java client (compat-tests/java KeyedProduceScenario: its
    idempotent acks=all defaults, the same keys, partitions and values): its delivery reports
    are read from its output as they come."""

    def __init__(self, java_compat: list[str], broker: Broker, topic: str, workdir: Path):
        self.acked: dict[int, tuple[int, int]] = {}
        self.failed: dict[int, str] = {}
        self.sent: int | None = None
        super().__init__(java_compat, broker, f"keyed_produce:{topic}:{PARTITIONS}", workdir,
                         "java-producer")

    def line(self, line: str):
        word, _, rest = line.partition(" ")
        if word == "ack":
            seq, partition, offset = (int(x) for x in rest.split())
            self.acked[seq] = (partition, offset)
        elif word == "fail":
            seq, _, why = rest.partition(" ")
            self.failed[int(seq)] = why
        elif word == "sent":
            self.sent = int(rest)

    def stop(self) -> int:
        """Stop sending, wait for every delivery report; returns how many stay undelivered."""
        self.stop_file.touch()
        self.proc.wait(TIMEOUT * 4)
        self._reader.join(TIMEOUT)
        self.stderr.seek(0)
        assert self.sent is not None, f"the Java producer ended without a count: {self.stderr.read()[-3000:]}"
        return self.sent - len(self.acked) - len(self.failed)


def all_delivered(producer: KeyedProducer):
    """Stop sending; every record sent was delivered, none failed."""
    left = producer.stop()
    assert left == 0, f"{left} records never delivered"
    assert not producer.failed, f"delivery failures: {list(producer.failed.items())[:5]}"


def acked_in_order(producer: KeyedProducer, log: dict[int, list[tuple[int, int]]]):
    """Every acknowledged record once, at its acknowledged offset, in send order per partition."""
    seen: dict[int, int] = {}
    for partition, rows in log.items():
        seqs = [seq for _, seq in rows]
        assert len(seqs) == len(set(seqs)), f"partition {partition} holds a record twice"
        assert seqs == sorted(seqs), f"partition {partition} is out of send order"
        for offset, seq in rows:
            seen[seq] = (partition, offset)
    missing = [s for s in producer.acked if s not in seen]
    at = {(p, o): s for p, rows in log.items() for o, s in rows}
    assert not missing, f"{len(missing)} acknowledged records lost: " + ", ".join(
        f"{s} acknowledged at {producer.acked[s]} where the log holds {at.get(producer.acked[s])}"
        for s in missing[:8])
    # librdkafka acknowledges without an offset ("implicitly", offset None) the records of a
    # batch that was answered with an error but must have been written since a later batch of
    # the same idempotent producer was accepted: gregor answers an error when a commit's fate
    # is unknown (a database failover) and the resent commit lands.
    moved = [s for s, at in producer.acked.items()
             if seen[s] != at and not (at[1] is None and seen[s][0] == at[0])]
    assert not moved, "records not at their acknowledged (partition, offset): " + ", ".join(
        f"{s} acknowledged at {producer.acked[s]}, found at {seen[s]}" for s in moved[:5])


@pytest.mark.timeout(600)
def test_acknowledged_records_survive_broker_kill9_and_database_failover(pg_cluster, tmp_path):
    # The default session (9 s): the database failover below must not outlast the broker's
    # lease (a broker that cannot renew it for a session stops).
    broker = OwnGregor(tmp_path, storage=pg_cluster.url())
    rng = random.Random(os.environ.get("COMPAT_CRASH_SEED") or None)
    producer = None
    try:
        topic = create_topic(broker.broker, unique_topic("cluster-pg"), PARTITIONS)
        producer = KeyedProducer(broker.broker, topic)
        wait_for(lambda: len(producer.acked) > 50, "first acknowledgements")
        for cycle in range(CYCLES):
            time.sleep(rng.uniform(0.3, 1.5))
            broker.kill9()
            if cycle % 2 == 0:
                shutil.rmtree(broker.data)  # the database holds everything
            broker.restart()
            acked = len(producer.acked)
            wait_for(lambda: len(producer.acked) > acked + 20, f"acknowledgements after restart {cycle}")
        pg_cluster.kill_primary()
        time.sleep(1)
        pg_cluster.promote_standby()
        acked = len(producer.acked)
        wait_for(lambda: len(producer.acked) > acked + 20, "acknowledgements after the failover",
                 timeout=TIMEOUT * 2)
        all_delivered(producer)
        acked_in_order(producer, read_log(broker.broker, topic))
        # A restart on an empty data directory after the failover still finds it all: as a
        # new node id, it leads once the killed run's lease has expired.
        broker.kill9()
        shutil.rmtree(broker.data)
        broker.restart()
        node = int((broker.data / "node-id").read_text())
        wait_for(lambda: set(leaders(broker.broker, topic).values()) == {node},
                 "the partitions led by the new run", timeout=TIMEOUT * 2)
        acked_in_order(producer, read_log(broker.broker, topic))
    finally:
        if producer is not None:
            producer.halt()
        broker.stop()


def multi(*brokers: OwnGregor) -> Broker:
    """Clients bootstrapped with every broker's address."""
    return Broker("gregor-pg", ",".join(b.broker.address for b in brokers))


def record_epochs(cluster: Broker, topic: str) -> dict[int, list[int]]:
    """The leader epoch of every record, {partition: [epoch in offset order]}."""
    c = Consumer(ck_conf(cluster, **{"group.id": unique_topic("epochs"),
                                     "enable.auto.commit": False}))
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT)[1]
                for p in range(PARTITIONS)}
        c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        out: dict[int, list[int]] = {p: [] for p in range(PARTITIONS)}
        deadline = time.monotonic() + TIMEOUT * 2
        while any(len(out[p]) < ends[p] for p in out):
            assert time.monotonic() < deadline, "reading the epochs back timed out"
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error() is None:
                    out[m.partition()].append(m.leader_epoch())
        return out
    finally:
        c.close()


def leaders(cluster: Broker, topic: str) -> dict[int, int]:
    """{partition: leader} from Metadata (-1 while a partition has none; {} from a broker
    that has not heard of the topic yet)."""
    md = ck_admin(cluster).list_topics(topic, timeout=TIMEOUT).topics[topic]
    return {p: m.leader for p, m in md.partitions.items()}


def all_led(cluster: Broker, topic: str) -> bool:
    led = leaders(cluster, topic)
    return len(led) == PARTITIONS and all(node > 0 for node in led.values())


def agreed(brokers: list, *topics: str) -> bool:
    """Every broker answers the same leaders for `topics`. Until then one may still think it
    leads a partition that moved, and serve what it had (as a deposed Kafka leader does until
    the controller's word reaches it): reading there misses what the new leader acknowledged."""
    for topic in topics:
        views = [leaders(b.broker, topic) for b in brokers]
        if any(v != views[0] for v in views):
            return False
    return True


def make_topic(cluster: Broker, topic: str, replication: int):
    admin = ck_admin(cluster)  # kept until the answer is in
    fut = admin.create_topics(
        [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=replication)],
        operation_timeout=TIMEOUT)[topic]
    return ck_error(fut)


def three_brokers(tmp_path: Path, url: str) -> list[OwnGregor]:
    brokers = []
    for node in (1, 2, 3):
        (tmp_path / f"b{node}").mkdir()
        brokers.append(OwnGregor(tmp_path / f"b{node}", storage=url,
                                 extra_args=FAST + ("--node-id", str(node))))
    return brokers


def test_brokers_started_at_once_on_an_empty_database_agree_on_one_cluster_id(pg_cluster, tmp_path):
    """Three brokers started together on a fresh database (as the cluster target and the README
    start them) report one cluster id. Each used to read the store, find no id and keep one of
    its own; franz-go and the Java client then refuse a broker whose id differs from the
    metadata they hold. Three rounds, each on a fresh database (the race needs an empty one)."""
    for round_ in range(3):
        if round_:
            pg_cluster.primary.psql(f"DROP DATABASE {APP_DB} WITH (FORCE)")
            pg_cluster.primary.psql(f"CREATE DATABASE {APP_DB} OWNER {APP_USER}")
        brokers = []
        try:
            for node in (1, 2, 3):
                (tmp_path / f"r{round_}b{node}").mkdir()
                brokers.append(OwnGregor(tmp_path / f"r{round_}b{node}", storage=pg_cluster.url(),
                                         extra_args=FAST + ("--node-id", str(node)), wait=False))
            for b in brokers:
                b.wait_listening()
            ids = {b.port: ck_admin(b.broker).list_topics(timeout=TIMEOUT).cluster_id for b in brokers}
            assert len(set(ids.values())) == 1 and None not in ids.values(), f"round {round_}: {ids}"
        finally:
            for b in brokers:
                b.stop()


@pytest.mark.timeout(900)
def test_three_brokers_share_the_partitions_and_lose_nothing_when_leaders_are_killed(
        pg_cluster, tmp_path, java_compat):  # noqa: F811
    brokers = three_brokers(tmp_path, pg_cluster.url())
    by_id = {node: b for node, b in zip((1, 2, 3), brokers)}
    cluster = multi(*brokers)
    producer = java = None
    try:
        # Each broker sees the others once its tick has read their registrations.
        for b in brokers:
            wait_for(lambda: sorted(ck_admin(b.broker).list_topics(timeout=TIMEOUT).brokers)
                     == [1, 2, 3], f"broker on {b.port} listing the three")
        md = ck_admin(cluster).list_topics(timeout=TIMEOUT)
        assert {f"127.0.0.1:{b.port}" for b in brokers} == {
            f"{m.host}:{m.port}" for m in md.brokers.values()}
        topic = unique_topic("three")
        # As Kafka: no more replicas than brokers.
        err = make_topic(cluster, topic, 4)
        assert err is not None and err.name() == "INVALID_REPLICATION_FACTOR", err
        assert make_topic(cluster, topic, 3) is None
        for b in brokers:
            wait_for(lambda: all_led(b.broker, topic), f"every partition led, on {b.port}")
        placed = leaders(cluster, topic)
        assert len(set(placed.values())) == 3, f"leaders not spread over the brokers: {placed}"
        for p in ck_admin(cluster).list_topics(topic, timeout=TIMEOUT).topics[topic].partitions.values():
            assert len(p.replicas) == 3 and p.replicas[0] == p.leader, p
        producer = KeyedProducer(cluster, topic)
        # The Java client too, on a topic of its own (the same leaders are killed under it).
        java_topic = unique_topic("three-java")
        assert make_topic(cluster, java_topic, 3) is None
        java = JavaKeyedProducer(java_compat, cluster, java_topic, tmp_path)
        wait_for(lambda: len(producer.acked) > 50 and len(java.acked) > 50, "first acknowledgements",
                 timeout=TIMEOUT * 2)
        for cycle in range(CYCLES):
            victim = leaders(cluster, topic)[cycle % PARTITIONS]
            by_id[victim].kill9()
            killed = time.monotonic()
            acked = len(producer.acked)
            java_acked = len(java.acked)
            wait_for(lambda: len(producer.acked) > acked + 50 and len(java.acked) > java_acked + 50
                     and all_led(cluster, topic) and victim not in leaders(cluster, topic).values(),
                     f"acknowledgements after killing broker {victim}", timeout=TIMEOUT * 2)
            took = time.monotonic() - killed
            assert took < SESSION_MS / 1000 + 15, f"{took:.1f} s without the partitions of {victim}"
            by_id[victim].restart()
        all_delivered(producer)
        all_delivered(java)
        wait_for(lambda: agreed(brokers, topic, java_topic), "the brokers agreeing on the leaders")
        acked_in_order(producer, read_log(cluster, topic))
        acked_in_order(java, read_log(cluster, java_topic))
        # Each leader stamps its epoch into what it appends (KIP-320): per partition the
        # epochs only grow, and a partition whose leader was killed under load got a new one.
        epochs = record_epochs(cluster, topic)
        for p, seen in epochs.items():
            assert seen == sorted(seen) and seen[0] >= 0, f"partition {p}: epochs {seen}"
        assert any(len(set(seen)) > 1 for seen in epochs.values()), epochs

        # The group coordinator's broker dies: another takes the group over from the database.
        group = unique_topic("group")
        consumer = Consumer(ck_conf(cluster, **{"group.id": group, "auto.offset.reset": "earliest",
                                                "enable.auto.commit": False}))
        consumer.subscribe([topic])
        got = 0
        deadline = time.monotonic() + TIMEOUT * 2
        while got < len(producer.acked):
            assert time.monotonic() < deadline, f"the group read {got} of {len(producer.acked)}"
            got += sum(1 for m in consumer.consume(500, timeout=0.5) if m.error() is None)
        consumer.commit(asynchronous=False)
        consumer.close()
        before = committed_offsets(cluster, topic, group)
        admin = ck_admin(cluster)
        coordinator = admin.describe_consumer_groups([group])[group].result(
            timeout=TIMEOUT).coordinator.id
        by_id[coordinator].kill9()
        wait_for(lambda: committed_offsets(cluster, topic, group) == before,
                 "the group's offsets from the next coordinator", timeout=TIMEOUT * 2)
        # A new member resumes exactly after the last commit.
        fresh = ck_produce(cluster, topic, [(b"new", b"-1", None, p, None)
                                           for p in range(PARTITIONS)])
        consumer = Consumer(ck_conf(cluster, **{"group.id": group, "auto.offset.reset": "earliest",
                                                "enable.auto.commit": False}))
        consumer.subscribe([topic])
        seen = []
        deadline = time.monotonic() + TIMEOUT * 2
        while len(seen) < PARTITIONS:
            assert time.monotonic() < deadline, f"resumed with {seen}"
            seen += [(m.partition(), m.offset()) for m in consumer.consume(10, timeout=0.5)
                     if m.error() is None]
        consumer.close()
        assert sorted(seen) == sorted(fresh), f"resumed at {seen}, new records at {fresh}"
        by_id[coordinator].restart()

        # A clean stop gives the broker's lease up: its partitions move at once.
        stopping = brokers[0]
        stopping.proc.terminate()
        assert stopping.proc.wait(TIMEOUT) == 0, stopping.log.read_text()[-3000:]
        assert pg_cluster.psql("SELECT count(*) FROM gregor_leases WHERE name = 'broker/1'") == "0"
        wait_for(lambda: 1 not in leaders(multi(*brokers[1:]), topic).values(),
                 "the stopped broker's partitions led elsewhere", timeout=SESSION_MS / 1000)
    finally:
        if producer is not None:
            producer.halt()
        if java is not None:
            java.halt()
        for b in brokers:
            b.stop()


@pytest.mark.timeout(600)
def test_a_broker_cut_off_from_the_database_stops_and_is_replaced(pg_cluster, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with StallProxy(0, "127.0.0.1", pg_cluster.primary.port) as proxy:
        # Broker a reaches the primary only through the proxy.
        cut_off = pg_cluster.primary_url().replace(f":{pg_cluster.primary.port}/",
                                                   f":{proxy.port}/")
        a = OwnGregor(tmp_path / "a", storage=cut_off, extra_args=FAST)
        b = OwnGregor(tmp_path / "b", storage=pg_cluster.url(), extra_args=FAST)
        both = multi(a, b)
        producer = None
        try:
            topic = create_topic(both, unique_topic("fenced"), PARTITIONS)
            for x in (a, b):
                wait_for(lambda: all_led(x.broker, topic), f"every partition led, on {x.port}")
            assert len(set(leaders(both, topic).values())) == 2, "both brokers lead partitions"
            producer = KeyedProducer(both, topic)
            wait_for(lambda: len(producer.acked) > 50, "first acknowledgements")
            proxy.stall()
            stalled = time.monotonic()
            rc = a.proc.wait(TIMEOUT * 2)
            took = time.monotonic() - stalled
            assert rc == 1, f"the cut-off broker exited with {rc}"
            assert "lost a lease of the cluster" in a.log.read_text()
            assert took < SESSION_MS / 1000 + 10, f"the cut-off broker served {took:.1f} s on"
            acked = len(producer.acked)
            wait_for(lambda: len(producer.acked) > acked + 50,
                     "acknowledgements through the broker that took over", timeout=TIMEOUT * 2)
            all_delivered(producer)
            acked_in_order(producer, read_log(b.broker, topic))
        finally:
            if producer is not None:
                producer.halt()
            proxy.resume()
            a.stop()
            b.stop()


@pytest.mark.timeout(600)
def test_a_transaction_over_partitions_of_several_brokers_commits_and_aborts(pg_cluster, tmp_path):
    brokers = three_brokers(tmp_path, pg_cluster.url())
    cluster = multi(*brokers)
    producer = None
    try:
        topic = unique_topic("txn")
        for b in brokers:
            wait_for(lambda: sorted(ck_admin(b.broker).list_topics(timeout=TIMEOUT).brokers)
                     == [1, 2, 3], f"broker on {b.port} listing the three")
        assert make_topic(cluster, topic, 3) is None
        for b in brokers:
            wait_for(lambda: all_led(b.broker, topic), f"every partition led, on {b.port}")
        # One broker coordinates: the partitions of the others get their markers through it.
        assert len(set(leaders(cluster, topic).values())) == 3
        producer = Producer(ck_conf(cluster, **{"transactional.id": unique_topic("tid")}))
        producer.init_transactions(TIMEOUT)
        for txn, commit in (("c1", True), ("a2", False), ("c3", True)):
            producer.begin_transaction()
            for p in range(PARTITIONS):
                producer.produce(topic, value=txn.encode(), partition=p)
            # Sent before the abort (librdkafka drops what is still queued at an abort).
            assert producer.flush(TIMEOUT) == 0
            if commit:
                producer.commit_transaction(TIMEOUT)
            else:
                producer.abort_transaction(TIMEOUT)

        def read(isolation: str) -> dict[int, list[str]]:
            c = Consumer(ck_conf(cluster, **{"group.id": unique_topic("reader"),
                                             "isolation.level": isolation,
                                             "enable.partition.eof": True,
                                             "auto.offset.reset": "earliest"}))
            try:
                c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
                got: dict[int, list[str]] = {p: [] for p in range(PARTITIONS)}
                ended = set()
                deadline = time.monotonic() + TIMEOUT * 2
                while len(ended) < PARTITIONS:
                    assert time.monotonic() < deadline, f"{isolation}: read {got}"
                    for m in c.consume(100, timeout=0.5):
                        if m.error() is None:
                            got[m.partition()].append(m.value().decode())
                        elif m.error().code() == KafkaError._PARTITION_EOF:
                            ended.add(m.partition())
                return got
            finally:
                c.close()

        assert read("read_committed") == {p: ["c1", "c3"] for p in range(PARTITIONS)}
        assert read("read_uncommitted") == {p: ["c1", "a2", "c3"] for p in range(PARTITIONS)}
        assert pg_cluster.psql("SELECT count(*) FROM gregor_markers") == "0"
    finally:
        for b in brokers:
            b.stop()


class JavaShareConsumer(JavaTool):
    """A KafkaShareConsumer (compat-tests/java ShareConsumeScenario: explicit acknowledgement,
    every record accepted and committed after each poll); its `got` and `acked` lines are read
    as they come, in order."""

    def __init__(self, java_compat: list[str], broker: Broker, topic: str, group: str,
                 workdir: Path):
        self.acked: set[tuple[int, int]] = set()
        # (partition, offset, delivery count) delivered after its acknowledgement was answered.
        self.again: list[tuple[int, int, int]] = []
        super().__init__(java_compat, broker, f"share_consume:{topic}:{group}", workdir,
                         "share-consumer")

    def line(self, line: str):
        word, *rest = line.split() or [""]
        if word == "got":
            partition, offset, count = (int(x) for x in rest[:3])
            if (partition, offset) in self.acked:
                self.again.append((partition, offset, count))
        elif word == "acked":
            self.acked.add((int(rest[0]), int(rest[1])))


@pytest.mark.timeout(600)
def test_a_share_group_redelivers_nothing_acknowledged_when_a_share_leader_is_killed(
        pg_cluster, tmp_path, java_compat):  # noqa: F811
    """A share group (KIP-932) over three brokers: while a KafkaShareConsumer accepts records
    of a topic whose partitions the three lead, a broker leading some of them (not the
    coordinator) is killed with kill -9. Its share-partitions move with their partitions, the
    new leaders load the states stored in the database, and the consumer goes on: in the end
    every record is acknowledged, and no record whose acknowledgement a leader answered is
    delivered again (records delivered and not yet acknowledged may come again)."""
    brokers = three_brokers(tmp_path, pg_cluster.url())
    by_id = {node: b for node, b in zip((1, 2, 3), brokers)}
    cluster = multi(*brokers)
    consumer = None
    try:
        for b in brokers:
            wait_for(lambda: sorted(ck_admin(b.broker).list_topics(timeout=TIMEOUT).brokers)
                     == [1, 2, 3], f"broker on {b.port} listing the three")
        topic = unique_topic("share-kill")
        assert make_topic(cluster, topic, 3) is None
        for b in brokers:
            wait_for(lambda: all_led(b.broker, topic), f"every partition led, on {b.port}")
        group = unique_topic("share-kill-group")
        set_group_config(cluster, group, "share.auto.offset.reset", "earliest")
        records = lambda tag: [(None, f"{tag}{i}".encode(), [], i % PARTITIONS, None)  # noqa: E731
                               for i in range(300)]
        written = ck_produce(cluster, topic, records("a"))
        consumer = JavaShareConsumer(java_compat, cluster, topic, group, tmp_path)
        wait_for(lambda: len(consumer.acked) >= 100, "the first acknowledgements",
                 timeout=TIMEOUT * 2)
        coordinator = int(pg_cluster.psql(
            "SELECT node_id FROM gregor_leases WHERE name = 'coordinator'"))
        placed = leaders(cluster, topic)
        victim = next(node for node in placed.values() if node != coordinator)
        moved = {p for p, node in placed.items() if node == victim}
        by_id[victim].kill9()
        # What the new leaders must know from the database: records of the moved partitions
        # acknowledged through the killed broker.
        assert {p for p, _ in set(consumer.acked)} & moved, (moved, len(consumer.acked))
        written += ck_produce(cluster, topic, records("b"))
        want = set(written)
        wait_for(lambda: want <= consumer.acked, "every record acknowledged",
                 timeout=TIMEOUT * 4)
        assert victim not in leaders(cluster, topic).values()
        by_id[victim].restart()
        consumer.halt()
        assert not consumer.again, (
            f"{len(consumer.again)} acknowledged records delivered again (partition, offset, "
            f"delivery count): {consumer.again[:8]}")
        assert consumer.acked == want, sorted(consumer.acked - want)[:8]
    finally:
        if consumer is not None:
            consumer.halt()
        for b in brokers:
            b.stop()
