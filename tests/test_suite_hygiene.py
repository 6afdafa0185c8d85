"""The suite's own rules against flakes (issue 18): property tests draw fixed examples in CI,
and no test asserts on a wall time (2 shared cores: timings are noise; speed belongs in
bench/, or in a ratio of two timings taken alternately, as tests/test_live_decoder_browser.py
does)."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

from hypothesis import settings

TESTS = Path(__file__).resolve().parent
CLOCKS = {
    "perf_counter",
    "perf_counter_ns",
    "monotonic",
    "monotonic_ns",
    "time",
    "time_ns",
    "process_time",
}


def test_ci_runs_hypothesis_derandomized():
    """CI (.ci/run) exports CI=true, which loads the derandomized profile (tests/conftest.py;
    hypothesis also picks its own "ci" profile from that variable); without it the property
    tests would search at random on every CI run."""
    run = (TESTS.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r'^export [^#\n]*\bCI="?(\$\{CI:-true\}|true)"?', run, re.MULTILINE), (
        "CI=true not exported"
    )
    ci = settings.get_profile("ci")
    assert ci.derandomize and ci.deadline is None
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        assert settings.default.derandomize and settings.default.deadline is None


def _is_clock(node: ast.AST) -> bool:
    """``time.perf_counter()``, ``perf_counter()`` and the like."""
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
    owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else "time"
    return name in CLOCKS and owner == "time"


def wall_time_asserts(source: str) -> list[int]:
    """Lines of ``assert``s that read a clock, directly or through a name assigned from one
    (``t0 = time.perf_counter()``, ``seconds = time.perf_counter() - t0``), in any scope."""
    tree = ast.parse(source)
    timed: set[str] = set()
    changed = True
    while changed:  # names computed from clocks or from other timed names
        changed = False
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign)
                and node.value is not None
            ):
                uses = any(
                    _is_clock(n) or (isinstance(n, ast.Name) and n.id in timed)
                    for n in ast.walk(node.value)
                )
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    for n in ast.walk(t):
                        if uses and isinstance(n, ast.Name) and n.id not in timed:
                            timed.add(n.id)
                            changed = True
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Assert)
        and any(
            _is_clock(n) or (isinstance(n, ast.Name) and n.id in timed) for n in ast.walk(node.test)
        )
    ]


def test_no_test_asserts_on_a_wall_time():
    found = {}
    for path in sorted(TESTS.rglob("*.py")):
        if lines := wall_time_asserts(path.read_text(encoding="utf-8")):
            found[str(path.relative_to(TESTS))] = lines
    assert not found, f"asserts on wall times (move them to bench/ or compare a ratio): {found}"


def test_the_wall_time_check_sees_what_it_should():
    planted = "import time\nt0 = time.perf_counter()\nwork()\nseconds = time.perf_counter() - t0\nassert seconds < 1\n"
    assert wall_time_asserts(planted) == [5]
    assert wall_time_asserts("import time\nassert time.monotonic() > 0\n") == [2]
    deadline_loop = "import time\nend = time.monotonic() + 9\nwhile time.monotonic() < end:\n    pass\nassert done\n"
    assert wall_time_asserts(deadline_loop) == []
