"""vae.data.download against a local HTTP server: good, tampered, truncated and oversized
files, atomic writes, mirror fall-over, and load_dataset downloading MNIST from a mirror."""

from __future__ import annotations

import functools
import hashlib
import shutil
import socket
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch

from vae.data.download import download_file
from vae.data.registry import DatasetUnavailable, dataset_available, load_dataset

IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# The published MNIST files (shared/data/README.md checks them against the published MD5s).
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/truncated/"):
            # Promise 1000 bytes, send 100, hang up: a connection dropped mid-transfer.
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 100)
            self.close_connection = True
            return
        if self.path.startswith("/slow/"):
            # Send half, then wait until the test has looked at the cache mid-transfer.
            body = self.server.slow_body  # type: ignore[attr-defined]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.server.release.wait(10)  # type: ignore[attr-defined]
            self.wfile.write(body[len(body) // 2 :])
            return
        super().do_GET()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A client that hangs up early (max_bytes, a failed mirror) is expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture
def server(tmp_path):
    """``(served_dir, base_url, server)``: an HTTP server on 127.0.0.1 serving a temp dir."""
    root = tmp_path / "served"
    root.mkdir()
    httpd = _Server(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    httpd.slow_body, httpd.release = b"", threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/", httpd
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def dead_url() -> str:
    """A URL on a port nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # A proxy from the environment must not intercept requests to the local server.
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def test_download_good_file(server, tmp_path):
    root, base, _ = server
    payload = np.random.default_rng(1).bytes(200_000)
    (root / "good.bin").write_bytes(payload)
    dest = tmp_path / "cache" / "sub" / "good.bin"
    assert download_file([base + "good.bin"], dest, sha256(payload)) == dest
    assert sha256(dest.read_bytes()) == sha256(payload)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["good.bin"]  # no temp left


def test_download_is_atomic(server, tmp_path):
    _, base, httpd = server
    httpd.slow_body = payload = np.random.default_rng(2).bytes(300_000)
    dest = tmp_path / "cache" / "f.bin"
    result: list = []
    worker = threading.Thread(
        target=lambda: result.append(download_file([base + "slow/f.bin"], dest, sha256(payload)))
    )
    worker.start()
    try:
        # Mid-transfer: the bytes go to a temp file beside dest, and dest does not exist yet.
        for _ in range(500):
            parts = list(dest.parent.glob(".f.bin.*.part")) if dest.parent.exists() else []
            if parts and parts[0].stat().st_size > 0:
                break
            time.sleep(0.01)
        assert parts and not dest.exists()
    finally:
        httpd.release.set()
        worker.join(10)
    assert result == [dest] and dest.read_bytes() == payload
    assert [p.name for p in dest.parent.iterdir()] == ["f.bin"]


def test_download_tampered_file_leaves_nothing(server, tmp_path):
    root, base, _ = server
    payload = b"the real file" * 1000
    (root / "f.bin").write_bytes(payload[:-1] + b"!")
    cache = tmp_path / "cache"
    with pytest.raises(DatasetUnavailable) as err:
        download_file([base + "f.bin"], cache / "f.bin", sha256(payload))
    msg = str(err.value)
    assert base + "f.bin" in msg and "SHA-256 mismatch" in msg and str(cache / "f.bin") in msg
    assert list(cache.iterdir()) == []


def test_download_cut_short_or_oversized_leaves_nothing(server, tmp_path):
    root, base, _ = server
    cache = tmp_path / "cache"
    with pytest.raises(DatasetUnavailable, match="cut short"):
        download_file([base + "truncated/f.bin"], cache / "f.bin", "0" * 64)
    (root / "big.bin").write_bytes(b"y" * 300_000)
    with pytest.raises(DatasetUnavailable, match="more than the expected"):
        download_file([base + "big.bin"], cache / "big.bin", "0" * 64, max_bytes=1000)
    assert list(cache.iterdir()) == []


def test_download_falls_over_to_the_next_mirror(server, dead_url, tmp_path):
    root, base, _ = server
    payload = b"mirror two" * 500
    (root / "f.bin").write_bytes(payload)
    urls = [dead_url + "f.bin", base + "missing/f.bin", base + "f.bin"]
    dest = download_file(urls, tmp_path / "f.bin", sha256(payload), timeout=5)
    assert dest.read_bytes() == payload
    with pytest.raises(DatasetUnavailable) as err:
        download_file(urls[:2], tmp_path / "g.bin", sha256(payload), timeout=5)
    msg = str(err.value)
    assert urls[0] in msg and urls[1] in msg and "HTTP 404" in msg
    assert not (tmp_path / "g.bin").exists()


def test_load_dataset_downloads_mnist_from_mirror(server, dead_url, shared_data, tmp_path):
    root, base, _ = server
    (root / "m").mkdir()
    for name in IDX_FILES:
        shutil.copy(shared_data / "mnist" / name, root / "m" / name)
    data_dir = tmp_path / "empty"
    mirrors = {"mnist": [dead_url, base + "m/"]}
    ds = load_dataset("mnist", data_dir=data_dir, mirrors=mirrors, timeout=5)
    for name in IDX_FILES:
        assert sha256((data_dir / "mnist" / name).read_bytes()) == MNIST_SHA256[name]
    assert sorted(p.name for p in (data_dir / "mnist").iterdir()) == sorted(IDX_FILES)
    ref = load_dataset("mnist", data_dir=shared_data, download=False)
    assert ds is not ref  # parsed from the downloaded copies...
    for field in ("train_x", "train_y", "test_x", "test_y"):  # ...to the same arrays
        assert torch.equal(getattr(ds, field), getattr(ref, field))
    assert dataset_available("mnist", data_dir=data_dir)


def test_load_dataset_with_only_bad_mirrors_raises(server, tmp_path):
    _, base, _ = server
    with pytest.raises(DatasetUnavailable, match="Could not download train-images"):
        load_dataset("mnist", data_dir=tmp_path, mirrors={"mnist": [base + "nothing/"]})
    assert not any(p.is_file() for p in tmp_path.rglob("*"))
