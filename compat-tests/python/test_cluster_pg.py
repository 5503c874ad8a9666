"""Cluster mode on PostgreSQL (issue 21), first part: one gregor whose every record, offset and
piece of metadata lives in a real PostgreSQL primary with a synchronous standby (Debian's
packages, pgcluster.py). The broker keeps nothing of its own: its data directory is wiped
between restarts.

An idempotent acks=all producer (librdkafka) writes keyed records to 4 partitions while
- the broker is killed with kill -9 and restarted, several times, half of them on an empty
  data directory;
- then the database primary is killed with kill -9 and the standby promoted; the broker
  reaches it through the multi-host URL (target_session_attrs=read-write).
Afterwards every acknowledged record is read back exactly once, in the order sent, per
partition; nothing is left undelivered.

A second broker on the same database is a hot standby: it does not listen while the active
broker holds the lease, and takes over (every partition, at new leader epochs) once the
active one is killed; a producer bootstrapped with both addresses carries on and loses
nothing acknowledged, across a failover each way.

Fencing: the active broker reaches the database through a TCP proxy that stops forwarding (a
network partition that closes nothing). It stops by itself within the session (its lease
cannot be renewed), the standby takes over, and no record acknowledged by either is lost.

Marked `once` (it starts its own broker and database; no broker fixture). Ports: from
COMPAT_PG_PORT + 10 (default 25442).
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from compat import TIMEOUT, Broker, create_topic, unique_topic, wait_for
from pgcluster import PgCluster, port_open
from stallproxy import StallProxy
from test_crash_loop import PARTITIONS, KeyedProducer, read_log
from test_groups import OwnGregor

pytestmark = [pytest.mark.once, pytest.mark.client("confluent-kafka")]

BASE = int(os.environ.get("COMPAT_PG_PORT", "25432")) + 10
CYCLES = int(os.environ.get("COMPAT_PG_CRASH_CYCLES", "4"))
# The active broker's lease (--broker-session-timeout-ms): short, so failovers are quick here.
SESSION_MS = 3000
FAST = ("--broker-session-timeout-ms", str(SESSION_MS))


@pytest.fixture
def pg_cluster():
    # Under /tmp: the servers run as `postgres` and need a path they can reach.
    work = Path(tempfile.mkdtemp(prefix="gregor-cluster-pg."))
    cluster = PgCluster(work / "pg", BASE, BASE + 1)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


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
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:5]}"
    moved = [s for s, at in producer.acked.items() if seen[s] != at]
    assert not moved, f"records not at their acknowledged offsets, e.g. {moved[:5]}"


@pytest.mark.timeout(600)
def test_acknowledged_records_survive_broker_kill9_and_database_failover(pg_cluster, tmp_path):
    # The default session (9 s): the database failover below must not outlast the broker's
    # lease (a broker that cannot renew it for a session stops).
    broker = OwnGregor(tmp_path, storage=pg_cluster.url())
    rng = random.Random(os.environ.get("COMPAT_CRASH_SEED") or None)
    producer = None
    try:
        topic = create_topic(broker.broker, unique_topic("cluster-pg"), PARTITIONS)
        producer = KeyedProducer(broker.broker, topic)
        wait_for(lambda: len(producer.acked) > 50, "first acknowledgements")
        for cycle in range(CYCLES):
            time.sleep(rng.uniform(0.3, 1.5))
            broker.kill9()
            if cycle % 2 == 0:
                shutil.rmtree(broker.data)  # the database holds everything
            broker.restart()
            acked = len(producer.acked)
            wait_for(lambda: len(producer.acked) > acked + 20, f"acknowledgements after restart {cycle}")
        pg_cluster.kill_primary()
        time.sleep(1)
        pg_cluster.promote_standby()
        acked = len(producer.acked)
        wait_for(lambda: len(producer.acked) > acked + 20, "acknowledgements after the failover",
                 timeout=TIMEOUT * 2)
        all_delivered(producer)
        acked_in_order(producer, read_log(broker.broker, topic))
        # A restart on an empty data directory after the failover still finds it all.
        broker.kill9()
        shutil.rmtree(broker.data)
        broker.restart()
        acked_in_order(producer, read_log(broker.broker, topic))
    finally:
        if producer is not None:
            producer.halt()
        broker.stop()


def multi(*brokers: OwnGregor) -> Broker:
    """Clients bootstrapped with every broker's address."""
    return Broker("gregor-pg", ",".join(b.broker.address for b in brokers))


