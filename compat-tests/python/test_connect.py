"""Kafka Connect and MirrorMaker 2, unchanged (issue 18), from Maven Central's jars
(connectjvm.py): a distributed Connect 4.4.0 worker (compat-tests/kafka/connect-pom.xml),
`ConnectDistributed worker.properties`, running our line-file source and sink connectors
(kafka/connect-plugin: what the FileStream connectors do — connect-file 4.4.0 is not served
here — the source with exactly-once support), and MirrorMaker 2 4.3.1 in dedicated mode
(kafka/mirror-pom.xml: the newest connect-mirror served here, on its own 4.3.1 runtime),
`MirrorMaker mm2.properties`.

| scenario | what is asserted |
|---|---|
| connect_distributed | one worker (exactly.once.source.support=enabled; its config, offset and status topics created by Connect itself) runs a line-file source (LineFileSourceConnector, as FileStreamSource: 50 lines of a file → a 1-partition topic, exactly.once.support=required) and a line-file sink (LineFileSinkConnector, as FileStreamSink: the topic → a file), both created with PUT /connectors/NAME/config and RUNNING: the sink file holds exactly the 50 lines in order, the topic exactly 50 records (read_committed), the sink's group commits them; the topic holds transaction markers (its end offset is past the last record); GET /connectors/NAME/offsets (KIP-875) gives the source's file position and the sink's committed offset; the three internal topics are cleanup.policy=compact on the broker (DescribeConfigs), the config topic 1 partition, the offsets topic the 5 asked for; the worker is stopped with SIGTERM and started again: both connectors RUNNING again, 20 lines appended → the sink file holds exactly the 70 lines, the topic exactly 70 records (offsets resumed, nothing read or written twice); 500 more lines and kill -9 half a second later, start again: the topic holds every line exactly once (read_committed), the sink file ends with the last line and holds every line (at least once across a crash); a second worker joins the group (incremental cooperative rebalancing, protocol type "connect"): the connectors and tasks spread over both workers (REST status), and 20 more lines reach the topic exactly once and the sink; KIP-875 on the stopped connectors (PUT .../stop): DELETE /connectors/SINK/offsets empties the sink's group offsets, PATCH /connectors/SOURCE/offsets moves the exactly-once source back 5 lines (GET shows it); resumed, the sink rewrites the whole topic into its emptied file and the topic gets those 5 lines again, nothing else |
| mirror_maker_migration | MirrorMaker 2 (dedicated mode, default replication policy, exactly-once: `<cluster>.exactly.once.source.support=enabled` for both targets, with its internal REST) between the reference Kafka (cluster alias `kafka`) and gregor (`gregor`), both flows at once: a topic with 40 records on Kafka and a consumer group that committed its end (40) on it → `kafka.TOPIC` on gregor holds the same 40 records (keys, values, headers) written in transactions (its end offset is past them), its `retention.ms` copied, and the group's offset appears on gregor translated (sync.group.offsets.enabled) to 40; the same back from gregor to Kafka (`gregor.TOPIC` on Kafka, the group at 40 there) |

Costs (warm, two cores, measured alone): connect_distributed about 35-40 s per broker (four
worker JVM starts, ~6 s each; building the connectors, once per change of their sources, ~5 s); mirror_maker_migration about 19 s, once (it needs both brokers:
it runs in gregor's pytest with the reference Kafka beside it, and is not collected without
one).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import ConfigResource

from compat import TIMEOUT, Broker, ck_admin, ck_conf, ck_produce, create_topic, wait_for
from connectjvm import (CONNECT_MAIN, MIRROR_MAKER_MAIN, ConnectRest, JvmProcess,
                        connect_libs, mirror_libs, plugin_jar, write_properties)

pytestmark = pytest.mark.client("kafka-connect")

# Connect's REST listeners: the broker's port + 90 (the first worker), + 91 (the second) and
# + 92 (MirrorMaker's internal REST, gregor's pytest only): beside the suite's other fixed ports
# (secured.py's + 20…104 pairs skip them); the side-by-side pytests each have their own broker
# port.
REST_PORT_OFFSET = 90
SOURCE_LINES, MORE_LINES, CRASH_LINES, REWIND = 50, 20, 500, 5
# A worker JVM's start-up, its group join and the connectors' start take seconds each on a
# loaded two-core machine.
SLOW = max(TIMEOUT, 90)


SOURCE_CLASS = "dev.gregor.compat.connect.LineFileSourceConnector"
SINK_CLASS = "dev.gregor.compat.connect.LineFileSinkConnector"


@pytest.fixture(scope="session")
def libs() -> tuple[Path, Path]:
    """Connect's jars and our connectors' jar (built against them)."""
    libs = connect_libs()
    return libs, plugin_jar(libs)


@pytest.fixture(scope="session")
def mm2_libs() -> Path:
    return mirror_libs()


def rest_port(broker: Broker) -> int:
    env = "COMPAT_KAFKA_PORT" if broker.name == "kafka" else "COMPAT_GREGOR_PORT"
    return int(os.environ.get(env, str(broker.port))) + REST_PORT_OFFSET


def read_topic(broker: Broker, topic: str, partition: int = 0) -> list[tuple]:
    """Every committed record of one partition (read_committed: Connect's exactly-once source
    writes in transactions), as (offset, key, value), read until the partition's end."""
    consumer = Consumer(ck_conf(broker, **{
        "group.id": "compat-" + uuid.uuid4().hex, "enable.auto.commit": False,
        "isolation.level": "read_committed", "enable.partition.eof": True,
        "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100}))
    try:
        consumer.assign([TopicPartition(topic, partition, -2)])
        out = []
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert time.monotonic() < deadline, (
                f"no end of {topic} within {TIMEOUT}s ({len(out)} read)")
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    return out
                raise AssertionError(f"consumer error: {msg.error()}")
            out.append((msg.offset(), msg.key(), msg.value(), list(msg.headers() or [])))
    finally:
        consumer.close()


def topic_config(broker: Broker, topic: str, name: str):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = ck_admin(broker)  # (kept alive until the future is done)
    configs = admin.describe_configs([res])[res].result(timeout=TIMEOUT)
    return configs[name].value if name in configs else None


def committed(broker: Broker, group: str, topic: str, partition: int = 0) -> int:
    """The group's committed offset (OffsetFetch from a consumer that never joins it)."""
    consumer = Consumer(ck_conf(broker, **{"group.id": group, "enable.auto.commit": False}))
    try:
        return consumer.committed([TopicPartition(topic, partition)], timeout=TIMEOUT)[0].offset
    finally:
        consumer.close()


def stopped(rest: ConnectRest, name: str) -> bool:
    status, body = rest.call("GET", f"/connectors/{name}/status")
    return status == 200 and body["connector"]["state"] == "STOPPED" and not body["tasks"]


def partitions(broker: Broker, topic: str) -> int:
    admin = ck_admin(broker)
    return len(admin.list_topics(topic, timeout=TIMEOUT).topics[topic].partitions)


def end_offset(broker: Broker, topic: str, partition: int = 0) -> int:
    consumer = Consumer(ck_conf(broker, **{"group.id": "compat-" + uuid.uuid4().hex}))
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=TIMEOUT)[1]
    finally:
        consumer.close()


def file_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def test_connect_distributed(broker, libs, tmp_path):
    tag = uuid.uuid4().hex[:10]
    topic = create_topic(broker, f"compat.connect.{tag}", 1)
    prefix = f"compat-connect-{tag}"
    internal = {"config": f"{prefix}.configs", "offset": f"{prefix}.offsets",
                "status": f"{prefix}.status"}
    port = rest_port(broker)
    settings = {
        "bootstrap.servers": broker.address,
        "group.id": prefix,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "config.storage.topic": internal["config"],
        "offset.storage.topic": internal["offset"],
        "status.storage.topic": internal["status"],
        "config.storage.replication.factor": 1,
        "offset.storage.replication.factor": 1,
        "status.storage.replication.factor": 1,
        "offset.storage.partitions": 5,
        "exactly.once.source.support": "enabled",
        "listeners": f"http://127.0.0.1:{port}",
        "offset.flush.interval.ms": 1000,
        "plugin.discovery": "service_load",
        # The broker's minimum: after kill -9 the dead worker leaves the group sooner.
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 2000,
        # ... and the sink's consumer from the killed worker leaves its group sooner (it would
        # hold up the group's next rebalance for the consumer default of 45 s).
        "consumer.session.timeout.ms": 6000,
        "consumer.heartbeat.interval.ms": 2000,
    }
    props = write_properties(tmp_path / "worker.properties", settings)
    # A second worker of the same Connect cluster (group), on the next REST port.
    props2 = write_properties(tmp_path / "worker2.properties",
                              dict(settings, listeners=f"http://127.0.0.1:{port + 1}"))
    source, sink = tmp_path / "source.txt", tmp_path / "sink.txt"
    lines = [f"line {i} of {tag}" for i in range(SOURCE_LINES)]
    source.write_text("".join(f"{line}\n" for line in lines))

    jars, plugin = libs
    worker = JvmProcess(jars, tmp_path, CONNECT_MAIN, [str(props)], "connect-worker", (plugin,))
    worker2 = JvmProcess(jars, tmp_path, CONNECT_MAIN, [str(props2)], "connect-worker-2",
                         (plugin,))
    rest = ConnectRest(port)
    ok = False
    try:
        t0 = time.monotonic()
        worker.start()
        rest.wait_up(worker)
        # The worker is the runtime connect-pom.xml (or COMPAT_CONNECT_VERSION) names.
        status, body = rest.call("GET", "/")
        runtime = next(jars.glob("connect-runtime-*.jar")).name
        assert body["version"] == runtime[len("connect-runtime-"):-len(".jar")], body
        connectors = {
            f"source-{tag}": {
                "connector.class": SOURCE_CLASS,
                "tasks.max": "1", "file": str(source), "topic": topic,
                "exactly.once.support": "required"},
            f"sink-{tag}": {
                "connector.class": SINK_CLASS,
                "tasks.max": "1", "file": str(sink), "topics": topic},
        }
        for name, config in connectors.items():
            status, body = rest.call("PUT", f"/connectors/{name}/config", config, timeout=90)
            assert status == 201, f"creating {name}: HTTP {status} {body}"
        for name in connectors:
            wait_for(lambda: rest.running(name), f"{name} RUNNING", timeout=SLOW, interval=0.25)
        print(f"worker up and connectors running in {time.monotonic() - t0:.1f}s")

        wait_for(lambda: len(file_lines(sink)) >= SOURCE_LINES, "the sink file's lines",
                 timeout=SLOW, interval=0.2)
        assert file_lines(sink) == lines
        records = read_topic(broker, topic)
        assert [r[2].decode() for r in records] == lines, "the topic holds each line once, in order"
        # The sink's consumer group (connect-NAME) commits what it wrote.
        end = records[-1][0] + 1
        wait_for(lambda: committed(broker, f"connect-sink-{tag}", topic) >= end,
                 f"the sink's committed offset ≥ {end}", timeout=SLOW, interval=0.5)
        for kind, name in internal.items():
            assert topic_config(broker, name, "cleanup.policy") == "compact", (
                f"Connect's {kind} topic {name} is not compacted")
        assert partitions(broker, internal["config"]) == 1
        assert partitions(broker, internal["offset"]) == 5
        # The exactly-once source wrote in transactions: their commit markers take offsets too.
        assert end_offset(broker, topic) > records[-1][0] + 1, "no transaction markers"
        # KIP-875: the connectors' offsets as Connect reads them back (the source's from its
        # offsets topic, the sink's from its consumer group).
        status, body = rest.call("GET", f"/connectors/source-{tag}/offsets")
        assert status == 200, body
        assert [o["offset"] for o in body["offsets"]] == [{"position": source.stat().st_size}], body
        status, body = rest.call("GET", f"/connectors/sink-{tag}/offsets")
        assert status == 200, body
        sink_committed = committed(broker, f"connect-sink-{tag}", topic)
        assert [(o["partition"], o["offset"]["kafka_offset"]) for o in body["offsets"]] == [
            ({"kafka_topic": topic, "kafka_partition": 0}, sink_committed)], body

        t1 = time.monotonic()
        worker.stop()
        worker.start()
        rest.wait_up(worker)
        for name in connectors:
            wait_for(lambda: rest.running(name), f"{name} RUNNING after the restart",
                     timeout=SLOW, interval=0.25)
        print(f"worker restarted, connectors running in {time.monotonic() - t1:.1f}s")
        more = [f"more {i} of {tag}" for i in range(MORE_LINES)]
        with source.open("a") as f:
            f.write("".join(f"{line}\n" for line in more))
        wait_for(lambda: len(file_lines(sink)) >= SOURCE_LINES + MORE_LINES,
                 "the appended lines in the sink file", timeout=SLOW, interval=0.2)
        assert file_lines(sink) == lines + more, "the sink resumed at its committed offsets"
        records = read_topic(broker, topic)
        assert [r[2].decode() for r in records] == lines + more, (
            "the source resumed at its offsets: the appended lines once, nothing re-read")

        # kill -9 half a second after appending (the source may or may not be inside a
        # transaction then): the restarted task fences its predecessor's producer (aborting
        # what it left open) and resumes at the last committed offsets, so read_committed
        # still sees every line exactly once.
        t2 = time.monotonic()
        crash = [f"crash {i} of {tag}" for i in range(CRASH_LINES)]
        with source.open("a") as f:
            f.write("".join(f"{line}\n" for line in crash))
        time.sleep(0.5)
        worker.kill()
        worker.start()
        rest.wait_up(worker)
        for name in connectors:
            wait_for(lambda: rest.running(name), f"{name} RUNNING after kill -9",
                     timeout=SLOW, interval=0.25)
        final = lines + more + crash
        wait_for(lambda: len(read_topic(broker, topic)) >= len(final),
                 "every line in the topic after kill -9", timeout=SLOW, interval=0.5)
        assert [r[2].decode() for r in read_topic(broker, topic)] == final, (
            "each line exactly once after kill -9 (read_committed)")
        # The sink is at least once across a crash: it ends with the last line all the same.
        wait_for(lambda: file_lines(sink)[-1:] == final[-1:], "the last line in the sink file",
                 timeout=SLOW, interval=0.2)
        assert set(file_lines(sink)) == set(final)
        print(f"killed -9, restarted, caught up in {time.monotonic() - t2:.1f}s")

        # A second worker joins the group: Connect's incremental cooperative rebalancing
        # (JoinGroup/SyncGroup of protocol type "connect") moves half the work to it, and the
        # data keeps flowing exactly once.
        t3 = time.monotonic()
        worker2.start()
        ConnectRest(port + 1).wait_up(worker2)
        wanted = {f"127.0.0.1:{port}", f"127.0.0.1:{port + 1}"}

        def spread():
            owners = set()
            for name in connectors:
                body = rest.running(name)
                if body is None:
                    return None
                owners |= {body["connector"]["worker_id"]} | {t["worker_id"] for t in body["tasks"]}
            return owners if owners == wanted else None
        wait_for(spread, "the connectors and tasks spread over both workers", timeout=SLOW,
                 interval=0.5)
        last = [f"last {i} of {tag}" for i in range(MORE_LINES)]
        with source.open("a") as f:
            f.write("".join(f"{line}\n" for line in last))
        final += last
        wait_for(lambda: file_lines(sink)[-1:] == final[-1:], "the last line in the sink file",
                 timeout=SLOW, interval=0.2)
        assert [r[2].decode() for r in read_topic(broker, topic)] == final
        print(f"second worker joined, work spread, data through in {time.monotonic() - t3:.1f}s")

        # KIP-875 on stopped connectors: reset the sink's offsets (its consumer group's) and
        # move the exactly-once source's back by the last REWIND lines (written to its offsets
        # topic in a transaction after fencing the task's producer); resumed, the sink writes
        # the whole topic again from the start, the source reads those lines once more.
        t4 = time.monotonic()
        for name in connectors:
            status, body = rest.call("PUT", f"/connectors/{name}/stop")
            assert status in (202, 204), f"stopping {name}: HTTP {status} {body}"
        for name in connectors:
            wait_for(lambda: stopped(rest, name), f"{name} STOPPED", timeout=SLOW, interval=0.25)
        status, body = rest.call("DELETE", f"/connectors/sink-{tag}/offsets", timeout=90)
        assert status == 200, f"resetting the sink's offsets: HTTP {status} {body}"
        assert committed(broker, f"connect-sink-{tag}", topic) < 0, "the sink's offsets remain"
        position = source.stat().st_size - sum(len(line) + 1 for line in final[-REWIND:])
        status, body = rest.call("PATCH", f"/connectors/source-{tag}/offsets", {"offsets": [
            {"partition": {"filename": str(source)}, "offset": {"position": position}}]},
            timeout=90)
        assert status == 200, f"altering the source's offsets: HTTP {status} {body}"
        status, body = rest.call("GET", f"/connectors/source-{tag}/offsets")
        assert [o["offset"] for o in body["offsets"]] == [{"position": position}], body
        sink.write_text("")
        for name in connectors:
            status, body = rest.call("PUT", f"/connectors/{name}/resume")
            assert status in (202, 204), f"resuming {name}: HTTP {status} {body}"
        again = final + final[-REWIND:]
        wait_for(lambda: len(file_lines(sink)) >= len(again), "the sink rewritten from the start",
                 timeout=SLOW, interval=0.2)
        assert file_lines(sink) == again
        assert [r[2].decode() for r in read_topic(broker, topic)] == again
        print(f"offsets reset and altered, connectors resumed in {time.monotonic() - t4:.1f}s")
        ok = True
    finally:
        worker.kill()
        worker2.kill()
        if not ok:
            worker.keep_log(f"connect-worker-{broker.name}")
            worker2.keep_log(f"connect-worker-2-{broker.name}")


# ------------------------------------------------------------------------------ MirrorMaker 2

# The group has read everything (consumers caught up, then moved: the migration path). MM2
# translates an offset exactly only at an offset sync (MirrorCheckpointTask; between two syncs it
# gives the earlier one + 1, never ahead), and the last record always has one: the group lands
# just past the last mirrored record, whose offset depends on how many transactions MM2 used.
MM2_RECORDS = MM2_COMMITTED = 40
MM2_RETENTION = "7200000"  # a topic config MM2 copies to the mirrored topic


def seed(broker: Broker, label: str) -> tuple[str, str, list]:
    """A 1-partition topic with MM2_RECORDS records and a group that committed MM2_COMMITTED."""
    tag = uuid.uuid4().hex[:10]
    topic = create_topic(broker, f"compat.mm2.{label}.{tag}", 1, {"retention.ms": MM2_RETENTION})
    records = [(f"k{i}".encode(), f"{label} value {i}".encode(), [("h", str(i).encode())], 0, None)
               for i in range(MM2_RECORDS)]
    ck_produce(broker, topic, records)
    group = f"compat-mm2-{label}-{tag}"
    consumer = Consumer(ck_conf(broker, **{"group.id": group, "enable.auto.commit": False}))
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, MM2_COMMITTED)], asynchronous=False)
    finally:
        consumer.close()
    assert committed(broker, group, topic) == MM2_COMMITTED
    return topic, group, [(r[0], r[1], r[2]) for r in records]


