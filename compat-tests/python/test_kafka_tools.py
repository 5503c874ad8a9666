"""Kafka's own command-line tools (issue 18), run from the reference Kafka's jars as its bin/
scripts run them (`java -cp 'libs/*' org.apache.kafka.tools....`), against each broker: what
they print is compared with what Kafka 4.4 prints (columns, values; ids, hosts, ports and
times only where they are the broker's own), and their exit status.

| scenario | what is asserted |
|---|---|
| kafka_get_offsets_and_delete_records | `kafka-get-offsets` (GetOffsetShell) of a 2-partition topic with 10 records each, timestamps 1 s apart: `--time -2` → 0, `-1` → 10, `-3` (max timestamp) → 9, a time → the first record at or after it; `kafka-log-dirs --describe --topic-list` (LogDirsCommand): JSON with broker 1's one log dir, both partitions with a size > 0, offsetLag 0, not future; `--broker-list` naming a missing broker → exit 1 with Kafka's message; `kafka-delete-records --offset-json-file` (offset 4 on partition 0, -1 = the high watermark on 1) → `low_watermark: 4` / `10`, then `--time -2` shows 4 and 10; an offset past the end → `OffsetOutOfRangeException` for that partition; a missing topic → exit 1 "Could not match any topic-partitions" |
| kafka_features_describe | `kafka-features describe` (FeatureCommand): group.version 0–1 finalized 1, share.version 0–2 finalized 2, streams.version 0–1 finalized 1, transaction.version 0–2 finalized 2, metadata.version from 3.3-IV3, finalized at its supported maximum (gregor reports 4.3-IV0: it has no CIDR ACLs, which 4.4-IV1 gates; Kafka 4.4 4.4-IV2; Kafka's kraft.version and eligible.leader.replicas.version are not gregor's) |
| kafka_consumer_groups | `kafka-consumer-groups` (ConsumerGroupCommand) on a classic group of one live librdkafka member that committed 10 and 5 of 10 + 10 records: `--list` names it; `--describe` shows the header, CURRENT-OFFSET 10/5, LOG-END-OFFSET 10/10, LAG 0/5, the member's consumer id, host and client id; `--describe --members` its 2 partitions; `--describe --state` range, Stable, 1 member. Member gone: `--state` Empty; `--reset-offsets --execute` `--to-earliest` → 0/0, `--to-offset 7` and `--shift-by -2` on partition 0 → 7 then 5, `--shift-by -20 --dry-run` → 0 printed, nothing changed; `--describe` → 5/0 with lags 5/10 and no member; `--delete-offsets` of partition 1 → Successful, gone from `--describe`; `--delete` → successful; again → `GroupIdNotFoundException` "The group id does not exist." |
| kafka_consumer_groups_describe_missing | `--describe` of a group that does not exist: `GroupIdNotFoundException: Group G not found.` (known gap: gregor's ConsumerGroupDescribe gives no error message, so the AdminClient falls back to "The group id does not exist.") |
| kafka_transactions | `kafka-transactions` (TransactionsCommand) after a librdkafka transactional producer committed 3 records and another left 2 in an open transaction: `list` shows both ids (CompleteCommit, Ongoing) under Kafka's header; `describe --transactional-id` of each: producer id and epoch, state, timeout, the open one's partition, both start times (a completed transaction keeps its own); `describe-producers --topic --partition` both producers with their last sequences and the open one's start offset; `find-hanging --broker-id 1` nothing; `describe` of an unknown id → exit 1 with Kafka's message |
| kafka_transactions_abort | `kafka-transactions abort` (WriteTxnMarkers) of a transaction a live librdkafka producer left open after a committed one, on a 1-partition topic with a plain record after the open ones: `list --duration-filter 3600000` (with an id pattern) shows only a third, Empty id (Kafka: now - start > filter, an Empty id has start -1); before the abort, `describe-producers` shows the committed producer's LatestCoordinatorEpoch (a number) and the open one's -1 with start offset 4, read_committed ListOffsets (the LSO) is 4 and a read_committed consumer gets the 3 committed records only; `find-hanging --topic` and `--topic --partition` print only their header (the transaction is younger than 15 minutes); `abort --start-offset 5` (no transaction starts there) exits 1; `abort --start-offset 4` → the LSO is the high watermark 8, read_committed reads the committed records and the plain one, `describe-producers` shows no open transaction and coordinator epoch 0 for the aborted producer; the explicit form (`--producer-id --producer-epoch --coordinator-epoch`) for the committed producer, which has nothing open, is accepted and moves nothing but the log end (9) |
| kafka_reassign_log_dirs | `kafka-reassign-partitions --reassignment-json-file` (ReassignPartitionsCommand) naming the one replica of a 1-partition topic with `log_dirs` = the broker's one log dir (from `kafka-log-dirs`): `--execute` → "Successfully started partition reassignment" and "Successfully started moving log directory to DIR for replica T-0 with broker 1" (AlterReplicaLogDirs: the same dir is success); `--verify` → the partition's reassignment and the replica's move completed; a dir the broker does not have → exit 1, "Failed to alter dir for T-0-1" with `LogDirNotFoundException` |
| kafka_share_groups | `kafka-share-groups` (ShareGroupCommand) on a share group (share.auto.offset.reset=earliest) whose librdkafka share consumer received and acknowledged 20 records of 2 partitions: `--list` names it; `--describe --members` the member's host, client id, 2 partitions and assignment; `--state` Stable with 1 member; `--offsets --verbose` LEADER-EPOCH 0 and LAG 0 on both partitions (START-OFFSET not compared: Kafka's is when its share state was last written). Member gone: Empty; `--reset-offsets --execute --to-earliest` → 0 and lag 10, `--to-latest` → 10 and lag 0; `--delete` → successful, gone from `--list` |

Cost per broker: about 60 tool runs in the warm JVM of kafkatools.py (a few hundredths of a
second each) and the clients: 7 s on gregor and 16 s on Kafka with run.sh's pytests side by side
on a loaded machine.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, IsolationLevel, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

import kafkatools
from compat import TIMEOUT, ck_conf, create_topic, unique_topic, wait_for

TOOLS = "org.apache.kafka.tools."
GROUPS = TOOLS + "consumer.group.ConsumerGroupCommand"


def tool(broker, cls: str, *args: str, status: int = 0, stderr: bool = False) -> str:
    """Runs one of Kafka's tools against the broker; asserts its exit status; returns stdout,
    with stderr after it when the status is not 0 or `stderr` is set (where the tools print
    errors and notes such as "has no active members")."""
    res = kafkatools.run(cls, "--bootstrap-server", broker.address, *args)
    name = cls.rsplit(".", 1)[-1]
    assert res.returncode == status, (
        f"{name} {' '.join(args)} exited {res.returncode} (expected {status}):\n"
        f"{res.stdout}\n{res.stderr[-3000:]}")
    return res.stdout if status == 0 and not stderr else res.stdout + res.stderr


def rows(text: str, header: str) -> list[dict[str, str]]:
    """The table under the line starting with `header` (whitespace-separated columns), as
    dicts; stops at a blank line."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.split() and line.split()[0] == header:
            cols = line.split()
            for row in lines[i + 1:]:
                if not row.strip():
                    break
                out.append(dict(zip(cols, row.split())))
            return out
    raise AssertionError(f"no {header} table in:\n{text}")


