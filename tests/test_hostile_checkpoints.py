"""Checkpoint files built to hurt (issue 19, items 3-5): each is listed as unusable with a
short reason, found before anything is built, printed or cached, and none affects the good
model beside it or any page. The files are built here (``bench/harness/hostile_files.py``), never
stored.

The memory-hungry cases run in a subprocess under ``RLIMIT_AS`` (2 GiB): before the fix the
"billion laughs" file was printed while loading (no end, gigabytes) and the forged config
built a 1.7 GB model just to list it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from bench.harness.hostile_files import BUILDERS, EXPECTED, build_all, good
from vae.core import checkpoints
from vae.core.checkpoints import list_checkpoints, load_checkpoint
from vae.core.model import VAE

REPO = Path(__file__).resolve().parents[1]
MEMORY_LIMIT = 2 * 2**30


def _limited(code: str, timeout: float = 240) -> dict:
    """Run ``code`` (which prints one JSON line last) in a fresh Python whose address space is
    capped at ``MEMORY_LIMIT``; returns that JSON, or fails saying how the child ended."""
    prelude = textwrap.dedent(f"""
        import json, resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))
        sys.path.insert(0, {str(REPO)!r})
    """)
    try:
        out = subprocess.run(
            [sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=REPO, capture_output=True,
            text=True, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {timeout:.0f} s: the server would hang")
    assert out.returncode == 0, f"the child failed (exit {out.returncode}): {out.stderr[-1500:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_hostile_file_is_listed_unusable_within_bounded_memory(tmp_path):
    build_all(tmp_path)
    result = _limited(f"""
        import resource
        from vae.core.checkpoints import list_checkpoints
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        entries = list_checkpoints({str(tmp_path)!r})
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(json.dumps({{"grown_kb": grown, "entries": {{e.name: [e.ok, e.error] for e in entries}}}}))
    """)
    entries = result["entries"]
    assert entries.pop("good") == [True, None]
    assert set(entries) == set(BUILDERS)
    for kind, (ok, error) in entries.items():
        assert not ok and re.search(EXPECTED[kind], error), (kind, error)
        assert str(tmp_path) not in error
    # The 64 MB compressed tensor and the 10**6-wide model are never materialized.
    assert result["grown_kb"] < 60_000, f"listing grew the process by {result['grown_kb'] / 1e3:.0f} MB"


@pytest.mark.parametrize("kind", ["billion_laughs", "forged_latent", "stride0_test_set"])
def test_load_refuses_before_building_or_printing(tmp_path, kind, monkeypatch):
    path = BUILDERS[kind](tmp_path / f"{kind}.pt")
    built = []
    monkeypatch.setattr(VAE, "load_state_dict", lambda *a, **k: built.append(1))
    with pytest.raises(checkpoints.CheckpointError, match=EXPECTED[kind]):
        load_checkpoint(path)
    assert not built, "a model was built for a file that is refused"


def test_listing_builds_no_model_and_keeps_no_weights(tmp_path, monkeypatch):
    """Issue 12: the listing reads a checked header; only the chosen model is built."""
    good(tmp_path / "a.pt")
    good(tmp_path / "user" / "b.pt", meta={"test_set": {
        "images": torch.zeros(3, 1, 8, 8, dtype=torch.uint8), "labels": torch.tensor([0, 1, 0]),
        "label_names": ["x", "y"]}})  # fmt: skip
    built = []
    monkeypatch.setattr(VAE, "load_state_dict", lambda *a, **k: built.append(1))
    entries = list_checkpoints(tmp_path)
    assert [e.ok for e in entries] == [True, True] and not built
    for e in entries:
        kept = [*vars(e.header).values(), *e.header.meta.values(), *e.header.train_config.values()]
        assert not any(isinstance(v, torch.Tensor) for v in kept), "the listing keeps tensors"
        assert "test_set" not in e.header.meta
        assert e.identity == checkpoints.file_identity(e.path)
    monkeypatch.undo()
    assert entries[1].load().meta["test_set"]["label_names"] == ["x", "y"]


def test_one_identity_for_a_checkpoint_file(tmp_path):
    """Issue 12: the model-identity key is spelled once (``file_identity``); a dangling link
    gets one too instead of raising."""
    file_identity = checkpoints.file_identity
    path = good(tmp_path / "m.pt")
    ident = file_identity(path)
    st_ = path.stat()
    assert ident == f"{path}:{st_.st_size}:{st_.st_mtime_ns}"
    good(path)  # re-saved: a new file, a new identity
    assert file_identity(path) != ident or path.stat().st_mtime_ns == st_.st_mtime_ns
    BUILDERS["dangling_link"](tmp_path / "gone.pt")
    assert "unreadable" in file_identity(tmp_path / "gone.pt")
    for source in (REPO / "pages").rglob("*.py"):
        assert "st_mtime_ns" not in source.read_text(), f"{source.name} spells its own file key"


@pytest.mark.parametrize(
    ("kind", "page"),
    [
        ("dangling_link", None),
        ("looping_link", None),
        ("text_metric", None),
        ("nan_weights", "pages/sliders.py"),
        ("shape_vs_dataset", "pages/sliders.py"),
    ],
)
def test_the_app_survives_a_hostile_file_chosen_as_default(tmp_path, monkeypatch, navigation_only, kind, page):
    """The user's path: the hostile file sits in the checkpoints folder and ``default.txt``
    names it; Home (and the page where it used to crash) show the good model and list the
    bad one with its reason."""
    folder = tmp_path / "checkpoints"
    build_all(folder, kinds=(kind,))
    (folder / "default.txt").write_text(kind + "\n")
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(folder))
    at = AppTest.from_file("../app.py", default_timeout=60).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="model_name").value == "good"
    captions = [c.value for c in at.sidebar.caption]
    assert any(f"{kind}.pt" in c and re.search(EXPECTED[kind], c) for c in captions), captions
    if page:
        at.switch_page(page).run()
        assert not at.exception, at.exception
