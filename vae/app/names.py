"""Who may write which user model file, so that two students never overwrite each other.

A training claims its output name when it starts (:func:`claim`, called by
``TrainingJob.start``) and keeps it once its model is saved; a failed or empty training
releases it. A name held by another owner, or a file already on disk that this owner did not
save in this server's lifetime, is refused at once with :class:`NameTaken`. Names compare
case-insensitively (``My-Model`` and ``my-model`` are one name: look-alikes, and one file on
case-insensitive file systems). Owners are opaque strings (the app uses one per browser
session); claims live in this server process.
"""

from __future__ import annotations

import threading
from pathlib import Path

FREE, YOURS, TAKEN, EXISTS = "free", "yours", "taken", "exists"

_lock = threading.Lock()
_owners: dict[tuple[str, str], str] = {}  # (folder, lower-case file name) -> owner


class NameTaken(ValueError):
    """The name belongs to another student's model; the message says so, for users."""


def _key(path: Path) -> tuple[str, str]:
    path = Path(path)
    return str(path.parent.resolve()), path.name.lower()


def _on_disk(path: Path) -> bool:
    """A file of this name, in any letter case, is in the folder already."""
    path = Path(path)
    try:
        return any(p.name.lower() == path.name.lower() for p in path.parent.iterdir())
    except OSError:
        return False


def status(path: str | Path, owner: str) -> str:
    """``"free"``, ``"yours"`` (``owner`` claimed it in this server), ``"taken"`` (another
    owner did) or ``"exists"`` (a file nobody here claimed: an earlier or another server's)."""
    with _lock:
        holder = _owners.get(_key(path))
    if holder == owner:
        return YOURS
    if holder is not None:
        return TAKEN
    return EXISTS if _on_disk(path) else FREE


def message(path: str | Path, state: str) -> str:
    """What a user is told about a name in state ``"taken"`` or ``"exists"``."""
    stem = Path(path).stem
    if state == TAKEN:
        return f"Another student is training or has saved a model called '{stem}': choose another name."
    return f"A model called '{stem}' already exists and is not yours to replace: choose another name."


def claim(path: str | Path, owner: str) -> None:
    """Reserve ``path`` for ``owner`` (idempotent for the same owner), or ``NameTaken``."""
    with _lock:
        key = _key(path)
        holder = _owners.get(key)
        if holder is None and _on_disk(path):
            raise NameTaken(message(path, EXISTS))
        if holder is not None and holder != owner:
            raise NameTaken(message(path, TAKEN))
        _owners[key] = owner


def release(path: str | Path, owner: str) -> None:
    """Give the name back (a training that saved nothing); only its owner can."""
    with _lock:
        key = _key(path)
        if _owners.get(key) == owner:
            del _owners[key]
