"""Group size limits (issue 17) with a real client, on brokers of the module's own with a
limit of 1 (the suite's shared brokers keep Kafka's defaults): gregor with `--group-max-size 1
--group-consumer-max-size 1 --group-share-max-size 1`, the reference Kafka with
`group.max.size=1`, `group.consumer.max.size=1` and `group.share.max.size=1`
(COMPAT_KAFKA_EXTRA_CONFIG).

- `group_max_size_reached[classic|consumer]`: librdkafka (confluent-kafka) with the classic
  protocol (JoinGroup: group.max.size) and with the consumer protocol (KIP-848's
  ConsumerGroupHeartbeat: group.consumer.max.size) — a first member of a group gets its
  assignment; a second member of the same group is told GROUP_MAX_SIZE_REACHED (a consumer
  error from poll; a fatal error naming it with the consumer protocol) and gets no partition,
  while the first keeps both.
- `share_max_size_reached`: the Java client's KafkaShareConsumer (the `share_limit` scenario of
  compat-tests/java) — a first member of a share group gets records; a second member's poll
  fails with GroupMaxSizeReachedException and it gets nothing, while the first goes on
  receiving.

Cost: one reference Kafka started in the background when the module begins (~10-15 s of JVM
start, overlapped with gregor's run when the brokers run side by side), a gregor start
(< 1 s), and a few seconds of polling per broker.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import Future
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError

from compat import TIMEOUT, ck_conf, create_topic, unique_topic, wait_for
from test_acls import AclKafka  # a reference Kafka of our own with extra server.properties
from test_groups import OwnGregor
from test_java import CLIENT as JAVA, run as run_java, java_compat  # noqa: F401 - the fixture

GREGOR_ARGS = ("--group-max-size", "1", "--group-consumer-max-size", "1",
               "--group-share-max-size", "1")
KAFKA_CONFIG = ["group.max.size=1", "group.consumer.max.size=1", "group.share.max.size=1"]


class LimitBrokers:
    """{kind: OwnGregor | AclKafka}, each started once (the Kafka in the background)."""

    def __init__(self):
        self.workdir = Path(tempfile.mkdtemp(prefix="gregor-compat-limits-"))
        self._lock = threading.Lock()
        self._started: dict[str, Future] = {}

    def get(self, kind: str, background: bool = False):
        if kind not in ("gregor", "kafka"):
            pytest.skip(f"no way to start a broker of kind {kind!r} with group size limits")
        with self._lock:
            fut = self._started.get(kind)
            if fut is None:
                fut = self._started[kind] = Future()
                threading.Thread(target=self._start, args=(fut, kind), daemon=True).start()
        return None if background else fut.result(timeout=180)

    def _start(self, fut: Future, kind: str):
        try:
            d = self.workdir / kind
            d.mkdir()
            fut.set_result(OwnGregor(d, extra_args=GREGOR_ARGS) if kind == "gregor"
                           else AclKafka(d, KAFKA_CONFIG))
        except BaseException as e:  # noqa: BLE001 - raised by get()
            fut.set_exception(e)

    def stop_all(self):
        for fut in self._started.values():
            try:
                fut.result(timeout=180).stop()
            except BaseException:  # noqa: BLE001 - a broker that never started
                pass
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def limit_brokers(request):
    brokers = LimitBrokers()
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if item.module.__name__ == __name__ and callspec:
            if callspec.params["broker"].name in ("gregor", "kafka"):
                brokers.get(callspec.params["broker"].name, background=True)
    try:
        yield brokers
    finally:
        brokers.stop_all()


def member(target, group: str, topic: str, errors: list, protocol: str) -> Consumer:
    conf = {
        "group.id": group,
        "client.id": "compat-limits",
        "group.protocol": protocol,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "error_cb": errors.append,
    }
    if protocol == "classic":  # the consumer protocol's timeouts are the group's, not the client's
        conf.update({"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000})
    c = Consumer(ck_conf(target, **conf))
    c.subscribe([topic])
    return c


def max_size_reached(e: KafkaError) -> bool:
    """GROUP_MAX_SIZE_REACHED as librdkafka reports it: the code itself (classic JoinGroup), or
    a fatal error carrying its description (the consumer protocol's heartbeat)."""
    return e.code() == KafkaError.GROUP_MAX_SIZE_REACHED or (
        e.code() == KafkaError._FATAL and "Consumer group has reached maximum size" in e.str())


@pytest.mark.parametrize("client", ["confluent-kafka"])
@pytest.mark.parametrize("protocol", ["classic", "consumer"])
@pytest.mark.single_broker("starts a broker of its own with group size limits")
def test_group_max_size_reached(broker, client, protocol, limit_brokers):
    target = limit_brokers.get(broker.name).broker
    topic = create_topic(target, unique_topic("limits"), 2)
    group = "compat-limits-" + uuid.uuid4().hex[:10]
    first_errors, second_errors = [], []
    first = member(target, group, topic, first_errors, protocol)
    second = None
    try:
        def first_assigned():
            first.poll(0.1)
            return sorted(tp.partition for tp in first.assignment()) == [0, 1]

        wait_for(first_assigned, "the first member owning both partitions", timeout=TIMEOUT * 2,
                 interval=0)
        second = member(target, group, topic, second_errors, protocol)
        polled = []

        def refused():
            m = second.poll(0.1)
            first.poll(0)
            if m is not None and m.error() is not None:
                polled.append(m.error())
            return any(max_size_reached(e) for e in polled + second_errors)

        wait_for(refused, "GROUP_MAX_SIZE_REACHED for the second member", timeout=TIMEOUT * 2,
                 interval=0)
        assert second.assignment() == []
        end = time.monotonic() + 1
        while time.monotonic() < end:
            first.poll(0.1)
        assert sorted(tp.partition for tp in first.assignment()) == [0, 1]
    finally:
        if second is not None:
            second.close()
        first.close()


@pytest.mark.parametrize("client", [JAVA])
@pytest.mark.single_broker("starts a broker of its own with group size limits")
def test_share_max_size_reached(broker, client, limit_brokers, java_compat):
    run_java(java_compat, "share_limit", limit_brokers.get(broker.name).broker)
