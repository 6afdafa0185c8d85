"""The live component's JS (pages/_lib/live/, joined into one module) in a real headless Chromium, checked against PyTorch.

No Streamlit server: the JS module is imported into a blank page, its decoder is called through
``window.__vaeDecode``, and its slider UI is mounted into an open shadow root the way
components v2 mounts it (``default({data, parentElement, setStateValue, ...})``).
Skips when Playwright or Chromium is missing, unless ``VAE_REQUIRE_BROWSER=1`` (then fails).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from pages._lib.live import component_css, component_js, entry_js, js_files
from tests.conftest import seeded_model
from tests.export_reference import decode_exported_numpy
from vae.app.export import export_decoder
from vae.core.model import VAEConfig

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent

# Real-size models (speed matters), except the RGB one, which checks the channel handling.
CONFIGS = {
    "mlp_28x28": VAEConfig(latent_dim=2, hidden=(512, 256)),
    "conv_28x28": VAEConfig(architecture="conv", latent_dim=8, conv_channels=(32, 64)),
    "conv_rgb_16x16": VAEConfig(
        architecture="conv",
        image_shape=(3, 16, 16),
        latent_dim=5,
        conv_channels=(8, 16),
        hidden=(32,),
        activation="elu",
    ),
    "conv_28x20_crop": VAEConfig(
        architecture="conv",
        image_shape=(1, 28, 20),
        latent_dim=3,
        conv_channels=(4, 8, 8),
        hidden=(16,),
        activation="tanh",
    ),
}


def _header(payload: dict) -> dict:
    return {k: v for k, v in payload.items() if k != "weights_b64"}


def _preload(page, payload: dict) -> None:  # noqa: ANN001
    """Put the model in the page's memory, as an earlier mount that received it would."""
    page.evaluate("(p) => { window.__vaeDecode(p, new Array(p.latent_dim).fill(0)); }", payload)


@pytest.fixture(scope="module")
def page(chromium_browser) -> Iterator[object]:  # noqa: ANN001
    """A blank Chromium page with the component's two modules imported as Streamlit does
    (from blob URLs): the views' code (the sidebar's code element), then the component's entry,
    whose default export mounts a view."""
    pg = chromium_browser.new_page(viewport={"width": 900, "height": 700})
    pg.set_content("<!doctype html><html><body></body></html>")
    pg.evaluate(
        """async ([code, entry]) => {
            const load = (js) => import(URL.createObjectURL(new Blob([js], {type: "text/javascript"})));
            await load(code);
            window.__liveDecoder = (await load(entry)).default;
        }""",
        [component_js(), entry_js()],
    )
    yield pg
    pg.close()


def test_bundle_keeps_every_code_line() -> None:
    """The joined module drops only comments, blank lines and indentation: every other line
    of the sources is in it, in order; no source line has an odd number of backticks (a
    multi-line template literal, whose indentation would be content)."""
    bundle = component_js().splitlines()
    code = []
    for path in js_files():
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            assert line.count("`") % 2 == 0, f"{path.name}: multi-line template literal"
        code += [ln for ln in _strip(text) if ln]
    assert [ln for ln in bundle if not ln.startswith(("// ", "const FORMAT", "const WIRE", "const LIVE_CSS"))] == code


def _strip(text: str) -> list[str]:
    """Code lines of a JS source, removing comments with a regex (not the bundler's loop)."""
    no_blocks = re.sub(r"^\s*/\*.*?\*/[ \t]*$", "", text, flags=re.S | re.M)
    return [ln.strip() for ln in no_blocks.splitlines() if not ln.strip().startswith("//")]


