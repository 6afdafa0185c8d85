"""Colour images end to end: a folder or zip of RGB images -> a conv VAE -> a checkpoint.

The images are drawn here (a coloured disc or square on a plain background whose colour is
known), so the loaded pixels are checked against the colours drawn, channel by channel.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch

from vae import train
from vae.app import inference
from vae.core.checkpoints import load_checkpoint, save_checkpoint
from vae.core.fit import TrainConfig, evaluate, fit, prepare_images
from vae.core.losses import elbo_terms
from vae.core.model import VAE, VAEConfig
from vae.data.folders import load_image_folder
from vae.data.kept_test_set import custom_test_set

N_IMAGES = 40


def _shapes(n: int = N_IMAGES, size: int = 32) -> tuple[dict[str, bytes], list[tuple[int, int, int]]]:
    """``{"discs/i.png" | "squares/i.png": PNG bytes}`` and each image's background colour."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(7)
    files, backgrounds = {}, []
    for i in range(n):
        # Saturated colours (corners of the RGB cube, two alike at most by chance) so that a
        # Bernoulli decoder can fit them well and learning shows within a few steps.
        bg = tuple(int(v) for v in rng.integers(0, 2, 3) * 255)
        fg = tuple(255 - v for v in bg)
        img = Image.new("RGB", (size, size), bg)
        lo, hi = sorted(int(v) for v in rng.integers(size // 4, 3 * size // 4, 2))
        hi = max(hi, lo + 4)
        kind = "discs" if i % 2 else "squares"
        draw = ImageDraw.Draw(img)
        (draw.ellipse if kind == "discs" else draw.rectangle)((lo, lo, hi, hi), fill=fg)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        files[f"{kind}/{i:02d}.png"] = buf.getvalue()
        backgrounds.append(bg)
    return files, backgrounds


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(f"shapes/{name}", data)
    return buf.getvalue()


def test_rgb_zip_loads_in_rgb_order_and_trains_a_conv_vae(tmp_path):
    files, backgrounds = _shapes()
    zpath = tmp_path / "shapes.zip"
    zpath.write_bytes(_zip(files))
    data = load_image_folder(zpath, size=(16, 16), channels=3)
    assert data.image_shape == (3, 16, 16) and data.label_names == ("discs", "squares")
    assert len(data.train_x) + len(data.test_x) == N_IMAGES
    # Corners are pure background: the loaded R, G, B must be the colours drawn (a BGR or
    # grey conversion would not match).
    corners = torch.cat([data.train_x, data.test_x])[:, :, 0, 0].int()
    got = sorted(tuple(c.tolist()) for c in corners)
    assert all(max(abs(a - b) for a, b in zip(g, e, strict=True)) <= 2
               for g, e in zip(got, sorted(backgrounds), strict=True))  # fmt: skip

    cfg = VAEConfig(image_shape=(3, 16, 16), latent_dim=4, architecture="conv",
                    conv_channels=(8, 16), hidden=(32,))  # fmt: skip
    tc = TrainConfig(epochs=15, batch_size=8, lr=3e-3, seed=0)  # 75 steps, under a second
    model, history = fit(cfg, tc, data, device="cpu")
    assert len(history.epochs) == 15
    with torch.random.fork_rng():
        torch.manual_seed(0)
        untrained = VAE(cfg)
    _, test_x = prepare_images(data, torch.device("cpu"), False, 0)
    # Untrained: about -532 nats (0.69 per sub-pixel); learning the colours gains ~100.
    assert evaluate(model, test_x)["elbo"] > evaluate(untrained, test_x)["elbo"] + 40

    out = save_checkpoint(tmp_path / "rgb.pt", model, dataset=data.name, train_config=tc.to_dict(),
                          history=history.to_list(), meta={"test_set": custom_test_set(data)})  # fmt: skip
    ckpt = load_checkpoint(out)
    assert ckpt.image_shape == (3, 16, 16) and ckpt.meta["test_set"]["images"].shape == (4, 3, 16, 16)
    loaded = ckpt.build_model()
    z = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    imgs = inference.decode(loaded, z)
    assert imgs.shape == (5, 3, 16, 16) and imgs.min() >= 0 and imgs.max() <= 1
    np.testing.assert_array_equal(imgs, inference.decode(model, z))
    # The three channels are decoded separately (not one grey map repeated).
    assert np.abs(imgs[:, 0] - imgs[:, 1]).max() > 1e-3


def test_cli_trains_on_a_folder_of_colour_images(tmp_path, capsys):
    files, _ = _shapes()
    root = tmp_path / "my-shapes"
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    out = tmp_path / "ck" / "rgb.pt"
    argv = ["--dataset", f"folder:{root}", "--image-size", "24x20", "--arch", "conv",
            "--channels", "8,16", "--hidden", "32", "--latent-dim", "3", "--epochs", "2",
            "--batch-size", "8", "--iw-k", "4", "--iw-n", "0", "--out", str(out)]  # fmt: skip
    assert train.main(argv) == 0
    assert "training folder:my-shapes (3x24x20, 36 images)" in capsys.readouterr().out
    ckpt = load_checkpoint(out)
    assert ckpt.dataset == "folder:my-shapes" and ckpt.image_shape == (3, 24, 20)
    assert ckpt.model_config.architecture == "conv" and len(ckpt.history) == 2
    test = ckpt.meta["test_set"]  # what the app's map pages show for a user dataset
    assert test["images"].shape == (4, 3, 24, 20) and test["images"].dtype == torch.uint8
    assert test["label_names"] == ["discs", "squares"]
    assert f"folder:{root}" in ckpt.meta["command"]
    recon = inference.decode(ckpt.build_model(), np.zeros((1, 3), np.float32))
    assert recon.shape == (1, 3, 24, 20) and recon.min() >= 0 and recon.max() <= 1


def test_cli_rejects_unknown_datasets_and_bad_sizes(tmp_path, capsys):
    for bad in (["--dataset", "cifar"], ["--dataset", "folder:"], ["--image-size", "0"],
                ["--image-size", "64x"], ["--image-channels", "2"]):  # fmt: skip
        with pytest.raises(SystemExit):
            train.build_parser().parse_args([*bad, "--out", "x.pt"])
    args = train.build_parser().parse_args(["--dataset", "folder:/d", "--image-size", "64", "--out", "x"])
    assert args.image_size == (64, 64) and args.image_channels == 3
    assert train.build_parser().parse_args(["--image-size", "48x64", "--out", "x"]).image_size == (48, 64)
    (tmp_path / "notes.txt").write_text("no images here")
    out = tmp_path / "never.pt"
    assert train.main(["--dataset", f"folder:{tmp_path}", "--out", str(out)]) == 2
    assert "usable image" in capsys.readouterr().err and not out.exists()


def test_conv_vae_for_64x64_colour_trains_a_step():
    """The architecture of the docs' colour example: --arch conv --channels 32,64,128."""
    cfg = VAEConfig(image_shape=(3, 64, 64), latent_dim=16, architecture="conv",
                    conv_channels=(32, 64, 128))  # fmt: skip
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = VAE(cfg)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    logits, mu, _ = model(x)
    assert logits.shape == (2, 3, 64, 64) and mu.shape == (2, 16)
    eps = torch.randn(2, 16, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(3):  # the same batch and noise: a few steps must lower the loss
        terms = elbo_terms(model, x, eps=eps)
        opt.zero_grad()
        terms.loss.backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
        opt.step()
        losses.append(terms.loss.item())
    assert losses[-1] < losses[0]
