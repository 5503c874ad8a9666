"""Kafka's `kafka-metadata-quorum`, `kafka-leader-election`, `kafka-configs` and
`kafka-client-metrics` tools (MetadataQuorumCommand, LeaderElectionCommand, ConfigCommand,
ClientMetricsCommand from the reference Kafka's jars, as bin/kafka-*.sh run them) against a
single node (issue 18: DescribeQuorum, ElectLeaders, ListConfigResources).

| scenario | what is asserted |
|---|---|
| metadata_quorum | `describe --status`: ClusterId, LeaderId = the one voter's id, LeaderEpoch >= 1, HighWatermark >= 0 and not going back on a second run, MaxFollowerLag 0, MaxFollowerLagTimeMs 0, CurrentVoters one entry (the leader, one endpoint; its directory id Kafka's or, on gregor, left out as zero), CurrentObservers []; `describe --replication`: one row, the leader, Lag 0, LogEndOffset >= the high watermark seen before, status Leader, timestamps within the last minute |
| leader_election | `--election-type preferred/unclean --all-topic-partitions`: exit 0, nothing printed; `--topic T --partition 0` (preferred, unclean): exit 0, "Valid replica already elected for partitions T-0"; a missing topic / partition: exit 1, exactly "Error completing leader election (PREFERRED) for partition: …UnknownTopicOrPartitionException: No such topic as …" / "No such partition as T-7" printed, "1 replica(s) could not be elected" on stderr |
| config_resources | `kafka-configs --alter --entity-type groups` sets a config on a group that has no members; `--describe --entity-type groups` (ListConfigResources of GROUP) shows it; `--describe --entity-type client-metrics` and `kafka-client-metrics --list` (ListConfigResources of CLIENT_METRICS) list nothing, exit 0 |
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

import kafkatools
from compat import create_topic, unique_topic, wait_for

pytestmark = pytest.mark.client("kafka-tools")


@pytest.fixture(scope="session")
def kafka_tools():
    """The package of Kafka's tools in the reference Kafka's jars."""
    kafkatools.libs()
    return "org.apache.kafka.tools."


def run(tools, cls: str, broker, *args: str) -> subprocess.CompletedProcess:
    return kafkatools.run(tools + cls, "--bootstrap-server", broker.address, *args)


def quorum_status(tools, broker) -> dict[str, str]:
    res = run(tools, "MetadataQuorumCommand", broker, "describe", "--status")
    assert res.returncode == 0, f"describe --status exited {res.returncode}:\n{res.stdout}\n{res.stderr[-3000:]}"
    return {k.strip(): v.strip() for k, _, v in
            (line.partition(":") for line in res.stdout.splitlines() if ":" in line)}


@pytest.mark.single_broker("a one-node quorum: its leader is the broker dialled")
def test_metadata_quorum(kafka_tools, broker):
    status = quorum_status(kafka_tools, broker)
    assert set(status) == {"ClusterId", "LeaderId", "LeaderEpoch", "HighWatermark",
                           "MaxFollowerLag", "MaxFollowerLagTimeMs", "CurrentVoters",
                           "CurrentObservers"}, status
    assert status["ClusterId"]
    leader = int(status["LeaderId"])
    assert int(status["LeaderEpoch"]) >= 1
    hw = int(status["HighWatermark"])
    assert hw >= 0
    assert (status["MaxFollowerLag"], status["MaxFollowerLagTimeMs"]) == ("0", "0")
    voters = json.loads(status["CurrentVoters"])
    assert [v["id"] for v in voters] == [leader], voters
    # Kafka's standalone voter has a directory id; gregor's is the zero id, which the tool
    # leaves out of this line (and prints in --replication).
    directory = voters[0].get("directoryId", "AAAAAAAAAAAAAAAAAAAAAA")
    assert len(directory) == 22, voters
    assert len(voters[0]["endpoints"]) == 1, voters
    assert json.loads(status["CurrentObservers"]) == []
    assert int(quorum_status(kafka_tools, broker)["HighWatermark"]) >= hw, "never goes back"

    res = run(kafka_tools, "MetadataQuorumCommand", broker, "describe", "--replication")
    assert res.returncode == 0, f"describe --replication exited {res.returncode}:\n{res.stderr[-3000:]}"
    rows = [line.split() for line in res.stdout.splitlines() if line.strip()]
    assert rows[0] == ["NodeId", "DirectoryId", "LogEndOffset", "Lag", "LastFetchTimestamp",
                       "LastCaughtUpTimestamp", "Status"], rows
    assert len(rows) == 2, rows
    node, directory_id, leo, lag, fetched, caught_up, role = rows[1]
    assert (int(node), directory_id, lag, role) == (leader, directory, "0", "Leader")
    assert int(leo) >= hw
    now_ms = time.time() * 1000
    for ts in (fetched, caught_up):
        assert now_ms - 60_000 < int(ts) <= now_ms + 1000, rows


def test_leader_election(kafka_tools, broker):
    topic = create_topic(broker, unique_topic("elect"), 2)

    def elect(*args: str) -> tuple[int, str]:
        res = run(kafka_tools, "LeaderElectionCommand", broker, *args)
        if res.returncode != 0:
            assert "1 replica(s) could not be elected" in res.stderr, res.stderr[-3000:]
        return res.returncode, res.stdout

    for kind in ("preferred", "unclean"):
        assert elect("--election-type", kind, "--all-topic-partitions") == (0, ""), kind
        assert elect("--election-type", kind, "--topic", topic, "--partition", "0") == (
            0, f"Valid replica already elected for partitions {topic}-0\n"), kind
    missing = unique_topic("elect-missing")
    rc, out = elect("--election-type", "preferred", "--topic", missing, "--partition", "0")
    assert rc == 1, out
    assert out == (
        f"Error completing leader election (PREFERRED) for partition: {missing}-0: "
        f"org.apache.kafka.common.errors.UnknownTopicOrPartitionException: No such topic as "
        f"{missing}\n"), out
    rc, out = elect("--election-type", "preferred", "--topic", topic, "--partition", "7")
    assert rc == 1, out
    assert out == (
        f"Error completing leader election (PREFERRED) for partition: {topic}-7: "
        f"org.apache.kafka.common.errors.UnknownTopicOrPartitionException: No such partition as "
        f"{topic}-7\n"), out


def test_config_resources(kafka_tools, broker):
    group = unique_topic("configured-group")

    def tool(cls: str, *args: str) -> str:
        res = run(kafka_tools, cls, broker, *args)
        assert res.returncode == 0, f"{cls} {' '.join(args)} exited {res.returncode}:\n{res.stdout}\n{res.stderr[-3000:]}"
        return res.stdout

    tool("ConfigCommand", "--alter", "--entity-type", "groups", "--entity-name", group,
         "--add-config", "consumer.session.timeout.ms=50000")
    # The group has no members, so only ListConfigResources can name it (the tool falls back
    # to ListGroups where that API is not served).
    # In cluster mode the broker asked may take the config in at its next tick.
    def described() -> bool:
        lines = tool("ConfigCommand", "--describe", "--entity-type", "groups").splitlines()
        header = f"Dynamic configs for group {group} are:"
        return header in lines and lines[lines.index(header) + 1].startswith(
            "  consumer.session.timeout.ms=50000 sensitive=false ")

    wait_for(described, f"group {group}'s config described")
    assert tool("ConfigCommand", "--describe", "--entity-type", "client-metrics") == ""
    assert tool("ClientMetricsCommand", "--list") == "\n"  # an empty list, as Kafka prints it
    tool("ConfigCommand", "--alter", "--entity-type", "groups", "--entity-name", group,
         "--delete-config", "consumer.session.timeout.ms")
