"""KIP-848's consumer group protocol with librdkafka (confluent-kafka 2.16, librdkafka 2.16:
`group.protocol=consumer`, GA since librdkafka 2.12), the broker's `uniform` assignor:

- `consumer_protocol_group`: three members on a fresh 6-partition topic, polled in turn from
  one thread → each owns 2 partitions, together all 6; 60 records are consumed exactly once,
  each by its partition's owner; they commit; one member closes (it leaves with epoch -1) → the
  other two own 3 each and consume the 60 records produced after the commit exactly once, none
  of the first 60 again.
"""

import time
import uuid

import pytest
from confluent_kafka import Consumer

from compat import TIMEOUT, ck_conf, ck_produce, create_topic, unique_topic, wait_for

CLIENT = "confluent-kafka"
PARTITIONS = 6


def member(broker, group, topic, name):
    c = Consumer(ck_conf(broker, **{
        "group.id": group,
        "group.protocol": "consumer",
        "group.remote.assignor": "uniform",
        "client.id": f"compat-kip848-{name}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }))
    c.subscribe([topic])
    return c


def poll_all(members, got):
    for name, c in members.items():
        m = c.poll(0.05)
        if m is not None and m.error() is None:
            got.setdefault(name, []).append((m.partition(), m.offset(), m.value()))


def owned(c):
    return sorted(tp.partition for tp in c.assignment())


def balanced(members, got, each):
    poll_all(members, got)
    views = {n: owned(c) for n, c in members.items()}
    flat = sorted(p for v in views.values() for p in v)
    return views if flat == list(range(PARTITIONS)) and all(len(v) == each for v in views.values()) else None


def produce(broker, topic, start, count):
    records = [(f"k{i}".encode(), f"{p}/{i}".encode(), [], p, None)
               for p in range(PARTITIONS) for i in range(start, start + count)]
    ck_produce(broker, topic, records)


def consume(members, got, want):
    wait_for(lambda: (poll_all(members, got), sum(len(v) for v in got.values()) >= want)[1],
             f"{want} records", interval=0)
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        poll_all(members, got)


def check_exactly_once(got, start, count, views):
    rows = sorted((p, o) for v in got.values() for p, o, _ in v)
    assert rows == [(p, o) for p in range(PARTITIONS) for o in range(start, start + count)], rows
    for name, v in got.items():
        for p, o, value in v:
            assert p in views[name], f"{name} read {p}@{o}, owning {views[name]}"
            assert value == f"{p}/{o}".encode()


@pytest.mark.parametrize("client", [CLIENT])
def test_consumer_protocol_group(broker, client):
    topic = create_topic(broker, unique_topic("kip848"), PARTITIONS)
    group = "compat-kip848-" + uuid.uuid4().hex[:10]
    members = {n: member(broker, group, topic, n) for n in ("a", "b", "c")}
    try:
        got = {}
        views = wait_for(lambda: balanced(members, got, 2), "3 members with 2 partitions each",
                         timeout=TIMEOUT * 2, interval=0)
        produce(broker, topic, 0, 10)
        consume(members, got, PARTITIONS * 10)
        check_exactly_once(got, 0, 10, views)
        for c in members.values():
            c.commit(asynchronous=False)

        members.pop("a").close()
        got = {}
        produce(broker, topic, 10, 10)
        views = wait_for(lambda: balanced(members, got, 3), "2 members with 3 partitions each",
                         timeout=TIMEOUT * 2, interval=0)
        consume(members, got, PARTITIONS * 10)
        check_exactly_once(got, 10, 10, views)
    finally:
        for c in members.values():
            c.close()
