"""Strings from files are shown as text (issue 19, item 2): a checkpoint whose file name,
metadata (title, device, dataset) and class names hold Markdown links, images and bare URLs
makes no page link or send the browser anywhere outside the app's server.

The checkpoint is built here; the pages are opened in Chromium on a server of their own, with
every request off this machine recorded (and aborted).
"""

from __future__ import annotations

import re

import pytest
import torch

from bench.harness import find_shared_data
from bench.harness.browser import IDLE, OFF_LOOPBACK
from bench.harness.server import app_env, start_server
from tests.e2e.conftest import ERROR_SELECTORS, screenshot
from vae.core.checkpoints import save_checkpoint
from vae.core.model import VAE, VAEConfig

LINK = "[Click](https://evil.example/)"
IMAGE = "![x](https://evil.example/p.png)"
# File names cannot hold '/': a bare "www." URL is linked by Markdown all the same.
FILE_NAME = "![x](www.evil.example) [Click](www.evil.example) www.evil.example"
PAGES = ["/", "/latent_map", "/sliders", "/plane", "/noise"]


@pytest.fixture(scope="module")
def hostile_server(browser_available, tmp_path_factory):
    folder = tmp_path_factory.mktemp("file_text") / "checkpoints"
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(32,))).eval()
    test_set = {
        "images": torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8),
        "labels": torch.arange(40) % 2,
        "label_names": [LINK, IMAGE],
    }
    save_checkpoint(
        folder / "user" / f"{FILE_NAME}.pt", model, dataset=f"{LINK} {IMAGE}", metrics={"test_elbo": -30.0},
        meta={"title": f"{LINK} {IMAGE}", "device": f"{IMAGE} www.evil.example", "test_set": test_set},
    )  # fmt: skip
    (folder / "default.txt").write_text(FILE_NAME + "\n")
    server = start_server(folder.parent / "streamlit.log", env=app_env(folder, find_shared_data()))
    yield server
    server.stop()


def test_no_page_links_or_loads_anything_outside(browser, hostile_server):
    requested: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(120_000)
    context.route(OFF_LOOPBACK, lambda route: (requested.append(route.request.url), route.abort()))
    page = context.new_page()
    page.on("request", lambda r: requested.append(r.url) if OFF_LOOPBACK.match(r.url) else None)
    try:
        for path in PAGES:
            page.goto(hostile_server.url + path)
            page.wait_for_selector('[data-testid="stSidebar"] [data-testid="stSelectbox"]')
            page.wait_for_selector(IDLE)
            page.wait_for_timeout(1500)  # images and plots fetch after the run ends
            screenshot(page, f"file-text{path.replace('/', '-') or '-home'}")
            errors = [t for s in ERROR_SELECTORS for t in page.locator(s).all_inner_texts()]
            assert not errors, (path, errors)
            hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
            outside = [h for h in hrefs if not h.startswith(hostile_server.url)]
            assert not outside, f"{path}: links to {outside}"
            assert not page.locator("img[src*='evil']").count(), path
            if path == "/":  # the strings are there, as text
                shown = page.inner_text("[data-testid=stMain]").replace("\u2060", "")
                assert LINK in shown and IMAGE in shown, shown[:500]
                assert re.search(r"www\.evil\.example", shown)
        assert not requested, f"the browser was sent outside: {requested}"
    finally:
        context.close()
