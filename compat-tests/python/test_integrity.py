"""Data damaged on disk, with a real consumer (librdkafka through confluent-kafka, whose
check.crcs is off by default, so it would hand a damaged record to the application as is).

A gregor of the test's own (its own data dir) is written to, stopped, a byte of a record in a
sealed segment is flipped, and it is restarted with a fast background scrub. Once the scrub
has found the damage (gregor_log_corrupt_batches_total), a consumer from offset 0 must get the
records before the damaged batch, intact and in order, and then an error (CORRUPT_MESSAGE),
never the damaged bytes. Kafka has no scrub (and serves such a batch as is), so this is a
gregor_only scenario."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition

from compat import TIMEOUT, Broker, ck_conf, ck_produce, create_topic, free_port, port_open, \
    unique_topic, wait_for

pytestmark = [pytest.mark.gregor_only, pytest.mark.client("confluent-kafka")]

RECORDS = 40
DAMAGED = 3  # the record (one per batch) whose batch gets a flipped byte


class ScrubbingGregor:
    """A gregor process with its own data dir and small segments; `start(scrub=True)` turns on a
    background scrub that passes every 100 ms."""

    def __init__(self, workdir: Path):
        cache = os.environ.get("COMPAT_CACHE_DIR") or str(Path.home() / ".cache/gregor")
        target = os.environ.get("CARGO_TARGET_DIR") or f"{cache}/target"
        self.bin = os.environ.get("COMPAT_GREGOR_BIN") or f"{target}/debug/gregor"
        if not os.access(self.bin, os.X_OK):
            pytest.skip(f"no gregor binary at {self.bin} (set COMPAT_GREGOR_BIN)")
        self.port, self.metrics_port = free_port(), free_port()
        self.data = workdir / "data"
        self.log = workdir / "gregor.log"
        self.proc = None

    @property
    def broker(self) -> Broker:
        return Broker("gregor-scrub", f"127.0.0.1:{self.port}")

    def start(self, scrub: bool):
        env = {k: v for k, v in os.environ.items() if not k.startswith("GREGOR_")}
        env["NO_COLOR"] = "1"
        args = [self.bin, "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data),
                "--storage", "disk", "--segment-bytes", "1024",
                "--metrics-listen", f"127.0.0.1:{self.metrics_port}",
                "--log-scrub-bytes-per-second", "10485760" if scrub else "0",
                "--log-scrub-interval-ms", "100"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is not None or port_open(self.port),
                 f"gregor listening on {self.port}", interval=0.02)
        assert self.proc.poll() is None, f"gregor exited: {self.log.read_text()[-3000:]}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def scrape(self) -> dict[str, float]:
        with socket.create_connection(("127.0.0.1", self.metrics_port), timeout=TIMEOUT) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: gregor\r\nConnection: close\r\n\r\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        _, _, body = b"".join(chunks).decode().partition("\r\n\r\n")
        samples = {}
        for line in body.splitlines():
            if line and not line.startswith("#"):
                key, value = line.rsplit(" ", 1)
                samples[key] = float(value)
        return samples


def batches(path: Path) -> list[tuple[int, int, int]]:
    """(position, size, base offset) of each v2 batch in a segment file."""
    data = path.read_bytes()
    out, pos = [], 0
    while pos + 12 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        out.append((pos, 12 + length, base))
        pos += 12 + length
    return out


@pytest.fixture
def own_gregor(tmp_path):
    g = ScrubbingGregor(tmp_path)
    yield g
    g.stop()


def test_a_flipped_byte_in_a_sealed_segment_is_an_error_not_data(broker: Broker,
                                                                 own_gregor: ScrubbingGregor):
    # `broker` (the suite's gregor) only ties the scenario to runs that test gregor.
    assert broker.name == "gregor"
    g = own_gregor
    g.start(scrub=False)
    topic = create_topic(g.broker, unique_topic("scrub"), 1)
    values = [f"value-{i:03d}-".encode() + b"x" * 60 for i in range(RECORDS)]
    # One record a batch, so the damage hits exactly one record.
    ck_produce(g.broker, topic, [(None, v, None, 0, None) for v in values],
               **{"batch.num.messages": 1, "linger.ms": 0})
    g.stop()

    logs = sorted((g.data / "logs" / f"{topic}-0").glob("*.log"))
    assert len(logs) >= 3, logs
    first = batches(logs[0])
    assert len(first) > DAMAGED + 1, first
    pos, size, base = first[DAMAGED]
    assert base == DAMAGED
    with open(logs[0], "r+b") as f:  # the value's last byte
        f.seek(pos + size - 2)
        byte = f.read(1)
        f.seek(pos + size - 2)
        f.write(bytes([byte[0] ^ 0x01]))

    g.start(scrub=True)
    key = f'gregor_log_corrupt_batches_total{{topic="{topic}",partition="0"}}'
    wait_for(lambda: g.scrape().get(key) == 1, "the scrub to find the damaged batch")

    consumer = Consumer(ck_conf(g.broker, **{"group.id": f"scrub-{topic}",
                                             "enable.auto.commit": False,
                                             "fetch.error.backoff.ms": 100}))
    received, errors = [], []
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])

        def error_seen():
            msg = consumer.poll(0.2)
            if msg is not None:
                if msg.error():
                    errors.append(msg.error())
                else:
                    received.append((msg.offset(), msg.value()))
            return errors
        wait_for(error_seen, "a fetch error at the damaged batch")
        # Retries keep failing at the same offset: nothing past it, and no damaged bytes.
        for _ in range(10):
            error_seen()
    finally:
        consumer.close()
    assert received == [(i, values[i]) for i in range(DAMAGED)], received
    assert all(e.code() == KafkaError.INVALID_MSG for e in errors), errors  # 2: CORRUPT_MESSAGE
