"""ACLs (issue 16) against brokers of the module's own, started with an authorizer: gregor with
`--authorizer acl ...`, the reference Kafka with StandardAuthorizer and the same settings. The
suite's default brokers stay as they are (no authorizer).

Until SASL exists every client is User:ANONYMOUS (Kafka's PLAINTEXT principal), so the pairs are:

- `anonymous`: allow.everyone.if.no.acl.found (gregor: --allow-everyone-if-no-acl-found), no
  super user — a resource without ACLs is open, one with ACLs only to whom they allow. (Kafka's
  own broker-to-controller requests are ANONYMOUS too: without the default allowing, it could
  not start.)
- `superuser`: super.users=User:ANONYMOUS (gregor: --super-user ANONYMOUS), no default allow.

| scenario | what is asserted |
|---|---|
| java_acls[anonymous] | compat-tests/java `acls:anonymous`: createAcls (an invalid CLUSTER name refused), describeAcls (literal, MATCH); DENY WRITE → produce TopicAuthorization, the topic left out of listTopics and refused by describeTopics; DENY READ beats ALLOW ALL; PREFIXED ALLOW and a longer PREFIXED DENY; a group / transactional id whose ACLs name only User:bob refuse ANONYMOUS (GroupAuthorization, TransactionalIdAuthorization); cluster ACLs without CREATE/DELETE → createTopics refused unless a topic CREATE ACL allows it, deleteTopics refused; deleteAcls |
| java_acls[superuser] | compat-tests/java `acls:superuser`: a super user produces to a topic whose ACLs DENY it ALL |
| kafka_acls_cli | Kafka's kafka-acls (AclCommand): --add --producer/--consumer for User:bob → librdkafka (ANONYMOUS) refused produce and consume; --add for User:ANONYMOUS → allowed; --list prints the bindings; --remove --force |
| kafka_acls_cli_without_authorizer | kafka-acls --list against the suite's broker without an authorizer → SecurityDisabledException |
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import Future
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

import kafkatools
from cli_scenarios import COMPAT_DIR
from compat import TIMEOUT, Broker, ck_conf, create_topic, free_port, port_open, wait_for
from test_java import java_compat, run  # noqa: F401 - the session fixture of the Java CLI

KAFKA_AUTHORIZER = "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
MODES = {
    "anonymous": (["--allow-everyone-if-no-acl-found"],
                  [KAFKA_AUTHORIZER, "allow.everyone.if.no.acl.found=true"]),
    "superuser": (["--super-user", "ANONYMOUS"],
                  [KAFKA_AUTHORIZER, "super.users=User:ANONYMOUS"]),
}


class AclGregor:
    def __init__(self, workdir: Path, args: list[str]):
        cache = os.environ.get("COMPAT_CACHE_DIR") or str(Path.home() / ".cache/gregor")
        target = os.environ.get("CARGO_TARGET_DIR") or f"{cache}/target"
        binary = os.environ.get("COMPAT_GREGOR_BIN") or f"{target}/debug/gregor"
        if not os.access(binary, os.X_OK):
            pytest.skip(f"no gregor binary at {binary} (set COMPAT_GREGOR_BIN)")
        self.port = free_port()
        self.log = workdir / "gregor.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GREGOR_")}
        env["NO_COLOR"] = "1"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [binary, "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(workdir / "data"),
                 "--storage", "disk", "--group-initial-rebalance-delay-ms", "0",
                 "--authorizer", "acl", *args],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is not None or port_open(self.port),
                 f"gregor listening on {self.port}", interval=0.02)
        assert self.proc.poll() is None, f"gregor exited: {self.log.read_text()[-3000:]}"

    @property
    def broker(self) -> Broker:
        return Broker("gregor-acl", f"127.0.0.1:{self.port}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class AclKafka:
    script = COMPAT_DIR / "kafka" / "reference-kafka.sh"

    def __init__(self, workdir: Path, config: list[str]):
        self.port = free_port()
        self.env = dict(os.environ, COMPAT_KAFKA_PORT=str(self.port),
                        COMPAT_KAFKA_CONTROLLER_PORT=str(free_port()),
                        COMPAT_KAFKA_STATE=str(workdir / "kafka"), COMPAT_KAFKA_HEAP="384m",
                        COMPAT_KAFKA_EXTRA_CONFIG="\n".join(config))
        self._run("start", "loms.order-events:2")

    @property
    def broker(self) -> Broker:
        return Broker("kafka-acl", f"127.0.0.1:{self.port}")

    def _run(self, *args):
        res = subprocess.run([str(self.script), *args], env=self.env, capture_output=True,
                             text=True, timeout=180)
        assert res.returncode == 0, f"reference-kafka.sh {' '.join(args)}: {res.stderr[-3000:]}"

    def stop(self):
        self._run("stop")


class AclBrokers:
    """{(kind, mode): AclGregor | AclKafka}, each started once (Kafkas in the background)."""

    def __init__(self):
        self.workdir = Path(tempfile.mkdtemp(prefix="gregor-compat-acls-"))
        self._lock = threading.Lock()
        self._started: dict[tuple[str, str], Future] = {}

    def get(self, kind: str, mode: str, background: bool = False):
        if kind not in ("gregor", "kafka"):
            pytest.skip(f"no way to start a broker of kind {kind!r} with an authorizer")
        with self._lock:
            fut = self._started.get((kind, mode))
            if fut is None:
                fut = self._started[(kind, mode)] = Future()
                threading.Thread(target=self._start, args=(fut, kind, mode), daemon=True).start()
        return None if background else fut.result(timeout=180)

    def _start(self, fut: Future, kind: str, mode: str):
        try:
            d = self.workdir / f"{kind}-{mode}"
            d.mkdir()
            gregor_args, kafka_config = MODES[mode]
            fut.set_result(AclGregor(d, gregor_args) if kind == "gregor" else AclKafka(d, kafka_config))
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
def acl_brokers(request):
    brokers = AclBrokers()
    # The reference Kafkas take seconds to start: boot the ones this run needs at once.
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if item.module.__name__ == __name__ and callspec:
            kind = callspec.params["broker"].name
            if kind in ("gregor", "kafka"):
                brokers.get(kind, callspec.params.get("mode", "anonymous"), background=True)
    try:
        yield brokers
    finally:
        brokers.stop_all()


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("client", ["java"])
@pytest.mark.single_broker("starts brokers of their own with an authorizer")
def test_java_acls(java_compat, broker, client, mode, acl_brokers):  # noqa: F811
    run(java_compat, f"acls:{mode}", acl_brokers.get(broker.name, mode).broker)


# ------------------------------------------------------------------ kafka-acls (AclCommand)

def kafka_acls(broker: Broker, *args: str) -> subprocess.CompletedProcess:
    """kafka-acls.sh: `java -cp libs/* org.apache.kafka.tools.AclCommand`."""
    return kafkatools.run("org.apache.kafka.tools.AclCommand", "--bootstrap-server",
                          broker.address, *args, timeout=120)


def ok(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 0, f"kafka-acls exited {res.returncode}\n{res.stdout}\n{res.stderr[-3000:]}"
    return res.stdout


def produce_error(conf: dict, topic: str) -> KafkaError | None:
    """One record with librdkafka and settings `conf` (ck_conf: User:ANONYMOUS); its delivery
    error, or None."""
    errors = []
    p = Producer({**conf, "acks": "all", "message.timeout.ms": int(TIMEOUT * 1000)})
    p.produce(topic, value=b"v", on_delivery=lambda err, _msg: errors.append(err))
    assert p.flush(TIMEOUT + 5) == 0, "the record was not reported within the timeout"
    return errors[0]


def consume_error(conf: dict, topic: str, group: str) -> KafkaError | None:
    """Subscribe with `group` until a record arrives (None) or the client reports an error."""
    c = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None:
                continue
            return msg.error()
        raise AssertionError(f"nothing consumed from {topic} and no error within {TIMEOUT}s")
    finally:
        c.close()


@pytest.mark.client("kafka-acls")
@pytest.mark.single_broker("starts brokers of their own with an authorizer")
def test_kafka_acls_cli(broker, acl_brokers):
    target = acl_brokers.get(broker.name, "anonymous").broker
    topic = create_topic(target, f"compat.cli-acl.{uuid.uuid4().hex[:12]}", 1)
    group = f"compat.cli-acl-g.{uuid.uuid4().hex[:12]}"
    # ACLs for User:bob only: ANONYMOUS may no longer produce nor consume.
    ok(kafka_acls(target, "--add", "--allow-principal", "User:bob", "--producer", "--consumer",
                  "--topic", topic, "--group", group))
    listed = ok(kafka_acls(target, "--list", "--topic", topic))
    for op in ("WRITE", "READ", "DESCRIBE", "CREATE"):
        assert f"(principal=User:bob, host=*, operation={op}, permissionType=ALLOW)" in listed, listed
    err = produce_error(ck_conf(target), topic)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err

    ok(kafka_acls(target, "--add", "--allow-principal", "User:ANONYMOUS", "--producer",
                  "--topic", topic))
    assert produce_error(ck_conf(target), topic) is None
    err = consume_error(ck_conf(target), topic, group)
    assert err is not None and err.code() in (KafkaError.TOPIC_AUTHORIZATION_FAILED,
                                              KafkaError.GROUP_AUTHORIZATION_FAILED), err
    ok(kafka_acls(target, "--add", "--allow-principal", "User:ANONYMOUS", "--consumer",
                  "--topic", topic, "--group", group))
    assert consume_error(ck_conf(target), topic, group) is None

    # A prefixed DENY beats the literal ALLOWs.
    ok(kafka_acls(target, "--add", "--deny-principal", "User:ANONYMOUS", "--operation", "Write",
                  "--topic", topic[:-4], "--resource-pattern-type", "prefixed"))
    prefixed = ok(kafka_acls(target, "--list", "--topic", topic[:-4],
                             "--resource-pattern-type", "prefixed"))
    assert "operation=WRITE, permissionType=DENY" in prefixed, prefixed
    err = produce_error(ck_conf(target), topic)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err

    ok(kafka_acls(target, "--remove", "--force", "--topic", topic))
    ok(kafka_acls(target, "--remove", "--force", "--topic", topic[:-4],
                  "--resource-pattern-type", "prefixed"))
    ok(kafka_acls(target, "--remove", "--force", "--group", group))
    assert "principal=" not in ok(kafka_acls(target, "--list", "--topic", topic))
    assert produce_error(ck_conf(target), topic) is None, "no ACLs left on the topic: open again"


@pytest.mark.client("kafka-acls")
def test_kafka_acls_cli_without_authorizer(broker):
    res = kafka_acls(broker, "--list")
    assert "SecurityDisabledException" in res.stdout + res.stderr, res.stdout + res.stderr[-3000:]
