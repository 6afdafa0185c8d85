"""Kill -9 at random moments never leaves a corrupt checkpoint (``vae.core.checkpoints.save_checkpoint``).

Real processes save checkpoints to the *same* path over and over (``tests/killable_saver.py``)
and are SIGKILLed at seeded random moments: while starting up, while a save is being written,
and between saves. After every kill every ``*.pt`` in the folder is loaded with
``load_checkpoint``; each must load, hold weights whose SHA-256 matches the one the writer
recorded in memory, and be either the version that was in place before or the one being
written (the writer prints ``saved N`` after each save returns, so the file must hold version
``N`` or ``N + 1``). Stray temp files of interrupted saves must not appear in
``list_checkpoints``. The real CLI (``python -m vae.train``) is killed too: during start-up,
and while stopped inside its save (its temp file written, not yet renamed over the old one).

Most kills hit children forked from one prepared saver (``killable_saver.py fork``): a fork
costs milliseconds where ``import torch`` costs 2-10 s on the shared CI machine, and a forked
child is as real a process as any for SIGKILL. The three scenarios (forked savers, fresh
savers, the CLI) each use their own folder and run side by side, so the start-up times overlap.

Prints one summary line (``KILL TEST: ...``); run pytest with ``-s`` to see it.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vae.core.checkpoints import CheckpointError, list_checkpoints, load_checkpoint, save_checkpoint
from vae.core.model import VAE, VAEConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from killable_saver import weights_digest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAVER = REPO / "tests" / "killable_saver.py"
SEED = 20261126
N_FORK_KILLS = 48  # children of the prepared saver, then the saver itself once
N_FRESH_STARTUP_KILLS = 3  # fresh interpreters killed 0-1.5 s after launch (import torch...)
STEP = 1_000_000  # versions: process k saves k * STEP, k * STEP + 1, ...
WAIT = 90.0  # seconds to wait for a helper's next line (the machine is shared and busy)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def _spawn(args: list[str], stdin: bool = False) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args], stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_env(), cwd=REPO,
    )  # fmt: skip


def _kill(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGKILL)
    return proc.wait(WAIT)


class Lines:
    """A child's stdout through a reader thread, so that every read has a timeout."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def next(self) -> str | None:
        """The next line; None at the end of the output."""
        try:
            return self.q.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError(f"no output from pid {self.proc.pid} for {WAIT:.0f} s") from None

    def saved(self) -> list[int]:
        """The versions reported by ``saved N`` lines up to the end of the output."""
        out = []
        while (line := self.next()) is not None:
            if line.startswith("saved "):
                out.append(int(line.split()[1]))
        return out


@dataclass
class Audit:
    kills: int = 0
    files_checked: int = 0
    corrupt: list[str] = field(default_factory=list)
    mid_save: int = 0  # kills that left a temp file behind: the kill landed inside a save
    versions: set[int] = field(default_factory=set)


def _temp_files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.endswith(".tmp")}


def check_folder(folder: Path, audit: Audit) -> dict[str, dict]:
    """Load every ``*.pt`` in ``folder``: each must be a complete checkpoint whose weights
    match the digest its writer recorded. Returns ``{file name: meta}`` of the good ones."""
    metas = {}
    for path in sorted(folder.glob("*.pt")):
        audit.files_checked += 1
        try:
            ckpt = load_checkpoint(path)
        except CheckpointError as e:
            audit.corrupt.append(str(e))
            continue
        digest = ckpt.meta.get("digest")
        if digest is not None and digest != weights_digest(ckpt.state_dict):
            audit.corrupt.append(f"{path.name}: weights differ from version {ckpt.meta['step']}'s")
            continue
        metas[path.name] = ckpt.meta
    # The listing shows exactly the *.pt files, all usable: temp files are never offered.
    listed = list_checkpoints(folder)
    assert sorted(e.path.name for e in listed) == sorted(p.name for p in folder.glob("*.pt"))
    assert all(e.ok for e in listed), [e.error for e in listed if not e.ok]
    return metas