def _js_and_torch(page, model, payload: dict, seed: int) -> tuple[np.ndarray, ...]:  # noqa: ANN001
    """20 latents (N(0, 1.5^2)) decoded by the JS (``__vaeDecode``) and by PyTorch:
    ``(js (20, C*H*W), torch (20, C*H*W), z (20, D))``."""
    z = torch.randn(20, model.latent_dim, generator=torch.Generator().manual_seed(seed)) * 1.5
    with torch.no_grad():
        ref = torch.sigmoid(model.decode(z)).numpy().reshape(20, -1)
    got = page.evaluate(
        "([p, zs]) => zs.map((z) => Array.from(window.__vaeDecode(p, z)))", [payload, z.tolist()]
    )
    return np.array(got), ref, z.numpy()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_js_decoder_matches_torch(page, name: str) -> None:  # noqa: ANN001
    model = seeded_model(CONFIGS[name])
    payload = export_decoder(model, dtype="float32").to_payload()
    got, ref, _ = _js_and_torch(page, model, payload, seed=7)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 1e-4


# The same number of float32 multiply-adds as a plain JS loop: the decoder's cost per
# multiply-add relative to what this browser, under this load, manages in the simplest code.
MAC_LOOP = """(n) => {
  const a = new Float32Array(4096).fill(0.5), b = new Float32Array(4096).fill(0.25);
  const run = () => { let s = 0; for (let i = 0; i < n; i++) s += a[i & 4095] * b[(i * 7) & 4095]; return s; };
  run();  // warm-up (JIT)
  const ts = [];
  for (let r = 0; r < 15; r++) { const t0 = performance.now(); run(); ts.push(performance.now() - t0); }
  return ts.sort((x, y) => x - y)[7];
}"""
MAX_COST_RATIO = 3.0  # measured 0.5-0.75 (2026-12); absolute ms per frame: bench/live_decode.py


def _macs(model, latent_dim: int) -> int:  # noqa: ANN001
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model.decode(torch.zeros(1, latent_dim))
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("name", ["mlp_28x28", "conv_28x28"])
def test_js_decoder_costs_little_more_than_its_multiply_adds(page, name: str) -> None:  # noqa: ANN001
    """Speed as a ratio, not a wall time (2 shared cores): the decoder's median time over a
    plain loop of the same number of multiply-adds, measured alternately in the same page so
    machine load hits both. A regression such as re-parsing the weights per decode, or
    allocating per pixel, multiplies the ratio. Absolute ms per frame: bench/live_decode.py."""
    model = seeded_model(CONFIGS[name])
    payload = export_decoder(model).to_payload()
    macs = _macs(model, CONFIGS[name].latent_dim)
    z = [0.3] * CONFIGS[name].latent_dim
    ratios = []
    for _ in range(3):
        decode = page.evaluate("([p, z]) => window.__vaeBench(p, z, 15).median_ms", [payload, z])
        loop = page.evaluate(MAC_LOOP, macs)
        ratios.append(decode / max(loop, 1e-3))
    print(f"{name}: {macs} MACs, decode / plain loop = {[round(r, 2) for r in ratios]}")
    assert min(ratios) < MAX_COST_RATIO, ratios


