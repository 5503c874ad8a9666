"""Shared helpers of the compatibility suite: brokers under test, fresh topics, and producing
and consuming with each real client in a way that returns plain, comparable data.

A record is compared as the tuple (partition, offset, key, value, headers, timestamp) where
key/value are bytes or None and headers a list of (str, bytes) in wire order.
"""

from __future__ import annotations

import os
import random
import socket
import sys
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kafka  # kafka-python
from kafka.structs import TopicPartition as KpTopicPartition

HOMEWORK_TOPIC = "loms.order-events"
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
# Seconds any single wait in a test may take; every loop below is bounded by it.
TIMEOUT = float(os.environ.get("COMPAT_TIMEOUT", "30"))


@dataclass(frozen=True)
class Broker:
    name: str  # "gregor", "kafka"
    address: str  # "127.0.0.1:19092"

    @property
    def first(self) -> str:
        """The first bootstrap address (raw-socket scenarios dial it)."""
        return self.address.split(",")[0]

    @property
    def host(self) -> str:
        return self.first.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.first.rsplit(":", 1)[1])

    def __str__(self) -> str:  # used in test ids
        return self.name


def brokers_from_env() -> list[Broker]:
    """COMPAT_BROKERS="gregor=127.0.0.1:19092,kafka=127.0.0.1:24092" (a broker's bootstrap may list
    several addresses: the cluster target)."""
    raw = os.environ.get("COMPAT_BROKERS", "").strip()
    if not raw:
        raise RuntimeError(
            "set COMPAT_BROKERS, e.g. COMPAT_BROKERS=gregor=127.0.0.1:19092,kafka=127.0.0.1:24092 "
            "(compat-tests/run.sh does this and starts the brokers)"
        )
    out = []
    for part in raw.split(","):
        name, sep, address = part.strip().partition("=")
        # A HOST:PORT without a name adds to the previous broker's bootstrap list (a cluster:
        # "gregor-cluster=127.0.0.1:19800,127.0.0.1:19801,127.0.0.1:19802").
        if not sep and out and ":" in name:
            out[-1] = Broker(out[-1].name, f"{out[-1].address},{name.strip()}")
            continue
        if not sep or ":" not in address:
            raise RuntimeError(f"COMPAT_BROKERS entry {part!r} is not NAME=HOST:PORT[,HOST:PORT...]")
        out.append(Broker(name.strip(), address.strip()))
    return out


def kafka_version() -> tuple[int, ...]:
    """The reference Kafka's version, as run.sh exports it (COMPAT_KAFKA_VERSION, from
    reference-kafka.sh: kafka.version in compat-tests/kafka/pom.xml unless overridden)."""
    raw = os.environ.get("COMPAT_KAFKA_VERSION", "").strip() or "4.4.0"
    return tuple(int(p) for p in raw.split(".") if p.isdigit())


def kafka_older_than(broker: Broker, version: tuple[int, ...]) -> bool:
    """True on the reference Kafka when it runs a release before `version` (a scenario for
    behaviour that release added skips there, e.g. with COMPAT_KAFKA_VERSION=4.3.1)."""
    return broker.name == "kafka" and kafka_version() < version


def unique_topic(label: str) -> str:
    return f"compat.{label}.{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------- confluent-kafka (librdkafka)

def ck_conf(broker: Broker, **extra) -> dict:
    conf = {
        "bootstrap.servers": broker.address,
        "broker.address.family": "v4",
        "socket.timeout.ms": int(TIMEOUT * 1000),
    }
    conf.update(extra)
    return conf


def ck_admin(broker: Broker) -> AdminClient:
    return AdminClient(ck_conf(broker))


def ck_error(future) -> KafkaError | None:
    """The KafkaError a confluent-kafka admin future ended with, or None on success."""
    try:
        future.result(timeout=TIMEOUT)
        return None
    except KafkaException as e:
        return e.args[0]


