"""The one private-Streamlit patch (``pages/_lib/navigation.py``) still fits the installed
Streamlit, is pinned, and does nothing at import (issue 12; issue 19 item 7).

If a Streamlit release changes the legacy pages-directory mode, the first tests here fail
and name what changed: then re-check the deep-link behaviour in a browser and update the
module, requirements.txt and this file together.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import streamlit
from streamlit.runtime import pages_manager
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[1]


def test_streamlit_is_the_pinned_series():
    pinned = re.search(r"^streamlit>=([\d.]+),<([\d.]+)$", (REPO / "requirements.txt").read_text(), re.M)
    assert pinned, "requirements.txt must bound streamlit to the releases the tests passed on"
    assert pinned.groups() == ("1.67", "1.68")
    assert streamlit.__version__.startswith("1.67."), streamlit.__version__


def test_the_private_api_the_patch_uses_is_still_there():
    assert "uses_pages_directory" in vars(pages_manager.PagesManager), "PagesManager changed"
    init = inspect.getsource(pages_manager.PagesManager.__init__)
    assert '"pages"' in init and "uses_pages_directory" in init, "the mode is no longer set from pages/"
    assert callable(script_runner._mpa_v1), "the legacy runner _mpa_v1 is gone"
    runner = inspect.getsource(script_runner.ScriptRunner)
    assert "if PagesManager.uses_pages_directory:" in runner and "_mpa_v1(" in runner
    from streamlit.commands import navigation

    assert "PagesManager.uses_pages_directory = False" in inspect.getsource(navigation.navigation)


def test_importing_the_page_glue_changes_nothing():
    """No Streamlit state is touched while a module is imported (another session may be
    importing it at the same moment)."""
    code = (
        "from streamlit.runtime.pages_manager import PagesManager as P\n"
        "P.uses_pages_directory = True\n"
        "import pages._lib.navigation, pages._lib.models\n"
        "print(P.uses_pages_directory)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True", "importing pages._lib changed the navigation mode"


def test_a_page_run_alone_reruns_through_the_app(tmp_path, monkeypatch):
    """AppTest resets the mode to "pages directory" before every run (as a fresh server's first
    request would have it): a deep link then runs the page file alone. The page lists models
    and so reruns through app.py: navigation, and the sidebar model picker, are there."""
    from bench.harness.hostile_files import good

    good(tmp_path / "digits_small.pt")
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(tmp_path))
    at = AppTest.from_file("../app.py", default_timeout=90).run()
    assert not at.exception, at.exception
    at.switch_page("pages/latent_map.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="model_name").value == "digits_small", "the page ran without app.py"


def test_the_prefetched_chart_code_is_this_streamlits_plotly_chunk() -> None:
    """``browser_code`` prefetches Plotly's chunk by its hashed file name: a Streamlit release
    that renames or splits it must fail here, not silently prefetch nothing."""
    from pages._lib import navigation

    chunks = navigation._chart_chunks()
    assert len(chunks) == 1 and chunks[0].startswith("PlotlyChart.") and chunks[0].endswith(".js")
    folder = Path(streamlit.__file__).parent / "static" / "static" / "js"
    assert (folder / chunks[0]).stat().st_size > 1_000_000  # Plotly itself, not a stub
