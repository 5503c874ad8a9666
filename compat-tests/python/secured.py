"""A secured broker of each kind, configured the same way, for the security scenarios
(test_security_*.py): a gregor and a reference Apache Kafka, each with three listeners

- SASL_PLAINTEXT and SASL_SSL: mechanisms PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512; users alice
  and bob (USERS) with SCRAM credentials (Kafka: `kafka-storage format --add-scram`; gregor:
  `--user`) and PLAIN passwords (Kafka: JAAS `user_NAME="..."`; gregor: `--user`);
- SSL: client certificates required, signed by the test CA (Kafka: ssl.client.auth=required
  on that listener; gregor: `--ssl-client-ca`);

and TLS certificates made by the test with openssl (a CA, the server's certificate for
127.0.0.1/localhost, a client certificate, and a client certificate from another CA that the
brokers do not trust). Kafka also has a PLAINTEXT listener for its own (inter-broker) use;
gregor has one on the same port offset (`internal`). The `secured` fixture enables delegation
tokens on both (`delegation.token.secret.key`).

Reuse: `make_fixture(name, port_offset, gregor_args=[...], kafka_props={...},
kafka_jvm_options=[...])` builds another session fixture with extra broker flags/properties
(e.g. an authorizer) and JVM options (-D system properties) on ports of its own;
the module's `secured` fixture is `make_fixture("secured", 20)`. A test asks for `broker`
(which broker kind, so the results land in the matrix) and the fixture:

    def test_x(broker, secured):
        conf = secured.ck("SASL_SSL", "SCRAM-SHA-512")      # confluent-kafka settings

Ports: gregor's COMPAT_GREGOR_PORT + offset (+0 SASL_PLAINTEXT, +1 SASL_SSL, +2 SSL), Kafka's
COMPAT_KAFKA_PORT + offset (the same three, +3 controller, +4 internal PLAINTEXT).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tlsbrokers import (  # noqa: F401 - re-exported for the scenarios
    CLIENT_PRINCIPAL, CLIENT_SUBJECT, COMPAT_DIR, LISTENERS, MECHANISMS, USERS, SecuredBroker,
    _port_open, listener_ports, make_certs, start_gregor, start_kafka)


def _ready(b: SecuredBroker):
    """Wait until alice can list topics over SASL_PLAINTEXT (Kafka opens its ports before its
    metadata is ready)."""
    from confluent_kafka.admin import AdminClient
    deadline = time.monotonic() + 120
    last = None
    while time.monotonic() < deadline:
        try:
            AdminClient(b.ck("SASL_PLAINTEXT")).list_topics(timeout=5)
            return
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
            time.sleep(0.5)
    raise RuntimeError(f"{b.name}: alice could not list topics within 120 s: {last}")


_running: dict = {}

# The names of make_fixture's fixtures: each starts a gregor or a Kafka of its own, a kind the
# cluster target has none of, so conftest deselects their tests there.
OWN_BROKER_FIXTURES: set[str] = set()


def _start(name, port_offset, broker, gregor_args, kafka_props, kafka_jvm_options=None):
    """Start the secured broker of `broker`'s kind: (SecuredBroker, stop function)."""
    state = Path(tempfile.mkdtemp(prefix=f"gregor-compat-{name}-{broker.name}."))
    certs = make_certs(state / "certs")
    if broker.name == "gregor":
        base = int(os.environ.get("COMPAT_GREGOR_PORT", "19092")) + port_offset
    else:
        base = int(os.environ.get("COMPAT_KAFKA_PORT", "24092")) + port_offset
    ports = listener_ports(base)
    for p in ports.values():
        assert not _port_open(p), f"port {p} for the {name} {broker.name} is in use"
    if broker.name == "gregor":
        b = start_gregor(ports, certs, state, list(gregor_args or []))
    else:
        b = start_kafka(ports, certs, state, dict(kafka_props or {}), list(kafka_jvm_options or []))

    def stop():
        b.stop()
        results = COMPAT_DIR / "results"
        results.mkdir(exist_ok=True)
        for f in (b.log, state / "server.log"):
            if f is not None and f.exists():
                shutil.copy(f, results / f"{name}-{broker.name}-{f.name}")
        shutil.rmtree(state, ignore_errors=True)

    try:
        _ready(b)
    except Exception:
        stop()
        raise
    return b, stop


def make_fixture(name: str, port_offset: int, gregor_args: list[str] | None = None,
                 kafka_props: dict | None = None, kafka_jvm_options: list[str] | None = None):
    """A session fixture `name` yielding the SecuredBroker of the test's `broker` kind, started
    once per session with the extra flags/properties, on ports at `port_offset`."""

    OWN_BROKER_FIXTURES.add(name)

    @pytest.fixture(scope="session", name=name)
    def fixture(broker):
        # Test modules that import the fixture each get a fixture definition of their own:
        # they share one running broker, stopped when the last of them is done with it.
        key = (name, broker.name)
        if key not in _running:
            _running[key] = [_start(name, port_offset, broker, gregor_args, kafka_props,
                                    kafka_jvm_options), 0]
        _running[key][1] += 1
        try:
            yield _running[key][0][0]
        finally:
            _running[key][1] -= 1
            if _running[key][1] == 0:
                _running.pop(key)[0][1]()

    return fixture


# Delegation tokens (test_delegation_tokens.py) on both: the same secret key.
TOKEN_SECRET = "compat-delegation-token-secret"
secured = make_fixture("secured", 20, gregor_args=["--delegation-token-secret-key", TOKEN_SECRET],
                       kafka_props={"delegation.token.secret.key": TOKEN_SECRET})
