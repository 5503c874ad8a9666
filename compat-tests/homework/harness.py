"""The homework end to end's plumbing (standard library only): checks and their report,
waiting, ports, child processes with their logs; its private PostgreSQL server is
../python/pgcluster.py's `Postgres`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

# The PostgreSQL servers and the small helpers shared with the compat suite.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from pgcluster import Postgres, clean_env, port_open, wait_until  # noqa: E402,F401

T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


class Failed(AssertionError):
    pass


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []
        self.broker = ""

    def ok(self, cond: bool, what: str, detail: str = "") -> bool:
        if cond:
            self.passed += 1
            log(f"ok   [{self.broker}] {what}")
        else:
            self.failed.append(f"[{self.broker}] {what}: {detail}")
            log(f"FAIL [{self.broker}] {what}: {detail}")
        return cond

    def must(self, cond: bool, what: str, detail: str = "") -> None:
        if not self.ok(cond, what, detail):
            raise Failed(what)


# The services' own ports (loms, the notifiers' health endpoints, PostgreSQL): taken in turn from
# HOMEWORK_SERVICE_PORT.. +39 (19760..19799), below Linux's ephemeral range (32768-60999). A port
# the kernel picked (bind to 0) and that was then released can be taken as the local port of any
# outgoing connection before the service binds it: a notifier once failed "address already in
# use" that way while the cluster target ran beside.
SERVICE_PORTS = int(os.environ.get("HOMEWORK_SERVICE_PORT", "19760"))
_next_service_port = 0


def free_port() -> int:
    """A port of the service range that nothing listens on or holds now."""
    global _next_service_port
    for _ in range(40):
        port = SERVICE_PORTS + _next_service_port
        _next_service_port = (_next_service_port + 1) % 40
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {SERVICE_PORTS}..{SERVICE_PORTS + 39}")


def wait_for(what: str, timeout: float, fn, interval: float = 0.1):
    """fn() until truthy; Failed (a check's failure) on timeout."""
    try:
        return wait_until(what, timeout, fn, interval)
    except TimeoutError as e:
        raise Failed(str(e)) from None


def http(method: str, url: str, body: dict | None = None, timeout: float = 10.0):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


# ---------------------------------------------------------------------------- processes

class Proc:
    def __init__(self, name: str, argv: list[str], logdir: Path, env: dict | None = None):
        self.name, self.argv = name, argv
        self.logfile = logdir / f"{name}.log"
        self.env = env or clean_env()
        self.p: subprocess.Popen | None = None

    def start(self) -> "Proc":
        f = open(self.logfile, "ab")
        self.p = subprocess.Popen(self.argv, stdout=f, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=self.env)
        f.close()
        return self

    def alive(self) -> bool:
        return self.p is not None and self.p.poll() is None

    def terminate(self, timeout: float = 20.0) -> int | None:
        """SIGTERM; the exit status, or None if it had to be killed."""
        if not self.alive():
            return self.p.returncode if self.p else None
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return None

    def kill9(self) -> None:
        if self.alive():
            self.p.kill()
            self.p.wait()

    def lines(self) -> list[dict]:
        out = []
        try:
            text = self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return out
        for line in text.splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return out

    def text(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""
