"""vae.data.upload: preprocessing behaviour per style, the MNIST reference check, errors, display
helpers, and property-based tests (any mode/size/format; corrupted bytes)."""

from __future__ import annotations

import gzip
import io
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFile, ImageOps

from tests.image_makers import encode, png_header_bomb
from vae.data import display
from vae.data import images as decoder
from vae.data import upload as images
from vae.data.display import tile_images, to_display
from vae.data.images import MAX_PIXELS, MAX_UPLOAD_BYTES
from vae.data.upload import Preprocessed, UploadError, preprocess_upload

REPO = Path(__file__).resolve().parent.parent
MNIST = (1, 28, 28)


def draw_digit(size: tuple[int, int], box: tuple[float, float, float, float], width: int,
               ink: int = 0, paper: int = 255) -> Image.Image:  # fmt: skip
    """A "2"-like digit drawn inside ``box`` (fractions of the canvas)."""
    w, h = size
    x0, y0, x1, y1 = box[0] * w, box[1] * h, box[2] * w, box[3] * h
    im = Image.new("L", size, paper)
    d = ImageDraw.Draw(im)
    d.arc((x0, y0, x1, y0 + (y1 - y0) * 0.6), 180, 360, fill=ink, width=width)
    d.line((x1, y0 + (y1 - y0) * 0.3, x0, y1), fill=ink, width=width)
    d.line((x0, y1, x1, y1), fill=ink, width=width)
    return im


