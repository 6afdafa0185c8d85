"""The Latent map (a real click on a plotly point), "Your image" (uploads through the file
chooser) and the Noise ε page (Resample ε), in a real browser."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch.distributions import Normal

from bench.harness.server import DEFAULT_MODEL
from vae.core.checkpoints import load_checkpoint
from vae.data.registry import upload_style_for
from vae.data.upload import preprocess_upload

from .conftest import (
    act,
    act_in_fragment,
    assert_no_error,
    errors_on,
    open_page,
    screenshot,
    wait_images,
)

pytestmark = pytest.mark.e2e

UPLOAD_INPUT = '[data-testid="stFileUploader"] input[type="file"]'


def _digit_png() -> bytes:
    """A hand-drawn-looking "7": dark strokes on white paper, like a phone photo of a drawing."""
    im = Image.new("L", (120, 140), 235)
    draw = ImageDraw.Draw(im)
    draw.line([(25, 25), (95, 25), (50, 120)], fill=20, width=12)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _direct_elbo(checkpoint: Path, n_samples: int = 8, seed: int = 0) -> float:
    """ELBO of ``_digit_png()`` preprocessed for ``checkpoint``'s model, computed directly."""
    ckpt = load_checkpoint(checkpoint)
    model = ckpt.build_model()
    assert ckpt.model_config.likelihood == "bernoulli"
    pre = preprocess_upload(_digit_png(), ckpt.model_config.image_shape, style=upload_style_for(ckpt.dataset))
    x = torch.as_tensor(pre.model_input, dtype=torch.float32)[None]
    with torch.no_grad():
        mu, logvar = model.encode(x)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn((n_samples, mu.shape[1]), generator=torch.Generator().manual_seed(seed))
        logits = model.decode(mu + std * eps)
        log_px = -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").flatten(1).sum(1)
        kl = torch.distributions.kl_divergence(Normal(mu, std), Normal(0.0, 1.0)).sum()
    return float(log_px.mean() - kl)


def _captions(page) -> list[str]:  # noqa: ANN001
    return page.locator("[data-testid=stMain] [data-testid=stImageCaption]").all_inner_texts()


