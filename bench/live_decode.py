"""Live decoding in the browser vs server-side decoding, measured in a real Chromium.

Starts ``streamlit run app.py`` headless on a free port with ``VAE_CHECKPOINT_DIR`` pointing at
a temporary folder holding an MLP and a conv model, opens the Latent sliders page with
Playwright and drags one slider with 200 mouse-move steps. For every input event the component
records the time from the event to the canvas being painted (``window.__vaeTimings``); printed
as p50 / p95 / max per architecture, next to a stricter clock (the event's own timestamp to
the next animation frame) and the server's CPU time (user + system, its threads and children,
from /proc) consumed during the drag and by the one rerun after the release.

For comparison, the same drags go through a plain ``st.slider`` + ``st.image`` page (written
to the temp folder, decoding with PyTorch on the server): the time from the release to the new
image shown (src changed and the image loaded), which is the earliest a native slider can
show anything.

    python bench/live_decode.py [--steps 200] [--native-drags 10] [--digits]
    python bench/live_decode.py --screenshot docs/sliders.png [--checkpoint checkpoints/mnist_32.pt]

Models: the bundled ``checkpoints/mnist_2d.pt`` (MLP, copied; else the first loadable bundled
MNIST MLP) and a conv (32, 64 channels,
8-D latent) trained here for a minute on a 6,000-image MNIST subset; with ``--digits`` or
without MNIST, both are trained here in seconds on scikit-learn's 8x8 digits (then the
timings say little about real image sizes). The output says which were used.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

from _common import REPO  # puts the repo root on sys.path

from bench.harness.browser import IDLE, launch_chromium
from bench.harness.server import running_server

READY = '[data-testid="vae-live-sliders"][data-ready="true"]'
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The comparison page: what a page without the live component does. It imports the app's own
# decoding (``vae.app.inference``), so server-side work is exactly what the fallback would do.
NATIVE_PAGE = textwrap.dedent(
    """
    import os
    import sys

    sys.path.insert(0, {repo!r})
    import numpy as np
    import streamlit as st

    from vae.app import inference
    from vae.core.checkpoints import load_checkpoint
    from vae.data.display import to_display


    @st.cache_resource
    def load(path):
        inference.limit_threads()
        return load_checkpoint(path).build_model()


    model = load(os.environ["BENCH_CHECKPOINT"])
    c, h, w = model.config.image_shape
    left, right = st.columns([1, 2])
    with right:
        z = [st.slider(f"z{{i}}", -3.0, 3.0, 0.0, 0.01, key=f"z{{i}}") for i in range(model.latent_dim)]
    with left:
        img = inference.decode(model, np.asarray(z, dtype=np.float32)[None])[0]
        st.image(to_display(img, max(1, 256 // max(h, w))), width=256)
    """
)


# --------------------------------------------------------------------------- processes


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` (all threads), its reaped children (cutime, cstime) and its
    live descendants, from /proc."""

    def stat(p: int) -> list[str] | None:
        try:
            text = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            return None
        return text[text.rindex(")") + 2 :].split()  # fields from 3 on; comm may hold spaces

    def descendants(root: int) -> list[int]:
        children: dict[int, list[int]] = {}
        for d in Path("/proc").iterdir():
            if d.name.isdigit() and (f := stat(int(d.name))) is not None:
                children.setdefault(int(f[1]), []).append(int(d.name))
        out, todo = [], [root]
        while todo:
            kids = children.get(todo.pop(), [])
            out += kids
            todo += kids
        return out

    total = 0
    own = stat(pid)
    if own is not None:
        total += sum(int(v) for v in own[11:15])  # utime stime cutime cstime
    for kid in descendants(pid):
        if (f := stat(kid)) is not None:
            total += int(f[11]) + int(f[12])
    return total / CLK_TCK


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 900) -> Iterator[object]:
    """A fresh headless Chromium page (Playwright)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def wait_idle(page, timeout_ms: int = 120_000) -> None:  # noqa: ANN001
    # A rerun may not have started yet right after an event: give it a moment to.
    page.wait_for_timeout(150)
    page.wait_for_selector(IDLE, timeout=timeout_ms)


# --------------------------------------------------------------------------- models


def _bundled_mnist_mlp():  # noqa: ANN202
    """The first loadable bundled MNIST MLP (mnist_2d preferred), as (path, config), or None."""
    from vae.core.checkpoints import CheckpointError, load_checkpoint

    for name in ("mnist_2d", "mnist_32", "mnist_noisy_ae_2d", "mnist_ae_2d"):
        path = REPO / "checkpoints" / f"{name}.pt"
        try:
            ckpt = load_checkpoint(path)
        except (CheckpointError, OSError):
            continue
        if ckpt.dataset == "mnist" and ckpt.model_config.architecture == "mlp":
            return path, ckpt.model_config
    return None


def make_models(folder: Path, digits: bool) -> dict[str, str]:
    """Write the MLP and conv checkpoints into ``folder``; returns {arch: description}."""
    from vae.core.checkpoints import save_checkpoint
    from vae.core.fit import TrainConfig, fit
    from vae.core.model import VAEConfig
    from vae.data.registry import Dataset, dataset_available, load_dataset

    use_mnist = not digits and dataset_available("mnist")
    out = {}
    bundled = _bundled_mnist_mlp() if use_mnist else None
    if bundled is not None:
        path, cfg = bundled
        shutil.copy(path, folder / "mlp.pt")
        sizes = "-".join(map(str, (cfg.latent_dim, *reversed(cfg.hidden), 784)))
        out["mlp"] = f"bundled checkpoints/{path.name} (MNIST 28x28, MLP decoder {sizes})"
    if use_mnist:
        full = load_dataset("mnist", download=False)
        n = 6000
        data = Dataset(
            "mnist", full.train_x[:n], full.train_y[:n], full.test_x, full.test_y, full.label_names
        )
        cfg = VAEConfig(latent_dim=8, architecture="conv", conv_channels=(32, 64), hidden=(256,))
        tc = TrainConfig(epochs=2, batch_size=128, lr=2e-3, binarize=True)
        where = (
            f"MNIST 28x28, conv 32-64 channels, 8-D latent, 2 epochs on {n} images, trained here"
        )
    else:
        data = load_dataset("digits")
        cfg = VAEConfig(
            image_shape=(1, 8, 8), latent_dim=4, architecture="conv", conv_channels=(16, 32)
        )
        tc = TrainConfig(epochs=10, batch_size=128, lr=3e-3)
        where = "digits 8x8, conv 16-32 channels, 4-D latent, trained here"
    t0 = time.perf_counter()
    model, _ = fit(cfg, tc, data, "cpu")
    save_checkpoint(folder / "conv.pt", model, dataset=data.name)
    out["conv"] = f"{where} ({time.perf_counter() - t0:.0f} s)"
    if "mlp" not in out:
        data = load_dataset("digits")
        cfg = VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(256, 128))
        model, _ = fit(cfg, TrainConfig(epochs=20, batch_size=128, lr=3e-3), data, "cpu")
        save_checkpoint(folder / "mlp.pt", model, dataset="digits")
        out["mlp"] = "digits 8x8, MLP 2-128-256-64 decoder, trained here"
    return out


# --------------------------------------------------------------------------- measurements


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def thumb_path(page, slider, steps: int, frac: float = 0.35):  # noqa: ANN001
    """Mouse positions for a drag: from the thumb (value 0: the track's middle) to ``frac``
    of the track to the right, in ``steps`` moves."""
    box = slider.bounding_box()
    x0, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    return x0, y, x0 + frac * box["width"]


# A second, stricter clock than the component's own: from the input event's timestamp (when
# the browser created it, so queueing counts) to the next animation frame, which is the first
# frame that can show the repainted canvas. Capture phase on document: input events are
# composed, so they reach it from inside the component's shadow root.
FRAME_PROBE = """() => {
  window.__frames = [];
  document.addEventListener("input", (e) => {
    const t = e.timeStamp;
    requestAnimationFrame(() => window.__frames.push(performance.now() - t));
  }, true);
}"""


def live_drag(url: str, pid: int, steps: int) -> dict[str, float]:
    with chromium() as page:
        page.goto(f"{url}/sliders")
        page.wait_for_selector(READY, timeout=180_000)
        wait_idle(page)
        slider = page.locator('[data-testid="vae-slider"]').first
        slider.scroll_into_view_if_needed()
        page.evaluate(FRAME_PROBE)
        # Warm-up drag (JIT, first paint of the decoded canvas), then the measured one.
        for measured in (False, True):
            x0, y, x1 = thumb_path(page, slider, steps)
            if measured:
                x0, x1 = x1, x0 - (x1 - x0)  # back across 0 to the other side
            page.mouse.move(x0, y)
            page.mouse.down()
            page.evaluate("window.__vaeTimings.length = 0; window.__frames = []")
            cpu0, t0 = cpu_seconds(pid), time.perf_counter()
            page.mouse.move(x1, y, steps=steps)
            cpu1, t1 = cpu_seconds(pid), time.perf_counter()
            timings = page.evaluate("window.__vaeTimings.slice()")
            frames = page.evaluate("window.__frames.slice()")
            page.mouse.up()
            wait_idle(page)
            cpu2 = cpu_seconds(pid)
        released = page.get_by_test_id("vae-latent-vector").get_attribute("data-latent")
    return {
        "frame_p50": statistics.median(frames),
        "frame_p95": pct(frames, 95),
        "events": len(timings),
        "p50": statistics.median(timings),
        "p95": pct(timings, 95),
        "max": max(timings),
        "drag_s": t1 - t0,
        "cpu_drag": cpu1 - cpu0,
        "cpu_release": cpu2 - cpu1,
        "released": released,
    }


INSTRUMENT = """() => {
  window.__rel = 0; window.__src = 0; window.__shown = 0;
  document.addEventListener("pointerup", () => { window.__rel = performance.now(); }, true);
  new MutationObserver((records) => {
    for (const r of records) {
      const img = r.target;
      if (img.tagName !== "IMG" || !img.closest('[data-testid="stImage"]')) continue;
      window.__src = performance.now();
      const done = () => { window.__shown = performance.now(); };
      if (img.complete) done(); else img.addEventListener("load", done, { once: true });
    }
  }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["src"] });
}"""


def native_drags(url: str, pid: int, steps: int, n: int) -> dict[str, float]:
    with chromium() as page:
        page.goto(url)
        page.wait_for_selector('[data-testid="stImage"] img', timeout=180_000)
        wait_idle(page)
        page.evaluate(INSTRUMENT)
        # Streamlit 1.67's slider (react-aria): the thumb wraps a hidden <input type=range>.
        thumb = page.locator('[data-testid="stSlider"] div:has(> div > input[type="range"])').first
        track = page.locator('[data-testid="stSlider"] [role="group"] > div').first
        src_ms, shown_ms, cpu = [], [], []
        for k in range(n + 1):  # the first drag warms up (caches, first decode)
            tb, box = thumb.bounding_box(), track.bounding_box()
            x0, y = tb["x"] + tb["width"] / 2, tb["y"] + tb["height"] / 2
            x1 = x0 + (0.3 if k % 2 == 0 else -0.3) * box["width"]
            old = page.locator('[data-testid="stImage"] img').first.get_attribute("src")
            page.mouse.move(x0, y)
            page.mouse.down()
            page.mouse.move(x1, y, steps=steps)
            page.evaluate("window.__shown = 0; window.__src = 0")
            c0 = cpu_seconds(pid)
            page.mouse.up()
            page.wait_for_function(
                "(old) => window.__shown > window.__rel && "
                "document.querySelector('[data-testid=\"stImage\"] img').getAttribute('src') !== old",
                arg=old,
                timeout=60_000,
            )
            wait_idle(page)
            if k:
                rel, src, shown = page.evaluate("[window.__rel, window.__src, window.__shown]")
                src_ms.append(src - rel)
                shown_ms.append(shown - rel)
                cpu.append(cpu_seconds(pid) - c0)
    return {
        "n": n,
        "src_p50": statistics.median(src_ms),
        "shown_p50": statistics.median(shown_ms),
        "shown_max": max(shown_ms),
        "cpu_per_release": statistics.mean(cpu),
    }


def screenshot(checkpoint: Path, out: Path, test_image: int = 3) -> None:
    """The README's picture of the sliders page (1400x900): ``checkpoint`` as the only model,
    reset to the mean of a test image, caught mid-drag on the most active slider."""
    tmp = Path(tempfile.mkdtemp(prefix="sliders-shot-"))
    try:
        shutil.copy(checkpoint, tmp / checkpoint.name)
        (tmp / "default.txt").write_text(checkpoint.stem)
        env = {"VAE_CHECKPOINT_DIR": str(tmp)}
        with running_server(script=REPO / "app.py", env=env) as server, chromium() as page:
            page.goto(f"{server.url}/sliders")
            page.wait_for_selector(READY, timeout=180_000)
            wait_idle(page)
            box = page.locator('[data-testid="stNumberInput"] input').first
            box.fill(str(test_image))
            box.press("Enter")
            wait_idle(page)
            name = f"Reset to the mean of test image #{test_image}"
            page.get_by_role("button", name=name).click()
            wait_idle(page)
            slider = page.locator('[data-testid="vae-slider"]').first
            b = slider.bounding_box()
            x = b["x"] + b["width"] * (float(slider.input_value()) + 3) / 6
            y = b["y"] + b["height"] / 2
            page.mouse.move(x, y)
            page.mouse.down()
            page.mouse.move(x + 0.1 * b["width"], y, steps=15)
            page.wait_for_timeout(300)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
            page.mouse.up()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--steps", type=int, default=200, help="mouse-move steps per drag")
    p.add_argument(
        "--native-drags", type=int, default=10, help="measured drags on the st.slider page"
    )
    p.add_argument("--digits", action="store_true", help="train both models on digits (no MNIST)")
    p.add_argument(
        "--workdir", type=Path, default=None,
        help="keep the models here and reuse them on the next run (default: a temp dir, deleted)",
    )  # fmt: skip
    p.add_argument(
        "--screenshot", type=Path, default=None, metavar="PNG",
        help="instead of measuring, save the README's screenshot of the sliders page here",
    )  # fmt: skip
    p.add_argument(
        "--checkpoint", type=Path, default=REPO / "checkpoints" / "mnist_32.pt",
        help="the model in the screenshot (default: the bundled default, mnist_32)",
    )  # fmt: skip
    args = p.parse_args()
    os.environ.setdefault("VAE_DATA_DIR", str(REPO.parent / "shared" / "data"))
    if args.screenshot:
        screenshot(args.checkpoint, args.screenshot)
        print(f"saved {args.screenshot}")
        return

    tmp = args.workdir or Path(tempfile.mkdtemp(prefix="live-decode-bench-"))
    try:
        ck = tmp / "checkpoints"
        ck.mkdir(parents=True, exist_ok=True)
        print("models:")
        if (ck / "models.json").exists():
            models = json.loads((ck / "models.json").read_text())
        else:
            models = make_models(ck, args.digits)
            (ck / "models.json").write_text(json.dumps(models))
        for arch, what in models.items():
            print(f"  {arch:5s} {what}")
        native = tmp / "native_slider_page.py"
        native.write_text(NATIVE_PAGE.format(repo=str(REPO)))
        load = os.getloadavg()
        print(
            f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} / {load[1]:.1f} "
            f"(1 / 5 min) at the start; Chromium headless, software rendering"
        )
        rows = {}
        for arch in ("mlp", "conv"):
            (ck / "default.txt").write_text(arch)
            env = {"VAE_CHECKPOINT_DIR": str(ck)}
            with running_server(script=REPO / "app.py", env=env) as server:
                live = live_drag(server.url, server.pid, args.steps)
            native_env = {**env, "BENCH_CHECKPOINT": str(ck / f"{arch}.pt")}
            with running_server(script=native, env=native_env) as server:
                nat = native_drags(server.url, server.pid, args.steps, args.native_drags)
            print(f"  measured {arch}", file=sys.stderr, flush=True)
            rows[arch] = (live, nat)

        print(f"\nLive sliders page (app.py, /sliders): one drag of {args.steps} mouse-move steps")
        print("  input event -> canvas painted, per event (window.__vaeTimings); and event")
        print("  timestamp -> next animation frame (the first frame that can show it)")
        print(f"  {'arch':5s} {'events':>6s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s} "
              f"{'frame p50':>10s} {'frame p95':>10s} {'drag s':>7s} {'server CPU drag s':>18s} "
              f"{'CPU release rerun s':>20s}")  # fmt: skip
        for arch, (live, _) in rows.items():
            print(f"  {arch:5s} {live['events']:6d} {live['p50']:8.2f} {live['p95']:8.2f} "
                  f"{live['max']:8.2f} {live['frame_p50']:10.1f} {live['frame_p95']:10.1f} "
                  f"{live['drag_s']:7.2f} {live['cpu_drag']:18.3f} {live['cpu_release']:20.3f}")  # fmt: skip
        print(f"  (server CPU is counted in clock ticks of {1000 / CLK_TCK:.0f} ms)")
        print(
            f"\nNative st.slider + st.image page (server decode), {args.native_drags} drags of "
            f"{args.steps} steps: nothing changes until the release, then"
        )
        print(f"  {'arch':5s} {'release->src p50':>17s} {'release->shown p50':>19s} "
              f"{'max':>9s} {'server CPU/release s':>21s}")  # fmt: skip
        for arch, (_, nat) in rows.items():
            print(f"  {arch:5s} {nat['src_p50']:14.1f} ms {nat['shown_p50']:16.1f} ms "
                  f"{nat['shown_max']:6.1f} ms {nat['cpu_per_release']:21.3f}")  # fmt: skip
        worst = max(live["p95"] for live, _ in rows.values())
        print(f"\naim p95 < 16 ms: {'met' if worst < 16 else 'NOT met'} (worst p95 {worst:.2f} ms)")
    finally:
        if args.workdir is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
