"""`kafka-features` (org.apache.kafka.tools.FeatureCommand, Kafka 4.4's jars) changing the
finalized feature levels (UpdateFeatures) on each broker, and a real client seeing the change:

| scenario | what is asserted |
|---|---|
| kafka_features_group_version_down_and_back | `upgrade --release-version 3.3-IV3 --dry-run` → exit 1, Kafka's refusal of a metadata.version downgrade without a downgrade type; `downgrade --feature group.version=2` → exit 1, "Local controller 1 only supports versions 0-1"; `disable --feature foo.bar` → exit 1, "Feature foo.bar not found."; `downgrade --feature group.version=0 --dry-run` → "can be downgraded", nothing changed (`describe`: still 1); `downgrade --feature group.version=0` → "was downgraded to 0.", `describe`: finalized 0 at a greater epoch; a librdkafka consumer with `group.protocol=consumer` → fatal error (ConsumerGroupHeartbeat UNSUPPORTED_VERSION); `upgrade --feature group.version=1` → "was upgraded to 1.", `describe`: 1; a new consumer-protocol consumer gets its assignment and the record produced. Every message line is compared in full |

group.version is restored in a `finally` (the brokers are shared with the other scenarios).
Cost per broker: 8 JVM starts of the tool (~1 s each) and two consumers: 20 s on gregor and 28 s
on Kafka measured on a loaded two-core machine (three builds beside it).
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError

from compat import TIMEOUT, ck_conf, ck_produce, create_topic, unique_topic, wait_for
from test_kafka_tools import TOOLS, tool

FEATURES = TOOLS + "FeatureCommand"
ALL_FAILED = "The update failed for all features since the following feature had an error: "


def describe(broker) -> dict[str, dict[str, str]]:
    out = tool(broker, FEATURES, "describe")
    features = {}
    for line in out.splitlines():
        fields = dict(re.findall(r"(\w+): (\S+)", line))
        features[fields.pop("Feature")] = fields
    return features


def features(broker, *args: str, status: int = 0) -> list[str]:
    """FeatureCommand's output lines (stdout, then stderr when it failed), blank ones dropped."""
    out = tool(broker, FEATURES, *args, status=status)
    return [line for line in out.splitlines() if line.strip()]


def consumer(broker, topic: str) -> Consumer:
    c = Consumer(ck_conf(broker, **{
        "group.id": f"features-{uuid.uuid4().hex[:8]}",
        "group.protocol": "consumer",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }))
    c.subscribe([topic])
    return c


@pytest.mark.client("kafka-tools")
@pytest.mark.single_broker("Kafka's messages name the controller that checked (\"Local controller 1\"): "
                           "in a cluster, whichever broker the tool reached")
def test_kafka_features_group_version_down_and_back(broker):
    topic = unique_topic("features")
    create_topic(broker, topic, 1)
    ck_produce(broker, topic, [(b"k", b"after-restore", [], 0, None)])
    before = describe(broker)["group.version"]
    assert before["FinalizedVersionLevel"] == "1", before

    assert features(broker, "upgrade", "--release-version", "3.3-IV3", "--dry-run",
                    status=1) == [
        "Can not upgrade metadata.version to 7. " + ALL_FAILED + "Invalid update version 7 for "
        "feature metadata.version. Can't downgrade the version of this feature without setting "
        "the upgrade type to either safe or unsafe downgrade.",
        "1 out of 1 operation(s) failed."]
    assert features(broker, "downgrade", "--feature", "group.version=2", status=1) == [
        "Could not downgrade group.version to 2. " + ALL_FAILED + "Invalid update version 2 for "
        "feature group.version. Local controller 1 only supports versions 0-1",
        "1 out of 1 operation(s) failed."]
    assert features(broker, "disable", "--feature", "foo.bar", status=1) == [
        "Could not disable foo.bar. " + ALL_FAILED + "Invalid update version 0 for feature "
        "foo.bar. Feature foo.bar not found.",
        "1 out of 1 operation(s) failed."]
    assert features(broker, "downgrade", "--feature", "group.version=0", "--dry-run") == [
        "group.version can be downgraded to 0."]
    # (Kafka's epoch, its metadata log's offset, grows by itself: compared after a change only.)
    still = describe(broker)["group.version"]
    assert still["FinalizedVersionLevel"] == "1", ("a dry run changes nothing", still)

    restored = False
    try:
        assert features(broker, "downgrade", "--feature", "group.version=0") == [
            "group.version was downgraded to 0."]
        off = describe(broker)["group.version"]
        assert off["FinalizedVersionLevel"] == "0", off
        assert int(off["Epoch"]) > int(before["Epoch"]), (before, off)

        # A KIP-848 consumer is refused: ConsumerGroupHeartbeat answers UNSUPPORTED_VERSION,
        # which librdkafka makes a fatal error.
        c = consumer(broker, topic)
        try:
            def refused():
                m = c.poll(0.2)
                if m is not None and m.error() is not None:
                    return m.error()
                return None
            err = wait_for(refused, "the consumer protocol's refusal")
            assert err.code() == KafkaError._FATAL, err
            assert "ConsumerGroupHeartbeat" in err.str() and \
                "API version not supported" in err.str(), err
        finally:
            c.close()

        assert features(broker, "upgrade", "--feature", "group.version=1") == [
            "group.version was upgraded to 1."]
        restored = True
        assert describe(broker)["group.version"]["FinalizedVersionLevel"] == "1"
    finally:
        if not restored:
            tool(broker, FEATURES, "upgrade", "--feature", "group.version=1", status=0)

    c = consumer(broker, topic)
    try:
        got = []
        deadline = time.monotonic() + TIMEOUT
        while not got and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None:
                assert m.error() is None, m.error()
                got.append(m.value())
        assert got == [b"after-restore"]
    finally:
        c.close()