@pytest.mark.gregor_only
@pytest.mark.beside_kafka
def test_mirror_maker_migration(broker, mm2_libs, tmp_path):
    kafka = Broker("kafka", os.environ["COMPAT_REFERENCE_KAFKA"])
    a_topic, a_group, a_records = seed(kafka, "from-kafka")
    b_topic, b_group, b_records = seed(broker, "from-gregor")
    # Each direction's MirrorSourceConnector also mirrors the `heartbeats` topic that the other
    # direction's MirrorHeartbeatConnector creates. Created here first, so that the source
    # tasks start with every partition they will mirror. Otherwise a task may be reconfigured
    # (stopped and started) just after its first transaction, and MM2 drops the offset syncs
    # it still had pending (at most 10 are in flight): with no further records, the group then
    # stays at the 10th record's translation (MirrorMaker's own behaviour, whichever the target).
    for cluster in (kafka, broker):
        if "heartbeats" not in ck_admin(cluster).list_topics(timeout=10).topics:
            create_topic(cluster, "heartbeats", 1, {"cleanup.policy": "compact"})
    props = write_properties(tmp_path / "mm2.properties", {
        "clusters": "kafka, gregor",
        "kafka.bootstrap.servers": kafka.address,
        "gregor.bootstrap.servers": broker.address,
        "kafka->gregor.enabled": "true",
        "kafka->gregor.topics": a_topic.replace(".", "\\\\."),
        "kafka->gregor.groups": a_group,
        "gregor->kafka.enabled": "true",
        "gregor->kafka.topics": b_topic.replace(".", "\\\\."),
        "gregor->kafka.groups": b_group,
        # One broker each: every internal topic with one replica.
        "replication.factor": 1,
        "checkpoints.topic.replication.factor": 1,
        "heartbeats.topic.replication.factor": 1,
        "offset-syncs.topic.replication.factor": 1,
        "offset.storage.replication.factor": 1,
        "status.storage.replication.factor": 1,
        "config.storage.replication.factor": 1,
        "sync.group.offsets.enabled": "true",
        "sync.group.offsets.interval.seconds": 1,
        "emit.checkpoints.interval.seconds": 1,
        "emit.heartbeats.interval.seconds": 1,
        "refresh.groups.interval.seconds": 1,
        "refresh.topics.interval.seconds": 1,
        "offset.lag.max": 0,
        # Exactly-once replication (KIP-618 in MirrorMaker, set per target cluster; KIP-710's
        # internal REST between its herders): the mirrored records go to each target in
        # transactions.
        "kafka.exactly.once.source.support": "enabled",
        "gregor.exactly.once.source.support": "enabled",
        "dedicated.mode.enable.internal.rest": "true",
        "listeners": f"http://127.0.0.1:{rest_port(broker) + 2}",
    })
    # Offset translation's steps, kept in the log when the scenario fails: each offset sync
    # sent and acknowledged, each one read back, each checkpoint emitted.
    mm2 = JvmProcess(mm2_libs, tmp_path, MIRROR_MAKER_MAIN, [str(props)], "mirror-maker",
                     loggers={f"org.apache.kafka.connect.mirror.{c}": "trace" for c in (
                         "OffsetSyncWriter", "OffsetSyncStore", "MirrorCheckpointTask",
                         "MirrorSourceTask")})
    ok = False
    try:
        t0 = time.monotonic()
        mm2.start()
        for target, topic, group, records in ((broker, f"kafka.{a_topic}", a_group, a_records),
                                              (kafka, f"gregor.{b_topic}", b_group, b_records)):
            def mirrored():
                assert mm2.alive(), f"MirrorMaker exited: {mm2.tail()}"
                try:
                    got = read_topic(target, topic)
                except AssertionError:
                    return None
                return got if len(got) >= MM2_RECORDS else None
            got = wait_for(mirrored, f"{topic} on {target.name}", timeout=120, interval=1)
            assert [(k, v, h) for _, k, v, h in got] == [
                (k, v, [(hk, hv) for hk, hv in h]) for k, v, h in records], topic
            assert end_offset(target, topic) > MM2_RECORDS, (
                f"{topic} has no transaction markers: not written exactly once")
            assert topic_config(target, topic, "retention.ms") == MM2_RETENTION, (
                f"{topic}'s configs copied (sync.topic.configs)")
            # The group read everything upstream, so downstream it must stand just past the
            # last mirrored record: MM2_COMMITTED when one transaction carried all the records,
            # more when transaction markers came between them.
            translated = got[MM2_RECORDS - 1][0] + 1
            print(f"{topic} on {target.name}: the group goes to {translated}")
            seen = []

            def synced():
                seen.append(committed(target, group, topic))
                return seen[-1] == translated
            try:
                wait_for(synced, f"{group}'s offset on {target.name} translated to {translated}",
                         timeout=120, interval=1)
            except AssertionError as e:
                raise AssertionError(f"{e}: mirrored at {[r[0] for r in got]}, committed there "
                                     f"{seen[-3:]}") from e
        print(f"mirrored both ways in {time.monotonic() - t0:.1f}s")
        ok = True
    finally:
        mm2.kill()
        if not ok:
            mm2.keep_log("mirror-maker")