class Target:
    """``model.pt`` in a folder beside an untouched ``neighbour.pt``; checks after each kill."""

    def __init__(self, folder: Path, audit: Audit) -> None:
        folder.mkdir()
        self.folder, self.audit, self.path = folder, audit, folder / "model.pt"
        torch.manual_seed(1)
        model = VAE(VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,)))
        self.neighbour = save_checkpoint(folder / "neighbour.pt", model, dataset="digits").read_bytes()
        self.version: int | None = None  # the version in model.pt now
        self.temps = _temp_files(folder)

    def after_kill(self, start: int, saved: list[int]) -> None:
        """The file holds the last version whose save returned, or the next one (killed after
        the rename, before ``saved`` was printed); with no save returned, the version that
        was there before, or this process's first one. Nothing else changed."""
        self.audit.kills += 1
        metas = check_folder(self.folder, self.audit)
        assert (self.folder / "neighbour.pt").read_bytes() == self.neighbour
        assert saved == list(range(start, start + len(saved))), "the saver skipped versions"
        now = metas["model.pt"]["step"] if "model.pt" in metas else None
        allowed = {saved[-1], saved[-1] + 1} if saved else {self.version, start}
        assert now in allowed, f"after the kill model.pt holds version {now}, expected one of {allowed}"
        self.version = now
        if now is not None:
            self.audit.versions.add(now)
        temps = _temp_files(self.folder)
        self.audit.mid_save += bool(temps - self.temps)
        self.temps = temps


def forked_savers(folder: Path, rng: random.Random, audit: Audit) -> None:
    """One prepared saver forks N_FORK_KILLS children, each killed at a random moment of its
    save loop; finally the saver itself is made to save and is killed."""
    target = Target(folder, audit)
    proc = _spawn([str(SAVER), "fork", str(target.path)], stdin=True)
    lines = Lines(proc)
    try:
        assert lines.next() == "ready"
        for k in range(1, N_FORK_KILLS + 1):
            start = k * STEP
            proc.stdin.write(f"go {start}\n")
            proc.stdin.flush()
            line = lines.next()
            assert line.startswith("child "), line
            pid = int(line.split()[1])
            # One in eight within the child's first milliseconds; the rest inside the save loop
            # after its first save returned (a save takes ~10-30 ms on a quiet machine), so
            # each such kill leaves a new version whatever the load: waiting on the child's
            # output rather than on the clock keeps the test's own checks load-independent.
            saved = []
            if rng.random() < 0.125:
                time.sleep(rng.uniform(0.0, 0.005))
            else:
                line = lines.next()
                assert line.startswith("saved "), line
                saved.append(int(line.split()[1]))
                time.sleep(rng.uniform(0.0, 0.06))
            os.kill(pid, signal.SIGKILL)
            while not (line := lines.next()).startswith(f"exit {pid} "):
                assert line.startswith("saved "), line
                saved.append(int(line.split()[1]))
            status = int(line.split()[2])
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
                f"child {pid} ended with status {status}, not by the kill: it failed on its own"
            )
            target.after_kill(start, saved)
        start = (N_FORK_KILLS + 1) * STEP
        proc.stdin.write(f"run {start}\n")
        proc.stdin.flush()
        time.sleep(rng.uniform(0.0, 0.3))
        assert _kill(proc) == -signal.SIGKILL
        target.after_kill(start, lines.saved())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def fresh_savers(folder: Path, rng: random.Random, audit: Audit) -> None:
    """Fresh interpreters killed during start-up (import torch, the first saves), then one
    killed 0-0.3 s after it starts saving."""
    target = Target(folder, audit)
    for k in range(1, N_FRESH_STARTUP_KILLS + 2):
        start = k * STEP
        proc = _spawn([str(SAVER), "loop", str(target.path), "--start", str(start)])
        lines = Lines(proc)
        try:
            if k <= N_FRESH_STARTUP_KILLS:
                time.sleep(rng.uniform(0.0, 1.5))
            else:
                assert lines.next() == "ready"
                time.sleep(rng.uniform(0.0, 0.3))
            assert _kill(proc) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        target.after_kill(start, lines.saved())


def _cli_args(out: Path) -> list[str]:
    # A wide MLP, so that its checkpoint (~5 MB) takes a while to write and fsync.
    return [
        "--dataset", "digits", "--epochs", "1", "--hidden", "1024,512", "--latent-dim", "2",
        "--batch-size", "256", "--iw-k", "2", "--iw-n", "20", "--out", str(out),
    ]  # fmt: skip


def _cli(out: Path) -> subprocess.Popen:
    return _spawn(["-m", "vae.train", *_cli_args(out)])


# ``python -m vae.train`` whose save stops the process after writing its temp file, before
# renaming it over the old checkpoint (the rename of a ``.tmp`` file is save_checkpoint's).
PAUSE_BEFORE_RENAME = """
import os, runpy, signal
_replace = os.replace
def _paused(src, dst, *a, **k):
    if str(src).endswith(".tmp"):
        os.kill(os.getpid(), signal.SIGSTOP)
    return _replace(src, dst, *a, **k)
os.replace = _paused
runpy.run_module("vae.train", run_name="__main__", alter_sys=True)
"""