def tab_rows(text: str) -> list[dict[str, str]]:
    """TransactionsCommand's tab-separated table (header line first) as dicts."""
    lines = [line for line in text.splitlines() if "\t" in line]
    assert lines, text
    cols = [c.strip() for c in lines[0].split("\t") if c.strip()]
    return [dict(zip(cols, (v.strip() for v in line.split("\t")))) for line in lines[1:]]


def produce_timed(broker, topic: str, base: int) -> None:
    p = Producer(ck_conf(broker))
    for i in range(20):
        p.produce(topic, key=str(i).encode(), value=b"v" * 10, partition=i % 2,
                  timestamp=base + i * 1000)
    assert p.flush(TIMEOUT) == 0


def offsets(broker, topic: str, time_arg: str) -> dict[int, int]:
    out = tool(broker, TOOLS + "GetOffsetShell", "--topic", topic, "--time", time_arg)
    got = {}
    for line in out.splitlines():
        name, part, off = line.rsplit(":", 2)
        assert name == topic, out
        got[int(part)] = int(off)
    return got


@pytest.mark.single_broker("kafka-log-dirs lists one broker")
@pytest.mark.client("kafka-tools")
def test_kafka_get_offsets_and_delete_records(broker, tmp_path):
    topic = unique_topic("tools-offsets")
    create_topic(broker, topic, 2)
    # An hour ago: inside the default retention (7 days), so nothing is deleted by time.
    base = (int(time.time()) - 3600) * 1000
    produce_timed(broker, topic, base)
    assert offsets(broker, topic, "-2") == {0: 0, 1: 0}
    assert offsets(broker, topic, "-1") == {0: 10, 1: 10}
    assert offsets(broker, topic, "-3") == {0: 9, 1: 9}
    # Partition 0 holds the even records (0, 2, 4, 6 s), partition 1 the odd (1, 3, 5 s).
    assert offsets(broker, topic, str(base + 5000)) == {0: 3, 1: 2}
    missing = tool(broker, TOOLS + "GetOffsetShell", "--topic", f"{topic}-missing", "--time", "-1",
                   status=1)
    assert "Could not match any topic-partitions with the specified filters" in missing

    out = tool(broker, TOOLS + "LogDirsCommand", "--describe", "--topic-list", topic)
    assert "Received log directory information from brokers 1" in out, out
    doc = json.loads(out.splitlines()[-1])
    assert doc["version"] == 1 and [b["broker"] for b in doc["brokers"]] == [1], doc
    (log_dir,) = doc["brokers"][0]["logDirs"]
    assert log_dir["error"] is None and log_dir["logDir"], log_dir
    parts = {p["partition"]: p for p in log_dir["partitions"]}
    assert set(parts) == {f"{topic}-0", f"{topic}-1"}, parts
    for p in parts.values():
        assert p["size"] > 0 and p["offsetLag"] == 0 and p["isFuture"] is False, p
    bad = tool(broker, TOOLS + "LogDirsCommand", "--describe", "--topic-list", topic,
               "--broker-list", "1,7", status=1)
    assert "The given brokers do not exist from --broker-list: 7. Current existent brokers: 1" in bad

    spec = tmp_path / "delete.json"
    spec.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "offset": 4},
        {"topic": topic, "partition": 1, "offset": -1}]}))
    out = tool(broker, TOOLS + "DeleteRecordsCommand", "--offset-json-file", str(spec))
    assert "Records delete operation completed:" in out, out
    assert sorted(line for line in out.splitlines() if line.startswith("partition:")) == [
        f"partition: {topic}-0\tlow_watermark: 4", f"partition: {topic}-1\tlow_watermark: 10"]
    assert offsets(broker, topic, "-2") == {0: 4, 1: 10}
    spec.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "offset": 40}]}))
    out = tool(broker, TOOLS + "DeleteRecordsCommand", "--offset-json-file", str(spec))
    assert (f"partition: {topic}-0\terror: org.apache.kafka.common.errors.OffsetOutOfRangeException"
            in out), out