def centre_of_mass(a: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(a.shape)
    return float((a * ys).sum() / a.sum()), float((a * xs).sum() / a.sum())


def first_mnist_test_image(shared_data: Path) -> np.ndarray:
    with gzip.open(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz") as f:
        raw = f.read(16 + 28 * 28)
    return np.frombuffer(raw, np.uint8, offset=16).reshape(28, 28)


# --------------------------------------------------------------------------- the reference


def test_real_mnist_digit_comes_back_unchanged(shared_data: Path) -> None:
    """MNIST digits are already 20x20-in-28x28 and centred by mass: preprocessing one saved
    as PNG must give it back (it gives a mean abs diff of about 0.001)."""
    digit = first_mnist_test_image(shared_data)
    out = preprocess_upload(encode(Image.fromarray(digit)), MNIST, style="digit")
    diff = np.abs(out.model_input[0] - digit / 255.0).mean()
    assert diff < 0.02, (diff, out.steps)
    assert not any("inverted" in s for s in out.steps)


def test_mnist_digit_as_a_photo_of_ink_on_paper(shared_data: Path) -> None:
    """The same digit, black on white, 10x larger, off-centre on a bigger page, noisy and
    saved as JPEG: inversion, stretch, crop, 20x20 fit and centring recover it."""
    digit = first_mnist_test_image(shared_data)
    big = Image.fromarray(255 - digit).resize((280, 280), Image.Resampling.BICUBIC)
    page = Image.new("L", (640, 480), 255)
    page.paste(big, (40, 150))
    rng = np.random.default_rng(0)
    a = np.asarray(page, np.float64) * 0.6 + 80 + rng.normal(0, 6, (480, 640))
    photo = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    out = preprocess_upload(encode(photo, "JPEG", quality=90), MNIST)
    diff = np.abs(out.model_input[0] - digit / 255.0).mean()
    assert diff < 0.1, (diff, out.steps)
    assert any("inverted" in s for s in out.steps)


# --------------------------------------------------------------------------- digit style


def test_black_on_white_digit_is_inverted_to_white_on_black() -> None:
    im = draw_digit((200, 200), (0.3, 0.2, 0.7, 0.8), width=14)
    out = preprocess_upload(encode(im), MNIST)
    a = out.model_input[0]
    assert any(s.startswith("inverted: light background") for s in out.steps)
    assert a[0].max() == 0 and a[-1].max() == 0 and a[:, 0].max() == 0  # black border
    assert a.max() > 0.95  # white strokes
    assert (a > 0.5).mean() < 0.35  # strokes, not a white page


def test_white_on_black_digit_is_not_inverted() -> None:
    im = draw_digit((56, 56), (0.3, 0.2, 0.7, 0.8), width=5, ink=255, paper=0)
    out = preprocess_upload(encode(im), MNIST)
    assert not any("inverted" in s for s in out.steps)
    assert out.model_input[0, 0].max() == 0 and out.model_input.max() > 0.95


@pytest.mark.parametrize(
    "box", [(0.02, 0.02, 0.25, 0.3), (0.6, 0.55, 0.98, 0.97), (0.1, 0.4, 0.9, 0.6)]
)
def test_mnist_centring_puts_centre_of_mass_in_the_middle(box: tuple) -> None:
    """Wherever the digit is on the page (and whatever its aspect), its centre of mass ends
    within 1 px of (14, 14): MNIST's own mean centre of mass, measured on its test set."""
    im = draw_digit((300, 240), box, width=10)
    out = preprocess_upload(encode(im), MNIST)
    cy, cx = centre_of_mass(out.model_input[0])
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1, (cy, cx, out.steps)
    rows = np.flatnonzero(out.model_input[0].max(axis=1) > 0.05)
    cols = np.flatnonzero(out.model_input[0].max(axis=0) > 0.05)
    # Fitted into 20x20: the longer side is 20 px (+1 for Lanczos's faint fringe).
    assert 19 <= max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) <= 22


def test_pencil_photo_strokes_to_one_paper_to_zero() -> None:
    rng = np.random.default_rng(1)
    strokes = np.asarray(draw_digit((800, 600), (0.35, 0.2, 0.65, 0.8), width=8), np.float64)
    light = np.linspace(0.8, 1.0, 800)[None, :]  # a lamp on the right
    paper = 200 * light + rng.normal(0, 5, (600, 800))
    a = np.where(strokes < 128, 110 * light + rng.normal(0, 5, (600, 800)), paper)
    photo = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    out = preprocess_upload(encode(photo, "JPEG", quality=85), MNIST)
    x = out.model_input[0]
    assert x.max() > 0.95 and (x == 0).mean() > 0.6, out.steps
    assert any("contrast stretched" in s for s in out.steps)
    assert any("thickened" in s for s in out.steps)  # 8 px on a 480 px digit is thin


def test_sklearn_digit_round_trip() -> None:
    """A scikit-learn 8x8 digit drawn at 32x32 (its original bitmap size) comes back close."""
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits().images[:20] / 16.0
    diffs = []
    for d in digits:
        big = Image.fromarray((d * 255).astype(np.uint8)).resize((32, 32), Image.Resampling.BOX)
        out = preprocess_upload(encode(big), (1, 8, 8))
        assert out.model_input.max() == pytest.approx(1.0)
        diffs.append(np.abs(out.model_input[0] - d).mean())
    assert np.mean(diffs) < 0.1, diffs


def test_blank_images_give_an_empty_input() -> None:
    for colour in (0, 255, 128):
        data = encode(Image.new("L", (50, 40), colour))
        for style in ("digit", "fashion"):
            out = preprocess_upload(data, MNIST, style=style)
            assert out.blank and out.model_input.max() == 0
            assert any("blank" in s for s in out.steps)
        out = preprocess_upload(data, (1, 28, 20), style="face")
        assert out.blank and np.allclose(out.model_input, colour / 255, atol=1e-3)


# --------------------------------------------------------------------------- other styles


def test_fashion_fills_the_frame_without_centre_of_mass() -> None:
    """A wide item (a dark 2:1 "bag" low and left on a light page): its width fills the 28
    px frame and it is centred geometrically; its grey level is kept (no stretch)."""
    im = Image.new("L", (300, 200), 250)
    ImageDraw.Draw(im).rectangle((20, 120, 119, 169), fill=40)
    out = preprocess_upload(encode(im), MNIST, style="fashion")
    a = out.model_input[0]
    rows, cols = np.flatnonzero(a.max(1) > 0.5), np.flatnonzero(a.max(0) > 0.5)
    assert (cols[0], cols[-1]) == (0, 27) and (rows[0], rows[-1]) == (7, 20), (rows, cols)
    assert a[14, 14] == pytest.approx((250 - 40) / 250, abs=0.02)  # background 5/255 -> 0
    assert a[0, 0] == 0 and a[27, 27] == 0


def test_face_crops_the_centre_to_the_aspect_ratio() -> None:
    """Frey faces are 28 high x 20 wide; a landscape photo keeps its centre, uninverted."""
    a = np.full((300, 400), 230, np.uint8)
    a[:, 150:250] = 30  # a dark band in the middle third
    out = preprocess_upload(encode(Image.fromarray(a)), (1, 28, 20), style="face")
    x = out.model_input[0]
    assert x.shape == (28, 20)
    assert x[:, 10].mean() < 0.2 and x[:, 0].mean() > 0.8  # centre dark, edges light
    assert not any("inverted" in s for s in out.steps)


def test_colour_model_keeps_colour() -> None:
    im = Image.new("RGB", (64, 64), (200, 30, 30))
    ImageDraw.Draw(im).rectangle((0, 0, 31, 63), fill=(20, 40, 220))
    out = preprocess_upload(encode(im), (3, 32, 32), style="generic")
    x = out.model_input
    assert x.shape == (3, 32, 32)
    assert x[2, :, :8].mean() > 0.8 and x[0, :, -8:].mean() > 0.7


# --------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(orientation: int) -> None:
    stored = Image.new("L", (60, 40), 255)
    ImageDraw.Draw(stored).rectangle((5, 5, 25, 15), fill=0)  # a mark in the top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored, "JPEG", quality=95, exif=exif)
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    out = preprocess_upload(data, (1, 32, 32), style="generic")
    ref = preprocess_upload(encode(upright), (1, 32, 32), style="generic")
    assert any(s.startswith("EXIF rotated") for s in out.steps)
    assert out.size == upright.size
    assert np.abs(out.model_input - ref.model_input).max() < 1e-6


def test_animated_gif_uses_the_first_frame() -> None:
    f0 = draw_digit((64, 64), (0.2, 0.2, 0.8, 0.8), width=6)
    f1 = Image.new("L", (64, 64), 255)
    ImageDraw.Draw(f1).ellipse((10, 10, 54, 54), fill=0)
    data = encode(f0, "GIF", save_all=True, append_images=[f1], duration=50, loop=0)
    out = preprocess_upload(data, MNIST)
    ref = preprocess_upload(encode(f0), MNIST)
    assert any("first frame" in s for s in out.steps)
    assert np.abs(out.model_input - ref.model_input).max() < 1e-5


def test_transparency_is_flattened_onto_the_natural_background() -> None:
    """Dark strokes on transparency go onto white; light strokes onto black; both then give
    the same white-on-black digit (even though transparent pixels are stored as black)."""
    alpha = 255 - np.asarray(draw_digit((80, 80), (0.25, 0.2, 0.75, 0.8), width=6))
    results = []
    for ink, paper in ((10, "white"), (245, "black")):
        rgba = np.zeros((80, 80, 4), np.uint8)
        rgba[..., :3] = ink
        rgba[..., 3] = alpha
        out = preprocess_upload(encode(Image.fromarray(rgba)), MNIST)
        assert f"transparency flattened onto {paper}" in out.steps
        results.append(out.model_input)
    assert results[0].max() > 0.9
    assert np.abs(results[0] - results[1]).mean() < 0.02


def test_16_bit_grey_is_scaled_not_clipped() -> None:
    a = np.tile(np.linspace(0, 65535, 64), (64, 1)).astype(np.uint16)
    out = preprocess_upload(encode(Image.fromarray(a)), (1, 16, 16), style="generic")
    row = out.model_input[0, 8]
    assert row[0] < 0.05 and row[-1] > 0.95 and np.all(np.diff(row) > 0)


def _decoded_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Record the pixel size of every full decode (``ImageFile.load``) Pillow performs."""
    sizes: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def load(self):  # noqa: ANN001, ANN202
        sizes.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return sizes


def test_large_jpeg_is_decoded_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Speed comes from never decoding the 24 MP photo whole (DCT scaling): checked on the
    decoded size, not on a wall clock (2 shared cores); the time is in the corpus table."""
    im = Image.linear_gradient("L").resize((6000, 4000)).convert("RGB")
    data = encode(im, "JPEG", quality=80)
    decoded = _decoded_sizes(monkeypatch)
    out = preprocess_upload(data, MNIST, style="generic")
    assert decoded and max(w * h for w, h in decoded) <= 6000 * 4000 // 16  # 1/4 or smaller
    assert out.size == (6000, 4000) and max(out.original.size) <= 512
    assert any("DCT scaling" in s for s in out.steps)


def test_truncated_images_stay_errors() -> None:
    data = encode(draw_digit((200, 200), (0.2, 0.2, 0.8, 0.8), 9), "JPEG")
    with pytest.raises(UploadError, match="damaged or incomplete"):
        preprocess_upload(data[: len(data) // 2], MNIST)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # never switched on globally


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "SVG"),
        (b"<html><body>hi</body></html>", "HTML"),
        (b"just some words\n", "text"),
        (b"\x00\x01\x02\x03" * 10, "supported format"),
        (b"\x00\x00\x00\x18ftypheic" + bytes(30), "HEIC"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "damaged"),
    ],
)
def test_unreadable_files_have_clear_messages(data: bytes, words: str) -> None:
    with pytest.raises(UploadError) as err:
        preprocess_upload(data, MNIST)
    msg = str(err.value)
    assert words.lower() in msg.lower()
    assert "Traceback" not in msg and "/" not in msg.replace("HEIC/HEIF/AVIF", "")