def _wait_stopped(proc: subprocess.Popen, timeout: float) -> bool:
    """Until ``proc`` is stopped by a signal (True) or has ended (False, returncode set)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status = os.waitpid(proc.pid, os.WNOHANG | os.WUNTRACED)
        if pid and os.WIFSTOPPED(status):
            return True
        if pid:  # it exited: hand the status to Popen
            proc.returncode = os.waitstatus_to_exitcode(status)
            return False
        time.sleep(0.05)
    raise AssertionError(f"the CLI neither stopped nor ended within {timeout:.0f} s")


def cli_runs(folder: Path, rng: random.Random, audit: Audit) -> None:
    """``python -m vae.train`` killed during start-up into a new path (nothing may appear),
    then killed inside its save beside an existing checkpoint, after the temp file is written and
    before the rename (the old checkpoint must stay intact, the temp file must not list)."""
    folder.mkdir()
    dest = folder / "mine.pt"
    torch.manual_seed(0)
    old = save_checkpoint(dest, VAE(VAEConfig(image_shape=(1, 8, 8), hidden=(16,))), dataset="digits").read_bytes()

    proc = _cli(folder / "fresh.pt")
    time.sleep(rng.uniform(0.2, 1.5))
    assert _kill(proc) == -signal.SIGKILL
    audit.kills += 1
    assert not (folder / "fresh.pt").exists()
    check_folder(folder, audit)

    # The kill must land inside the save, which takes milliseconds: polling for the temp file
    # could miss it on a busy machine. So the CLI stops itself (SIGSTOP) once its temp file is
    # written and before the rename, and is killed while it waits there.
    proc = _spawn(["-c", PAUSE_BEFORE_RENAME, *_cli_args(dest)])
    try:
        stopped = _wait_stopped(proc, 4 * WAIT)
        assert stopped, f"the CLI ended (exit code {proc.returncode}) before its rename"
        assert _temp_files(folder), "stopped before the rename, yet no temp file"
        assert _kill(proc) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    audit.kills += 1
    audit.mid_save += 1
    check_folder(folder, audit)
    assert sorted(p.name for p in folder.glob("*.pt")) == ["mine.pt"]
    assert dest.read_bytes() == old  # killed before the rename: the old checkpoint, untouched


def test_sigkill_at_random_moments_never_leaves_a_corrupt_checkpoint(tmp_path):
    rng = random.Random(SEED)
    scenarios = {"forked saver": forked_savers, "fresh saver": fresh_savers, "CLI": cli_runs}
    audits = {name: Audit() for name in scenarios}
    seeds = {name: rng.randrange(2**32) for name in scenarios}
    with ThreadPoolExecutor(len(scenarios)) as pool:
        futures = [
            pool.submit(run, tmp_path / name.replace(" ", "-"), random.Random(seeds[name]), audits[name])
            for name, run in scenarios.items()
        ]
        for f in futures:
            f.result()

    kills = sum(a.kills for a in audits.values())
    files = sum(a.files_checked for a in audits.values())
    corrupt = [c for a in audits.values() for c in a.corrupt]
    mid_save = sum(a.mid_save for a in audits.values())
    print(
        f"\nKILL TEST: {kills} SIGKILLs ("
        + ", ".join(f"{a.kills} {name}" for name, a in audits.items())
        + f"); {files} checkpoint files loaded after kills; {len(corrupt)} corrupt found; "
        f"{mid_save} kills landed mid-save (left a temp file); "
        f"{len(audits['forked saver'].versions)} distinct versions seen by the forked savers"
    )
    assert corrupt == []
    # The test did what it claims: many kills, a good share inside saves, many versions.
    assert kills >= N_FORK_KILLS + N_FRESH_STARTUP_KILLS + 2 + 1
    assert audits["forked saver"].mid_save >= 5, "too few kills landed inside a save"
    assert len(audits["forked saver"].versions) >= N_FORK_KILLS // 2


def test_saved_files_are_readable_like_any_new_file(tmp_path):
    """``mkstemp`` creates 0600 files: a checkpoint saved by a teacher's CLI run would then be
    unreadable by a server running as another user. The mode must follow the umask."""
    old_umask = os.umask(0o022)
    try:
        model = VAE(VAEConfig(image_shape=(1, 8, 8), hidden=(8,)))
        path = save_checkpoint(tmp_path / "m.pt", model, dataset="digits")
        os.umask(0o077)
        private = save_checkpoint(tmp_path / "private.pt", model, dataset="digits")
    finally:
        os.umask(old_umask)
    assert path.stat().st_mode & 0o777 == 0o644
    assert private.stat().st_mode & 0o777 == 0o600
