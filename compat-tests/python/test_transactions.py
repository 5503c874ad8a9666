"""Transactions (issue 7) with librdkafka (confluent-kafka), on both brokers:

- `txn_commit_abort`: three transactions (commit, abort, commit) → read_committed consumers
  see exactly the committed records, read_uncommitted ones see all of them.
- `txn_consume_transform_produce`: a consumer group member reads a topic, writes transformed
  records and `send_offsets_to_transaction` in one transaction per batch; the group's
  committed offsets and the output match exactly (one aborted round included, whose output
  and offsets must not appear).
- `txn_abandoned_times_out`: a transactional producer process is killed (SIGKILL) in the
  middle of a transaction with transaction.timeout.ms=5000 → the broker aborts it and
  read_committed readers get past it (a later committed record becomes visible).
- `txn_broker_kill9`: on a broker of the test's own, a transaction is open (records flushed)
  when the broker is killed with kill -9 and restarted; the producer then commits (or, if the
  broker aborted it, aborts and redoes it) → read_committed sees every record exactly once.
- `idempotent_broker_kill9`: an idempotent producer streams while the broker is killed and
  restarted → every record exactly once, in order.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from compat import TIMEOUT, ck_conf, create_topic, unique_topic
from test_groups import own_brokers  # noqa: F401 - the session fixture of the kill -9 brokers

pytestmark = pytest.mark.client("confluent-kafka")


def txn_producer(broker, txn_id: str, **extra) -> Producer:
    p = Producer(ck_conf(broker, **{"transactional.id": txn_id, **extra}))
    p.init_transactions(TIMEOUT)
    return p


def consume_all(broker, topic: str, partitions: int, isolation: str, want: int | None = None,
                settle: float = 2.0) -> list[tuple[int, int, bytes]]:
    """(partition, offset, value) of every data record, read from the start until `want`
    records arrived (then `settle` more seconds for extra ones) or TIMEOUT passed."""
    c = Consumer(ck_conf(broker, **{"group.id": "unused-" + uuid.uuid4().hex[:8],
                                    "enable.auto.commit": False,
                                    "isolation.level": isolation}))
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = []
    deadline = time.monotonic() + TIMEOUT
    settle_until = None
    try:
        while time.monotonic() < deadline:
            if settle_until is not None and time.monotonic() > settle_until:
                break
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            got.append((m.partition(), m.offset(), m.value()))
            if want is not None and len(got) >= want and settle_until is None:
                settle_until = time.monotonic() + settle
    finally:
        c.close()
    return sorted(got)


def values(rows) -> list[bytes]:
    return sorted(v for _, _, v in rows)


def test_txn_commit_abort(broker):
    topic = create_topic(broker, unique_topic("txn"), 2)
    p = txn_producer(broker, "compat-txn-" + uuid.uuid4().hex[:8])
    rounds = [("one", True), ("two", False), ("three", True)]
    for tag, commit in rounds:
        p.begin_transaction()
        for i in range(50):
            p.produce(topic, key=f"k{i % 5}".encode(), value=f"{tag}-{i}".encode())
        p.flush(TIMEOUT)
        if commit:
            p.commit_transaction(TIMEOUT)
        else:
            p.abort_transaction(TIMEOUT)
    committed = [f"{t}-{i}".encode() for t, c in rounds if c for i in range(50)]
    everything = [f"{t}-{i}".encode() for t, _ in rounds for i in range(50)]
    assert values(consume_all(broker, topic, 2, "read_committed", len(committed))) == \
        sorted(committed)
    assert values(consume_all(broker, topic, 2, "read_uncommitted", len(everything))) == \
        sorted(everything)


def test_txn_consume_transform_produce(broker):
    source = create_topic(broker, unique_topic("ctp-in"), 1)
    sink = create_topic(broker, unique_topic("ctp-out"), 1)
    inputs = [f"in-{i}".encode() for i in range(60)]
    plain = Producer(ck_conf(broker))
    for v in inputs:
        plain.produce(source, value=v)
    plain.flush(TIMEOUT)

    group = "compat-ctp-" + uuid.uuid4().hex[:8]
    consumer = Consumer(ck_conf(broker, **{"group.id": group, "enable.auto.commit": False,
                                           "auto.offset.reset": "earliest",
                                           "isolation.level": "read_committed"}))
    consumer.subscribe([source])
    producer = txn_producer(broker, "compat-ctp-" + uuid.uuid4().hex[:8])
    done, rounds = 0, 0
    deadline = time.monotonic() + TIMEOUT * 2
    try:
        while done < len(inputs) and time.monotonic() < deadline:
            batch = [m for m in consumer.consume(20, 1.0) if not m.error()]
            if not batch:
                continue
            producer.begin_transaction()
            for m in batch:
                producer.produce(sink, value=b"out-" + m.value())
            offsets = [TopicPartition(source, batch[-1].partition(), batch[-1].offset() + 1)]
            producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(),
                                                 TIMEOUT)
            rounds += 1
            if rounds == 2:
                # An aborted round: output and offsets vanish; re-read from the last commit.
                producer.abort_transaction(TIMEOUT)
                committed = consumer.committed([TopicPartition(source, 0)], TIMEOUT)[0].offset
                consumer.seek(TopicPartition(source, 0, committed))
                continue
            producer.commit_transaction(TIMEOUT)
            done = batch[-1].offset() + 1
        committed = consumer.committed([TopicPartition(source, 0)], TIMEOUT)[0].offset
    finally:
        consumer.close()
    assert committed == len(inputs)
    out = values(consume_all(broker, sink, 1, "read_committed", len(inputs)))
    assert out == sorted(b"out-" + v for v in inputs), "each input transformed exactly once"


ABANDON = textwrap.dedent("""
    import os, sys
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": sys.argv[1], "broker.address.family": "v4",
                  "transactional.id": sys.argv[3], "transaction.timeout.ms": 5000})
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(sys.argv[2], value=b"abandoned")
    p.flush(30)
    os.kill(os.getpid(), 9)
