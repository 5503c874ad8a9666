"""Kafka's own `kafka-configs` tool (org.apache.kafka.tools.ConfigCommand from the reference
Kafka's jars, as bin/kafka-configs.sh runs it) managing client quotas (issue 16) and dynamic
broker configs (issue 18).

| scenario | what is asserted |
|---|---|
| kafka_configs_broker_loggers | `--entity-type broker-loggers`: `--describe` lists `root` and the loggers with their levels; `--add-config LOGGER=DEBUG` changes one (a Kafka class on Kafka, `gregor.api` on gregor), an unsupported level is refused with Kafka's message, `--delete-config` gives it root's level again, and root cannot be unset |
| kafka_configs_brokers | `--alter --entity-default` and `--entity-name ID` of dynamic broker configs: `--describe` lists each with Kafka's synonym chain (DYNAMIC_DEFAULT_BROKER_CONFIG, DYNAMIC_BROKER_CONFIG, DEFAULT_CONFIG), a new topic's `--describe --all` takes them as its defaults, a static config (`num.partitions`) is refused with Kafka's message, `--delete-config` removes them |
| kafka_configs_quotas | `--alter --add-config producer_byte_rate=...,consumer_byte_rate=...` for a client id, for a user's default client id and for the default user; `--describe` of each shows exactly those values (Kafka's output lines); `--describe --entity-type clients` lists the client; `--alter --delete-config` removes one key, then the rest; `--describe` then shows none |
"""

from __future__ import annotations

import uuid

import pytest

import kafkatools
from compat import create_topic, wait_for

pytestmark = pytest.mark.client("kafka-configs")


@pytest.fixture(scope="session")
def configs_tool():
    """Kafka's ConfigCommand (kafka-configs.sh) from the reference Kafka's jars."""
    kafkatools.libs()
    return "org.apache.kafka.tools.ConfigCommand"


def configs(tool, broker, *args: str) -> str:
    res = kafkatools.run(tool, "--bootstrap-server", broker.address, *args)
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


def config_lines(text: str) -> set[str]:
    """The `  NAME=VALUE sensitive=... synonyms={...}` lines of a describe."""
    return {line.strip() for line in text.splitlines() if line.startswith("  ")}


@pytest.mark.single_broker("per-broker configs are checked on the one broker there is")
def test_kafka_configs_brokers(configs_tool, broker):
    # Configs whose change no other scenario can notice: the broker defaults of a topic's
    # timestamp bound and zstd level (only topics that recompress with zstd read it).
    before = ("log.message.timestamp.before.max.ms", "9223372036854775806")
    zstd = ("compression.zstd.level", "4")
    brokers = configs(configs_tool, broker, "--describe", "--entity-type", "brokers")
    node = next(line.split()[4] for line in brokers.splitlines()
                if line.startswith("Dynamic configs for broker "))
    default = ["--entity-type", "brokers", "--entity-default"]
    this_node = ["--entity-type", "brokers", "--entity-name", node]
    configs(configs_tool, broker, "--alter", *default, "--add-config", "=".join(before))
    configs(configs_tool, broker, "--alter", *this_node, "--add-config", "=".join(zstd))
    try:
        want_default = (f"{before[0]}={before[1]} sensitive=false "
                        f"synonyms={{DYNAMIC_DEFAULT_BROKER_CONFIG:{before[0]}={before[1]}}}")
        want_node = (f"{zstd[0]}={zstd[1]} sensitive=false synonyms={{DYNAMIC_BROKER_CONFIG:"
                     f"{zstd[0]}={zstd[1]}, DEFAULT_CONFIG:{zstd[0]}=3}}")
        # Kafka applies them through its metadata log: wait until the describe shows them.
        wait_for(lambda: want_default in config_lines(configs(configs_tool, broker, "--describe",
                                                              *default)),
                 "the cluster default described")
        wait_for(lambda: config_lines(configs(configs_tool, broker, "--describe", *this_node))
                 == {want_node}, "the broker's own config described")

        topic = f"compat-broker-configs-{uuid.uuid4().hex[:8]}"
        create_topic(broker, topic, 1)
        described = config_lines(configs(configs_tool, broker, "--describe", "--entity-type",
                                         "topics", "--entity-name", topic, "--all"))
        assert (f"compression.zstd.level=4 sensitive=false synonyms={{DYNAMIC_BROKER_CONFIG:"
                f"compression.zstd.level=4, DEFAULT_CONFIG:compression.zstd.level=3}}") in described
        assert any(line.startswith(f"message.timestamp.before.max.ms={before[1]} ")
                   and f"DYNAMIC_DEFAULT_BROKER_CONFIG:{before[0]}={before[1]}" in line
                   for line in described), described

        assert ("InvalidRequestException: Cannot update these configs dynamically: "
                "[num.partitions]") in failure(configs_tool, broker, "--alter", *default,
                                               "--add-config", "num.partitions=3")
    finally:
        configs(configs_tool, broker, "--alter", *default, "--delete-config", before[0])
        configs(configs_tool, broker, "--alter", *this_node, "--delete-config", zstd[0])
    wait_for(lambda: config_lines(configs(configs_tool, broker, "--describe", *this_node)) == set(),
             "the broker's own config removed")
    assert want_default not in config_lines(configs(configs_tool, broker, "--describe", *default))


def failure(tool, broker, *args: str) -> str:
    """The output of a ConfigCommand run that must fail."""
    res = kafkatools.run(tool, "--bootstrap-server", broker.address, *args)
    assert res.returncode != 0, f"{' '.join(args)} succeeded:\n{res.stdout}"
    return res.stdout + res.stderr


@pytest.mark.single_broker("a broker logger is one broker's")
def test_kafka_configs_broker_loggers(configs_tool, broker):
    logger = "kafka.server.KafkaApis" if broker.name == "kafka" else "gregor.api"
    brokers = configs(configs_tool, broker, "--describe", "--entity-type", "brokers")
    node = next(line.split()[4] for line in brokers.splitlines()
                if line.startswith("Dynamic configs for broker "))
    entity = ["--entity-type", "broker-loggers", "--entity-name", node]

    def levels() -> dict[str, str]:
        return {line.split("=")[0]: line.split("=")[1].split()[0]
                for line in config_lines(configs(configs_tool, broker, "--describe", *entity))}

    before = levels()
    assert "root" in before and logger in before, before
    configs(configs_tool, broker, "--alter", *entity, "--add-config", f"{logger}=DEBUG")
    try:
        assert levels()[logger] == "DEBUG"
        out = failure(configs_tool, broker, "--alter", *entity, "--add-config", f"{logger}=LOUD")
        assert (f"InvalidConfigurationException: Cannot set the log level of {logger} to LOUD as "
                "it is not a supported log level. Valid log levels are DEBUG, ERROR, FATAL, INFO, "
                "TRACE, WARN") in out, out
        out = failure(configs_tool, broker, "--alter", *entity, "--delete-config", "root")
        assert ("InvalidRequestException: Removing the log level of the root logger is not "
                "allowed") in out, out
    finally:
        configs(configs_tool, broker, "--alter", *entity, "--delete-config", logger)
    after = levels()
    assert after[logger] == after["root"], after
