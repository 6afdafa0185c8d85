"""Two replicas behind nginx, configured as docs/deploying.md says (issue 17).

``bench.harness.proxy`` reads the nginx block from the doc and runs it (plain HTTP on a
loopback port; one extra response header, ``X-Vae-Upstream``, names the replica that answered).
The replicas share one checkpoint folder. Checked in Chromium through the proxy:

- the affinity cookie is set, and every request of a browser session (page, assets, the
  WebSocket) reaches one replica: its session is counted there and not on the other
  (``active_sessions`` in each replica's ``/_stcore/metrics``, asked directly);
- the WebSocket works through the proxy: the app renders and a button's rerun changes the view;
- an upload (Your image) reaches the session's own replica, on each replica: the
  reconstruction appears, no "Invalid session_id";
- a model trained on one replica is offered by the other one's model picker;
- ``/_stcore/metrics`` answers 404 through the proxy;
- Streamlit's static files (no session state, so outside the affinity) are served by nginx
  from its cache after the first request, gzip-compressed, byte-identical to Streamlit's own.
"""

from __future__ import annotations

import io
import json
import os
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from bench.harness import find_shared_data
from bench.harness.browser import RunTracker
from bench.harness.proxy import COOKIE, UPSTREAM_HEADER, Cluster, nginx_path, running_cluster
from bench.harness.server import app_env, prepare_checkpoints

from .conftest import (
    RUN_TIMEOUT_MS,
    VIEWPORT,
    act,
    assert_no_error,
    open_page,
    screenshot,
    wait_rerun,
)

pytestmark = pytest.mark.e2e

