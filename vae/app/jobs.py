"""Background training for the app's Train page: one :class:`TrainingJob` per browser session.

A job runs :func:`vae.core.fit.fit` in a daemon thread and publishes a thread-safe
:class:`JobSnapshot` (status, curves so far, preview images) that the page polls. Training
always builds a brand-new model inside ``fit``: no cached or shared model object is touched.

Server limits: at most ``MAX_CONCURRENT_TRAININGS`` jobs train at once in one server process
(default 2, env ``VAE_MAX_TRAININGS``); further jobs wait with status ``"queued"`` until a slot
frees, so a whole class pressing Train cannot overload the machine. All jobs share torch's
thread pool, so two trainings each run at about half speed on a small machine.

Lifetime: the thread is not tied to the browser tab. Closing the tab (or the session expiring)
leaves the job running; it finishes its epochs and saves the checkpoint as usual, and the
model then appears in everyone's model picker. The one exception is reading a user's zip,
which comes first: it stops (nothing saved) once ``owner_alive()`` says the tab is gone.
Stopping the *server* kills the daemon thread; the checkpoint is written atomically, so a
kill never leaves a half-written file.
"""

from __future__ import annotations

import logging
import os
import shlex
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vae.app import inference, names
from vae.core.checkpoints import save_checkpoint
from vae.core.device import describe_device, pick_device
from vae.core.fit import EpochStats, TrainConfig, fit
from vae.core.metrics import summarize
from vae.core.model import VAE, VAEConfig
from vae.core.snapshots import SnapshotRecorder, Snapshots, snapshot_epochs
from vae.data.folders import BuildStopped, ImageFolderError, ImageZip
from vae.data.kept_test_set import custom_test_set
from vae.data.registry import DATASETS, Dataset, DatasetUnavailable, load_dataset, to_float

log = logging.getLogger(__name__)

MAX_CONCURRENT_TRAININGS = max(1, int(os.environ.get("VAE_MAX_TRAININGS", "2")))
N_PREVIEW = 8  # fixed test images shown with their reconstructions each epoch
N_SAMPLES = 16  # prior samples shown each epoch (same latents every epoch: watch them sharpen)
IW_K, IW_N = 50, 500  # importance samples / test images for the saved log p(x) estimate

QUEUED, RUNNING, DONE, STOPPED, FAILED = "queued", "running", "done", "stopped", "failed"
FINISHED = frozenset({DONE, STOPPED, FAILED})

_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_TRAININGS)


def _release_gpu_memory() -> None:
    """Hand the CUDA cache back after a training, so an idle server holds no GPU memory
    that the next user (or another process) could use."""
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@contextmanager
def training_slot() -> Iterator[None]:
    """Hold one of the server's training slots for a training run outside a TrainingJob
    (e.g. the lecture's twins), so every training obeys the same concurrency limit."""
    global _active
    _SLOTS.acquire()
    with _active_lock:
        _active += 1
    try:
        yield
    finally:
        with _active_lock:
            _active -= 1
        _release_gpu_memory()
        _SLOTS.release()
_active_lock = threading.Lock()
_active = 0  # jobs holding a slot right now


def trainings_running() -> int:
    """How many jobs are training in this server process right now."""
    with _active_lock:
        return _active


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no truth value
class JobSnapshot:
    """A consistent copy of a job's state; safe to read from any thread.

    ``originals``/``reconstructions``: ``(8, C, H, W)`` floats in [0, 1] of fixed test images
    and their decoded posterior means; ``samples``: ``(16, C, H, W)`` decoded prior draws.
    All three are None until the first epoch ends and are replaced (never modified) each epoch.
    """

    status: str
    phase: str
    epoch: int
    total_epochs: int
    history: tuple[EpochStats, ...]
    originals: np.ndarray | None
    reconstructions: np.ndarray | None
    samples: np.ndarray | None
    error: str | None
    checkpoint_path: Path | None
    metrics: dict[str, Any] | None
    device: str
    elapsed: float
    snapshots: Snapshots | None = None  # the time-lapse so far (vae.core.snapshots)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def progress(self) -> float:
        return self.epoch / self.total_epochs if self.total_epochs else 0.0


@dataclass
class _State:
    status: str = QUEUED
    phase: str = "waiting for a free training slot"
    epoch: int = 0
    history: list[EpochStats] = field(default_factory=list)
    originals: np.ndarray | None = None
    reconstructions: np.ndarray | None = None
    samples: np.ndarray | None = None
    error: str | None = None
    checkpoint_path: Path | None = None
    metrics: dict[str, Any] | None = None
    started: float | None = None
    ended: float | None = None


