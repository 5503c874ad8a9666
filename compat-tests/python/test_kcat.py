"""kcat (librdkafka's command-line client): metadata listing, and a produce → consume round
trip with keys and headers under every codec, cross-checked with confluent-kafka."""

import json
import shutil
import subprocess

import pytest

from compat import CODECS, HOMEWORK_TOPIC, TIMEOUT, ck_consume, create_topic, unique_topic

pytestmark = pytest.mark.client("kcat")


def kcat(broker, *args, stdin=None):
    exe = shutil.which("kcat") or shutil.which("kafkacat")
    assert exe, "kcat is not installed (apt-get install -y kcat; compat-tests/run.sh does it)"
    proc = subprocess.run([exe, "-b", broker.address, *args], input=stdin, capture_output=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, (
        f"kcat {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode()


@pytest.mark.single_broker("checks a one-node cluster")
def test_kcat_metadata(broker):
    text = kcat(broker, "-L", "-t", HOMEWORK_TOPIC)
    assert f'topic "{HOMEWORK_TOPIC}" with 2 partitions:' in text, text
    assert " 1 brokers:" in text, text

    md = json.loads(kcat(broker, "-L", "-J"))
    assert [b["name"] for b in md["brokers"]] == [broker.address]
    node_id = md["brokers"][0]["id"]
    assert md["controllerid"] == node_id
    (t,) = [t for t in md["topics"] if t["topic"] == HOMEWORK_TOPIC]
    assert "error" not in t, t
    assert sorted(p["partition"] for p in t["partitions"]) == [0, 1]
    for p in t["partitions"]:
        assert p["leader"] == node_id, p
        assert [r["id"] for r in p["replicas"]] == [node_id]
        assert [r["id"] for r in p["isrs"]] == [node_id]


@pytest.mark.parametrize("codec", CODECS)
def test_kcat_produce_consume(broker, codec):
    topic = create_topic(broker, unique_topic(f"kcat-{codec}"), 2)
    lines = [(f"order-{i % 6}", f"value {i} ünïcødé {'z' * (i % 30)}") for i in range(40)]
    stdin = "".join(f"{k}:{v}\n" for k, v in lines).encode()
    kcat(broker, "-t", topic, "-P", "-K:", "-z", codec, "-X", "acks=all",
         "-H", "source=kcat", "-H", f"codec={codec}", stdin=stdin)

    out = kcat(broker, "-t", topic, "-C", "-e", "-o", "beginning", "-q",
               "-f", "%p|%o|%k|%s|%h\\n")
    rows = []
    for line in out.splitlines():
        p, o, k, s, h = line.split("|")
        rows.append((int(p), int(o), k, s, h))
    assert len(rows) == len(lines), out

    # One partition per key, contiguous offsets from 0, per-partition order = input order.
    part_of = {}
    for p, o, k, s, h in rows:
        assert part_of.setdefault(k, p) == p, f"key {k} on partitions {part_of[k]} and {p}"
        assert h == f"source=kcat,codec={codec}"
    for p in (0, 1):
        mine = sorted((o, k, s) for pp, o, k, s, _ in rows if pp == p)
        assert [o for o, _, _ in mine] == list(range(len(mine)))
        assert [(k, s) for _, k, s in mine] == [kv for kv in lines if part_of[kv[0]] == p]
    assert set(part_of.values()) == {0, 1}

    # The same records through confluent-kafka's consumer: bytes and headers identical.
    got = ck_consume(broker, topic, 2, len(lines))
    assert sorted(r[:5] for r in got) == sorted(
        (p, o, k.encode(), s.encode(), [("source", b"kcat"), ("codec", codec.encode())])
        for p, o, k, s, _ in rows)