UPLOAD_INPUT = '[data-testid="stFileUploader"] input[type="file"]'
TRAIN_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def cluster(browser_available, tmp_path_factory) -> Iterator[Cluster]:  # noqa: ANN001
    if nginx_path() is None:
        reason = "nginx is not installed (apt-get install nginx; .ci/run installs it)"
        if os.environ.get("VAE_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("proxy")
    ck = root / "checkpoints"
    prepare_checkpoints(ck)
    env = app_env(ck, find_shared_data())
    with running_cluster(2, ck, env=env, folder=root / "run", debug_upstream=True) as c:
        yield c


def _get(url: str, cookie: str = "", *, gzip_ok: bool = False) -> tuple[int, dict[str, list[str]], bytes]:
    """GET ``url`` (with the affinity ``cookie``; accepting gzip if ``gzip_ok``): status,
    lower-case headers, body."""
    headers = {"Cookie": cookie} if cookie else {}
    if gzip_ok:
        headers["Accept-Encoding"] = "gzip"
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, msg, body = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, msg, body = e.code, e.headers, b""
    out: dict[str, list[str]] = {}
    for k, v in msg.items():
        out.setdefault(k.lower(), []).append(v)
    return status, out, body


def _cookie_for(cluster: Cluster, replica: int) -> str:
    """An affinity cookie value that nginx maps to ``replica`` (tried until one does)."""
    want = f"127.0.0.1:{cluster.replicas[replica].port}"
    for i in range(200):
        value = f"pick{replica}-{i}"
        _, h, _ = _get(cluster.url + "/_stcore/health", f"{COOKIE}={value}")
        if h[UPSTREAM_HEADER.lower()] == [want]:
            return value
    raise AssertionError(f"no cookie value of 200 reaches {want}")


def _active_sessions(url: str) -> int:
    with urllib.request.urlopen(url + "/_stcore/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(r"^active_sessions (\d+)", text, flags=re.M)
    assert m, text[:500]
    return int(m.group(1))


def _addresses(cluster: Cluster) -> list[str]:
    return [f"127.0.0.1:{r.port}" for r in cluster.replicas]


def _context(browser, cluster: Cluster, replica: int | None = None):  # noqa: ANN001, ANN202
    """A fresh browser context on the proxy; pinned to ``replica`` by a preset cookie."""
    ctx = browser.new_context(viewport=VIEWPORT)
    ctx.set_default_timeout(RUN_TIMEOUT_MS)
    if replica is not None:
        ctx.add_cookies([{"name": COOKIE, "value": _cookie_for(cluster, replica), "url": cluster.url}])
    return ctx


def _open(ctx, url: str):  # noqa: ANN001, ANN202
    page = ctx.new_page()
    page.vae_runs = RunTracker()
    page.vae_runs.attach(page)
    page.goto(url + "/")
    wait_rerun(page, 0)
    page.get_by_text("Model loaded:").first.wait_for()
    return page


def test_cookie_pins_a_browser_session_and_its_websocket_to_one_replica(browser, cluster) -> None:  # noqa: ANN001
    status, h, _ = _get(cluster.url + "/_stcore/metrics")
    assert status == 404, "the proxy must hide /_stcore/metrics"
    before = [_active_sessions(r.url) for r in cluster.replicas]
    ctx = _context(browser, cluster)
    upstreams: set[str] = set()
    try:
        # Session requests only: blob: URLs are the browser's own, and /static/ files are the
        # proxy's cached copies (test_static_files_come_from_the_proxys_cache).
        ctx.on("response", lambda r: r.url.startswith(cluster.url) and "/static/" not in r.url
               and upstreams.add(r.headers.get(UPSTREAM_HEADER.lower(), r.url)))
        page = _open(ctx, cluster.url)
        cookies = {c["name"]: c for c in ctx.cookies()}
        assert COOKIE in cookies and re.fullmatch(r"[0-9a-f]{32}", cookies[COOKIE]["value"]), cookies
        assert cookies[COOKIE]["httpOnly"] and cookies[COOKIE]["sameSite"] == "Lax"
        assert len(upstreams) == 1 and upstreams <= set(_addresses(cluster)), upstreams
        (upstream,) = upstreams
        mine = _addresses(cluster).index(upstream)
        after = [_active_sessions(r.url) for r in cluster.replicas]
        assert after[mine] == before[mine] + 1 and after[1 - mine] == before[1 - mine], (before, after)

        # The WebSocket through the proxy: a page switch and a button's rerun change the view.
        open_page(page, "Latent sliders")
        vector = page.locator("[data-testid=vae-latent-vector]")
        page.wait_for_selector('[data-testid=vae-live-sliders][data-ready="true"]')
        z0 = json.loads(vector.get_attribute("data-latent"))
        act(page, page.get_by_role("button", name="Sample from the prior").click)
        for _ in range(100):  # the component applies the new command after the rerun
            if json.loads(vector.get_attribute("data-latent")) != z0:
                break
            page.wait_for_timeout(100)
        z1 = json.loads(vector.get_attribute("data-latent"))
        assert z1 != z0 and any(v != 0 for v in z1)
        assert_no_error(page, "sliders through the proxy")
        assert upstreams == {upstream}, upstreams
        screenshot(page, "proxy-sliders")
    finally:
        ctx.close()


def test_static_files_come_from_the_proxys_cache(cluster) -> None:  # noqa: ANN001
    """A first visit's largest file (Streamlit's main bundle): the second request is a cache hit
    that no replica sees, compressed, and unpacks to exactly Streamlit's file."""
    import gzip
    from pathlib import Path

    import streamlit

    status, _, html = _get(cluster.url + "/")
    assert status == 200
    (name,) = re.findall(rb'src="\./(static/js/index\.[^"]+\.js)"', html)
    name = name.decode()
    _, first, _ = _get(cluster.url + "/" + name, gzip_ok=True)
    _, second, body = _get(cluster.url + "/" + name, gzip_ok=True)
    assert first.get("x-cache-status") in (["MISS"], ["HIT"]), first
    assert second.get("x-cache-status") == ["HIT"] and UPSTREAM_HEADER.lower() not in second, second
    assert second.get("content-encoding") == ["gzip"], second
    original = (Path(streamlit.__file__).parent / "static" / name).read_bytes()
    assert gzip.decompress(body) == original
    assert len(body) < 0.5 * len(original), (len(body), len(original))


def _png() -> bytes:
    from PIL import Image, ImageDraw

    im = Image.new("L", (120, 140), 235)
    ImageDraw.Draw(im).line([(30, 30), (90, 30), (50, 120)], fill=20, width=12)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("replica", [0, 1])
def test_upload_reaches_the_sessions_own_replica(browser, cluster, replica, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "seven.png"
    path.write_bytes(_png())
    ctx = _context(browser, cluster, replica)
    try:
        page = _open(ctx, cluster.url)
        open_page(page, "Your image")
        act(page, lambda: page.locator(UPLOAD_INPUT).set_input_files(str(path)))
        page.wait_for_selector("[data-testid=stImageCaption] >> text=reconstruction decode(m)")
        assert page.get_by_text("Invalid session_id").count() == 0
        assert_no_error(page, f"Your image through the proxy (replica {replica})")
        screenshot(page, f"proxy-upload-replica{replica}")
    finally:
        ctx.close()


def _picker_options(page) -> list[str]:  # noqa: ANN001
    picker = page.locator("[data-testid=stSidebar] [data-testid=stSelectbox]")
    picker.get_by_role("button", name="Open").click()
    page.get_by_role("option").first.wait_for()
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return options


def test_model_trained_on_one_replica_is_offered_on_the_other(browser, cluster) -> None:  # noqa: ANN001
    name = f"proxy-{uuid.uuid4().hex[:8]}"
    trainer = _context(browser, cluster, 0)
    student = _context(browser, cluster, 1)
    try:
        page = _open(trainer, cluster.url)
        other = _open(student, cluster.url)
        assert not any(o.startswith(name) for o in _picker_options(other))

        open_page(page, "Train a model")
        main = page.locator("[data-testid=stMain]")
        epochs = main.locator("[data-testid=stSlider]").filter(has_text="Epochs").get_by_role("slider")
        epochs.focus()
        act(page, lambda: page.keyboard.press("Home"))  # 1 epoch
        box = main.get_by_role("textbox", name="Model name")
        box.fill(name)
        act(page, lambda: box.press("Enter"))
        act(page, main.get_by_role("button", name=re.compile(r"^\S*\s*Train$")).click)
        main.get_by_text(f"Model {name} is trained").wait_for(timeout=TRAIN_TIMEOUT_MS)
        assert (cluster.checkpoints / "user" / f"{name}.pt").is_file()

        # The other replica: its next run lists the shared folder's new file.
        open_page(other, "Home")
        options = _picker_options(other)
        assert any(o.startswith(f"{name} (digits") for o in options), options
        assert_no_error(other, "the second replica's Home")
    finally:
        trainer.close()
        student.close()