def wait_for(predicate, what: str, timeout: float = TIMEOUT, interval: float = 0.1):
    """Poll predicate() until it returns a truthy value; return that value or fail."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def ck_partition_count(broker: Broker, topic: str, admin: AdminClient | None = None) -> int | None:
    """Partitions of topic with a leader, per full metadata (no auto-creation); None if absent."""
    md = (admin or ck_admin(broker)).list_topics(timeout=TIMEOUT)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        return None
    if any(p.leader < 0 or p.error is not None for p in t.partitions.values()):
        return -1  # exists, not ready
    return len(t.partitions)


def set_group_config(broker: Broker, group: str, name: str, value: str) -> None:
    """Set one config of a group (IncrementalAlterConfigs SET on the GROUP resource), e.g. a
    share group's share.auto.offset.reset, and wait until DescribeConfigs shows it: Kafka's
    broker learns group configs from its metadata log after the controller answered, so a
    consumer started at once may still get the default."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=[
        ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)])
    admin = ck_admin(broker)  # kept alive until its futures are done
    for fut in admin.incremental_alter_configs([resource]).values():
        fut.result(timeout=TIMEOUT)

    def described() -> bool:
        (fut,) = admin.describe_configs([ConfigResource(ResourceType.GROUP, group)]).values()
        entry = fut.result(timeout=TIMEOUT).get(name)
        return entry is not None and entry.value == value

    wait_for(described, f"group {group} described with {name}={value}")


def create_topic(broker: Broker, topic: str, partitions: int, config: dict | None = None) -> str:
    """Create a topic with confluent-kafka's AdminClient and wait until every partition has a
    leader in metadata. Used as setup by the data-path scenarios."""
    admin = ck_admin(broker)
    fut = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=TIMEOUT,
    )[topic]
    err = ck_error(fut)
    assert err is None, f"setup: creating topic {topic} failed: {err}"
    wait_for(lambda: ck_partition_count(broker, topic, admin) == partitions,
             f"{topic} with {partitions} partitions in metadata")
    return topic


def ck_produce(broker: Broker, topic: str, records, **conf) -> list[tuple]:
    """Produce records [(key, value, headers, partition|None, timestamp_ms|None)] with one
    librdkafka producer (acks=all unless overridden), in order; flush; return the delivery
    reports [(partition, offset)] in record order. Any delivery error fails."""
    settings = {"acks": "all", "linger.ms": 5, "compression.type": "none"}
    settings.update(conf)
    client_errors = []  # librdkafka's error_cb: fatal or global errors, surfaced in failures

    def on_error(err):
        client_errors.append(str(err))

    settings["error_cb"] = on_error
    producer = Producer(ck_conf(broker, **settings))
    reports: list = [None] * len(records)
    errors = []

    def on_delivery(i):
        def cb(err, msg):
            if err is not None:
                errors.append((i, err))
            else:
                reports[i] = (msg.partition(), msg.offset())
        return cb

    def send_all():
        for i, (key, value, headers, partition, ts) in enumerate(records):
            kwargs = {"key": key, "value": value, "on_delivery": on_delivery(i)}
            if headers:
                kwargs["headers"] = headers
            if partition is not None:
                kwargs["partition"] = partition
            if ts is not None:
                kwargs["timestamp"] = ts
            while True:
                try:
                    producer.produce(topic, **kwargs)
                    break
                except BufferError:  # local queue full: let deliveries drain
                    producer.poll(0.1)
            producer.poll(0)
        return producer.flush(TIMEOUT)

    try:
        left = send_all()
    except:  # noqa: E722 - a fatal librdkafka error is raised as a bare KafkaError object
        # confluent-kafka raises a fatal error (e.g. an idempotent producer whose broker lacks
        # InitProducerId) as a bare KafkaError, which then surfaces as a SystemError from the
        # next callback: the librdkafka FATAL line on captured stderr says what happened.
        raise AssertionError(f"librdkafka producer failed: {sys.exc_info()[1]!r} (see the "
                             f"FATAL line in captured stderr); client errors: {client_errors}") from None
    assert left == 0, f"{left} records still undelivered after {TIMEOUT}s; client errors: {client_errors}"
    assert not errors, f"delivery errors: {errors[:5]}; client errors: {client_errors}"
    assert all(r is not None for r in reports)
    return reports


def ck_consume(broker: Broker, topic: str, partitions: int, expected: int) -> list[tuple]:
    """Read every record of topic from the beginning with an assigned (group-less) librdkafka
    consumer until `expected` records have arrived and every partition reported EOF."""
    consumer = Consumer(ck_conf(
        broker,
        **{
            "group.id": "compat-" + uuid.uuid4().hex,  # required by the client; never joined
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
        },
    ))
    try:
        consumer.assign([TopicPartition(topic, p, -2) for p in range(partitions)])  # -2 = beginning
        out, eof = [], set()
        deadline = time.monotonic() + TIMEOUT
        while len(out) < expected or len(eof) < partitions:
            assert time.monotonic() < deadline, (
                f"librdkafka consumer got {len(out)}/{expected} records, EOF on {sorted(eof)} "
                f"after {TIMEOUT}s")
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        eof.add(msg.partition())
                        continue
                    raise AssertionError(f"consumer error: {err}")
                eof.discard(msg.partition())
                ts_type, ts = msg.timestamp()
                out.append((msg.partition(), msg.offset(), msg.key(), msg.value(),
                            list(msg.headers() or []), ts))
        assert len(out) == expected, f"got {len(out)} records, expected {expected}"
        return out
    finally:
        consumer.close()


