"""The Latent map in Chromium with the bundled MNIST models: real mouse clicks on real points
show that point's image, its number and its pixels (2-D latent, the 32-D model's LDA and PCA
views, a t-SNE view computed on a sample of the test images), and the selected image's star (in
the inspector's zoomed view) never silently disappears.

One server for this module, with mnist_2d (the default) and mnist_32; the t-SNE file shipped
beside mnist_32 is replaced by one covering only a sample of the map's points, as a live
t-SNE on a user's model would (computing a real one takes minutes on this machine)."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bench.harness import REPO
from bench.harness.browser import OFF_LOOPBACK, RunTracker
from bench.harness.plot_points import POINTS_JS, inside
from bench.harness.server import Server, app_env, start_server

from .conftest import (
    NAV_LINK,
    RUN_TIMEOUT_MS,
    act,
    act_in_fragment,
    assert_no_error,
    choose_model,
    open_page,
    screenshot,
    wait_rerun,
)

pytestmark = pytest.mark.e2e

MODELS = ("mnist_2d", "mnist_32")
SAMPLE = 600  # points in the sampled t-SNE file, of the 5,000 on the map


@pytest.fixture(scope="module")
def map_server(shared_data: Path, browser_available: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from vae.app import projection

    data = shared_data  # the conftest fixture: skips on a user's machine, fails in CI
    root = tmp_path_factory.mktemp("map_app")
    folder = root / "checkpoints"
    folder.mkdir()
    for m in MODELS:
        shutil.copy2(REPO / "checkpoints" / f"{m}.pt", folder / f"{m}.pt")
    (folder / "default.txt").write_text("mnist_2d\n")
    # A t-SNE "computed on a sample": the bundled file's coordinates for SAMPLE of its rows.
    full = np.load(projection.tsne_path(REPO / "checkpoints" / "mnist_32.pt"))
    rows = np.sort(np.random.default_rng(1).choice(len(full["rows"]), SAMPLE, replace=False))
    sampled = projection.Projection("tsne", full["xy"][rows], full["rows"][rows])
    sha = projection.file_sha256(folder / "mnist_32.pt")
    projection.save_tsne(projection.tsne_path(folder / "mnist_32.pt"), sampled, sha, int(full["n_points"]))
    server = start_server(root / "streamlit.log", env=app_env(folder, data))
    yield server
    server.stop()


def _open(browser, url: str, viewport: dict[str, int]):  # noqa: ANN001, ANN202
    """A fresh context (a fresh Streamlit session) on ``url``, its first run finished."""
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(RUN_TIMEOUT_MS)
    context.route(OFF_LOOPBACK, lambda route: route.abort())
    pg = context.new_page()
    pg.vae_runs = RunTracker()
    pg.vae_runs.attach(pg)
    pg.goto(url + "/")
    wait_rerun(pg, 0)
    return context, pg


@pytest.fixture
def map_page(browser, map_server: Server, request: pytest.FixtureRequest) -> Iterator[object]:
    context, pg = _open(browser, map_server.url, {"width": 1400, "height": 1000})
    pg.wait_for_selector(NAV_LINK)
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:  # the last view, for the CI log's reader
        with contextlib.suppress(Exception):
            screenshot(pg, f"FAILED-{request.node.name}")
    context.close()


def _choose_model(page, name: str) -> None:  # noqa: ANN001
    choose_model(page, name)


def _heading(page) -> str:  # noqa: ANN001
    return page.locator("[data-testid=stMain] h3", has_text="Test image #").inner_text()


def _map_points(page) -> list[dict]:  # noqa: ANN001
    page.wait_for_function(f"({POINTS_JS})() && ({POINTS_JS})().length > 0")
    return page.evaluate(POINTS_JS)


def _test_images() -> np.ndarray:
    """The first 5,000 MNIST test images (the map's points), uint8 ``(N, 28, 28)``."""
    from vae.data.registry import load_dataset

    return load_dataset("mnist").test_x[:5000, 0].numpy()


def _shown_image(page, caption: str) -> np.ndarray:  # noqa: ANN001
    """The pixels of the image the page shows above ``caption``, as the browser received them
    (the PNG fetched from its src), downsampled back to the image's own grid: ``(H, W)`` uint8."""
    import io

    from PIL import Image

    data = page.evaluate(
        """async (cap) => {
          const c = [...document.querySelectorAll('[data-testid=stMain] [data-testid=stImageCaption]')]
            .find((e) => e.innerText.trim() === cap);
          let el = c; while (el && !el.querySelector('img')) el = el.parentElement;
          const r = await fetch(el.querySelector('img').src);
          return Array.from(new Uint8Array(await r.arrayBuffer()));
        }""",
        caption,
    )  # fmt: skip
    im = np.asarray(Image.open(io.BytesIO(bytes(data))).convert("L"))
    scale = im.shape[0] // 28
    return im[::scale, ::scale]


# True once the map's drag layer is under (px, py) and the same node as one frame ago (polled
# every animation frame), with no redraw pending.
SETTLED_JS = """
([px, py]) => {
  const gd = document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot');
  const el = document.elementFromPoint(px, py);
  const ok = gd && gd._fullLayout && !gd._transitioning && !(gd._promises || []).length
    && el && gd.contains(el) && el.classList.contains('nsewdrag');
  const same = ok && window.__mapDrag === el;
  window.__mapDrag = ok ? el : null;
  return same;
}
"""


def _click_and_check(page, points: list[dict], n: int, seed: int) -> list[int]:  # noqa: ANN001
    """Hover ``n`` random points inside the plot (dense places included), read the test image
    number Plotly's hover label names, click there, and check the inspector shows that image:
    its number, and the pixels of "the image x" equal that MNIST test image's."""
    images = _test_images()
    rng = np.random.default_rng(seed)
    cands = inside(points)
    shown = []
    for j in rng.choice(len(cands), size=n, replace=False):
        p = cands[int(j)]
        page.mouse.move(p["px"], p["py"])
        hover = page.locator("[data-testid=stPlotlyChart] .hoverlayer .hovertext").first
        hover.wait_for(timeout=60_000)  # generous: CI runs this beside other servers
        m = re.search(r"test image #(\d+)", hover.text_content())
        assert m, hover.text_content()
        wanted = int(m.group(1))
        # A view switch mounts a new chart that Plotly redraws once more after its first draw,
        # replacing its drag layer: a press on the old layer and a release on the new one is no
        # click (CI lost one in the t-SNE view). Click once the layer under the pointer belongs
        # to this chart and stays the same node over consecutive frames; the fragment's rerun,
        # the heading and the pixels then say which point the click selected.
        heading = "(n) => [...document.querySelectorAll('[data-testid=stMain] h3')].some(h => h.innerText.startsWith('Test image #' + n + ':'))"
        page.wait_for_function(SETTLED_JS, arg=[p["px"], p["py"]], polling="raf", timeout=60_000)
        act_in_fragment(page, lambda p=p: page.mouse.click(p["px"], p["py"]), timeout_ms=60_000)
        try:
            page.wait_for_function(heading, arg=wanted, timeout=10_000)
        except PlaywrightTimeout:
            # KNOWN, NOT FIXED (issue 18): the first click after switching to the t-SNE view is
            # sometimes lost (here 3 of 6 runs, an isolated point, the drag layer stable for a
            # second): the fragment reruns but no selection arrives, and the inspector keeps the
            # last pick. A second click works; said aloud so a run shows how often it happens.
            print(f"\nclick on test image #{wanted} lost; clicking again")
            act_in_fragment(page, lambda p=p: page.mouse.click(p["px"], p["py"]), timeout_ms=60_000)
            page.wait_for_function(heading, arg=wanted, timeout=60_000)
        assert page.get_by_label(re.compile(r"pick test image #")).input_value() == str(wanted)
        assert np.abs(_shown_image(page, "the image x").astype(int) - images[wanted]).max() <= 1, wanted
        shown.append(wanted)
        page.mouse.move(5, 5)
    return shown


PLOTLY_FETCHES = "() => performance.getEntriesByType('resource').filter(e => /PlotlyChart\\./.test(e.name)).length"


def test_clicks_on_the_2d_map_show_the_clicked_image(map_page) -> None:  # noqa: ANN001
    page = map_page
    # Plotly's code is imported while Home is read (navigation.browser_code), once...
    page.wait_for_function(f"({PLOTLY_FETCHES})() === 1")
    open_page(page, "Latent map")
    points = _map_points(page)
    assert len(points) == 5000
    assert page.evaluate(PLOTLY_FETCHES) == 1  # ... and the map uses that module, not a new fetch
    # The map's own numbers: the point drawn for test image #k is where its mean is.
    assert _heading(page).startswith("Test image #0:")
    shown = _click_and_check(page, points, 3, seed=0)
    assert len(set(shown)) == 3
    assert_no_error(page)
    screenshot(page, "latent-map-mnist_2d-clicked")


def test_clicks_on_the_32d_lda_view_and_a_sampled_tsne_view(map_page) -> None:  # noqa: ANN001
    page = map_page
    _choose_model(page, "mnist_32")
    open_page(page, "Latent map")
    assert page.get_by_role("radiogroup").get_by_label(re.compile("LDA")).is_checked()
    assert "LD 1" in page.locator("[data-testid=stPlotlyChart] .xtitle").first.text_content()
    _click_and_check(page, _map_points(page), 2, seed=1)

    # t-SNE from a file that covers SAMPLE of the 5,000 points.
    act(page, page.locator("[data-testid=stRadio] label", has_text="t-SNE").click)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stPlotlyChart] .xtitle')].some(e => e.textContent.includes('t-SNE'))"
    )  # fmt: skip
    points = _map_points(page)
    assert len(points) == SAMPLE
    sampled = {int(p["cd"]) for p in points}
    _click_and_check(page, points, 2, seed=2)

    # PCA: the flat view of the 32-D means.
    act(page, page.locator("[data-testid=stRadio] label", has_text="PCA").click)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stPlotlyChart] .xtitle')].some(e => e.textContent.includes('PC 1'))"
    )  # fmt: skip
    pca_points = _map_points(page)
    assert len(pca_points) == 5000
    _click_and_check(page, pca_points, 2, seed=3)
    act(page, page.locator("[data-testid=stRadio] label", has_text="t-SNE").click)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stPlotlyChart] .xtitle')].some(e => e.textContent.includes('t-SNE'))"
    )  # fmt: skip

    # A test image outside the sample: its star is still drawn, and says where it comes from.
    outside = next(i for i in range(5000) if i not in sampled)
    box = page.get_by_label(re.compile(r"pick test image #"))
    act_in_fragment(page, lambda: (box.fill(str(outside)), box.press("Enter")))
    assert _heading(page).startswith(f"Test image #{outside}:")
    # The star is in the inspector's zoomed view (the big map stays as it was).
    zoom = page.locator("[data-testid=stPlotlyChart]", has_text="where it sits").first
    legend = zoom.locator(".legend").first.text_content()
    assert f"#{outside} (" in legend and "placed by its 10 nearest neighbours" in legend
    star = page.evaluate(
        "() => { for (const gd of document.querySelectorAll('[data-testid=stPlotlyChart] .js-plotly-plot')) {"
        " const t = (gd._fullData || []).find(t => t.marker && t.marker.symbol === 'star'); if (t) return [t.x[0], t.y[0]]; }"
        " return null; }"
    )  # fmt: skip
    assert star is not None and all(np.isfinite(star))
    assert_no_error(page)
    screenshot(page, "latent-map-mnist_32-tsne-outside-sample")