def preview_indices(labels: torch.Tensor, n: int = N_PREVIEW) -> list[int]:
    """``n`` fixed test indices, one per class first (the first of each label), then the rest."""
    seen: set[int] = set()
    picked: list[int] = []
    for i, y in enumerate(labels.tolist()):
        if y not in seen:
            seen.add(y)
            picked.append(i)
        if len(picked) == n:
            return picked
    rest = [i for i in range(len(labels)) if i not in set(picked)]
    return (picked + rest)[:n]


class TrainingJob:
    """Train one model in a background thread and save it to ``output_path`` when done.

    ``dataset``: a name from :data:`vae.data.registry.DATASETS` (loaded, and downloaded if missing,
    inside the thread), a :class:`~vae.data.registry.Dataset`, or a user's zip as an
    :class:`~vae.data.folders.ImageZip`, read inside the thread: Stop ends the reading, and so
    does ``owner_alive()`` turning False (the page passes "the tab is still open"). ``meta`` is
    stored in the checkpoint, completed with the device, date and whether it was stopped early.

    Call :meth:`start`, poll :meth:`snapshot`, and :meth:`stop` to end early: the model of the
    last finished epoch is then saved (nothing is saved if no epoch finished). A failure
    (missing data, no network, disk full) ends with status ``"failed"`` and ``error`` set.
    """

    def __init__(
        self,
        model_config: VAEConfig,
        train_config: TrainConfig,
        dataset: str | Dataset | ImageZip,
        output_path: str | Path,
        meta: dict[str, Any] | None = None,
        *,
        device: str | torch.device | None = None,
        download: bool = True,
        owner_alive: Callable[[], bool] | None = None,
        owner: str | None = None,
    ) -> None:
        if isinstance(dataset, str) and dataset not in DATASETS:
            raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(DATASETS)}")
        self.model_config = model_config
        self.train_config = train_config
        self.dataset = dataset
        self.dataset_name = dataset if isinstance(dataset, str) else dataset.name
        self.output_path = Path(output_path)
        self.meta = dict(meta or {})
        self.device = pick_device(str(device) if device is not None else None)
        self.download = download
        self.owner_alive = owner_alive
        self.owner = owner  # vae.app.names: who claims output_path (None: no claim, e.g. the CLI)
        self.id = uuid.uuid4().hex  # lets a page tell its jobs apart across reruns
        self._lock = threading.Lock()
        self._state = _State()
        self._stop = threading.Event()
        self._recorder: SnapshotRecorder | None = None  # set once the data is loaded
        self._thread = threading.Thread(
            target=self._run, name=f"train-{self.output_path.stem}", daemon=True
        )

    # ------------------------------------------------------------------ public API

    def start(self) -> TrainingJob:
        """Claim the output name for ``owner`` (``names.NameTaken`` at once if it is another
        student's), then train in the background."""
        if self.owner is not None:
            names.claim(self.output_path, self.owner)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the job to stop at the next batch (or while it still waits for a slot)."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> JobSnapshot:
        """Block until the thread ends (or ``timeout``); returns the latest snapshot."""
        self._thread.join(timeout)
        return self.snapshot()

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            s = self._state
            now = s.ended or time.perf_counter()
            return JobSnapshot(
                status=s.status,
                phase=s.phase,
                epoch=s.epoch,
                total_epochs=self.train_config.epochs,
                history=tuple(s.history),
                originals=s.originals,
                reconstructions=s.reconstructions,
                samples=s.samples,
                error=s.error,
                checkpoint_path=s.checkpoint_path,
                metrics=dict(s.metrics) if s.metrics is not None else None,
                device=describe_device(self.device),
                elapsed=now - s.started if s.started is not None else 0.0,
                snapshots=self._recorder.result() if self._recorder is not None else None,
            )

    # ------------------------------------------------------------------ the thread

    def _set(self, **changes: Any) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self._state, k, v)

    def _run(self) -> None:
        global _active
        try:
            # Poll the semaphore so that stop() also works while the job is still queued.
            while not _SLOTS.acquire(timeout=0.2):
                if self._stop.is_set():
                    self._set(status=STOPPED, phase="stopped before it started", ended=time.perf_counter())
                    return
            with _active_lock:
                _active += 1
            try:
                self._set(status=RUNNING, phase="loading data", started=time.perf_counter())
                self._train()
            finally:
                with _active_lock:
                    _active -= 1
                _release_gpu_memory()
                _SLOTS.release()
        except BuildStopped:
            self._set(status=STOPPED, phase="stopped while reading the images: nothing saved")
        except (DatasetUnavailable, ImageFolderError) as e:  # messages written for the user
            self._set(status=FAILED, phase="failed", error=str(e))
        except Exception as e:  # the page shows the reason; the server log gets the trace
            log.exception("training job %s failed", self.output_path)
            self._set(status=FAILED, phase="failed", error=f"{type(e).__name__}: {e}")
        finally:
            self._set(ended=time.perf_counter())
            if self.owner is not None and self.snapshot().checkpoint_path is None:
                names.release(self.output_path, self.owner)  # nothing saved: the name is free again

    def _should_stop_reading(self) -> bool:
        return self._stop.is_set() or (self.owner_alive is not None and not self.owner_alive())

    def _train(self) -> None:
        if isinstance(self.dataset, ImageZip):
            self._set(phase="reading your images")
            data = self.dataset.build(self._should_stop_reading)
        elif isinstance(self.dataset, str):
            data = load_dataset(self.dataset, download=self.download)
        else:
            data = self.dataset
        idx = preview_indices(data.test_y)
        preview_x = to_float(data.test_x[idx]).numpy()
        recorder = SnapshotRecorder(
            data, snapshot_epochs(self.train_config.epochs), latent_dim=self.model_config.latent_dim,
            seed=self.train_config.seed,
        )  # fmt: skip
        with self._lock:
            self._recorder = recorder
        self._set(originals=preview_x, phase="training")

        def on_epoch_end(stats: EpochStats, model: VAE) -> None:
            # model is fit's own training model (in eval mode here); inference never mutates it.
            mu, _ = inference.encode(model, preview_x)
            recons = inference.decode(model, mu)
            samples = inference.prior_draws(model, N_SAMPLES, seed=0).images
            with self._lock:
                self._state.history.append(stats)
                self._state.epoch = stats.epoch
                self._state.reconstructions = recons
                self._state.samples = samples
            recorder(stats, model)  # after the figures above: the page shows them first

        model, history = fit(
            self.model_config,
            self.train_config,
            data,
            self.device,
            on_epoch_end=on_epoch_end,
            should_stop=self._stop.is_set,
        )
        if not history.epochs:
            self._set(status=STOPPED, phase="stopped before the first epoch finished: nothing saved")
            return
        self._set(phase=f"scoring the model (test ELBO, log p(x) with k = {IW_K})")
        metrics = summarize(model, data, binarized=self.train_config.binarize, iw_k=IW_K, iw_n=IW_N)
        meta = {
            **self.meta,
            "device": history.device,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "stopped_early": history.stopped_early,
            "epochs_done": len(history.epochs),
        }
        if self.dataset_name not in DATASETS:
            meta["test_set"] = custom_test_set(data)
        self._set(phase="saving")
        path = save_checkpoint(
            self.output_path,
            model.cpu(),
            dataset=self.dataset_name,
            train_config=self.train_config.to_dict(),
            metrics=metrics,
            history=history.to_list(),
            meta=meta,
            snapshots=recorder.result(),
        )
        status = STOPPED if history.stopped_early else DONE
        self._set(status=status, phase="saved", checkpoint_path=path, metrics=metrics)


