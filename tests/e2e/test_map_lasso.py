"""Lasso selections drawn with the real mouse on the Latent map in Chromium: the page's
selection (its count, each grid tile's pixels, the counts by label and the decoded mean) equals
a brute-force point-in-polygon test over where Plotly drew the points, for the 2-D model, the
32-D model's PCA view and a t-SNE view that covers only a sample of the test images (so a point's
index in the chart is not its test image's number).

The polygon is the mouse's own path; Plotly thins a lasso path (it drops vertices that bend
less than ~1.5 px), so points within ``EDGE`` px of an edge may fall either way: they are
allowed, every other point must be in the selection exactly when it is inside the polygon.
Reuses ``test_latent_map``'s server (mnist_2d, mnist_32 and a 600-point t-SNE file)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from bench.harness.plot_points import inside

from .conftest import act, act_in_fragment, assert_no_error, open_page, screenshot
from .test_latent_map import (
    SAMPLE,
    _choose_model,
    _map_points,
    _shown_image,
    _test_images,
    map_page,
    map_server,
)

pytestmark = pytest.mark.e2e
__all__ = ["map_page", "map_server"]  # fixtures shared with test_latent_map (one server per module)

EDGE = 3.0  # px: points this close to the lasso's edges may fall either way
GRID_COLS, TILE = 8, 28  # the selection grid: 8 tiles a row, 28x28 MNIST images, 1 px apart


def _polygon(points: list[dict], rng: np.random.Generator) -> np.ndarray:
    """A non-convex lasso (a wobbly 14-gon, ``(14, 2)`` page px) around a random point, sized so
    that 6..40 points lie surely inside: the grid then shows every selected image."""
    cands = inside(points, margin=80)
    xy = np.array([[p["px"], p["py"]] for p in points])
    theta = np.linspace(0, 2 * np.pi, 14, endpoint=False)
    for _ in range(200):
        c = cands[int(rng.integers(len(cands)))]
        radius = rng.uniform(18, 60)
        r = radius * (0.7 + 0.3 * np.sin(3 * theta + rng.uniform(0, 6)))
        poly = np.stack([c["px"] + r * np.cos(theta), c["py"] + r * np.sin(theta)], axis=1)
        sure, maybe = _classify(xy, poly)
        if sure.sum() >= 6 and maybe.sum() <= 48:
            return poly
    raise AssertionError("no lasso with 6..48 points found")


def _classify(xy: np.ndarray, poly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: (surely inside, inside or within EDGE px of an edge) for points ``xy (N, 2)``
    and the closed polygon ``poly (V, 2)`` (even-odd ray casting, as Plotly's lasso)."""
    x, y = xy[:, 0:1], xy[:, 1:2]
    a, b = poly, np.roll(poly, -1, axis=0)
    crosses = ((a[:, 1] > y) != (b[:, 1] > y)) & (
        x < a[:, 0] + (y - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1] + 1e-12)
    )  # fmt: skip
    ins = crosses.sum(axis=1) % 2 == 1
    ab = b - a
    t = np.clip(((x - a[:, 0]) * ab[:, 0] + (y - a[:, 1]) * ab[:, 1]) / (ab**2).sum(axis=1), 0, 1)
    edge = np.hypot(a[:, 0] + t * ab[:, 0] - x, a[:, 1] + t * ab[:, 1] - y).min(axis=1)
    return ins & (edge > EDGE), ins | (edge <= EDGE)


def _drag_lasso(page, poly: np.ndarray) -> None:  # noqa: ANN001
    def drag() -> None:
        page.mouse.move(*poly[0])
        page.mouse.down()
        for v in (*poly[1:], poly[0]):
            page.mouse.move(*v, steps=3)
        page.mouse.up()

    act_in_fragment(page, drag)


def _grid_png(page, count: int) -> np.ndarray:  # noqa: ANN001
    """The grid of a ``count``-image selection as the browser received it, at the images' own
    resolution."""
    from PIL import Image

    data = page.evaluate(
        """async () => {
          const h = [...document.querySelectorAll('[data-testid=stMain] h3')].find(e => e.innerText.startsWith('Your selection'));
          const img = [...document.querySelectorAll('[data-testid=stMain] [data-testid=stImage] img')]
            .find(i => h.compareDocumentPosition(i) & Node.DOCUMENT_POSITION_FOLLOWING);
          const r = await fetch(img.src);
          return Array.from(new Uint8Array(await r.arrayBuffer()));
        }"""
    )  # fmt: skip
    im = np.asarray(Image.open(io.BytesIO(bytes(data))).convert("L"))
    cols = min(GRID_COLS, count)
    scale = im.shape[1] // (cols * (TILE + 1) - 1)
    return im[::scale, ::scale]


