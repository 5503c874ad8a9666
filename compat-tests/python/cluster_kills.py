"""Issue 21's kill scenarios for three brokers, run against gregor's cluster over PostgreSQL
(test_cluster_pg.py) and against the reference Kafka as three brokers (test_cluster_kafka3.py,
the oracle): what they assert holds for Kafka too.

- `leaders_killed`: while an idempotent acks=all producer of librdkafka and one of the Java
  client write (each to a topic of replication factor 3, bootstrapped with all three), the
  leader of one partition after another is killed with kill -9 and restarted: its partitions
  get new leaders within the session, at new epochs, and every acknowledged record is read
  back once, in order. Then the broker coordinating a consumer group is killed: the next
  coordinator serves the group's committed offsets and a new member resumes exactly after
  them. A clean stop moves the broker's partitions at once.
- `share_leader_killed`: while a KafkaShareConsumer accepts records, a broker leading some of
  its share-partitions (not the group coordinator) is killed with kill -9; the new leaders go
  on from the stored states: every record is acknowledged in the end, and none whose
  acknowledgement was answered is delivered again.

A node (`OwnGregor`, `kafka3.KafkaNode`) has `broker`, `port`, `proc`, `kill9()`,
`restart()` and `stop()`; `nodes` maps node ids 1-3 to them.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import NewTopic

from compat import (TIMEOUT, Broker, ck_admin, ck_conf, ck_error, ck_produce, set_group_config,
                    unique_topic, wait_for)
from test_crash_loop import PARTITIONS, KeyedProducer, committed_offsets, read_log

# Both clusters' broker sessions (gregor's lease, Kafka's broker.session.timeout.ms): short,
# so leaderships move quickly here.
SESSION_MS = 3000


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


def fully_replicated(cluster: Broker, topic: str) -> bool:
    """Every partition led, with all three brokers in sync (gregor: the three are live;
    Kafka: a restarted follower caught up). Before the next kill: with one broker down and
    another not yet back, Kafka's acks=all (min.insync.replicas=2) would refuse writes."""
    md = ck_admin(cluster).list_topics(topic, timeout=TIMEOUT).topics[topic]
    return len(md.partitions) == PARTITIONS and all(
        p.leader > 0 and len(p.isrs) == 3 for p in md.partitions.values())


def leaders_killed(nodes: dict, cluster: Broker, java_compat: list[str], tmp_path: Path,
                   cycles: int, clean_stop=lambda node: None):
    """The `leaders_killed` scenario (see the module's doc); `clean_stop(node)` checks what a
    cluster says of a node after it stopped cleanly."""
    brokers = list(nodes.values())
    producer = java = None
    try:
        # Each broker sees the others once it has their registrations.
        for b in brokers:
            wait_for(lambda: sorted(ck_admin(b.broker).list_topics(timeout=TIMEOUT).brokers)
                     == [1, 2, 3], f"broker on {b.port} listing the three")
        md = ck_admin(cluster).list_topics(timeout=TIMEOUT)
        assert {b.broker.address for b in brokers} == {
            f"{m.host}:{m.port}" for m in md.brokers.values()}
        topic = unique_topic("three")
        # No more replicas than brokers.
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
        for cycle in range(cycles):
            wait_for(lambda: fully_replicated(cluster, topic) and fully_replicated(cluster, java_topic),
                     "every partition on three brokers in sync", timeout=TIMEOUT * 2)
            victim = leaders(cluster, topic)[cycle % PARTITIONS]
            nodes[victim].kill9()
            killed = time.monotonic()
            acked = len(producer.acked)
            java_acked = len(java.acked)
            wait_for(lambda: len(producer.acked) > acked + 50 and len(java.acked) > java_acked + 50
                     and all_led(cluster, topic) and victim not in leaders(cluster, topic).values(),
                     f"acknowledgements after killing broker {victim}", timeout=TIMEOUT * 2)
            took = time.monotonic() - killed
            assert took < SESSION_MS / 1000 + 15, f"{took:.1f} s without the partitions of {victim}"
            nodes[victim].restart()
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

        # The group coordinator's broker dies: another takes the group over.
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
        nodes[coordinator].kill9()
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
        nodes[coordinator].restart()

        # A clean stop hands the broker's partitions over at once.
        wait_for(lambda: fully_replicated(cluster, topic), "every partition on three brokers in sync",
                 timeout=TIMEOUT * 2)
        stopping = nodes[1]
        stopping.proc.terminate()
        stopping.proc.wait(TIMEOUT)
        clean_stop(stopping)
        others = Broker(cluster.name, ",".join(b.broker.address for b in brokers if b is not stopping))
        wait_for(lambda: 1 not in leaders(others, topic).values(),
                 "the stopped broker's partitions led elsewhere", timeout=SESSION_MS / 1000)
    finally:
        if producer is not None:
            producer.halt()
        if java is not None:
            java.halt()
        for b in brokers:
            b.stop()


def share_leader_killed(nodes: dict, cluster: Broker, java_compat: list[str], tmp_path: Path,
                        coordinator_of):
    """The `share_leader_killed` scenario (see the module's doc); `coordinator_of(group)` is the
    node id coordinating a group."""
    brokers = list(nodes.values())
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
        coordinator = coordinator_of(group)
        placed = leaders(cluster, topic)
        victim = next(node for node in placed.values() if node != coordinator)
        moved = {p for p, node in placed.items() if node == victim}
        nodes[victim].kill9()
        # What the new leaders must know: records of the moved partitions acknowledged
        # through the killed broker.
        assert {p for p, _ in set(consumer.acked)} & moved, (moved, len(consumer.acked))
        written += ck_produce(cluster, topic, records("b"))
        want = set(written)
        wait_for(lambda: want <= consumer.acked, "every record acknowledged",
                 timeout=TIMEOUT * 4)
        assert victim not in leaders(cluster, topic).values()
        nodes[victim].restart()
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
