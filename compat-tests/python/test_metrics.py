"""gregor's /metrics against what a real AdminClient computes: consumer lag per partition is
the high watermark (get_watermark_offsets) minus the committed offset
(list_consumer_group_offsets), it falls to zero when the consumer catches up, and the group's
state and member count follow the consumer. gregor only (Kafka has no /metrics endpoint):
the `gregor_only` marker makes conftest run these against the gregor broker alone.

compat-tests/run.sh starts gregor with --metrics-listen and exports COMPAT_GREGOR_METRICS
(HOST:PORT)."""

from __future__ import annotations

import os
import socket
import uuid

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition

from compat import TIMEOUT, Broker, ck_admin, ck_conf, ck_produce, create_topic, unique_topic, wait_for

pytestmark = [pytest.mark.gregor_only, pytest.mark.client("confluent-kafka")]


def scrape() -> dict[str, float]:
    """GET /metrics: sample (`name{labels}`) → value."""
    address = os.environ.get("COMPAT_GREGOR_METRICS")
    assert address, "COMPAT_GREGOR_METRICS (HOST:PORT of gregor's --metrics-listen) is not set"
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: gregor\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), head
    samples = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
    return samples


def lag_key(group: str, topic: str, partition: int) -> str:
    return f'gregor_group_lag{{group="{group}",topic="{topic}",partition="{partition}"}}'


def admin_lag(broker: Broker, group: str, topic: str, partitions: int, consumer: Consumer) -> dict:
    """{partition: high watermark − committed offset}, as an operator computes it with the
    AdminClient (what kafka-consumer-groups --describe shows)."""
    admin = ck_admin(broker)
    futures = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(partitions)])])
    committed = {tp.partition: tp.offset for tp in futures[group].result(timeout=TIMEOUT).topic_partitions}
    lag = {}
    for p in range(partitions):
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT)
        lag[p] = high - committed[p]
    return lag


def test_group_lag_matches_the_admin_client_and_falls_to_zero(broker: Broker):
    topic = create_topic(broker, unique_topic("metrics-lag"), 2)
    group = f"compat-metrics-{uuid.uuid4().hex[:8]}"
    records = [(f"k{i}".encode(), f"v{i}".encode(), None, i % 2, None) for i in range(10)]
    ck_produce(broker, topic, records)  # 5 records in each partition

    consumer = Consumer(ck_conf(broker, **{
        "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "session.timeout.ms": 10000,
    }))
    try:
        consumer.subscribe([topic])
        # Join the group (a poll drives it) and read a little, then commit offsets 2 and 1.
        wait_for(lambda: consumer.poll(0.2) is not None and consumer.assignment(), "an assignment")
        consumer.commit(offsets=[TopicPartition(topic, 0, 2), TopicPartition(topic, 1, 1)],
                        asynchronous=False)
        expected = admin_lag(broker, group, topic, 2, consumer)
        assert expected == {0: 3, 1: 4}, expected
        m = scrape()
        assert {p: m.get(lag_key(group, topic, p)) for p in range(2)} == expected
        assert m[f'gregor_group_topic_lag{{group="{group}",topic="{topic}"}}'] == 7
        assert m[f'gregor_group_state{{group="{group}",state="Stable"}}'] == 1
        assert m[f'gregor_group_members{{group="{group}"}}'] == 1
        for p in range(2):
            key = f'{{topic="{topic}",partition="{p}"}}'
            assert m[f"gregor_partition_high_watermark{key}"] == 5
            assert m[f"gregor_partition_log_end_offset{key}"] == 5
        assert m[f'gregor_topic_records_in_total{{topic="{topic}"}}'] == 10

        # The consumer catches up: everything read and committed, lag 0 both ways.
        def caught_up():
            consumer.poll(0.2)
            positions = consumer.position([TopicPartition(topic, p) for p in range(2)])
            return [tp.offset for tp in positions] == [5, 5]
        wait_for(caught_up, "every record consumed")
        consumer.commit(asynchronous=False)
        assert admin_lag(broker, group, topic, 2, consumer) == {0: 0, 1: 0}
        m = scrape()
        assert [m.get(lag_key(group, topic, p)) for p in range(2)] == [0, 0]
        assert m[f'gregor_topic_records_out_total{{topic="{topic}"}}'] >= 10
    finally:
        consumer.close()  # LeaveGroup: the group empties
    m = wait_for(lambda: (lambda m: m if m[f'gregor_group_members{{group="{group}"}}'] == 0 else None)(scrape()),
                 "the group to empty after the consumer left")
    assert m[f'gregor_group_state{{group="{group}",state="Empty"}}'] == 1
    assert [m.get(lag_key(group, topic, p)) for p in range(2)] == [0, 0]
