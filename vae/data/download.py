"""Where data files live and how a missing one is fetched: checksummed, atomic downloads.

Data files are looked up in :func:`data_dirs` (an explicit ``data_dir``; else ``$VAE_DATA_DIR``
then the per-user cache ``$XDG_CACHE_HOME/vae-latent-explorer``). :func:`download_file` streams
a file from the first mirror that serves the expected SHA-256 into a temp file beside its
destination and renames it into place, so a failed or interrupted try leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

ENV_VAR = "VAE_DATA_DIR"
CACHE_SUBDIR = "vae-latent-explorer"


class DatasetUnavailable(Exception):
    """A dataset's files are missing, corrupt or could not be downloaded; the message says
    which files, where they were looked for, and where to put them by hand."""


def data_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Directories searched for data files, in order (first existing file wins).

    An explicit ``data_dir`` is the only one searched (so callers and tests get exactly what
    they asked for). Otherwise ``$VAE_DATA_DIR`` (if set) and then the per-user cache
    ``$XDG_CACHE_HOME/vae-latent-explorer`` (default ``~/.cache/vae-latent-explorer``).
    Downloads go to the first of these that is writable.
    """
    if data_dir is not None:
        return [Path(data_dir).expanduser()]
    dirs = []
    env = os.environ.get(ENV_VAR)
    if env:
        dirs.append(Path(env).expanduser())
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    cache_root = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    dirs.append(cache_root / CACHE_SUBDIR)
    return dirs


def find_file(path: str, dirs: Sequence[Path]) -> Path | None:
    """The first existing ``dir / path`` of ``dirs`` (``path`` relative, POSIX), or None."""
    for d in dirs:
        p = d / path
        if p.is_file():
            return p
    return None


def can_write(d: Path) -> bool:
    """Whether ``d`` is, or could be created as, a writable directory (creates nothing)."""
    while not d.exists():
        if d.parent == d:
            return False
        d = d.parent
    return d.is_dir() and os.access(d, os.W_OK | os.X_OK)


def writable_dir(dirs: Sequence[Path]) -> Path | None:
    """The first of ``dirs`` that is writable, created if needed; None if there is none."""
    for d in dirs:
        if not can_write(d):
            continue
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        return d
    return None


def _fetch(url: str, dest: Path, sha256: str, timeout: float, max_bytes: int | None) -> None:
    """Stream ``url`` into a temp file beside ``dest``, check it, then rename it into place."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        # The temp file lives in dest's directory so os.replace is an atomic rename.
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            digest, n = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out:
                while chunk := resp.read(1 << 16):
                    n += len(chunk)
                    if max_bytes is not None and n > max_bytes:
                        raise ValueError(f"more than the expected {max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            length = resp.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) != n:
                # http.client returns a cut-off body without an error: say so plainly.
                raise ValueError(f"transfer cut short: {n} of {length} bytes")
            if digest.hexdigest() != sha256:
                raise ValueError(f"SHA-256 mismatch ({n} bytes, got {digest.hexdigest()})")
            os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a shared cache should be readable
            os.replace(tmp, dest)
        except BaseException:
            # Any failure, Ctrl-C included: never leave a half-written file in the cache.
            tmp.unlink(missing_ok=True)
            raise


def download_file(
    urls: Sequence[str],
    dest: str | os.PathLike,
    sha256: str,
    timeout: float = 30,
    *,
    max_bytes: int | None = None,
) -> Path:
    """Download to ``dest`` from the first of ``urls`` that serves a file with this SHA-256.

    Each mirror is streamed into a temp file in ``dest``'s directory, verified, and moved into
    place with ``os.replace``; a failed try leaves nothing behind. ``max_bytes`` stops a
    runaway transfer. Raises :class:`DatasetUnavailable` once every mirror has failed.
    """
    dest = Path(dest)
    sha256 = sha256.lower()
    errors: list[str] = []
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        errors.append(f"cannot create {dest.parent}: {e}")
        urls = []
    for url in urls:
        try:
            _fetch(url, dest, sha256, timeout, max_bytes)
            return dest
        except urllib.error.HTTPError as e:
            e.close()
            errors.append(f"{url}: HTTP {e.code} {e.reason}")
        # OSError covers URLError, timeouts and disk errors; HTTPException a broken response;
        # ValueError a bad URL, an oversized or a tampered file.
        except (OSError, http.client.HTTPException, ValueError) as e:
            errors.append(f"{url}: {e}")
    tried = "\n".join(f"  - {e}" for e in errors) or "  (no URLs given)"
    raise DatasetUnavailable(
        f"Could not download {dest.name}. Tried:\n{tried}\n"
        f"Download it by hand (SHA-256 {sha256}) and save it as {dest}, or set the "
        f"environment variable {ENV_VAR} to a folder that already holds it."
    )
