"""The Draw page's in-browser preprocessing (pages/_lib/live/draw_prep.js) against the server's
(``vae.data.upload.preprocess_upload``) on the same drawings, in real Chromium.

Each stroke set is drawn on a 280x280 canvas the way the Draw view draws (white, round caps,
on black); the browser preprocesses the canvas pixels, and Python preprocesses the canvas's PNG
as if it had been uploaded. Asserted: the largest pixel difference, and the distance between
the two inputs' encoder means (bundled mnist_2d), in prior SD units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.test_live_decoder_browser import page  # noqa: F401 - the shared blank page
from vae.core.checkpoints import load_checkpoint
from vae.data.upload import preprocess_upload

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
SIZE = 280
MAX_PIXEL_DIFF = 0.1
MAX_MEAN_DIST = 0.05  # prior SD

# Polylines in canvas pixels, and the pen width.
CIRCLE = [(140 + 80 * np.cos(a), 140 + 95 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 40)]
STROKES = {
    "line": ([[(140, 40), (140, 240)]], 22),
    "circle": ([CIRCLE], 22),
    "seven": ([[(70, 50), (210, 50), (120, 250)], [(110, 150), (190, 150)]], 24),
    "thin_two": ([[(80, 80), (140, 40), (200, 90), (80, 230), (210, 230)]], 6),
    "empty": ([], 22),
    "dot": ([[(100, 120), (100, 120)]], 22),
    "border": ([[(0, 0), (279, 279)], [(279, 0), (200, 100)]], 30),
    "full": ([[(x, 0), (x, 279)] for x in range(0, 281, 20)], 40),
}

DRAW = """([lines, width, size]) => {
  const c = document.createElement("canvas");
  c.width = c.height = size;
  const g = c.getContext("2d");
  g.fillStyle = "#000"; g.fillRect(0, 0, size, size);
  g.strokeStyle = "#fff"; g.fillStyle = "#fff"; g.lineWidth = width;
  g.lineCap = "round"; g.lineJoin = "round";
  for (const pts of lines) {
    g.beginPath();
    g.moveTo(pts[0][0], pts[0][1]);
    for (const p of pts.slice(1)) g.lineTo(p[0], p[1]);
    if (pts.length === 2 && pts[0][0] === pts[1][0] && pts[0][1] === pts[1][1]) {
      g.arc(pts[0][0], pts[0][1], width / 2, 0, 2 * Math.PI); g.fill();
    } else g.stroke();
  }
  const px = g.getImageData(0, 0, size, size).data;
  const values = new Array(size * size);
  for (let i = 0; i < values.length; i++) values[i] = px[4 * i] / 255;
  const prep = window.__vaePrepare(values, size, size, "digit", 28, 28);
  return {png: c.toDataURL("image/png"), x: prep.x, blank: prep.blank};
}"""


@pytest.fixture(scope="module")
def mnist_2d() -> torch.nn.Module:
    return load_checkpoint(REPO / "checkpoints" / "mnist_2d.pt").build_model()


@pytest.mark.parametrize("name", list(STROKES))
def test_browser_and_server_preprocess_a_drawing_alike(page, mnist_2d, name: str) -> None:  # noqa: ANN001, F811
    import base64

    lines, width = STROKES[name]
    lines = [[[float(x), float(y)] for x, y in pts] for pts in lines]
    got = page.evaluate(DRAW, [lines, width, SIZE])
    png = base64.b64decode(got["png"].split(",", 1)[1])
    server = preprocess_upload(png, (1, 28, 28), style="digit")
    js = np.asarray(got["x"], dtype=np.float32).reshape(1, 28, 28)
    diff = float(np.abs(js - server.model_input).max())
    with torch.no_grad():
        mu, _ = mnist_2d.encode(torch.from_numpy(np.stack([js, server.model_input])))
    dist = float((mu[0] - mu[1]).norm())
    print(f"{name}: max pixel diff {diff:.2e}, mean distance {dist:.2e} prior SD")
    assert got["blank"] == server.blank
    assert diff <= MAX_PIXEL_DIFF
    assert dist <= MAX_MEAN_DIST
    if name in ("empty", "full"):
        assert server.blank and not js.any()
    else:
        assert js.sum() > 5  # something was drawn and survived