# ----------------------------------------------------------------------------- kafka-python

def kp_conf(broker: Broker, **extra) -> dict:
    conf = {"bootstrap_servers": broker.address, "request_timeout_ms": int(TIMEOUT * 1000)}
    conf.update(extra)
    return conf


def kp_admin(broker: Broker) -> kafka.KafkaAdminClient:
    return kafka.KafkaAdminClient(**kp_conf(broker))


def kp_produce(broker: Broker, topic: str, records, **conf) -> list[tuple]:
    """kafka-python counterpart of ck_produce (acks=all); returns [(partition, offset)].
    kafka-python ≥3 is idempotent by default (InitProducerId first); plain acks=all producing
    is tested with it off, and idempotence by its own scenario (test_idempotent.py)."""
    settings = {"acks": "all", "linger_ms": 5, "enable_idempotence": False}
    settings.update(conf)
    if settings.get("compression_type") == "none":
        settings["compression_type"] = None
    producer = kafka.KafkaProducer(**kp_conf(broker, **settings))
    try:
        futures = [
            producer.send(topic, key=key, value=value, headers=list(headers or []),
                          partition=partition, timestamp_ms=ts)
            for key, value, headers, partition, ts in records
        ]
        producer.flush(timeout=TIMEOUT)
        reports = []
        for f in futures:
            md = f.get(timeout=TIMEOUT)
            reports.append((md.partition, md.offset))
        return reports
    finally:
        producer.close(timeout=5)


def kp_consumer(broker: Broker, **extra) -> kafka.KafkaConsumer:
    return kafka.KafkaConsumer(**kp_conf(
        broker,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        **extra,
    ))


def kp_consume(broker: Broker, topic: str, partitions: int, expected: int) -> list[tuple]:
    """Read every record of topic from the beginning with an assigned kafka-python consumer."""
    consumer = kp_consumer(broker)
    try:
        tps = [KpTopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out = []
        deadline = time.monotonic() + TIMEOUT
        while len(out) < expected:
            assert time.monotonic() < deadline, (
                f"kafka-python consumer got {len(out)}/{expected} records after {TIMEOUT}s")
            batches = consumer.poll(timeout_ms=500)
            for tp in sorted(batches, key=lambda tp: tp.partition):
                for r in batches[tp]:
                    out.append((r.partition, r.offset, r.key, r.value, list(r.headers or []),
                                r.timestamp))
        # Anything past `expected` would be a bug too: one more short poll.
        extra = consumer.poll(timeout_ms=300)
        n_extra = sum(len(v) for v in extra.values())
        assert n_extra == 0, f"{n_extra} records beyond the {expected} expected"
        return out
    finally:
        consumer.close()


CONSUMERS = {"confluent-kafka": ck_consume, "kafka-python": kp_consume}
PRODUCERS = {"confluent-kafka": ck_produce, "kafka-python": kp_produce}


def produce_with(client: str, broker: Broker, topic: str, records, codec: str = "none") -> list:
    if client == "confluent-kafka":
        return ck_produce(broker, topic, records, **{"compression.type": codec})
    return kp_produce(broker, topic, records, compression_type=codec)


def by_partition(rows):
    """{partition: [row, ...]} in offset order, rows being (partition, offset, ...) tuples."""
    out: dict[int, list] = {}
    for row in sorted(rows, key=lambda r: (r[0], r[1])):
        out.setdefault(row[0], []).append(row)
    return out


# Brokers a test starts itself (kill -9 scenarios) pick free loopback ports and wait for them.
# Ports for a scenario's own servers: random in 26000..28999, below Linux's ephemeral range
# (32768-60999) and clear of the suite's fixed ports. A port the kernel picked (bind to 0) and that
# was then released can become the local port of an outgoing connection before the server binds
# it ("address already in use": seen in the homework harness, which has its own range).
_FREE_PORTS = range(26000, 29000)
_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on or holds now, not handed out before by this process."""
    for _ in range(200):
        port = random.choice(_FREE_PORTS)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {_FREE_PORTS}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