@pytest.mark.client("kafka-tools")
def test_kafka_features_describe(broker):
    out = tool(broker, TOOLS + "FeatureCommand", "describe")
    features = {}
    for line in out.splitlines():
        fields = dict(re.findall(r"(\w+): (\S+)", line))
        features[fields.pop("Feature")] = fields
    assert int(features["group.version"].pop("Epoch")) >= 0
    for name, top in [("group.version", "1"), ("share.version", "2"),
                      ("streams.version", "1"), ("transaction.version", "2")]:
        features[name].pop("Epoch", None)
        assert features[name] == {"SupportedMinVersion": "0", "SupportedMaxVersion": top,
                                  "FinalizedVersionLevel": top}, (name, out)
    mv = features["metadata.version"]
    assert mv["SupportedMinVersion"] == "3.3-IV3", out
    assert mv["FinalizedVersionLevel"] == mv["SupportedMaxVersion"], out
    assert re.fullmatch(r"4\.[3-9]-IV\d", mv["FinalizedVersionLevel"]), out


class LiveMember:
    """A librdkafka classic-group member: polls until it has its assignment, commits the given
    offsets, then keeps polling in a thread (so it stays in the group) until closed. The
    commit comes before the thread: a synchronous commit while another thread polls the same
    consumer can hang in librdkafka."""

    def __init__(self, broker, topic: str, group: str, commit: list[TopicPartition]):
        self.consumer = Consumer(ck_conf(broker, **{
            "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "client.id": "tools-member", "session.timeout.ms": 6000}))
        self.consumer.subscribe([topic])

        def assigned():
            self.consumer.poll(0.2)
            return bool(self.consumer.assignment())
        wait_for(assigned, "the member's assignment", interval=0)
        self.consumer.commit(offsets=commit, asynchronous=False)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self):
        while not self.stop.is_set():
            self.consumer.poll(0.2)

    def close(self):
        self.stop.set()
        self.thread.join(TIMEOUT)
        self.consumer.close()


@pytest.mark.client("kafka-tools")
def test_kafka_consumer_groups(broker):
    topic = unique_topic("tools-groups")
    group = f"tools-group-{uuid.uuid4().hex[:10]}"
    create_topic(broker, topic, 2)
    produce_timed(broker, topic, (int(time.time()) - 60) * 1000)
    member = LiveMember(broker, topic, group,
                        [TopicPartition(topic, 0, 10), TopicPartition(topic, 1, 5)])
    try:
        assert group in tool(broker, GROUPS, "--list").split()
        described = rows(tool(broker, GROUPS, "--describe", "--group", group), "GROUP")
        assert [(r["GROUP"], r["TOPIC"], r["PARTITION"], r["CURRENT-OFFSET"], r["LOG-END-OFFSET"],
                 r["LAG"], r["HOST"], r["CLIENT-ID"]) for r in described] == [
            (group, topic, "0", "10", "10", "0", "/127.0.0.1", "tools-member"),
            (group, topic, "1", "5", "10", "5", "/127.0.0.1", "tools-member")], described
        assert all(r["CONSUMER-ID"].startswith("tools-member-") for r in described), described
        members = rows(tool(broker, GROUPS, "--describe", "--group", group, "--members"), "GROUP")
        assert [(m["CLIENT-ID"], m["#PARTITIONS"]) for m in members] == [("tools-member", "2")]
        state = rows(tool(broker, GROUPS, "--describe", "--group", group, "--state"), "GROUP")
        assert [(s["ASSIGNMENT-STRATEGY"], s["STATE"], s["#MEMBERS"]) for s in state] == [
            ("range", "Stable", "1")], state
    finally:
        member.close()

    def state_now():
        return rows(tool(broker, GROUPS, "--describe", "--group", group, "--state"), "GROUP")
    wait_for(lambda: state_now()[0]["STATE"] == "Empty", "the group empty after the member left")

    def reset(*args: str) -> list[tuple[str, str]]:
        out = tool(broker, GROUPS, "--reset-offsets", "--group", group, *args)
        return sorted((r["PARTITION"], r["NEW-OFFSET"]) for r in rows(out, "GROUP"))

    assert reset("--topic", topic, "--to-earliest", "--execute") == [("0", "0"), ("1", "0")]
    assert reset("--topic", f"{topic}:0", "--to-offset", "7", "--execute") == [("0", "7")]
    assert reset("--topic", f"{topic}:0", "--shift-by", "-2", "--execute") == [("0", "5")]
    assert reset("--topic", f"{topic}:0", "--shift-by", "-20", "--dry-run") == [("0", "0")]
    out = tool(broker, GROUPS, "--describe", "--group", group, stderr=True)
    assert f"Consumer group '{group}' has no active members." in out, out
    assert [(r["PARTITION"], r["CURRENT-OFFSET"], r["LOG-END-OFFSET"], r["LAG"], r["CONSUMER-ID"],
             r["HOST"], r["CLIENT-ID"]) for r in rows(out, "GROUP")] == [
        ("0", "5", "10", "5", "-", "-", "-"), ("1", "0", "10", "10", "-", "-", "-")], out

    out = tool(broker, GROUPS, "--delete-offsets", "--group", group, "--topic", f"{topic}:1")
    assert f"Request succeeded for deleting offsets from group {group}." in out, out
    assert [(r["TOPIC"], r["PARTITION"], r["STATUS"]) for r in rows(out, "TOPIC")] == [
        (topic, "1", "Successful")], out
    out = tool(broker, GROUPS, "--describe", "--group", group)
    assert [(r["PARTITION"], r["CURRENT-OFFSET"]) for r in rows(out, "GROUP")] == [("0", "5")], out

    out = tool(broker, GROUPS, "--delete", "--group", group)
    assert f"Deletion of requested consumer groups ('{group}') was successful." in out, out
    out = tool(broker, GROUPS, "--delete", "--group", group)
    assert (f"* Group '{group}' could not be deleted due to: "
            "org.apache.kafka.common.errors.GroupIdNotFoundException: The group id does not "
            "exist.") in out, out


@pytest.mark.client("kafka-tools")
def test_kafka_consumer_groups_describe_missing(broker):
    group = f"tools-missing-{uuid.uuid4().hex[:10]}"
    out = tool(broker, GROUPS, "--describe", "--group", group, stderr=True)
    assert "GroupIdNotFoundException" in out, out
    assert f"GroupIdNotFoundException: Group {group} not found." in out, out


@pytest.mark.client("kafka-tools")
def test_kafka_transactions(broker):
    topic = unique_topic("tools-txn")
    tid = f"tools-txn-{uuid.uuid4().hex[:10]}"
    create_topic(broker, topic, 1)
    done = Producer(ck_conf(broker, **{"transactional.id": f"{tid}-done"}))
    done.init_transactions(TIMEOUT)
    done_started = int(time.time() * 1000)
    done.begin_transaction()
    for _ in range(3):
        done.produce(topic, value=b"c", partition=0)
    done.commit_transaction(TIMEOUT)
    open_ = Producer(ck_conf(broker, **{"transactional.id": f"{tid}-open",
                                        "transaction.timeout.ms": 120_000}))
    open_.init_transactions(TIMEOUT)
    open_.begin_transaction()
    started = int(time.time() * 1000)
    for _ in range(2):
        open_.produce(topic, value=b"o", partition=0)
    assert open_.flush(TIMEOUT) == 0
    try:
        listed = {r["TransactionalId"]: r for r in tab_rows(tool(broker, TOOLS + "TransactionsCommand",
                                                                 "list"))}
        assert listed[f"{tid}-done"]["TransactionState"] == "CompleteCommit", listed
        assert listed[f"{tid}-open"]["TransactionState"] == "Ongoing", listed
        # One broker: node 1. A cluster (node ids 1..n): whichever owns the transactional id.
        node_ids = {str(i + 1) for i in range(len(broker.address.split(",")))}
        coordinator = listed[f"{tid}-done"]["Coordinator"]
        assert coordinator in node_ids, listed

        (d,) = tab_rows(tool(broker, TOOLS + "TransactionsCommand", "describe",
                             "--transactional-id", f"{tid}-open"))
        assert (d["CoordinatorId"], d["TransactionalId"], d["ProducerId"], d["ProducerEpoch"],
                d["TransactionState"], d["TransactionTimeoutMs"], d["TopicPartitions"]) == (
            listed[f"{tid}-open"]["Coordinator"], f"{tid}-open", listed[f"{tid}-open"]["ProducerId"],
            "0", "Ongoing", "120000",
            f"{topic}-0"), d
        assert abs(int(d["CurrentTransactionStartTimeMs"]) - started) < 10_000, d
        assert int(d["TransactionDurationMs"]) >= 0, d
        (c,) = tab_rows(tool(broker, TOOLS + "TransactionsCommand", "describe",
                             "--transactional-id", f"{tid}-done"))
        assert (c["TransactionState"], c["ProducerEpoch"], c["TopicPartitions"]) == (
            "CompleteCommit", "0", ""), c
        # A completed transaction keeps its start time (Kafka's txnStartTimestamp).
        assert abs(int(c["CurrentTransactionStartTimeMs"]) - done_started) < 10_000, c
        assert int(c["TransactionDurationMs"]) >= 0, c

        producers = {r["ProducerId"]: r for r in tab_rows(tool(
            broker, TOOLS + "TransactionsCommand", "describe-producers", "--topic", topic,
            "--partition", "0"))}
        committed = producers[listed[f"{tid}-done"]["ProducerId"]]
        ongoing = producers[listed[f"{tid}-open"]["ProducerId"]]
        assert (committed["ProducerEpoch"], committed["LastSequence"],
                committed["CurrentTransactionStartOffset"]) == ("0", "2", "None"), producers
        # The committed transaction's 3 records and its marker come first.
        assert (ongoing["ProducerEpoch"], ongoing["LastSequence"],
                ongoing["CurrentTransactionStartOffset"]) == ("0", "1", "4"), producers

        hanging = tool(broker, TOOLS + "TransactionsCommand", "find-hanging", "--broker-id", "1")
        assert hanging.split() == ["Topic", "Partition", "ProducerId", "ProducerEpoch",
                                   "CoordinatorEpoch", "StartOffset", "LastTimestamp",
                                   "Duration(min)"], hanging
    finally:
        open_.abort_transaction(TIMEOUT)
    missing = tool(broker, TOOLS + "TransactionsCommand", "describe", "--transactional-id",
                   f"{tid}-missing", status=1)
    assert (f"Failed to describe transaction state of transactional-id `{tid}-missing`: "
            f"DescribeTransactions request for transactionalId `{tid}-missing` failed because "
            "the ID could not be found.") in missing, missing


def last_stable_offset(broker, topic: str) -> int:
    """ListOffsets latest with read_committed: the partition's last stable offset."""
    admin = AdminClient(ck_conf(broker))
    tp = TopicPartition(topic, 0)
    futures = admin.list_offsets({tp: OffsetSpec.latest()},
                                 isolation_level=IsolationLevel.READ_COMMITTED)
    return futures[tp].result(TIMEOUT).offset


def read_committed(broker, topic: str, want: int) -> list[bytes]:
    """The values a read_committed consumer gets from offset 0 (want of them, then 1 s more)."""
    c = Consumer(ck_conf(broker, **{"group.id": "unused-" + uuid.uuid4().hex[:8],
                                    "enable.auto.commit": False,
                                    "isolation.level": "read_committed"}))
    c.assign([TopicPartition(topic, 0, 0)])
    got: list[bytes] = []
    deadline, settle = time.monotonic() + TIMEOUT, None
    try:
        while time.monotonic() < deadline and (settle is None or time.monotonic() < settle):
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append(m.value())
                if len(got) >= want and settle is None:
                    settle = time.monotonic() + 1.0
    finally:
        c.close()
    return got


HANGING_HEADER = ["Topic", "Partition", "ProducerId", "ProducerEpoch", "CoordinatorEpoch",
                  "StartOffset", "LastTimestamp", "Duration(min)"]


@pytest.mark.single_broker("the plain record's offset and the LSO assume one leader's log")
@pytest.mark.client("kafka-tools")
def test_kafka_transactions_abort(broker):
    txn = TOOLS + "TransactionsCommand"
    topic = unique_topic("tools-abort")
    tid = f"tools-abort-{uuid.uuid4().hex[:10]}"
    create_topic(broker, topic, 1)
    done = Producer(ck_conf(broker, **{"transactional.id": f"{tid}-done"}))
    done.init_transactions(TIMEOUT)
    done.begin_transaction()
    for _ in range(3):
        done.produce(topic, value=b"c", partition=0)
    done.commit_transaction(TIMEOUT)  # offsets 0-2, its marker 3
    open_ = Producer(ck_conf(broker, **{"transactional.id": f"{tid}-open",
                                        "transaction.timeout.ms": 120_000}))
    open_.init_transactions(TIMEOUT)
    open_.begin_transaction()
    for _ in range(2):
        open_.produce(topic, value=b"o", partition=0)  # offsets 4-5, left open
    assert open_.flush(TIMEOUT) == 0
    plain = Producer(ck_conf(broker))
    plain.produce(topic, value=b"plain", partition=0)  # offset 6
    assert plain.flush(TIMEOUT) == 0
    idle = Producer(ck_conf(broker, **{"transactional.id": f"{tid}-idle"}))
    idle.init_transactions(TIMEOUT)  # Empty: no transaction started
    try:
        # Kafka's DurationFilter is now - start > filter: an Empty id (start -1) passes it, the
        # transactions started seconds ago (open, committed) do not.
        longer = tab_rows(tool(broker, txn, "list", "--duration-filter", "3600000",
                               "--transactional-id-pattern", f"{tid}-.*"))
        assert [(r["TransactionalId"], r["TransactionState"]) for r in longer] == [
            (f"{tid}-idle", "Empty")], longer
        before = {r["ProducerId"]: r for r in tab_rows(tool(
            broker, txn, "describe-producers", "--topic", topic, "--partition", "0"))}
        opened = [r for r in before.values() if r["CurrentTransactionStartOffset"] == "4"]
        assert len(opened) == 1, before
        (o,) = opened
        (c,) = [r for r in before.values() if r is not o]
        assert o["LatestCoordinatorEpoch"] == "-1", before  # no marker of it yet
        assert c["LatestCoordinatorEpoch"].isdigit(), before  # its commit marker's
        assert c["CurrentTransactionStartOffset"] == "None", before
        assert last_stable_offset(broker, topic) == 4
        assert read_committed(broker, topic, 3) == [b"c"] * 3

        for scope in (["--topic", topic], ["--topic", topic, "--partition", "0"]):
            hanging = tool(broker, txn, "find-hanging", *scope)
            assert hanging.split() == HANGING_HEADER, hanging

        tool(broker, txn, "abort", "--topic", topic, "--partition", "0", "--start-offset", "5",
             status=1)
        tool(broker, txn, "abort", "--topic", topic, "--partition", "0", "--start-offset", "4")
        assert last_stable_offset(broker, topic) == 8  # the abort marker at 7
        assert read_committed(broker, topic, 4) == [b"c"] * 3 + [b"plain"]
        after = {r["ProducerId"]: r for r in tab_rows(tool(
            broker, txn, "describe-producers", "--topic", topic, "--partition", "0"))}
        assert (after[o["ProducerId"]]["CurrentTransactionStartOffset"],
                after[o["ProducerId"]]["LatestCoordinatorEpoch"]) == ("None", "0"), after

        # Kafka's older form names the producer; one with nothing open here is accepted too.
        tool(broker, txn, "abort", "--topic", topic, "--partition", "0",
             "--producer-id", c["ProducerId"], "--producer-epoch", c["ProducerEpoch"],
             "--coordinator-epoch", c["LatestCoordinatorEpoch"])
        assert last_stable_offset(broker, topic) == 9
        assert read_committed(broker, topic, 4) == [b"c"] * 3 + [b"plain"]
    finally:
        open_.abort_transaction(TIMEOUT)


@pytest.mark.single_broker("one broker, one log directory")
@pytest.mark.client("kafka-tools")
def test_kafka_reassign_log_dirs(broker, tmp_path):
    reassign = TOOLS + "reassign.ReassignPartitionsCommand"
    topic = unique_topic("tools-logdirs")
    create_topic(broker, topic, 1)
    out = tool(broker, TOOLS + "LogDirsCommand", "--describe", "--topic-list", topic)
    (log_dir,) = json.loads(out.splitlines()[-1])["brokers"][0]["logDirs"]
    plan = tmp_path / "plan.json"

    def write(dirs):
        plan.write_text(json.dumps({"version": 1, "partitions": [
            {"topic": topic, "partition": 0, "replicas": [1], "log_dirs": dirs}]}))

    write([log_dir["logDir"]])
    out = tool(broker, reassign, "--reassignment-json-file", str(plan), "--execute")
    assert f"Successfully started partition reassignment for {topic}-0" in out, out
    assert (f"Successfully started moving log directory to {log_dir['logDir']} for replica "
            f"{topic}-0 with broker 1") in out, out
    out = tool(broker, reassign, "--reassignment-json-file", str(plan), "--verify")
    assert f"Reassignment of partition {topic}-0 is completed." in out, out
    assert f"Reassignment of replica {topic}-0-1 completed successfully." in out, out
    write(["/no/such/log/dir"])
    out = tool(broker, reassign, "--reassignment-json-file", str(plan), "--execute", status=1)
    assert f"Error: Failed to alter dir for {topic}-0-1" in out, out
    assert ("LogDirNotFoundException: The user-specified log directory is not found in the "
            "broker config.") in out, out

SHARE = TOOLS + "consumer.group.ShareGroupCommand"


@pytest.mark.client("kafka-tools")
def test_kafka_share_groups(broker):
    from confluent_kafka import ShareConsumer
    from compat import set_group_config
    topic = unique_topic("tools-share")
    group = f"tools-share-{uuid.uuid4().hex[:10]}"
    create_topic(broker, topic, 2)
    set_group_config(broker, group, "share.auto.offset.reset", "earliest")
    produce_timed(broker, topic, (int(time.time()) - 60) * 1000)
    consumer = ShareConsumer(ck_conf(broker, **{"group.id": group, "client.id": "tools-share"}))
    try:
        consumer.subscribe([topic])
        got = []

        def poll():
            got.extend(m for m in (consumer.poll(0.2) or []) if m.error() is None)
            return len(got) >= 20
        wait_for(poll, "20 records by the share consumer", interval=0)
        # The next poll acknowledges them (implicit acknowledgement).
        consumer.poll(0.5)
        assert group in tool(broker, SHARE, "--list").split()
        members = rows(tool(broker, SHARE, "--describe", "--group", group, "--members"), "GROUP")
        assert [(m["HOST"], m["CLIENT-ID"], m["#PARTITIONS"], m["ASSIGNMENT"])
                for m in members] == [("/127.0.0.1", "tools-share", "2", f"{topic}:0,1")], members
        state = rows(tool(broker, SHARE, "--describe", "--group", group, "--state"), "GROUP")
        assert [(s["STATE"], s["#MEMBERS"]) for s in state] == [("Stable", "1")], state

        # One broker leads at epoch 0; the cluster target's epochs come from one sequence.
        epoch = (lambda e: e.isdigit()) if "," in broker.address else (lambda e: e == "0")

        def described():
            out = tool(broker, SHARE, "--describe", "--group", group, "--offsets", "--verbose")
            return sorted((r["PARTITION"], epoch(r["LEADER-EPOCH"]), r["LAG"])
                          for r in rows(out, "GROUP"))
        # Every record acknowledged: no lag (the start offset is when the share state was last
        # written: Kafka's lags behind, not compared).
        wait_for(lambda: described() == [("0", True, "0"), ("1", True, "0")],
                 "no lag, the partition leader's epoch")
    finally:
        consumer.close()
    wait_for(lambda: rows(tool(broker, SHARE, "--describe", "--group", group, "--state"),
                          "GROUP")[0]["STATE"] == "Empty", "the share group empty")

    def reset(*args: str) -> list[tuple[str, str]]:
        out = tool(broker, SHARE, "--reset-offsets", "--group", group, "--topic", topic, *args)
        return sorted((r["PARTITION"], r["NEW-OFFSET"]) for r in rows(out, "GROUP"))

    def starts() -> list[tuple[str, str, str]]:
        out = tool(broker, SHARE, "--describe", "--group", group, "--offsets")
        return sorted((r["PARTITION"], r["START-OFFSET"], r["LAG"]) for r in rows(out, "GROUP"))
    assert reset("--to-earliest", "--execute") == [("0", "0"), ("1", "0")]
    assert starts() == [("0", "0", "10"), ("1", "0", "10")]
    assert reset("--to-latest", "--execute") == [("0", "10"), ("1", "10")]
    assert starts() == [("0", "10", "0"), ("1", "10", "0")]
    out = tool(broker, SHARE, "--delete", "--group", group)
    assert f"Deletion of requested share groups ('{group}') was successful." in out, out
    assert group not in tool(broker, SHARE, "--list").split()
