"""vae.data.registry against independent references: the real dataset files and their published
statistics (shared/data/README.md), scipy/scikit-learn loaders, and a local HTTP server."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import pickle
import shutil
import zipfile

import numpy as np
import pytest
import torch

from vae.data.folders import load_image_folder
from vae.data.formats import read_idx
from vae.data.registry import (
    DATASETS,
    DataFile,
    Dataset,
    DatasetInfo,
    DatasetUnavailable,
    binarize,
    data_dirs,
    dataset_available,
    default_epochs_for,
    from_arrays,
    load_dataset,
    to_float,
    upload_style_for,
)

# From shared/data/README.md.
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


# --------------------------------------------------------------------------- read_idx


def test_read_idx_decodes_real_mnist_test_files(shared_data):
    images = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == MNIST_TEST_COUNTS
    assert images.mean() == pytest.approx(33.79, abs=0.005)
    # Raw (un-gzipped) bytes decode to the same array.
    raw = gzip.decompress((shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    np.testing.assert_array_equal(read_idx(raw), labels)


@pytest.fixture(scope="module")
def raw_labels(shared_data) -> bytes:
    return gzip.decompress((shared_data / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())


@pytest.mark.parametrize(
    "header, match",
    [
        (b"\x00\x00\x08\x02", "magic"),  # 2 dims: neither labels nor images
        (b"\x00\x00\x0d\x01", "magic"),  # dtype 0x0D (float32), not uint8
        (b"\x12\x34\x08\x01", "magic"),
    ],
)
def test_read_idx_rejects_a_corrupt_header(raw_labels, header, match):
    with pytest.raises(ValueError, match=match):
        read_idx(header + raw_labels[4:])
    with pytest.raises(ValueError, match=match):
        read_idx(gzip.compress(header + raw_labels[4:]))


def test_read_idx_rejects_wrong_payload_length(raw_labels, tmp_path):
    with pytest.raises(ValueError, match="payload is 9999 bytes"):
        read_idx(raw_labels[:-1])
    with pytest.raises(ValueError, match="payload is 10001 bytes"):
        read_idx(raw_labels + b"\x00")
    with pytest.raises(ValueError, match="header"):
        read_idx(raw_labels[:6])
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(raw_labels)[:-20])  # a gzip stream cut short
    with pytest.raises(ValueError, match="gzip"):
        read_idx(cut)


# --------------------------------------------------------------------------- real datasets


def test_load_mnist(shared_data):
    ds = load_dataset("mnist", data_dir=shared_data, download=False)
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert ds.train_x.dtype == torch.uint8 and ds.train_y.dtype == torch.int64
    assert ds.image_shape == (1, 28, 28) == DATASETS["mnist"].image_shape
    assert ds.likelihood == "bernoulli" and ds.label_names == tuple("0123456789")
    assert torch.bincount(ds.train_y, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert torch.bincount(ds.test_y, minlength=10).tolist() == MNIST_TEST_COUNTS
    assert ds.train_x.double().mean().item() == pytest.approx(33.32, abs=0.005)
    # The official split, in file order.
    ref = read_idx(shared_data / "mnist" / "t10k-images-idx3-ubyte.gz")
    assert torch.equal(ds.test_x[:, 0], torch.from_numpy(ref))
    # Repeated loads are served from the in-process cache.
    assert load_dataset("mnist", data_dir=shared_data, download=False) is ds


def test_load_fashion_mnist(shared_data):
    ds = load_dataset("fashion-mnist", data_dir=shared_data, download=False)
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert torch.bincount(ds.train_y, minlength=10).tolist() == [6000] * 10
    assert torch.bincount(ds.test_y, minlength=10).tolist() == [1000] * 10
    assert ds.test_x.double().mean().item() == pytest.approx(73.15, abs=0.005)
    assert ds.label_names[0] == "T-shirt/top" and ds.label_names[9] == "Ankle boot"
    assert ds.likelihood == "bernoulli"


def test_load_frey_matches_scipy(shared_data):
    import scipy.io

    ds = load_dataset("frey", data_dir=shared_data, download=False)
    assert ds.image_shape == (1, 28, 20) and ds.likelihood == "gaussian"
    assert len(ds.train_x) + len(ds.test_x) == 1965 and len(ds.test_x) == 265
    both = torch.cat([ds.train_x, ds.test_x])
    assert int(both.min()) == 8 and int(both.max()) == 238
    frames = scipy.io.loadmat(shared_data / "frey" / "frey_rawface.mat")["ff"].T.reshape(-1, 28, 20)
    perm = np.random.default_rng(0).permutation(1965)
    order = np.concatenate([perm[265:], perm[:265]])  # train then test
    np.testing.assert_array_equal(both[:, 0].numpy(), frames[order])
    # Labels are 400-frame time buckets of the original frame index.
    np.testing.assert_array_equal(torch.cat([ds.train_y, ds.test_y]).numpy(), order // 400)
    assert ds.label_names == (
        "frames 0-399",
        "frames 400-799",
        "frames 800-1199",
        "frames 1200-1599",
        "frames 1600-1964",
    )


def test_digits_fixed_split_matches_sklearn():
    from sklearn.datasets import load_digits

    ds = load_dataset("digits")
    assert ds.image_shape == (1, 8, 8) == DATASETS["digits"].image_shape
    assert (len(ds.train_x), len(ds.test_x)) == (1437, 360)
    assert ds.train_x.dtype == torch.uint8
    assert int(ds.train_x.min()) == 0 and int(ds.train_x.max()) == 255
    bunch = load_digits()
    perm = np.random.default_rng(0).permutation(1797)
    test_ref = np.round(bunch.images[perm[:360]] * 255 / 16)
    np.testing.assert_array_equal(ds.test_x[:, 0].numpy(), test_ref)
    np.testing.assert_array_equal(ds.test_y.numpy(), bunch.target[perm[:360]])
    np.testing.assert_array_equal(ds.train_y.numpy(), bunch.target[perm[360:]])
    assert dataset_available("digits", data_dir="/nonexistent")


# --------------------------------------------------------------------------- lookup and errors


def test_missing_files_without_download(tmp_path, monkeypatch):
    monkeypatch.delenv("VAE_DATA_DIR", raising=False)
    assert not dataset_available("mnist", data_dir=tmp_path)
    with pytest.raises(DatasetUnavailable) as err:
        load_dataset("mnist", data_dir=tmp_path, download=False)
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert str(tmp_path) in msg and "VAE_DATA_DIR" in msg
    assert str(tmp_path / "mnist" / "train-images-idx3-ubyte.gz") in msg  # where to put it
    assert list(tmp_path.iterdir()) == []  # download=False writes nothing
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("cifar")


def test_data_dirs_order(tmp_path, monkeypatch):
    env, xdg = tmp_path / "env", tmp_path / "xdg"
    monkeypatch.setenv("VAE_DATA_DIR", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    assert data_dirs() == [env, xdg / "vae-latent-explorer"]
    assert data_dirs(tmp_path / "x") == [tmp_path / "x"]
    monkeypatch.delenv("VAE_DATA_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dirs() == [tmp_path / "home" / ".cache" / "vae-latent-explorer"]


def test_env_dir_is_searched_before_the_cache(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_DATA_DIR", str(shared_data))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert dataset_available("frey")
    ds = load_dataset("frey", download=False)
    assert len(ds.train_x) == 1700
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "empty"))
    assert not dataset_available("frey")
    # A file in the cache is found when the env dir lacks it.
    (tmp_path / "vae-latent-explorer" / "frey").mkdir(parents=True)
    shutil.copy(
        shared_data / "frey" / "frey_rawface.mat", tmp_path / "vae-latent-explorer" / "frey"
    )
    assert dataset_available("frey")


def _idx(dims: tuple[int, ...], payload: bytes) -> bytes:
    magic = b"\x00\x00\x08" + bytes([len(dims)])
    return gzip.compress(magic + b"".join(d.to_bytes(4, "big") for d in dims) + payload)


@pytest.mark.parametrize(
    "bad_labels, match",
    [
        (_idx((5,), b"\x01\x02\x03"), "payload is 3 bytes"),  # truncated
        (_idx((4,), b"\x01\x02\x03\x04"), "4 labels for 5 images"),  # does not match images
        (b"<html>404 Not Found</html>", "magic"),  # an error page saved as the file
    ],
)
def test_corrupt_file_on_disk_is_reported(tmp_path, bad_labels, match):
    (tmp_path / "mnist").mkdir()
    good = {
        "train-images-idx3-ubyte.gz": _idx((5, 28, 28), bytes(5 * 28 * 28)),
        "train-labels-idx1-ubyte.gz": bad_labels,
        "t10k-images-idx3-ubyte.gz": _idx((1, 28, 28), bytes(28 * 28)),
        "t10k-labels-idx1-ubyte.gz": _idx((1,), b"\x07"),
    }
    for name, data in good.items():
        (tmp_path / "mnist" / name).write_bytes(data)
    bad = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    with pytest.raises(DatasetUnavailable, match="corrupt") as err:
        load_dataset("mnist", data_dir=tmp_path, download=False)
    assert str(bad.resolve()) in str(err.value) and match in str(err.value)
    # Once the file is replaced, the same directory loads (nothing stale was cached).
    bad.write_bytes(_idx((5,), bytes([0, 1, 2, 3, 9])))
    ds = load_dataset("mnist", data_dir=tmp_path, download=False)
    assert ds.train_y.tolist() == [0, 1, 2, 3, 9] and ds.test_y.tolist() == [7]
    # A file replaced after loading (same size) is read again, not served from the cache.
    mtime = bad.stat().st_mtime_ns
    bad.write_bytes(_idx((5,), bytes([9, 3, 2, 1, 0])))
    os.utime(bad, ns=(mtime + 10**9, mtime + 10**9))  # coarse-mtime filesystems
    assert load_dataset("mnist", data_dir=tmp_path, download=False).train_y.tolist() == [
        9,
        3,
        2,
        1,
        0,
    ]


def test_dataset_validates_shapes_and_is_frozen():
    x, y = torch.zeros(3, 1, 4, 4, dtype=torch.uint8), torch.tensor([0, 1, 1])
    ds = Dataset("t", x, y, x[:1], y[:1], ("a", "b"))
    assert ds.image_shape == (1, 4, 4) and "train=3" in repr(ds)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "u"  # type: ignore[misc]
    # Picklable: the app's caches (st.cache_data) store datasets by pickling them.
    back = pickle.loads(pickle.dumps(ds))
    assert torch.equal(back.train_x, x) and back.label_names == ("a", "b")
    with pytest.raises(ValueError, match="uint8"):
        Dataset("t", x.float(), y, x, y, ("a", "b"))
    with pytest.raises(ValueError, match="labels outside"):
        Dataset("t", x, y + 1, x, y, ("a", "b"))


# --------------------------------------------------------------------------- user images


def _png(value, size=(12, 20), mode="L", exif=None) -> bytes:
    buf = io.BytesIO()
    Image = pytest.importorskip("PIL.Image")
    kwargs = {"exif": exif} if exif is not None else {}
    Image.new(mode, size, value).save(buf, "PNG", **kwargs)
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_load_image_folder_from_zip():
    cats = {f"upload/cats/c{i}.png": 40 + i for i in range(6)}
    dogs = {f"upload/dogs/d{i}.png": 200 + i for i in range(5)}
    files = {name: _png(v) for name, v in {**cats, **dogs}.items()}
    files["upload/readme.txt"] = b"not an image"
    files["upload/cats/broken.png"] = b"\x89PNG\r\n\x1a\n garbage"
    files["__MACOSX/upload/cats/._c0.png"] = b"resource fork"
    files["upload/dogs/.hidden.png"] = _png(123)  # hidden files are never training data
    ds = load_image_folder(_zip(files))
    assert ds.label_names == ("cats", "dogs") and ds.likelihood == "bernoulli"
    assert ds.image_shape == (1, 28, 28) and (len(ds.train_x), len(ds.test_x)) == (10, 1)
    x = torch.cat([ds.train_x, ds.test_x])[:, 0]
    y = torch.cat([ds.train_y, ds.test_y])
    # Each source image was one flat grey: padding and resizing must keep it flat and exact.
    values = [int(img[0, 0]) for img in x]
    assert all(bool((img == v).all()) for img, v in zip(x, values, strict=True))
    assert sorted(values) == sorted([*cats.values(), *dogs.values()])
    for v, label in zip(values, y.tolist(), strict=True):
        assert (v < 100) == (ds.label_names[label] == "cats")


def test_load_image_folder_directory_rgb_and_exif(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    (tmp_path / "red.png").write_bytes(_png((255, 0, 0), mode="RGB"))
    (tmp_path / "blue.png").write_bytes(_png((0, 0, 255), size=(30, 9), mode="RGB"))
    # Left half white, right half black, stored with EXIF orientation 3 (rotate 180).
    img = Image.new("RGB", (16, 16), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 8, 16))
    exif = Image.Exif()
    exif[0x0112] = 3
    buf = io.BytesIO()
    img.save(buf, "PNG", exif=exif)
    (tmp_path / "rotated.png").write_bytes(buf.getvalue())
    ds = load_image_folder(tmp_path, size=(16, 12), channels=3)
    assert ds.label_names == ("images",) and ds.image_shape == (3, 16, 12)
    x = torch.cat([ds.train_x, ds.test_x])
    colours = {tuple(im[:, 0, 0].tolist()) for im in x}
    assert {(255, 0, 0), (0, 0, 255)} <= colours
    rotated = next(im for im in x if tuple(im[:, 0, 0].tolist()) == (0, 0, 0))
    assert rotated[:, :, :4].max() < 30 and rotated[:, :, -4:].min() > 225  # now white on the right


def test_load_image_folder_rejects_empty_and_bombs(tmp_path):
    with pytest.raises(ValueError, match="usable image"):
        load_image_folder(_zip({"a.txt": b"hello", "b/c.csv": b"1,2"}))
    with pytest.raises(ValueError, match="zip"):
        load_image_folder(b"this is not a zip")
    images = {f"a/{i}.png": _png(i) for i in range(3)}
    with pytest.raises(ValueError, match="more than 100000 bytes"):
        load_image_folder(_zip({**images, "zeros.bin": bytes(1_000_000)}), max_bytes=100_000)
    for name, data in images.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(data)
    assert len(load_image_folder(tmp_path).train_x) == 2
    (tmp_path / "zeros.bin").write_bytes(bytes(1_000_000))
    with pytest.raises(ValueError, match="more than 100000 bytes"):
        load_image_folder(tmp_path, max_bytes=100_000)
    # An image over the pixel limit is skipped, not decoded.
    big = {"b/big.png": _png(9, size=(100, 100))}
    ds = load_image_folder(_zip({**images, **big}), max_pixels=5000)
    assert len(ds.train_x) + len(ds.test_x) == 3 and ds.label_names == ("a",)


# --------------------------------------------------------------------------- float and binarize


def test_to_float():
    x = torch.tensor([0, 51, 255], dtype=torch.uint8)
    assert torch.allclose(to_float(x), torch.tensor([0.0, 0.2, 1.0]))
    assert to_float(x).dtype == torch.float32
    with pytest.raises(TypeError):
        to_float(x.float())


def test_binarize():
    x = torch.rand(200_000, generator=torch.Generator().manual_seed(0))
    b = binarize(x, torch.Generator().manual_seed(1))
    assert b.dtype == x.dtype and b.shape == x.shape
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert b.mean().item() == pytest.approx(x.mean().item(), abs=0.005)
    # P(1) follows each pixel: pixels under 0.1 are rarely on, pixels over 0.9 mostly on.
    assert b[x < 0.1].mean().item() == pytest.approx(0.05, abs=0.01)
    assert b[x > 0.9].mean().item() == pytest.approx(0.95, abs=0.01)
    assert torch.equal(b, binarize(x, torch.Generator().manual_seed(1)))
    assert not torch.equal(b, binarize(x, torch.Generator().manual_seed(2)))
    ends = torch.tensor([0.0, 1.0, 1.0, 0.0])
    assert torch.equal(binarize(ends, torch.Generator().manual_seed(3)), ends)


# --------------------------------------------------------------------------- one entry per dataset


def test_every_registry_entry_says_everything_the_app_needs():
    from vae.data.upload import STYLES

    for name, info in DATASETS.items():
        assert info.name == name and callable(info.loader)
        assert info.upload_style in STYLES and upload_style_for(name) == info.upload_style
        assert isinstance(info.default_epochs, int) and 1 <= info.default_epochs <= 100
        assert default_epochs_for(name) == info.default_epochs and info.label_names
    assert upload_style_for("folder:cats") == "generic" and default_epochs_for("zip") == 30


def test_a_new_dataset_is_one_registry_entry_plus_its_loader(tmp_path, monkeypatch):
    """A made-up dataset registered with one DatasetInfo: found, checksummed, loaded through
    its loader and cached, with its upload style and default epochs, and nothing else edited."""
    images = np.arange(6 * 4 * 4, dtype=np.uint8).reshape(6, 1, 4, 4)
    raw = images.tobytes()
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "toy.bin").write_bytes(raw)
    calls = []

    def load_toy(info, paths):
        calls.append(paths)
        x = np.frombuffer(paths[0].read_bytes(), np.uint8).reshape(-1, 1, 4, 4).copy()
        return from_arrays(info.name, x, np.arange(6) % 2, 2, info.label_names)

    toy = DatasetInfo(
        name="toy", title="Toy", image_shape=(1, 4, 4), likelihood="bernoulli",
        description="six 4x4 images", loader=load_toy, upload_style="face", default_epochs=7,
        label_names=("even", "odd"),
        files=(DataFile("toy/toy.bin", hashlib.sha256(raw).hexdigest(), len(raw)),),
    )  # fmt: skip
    monkeypatch.setitem(DATASETS, "toy", toy)
    assert dataset_available("toy", data_dir=tmp_path)
    ds = load_dataset("toy", data_dir=tmp_path, download=False)
    assert load_dataset("toy", data_dir=tmp_path, download=False) is ds and len(calls) == 1
    x = torch.cat([ds.train_x, ds.test_x]).numpy()
    # The fixed split is a permutation of the six images, nothing lost or duplicated.
    assert sorted(map(bytes, x.reshape(6, -1))) == sorted(map(bytes, images.reshape(6, -1)))
    assert (len(ds.train_x), len(ds.test_x)) == (4, 2) and ds.label_names == ("even", "odd")
    assert upload_style_for("toy") == "face" and default_epochs_for("toy") == 7
    (tmp_path / "toy" / "toy.bin").write_bytes(b"\x00" * 5)  # corrupt: the loader's error is reported
    with pytest.raises(DatasetUnavailable, match="Toy: a data file is corrupt"):
        load_dataset("toy", data_dir=tmp_path, download=False)