def test_slider_ui_paints_during_drag_and_reports_on_release(page) -> None:  # noqa: ANN001
    """Mount the sliders like components v2 does, drag with the real mouse."""
    cfg = CONFIGS["conv_rgb_16x16"]
    payload = export_decoder(seeded_model(cfg)).to_payload()
    _preload(page, payload)
    data = {
        "mode": "sliders",
        "key": "t",
        "model": _header(payload),
        "dims": [2, 0],
        "collapsed": [1, 3, 4],
        "labels": {"2": "t₃ (most active)"},
        "values": [0.0, 0.5, 0.0, 0.0, -1.0],
        "cmd": "c1",
        "range_sd": 3.0,
        "step": 0.01,
        "image_px": 160,
        "invert": False,
        "title": None,
    }
    page.evaluate(
        """([data, css]) => {
            const host = document.createElement("div");
            document.body.replaceChildren(host);
            const root = host.attachShadow({mode: "open"});
            const style = document.createElement("style");
            style.textContent = css;
            root.appendChild(style);
            window.__calls = [];
            window.__vaeTimings.length = 0;
            window.__liveDecoder({data, parentElement: root, key: "k", name: "vae_live_decoder",
                setStateValue: (k, v) => window.__calls.push([k, v]),
                setTriggerValue: () => {}});
        }""",
        [data, component_css()],
    )
    root = page.get_by_test_id("vae-live-sliders")
    assert root.get_attribute("data-ready") == "true"
    assert page.get_by_test_id("vae-slider").count() == 5
    # Display order follows `dims`; collapsed dims live in the <details>.
    dims = page.get_by_test_id("vae-slider").evaluate_all("els => els.map(e => e.dataset.dim)")
    assert dims == ["2", "0", "1", "3", "4"]
    collapsed = page.get_by_test_id("vae-collapsed-dims")
    assert collapsed.locator("[data-testid=vae-slider]").count() == 3
    # The lecture's names: 1-based t with subscripts (data-dim stays the 0-based index).
    names = page.locator(".vae-dim-label").evaluate_all("els => els.map(e => e.textContent)")
    assert names == ["t₃ (most active)", "t₁", "t₂", "t₄", "t₅"]
    chips = page.locator(".vae-chip-dim").evaluate_all("els => els.map(e => e.textContent)")
    assert chips == ["t₁", "t₂", "t₃", "t₄", "t₅"]
    assert page.locator(".vae-vector-head").text_content() == "latent vector t"
    canvas = page.get_by_test_id("vae-live-canvas")
    assert canvas.evaluate("c => [c.width, c.height]") == [16, 16]

    def pixels() -> list[int]:
        return canvas.evaluate(
            "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"
        )

    before = pixels()
    # The painted image is the decoder's output (RGB, 8-bit).
    want = page.evaluate(
        "([p, z]) => Array.from(window.__vaeDecode(p, z))", [payload, data["values"]]
    )
    rgb = np.array(before).reshape(16 * 16, 4)[:, :3].T.ravel()  # (C, H*W) like the decoder
    assert np.abs(rgb - np.round(np.array(want) * 255)).max() <= 1

    slider = page.locator("[data-testid=vae-slider][data-dim='2']")
    box = slider.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + box["width"] * 0.3, y, steps=6)
    during = pixels()
    assert during != before, "canvas did not change while dragging"
    assert page.evaluate("window.__calls.length") == 0, "state sent before release"
    assert page.evaluate("window.__vaeTimings.length") >= 1
    page.mouse.up()
    # One state value per release (each setStateValue is a rerun of its own).
    ((key, event),) = page.evaluate("window.__calls")
    assert key == "event" and event["action"] == "release"
    assert event["cmd"] == "c1" and event["model_id"] == payload["id"]
    latent = event["latent"]
    assert len(latent) == 5 and latent[2] > 0.5
    assert latent[0] == 0.0 and latent[4] == -1.0  # untouched dims keep their values
    shown = page.locator("[data-testid=vae-slider-value][data-dim='2']").get_attribute("data-value")
    assert float(shown) == pytest.approx(latent[2])
    assert page.get_by_test_id("vae-latent-vector").get_attribute("data-latent") is not None

    # A rerun with the same command keeps the user's values; a new command replaces them.
    page.evaluate(
        """(data) => { const root = document.querySelector("div").shadowRoot;
            window.__liveDecoder({data, parentElement: root, key: "k", name: "n",
                setStateValue: (k, v) => window.__calls.push([k, v]), setTriggerValue: () => {}}); }""",
        data,
    )
    assert float(slider.input_value()) == pytest.approx(latent[2])
    page.evaluate(
        """(data) => { const root = document.querySelector("div").shadowRoot;
            window.__liveDecoder({data, parentElement: root, key: "k", name: "n",
                setStateValue: () => {}, setTriggerValue: () => {}}); }""",
        {**data, "cmd": "c2", "values": [0.0, 0.0, -2.0, 0.0, 0.0]},
    )
    assert float(slider.input_value()) == pytest.approx(-2.0)


