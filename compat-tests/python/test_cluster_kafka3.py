"""The oracle of issue 21's kill scenarios (cluster_kills.py): the reference Kafka as three
brokers (kafka3.py: KRaft, replication factor 3, min.insync.replicas=2, 3 s broker sessions)
goes through what test_cluster_pg.py puts gregor's three brokers over PostgreSQL through —
partition leaders killed with kill -9 under acks=all load (librdkafka and the Java client),
the group coordinator killed, a clean stop; a share group's share-partition leader killed —
and must pass the same assertions.

Three JVMs beside the suite's own brokers cost minutes on two cores, so these run when asked
(COMPAT_KAFKA3=1, e.g. `COMPAT_KAFKA3=1 COMPAT_ONLY=kafka3 compat-tests/run.sh`), after a
change to cluster_kills.py: they check the scenarios, not gregor. Marked `once`."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from cluster_kills import leaders, leaders_killed, share_leader_killed
from kafka3 import KafkaTrio
from test_java import java_compat  # noqa: F401 - the fixture

pytestmark = [pytest.mark.once, pytest.mark.kafka3, pytest.mark.client("confluent-kafka")]

CYCLES = int(os.environ.get("COMPAT_PG_CRASH_CYCLES", "4"))


@pytest.fixture
def trio():
    trio = KafkaTrio(Path(tempfile.mkdtemp(prefix="gregor-compat-kafka3.")))
    try:
        yield trio
    finally:
        trio.stop(keep=bool(os.environ.get("COMPAT_KEEP_KAFKA3")))


@pytest.mark.timeout(900)
def test_kafka3_loses_nothing_when_leaders_are_killed(trio, tmp_path, java_compat):  # noqa: F811
    leaders_killed(trio.by_id, trio.cluster, java_compat, tmp_path, CYCLES)


@pytest.mark.timeout(600)
def test_kafka3_share_group_redelivers_nothing_acknowledged_when_a_share_leader_is_killed(
        trio, tmp_path, java_compat):  # noqa: F811
    cluster = trio.cluster
    share_leader_killed(trio.by_id, cluster, java_compat, tmp_path,
                        lambda group: trio.group_coordinator(group, lambda t: leaders(cluster, t)))
