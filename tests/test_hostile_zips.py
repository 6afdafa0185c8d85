"""Hostile zips on the Train page's path (``vae.data.folders`` and the training job): every cost
bounded before it is paid, every failure a message a student can act on.

The zips are built here (``bench/harness/hostile_zips.py``, a few KB each). Cases that would need a
lot of memory on unbounded code run in a subprocess under ``RLIMIT_AS`` = 2 GiB and report
their peak resident memory, which is what is asserted (never a wall time).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.harness import hostile_zips as hz
from vae.core.fit import TrainConfig
from vae.core.model import VAEConfig

REPO = Path(__file__).resolve().parent.parent
MEMORY_LIMIT = 2 * 2**30  # the whole subprocess, torch included


def _limited(zip_path: Path, **kwargs) -> dict:
    """Load ``zip_path`` with ``load_image_folder(**kwargs)`` in a fresh interpreter limited to
    2 GiB of address space; returns the peak-RSS growth (MB), CPU seconds and the outcome."""
    code = textwrap.dedent(f"""
        import json, resource, sys, time
        resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))
        from vae.data.folders import load_image_folder
        from pathlib import Path
        data = Path({str(zip_path)!r}).read_bytes()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cpu = time.process_time()
        try:
            ds = load_image_folder(data, **{kwargs!r})
            out = {{"images": len(ds.train_x) + len(ds.test_x), "labels": list(ds.label_names),
                    "x": [t.tolist() for t in (ds.train_x, ds.test_x)]}}
        except Exception as e:
            out = {{"error": type(e).__name__, "message": str(e)}}
        out["cpu_s"] = time.process_time() - cpu
        out["peak_growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print(json.dumps(out))
    """)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _raw_errors(data: bytes) -> list[Exception]:
    """What zipfile itself raises for ``data``: exceptions whose text a user must never see."""
    errors = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                try:
                    zf.read(info)
                except Exception as e:
                    errors.append(e)
    except Exception as e:
        errors.append(e)
    return errors


# --------------------------------------------------------------------------- clear messages


@pytest.mark.parametrize("case", sorted(hz.FAILURES))
def test_every_zip_failure_gets_a_clear_message(case):
    from vae.data.folders import load_image_folder

    build, expected = hz.FAILURES[case]
    data = build()
    raw = _raw_errors(data)
    assert raw, "the hostile zip must really be broken"
    # A ValueError: the Train page shows its text (display.user_errors) rather than crashing.
    with pytest.raises(ValueError) as err:
        load_image_folder(data)
    message = str(err.value)
    assert expected in message and "Please" in message or "Skipped" in message, message
    for e in raw:
        for text in (type(e).__name__, str(e)):
            assert not text or text not in message, f"raw {text!r} reaches the user: {message}"
    assert "Error" not in message and "codec" not in message and "Traceback" not in message


# --------------------------------------------------------------------------- bounded work


def test_strips_are_not_padded_into_pixel_bombs(tmp_path):
    """20000x20 colour strips (padded first, each a 400-megapixel square: 1.2 GB) and one
    200000x200 strip (40 megapixels, the most allowed; padded first: 40 gigapixels) load as
    ordinary images, within a small, stated amount of memory."""
    strips = [hz.entry(f"strips/{i}.png", hz.strip_png(20000, 20, "RGB")) for i in range(3)]
    strips.append(hz.entry("strips/long.png", hz.strip_png(200_000, 200)))
    path = tmp_path / "strips.zip"
    path.write_bytes(hz.raw_zip(hz.good_entries() + strips))
    assert path.stat().st_size < 200_000
    out = _limited(path, channels=3)
    assert "error" not in out, out
    assert out["images"] == 6 and out["labels"] == ["ok", "strips"]
    assert out["peak_growth_mb"] < 300, out  # the 40-MP strip itself decodes to 40 MB


def test_padding_after_reducing_matches_padding_first():
    """The reduced strip, padded, shows the same picture as the old way of padding the
    full-size strip first (computed here with Pillow alone): the same ink, in the same place
    to within the quarter pixel that rounding the reduced strip's size can move it."""
    from vae.data.folders import image_to_array

    w, h = 900, 90
    data = hz.strip_png(w, h)
    got = image_to_array(data, (28, 28), 1)[0].astype(float)
    square = Image.new("L", (w, w), 0)
    square.paste(Image.open(io.BytesIO(data)), (0, (w - h) // 2))
    ref = np.asarray(square.resize((28, 28), Image.Resampling.LANCZOS)).astype(float)
    assert got.max() > 100  # the bar is visible
    assert abs(got.sum() - ref.sum()) < 0.03 * ref.sum()
    rows = np.arange(28)
    centre = (got.sum(1) @ rows) / got.sum(), (ref.sum(1) @ rows) / ref.sum()
    assert abs(centre[0] - centre[1]) < 0.3, centre
    assert np.allclose(got.sum(0), got.sum(0)[0], atol=2)  # the bar spans the full width, evenly


def test_an_entry_lying_about_its_size_is_capped_while_reading(tmp_path):
    """An entry declaring 1000 bytes that inflates to 300 MB: reading stops at the declared
    size (then the CRC fails and the entry is skipped) without ever holding the 300 MB."""
    path = tmp_path / "liar.zip"
    path.write_bytes(hz.lying_entry(actual=300_000_000, declared=1000))
    assert path.stat().st_size < 1_000_000
    out = _limited(path)
    assert out.get("images") == 2, out  # the two honest images
    assert out["peak_growth_mb"] < 100, out


def test_the_unpacked_total_is_counted_not_read_from_headers():
    """Entries under the per-file cap that declare a few bytes each but inflate to 3 MB: the
    total read is counted as it arrives, so a 5 MB limit stops the zip."""
    from vae.data.folders import ImageFolderError, load_image_folder

    liars = []
    for i in range(4):
        stream, crc, _ = hz.deflate(3_000_000)
        liars.append({"name": f"a/{i}.png".encode(), "data": stream, "method": 8, "crc": crc, "size": 3_000_000 if i else 10})
    data = hz.raw_zip(hz.good_entries() + liars)
    with pytest.raises(ImageFolderError, match="more than 5000000 bytes"):
        load_image_folder(data, max_bytes=5_000_000)


def test_decoding_budget_and_cpu_budget_stop_a_build():
    from vae.data import folders

    big = hz.png((2000, 2000), 90)  # 4 megapixels, a few KB
    data = hz.raw_zip([hz.entry(f"a/{i}.png", big) for i in range(10)])
    with pytest.raises(folders.ImageFolderError, match="more than 10 megapixels in all"):
        folders.load_image_folder(data, max_total_pixels=10_000_000)
    with pytest.raises(folders.ImageFolderError, match="computing time"):
        folders.load_image_folder(data, max_cpu_seconds=0)
    assert len(folders.load_image_folder(data).train_x) == 9  # the defaults allow it


def test_should_stop_ends_the_build_between_files(monkeypatch):
    from vae.data import folders

    decoded = []
    real = folders.image_to_array
    monkeypatch.setattr(folders, "image_to_array", lambda *a, **k: decoded.append(1) or real(*a, **k))
    data = hz.raw_zip([hz.entry(f"a/{i}.png", hz.png((16, 16), i)) for i in range(50)])
    with pytest.raises(folders.BuildStopped):
        folders.load_image_folder(data, should_stop=lambda: len(decoded) >= 3)
    assert len(decoded) == 3


@pytest.mark.parametrize("how", ["stop", "closed tab"])
def test_training_job_reads_the_zip_and_stop_or_a_closed_tab_ends_it(tmp_path, monkeypatch, how):
    from vae.app.jobs import TrainingJob
    from vae.data import folders

    decoded = []
    real = folders.image_to_array
    job = None

    def counting(*a, **k):
        decoded.append(1)
        if how == "stop" and len(decoded) == 4:
            job.stop()
        return real(*a, **k)

    monkeypatch.setattr(folders, "image_to_array", counting)
    data = hz.raw_zip([hz.entry(f"c{i % 2}/{i}.png", hz.png((16, 16), i)) for i in range(200)])
    source = folders.ImageZip(data, (8, 8), 1)
    alive = (lambda: len(decoded) < 6) if how == "closed tab" else None
    cfg = VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,))
    out = tmp_path / "m.pt"
    job = TrainingJob(cfg, TrainConfig(epochs=1), source, out, owner_alive=alive)
    snap = job.start().wait(120)
    assert snap.status == "stopped" and "reading the images" in snap.phase, snap
    assert len(decoded) <= 6 and not out.exists()


def test_training_job_trains_on_a_zip_and_reports_a_bad_one_plainly(tmp_path):
    from vae.app.jobs import TrainingJob
    from vae.data.folders import ImageZip

    cfg = VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,))
    data = hz.raw_zip([hz.entry(f"c{i % 2}/{i}.png", hz.png((16, 16), 20 * i)) for i in range(12)])
    snap = TrainingJob(cfg, TrainConfig(epochs=1), ImageZip(data, (8, 8), 1), tmp_path / "a.pt").start().wait(120)
    assert snap.status == "done" and (tmp_path / "a.pt").exists(), snap.error
    bad = ImageZip(hz.bad_end_record(), (8, 8), 1)
    snap = TrainingJob(cfg, TrainConfig(epochs=1), bad, tmp_path / "b.pt").start().wait(120)
    assert snap.status == "failed" and snap.error.startswith("This is not a readable zip"), snap.error