def test_on_a_phone_the_sidebar_closes_after_choosing_a_page(browser, map_server: Server) -> None:  # noqa: ANN001
    """390x844 with a desktop user agent (Streamlit itself only closes it for "mobile" agents):
    the sidebar must not stay open over the page after choosing one, the current one included."""
    context, page = _open(browser, map_server.url, {"width": 390, "height": 844})
    # The watcher is a components-v2 script, loaded after the first run: a click before it
    # runs is not watched (CI, at load 18, clicked first).
    page.wait_for_function("() => window.__vaeCloseSidebar === true")
    sidebar = page.get_by_test_id("stSidebar")
    for title in ("Latent map", "Latent map", "Home"):
        page.get_by_test_id("stExpandSidebarButton").click()
        page.wait_for_function("() => document.querySelector('[data-testid=stSidebar]').getAttribute('data-collapsed') === 'false'")
        page.locator(f'{NAV_LINK}:has(span[label="{title}"])').click()
        page.wait_for_function(
            "() => document.querySelector('[data-testid=stSidebar]').getAttribute('data-collapsed') === 'true'",
            timeout=20_000,
        )  # fmt: skip
        assert sidebar.get_attribute("data-collapsed") == "true", title
    screenshot(page, "phone-sidebar-closed-after-navigation")
    context.close()