def _mount_fresh(page, data: dict) -> None:  # noqa: ANN001
    """Mount into a new shadow root; ``window.__mountAgain(data)`` is the next run, and every
    setStateValue call is recorded in ``window.__calls``."""
    page.evaluate(
        """(data) => {
            const host = document.createElement("div");
            document.body.replaceChildren(host);
            window.__root = host.attachShadow({mode: "open"});
            window.__calls = [];
            window.__mountAgain = (data) => window.__liveDecoder({data,
                parentElement: window.__root, key: data.key, name: "n",
                setStateValue: (k, v) => window.__calls.push([k, v]), setTriggerValue: () => {}});
            window.__mountAgain(data);
        }""",
        data,
    )


def test_missing_weights_are_requested_once_and_arrive_in_binary(page) -> None:  # noqa: ANN001
    """A model neither in memory nor in IndexedDB (unavailable on this blank page): the view
    says "loading" and sends ONE weights request; the envelope Python answers with (binary)
    makes it ready, with the same pixels as the JSON payload's decode."""
    from pages._lib.live.component import envelope

    payload = export_decoder(seeded_model(CONFIGS["conv_28x20_crop"], seed=5)).to_payload()
    data = {
        "mode": "sliders", "key": "t2", "model": _header(payload), "dims": [0, 1, 2],
        "collapsed": [], "labels": {}, "values": [0.5, 0.0, -1.0], "cmd": "c", "range_sd": 3.0,
        "step": 0.01, "image_px": 100, "invert": False, "title": "Try me", "served": None,
    }  # fmt: skip
    _mount_fresh(page, data)
    page.wait_for_function("window.__calls.length > 0")
    ((key, ask),) = page.evaluate("window.__calls")
    assert key == "event" and ask["action"] == "weights" and ask["need"] == payload["id"]
    assert isinstance(ask["req"], str) and ask["model_id"] is None
    root = page.get_by_test_id("vae-live-sliders")
    assert root.get_attribute("data-ready") == "false"
    # A run that does not answer the request yet (served is older): no second request.
    page.evaluate("(d) => window.__mountAgain(d)", {**data, "title": "other"})
    page.wait_for_timeout(100)
    assert page.evaluate("window.__calls.length") == 1
    # The run that answers: bytes (here handed over as base64 and turned back into bytes).
    raw = envelope({**data, "served": ask["req"]}, payload)
    page.evaluate(
        """(b64) => window.__mountAgain(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)))""",
        base64.b64encode(raw).decode("ascii"),
    )
    assert root.get_attribute("data-ready") == "true"
    assert root.get_attribute("data-model-id") == payload["id"]
    assert page.evaluate("window.__calls.length") == 1
    canvas = page.get_by_test_id("vae-live-canvas")
    got = canvas.evaluate(
        "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"
    )
    ref = decode_exported_numpy(payload, np.array(data["values"]))[0]  # (H, W), grey
    assert np.abs(np.array(got).reshape(-1, 4)[:, 0] - np.round(ref.ravel() * 255)).max() <= 1


def test_lost_weights_run_is_asked_again(page) -> None:  # noqa: ANN001
    """Python served the request but that run was replaced before it was shown (served says
    so, no weights came): the view asks again with a new token."""
    payload = export_decoder(seeded_model(CONFIGS["conv_28x20_crop"], seed=6)).to_payload()
    data = {
        "mode": "sliders", "key": "t3", "model": _header(payload), "dims": [0, 1, 2],
        "collapsed": [], "labels": {}, "values": [0.0, 0.0, 0.0], "cmd": "c", "range_sd": 3.0,
        "step": 0.01, "image_px": 100, "invert": False, "title": None, "served": None,
    }  # fmt: skip
    _mount_fresh(page, data)
    page.wait_for_function("window.__calls.length > 0")
    first = page.evaluate("window.__calls[0][1].req")
    page.evaluate("(d) => window.__mountAgain(d)", {**data, "served": first})
    asks = page.evaluate("window.__calls.map(([k, v]) => v.req)")
    assert len(asks) == 2 and asks[1] != first


