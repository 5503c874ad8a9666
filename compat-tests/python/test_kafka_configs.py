"""Kafka's own `kafka-configs` tool (org.apache.kafka.tools.ConfigCommand from the reference
Kafka's jars, as bin/kafka-configs.sh runs it) managing client quotas (issue 16).

| scenario | what is asserted |
|---|---|
| kafka_configs_quotas | `--alter --add-config producer_byte_rate=...,consumer_byte_rate=...` for a client id, for a user's default client id and for the default user; `--describe` of each shows exactly those values (Kafka's output lines); `--describe --entity-type clients` lists the client; `--alter --delete-config` removes one key, then the rest; `--describe` then shows none |
"""

from __future__ import annotations

import subprocess
import uuid

import pytest

from cli_scenarios import reference_kafka_java
from compat import TIMEOUT, wait_for

pytestmark = pytest.mark.client("kafka-configs")


@pytest.fixture(scope="session")
def configs_tool():
    """The command prefix running Kafka's ConfigCommand from the reference Kafka's jars."""
    return reference_kafka_java() + ["org.apache.kafka.tools.ConfigCommand"]


def configs(tool, broker, *args: str) -> str:
    cmd = [*tool, "--bootstrap-server", broker.address, *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=max(60.0, 2 * TIMEOUT),
                         stdin=subprocess.DEVNULL)
    assert res.returncode == 0, f"{' '.join(args)} exited {res.returncode}:\n{res.stdout}\n{res.stderr[-3000:]}"
    return res.stdout


def quotas_of(text: str) -> dict[str, dict[str, float]]:
    """`Quota configs for ENTITY are k=v, k=v` lines as {ENTITY: {k: v}} (the tool prints the
    keys in its map's order)."""
    out = {}
    for line in text.splitlines():
        if not line.startswith("Quota configs for ") or " are " not in line:
            continue
        entity, _, values = line[len("Quota configs for "):].rpartition(" are ")
        out[entity] = {k: float(v) for k, _, v in (kv.partition("=") for kv in values.split(", "))}
    return out


def test_kafka_configs_quotas(configs_tool, broker):
    client = f"compat-configs-{uuid.uuid4().hex[:10]}"
    user = f"compat-configs-user-{uuid.uuid4().hex[:10]}"
    client_entity = ["--entity-type", "clients", "--entity-name", client]
    user_default = ["--entity-type", "users", "--entity-name", user, "--entity-type", "clients",
                    "--entity-default"]
    configs(configs_tool, broker, "--alter", *client_entity,
            "--add-config", "producer_byte_rate=1048576,consumer_byte_rate=2097152")
    configs(configs_tool, broker, "--alter", *user_default, "--add-config", "request_percentage=25")

    def described(*entity: str) -> dict[str, dict[str, float]]:
        return quotas_of(configs(configs_tool, broker, "--describe", *entity))

    want_client = {f"client-id '{client}'": {"producer_byte_rate": 1048576.0,
                                            "consumer_byte_rate": 2097152.0}}
    # Kafka applies quotas through its metadata log: wait until the describe shows them.
    wait_for(lambda: described(*client_entity) == want_client,
             f"kafka-configs --describe of client {client}")
    assert described(*user_default) == {
        f"user-principal '{user}', the default client-id": {"request_percentage": 25.0}}
    # Every client-id entity: ours among them.
    every_client = described("--entity-type", "clients")
    assert every_client.get(f"client-id '{client}'") == want_client[f"client-id '{client}'"]

    configs(configs_tool, broker, "--alter", *client_entity, "--delete-config", "producer_byte_rate")
    wait_for(lambda: described(*client_entity) == {
        f"client-id '{client}'": {"consumer_byte_rate": 2097152.0}}, "one key removed")
    configs(configs_tool, broker, "--alter", *client_entity, "--delete-config", "consumer_byte_rate")
    configs(configs_tool, broker, "--alter", *user_default, "--delete-config", "request_percentage")
    wait_for(lambda: described(*client_entity) == {}, "every key removed")
    assert described(*user_default) == {}
