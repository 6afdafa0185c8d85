"""The upload limit through a real browser and server: a file of exactly 10 MiB (the README's
"at most 10 MiB") is accepted; one byte more gets the app's message, never a crash.

With ``server.maxUploadSize = 10`` the browser (MB = 10**6 bytes outside Windows) and the
server (the whole multipart request compared with it) both refused a 10 MiB file.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from vae.data.images import MAX_UPLOAD_BYTES

from .conftest import act, assert_no_error, errors_on, open_page, wait_idle

UPLOAD_INPUT = '[data-testid="stFileUploader"] input[type="file"]'


def _png_of_size(n: int) -> bytes:
    """A valid 600x600 noise PNG padded after its end marker to exactly ``n`` bytes (decoders
    ignore what follows IEND)."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (600, 600), dtype=np.uint8)).save(buf, "PNG")
    data = buf.getvalue()
    return data + bytes(n - len(data))


def test_a_file_of_exactly_10_mib_is_accepted_and_one_byte_more_is_refused(page, tmp_path) -> None:  # noqa: ANN001
    open_page(page, "Your image")
    exact = tmp_path / "exactly-10MiB.png"
    exact.write_bytes(_png_of_size(MAX_UPLOAD_BYTES))
    act(page, lambda: page.locator(UPLOAD_INPUT).set_input_files(str(exact)))
    page.wait_for_selector("[data-testid=stImageCaption] >> text=reconstruction decode(m)")
    assert_no_error(page)
    assert "your file (PNG, 600x600)" in page.locator("[data-testid=stMain]").inner_text()
    over = tmp_path / "over.png"
    over.write_bytes(_png_of_size(MAX_UPLOAD_BYTES + 1))
    act(page, lambda: page.locator(UPLOAD_INPUT).set_input_files(str(over)))
    # Replacing the file can take two runs (the old file removed: no error yet; then the new
    # one): on a loaded machine ``act`` may return after the first, so wait for the message.
    page.wait_for_selector('[data-testid="stAlertContentError"]', timeout=60_000)
    wait_idle(page)
    errors = errors_on(page)
    assert len(errors) == 1 and "the limit is 10 MB" in errors[0], errors
    assert "reconstruction decode(m)" not in page.locator("[data-testid=stMain]").inner_text()
