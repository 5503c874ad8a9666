"""The brokers the homework runs against: gregor and the reference Kafka (started through
compat-tests/kafka/reference-kafka.sh), either one secured with SASL_SSL
(compat-tests/python/tlsbrokers.py), and gregor as a cluster of three brokers over PostgreSQL
with a synchronous standby (compat-tests/python/pgcluster.py). Each: start, crash (kill -9),
restart, stop, `bootstrap`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

from harness import Failed, Proc, clean_env, port_open, wait_for

ROOT = Path(__file__).resolve().parent.parent.parent
TOPIC = "loms.order-events"

sys.path.insert(0, str(ROOT / "compat-tests" / "python"))
import pgcluster  # noqa: E402 - standard library only, shared with the compat suite
import tlsbrokers  # noqa: E402


class GregorBroker:
    name = "gregor"

    def __init__(self, binary: str, port: int, metrics_port: int, workdir: Path, logdir: Path):
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        self.data = workdir / "gregor-data"
        # The defaults a student gets (loms.order-events:2:1 pre-created, fsync always,
        # 3 s initial rebalance delay), on a private port and data dir; /metrics as in compose.
        self.proc = Proc("gregor", [binary, "--listen", self.bootstrap, "--data-dir", str(self.data),
                                    "--metrics-listen", f"127.0.0.1:{metrics_port}"],
                         logdir, env=clean_env(NO_COLOR="1"))

    def metrics(self) -> dict[str, float]:
        """GET /metrics: sample (`name{labels}`) → value."""
        with urllib.request.urlopen(self.metrics_url, timeout=10) as r:
            text = r.read().decode()
        return {k: float(v) for k, _, v in (line.rpartition(" ") for line in text.splitlines()
                                             if line and not line.startswith("#"))}

    def _up(self) -> None:
        if port_open(self.port):
            raise Failed(f"port {self.port} is already in use")
        self.proc.start()

        def up() -> bool:
            if not self.proc.alive():
                raise Failed("gregor exited:\n" + self.proc.text()[-3000:])
            return port_open(self.port)
        wait_for("gregor to listen", 30, up, 0.05)

    def start(self) -> None:
        self._up()

    def crash(self) -> None:
        self.proc.kill9()

    def restart(self) -> None:
        self._up()

    def stop(self) -> None:
        self.proc.terminate(30)


class ClusterBroker:
    """Three gregor brokers (node ids 1-3, ports base..base+2) sharing one PostgreSQL primary
    with a synchronous standby; the services get all three addresses. A crash is kill -9 of
    the broker holding the group coordinator (the notifiers' group moves with it); the two
    others serve on, so loms' outbox does not have to wait for the restart."""
    name = "gregor-cluster"
    survives_crash = True

    def __init__(self, binary: str, base_port: int, pg_ports: tuple[int, int], workdir: Path, logdir: Path):
        self.binary, self.logdir = binary, logdir
        self.ports = [base_port + i for i in range(3)]
        self.bootstrap = ",".join(f"127.0.0.1:{p}" for p in self.ports)
        self.work = workdir / "gregor-cluster"
        self.pg = pgcluster.PgCluster(self.work / "pg", *pg_ports)
        self.procs: dict[int, Proc] = {}
        self.victim: int | None = None

    def _proc(self, node: int) -> Proc:
        data = self.work / f"b{node}"
        data.mkdir(parents=True, exist_ok=True)
        return Proc(f"gregor-{node}", [self.binary, "--listen", f"127.0.0.1:{self.ports[node - 1]}",
                                       "--node-id", str(node), "--data-dir", str(data),
                                       "--storage", self.pg.url()],
                    self.logdir, env=clean_env(NO_COLOR="1"))

    def _up(self, node: int) -> None:
        port = self.ports[node - 1]
        if port_open(port):
            raise Failed(f"port {port} is already in use")
        proc = self.procs[node] = self.procs.get(node) or self._proc(node)
        proc.start()

        def up() -> bool:
            if not proc.alive():
                raise Failed(f"gregor-{node} exited:\n" + proc.text()[-3000:])
            return port_open(port)
        wait_for(f"gregor-{node} to listen", 60, up, 0.05)

    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        os.chmod(self.work, 0o755)  # PostgreSQL runs as its own user under it
        try:
            self.pg.start()
        except (RuntimeError, subprocess.SubprocessError) as e:
            raise Failed(f"PostgreSQL primary and standby did not start: {e}") from e
        for node in (1, 2, 3):
            self._up(node)

    def coordinator(self) -> int:
        out = self.pg.psql("SELECT node_id FROM gregor_leases WHERE name = 'coordinator' AND expires > now()")
        return int(out.strip()) if out.strip().isdigit() else 1

    def crash(self) -> None:
        self.victim = self.coordinator()
        self.procs[self.victim].kill9()

    def restart(self) -> None:
        if self.victim is not None:
            self._up(self.victim)
            self.victim = None

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate(30)
        self.pg.stop()


class KafkaBroker:
    name = "kafka"

    def __init__(self, port: int, cport: int, state: str, logdir: Path):
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self.script = str(ROOT / "compat-tests" / "kafka" / "reference-kafka.sh")
        self.env = clean_env(COMPAT_KAFKA_PORT=str(port), COMPAT_KAFKA_CONTROLLER_PORT=str(cport),
                             COMPAT_KAFKA_STATE=state)
        self.logdir = logdir
        self.state = state

    def _run(self, *args: str) -> None:
        with open(self.logdir / "reference-kafka.log", "ab") as f:
            r = subprocess.run([self.script, *args], env=self.env, stdout=f, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            # CI keeps only what is printed: the log's tail says why.
            tail = (self.logdir / "reference-kafka.log").read_text(errors="replace").splitlines()[-25:]
            raise Failed(f"reference-kafka.sh {' '.join(args)} failed; its log ends:\n  " + "\n  ".join(tail))

    def start(self) -> None:
        if subprocess.run([self.script, "status"], env=self.env).returncode == 0:
            self._run("stop")
        self._run("start", f"{TOPIC}:2")

    def crash(self) -> None:
        self._run("kill9")

    def restart(self) -> None:
        self._run("restart")

    def stop(self) -> None:
        try:
            shutil.copy(Path(self.state) / "server.log", self.logdir / "kafka-server.log")
        except OSError:
            pass
        self._run("stop")


class SecuredBroker:
    """gregor or Kafka with SASL_SSL (and SASL_PLAINTEXT, SSL) listeners from tlsbrokers; the
    services connect to SASL_SSL with SCRAM-SHA-512 (loms as alice, notifiers as bob)."""

    def __init__(self, kind: str, base_port: int, workdir: Path):
        self.kind, self.name = kind, f"{kind}-sasl-ssl"
        self.ports = tlsbrokers.listener_ports(base_port)
        self.bootstrap = f"127.0.0.1:{self.ports['SASL_SSL']}"
        self.state = workdir / self.name
        self.b: tlsbrokers.SecuredBroker | None = None

    def start(self) -> None:
        for p in self.ports.values():
            if port_open(p):
                raise Failed(f"port {p} is already in use")
        self.state.mkdir(parents=True, exist_ok=True)
        certs = tlsbrokers.make_certs(self.state / "certs")
        try:
            if self.kind == "gregor":
                self.b = tlsbrokers.start_gregor(self.ports, certs, self.state, [])
            else:
                self.b = tlsbrokers.start_kafka(self.ports, certs, self.state, {})
                self._kafka_topic()
        except (AssertionError, RuntimeError) as e:
            raise Failed(f"secured {self.kind} did not start: {e}") from e

    def _kafka_topic(self) -> None:
        """The topic with 2 partitions, over Kafka's own PLAINTEXT listener (its port opens
        before its metadata is ready: the tool retries within its timeout, and so do we)."""
        libs = subprocess.run([str(ROOT / "compat-tests" / "kafka" / "reference-kafka.sh"), "libs"],
                              capture_output=True, text=True, check=True).stdout.strip()
        for _ in range(3):
            r = subprocess.run(["java", "-Xmx256m", "-cp", f"{libs}/*", "org.apache.kafka.tools.TopicCommand",
                                "--bootstrap-server", self.b.internal, "--create", "--if-not-exists",
                                "--topic", TOPIC, "--partitions", "2", "--replication-factor", "1"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                return
        raise Failed(f"kafka: creating {TOPIC} failed: {r.stdout[-1500:]}{r.stderr[-1500:]}")

    def client_env(self, user: str, password: str | None = None) -> dict:
        """The services' Kafka security settings (internal/kafkasec) for `user`."""
        return {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                "KAFKA_SASL_USERNAME": user,
                "KAFKA_SASL_PASSWORD": tlsbrokers.USERS[user] if password is None else password,
                "KAFKA_TLS_CA": str(self.b.certs.ca)}

    def stop(self) -> None:
        if self.b is not None:
            log_file = self.b.log
            self.b.stop()
            if log_file is not None and log_file.exists():
                shutil.copy(log_file, self.logdir / f"{self.kind}.log")
            server_log = self.state / "server.log"
            if server_log.exists():
                shutil.copy(server_log, self.logdir / "kafka-server.log")