@pytest.mark.parametrize("disable_pillow_guard", [False, True])
def test_decompression_bomb_refused_fast(
    monkeypatch: pytest.MonkeyPatch, disable_pillow_guard: bool
) -> None:
    """Refused from the header, with or without Pillow's guard: no pixel is ever decoded
    (what made it fast; a wall-clock limit was noise on 2 shared cores)."""
    if disable_pillow_guard:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    decoded = _decoded_sizes(monkeypatch)
    for side in (100_000, 7000):
        with pytest.raises(UploadError, match="megapixels"):
            preprocess_upload(png_header_bomb(side, side), MNIST)
    assert decoded == []


def test_size_limits() -> None:
    with pytest.raises(UploadError, match=r"10.1 MB; the limit is 10 MB"):
        preprocess_upload(bytes(MAX_UPLOAD_BYTES + 1), MNIST)
    side = int(MAX_PIXELS**0.5) + 1
    with pytest.raises(UploadError, match="megapixels"):
        preprocess_upload(png_header_bomb(side, side), MNIST)


def test_upload_limit_matches_streamlit_config() -> None:
    config = REPO / ".streamlit" / "config.toml"
    mb = tomllib.loads(config.read_text())["server"]["maxUploadSize"]
    # One MB over the app's limit, so that a file of exactly MAX_UPLOAD_BYTES gets through
    # Streamlit (see config.toml); the app refuses anything larger itself.
    assert mb * 2**20 == MAX_UPLOAD_BYTES + 2**20
    assert preprocess_upload(_exactly(MAX_UPLOAD_BYTES), MNIST).size == (8, 8)  # accepted
    with pytest.raises(UploadError, match="the limit is 10 MB"):
        preprocess_upload(_exactly(MAX_UPLOAD_BYTES + 1), MNIST)


