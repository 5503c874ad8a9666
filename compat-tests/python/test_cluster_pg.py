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

Three brokers started at once on a fresh database report one cluster id (three rounds).

Three brokers on one database all serve, and lose nothing when their leaders are killed
(cluster_kills.py's two scenarios, which test_cluster_kafka3.py runs against three Kafka
brokers as the oracle): partition leaders killed with kill -9 under librdkafka's and the
Java client's acks=all load, the group coordinator killed, a clean stop (which gives the
broker's lease up); a share group whose share-partition leader is killed (the new leaders
load the stored states).

A transaction over partitions led by all three brokers commits and aborts correctly for
read_committed and read_uncommitted readers (the coordinator queues the markers of other
brokers' partitions in the database; their leaders write them).

Fencing: one of two brokers reaches the database through a TCP proxy that stops forwarding
(a network partition that closes nothing). It stops by itself within the session (its lease
cannot be renewed), the other takes its partitions over, and no record acknowledged by
either is lost.

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

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from cluster_kills import (SESSION_MS, acked_in_order, all_delivered, all_led, leaders,
                           leaders_killed, make_topic, share_leader_killed)
from compat import TIMEOUT, Broker, ck_admin, ck_conf, create_topic, unique_topic, wait_for
from pgcluster import APP_DB, APP_USER, PgCluster
from stallproxy import StallProxy
from test_crash_loop import PARTITIONS, KeyedProducer, read_log
from test_groups import OwnGregor
from test_java import java_compat  # noqa: F401 - the fixture

pytestmark = [pytest.mark.once, pytest.mark.client("confluent-kafka")]

BASE = int(os.environ.get("COMPAT_PG_PORT", "25432")) + 10
CYCLES = int(os.environ.get("COMPAT_PG_CRASH_CYCLES", "4"))
# The active broker's lease (--broker-session-timeout-ms): short, so failovers are quick here.
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
        if not os.environ.get("COMPAT_KEEP_PG"):
            shutil.rmtree(work, ignore_errors=True)


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
        # A restart on an empty data directory after the failover still finds it all: as a
        # new node id, it leads once the killed run's lease has expired.
        broker.kill9()
        shutil.rmtree(broker.data)
        broker.restart()
        node = int((broker.data / "node-id").read_text())
        wait_for(lambda: set(leaders(broker.broker, topic).values()) == {node},
                 "the partitions led by the new run", timeout=TIMEOUT * 2)
        acked_in_order(producer, read_log(broker.broker, topic))
    finally:
        if producer is not None:
            producer.halt()
        broker.stop()


def multi(*brokers: OwnGregor) -> Broker:
    """Clients bootstrapped with every broker's address."""
    return Broker("gregor-pg", ",".join(b.broker.address for b in brokers))


def three_brokers(tmp_path: Path, url: str) -> list[OwnGregor]:
    brokers = []
    for node in (1, 2, 3):
        (tmp_path / f"b{node}").mkdir()
        brokers.append(OwnGregor(tmp_path / f"b{node}", storage=url,
                                 extra_args=FAST + ("--node-id", str(node))))
    return brokers


def test_brokers_started_at_once_on_an_empty_database_agree_on_one_cluster_id(pg_cluster, tmp_path):
    """Three brokers started together on a fresh database (as the cluster target and the README
    start them) report one cluster id. Each used to read the store, find no id and keep one of
    its own; franz-go and the Java client then refuse a broker whose id differs from the
    metadata they hold. Three rounds, each on a fresh database (the race needs an empty one)."""
    for round_ in range(3):
        if round_:
            pg_cluster.primary.psql(f"DROP DATABASE {APP_DB} WITH (FORCE)")
            pg_cluster.primary.psql(f"CREATE DATABASE {APP_DB} OWNER {APP_USER}")
        brokers = []
        try:
            for node in (1, 2, 3):
                (tmp_path / f"r{round_}b{node}").mkdir()
                brokers.append(OwnGregor(tmp_path / f"r{round_}b{node}", storage=pg_cluster.url(),
                                         extra_args=FAST + ("--node-id", str(node)), wait=False))
            for b in brokers:
                b.wait_listening()
            ids = {b.port: ck_admin(b.broker).list_topics(timeout=TIMEOUT).cluster_id for b in brokers}
            assert len(set(ids.values())) == 1 and None not in ids.values(), f"round {round_}: {ids}"
        finally:
            for b in brokers:
                b.stop()


@pytest.mark.timeout(900)
def test_three_brokers_share_the_partitions_and_lose_nothing_when_leaders_are_killed(
        pg_cluster, tmp_path, java_compat):  # noqa: F811
    brokers = three_brokers(tmp_path, pg_cluster.url())

    def clean_stop(node):
        assert node.proc.returncode == 0, node.log.read_text()[-3000:]
        # It gave its lease up.
        assert pg_cluster.psql("SELECT count(*) FROM gregor_leases WHERE name = 'broker/1'") == "0"

    leaders_killed(dict(zip((1, 2, 3), brokers)), multi(*brokers), java_compat, tmp_path,
                   CYCLES, clean_stop)


@pytest.mark.timeout(600)
def test_a_broker_cut_off_from_the_database_stops_and_is_replaced(pg_cluster, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with StallProxy(0, "127.0.0.1", pg_cluster.primary.port) as proxy:
        # Broker a reaches the primary only through the proxy.
        cut_off = pg_cluster.primary_url().replace(f":{pg_cluster.primary.port}/",
                                                   f":{proxy.port}/")
        a = OwnGregor(tmp_path / "a", storage=cut_off, extra_args=FAST)
        b = OwnGregor(tmp_path / "b", storage=pg_cluster.url(), extra_args=FAST)
        both = multi(a, b)
        producer = None
        try:
            topic = create_topic(both, unique_topic("fenced"), PARTITIONS)
            for x in (a, b):
                wait_for(lambda: all_led(x.broker, topic), f"every partition led, on {x.port}")
            assert len(set(leaders(both, topic).values())) == 2, "both brokers lead partitions"
            producer = KeyedProducer(both, topic)
            wait_for(lambda: len(producer.acked) > 50, "first acknowledgements")
            proxy.stall()
            stalled = time.monotonic()
            rc = a.proc.wait(TIMEOUT * 2)
            took = time.monotonic() - stalled
            assert rc == 1, f"the cut-off broker exited with {rc}"
            assert "lost a lease of the cluster" in a.log.read_text()
            assert took < SESSION_MS / 1000 + 10, f"the cut-off broker served {took:.1f} s on"
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


@pytest.mark.timeout(600)
def test_a_transaction_over_partitions_of_several_brokers_commits_and_aborts(pg_cluster, tmp_path):
    brokers = three_brokers(tmp_path, pg_cluster.url())
    cluster = multi(*brokers)
    producer = None
    try:
        topic = unique_topic("txn")
        for b in brokers:
            wait_for(lambda: sorted(ck_admin(b.broker).list_topics(timeout=TIMEOUT).brokers)
                     == [1, 2, 3], f"broker on {b.port} listing the three")
        assert make_topic(cluster, topic, 3) is None
        for b in brokers:
            wait_for(lambda: all_led(b.broker, topic), f"every partition led, on {b.port}")
        # One broker coordinates: the partitions of the others get their markers through it.
        assert len(set(leaders(cluster, topic).values())) == 3
        producer = Producer(ck_conf(cluster, **{"transactional.id": unique_topic("tid")}))
        producer.init_transactions(TIMEOUT)
        for txn, commit in (("c1", True), ("a2", False), ("c3", True)):
            producer.begin_transaction()
            for p in range(PARTITIONS):
                producer.produce(topic, value=txn.encode(), partition=p)
            # Sent before the abort (librdkafka drops what is still queued at an abort).
            assert producer.flush(TIMEOUT) == 0
            if commit:
                producer.commit_transaction(TIMEOUT)
            else:
                producer.abort_transaction(TIMEOUT)

        def read(isolation: str) -> dict[int, list[str]]:
            c = Consumer(ck_conf(cluster, **{"group.id": unique_topic("reader"),
                                             "isolation.level": isolation,
                                             "enable.partition.eof": True,
                                             "auto.offset.reset": "earliest"}))
            try:
                c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
                got: dict[int, list[str]] = {p: [] for p in range(PARTITIONS)}
                ended = set()
                deadline = time.monotonic() + TIMEOUT * 2
                while len(ended) < PARTITIONS:
                    assert time.monotonic() < deadline, f"{isolation}: read {got}"
                    for m in c.consume(100, timeout=0.5):
                        if m.error() is None:
                            got[m.partition()].append(m.value().decode())
                        elif m.error().code() == KafkaError._PARTITION_EOF:
                            ended.add(m.partition())
                return got
            finally:
                c.close()

        assert read("read_committed") == {p: ["c1", "c3"] for p in range(PARTITIONS)}
        assert read("read_uncommitted") == {p: ["c1", "a2", "c3"] for p in range(PARTITIONS)}
        assert pg_cluster.psql("SELECT count(*) FROM gregor_markers") == "0"
    finally:
        for b in brokers:
            b.stop()


@pytest.mark.timeout(600)
def test_a_share_group_redelivers_nothing_acknowledged_when_a_share_leader_is_killed(
        pg_cluster, tmp_path, java_compat):  # noqa: F811
    brokers = three_brokers(tmp_path, pg_cluster.url())
    share_leader_killed(
        dict(zip((1, 2, 3), brokers)), multi(*brokers), java_compat, tmp_path,
        lambda group: int(pg_cluster.psql(
            "SELECT node_id FROM gregor_leases WHERE name = 'coordinator'")))