@pytest.mark.parametrize("name", ["mlp_28x28", "conv_28x28"])
def test_js_decoder_float16_storage_within_budget(page, name: str) -> None:  # noqa: ANN001
    """float16 storage, float32 compute: within 2e-3 of PyTorch per pixel, and equal (to
    float32 rounding) to the numpy reference decode of the same float16 weights."""
    model = seeded_model(CONFIGS[name])
    payload = export_decoder(model, dtype="float16").to_payload()
    got, ref, z = _js_and_torch(page, model, payload, seed=8)
    same = decode_exported_numpy(payload, z).reshape(20, -1)
    assert np.abs(got - same).max() <= 1e-4
    assert np.abs(got - ref).max() <= 2e-3


def test_plane_pin_is_one_event_with_the_lecture_names(page) -> None:  # noqa: ANN001
    """A click pins: the browser reports ONE ``event`` (pinned, pinned_xy, cmd, model_id), so
    no rerun can see a pin without its command; the readouts name dimensions t₁, t₂, …"""
    payload = export_decoder(seeded_model(CONFIGS["conv_28x20_crop"])).to_payload()
    _preload(page, payload)
    data = {
        "mode": "plane", "key": "p", "model": _header(payload), "points_xy": [0.0, 0.0, 1.0, -1.0],
        "point_labels": [0, 1], "points_hash": "h", "label_colors": {}, "label_names": {},
        "dims": [2, 0], "base_latent": [0.25, 0.5, 0.0], "extent": [-3.0, 3.0, -3.0, 3.0],
        "cmd": "c1", "pinned_xy": None, "plane_px": 300, "image_px": 100, "invert": False,
    }  # fmt: skip
    page.evaluate(
        """(data) => {
            const host = document.createElement("div");
            document.body.replaceChildren(host);
            const root = host.attachShadow({mode: "open"});
            window.__calls = [];
            window.__liveDecoder({data, parentElement: root, key: "k3", name: "n",
                setStateValue: (k, v) => window.__calls.push([k, v]), setTriggerValue: () => {}});
        }""",
        data,
    )
    plane = page.get_by_test_id("vae-plane-canvas")
    box = plane.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.25)
    ((key, event),) = page.evaluate("window.__calls")
    assert key == "event" and event["action"] == "pin"
    assert event["cmd"] == "c1" and event["model_id"] == payload["id"]
    x, y = event["pinned_xy"]
    assert x == pytest.approx(1.5, abs=0.05) and y == pytest.approx(1.5, abs=0.05)
    assert event["pinned"] == pytest.approx([y, 0.5, x])  # dims (2, 0); t₂ from base_latent
    coords = page.get_by_test_id("vae-plane-coords").text_content()
    assert coords.startswith("t₃ +1.5") and "t₁ +1.5" in coords
    assert page.get_by_test_id("vae-plane-pinned").text_content().startswith("pinned: t₃ +1.5")


