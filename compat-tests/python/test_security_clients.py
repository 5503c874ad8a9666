"""The other clients' own produce/consume scenarios, unchanged, over the secured brokers'
listeners (secured.py): SASL_SSL with SCRAM-SHA-512 and with PLAIN as alice, and SSL with the
client certificate. The Java client (compat-tests/java, `produce_consume:none`), sarama,
kafka-go and franz-go (compat-tests/go `produce_consume`) and kafkajs (compat-tests/node
`produce_consume`) take the settings from COMPAT_CLIENT_PROPERTIES (a Java properties file) or
COMPAT_CLIENT_SECURITY (JSON: protocol, mechanism, username, password, ca, cert, key).
"""

from __future__ import annotations

import json

import pytest

from cli_scenarios import run_scenario
from secured import USERS, secured  # noqa: F401 - the fixture
from test_go import compat_go, run_go  # noqa: F401 - the fixture
from test_java import JAVA_DIR, java_compat  # noqa: F401 - the fixture
from test_node import NODE_DIR, node_compat  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(900)

CASES = [("SASL_SSL", "SCRAM-SHA-512"), ("SASL_SSL", "PLAIN"), ("SSL", None)]
IDS = ["SASL_SSL-SCRAM-SHA-512", "SASL_SSL-PLAIN", "SSL-client-cert"]


def security_json(secured, listener, mechanism) -> str:
    c = {"protocol": listener, "ca": str(secured.certs.ca)}
    if mechanism:
        c.update(mechanism=mechanism, username="alice", password=USERS["alice"])
    if listener == "SSL":
        c.update(cert=str(secured.certs.client_cert), key=str(secured.certs.client_key))
    return json.dumps(c)


@pytest.mark.parametrize("client", ["java"])
@pytest.mark.parametrize("listener,mechanism", CASES, ids=IDS)
def test_secured_produce_consume_java(broker, secured, java_compat, client, listener, mechanism,
                                      tmp_path, monkeypatch):
    props = tmp_path / "client.properties"
    props.write_text(secured.java_properties(listener, mechanism or "SCRAM-SHA-512"))
    monkeypatch.setenv("COMPAT_CLIENT_PROPERTIES", str(props))
    run_scenario(java_compat, "java", "produce_consume:none", secured.broker(listener), JAVA_DIR)


@pytest.mark.parametrize("client", ["sarama", "kafka-go", "franz-go"])
@pytest.mark.parametrize("listener,mechanism", CASES, ids=IDS)
def test_secured_produce_consume_go(broker, secured, compat_go, client, listener, mechanism,
                                    monkeypatch):
    monkeypatch.setenv("COMPAT_CLIENT_SECURITY", security_json(secured, listener, mechanism))
    run_go(compat_go, client, "produce_consume", secured.broker(listener))


@pytest.mark.parametrize("client", ["kafkajs"])
@pytest.mark.parametrize("listener,mechanism", CASES, ids=IDS)
def test_secured_produce_consume_kafkajs(broker, secured, node_compat, client, listener, mechanism,
                                         monkeypatch):
    monkeypatch.setenv("COMPAT_CLIENT_SECURITY", security_json(secured, listener, mechanism))
    run_scenario(node_compat, "kafkajs", "produce_consume", secured.broker(listener), NODE_DIR)