def cli_command(
    model_config: VAEConfig, train_config: TrainConfig, dataset: str, out: str | Path
) -> str:
    """The ``python -m vae.train`` command that trains the same model (stored in the
    checkpoint's meta, shown on the Home page), so a student can redo it outside the app."""
    cfg, tc = model_config, train_config
    if dataset not in DATASETS:  # a user's zip: the CLI reads it as a folder dataset
        c, h, w = cfg.image_shape
        dataset_args = ["--dataset", "folder:YOUR_IMAGES.zip", "--image-size", f"{h}x{w}", "--image-channels", c]
    else:
        dataset_args = ["--dataset", dataset]
    args = [
        *dataset_args, "--latent-dim", cfg.latent_dim, "--arch", cfg.architecture,
        "--hidden", ",".join(map(str, cfg.hidden)), "--variant", cfg.variant,
        "--epochs", tc.epochs, "--batch-size", tc.batch_size, "--lr", tc.lr, "--beta", tc.beta,
        "--seed", tc.seed, "--iw-k", IW_K, "--iw-n", IW_N,
    ]  # fmt: skip
    if cfg.architecture == "conv":
        args += ["--channels", ",".join(map(str, cfg.conv_channels))]
    if tc.binarize:
        args.append("--binarize")
    args += ["--snapshots", "--out", str(out)]  # the app's jobs always record the time-lapse
    return "python -m vae.train " + " ".join(shlex.quote(str(a)) for a in args)
