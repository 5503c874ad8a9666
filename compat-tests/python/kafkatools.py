"""Kafka's command-line tools (`org.apache.kafka.tools.*` from the reference Kafka's jars, what
its bin/kafka-*.sh scripts run), for the scenarios that check them against each broker.

`run(cls, *args)` gives what `subprocess.run` gives for `java -cp 'libs/*' CLS ARGS...`, but the
tool runs in a warm JVM this pytest process keeps (compat-tests/kafka/ToolRunner.java, compiled
once into the cache): a JVM start costs about a CPU-second and the suite runs hundreds of tools.
The tool's exit status, standard output and error are its own, as from a JVM of its own.
COMPAT_TOOLS_COLD=1 runs every tool in a JVM of its own instead (to compare), as does a call made
while another thread's tool is running."""

from __future__ import annotations

import atexit
import base64
import fcntl
import functools
import hashlib
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from compat import TIMEOUT

COMPAT_DIR = Path(__file__).resolve().parent.parent
RUNNER_SOURCE = COMPAT_DIR / "kafka" / "ToolRunner.java"
MARK = "\x01gregor-tool-runner "
# The JVM options of a tool's own JVM (cheap to start: C1 only, serial GC); the runner's too.
JVM = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
DEFAULT_TIMEOUT = max(60.0, 2 * TIMEOUT)


@functools.cache
def _libs() -> Path | str:
    if not shutil.which("java"):
        return "java is needed (compat-tests/run.sh installs it)"
    res = subprocess.run([str(COMPAT_DIR / "kafka" / "reference-kafka.sh"), "libs"],
                         capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        return f"the reference Kafka's jars are not available: {res.stderr[-500:]}"
    return Path(res.stdout.strip().splitlines()[-1])


def libs() -> Path:
    """The reference Kafka's jars (fetched once, when missing), or a pytest skip."""
    import pytest

    found = _libs()
    if isinstance(found, str):
        pytest.skip(found)
    return found


def run(cls: str, *args: str, stdin: str | None = None,
        timeout: float = DEFAULT_TIMEOUT) -> subprocess.CompletedProcess:
    """Runs one tool to its end; never raises for its exit status (check `returncode`)."""
    jars = libs()
    if os.environ.get("COMPAT_TOOLS_COLD") != "1" and _lock.acquire(blocking=False):
        try:
            return _warm(jars).run(cls, list(args), stdin or "", timeout)
        finally:
            _lock.release()
    return subprocess.run(["java", "-Xmx128m", *JVM, "-cp", f"{jars}/*", cls, *args],
                          capture_output=True, text=True, timeout=timeout,
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)


class _Runner:
    """One ToolRunner JVM; its answers are read by a thread into a queue, so a wait can time out."""

    def __init__(self, classes: Path, jars: Path):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            ["java", "-Xmx384m", *JVM, "-cp", f"{classes}:{jars}/*", "ToolRunner"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, cls: str, args: list[str], stdin: str, timeout: float) -> subprocess.CompletedProcess:
        fields = [cls, stdin, *args]
        self.proc.stdin.write(" ".join(_b64(f) for f in fields) + "\n")
        self.proc.stdin.flush()
        noise = []
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                self.stop()
                raise subprocess.TimeoutExpired([cls, *args], timeout) from None
            if line is None:
                self.log.seek(0)
                raise AssertionError(f"the tool runner JVM exited ({self.proc.wait()}) running {cls} "
                                     f"{' '.join(args)}:\n{''.join(noise)}"
                                     f"{self.log.read().decode(errors='replace')[-3000:]}")
            if line.startswith(MARK):
                break
            noise.append(line)
        status, out, err = line[len(MARK):].split(" ")
        return subprocess.CompletedProcess([cls, *args], int(status), _text(out),
                                           "".join(noise) + _text(err))

    def stop(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()


_lock = threading.Lock()
_runner: _Runner | None = None


def _warm(jars: Path) -> _Runner:
    global _runner
    if _runner is None or not _runner.alive():
        _runner = _Runner(_compiled(jars), jars)
    return _runner


def _compiled(jars: Path) -> Path:
    """ToolRunner.class for these jars, compiled once (under a lock: run.sh's pytests start
    side by side) into the cache."""
    source = RUNNER_SOURCE.read_bytes()
    digest = hashlib.sha256(source + str(jars).encode()).hexdigest()[:16]
    out = jars.parent.parent / "kafka-tool-runner" / digest
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "ToolRunner.class").exists():
            javac = subprocess.run(["javac", "-d", str(out), "-cp", f"{jars}/*", str(RUNNER_SOURCE)],
                                   capture_output=True, text=True, timeout=120)
            assert javac.returncode == 0, f"javac ToolRunner.java:\n{javac.stdout}{javac.stderr}"
    return out


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# The frames a stack trace gains from the runner's reflective call of `main`: dropped, so a
# trace reads as from the tool's own JVM.
RUNNER_FRAMES = re.compile(r"^\tat (java\.base/jdk\.internal\.reflect\.|java\.base/java\.lang\.reflect"
                           r"\.Method\.invoke\(|ToolRunner\.).*\n", re.M)


def _text(field: str) -> str:
    return RUNNER_FRAMES.sub("", base64.b64decode(field).decode(errors="replace"))


@atexit.register
def _stop() -> None:
    if _runner is not None:
        _runner.stop()