def _exactly(n: int) -> bytes:
    """A valid PNG padded after its end marker to exactly ``n`` bytes."""
    data = encode(Image.new("L", (8, 8), 128))
    return data + bytes(n - len(data))


def test_bad_arguments_are_programming_errors() -> None:
    data = encode(Image.new("L", (8, 8)))
    with pytest.raises(ValueError, match="style"):
        preprocess_upload(data, MNIST, style="cats")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="image_shape"):
        preprocess_upload(data, (2, 28, 28))
    with pytest.raises(ValueError, match="image_shape"):
        preprocess_upload(data, (28, 28))  # type: ignore[arg-type]


def test_result_fields() -> None:
    im = draw_digit((90, 120), (0.2, 0.2, 0.8, 0.8), 8).convert("RGB")
    out = preprocess_upload(encode(im, "WEBP"), MNIST)
    assert isinstance(out, Preprocessed)
    assert out.format == "WEBP" and out.size == (90, 120) and not out.blank
    assert out.original.mode == "RGB" and out.original.size == (90, 120)
    assert out.model_input.dtype == np.float32 and out.model_input.flags.c_contiguous
    assert all(isinstance(s, str) for s in out.steps)
    with pytest.raises(AttributeError):
        out.format = "PNG"  # type: ignore[misc]