def test_clicking_a_point_on_the_latent_map_shows_it_through_the_model(page) -> None:  # noqa: ANN001
    open_page(page, "Latent map")
    chart = page.locator("[data-testid=stPlotlyChart]").first
    chart.locator(".scatterlayer .trace .points path.point").first.wait_for()
    heading = page.locator("[data-testid=stMain] h3", has_text="Test image #")
    assert heading.inner_text().startswith("Test image #0")
    before_images = wait_images(page, 3)

    # A point well inside the plot (not under the legend), hovered first as a user would.
    points = chart.locator(".scatterlayer .trace:nth-child(3) .points path.point")
    target = None
    plot_box = chart.locator(".nsewdrag").first.bounding_box()
    for i in range(min(points.count(), 40)):
        b = points.nth(i).bounding_box()
        if b and plot_box["x"] + 20 < b["x"] < plot_box["x"] + plot_box["width"] - 20 and plot_box["y"] + 20 < b["y"] < plot_box["y"] + plot_box["height"] - 20:
            target = (b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
            break
    assert target is not None, "no scatter point found inside the plot area"
    page.mouse.move(*target)
    hover = chart.locator(".hoverlayer .hovertext").first
    hover.wait_for(timeout=10_000)
    label = hover.text_content()  # an SVG <g>: no innerText
    m = re.search(r"test image #(\d+)", label)
    assert m, f"hover label: {label!r}"
    wanted = int(m.group(1))
    assert wanted != 0

    act_in_fragment(page, lambda: page.mouse.click(*target))  # the map reruns as a fragment
    page.wait_for_function(
        "(n) => [...document.querySelectorAll('[data-testid=stMain] h3')].some(h => h.innerText.startsWith('Test image #' + n + ':'))",
        arg=wanted, timeout=30_000,
    )  # fmt: skip
    caps = _captions(page)
    assert "the image x" in caps and "reconstruction decode(m)" in caps, caps
    assert page.get_by_label(re.compile(r"pick test image #")).input_value() == str(wanted)
    after_images = wait_images(page, 3)
    assert len(after_images) >= 3 and set(after_images) != set(before_images)
    assert_no_error(page)
    screenshot(page, "latent-map-clicked")


def test_uploaded_image_is_reconstructed(page, tmp_path, app_checkpoints) -> None:  # noqa: ANN001
    open_page(page, "Your image")
    upload = tmp_path / "my-seven.png"
    upload.write_bytes(_digit_png())
    act(page, lambda: page.locator(UPLOAD_INPUT).set_input_files(str(upload)))
    page.wait_for_selector("[data-testid=stImageCaption] >> text=reconstruction decode(m)")
    caps = _captions(page)
    assert any(c.startswith("your file (PNG, 120x140)") for c in caps), caps
    assert any(c.startswith("model input x") for c in caps), caps
    # Every image is loaded and has pixels: the original, the input, the reconstruction and
    # the grid of 8 samples.
    assert len(wait_images(page, 4)) >= 4
    # The ELBO in large type (an st.metric) equals a direct torch computation on the same
    # model input: 8 samples t = m + s * eps, eps from a generator seeded 0 (the page's first
    # seed), Bernoulli log-likelihood summed over pixels, closed-form KL to N(0, I).
    metric = page.locator("[data-testid=stMetric]", has_text="ELBO (nats)")
    assert metric.count() == 1
    shown = float(metric.locator("[data-testid=stMetricValue]").inner_text().replace("−", "-"))
    assert shown == pytest.approx(_direct_elbo(app_checkpoints / f"{DEFAULT_MODEL}.pt"), abs=0.051)
    # Where it lands: the map with the star (below the fold; plotly loads when scrolled to).
    page.get_by_text("Where it lands in latent space").scroll_into_view_if_needed()
    # Two charts: the histogram of the test images' ELBOs (its context), then the map.
    charts = page.locator("[data-testid=stPlotlyChart]")
    chart = charts.last
    # Every trace of the map, the star included, is WebGL (the star is drawn over the points):
    # wait for the legend's last entry, the star's, and the WebGL canvas it is drawn on.
    chart.locator(".legend .traces").last.wait_for()
    assert charts.count() == 2
    assert "your image" in charts.first.text_content()  # the histogram's marker
    assert chart.locator(".legend .traces").last.text_content().strip() == "your image"
    assert chart.locator("canvas.gl-canvas-context").count() >= 1
    assert_no_error(page)
    screenshot(page, "your-image-uploaded")


def test_corrupt_upload_gives_the_apps_own_message(page, tmp_path) -> None:  # noqa: ANN001
    open_page(page, "Your image")
    bad = tmp_path / "broken.png"
    bad.write_bytes(_digit_png()[:60])  # a PNG cut short
    act(page, lambda: page.locator(UPLOAD_INPUT).set_input_files(str(bad)))
    errs = errors_on(page)
    assert page.locator('[data-testid="stException"]').count() == 0, errs
    assert len(errs) == 1 and "damaged or incomplete" in errs[0], errs
    assert "Traceback" not in page.locator("[data-testid=stMain]").inner_text()
    assert not _captions(page), "no reconstruction of a broken file"
    screenshot(page, "your-image-corrupt")


def test_resample_eps_changes_the_samples(page) -> None:  # noqa: ANN001
    open_page(page, "Noise ε: the reparameterization trick")
    seed = page.get_by_role("spinbutton", name="noise seed")
    table = page.locator("[data-testid=stMain] .katex-html")

    def state() -> tuple[str, list[str], list[str]]:
        return seed.input_value(), table.all_inner_texts(), wait_images(page, 1)

    s0, latex0, imgs0 = state()
    act(page, page.get_by_role("button", name=re.compile("Resample ε")).click)
    s1, latex1, imgs1 = state()
    assert int(s1) == int(s0) + 1
    assert latex1 != latex0, "the equation t = m + s ⊙ ε did not change"
    # m and s (the encoder's numbers) stay; ε and t change.
    assert latex1[1] == latex0[1], "m and s must not depend on ε"
    assert imgs1 != imgs0, "the decoded samples did not change"
    caption = page.get_by_text(re.compile(r"Pixel spread across the 16 decoded samples")).inner_text()
    assert float(re.search(r"samples: ([\d.]+)", caption).group(1)) > 0
    assert_no_error(page)
    screenshot(page, "noise-resampled")

