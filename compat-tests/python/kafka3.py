"""The reference Apache Kafka as three brokers (the oracle of the cluster kill scenarios,
cluster_kills.py): three combined-mode KRaft nodes (broker and controller in each JVM, a
static quorum of the three, one cluster id formatted on all three), replication factor 3
and `min.insync.replicas=2` by default, as bench/lib.sh's kafka-3 column. Each node is a
process of its own that a test kills with kill -9 and starts again on its data.

Broker sessions are short (`broker.session.timeout.ms=3000`, heartbeats every 500 ms): the
controller moves a killed node's leaderships after that, as gregor's cluster tests run their
brokers with a 3 s lease."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
from pathlib import Path

from compat import TIMEOUT, Broker, free_port, port_open, wait_for
from kafkatools import libs

HEAP = os.environ.get("COMPAT_KAFKA3_HEAP", "384m")
JVM = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true"]


class KafkaNode:
    """One of the three: node id, listener port, data under `dir`."""

    def __init__(self, trio: "KafkaTrio", node_id: int):
        self.trio = trio
        self.node_id = node_id
        self.port = free_port()
        self.controller_port = free_port()
        self.dir = trio.workdir / f"k{node_id}"
        self.proc: subprocess.Popen | None = None

    @property
    def broker(self) -> Broker:
        return Broker("kafka-3", f"127.0.0.1:{self.port}")

    def configure(self, voters: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "server.properties").write_text(f"""\
process.roles=broker,controller
node.id={self.node_id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={self.dir / "data"}
num.partitions=1
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions={KafkaTrio.OFFSETS_PARTITIONS}
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
share.coordinator.state.topic.num.partitions=3
group.initial.rebalance.delay.ms=0
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
""")
        (self.dir / "log4j2.properties").write_text(f"""\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {self.dir / "server.log"}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
""")

    def _java(self, heap: str, *argv: str) -> list[str]:
        return ["java", f"-Xmx{heap}", *JVM,
                f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
                "-cp", f"{self.trio.libs}/*", *argv]

    def format(self, cluster_id: str) -> None:
        res = subprocess.run(
            self._java("256m", "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                       f"--config={self.dir / 'server.properties'}"),
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert res.returncode == 0, f"formatting node {self.node_id}: {res.stdout}{res.stderr}"

    def start(self, wait: bool = True) -> None:
        """Start it on its data (after kill9 too); with `wait`, until it listens."""
        with open(self.dir / "stdout.log", "ab") as out:
            self.proc = subprocess.Popen(
                self._java(HEAP, "kafka.Kafka", str(self.dir / "server.properties")),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        if wait:
            self.wait_listening()

    restart = start

    def wait_listening(self) -> None:
        wait_for(lambda: self.proc.poll() is not None or port_open(self.port),
                 f"kafka node {self.node_id} listening on {self.port}", timeout=TIMEOUT * 3)
        assert self.proc.poll() is None, f"kafka node {self.node_id} exited: {self.log_tail()}"

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(TIMEOUT)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self) -> str:
        text = ""
        for name in ("stdout.log", "server.log"):
            path = self.dir / name
            if path.exists():
                text += path.read_text(errors="replace")[-2000:]
        return text


class KafkaTrio:
    """Three Kafka nodes formatted as one cluster under `workdir`, started (in parallel)."""

    # __consumer_offsets partitions: few, so three JVMs on two cores create them quickly.
    OFFSETS_PARTITIONS = 3

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.libs = libs()
        self.nodes = [KafkaNode(self, n) for n in (1, 2, 3)]
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        cluster_id = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
        for n in self.nodes:
            n.configure(voters)
            n.format(cluster_id)
        for n in self.nodes:
            n.start(wait=False)
        for n in self.nodes:
            n.wait_listening()

    @property
    def by_id(self) -> dict[int, KafkaNode]:
        return {n.node_id: n for n in self.nodes}

    @property
    def cluster(self) -> Broker:
        """Clients bootstrapped with every node's address."""
        return Broker("kafka-3", ",".join(n.broker.address for n in self.nodes))

    def group_coordinator(self, group: str, leader_of) -> int:
        """The node coordinating `group`: the leader of its __consumer_offsets partition
        (Kafka's `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions`);
        `leader_of(topic) -> {partition: leader}`."""
        units = group.encode("utf-16-be")
        h = 0
        for i in range(0, len(units), 2):
            h = (31 * h + int.from_bytes(units[i:i + 2], "big")) & 0xFFFFFFFF
        signed = h - (1 << 32) if h & 0x80000000 else h
        positive = 0 if signed == -(1 << 31) else abs(signed)
        return leader_of("__consumer_offsets")[positive % self.OFFSETS_PARTITIONS]

    def stop(self, keep: bool = False) -> None:
        for n in self.nodes:
            n.stop()
        if not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