def _tiles(grid: np.ndarray, n: int) -> list[np.ndarray]:
    step = TILE + 1
    return [
        grid[(k // GRID_COLS) * step :][:TILE, (k % GRID_COLS) * step :][:, :TILE] for k in range(n)
    ]


def _label_counts(page) -> dict[str, int]:  # noqa: ANN001
    """The selection's count-by-label table, read from the data grid's accessible cells (the
    grid's code loads with the page's first table: wait for its cells)."""
    # (the grid's accessible table is drawn off screen: attached, never "visible")
    page.locator("[data-testid=stMain] [data-testid=stDataFrame] table [role=row] [role=gridcell]").first.wait_for(state="attached")
    cells = page.evaluate(
        """() => [...document.querySelectorAll('[data-testid=stMain] [data-testid=stDataFrame] table [role=row]')]
              .map(r => [...r.querySelectorAll('[role=gridcell]')].map(c => c.innerText.trim()))
              .filter(r => r.length >= 2)"""
    )  # fmt: skip
    return {row[-2]: int(row[-1]) for row in cells}


def _mean_decoded(model_name: str, rows: list[int], images: np.ndarray) -> np.ndarray:
    """decode(mean of the posterior means of ``rows``), computed here with torch: ``(28, 28)``."""
    import torch

    from bench.harness import REPO
    from vae.core.checkpoints import load_checkpoint

    model = load_checkpoint(REPO / "checkpoints" / f"{model_name}.pt").build_model().eval()
    with torch.no_grad():
        mu, _ = model.encode(torch.from_numpy(images[rows][:, None]).float() / 255.0)
        return torch.sigmoid(model.decode(mu.mean(0, keepdim=True)))[0, 0].numpy()


def _lasso_and_check(page, model_name: str, seed: int, shot: str) -> int:  # noqa: ANN001
    """Draw one lasso on the map now showing and check the page's selection against brute
    force. Returns how many images were selected."""
    lasso = page.get_by_role("radio", name="Lasso select")
    if lasso.get_attribute("aria-checked") != "true":  # the tool is kept per model
        act_in_fragment(page, lasso.click)
    page.wait_for_function(
        "() => { const gd = document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot');"
        " return gd && gd._fullLayout && gd._fullLayout.dragmode === 'lasso'; }"
    )  # fmt: skip
    points = _map_points(page)
    xy = np.array([[p["px"], p["py"]] for p in points])
    numbers = np.array([int(p["cd"]) for p in points])
    poly = _polygon(points, np.random.default_rng(seed))
    _drag_lasso(page, poly)

    sure, maybe = _classify(xy, poly)
    sure_rows, maybe_rows = set(numbers[sure].tolist()), set(numbers[maybe].tolist())
    head = page.locator("[data-testid=stMain] h3", has_text="Your selection").inner_text()
    count = int(head.split(":")[1].split()[0].replace(",", ""))
    assert len(sure_rows) <= count <= len(maybe_rows), (count, len(sure_rows), len(maybe_rows))

    # Each tile is the image of a point inside the lasso, in test-number order; all are shown.
    images = _test_images()
    tiles = _tiles(_grid_png(page, count), count)
    shown = []
    for k, tile in enumerate(tiles):
        match = [r for r in sorted(maybe_rows) if np.abs(images[r].astype(int) - tile).max() <= 1]
        assert match, f"tile {k} is the image of no point inside the lasso"
        shown.append(match[0])
    assert shown == sorted(shown) and len(set(shown)) == count
    assert sure_rows <= set(shown) <= maybe_rows

    from vae.data.registry import load_dataset

    labels = load_dataset("mnist").test_y[:5000].numpy()
    lab, cnt = np.unique(labels[shown], return_counts=True)
    table = _label_counts(page)
    if table:  # the grid's accessible cells exist in this Streamlit (checked below once)
        assert table == {str(k): int(v) for k, v in zip(lab, cnt, strict=True)}
    want_mean = _mean_decoded(model_name, shown, images)
    got_mean = _shown_image(page, "decode(mean of their m)").astype(float) / 255.0
    assert np.abs(got_mean - want_mean).max() <= 3 / 255, np.abs(got_mean - want_mean).max()
    assert_no_error(page)
    screenshot(page, shot)
    return count


def _show_view(page, option: str, x_title: str) -> None:  # noqa: ANN001
    """Choose the map's view ``option`` and wait until the map's x axis reads ``x_title``."""
    act(page, page.locator("[data-testid=stRadio] label", has_text=option).click)
    js = "(t) => [...document.querySelectorAll('[data-testid=stPlotlyChart] .xtitle')].some(e => e.textContent.includes(t))"
    page.wait_for_function(js, arg=x_title)


def test_lasso_on_the_2d_map(map_page) -> None:  # noqa: ANN001
    open_page(map_page, "Latent map")
    assert _lasso_and_check(map_page, "mnist_2d", seed=0, shot="map-lasso-mnist_2d") >= 6
    assert _label_counts(map_page), "the count-by-label table's cells could not be read"


def test_lasso_on_pca_and_sampled_tsne_views(map_page) -> None:  # noqa: ANN001
    page = map_page
    _choose_model(page, "mnist_32")
    open_page(page, "Latent map")
    _show_view(page, "PCA", "PC 1")
    assert len(_map_points(page)) == 5000
    _lasso_and_check(page, "mnist_32", seed=1, shot="map-lasso-mnist_32-pca")

    _show_view(page, "t-SNE", "t-SNE")
    points = _map_points(page)
    assert len(points) == SAMPLE
    # The chart's point order is not the test order: a selection mapped by position would differ.
    assert any(int(p["cd"]) != j for j, p in enumerate(points))
    _lasso_and_check(page, "mnist_32", seed=2, shot="map-lasso-mnist_32-tsne")
