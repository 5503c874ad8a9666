"""pytest wiring: every test that takes the `broker` fixture runs once per broker named in
COMPAT_BROKERS; at the end a client × scenario × broker matrix is printed (before pytest's
own summary line) and written to compat-tests/results/matrix.md (COMPAT_MATRIX overrides).

Row of the matrix = (scenario, client): the scenario is the test function's name without
`test_` plus its non-client, non-broker parameters (e.g. `roundtrip[gzip]`); the client is
the `client` parameter, or the `client` marker for tests that use one client only.
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import matrix  # noqa: E402
from compat import Broker, brokers_from_env  # noqa: E402
from secured import OWN_BROKER_FIXTURES  # noqa: E402

MATRIX_PATH = Path(os.environ.get("COMPAT_MATRIX",
                                  Path(__file__).resolve().parent.parent / "results" / "matrix.md"))
# run.sh's side-by-side halves also leave their results here, for the merged matrix.
RESULTS_JSON = os.environ.get("COMPAT_RESULTS_JSON", "")

# The three-broker target run.sh starts with COMPAT_CLUSTER=1.
CLUSTER = "gregor-cluster"

_results: "OrderedDict[tuple[str, str], dict[str, str]]" = OrderedDict()
_broker_names: list[str] = []


def pytest_configure(config):
    config.addinivalue_line("markers", "client(name): the one client a scenario exercises")
    config.addinivalue_line(
        "markers",
        "known_gap(reason, broker='gregor'): a feature the broker does not have yet; the test is "
        "an expected failure (xfail) there, shown as xfail/XPASS in the matrix")
    config.addinivalue_line(
        "markers",
        "gregor_only: a scenario of gregor's own features (e.g. /metrics); it runs against the "
        "gregor broker only, and is not collected at all when gregor is not tested")
    config.addinivalue_line(
        "markers",
        "single_broker(reason): a scenario that needs one broker (it checks what a one-node "
        "cluster answers, dials one address, or restarts the broker); not collected against "
        "the three-broker gregor-cluster target (COMPAT_CLUSTER=1)")
    config.addinivalue_line(
        "markers",
        "beside_kafka: a gregor scenario that needs the reference Kafka running beside it "
        "(e.g. MirrorMaker 2 between the two), at COMPAT_REFERENCE_KAFKA (run.sh sets it when it "
        "runs both); use with gregor_only. Not collected when either broker is not tested")
    config.addinivalue_line(
        "markers",
        "kafka3: a scenario of the reference Kafka as three brokers (test_cluster_kafka3.py); "
        "collected only with COMPAT_KAFKA3=1")
    config.addinivalue_line(
        "markers",
        "once: not a broker scenario (e.g. a self-test of a harness): run.sh runs it in one of "
        "its side-by-side pytest processes only (COMPAT_ONCE=0 deselects it in the others)")
    try:
        brokers = brokers_from_env()
    except RuntimeError as e:
        raise pytest.UsageError(str(e))
    config._compat_brokers = brokers
    _broker_names[:] = [b.name for b in brokers]


def pytest_generate_tests(metafunc):
    if "broker" in metafunc.fixturenames:
        brokers = metafunc.config._compat_brokers
        if metafunc.definition.get_closest_marker("gregor_only"):
            brokers = [b for b in brokers if b.name == "gregor"]
        # Session scope: module fixtures that depend on the broker (bulk data) run once per broker.
        metafunc.parametrize("broker", brokers, ids=[b.name for b in brokers], scope="session")


def pytest_collection_modifyitems(config, items):
    # A gregor-only scenario without gregor has an empty broker list: deselect it rather than
    # let pytest report an "empty parameter set" skip.
    unrun = [i for i in items if i.get_closest_marker("gregor_only") and not isinstance(
        getattr(getattr(i, "callspec", None), "params", {}).get("broker"), Broker)]
    on_cluster = [i for i in items if getattr(getattr(getattr(i, "callspec", None), "params",
                                                      {}).get("broker"), "name", "") == CLUSTER]
    unrun += [i for i in on_cluster if i.get_closest_marker("single_broker")
              or OWN_BROKER_FIXTURES.intersection(getattr(i, "fixturenames", ()))]
    if not os.environ.get("COMPAT_REFERENCE_KAFKA"):
        unrun += [i for i in items if i.get_closest_marker("beside_kafka")]
    if os.environ.get("COMPAT_KAFKA3") != "1":
        unrun += [i for i in items if i.get_closest_marker("kafka3")]
    if os.environ.get("COMPAT_ONCE", "1") == "0":
        unrun += [i for i in items if i.get_closest_marker("once")]
    if unrun:
        config.hook.pytest_deselected(items=unrun)
        items[:] = [i for i in items if i not in unrun]
    for item in items:
        callspec = getattr(item, "callspec", None)
        broker = callspec.params.get("broker") if callspec else None
        for gap in item.iter_markers("known_gap"):
            if broker is not None and broker.name == gap.kwargs.get("broker", "gregor"):
                reason = gap.args[0] if gap.args else gap.kwargs.get("reason", "known gap")
                item.add_marker(pytest.mark.xfail(reason=f"known gap: {reason}", strict=False))


def _row_of(item) -> tuple[str, str]:
    name = item.originalname or item.name
    scenario = name[5:] if name.startswith("test_") else name
    params = dict(getattr(getattr(item, "callspec", None), "params", {}) or {})
    params.pop("broker", None)
    client = params.pop("client", None)
    if client is None:
        marker = item.get_closest_marker("client")
        client = marker.args[0] if marker else "-"
    if params:
        scenario += "[" + ",".join(str(v) for v in params.values()) + "]"
    return scenario, str(client)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    callspec = getattr(item, "callspec", None)
    broker = callspec.params.get("broker") if callspec else None
    if broker is None:
        return
    cell = _results.setdefault(_row_of(item), {})
    prev = cell.get(broker.name)
    if rep.when == "setup":
        if rep.failed:
            cell[broker.name] = "ERROR"
        elif rep.skipped:
            cell[broker.name] = "skip"
    elif rep.when == "call":
        if hasattr(rep, "wasxfail"):
            cell[broker.name] = "XPASS" if rep.passed else "xfail"
        elif rep.passed:
            cell[broker.name] = "pass"
        elif rep.skipped:
            cell[broker.name] = "skip"
        else:
            cell[broker.name] = "FAIL"
    elif rep.when == "teardown" and rep.failed and prev == "pass":
        cell[broker.name] = "ERROR"


_module_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report):
    module = report.nodeid.split("::", 1)[0]
    _module_seconds[module] = _module_seconds.get(module, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    # Where this run's time went, per test file (setup, call and teardown): for balancing
    # run.sh's side-by-side pytests and finding what CI spends its minutes on.
    if _module_seconds:
        terminalreporter.section("seconds per test file")
        for module, secs in sorted(_module_seconds.items(), key=lambda kv: -kv[1]):
            terminalreporter.write_line(f"{secs:8.1f}  {module}")
    brokers = [f"{b.name}={b.address}" for b in config._compat_brokers]
    # No rows when only `once` tests ran; run.sh's merge still wants this run's (empty) result.
    lines = matrix.matrix_lines(_results, _broker_names) if _results else []
    if lines:
        terminalreporter.section("compatibility matrix (client × scenario × broker)")
        for line in lines:
            terminalreporter.write_line(line)
    try:
        if RESULTS_JSON:
            matrix.dump(Path(RESULTS_JSON), _results, brokers)
        if lines:
            matrix.write(MATRIX_PATH, brokers, lines)
            terminalreporter.write_line(f"matrix written to {MATRIX_PATH}")
    except OSError as e:
        terminalreporter.write_line(f"could not write {MATRIX_PATH}: {e}")
