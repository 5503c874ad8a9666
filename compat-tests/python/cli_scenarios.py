"""Running scenarios written in another language: each is a command-line program invoked as
`PROGRAM... CLIENT SCENARIO HOST:PORT` that prints what it checked and exits 0 when all held
(compat-tests/java, compat-tests/node). Used by test_java.py and test_node.py."""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from compat import TIMEOUT

COMPAT_DIR = Path(__file__).resolve().parent.parent
# One scenario run may take this long in all: longer than any single wait (COMPAT_TIMEOUT) times
# the few waits a scenario has, shorter than pytest-timeout's backstop (pytest.ini: 180 s).
DEADLINE = min(150.0, max(60.0, 4 * TIMEOUT))


def tree_digest(root: Path, files: list[str], dirs: list[str]) -> str:
    """sha256 over the named files and every file under the named directories (paths and
    contents): a build is redone exactly when its inputs changed."""
    h = hashlib.sha256()
    paths = [root / f for f in files]
    for d in dirs:
        paths += sorted(p for p in (root / d).rglob("*") if p.is_file())
    for p in sorted(paths):
        h.update(str(p.relative_to(root)).encode() + b"\0")
        h.update(p.read_bytes() if p.exists() else b"<missing>")
        h.update(b"\0")
    return h.hexdigest()


def build(cmd: list[str], cwd: Path, stamp: Path, digest: str, what: str,
          outputs: Sequence[Path] = (), timeout: float = 170) -> None:
    """Runs a build command unless `stamp` holds `digest` (written after a successful build)
    and every path in `outputs` exists. Holds a lock beside the stamp meanwhile: run.sh runs a
    pytest per broker side by side, and the second waits for the first's build."""
    stamp.parent.mkdir(parents=True, exist_ok=True)
    with open(stamp.with_name(stamp.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _build(cmd, cwd, stamp, digest, what, outputs, timeout)


def _build(cmd, cwd, stamp, digest, what, outputs, timeout) -> None:
    if stamp.exists() and stamp.read_text().strip() == digest and all(p.exists() for p in outputs):
        return
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{what}: `{' '.join(cmd)}` still running after {timeout:.0f} s\n"
                             f"{(e.stdout or '')[-3000:]}{(e.stderr or '')[-3000:]}") from None
    if proc.returncode != 0:
        raise AssertionError(f"{what}: `{' '.join(cmd)}` exited {proc.returncode}\n"
                             f"{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}")
    missing = [str(p) for p in outputs if not p.exists()]
    if missing:
        raise AssertionError(f"{what}: `{' '.join(cmd)}` succeeded but left no {', '.join(missing)}")
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest + "\n")


def run_scenario(program: list[str], client: str, scenario: str, broker, cwd: Path) -> str:
    """Runs one scenario against one broker; fails with the program's output unless it exits 0.
    Returns its standard output (printed too, so pytest shows it with -rA or on failure)."""
    __tracebackhide__ = True
    env = dict(os.environ)
    env["COMPAT_DEADLINE"] = str(int(DEADLINE))
    cmd = [*program, client, scenario, broker.address]
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env,
                              timeout=DEADLINE + 15, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(
            f"{client} {scenario} on {broker.name} did not finish within {DEADLINE + 15:.0f} s\n"
            f"--- stdout\n{e.stdout or ''}\n--- stderr (tail)\n{(e.stderr or '')[-6000:]}") from None
    print(proc.stdout)
    if proc.returncode != 0:
        fail = [line for line in proc.stdout.splitlines() if line.startswith("FAIL")]
        raise AssertionError(
            f"{client} {scenario} on {broker.name} ({broker.address}) exited {proc.returncode}: "
            f"{fail[-1] if fail else '(no FAIL line)'}\n--- stdout\n{proc.stdout}\n"
            f"--- stderr (tail)\n{proc.stderr[-6000:]}")
    return proc.stdout

