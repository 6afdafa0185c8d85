"""Weights once per browser (issue 17), counted on the wire.

A server with the bundled ``mnist_32`` (default) and ``mnist_2d`` models; Chromium's DevTools
protocol reports every WebSocket frame the page receives (``Network.webSocketFrameReceived``;
binary frames arrive base64-encoded in ``payloadData``, and those lengths are what is added
up, as the environment notes prescribe). Weight frames are the ones holding the live
component's binary envelope (``WIRE_MAGIC`` then the length and the JSON data).

After the first visit: three presses of "Sample from the prior", a switch to the plane page
and back, and a reload receive less than 100 KB of weights; a second tab of the same browser
context receives none. ``-s`` prints the bytes per action.

The views' code (~100 KB, ``component_js``) comes once per tab session: in the first visit's
frames and again after the reload (a new session), never with a press or a page switch, whose
frames then stay under ``PRESS_BUDGET`` in all.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator

import pytest

from bench.harness import REPO, find_shared_data
from bench.harness.browser import RunTracker
from bench.harness.server import Server, app_env, start_server
from pages._lib.live import WIRE_MAGIC

from .conftest import (
    RUN_TIMEOUT_MS,
    VIEWPORT,
    act,
    assert_no_error,
    open_page,
    screenshot,
    wait_idle,
)

pytestmark = pytest.mark.e2e

SLIDERS_READY = '[data-testid=vae-live-sliders][data-ready="true"]'
PLANE_READY = '[data-testid=vae-live-plane][data-ready="true"]'
WEIGHTS_BUDGET = 100_000
PRESS_BUDGET = 40_000  # a press's frames without the code: ~20 KB measured (the code is ~100 KB)
CODE_MARK = b"// decoder_layers.js"  # a line of the joined views' code (pages/_lib/live)


@pytest.fixture(scope="module", params=["mnist_32", "mnist_2d"])
def model_server(request, browser_available, tmp_path_factory) -> Iterator[tuple[str, Server]]:  # noqa: ANN001
    name = request.param
    src = REPO / "checkpoints" / f"{name}.pt"
    if not src.exists():
        pytest.skip(f"{src} is not in the repo")
    root = tmp_path_factory.mktemp(f"weights_{name}")
    ck = root / "checkpoints"
    ck.mkdir()
    shutil.copy(src, ck / src.name)
    (ck / "default.txt").write_text(name + "\n")
    server = start_server(root / "streamlit.log", env=app_env(ck, find_shared_data()))
    yield name, server
    server.stop()


class Wire:
    """Bytes of WebSocket frames one page received, as the DevTools protocol reports them."""

    def __init__(self, page) -> None:  # noqa: ANN001
        self.total = 0
        self.weights = 0
        self.weight_frames = 0
        self.code_frames = 0
        cdp = page.context.new_cdp_session(page)
        cdp.on("Network.webSocketFrameReceived", self._frame)
        cdp.send("Network.enable")

    def _frame(self, e: dict) -> None:
        resp = e["response"]
        size = len(resp["payloadData"])
        self.total += size
        raw = base64.b64decode(resp["payloadData"]) if resp.get("opcode") == 2 else b""
        if _has_envelope(raw):
            self.weights += size
            self.weight_frames += 1
        self.code_frames += CODE_MARK in raw

    def snapshot(self) -> tuple[int, int, int]:
        return self.total, self.weights, self.code_frames


def _has_envelope(frame: bytes) -> bool:
    """The component's envelope: magic, 4 length bytes, then the JSON data's opening."""
    at = frame.find(WIRE_MAGIC)
    while at >= 0:
        if frame[at + len(WIRE_MAGIC) + 4 : at + len(WIRE_MAGIC) + 6] == b'{"':
            return True
        at = frame.find(WIRE_MAGIC, at + 1)
    return False


def _open_sliders(page, url: str) -> None:  # noqa: ANN001
    page.goto(url + "/sliders")
    page.wait_for_selector(SLIDERS_READY, timeout=RUN_TIMEOUT_MS)
    wait_idle(page)


def test_weights_are_sent_once_per_browser(browser, model_server) -> None:  # noqa: ANN001
    name, server = model_server
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(RUN_TIMEOUT_MS)
    try:
        page = context.new_page()
        page.vae_runs = RunTracker()  # what conftest's act() waits on
        page.vae_runs.attach(page)
        wire = Wire(page)
        rows: list[tuple[str, int, int, int]] = []
        last = wire.snapshot()

        def record(action: str) -> None:
            nonlocal last
            page.wait_for_timeout(300)  # frames still in flight after the page went idle
            now = wire.snapshot()
            rows.append((action, now[0] - last[0], now[1] - last[1], now[2] - last[2]))
            last = now

        _open_sliders(page, server.url)
        record("first visit (sliders)")
        sample = page.get_by_role("button", name="Sample from the prior")
        for i in range(3):
            act(page, sample.click)
            page.wait_for_selector(SLIDERS_READY)
            record(f"sample press {i + 1}")
        open_page(page, "2-D latent plane")
        page.wait_for_selector(PLANE_READY)
        record("switch to plane")
        screenshot(page, f"weights-{name}-plane-1400")
        open_page(page, "Latent sliders")
        page.wait_for_selector(SLIDERS_READY)
        record("switch back to sliders")
        page.reload()
        page.wait_for_selector(SLIDERS_READY)
        wait_idle(page)
        record("reload")
        assert_no_error(page)

        tab = context.new_page()
        wire2 = Wire(tab)
        _open_sliders(tab, server.url)
        tab.wait_for_timeout(300)
        rows.append(("second tab (sliders)", wire2.total, wire2.weights, wire2.code_frames))
        assert tab.locator("[data-testid=vae-live-sliders]").get_attribute("data-model-id")
        for w, h in ((1400, 900), (1920, 1080), (390, 844)):
            tab.set_viewport_size({"width": w, "height": h})
            tab.wait_for_timeout(300)
            screenshot(tab, f"weights-{name}-sliders-second-tab-{w}x{h}")
    finally:
        context.close()

    print(f"\n{name}: bytes received per action (payloadData lengths)")
    for action, total, weights, code in rows:
        print(f"  {action:24s} total {total:>10,d}  weights {weights:>10,d}  code frames {code}")
    first, *later, second_tab = rows
    assert first[2] > 0, "the first visit got no weights frame: is the counting broken?"
    after = sum(weights for _, _, weights, _ in later)
    assert after < WEIGHTS_BUDGET, f"{after:,d} bytes of weights after the first visit: {rows}"
    assert second_tab[2] == 0, f"the second tab received weights: {rows}"
    # The views' code: once per tab session (first visit, reload, second tab), nothing between.
    assert [r[3] for r in rows] == [1, 0, 0, 0, 0, 0, 1, 1], f"code frames per action: {rows}"
    presses = [r for r in rows if r[0].startswith("sample press")]
    assert all(total < PRESS_BUDGET for _, total, _, _ in presses), f"bytes per press: {presses}"