# --------------------------------------------------------------------------- display helpers


def test_to_display_is_crisp_and_clipped() -> None:
    a = np.array([[0.0, 1.0], [0.5, 2.0]], np.float32)
    im = to_display(a, 3)
    assert im.mode == "L" and im.size == (6, 6)
    px = np.asarray(im)
    assert (px[:3, :3] == 0).all() and (px[:3, 3:] == 255).all()
    assert (px[3:, :3] == 128).all() and (px[3:, 3:] == 255).all()  # 2.0 clipped
    assert to_display(a[None], 1).size == (2, 2)
    rgb = to_display(np.zeros((3, 4, 5), np.float32), 2)
    assert rgb.mode == "RGB" and rgb.size == (10, 8)
    with pytest.raises(ValueError):
        to_display(np.zeros((2, 4, 4)), 1)
    with pytest.raises(ValueError):
        to_display(a, 0)


def test_to_display_accepts_tensors() -> None:
    torch = pytest.importorskip("torch")
    assert to_display(torch.ones(1, 4, 4, requires_grad=True), 2).size == (8, 8)


def test_tile_images() -> None:
    a = np.stack([np.full((1, 2, 3), i, np.float32) for i in range(5)])
    g = tile_images(a, ncols=2, pad=1, pad_value=-1)
    assert g.shape == (1, 3 * 2 + 2, 2 * 3 + 1)
    assert g[0, 0, 0] == 0 and g[0, 0, 4] == 1 and g[0, 3, 0] == 2 and g[0, 6, 0] == 4
    assert g[0, 2, 0] == -1 and g[0, 6, 4] == -1  # gap row and empty last cell
    flat = tile_images(a[:, 0], ncols=10, pad=0)
    assert flat.shape == (2, 15)
    with pytest.raises(ValueError):
        tile_images(np.zeros((0, 1, 2, 2)), 3)


# --------------------------------------------------------------------------- properties

# Which encoders accept which modes (found by trying Pillow 13's writers).
WRITERS = {
    "1": ["PNG", "GIF", "BMP", "TIFF"],
    "L": ["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"],
    "LA": ["PNG", "WEBP", "TIFF"],
    "P": ["PNG", "GIF", "BMP", "TIFF"],
    "RGB": ["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"],
    "RGBA": ["PNG", "GIF", "WEBP", "TIFF"],
    "I;16": ["PNG", "TIFF"],
    "I": ["TIFF"],
    "CMYK": ["JPEG", "TIFF"],
}
SHAPES = [((1, 28, 28), "digit"), ((1, 28, 28), "fashion"), ((1, 8, 8), "digit"),
          ((1, 28, 20), "face"), ((3, 32, 32), "generic")]  # fmt: skip


