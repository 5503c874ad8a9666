"""Kafka Connect and MirrorMaker 2 processes for test_connect.py, started the way Kafka's
bin/connect-distributed.sh and bin/connect-mirror-maker.sh start them: `java -cp 'libs/*'
MAIN PROPERTIES` on Kafka Connect's jars (compat-tests/kafka/connect-pom.xml: the worker
runtime, 4.4.0, with our line-file connectors, kafka/connect-plugin, on its classpath) or
MirrorMaker 2's (kafka/mirror-pom.xml: connect-mirror and its runtime, 4.3.1 — the poms say
why), a properties file as a user writes one, logs to a file (copied to compat-tests/results/
when a scenario fails).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from cli_scenarios import COMPAT_DIR, build, tree_digest

RESULTS_DIR = Path(os.environ.get("COMPAT_MATRIX", COMPAT_DIR / "results" / "matrix.md")).parent
REFERENCE_KAFKA = COMPAT_DIR / "kafka" / "reference-kafka.sh"
PLUGIN_DIR = COMPAT_DIR / "kafka" / "connect-plugin"

CONNECT_MAIN = "org.apache.kafka.connect.cli.ConnectDistributed"
MIRROR_MAKER_MAIN = "org.apache.kafka.connect.mirror.MirrorMaker"


def _libs(command: str) -> Path:
    res = subprocess.run([str(REFERENCE_KAFKA), command], capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, f"reference-kafka.sh {command} failed: {res.stderr[-3000:]}"
    libs = Path(res.stdout.strip().splitlines()[-1])
    assert any(libs.glob("connect-runtime-*.jar")), f"no connect-runtime jar in {libs}"
    return libs


def connect_libs() -> Path:
    """Connect's jar directory (reference-kafka.sh connect-libs fetches it when missing)."""
    return _libs("connect-libs")


def mirror_libs() -> Path:
    """MirrorMaker 2's jar directory (reference-kafka.sh mirror-libs fetches it when missing)."""
    return _libs("mirror-libs")


def plugin_jar(libs: Path) -> Path:
    """Our line-file connectors (kafka/connect-plugin) built against the worker's connect-api,
    into the cache beside its jars (kafka-VER/connect-plugin, outside the clone); `mvn package`
    runs again only when the plugin's sources, or the version, changed."""
    runtime = next(libs.glob("connect-runtime-*.jar")).name
    version = runtime[len("connect-runtime-"):-len(".jar")]
    out = libs.parent / "connect-plugin"
    jar = out / "compat-connect-plugin.jar"
    mvn = shutil.which("mvn") or "mvn"
    digest = tree_digest(PLUGIN_DIR, ["pom.xml"], ["src"]) + f" connect {version}"
    build([mvn, "-q", "-B", "-Dstyle.color=never", f"-Dconnect.version={version}",
           f"-Dplugin.out={out}", "package"], PLUGIN_DIR, out / ".compat-build-stamp", digest,
          "building compat-tests/kafka/connect-plugin", outputs=[jar])
    return jar


def write_properties(path: Path, props: dict) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


class JvmProcess:
    """One Connect or MirrorMaker JVM; start() again after stop() runs it anew on the same
    properties (a worker restart)."""

    def __init__(self, libs: Path, workdir: Path, main: str, args: list[str], name: str,
                 extra_classpath: tuple[Path, ...] = (), loggers: dict[str, str] | None = None):
        self.libs, self.workdir, self.main, self.args, self.name = libs, workdir, main, args, name
        self.classpath = ":".join([f"{libs}/*", *map(str, extra_classpath)])
        self.log = workdir / f"{name}.log"
        self.log4j = workdir / f"{name}-log4j2.properties"
        # Kafka's connect-log4j2 logs Connect at INFO; the clients' chatter stays at WARN.
        self.log4j.write_text(
            "status = warn\n"
            "appender.file.type = File\nappender.file.name = file\n"
            f"appender.file.fileName = {self.log}\nappender.file.append = true\n"
            "appender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = [%d] %p %m (%c:%L)%n\n"
            "rootLogger.level = warn\nrootLogger.appenderRef.file.ref = file\n"
            "logger.connect.name = org.apache.kafka.connect\nlogger.connect.level = info\n"
            + "".join(f"logger.l{i}.name = {name}\nlogger.l{i}.level = {level}\n"
                      for i, (name, level) in enumerate((loggers or {}).items())))
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} already runs"
        self.starts += 1
        out = open(self.workdir / f"{self.name}.stdout", "ab")
        self.proc = subprocess.Popen(
            [shutil.which("java") or "java", "-Xms128m", "-Xmx384m", "-XX:+UseSerialGC",
             "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
             f"-Dlog4j2.configurationFile={self.log4j}", "-cp", self.classpath, self.main,
             *self.args],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        out.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM (Connect's shutdown hook stops tasks and leaves the group), then wait."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"{self.name} did not stop within {timeout}s of SIGTERM")
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def keep_log(self, label: str):
        try:
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.log, RESULTS_DIR / f"{label}.log")
        except OSError:
            pass


class ConnectRest:
    """Connect's REST API (urllib: the JSON bodies are all it needs)."""

    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method: str, path: str, body=None, timeout: float = 30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
                return resp.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def up(self) -> bool:
        try:
            status, body = self.call("GET", "/", timeout=2)
        except OSError:
            return False
        return status == 200 and isinstance(body, dict) and "version" in body

    def wait_up(self, worker: JvmProcess, timeout: float = 120):
        deadline = time.monotonic() + timeout
        while not self.up():
            assert worker.alive(), f"the Connect worker exited: {worker.tail()}"
            assert time.monotonic() < deadline, (
                f"Connect's REST API not up within {timeout}s: {worker.tail()}")
            time.sleep(0.25)

    def running(self, name: str, tasks: int = 1):
        """The connector's status when it and its `tasks` tasks are RUNNING, else None."""
        status, body = self.call("GET", f"/connectors/{name}/status")
        if status != 200:
            return None
        states = [t.get("state") for t in body.get("tasks", [])]
        failed = [t for t in body.get("tasks", []) if t.get("state") == "FAILED"]
        assert not failed and body["connector"]["state"] != "FAILED", (
            f"connector {name} failed: {json.dumps(body)[:3000]}")
        if body["connector"]["state"] == "RUNNING" and states == ["RUNNING"] * tasks:
            return body
        return None
