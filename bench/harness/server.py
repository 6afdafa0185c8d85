"""One ``streamlit run`` on 127.0.0.1 for a test or a benchmark: started, polled on
``/_stcore/health`` until it answers, stopped by its PID; and the checkpoint folder the
browser tests and the classroom bench serve."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.harness import REPO

HEALTH_TIMEOUT_S = 60.0  # the first start imports streamlit on a busy 2-core machine
BUNDLED = ("digits_2d", "mnist_2d")
DEFAULT_MODEL = "digits_2d"


def free_port() -> int:
    """A TCP port nobody listens on at the moment of asking."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A started ``streamlit run``: its process, base URL (``http://127.0.0.1:PORT``) and log."""

    proc: subprocess.Popen
    url: str
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def healthy(self) -> bool:
        """Whether ``/_stcore/health`` answers 200 now."""
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT_S) -> None:
        """Poll the health endpoint until it answers; RuntimeError (the process exited) or
        TimeoutError, each with the log's tail, otherwise."""
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited with code {self.proc.returncode}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.url}/_stcore/health did not answer within {timeout:.0f} s:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Terminate by PID, then kill if it does not go within 10 s."""
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def app_env(checkpoints: Path, data: Path | None = None) -> dict[str, str | None]:
    """The environment for the app under test: its checkpoint folder, the real datasets when
    given, one torch thread (2 cores, shared with the browser), and not CI's browser policy."""
    env: dict[str, str | None] = {
        "VAE_CHECKPOINT_DIR": str(checkpoints), "OMP_NUM_THREADS": "1", "VAE_REQUIRE_BROWSER": None,
    }  # fmt: skip
    if data is not None:
        env["VAE_DATA_DIR"] = str(data)
    return env


def launch(
    log: Path,
    script: str | Path = "app.py",
    *,
    env: Mapping[str, str | None] = {},  # noqa: B006 (read only)
    cwd: Path = REPO,
    port: int | None = None,
    extra_args: Sequence[str] = (),
) -> Server:
    """Start ``streamlit run script`` headless on 127.0.0.1 without waiting for it.

    ``env``: variables set on top of this process's (None removes one); the repo is put on
    ``PYTHONPATH`` so that the app finds ``vae`` from any ``cwd``. ``extra_args``: more
    ``--section.option value`` flags. Output (stdout and stderr) is appended to ``log``."""
    port = port or free_port()
    full_env = {**os.environ}
    for key, value in env.items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    full_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), full_env.get("PYTHONPATH", "")) if p
    )
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false", *extra_args,
    ]  # fmt: skip
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    return Server(proc=proc, url=f"http://127.0.0.1:{port}", port=port, log=log)


def start_server(log: Path, script: str | Path = "app.py", **kwargs) -> Server:
    """:func:`launch`, then wait until healthy (stopped again if it never is)."""
    server = launch(log, script, **kwargs)
    try:
        server.wait_healthy()
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def running_server(
    log: Path | None = None, script: str | Path = "app.py", *, wait: bool = True, **kwargs
) -> Iterator[Server]:
    """A server for the ``with`` block, stopped at its end. ``log=None``: a temporary file,
    removed afterwards. ``wait=False`` returns before the server is healthy (start several at
    once, then call ``wait_healthy`` on each)."""
    with contextlib.ExitStack() as stack:
        if log is None:
            log = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "streamlit.log"
        server = start_server(log, script, **kwargs) if wait else launch(log, script, **kwargs)
        stack.callback(server.stop)
        yield server


def copy_bundled(folder: Path, names: Sequence[str], default: str) -> bool:
    """Copy the bundled ``checkpoints/<name>.pt`` into ``folder`` (created) with ``default``
    as the default model; False (nothing copied) when one of them is not in the repo."""
    paths = [REPO / "checkpoints" / f"{n}.pt" for n in names]
    if not all(p.exists() for p in paths):
        return False
    folder.mkdir(parents=True, exist_ok=True)
    for p in paths:
        shutil.copy2(p, folder / p.name)
    (folder / "default.txt").write_text(default + "\n")
    return True


def _readable(path: Path) -> bool:
    from vae.core.checkpoints import CheckpointError, load_checkpoint

    try:
        load_checkpoint(path)
    except CheckpointError:
        return False
    return True


def prepare_checkpoints(folder: Path) -> list[str]:
    """Copy the bundled digits/MNIST models that load into ``folder`` and name the digits one
    the default; train a small digits model when the bundled one is missing or unreadable.
    Returns notes on what was done (for the server log's header)."""
    folder.mkdir(parents=True, exist_ok=True)
    notes = []
    for name in BUNDLED:
        src = REPO / "checkpoints" / f"{name}.pt"
        if not src.exists():
            notes.append(f"{src.name}: not in the repo")
        elif not _readable(src):
            notes.append(f"{src.name}: in the repo but unreadable, not copied")
        else:
            shutil.copy2(src, folder / src.name)
    if not (folder / f"{DEFAULT_MODEL}.pt").exists():
        import torch

        from vae.app.quickstart import train_quickstart

        # One thread: on a busy 2-core machine two torch threads spin against each other
        # (15 epochs: about 3 s with one thread, over 60 s with two under load).
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        try:
            train_quickstart(folder / f"{DEFAULT_MODEL}.pt", epochs=15)
        finally:
            torch.set_num_threads(threads)
        notes.append(f"{DEFAULT_MODEL}.pt: trained here, 15 epochs ({time.perf_counter() - t0:.1f} s)")
    (folder / "default.txt").write_text(DEFAULT_MODEL + "\n")
    return notes