def make_image(mode: str, w: int, h: int, kind: str, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    if kind == "noise":
        f = rng.random((h, w, 4))
    elif kind == "flat":
        f = np.broadcast_to(rng.random(4), (h, w, 4))
    elif kind == "gradient":
        f = np.broadcast_to(np.linspace(0, 1, w)[None, :, None], (h, w, 4)) * rng.random(4)
    else:  # "strokes" or "sparse": a few lines on a plain background
        page = Image.new("L", (w, h), int(rng.integers(0, 256)))
        d = ImageDraw.Draw(page)
        for _ in range(3 if kind == "strokes" else 1):
            xy = [tuple(rng.integers(0, [w, h])) for _ in range(2)]
            d.line(xy, fill=int(rng.integers(0, 256)), width=int(rng.integers(1, 6)))
        f = np.repeat(np.asarray(page, np.float64)[..., None] / 255, 4, axis=2)
        f[..., 3] = rng.random((h, w)) > 0.3  # alpha where the mode has it
    u8 = (np.clip(f, 0, 1) * 255).astype(np.uint8)
    if mode == "1":
        return Image.fromarray(u8[..., 0] > 127)
    if mode == "L":
        return Image.fromarray(u8[..., 0])
    if mode == "LA":
        return Image.fromarray(np.ascontiguousarray(u8[..., [0, 3]]))
    if mode == "P":
        im = Image.fromarray(np.ascontiguousarray(u8[..., :3])).convert("P")
        if seed % 2:
            im.info["transparency"] = int(u8[0, 0, 0])
        return im
    if mode == "RGB":
        return Image.fromarray(np.ascontiguousarray(u8[..., :3]))
    if mode == "RGBA":
        return Image.fromarray(np.ascontiguousarray(u8))
    if mode == "I;16":
        return Image.fromarray((f[..., 0] * 65535).astype(np.uint16))
    if mode == "I":
        scale = [255, 65535, 1_000_000, -70_000][seed % 4]
        return Image.fromarray((f[..., 0] * scale).astype(np.int32))
    return Image.frombytes("CMYK", (w, h), np.ascontiguousarray(u8).tobytes())


@st.composite
def uploads(draw: st.DrawFn) -> tuple[bytes, str, str]:
    mode = draw(st.sampled_from(sorted(WRITERS)))
    fmt = draw(st.sampled_from(WRITERS[mode]))
    w, h = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    kind = draw(st.sampled_from(["noise", "flat", "gradient", "strokes", "sparse"]))
    im = make_image(mode, w, h, kind, draw(st.integers(0, 2**16)))
    kw = {"transparency": im.info["transparency"]} if "transparency" in im.info else {}
    return encode(im, fmt, **kw), f"{mode} {w}x{h} {kind} as {fmt}", fmt


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(upload=uploads(), target=st.sampled_from(SHAPES))
def test_any_valid_image_gives_a_valid_input(upload: tuple[bytes, str, str], target) -> None:
    data, what, fmt = upload
    shape, style = target
    out = preprocess_upload(data, shape, style=style)  # a valid image is never refused
    x = out.model_input
    assert x.shape == shape and x.dtype == np.float32, what
    assert np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1, what
    assert out.format == fmt and out.original.mode == "RGB", what


# Pillow warns (UserWarning) about the broken TIFF tags it skips; the result is what counts.
@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    upload=uploads(),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=4),
)
def test_damaged_bytes_give_a_valid_input_or_a_clear_error(
    upload: tuple[bytes, str, str], cut: float, flips: list
) -> None:
    data = bytearray(upload[0])
    for pos, value in flips:
        data[int(pos * (len(data) - 1))] = value
    data = data[: max(1, int(len(data) * (0.5 + cut / 2)))]
    try:
        out = preprocess_upload(bytes(data), (1, 28, 28))
    except UploadError as e:
        assert str(e).strip() and "Traceback" not in str(e)
    else:
        x = out.model_input
        assert x.shape == (1, 28, 28) and np.isfinite(x).all() and 0 <= x.min() <= x.max() <= 1


def test_module_has_no_streamlit_and_limits_are_constants() -> None:
    for module in (images, decoder, display):
        src = Path(module.__file__).read_text()
        assert "import streamlit" not in src and "from streamlit" not in src
    assert MAX_UPLOAD_BYTES == 10 * 2**20 and MAX_PIXELS == 40_000_000
