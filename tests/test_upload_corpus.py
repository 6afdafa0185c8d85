"""Every corpus file (tests/upload_corpus.py) through preprocess_upload, for every model shape.

Each run must return a finite float32 array of the model's shape in [0, 1] or raise
``UploadError`` with a clear message (never another exception), match the case's expected
outcome and checks, and stay within time and traced-memory limits. ``pytest -s`` prints a
one-line summary (counts, slowest, largest) after the cases.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.upload_corpus import (
    CASE_NAMES,
    SHAPES,
    CorpusCase,
    Outcome,
    make_corpus,
    run_all,
    run_case,
    summarize,
)

REPO = Path(__file__).resolve().parent.parent
_OUTCOMES: dict[str, list[Outcome]] = {}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CorpusCase]:
    cases = make_corpus(tmp_path_factory.mktemp("upload_corpus"))
    return {c.name: c for c in cases}


def test_corpus_is_big_enough(corpus: dict[str, CorpusCase]) -> None:
    assert len(corpus) >= 28
    assert {c.expect for c in corpus.values()} == {"ok", "error"}
    assert all(c.path.exists() for c in corpus.values())


@pytest.mark.parametrize("name", CASE_NAMES)
def test_case(corpus: dict[str, CorpusCase], name: str) -> None:
    case = corpus[name]
    outcomes = [run_case(case, shape, style) for shape, style in SHAPES]
    _OUTCOMES[name] = outcomes
    problems = [f"{o.shape}/{o.style}: {p}" for o in outcomes for p in o.problems]
    assert not problems, f"{name} ({case.note}):\n" + "\n".join(problems)


def test_corpus_summary(corpus: dict[str, CorpusCase]) -> None:
    """Runs after the cases (file order); reuses their outcomes, runs any that were skipped."""
    outcomes = []
    for name, case in corpus.items():
        outcomes += _OUTCOMES.get(name) or run_all([case])
    line = summarize(outcomes)
    print("\n" + line)
    assert not any(o.status == "failed" for o in outcomes), line
    assert sum(o.status == "ok" for o in outcomes) > 0
    assert sum(o.status == "error" for o in outcomes) > 0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("name", ["photo_6000x4000.jpg", "large_6000x6000.png"])
def test_big_images_bounded_process_memory(corpus: dict[str, CorpusCase], name: str) -> None:
    """tracemalloc misses Pillow's own pixel buffers, so measure the peak RSS of a fresh
    process too (the 6000x6000 PNG must be decoded whole: 36 MB in mode L). VmHWM, not
    ru_maxrss: the latter survives exec() and would report pytest's own peak."""
    code = textwrap.dedent(
        """
        import json, sys, time
        from vae.data.upload import preprocess_upload

        def hwm_mb():
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024

        data = open(sys.argv[1], "rb").read()
        before = hwm_mb()
        t0 = time.perf_counter()
        for shape, style in [((1, 28, 28), "digit"), ((3, 32, 32), "generic")]:
            preprocess_upload(data, shape, style=style)
        seconds = time.perf_counter() - t0
        print(json.dumps({"growth_mb": hwm_mb() - before, "seconds": seconds}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(corpus[name].path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\n{name}: peak RSS grew {result['growth_mb']:.0f} MB; 2 runs {result['seconds']:.2f} s")
    assert 0 < result["growth_mb"] < 300
