"""gregor's admin CLI (the gregor binary: `gregor users ...`, `gregor topics ...`) against the
secured broker of each kind (secured.py): the CLI speaks TLS and SASL as Kafka clients do and
manages SCRAM users over AlterUserScramCredentials / DescribeUserScramCredentials, so it works
against gregor and Apache Kafka alike.

| scenario | what is asserted |
|---|---|
| cli_users | as alice over SASL_SSL (SCRAM-SHA-512, flags): `users add U --password P` → confluent-kafka authenticates as U with SCRAM-SHA-512 and produces; `users list` shows U with SCRAM-SHA-256 and SCRAM-SHA-512 at 4096 iterations; `users delete U` → U's authentication fails; a wrong admin password → exit 1, one line naming SASL_AUTHENTICATION_FAILED |
| cli_tls | `topics list` sees a new topic over SASL_SSL (flags, and Kafka's Java client properties via --command-config) and over SSL with a client certificate (flags, and properties with a PEM key store); SSL without a client certificate and a wrong CA → exit 1, one line |
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from compat import TIMEOUT, wait_for
from secured import USERS, secured  # noqa: F401 - the fixture

pytestmark = [pytest.mark.timeout(300), pytest.mark.client("gregor-cli")]


def gregor_bin() -> str:
    cache = os.environ.get("COMPAT_CACHE_DIR") or str(Path.home() / ".cache/gregor")
    target = os.environ.get("CARGO_TARGET_DIR") or f"{cache}/target"
    binary = os.environ.get("COMPAT_GREGOR_BIN") or f"{target}/debug/gregor"
    assert os.access(binary, os.X_OK), f"gregor binary {binary} (COMPAT_GREGOR_BIN) is missing"
    return binary


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREGOR_")}
    return subprocess.run([gregor_bin(), *args], capture_output=True, text=True, env=env,
                          timeout=TIMEOUT + 30, stdin=subprocess.DEVNULL)


def sasl_ssl_flags(secured, user="alice", password=None, mechanism="SCRAM-SHA-512") -> list[str]:
    return ["--bootstrap-server", secured.address("SASL_SSL"), "--security-protocol", "SASL_SSL",
            "--sasl-mechanism", mechanism, "--sasl-username", user,
            "--sasl-password", USERS.get(user, "") if password is None else password,
            "--ssl-ca", str(secured.certs.ca)]


def ssl_flags(secured, client_cert=True) -> list[str]:
    flags = ["--bootstrap-server", secured.address("SSL"), "--security-protocol", "SSL",
             "--ssl-ca", str(secured.certs.ca)]
    if client_cert:
        flags += ["--ssl-cert", str(secured.certs.client_cert),
                  "--ssl-key", str(secured.certs.client_key)]
    return flags


def ok(p: subprocess.CompletedProcess) -> str:
    assert p.returncode == 0, f"exit {p.returncode}: {p.stderr}{p.stdout}"
    return p.stdout


def one_line_failure(p: subprocess.CompletedProcess, want: str):
    assert p.returncode == 1, f"exit {p.returncode}: {p.stderr}{p.stdout}"
    assert want in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def can_produce(secured, user: str, password: str, topic: str) -> bool:
    conf = secured.ck("SASL_SSL", "SCRAM-SHA-512", user=user, password=password)
    errors = []

    def delivered(err, _msg):
        if err is not None:
            errors.append(err)

    producer = Producer({**conf, "message.timeout.ms": 8000, "socket.timeout.ms": 5000,
                         "error_cb": errors.append})
    producer.produce(topic, key=b"k", value=b"from the CLI's user", on_delivery=delivered)
    left = producer.flush(10)
    return left == 0 and not errors


def create_topic(secured, label: str) -> str:
    topic = f"compat.cli-{label}.{uuid.uuid4().hex[:10]}"
    admin = AdminClient(secured.ck("SASL_SSL"))
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)],
                        operation_timeout=TIMEOUT)[topic].result(timeout=TIMEOUT)
    wait_for(lambda: topic in admin.list_topics(timeout=TIMEOUT).topics, f"{topic} in metadata")
    return topic


def test_cli_users(broker, secured):
    user, password = "erin" + uuid.uuid4().hex[:6], "erin-secret"
    topic = create_topic(secured, "users")
    admin = sasl_ssl_flags(secured)

    out = ok(cli("users", "add", user, "--password", password, *admin))
    assert out == (f"Set SCRAM-SHA-256 credential of user {user} (4096 iterations).\n"
                   f"Set SCRAM-SHA-512 credential of user {user} (4096 iterations).\n"), out
    # Kafka applies the credential through its metadata log: it may take a moment.
    assert wait_for(lambda: can_produce(secured, user, password, topic), f"{user} producing")

    want = f"{user}\tSCRAM-SHA-256=iterations=4096,SCRAM-SHA-512=iterations=4096"
    assert wait_for(lambda: want in ok(cli("users", "list", *admin)).splitlines(), "users list")
    listed = ok(cli("users", "list", *admin)).splitlines()
    assert any(line.startswith("alice\t") for line in listed), listed
    assert ok(cli("users", "list", user, *admin)) == want + "\n"

    out = ok(cli("users", "delete", user, *admin))
    assert out == (f"Deleted SCRAM-SHA-256 credential of user {user}.\n"
                   f"Deleted SCRAM-SHA-512 credential of user {user}.\n"), out
    assert wait_for(lambda: not can_produce(secured, user, password, topic), f"{user} locked out")

    one_line_failure(cli("topics", "list", *sasl_ssl_flags(secured, password="wrong")),
                     "authentication failed: SASL_AUTHENTICATION_FAILED")


def test_cli_tls(broker, secured, tmp_path):
    topic = create_topic(secured, "tls")
    assert topic in ok(cli("topics", "list", *sasl_ssl_flags(secured))).splitlines()
    assert topic in ok(cli("topics", "list", *ssl_flags(secured))).splitlines()

    # Kafka's Java client properties, as kafka-topics --command-config takes them.
    for listener in ("SASL_SSL", "SSL"):
        props = tmp_path / f"{listener}.properties"
        props.write_text(secured.java_properties(listener, "SCRAM-SHA-512"))
        out = ok(cli("topics", "list", "--bootstrap-server", secured.address(listener),
                     "--command-config", str(props)))
        assert topic in out.splitlines(), out

    # Java answers a missing client certificate with an alert or by closing the connection.
    no_cert = cli("topics", "list", *ssl_flags(secured, client_cert=False))
    one_line_failure(no_cert, "gregor: ")
    assert "client certificate" in no_cert.stderr, no_cert.stderr
    wrong_ca = sasl_ssl_flags(secured)
    wrong_ca[wrong_ca.index("--ssl-ca") + 1] = str(secured.certs.dir / "other-ca.pem")
    one_line_failure(cli("topics", "list", *wrong_ca), "TLS handshake failed")