def test_entry_mounted_before_the_code_waits_for_it(chromium_browser) -> None:  # noqa: ANN001
    """Streamlit loads the component's entry and the sidebar's code element independently: an
    entry mounted first shows a loading line, and when the code arrives it mounts the view with
    the LATEST data (a second run came meanwhile), styled by the sheet the code puts in the
    shadow root. A mount removed before the code arrived stays removed."""
    payload = export_decoder(seeded_model(CONFIGS["mlp_28x28"], seed=7)).to_payload()
    data = {
        "mode": "sliders", "key": "w", "model": _header(payload), "dims": [0, 1], "collapsed": [],
        "labels": {}, "values": [0.0, 0.0], "cmd": "c", "range_sd": 3.0, "step": 0.01,
        "image_px": 100, "invert": False, "title": None, "served": None,
    }  # fmt: skip
    pg = chromium_browser.new_page(viewport={"width": 900, "height": 700})
    try:
        pg.set_content("<!doctype html><html><body><div id=a></div><div id=b></div></body></html>")
        pg.evaluate(
            """async ([entry, d1, d2]) => {
                const url = URL.createObjectURL(new Blob([entry], {type: "text/javascript"}));
                const mount = (await import(url)).default;
                const call = (id, data) => mount({data, parentElement: window[id + "Root"], key: "k",
                    name: "n", setStateValue: () => {}, setTriggerValue: () => {}});
                window.aRoot = document.getElementById("a").attachShadow({mode: "open"});
                window.bRoot = document.getElementById("b").attachShadow({mode: "open"});
                call("a", d1);
                call("a", d2);  // the next run, before the code has arrived
                const cleanupB = call("b", d1);
                cleanupB();  // unmounted before the code arrived
            }""",
            [entry_js(), data, {**data, "key": "second"}],
        )
        loading = pg.evaluate("aRoot.querySelector('[data-testid=vae-live-loading]').textContent")
        assert "Loading the live decoder" in loading
        assert pg.evaluate("aRoot.querySelector('[data-testid=vae-live-sliders]')") is None
        pg.evaluate(
            "async (js) => { await import(URL.createObjectURL(new Blob([js], {type: 'text/javascript'}))); }",
            component_js(),
        )
        state = pg.evaluate(
            """() => {
                const view = aRoot.querySelector('[data-testid=vae-live-sliders]');
                return {
                    view: !!view,
                    key: view ? view.dataset.key : null,
                    loading: !!aRoot.querySelector('[data-testid=vae-live-loading]'),
                    sheets: aRoot.querySelectorAll('style[data-vae-live]').length,
                    styled: view ? getComputedStyle(view).containerType : null,
                    b: bRoot.childElementCount,
                };
            }"""
        )
        assert state == {"view": True, "key": "second", "loading": False, "sheets": 1, "styled": "inline-size", "b": 0}, state
    finally:
        pg.close()


def test_plane_draws_points_sent_as_base64(page) -> None:  # noqa: ANN001
    """Test points travel as base64 float32/int32 (``component.wire_points``): each lands on
    its own pixel in its label's colour, and the legend lists exactly the labels sent."""
    from pages._lib.live.component import wire_points

    payload = export_decoder(seeded_model(CONFIGS["conv_28x20_crop"])).to_payload()
    _preload(page, payload)
    points = wire_points([[-1.5, 1.5], [float("nan"), 0.0], [1.5, -1.5]], [5, 7, 9])
    assert isinstance(points["points_xy"], str)
    data = {
        "mode": "plane", "key": "b64", "model": _header(payload), **points,
        "label_colors": {"5": "#ff0000", "9": "#0000ff"}, "label_names": {"5": "five", "9": "nine"},
        "dims": [0, 1], "base_latent": [0.0, 0.0, 0.0], "extent": [-3.0, 3.0, -3.0, 3.0],
        "cmd": "c1", "pinned_xy": None, "plane_px": 300, "image_px": 100, "invert": False,
    }  # fmt: skip
    _mount_fresh(page, data)
    page.wait_for_timeout(100)
    legend = page.evaluate(
        "[...window.__root.querySelectorAll('.vae-legend-item')].map(e => e.textContent)"
    )
    assert legend == ["five", "nine"]  # 7 was the NaN point's label: dropped with it
    rgb = page.evaluate(
        """() => {
            const c = window.__root.querySelector('[data-testid=vae-plane-canvas]');
            const g = c.getContext('2d');
            const at = (fx, fy) => Array.from(g.getImageData(Math.round(fx * c.width), Math.round(fy * c.height), 1, 1).data.slice(0, 3));
            return {red: at(0.25, 0.25), blue: at(0.75, 0.75), empty: at(0.25, 0.75)};
        }"""
    )
    r, g, b = rgb["red"]
    assert r > 180 and g < 120 and b < 120, rgb
    r, g, b = rgb["blue"]
    assert b > 180 and r < 120 and g < 120, rgb
    r, g, b = rgb["empty"]  # no point there: neither colour (the canvas is clear there)
    assert r < 100 and b < 100, rgb
