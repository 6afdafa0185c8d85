"""Upload preprocessing, values where the mutants of ``vae/data/upload.py`` survived the other
tests (issue 18; see tests/MUTATION.md): the centre crop of a tall photo, row for row, and a
thin-stroke digit still filling MNIST's 20-pixel box after its strokes are thickened."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tests.image_makers import encode
from tests.test_images import draw_digit
from vae.data.upload import preprocess_upload


def test_a_tall_face_keeps_its_middle_rows() -> None:
    """20 x 60 px for a 20 x 28 model: the centre 28 rows (16-43), no resize needed."""
    a = (np.arange(60)[:, None] * 4 + np.zeros((1, 20))).astype(np.uint8)  # row r is 4r
    out = preprocess_upload(encode(Image.fromarray(a)), (1, 28, 20), style="face")
    np.testing.assert_allclose(out.model_input[0], a[16:44] / 255, atol=1e-6, rtol=0)
    assert out.steps == ("cropped the centre to 20x28 (20:28)",)


def test_a_thickened_thin_digit_still_fills_mnists_20_pixel_box() -> None:
    """MNIST digits fit a 20 x 20 box: after thickening (which pads the strokes to dilate them)
    the digit's long side is still 20 pixels of ink, not 20 pixels of ink plus margin."""
    strokes = draw_digit((800, 600), (0.35, 0.2, 0.65, 0.8), width=8)  # 8 px on a 365 px digit
    out = preprocess_upload(encode(Image.fromarray(np.asarray(strokes))), (1, 28, 28))
    assert any("thickened" in s for s in out.steps)
    rows, cols = np.nonzero(out.model_input[0] > 0.5)
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (20, 14)