@pytest.mark.timeout(600)
def test_a_standby_broker_takes_over_without_losing_acknowledged_records(pg_cluster, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = OwnGregor(tmp_path / "a", storage=pg_cluster.url(), extra_args=FAST)
    b = OwnGregor(tmp_path / "b", storage=pg_cluster.url(), extra_args=FAST, wait=False)
    producer = None
    try:
        time.sleep(SESSION_MS / 1000)
        assert not port_open(b.port), "a standby must not serve while another broker is active"
        both = multi(a, b)
        topic = create_topic(a.broker, unique_topic("standby"), PARTITIONS)
        producer = KeyedProducer(both, topic)
        wait_for(lambda: len(producer.acked) > 50, "first acknowledgements")
        for active, standby in ((a, b), (b, a)):
            active.kill9()
            started = time.monotonic()
            standby.wait_listening(timeout=TIMEOUT * 2)
            took = time.monotonic() - started
            assert took < SESSION_MS / 1000 + 10, f"the standby took {took:.1f} s to take over"
            acked = len(producer.acked)
            wait_for(lambda: len(producer.acked) > acked + 50,
                     "acknowledgements through the new active broker", timeout=TIMEOUT * 2)
            active.restart(wait=False)  # the killed one comes back as the standby
            time.sleep(0.5)
        all_delivered(producer)
        acked_in_order(producer, read_log(a.broker, topic))
        # A clean stop exits 0 (closing writes to the database off the runtime), releasing the
        # lease; the standby takes over.
        a.proc.terminate()
        assert a.proc.wait(TIMEOUT) == 0, a.log.read_text()[-3000:]
        b.wait_listening(timeout=TIMEOUT * 2)
        assert pg_cluster.psql("SELECT count(*) FROM gregor_leases") == "1"
        acked_in_order(producer, read_log(b.broker, topic))
    finally:
        if producer is not None:
            producer.halt()
        a.stop()
        b.stop()


@pytest.mark.timeout(600)
def test_a_broker_cut_off_from_the_database_stops_and_is_replaced(pg_cluster, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with StallProxy(0, "127.0.0.1", pg_cluster.primary.port) as proxy:
        # Broker a reaches the primary only through the proxy.
        cut_off = pg_cluster.primary_url().replace(f":{pg_cluster.primary.port}/",
                                                   f":{proxy.port}/")
        a = OwnGregor(tmp_path / "a", storage=cut_off, extra_args=FAST)
        b = OwnGregor(tmp_path / "b", storage=pg_cluster.url(), extra_args=FAST, wait=False)
        producer = None
        try:
            topic = create_topic(a.broker, unique_topic("fenced"), PARTITIONS)
            producer = KeyedProducer(multi(a, b), topic)
            wait_for(lambda: len(producer.acked) > 50, "first acknowledgements")
            proxy.stall()
            stalled = time.monotonic()
            rc = a.proc.wait(TIMEOUT * 2)
            took = time.monotonic() - stalled
            assert rc == 1, f"the cut-off broker exited with {rc}"
            assert "lost the active broker's lease" in a.log.read_text()
            assert took < SESSION_MS / 1000 + 10, f"the cut-off broker served {took:.1f} s on"
            b.wait_listening(timeout=TIMEOUT * 2)
            acked = len(producer.acked)
            wait_for(lambda: len(producer.acked) > acked + 50,
                     "acknowledgements through the broker that took over", timeout=TIMEOUT * 2)
            all_delivered(producer)
            acked_in_order(producer, read_log(b.broker, topic))
        finally:
            if producer is not None:
                producer.halt()
            proxy.resume()
            a.stop()
            b.stop()