""")


def test_txn_abandoned_times_out(broker):
    topic = create_topic(broker, unique_topic("abandon"), 1)
    res = subprocess.run([sys.executable, "-c", ABANDON, broker.address, topic,
                          "compat-abandon-" + uuid.uuid4().hex[:8]], timeout=TIMEOUT * 2)
    assert res.returncode == -9, "the producer died in its transaction"
    later = Producer(ck_conf(broker))
    later.produce(topic, value=b"later")
    later.flush(TIMEOUT)
    # Kafka checks timeouts every 10 s (the reference broker's default): allow for that.
    c = Consumer(ck_conf(broker, **{"group.id": "unused-" + uuid.uuid4().hex[:8],
                                    "isolation.level": "read_committed"}))
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.monotonic() + TIMEOUT * 2
    try:
        while time.monotonic() < deadline and b"later" not in got:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got.append(m.value())
    finally:
        c.close()
    assert got == [b"later"], "the abandoned transaction was aborted and no longer blocks"


@pytest.mark.single_broker("kills and restarts a broker of its own")
def test_txn_broker_kill9(broker, own_brokers):  # noqa: F811
    own = own_brokers.get(broker.name)
    target = own.broker
    topic = create_topic(target, unique_topic("txn-crash"), 2)
    p = txn_producer(target, "compat-crash-" + uuid.uuid4().hex[:8])
    first = [f"first-{i}".encode() for i in range(100)]
    second = [f"second-{i}".encode() for i in range(50)]
    p.begin_transaction()
    for v in first:
        p.produce(topic, value=v)
    p.commit_transaction(TIMEOUT)
    p.begin_transaction()
    for v in second:
        p.produce(topic, value=v)
    p.flush(TIMEOUT)
    own.kill9()
    own.restart()
    try:
        p.commit_transaction(TIMEOUT * 2)
    except KafkaException as e:
        # The broker may have aborted it meanwhile: redo it, as an application would.
        assert e.args[0].txn_requires_abort(), e
        p.abort_transaction(TIMEOUT)
        p.begin_transaction()
        for v in second:
            p.produce(topic, value=v)
        p.commit_transaction(TIMEOUT)
    want = sorted(first + second)
    assert values(consume_all(target, topic, 2, "read_committed", len(want))) == want


@pytest.mark.single_broker("kills and restarts a broker of its own")
def test_idempotent_broker_kill9(broker, own_brokers):  # noqa: F811
    own = own_brokers.get(broker.name)
    target = own.broker
    topic = create_topic(target, unique_topic("idem-crash"), 1)
    p = Producer(ck_conf(target, **{"enable.idempotence": True, "linger.ms": 5,
                                    "message.timeout.ms": int(TIMEOUT * 4000)}))
    errors = []
    n = 3000

    def produce():
        for i in range(n):
            while True:
                try:
                    p.produce(topic, value=f"{i:05d}".encode(),
                              on_delivery=lambda e, m: e and errors.append(e))
                    break
                except BufferError:
                    p.poll(0.1)
            if i % 100 == 0:
                p.poll(0)
                time.sleep(0.02)
        p.flush(TIMEOUT * 4)

    t = threading.Thread(target=produce)
    t.start()
    time.sleep(0.5)
    own.kill9()
    own.restart()
    t.join(TIMEOUT * 5)
    assert not t.is_alive() and not errors, errors[:3]
    got = consume_all(target, topic, 1, "read_uncommitted", n)
    assert [v for _, _, v in got] == [f"{i:05d}".encode() for i in range(n)], \
        "every record exactly once, in order"
