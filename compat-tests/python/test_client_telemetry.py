"""KIP-714 client telemetry with the Java client (compat-tests/java `client_telemetry`,
ClientTelemetryScenario.java), against both brokers.

What both answer alike: a client-metrics subscription (CLIENT_METRICS config resource) set
through `Admin.incrementalAlterConfigs` (`metrics=org.apache.kafka.producer.`, `interval.ms=500`,
`match=client_id=<the producer's>`), described back with source DYNAMIC_CLIENT_METRICS_CONFIG,
listed by `listConfigResources(CLIENT_METRICS)`, `interval.ms=50` refused with
InvalidRequestException, removed by deleting its configs.

gregor only (the reference Kafka runs without a client-telemetry metrics reporter, so it neither
advertises nor serves GetTelemetrySubscriptions/PushTelemetry): against a gregor of this test's
own started with `--client-telemetry` and `--http-listen` (ports COMPAT_GREGOR_PORT + 40 and
+ 41), a KafkaProducer with the default `enable.metrics.push=true` gets a client instance id and
its pushed producer metrics appear on gregor's /metrics labelled with that id and its client id.
About 4 s per broker (two JVM clients, the first push within 1.5 intervals).
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from cli_scenarios import run_scenario
from compat import Broker, port_open, wait_for
from test_java import CLIENT, JAVA_DIR, java_compat  # noqa: F401 - the session fixture of the Java CLI

OFFSET = 40


class TelemetryGregor:
    """gregor with --client-telemetry on COMPAT_GREGOR_PORT + 40 (HTTP: + 41), in memory."""

    def __init__(self):
        cache = os.environ.get("COMPAT_CACHE_DIR") or str(Path.home() / ".cache/gregor")
        target = os.environ.get("CARGO_TARGET_DIR") or f"{cache}/target"
        binary = os.environ.get("COMPAT_GREGOR_BIN") or f"{target}/debug/gregor"
        if not os.access(binary, os.X_OK):
            pytest.fail(f"no gregor binary at {binary} (set COMPAT_GREGOR_BIN)")
        base = int(os.environ.get("COMPAT_GREGOR_PORT", "19092")) + OFFSET
        self.port, self.http = base, base + 1
        for p in (self.port, self.http):
            assert not port_open(p), f"port {p} for the client-telemetry gregor is in use"
        self.dir = Path(tempfile.mkdtemp(prefix="gregor-compat-telemetry."))
        self.log = self.dir / "gregor.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("GREGOR_")}
        env["NO_COLOR"] = "1"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [binary, "--listen", f"127.0.0.1:{self.port}", "--storage", "memory",
                 "--http-listen", f"127.0.0.1:{self.http}", "--client-telemetry"],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is not None or port_open(self.port),
                 f"gregor listening on {self.port}", interval=0.02)
        assert self.proc.poll() is None, f"gregor exited: {self.log.read_text()[-3000:]}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        results = Path(__file__).resolve().parent.parent / "results"
        results.mkdir(exist_ok=True)
        shutil.copy(self.log, results / "client-telemetry-gregor.log")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.mark.single_broker("starts a one-node gregor of its own with --client-telemetry")
def test_java_client_telemetry(java_compat, broker, monkeypatch):  # noqa: F811
    if broker.name != "gregor":
        monkeypatch.delenv("COMPAT_TELEMETRY_METRICS", raising=False)
        run_scenario(java_compat, CLIENT, "client_telemetry", broker, JAVA_DIR)
        return
    g = TelemetryGregor()
    try:
        monkeypatch.setenv("COMPAT_TELEMETRY_METRICS", f"http://127.0.0.1:{g.http}/metrics")
        out = run_scenario(java_compat, CLIENT, "client_telemetry",
                           Broker("gregor", f"127.0.0.1:{g.port}"), JAVA_DIR)
        assert "/metrics shows the pushed metrics" in out
    finally:
        g.stop()
