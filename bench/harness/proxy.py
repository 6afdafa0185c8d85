"""N ``streamlit run app.py`` replicas behind nginx with the sticky-cookie configuration of
``docs/deploying.md``, for the proxy test and the classroom bench.

The nginx configuration is *read from the doc* (its ``nginx`` block that defines ``upstream
vae_explorer``) and adapted only where a test machine differs from a school's server: the
upstream lists this run's replica ports, ``listen 443 ssl`` becomes a loopback port over plain
HTTP (so the cookie loses ``Secure``: a browser would not send a Secure cookie over http), and
the file gets the process-level lines a non-daemon nginx needs (pid, logs and temporary files in
a temporary folder, nothing under /var or /etc). ``debug_upstream=True`` adds one response
header, ``X-Vae-Upstream`` (the replica's address), for tests that must know which replica
answered. A doc edit that breaks the configuration breaks the proxy test.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import REPO
from bench.harness.server import Server, free_port, launch

DOC = REPO / "docs" / "deploying.md"
COOKIE = "vae_affinity"
UPSTREAM_HEADER = "X-Vae-Upstream"


def nginx_path() -> str | None:
    """The nginx binary (Debian puts it in /usr/sbin, often not on a user's PATH), or None."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None


def doc_block(doc: Path = DOC) -> str:
    """The doc's nginx configuration: the ```nginx block holding ``upstream vae_explorer``."""
    for block in re.findall(r"```nginx\n(.*?)```", doc.read_text(), flags=re.S):
        if "upstream vae_explorer" in block:
            return block
    raise ValueError(f"{doc} has no nginx block with 'upstream vae_explorer'")


def _sub_once(pattern: str, repl: str, text: str) -> str:
    """Replace the one match of ``pattern`` (``{0}`` in ``repl`` = the matched text): a doc
    edit that moves or repeats a line fails loudly instead of giving another configuration."""
    out, n = re.subn(pattern, lambda m: repl.replace("{0}", m.group(0)), text)
    if n != 1:
        raise ValueError(f"docs/deploying.md's nginx block: {pattern!r} matched {n} times, not once")
    return out


def http_config(ports: Sequence[int], listen: int, *, cache: Path, debug_upstream: bool = False) -> str:
    """The doc's block (the contents of nginx's ``http { }``) for these replica ports, a
    plain-HTTP loopback ``listen`` port and the static files' cache in ``cache``."""
    text = doc_block()
    text = _sub_once(r"/var/lib/nginx/vae_static", str(cache), text)
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in ports)
    text = _sub_once(r"(?:    server 127\.0\.0\.1:\d+;\n)+", servers, text)
    text = _sub_once(r"listen 443 ssl;", f"listen 127.0.0.1:{listen};", text)
    text = _sub_once(r"; Secure;", ";", text)
    if debug_upstream:
        text = _sub_once(
            r"\n\s*add_header Set-Cookie[^\n]*\n",
            "{0}" + f'        add_header {UPSTREAM_HEADER} "$upstream_addr" always;\n',
            text,
        )
    return text


def _worker_user() -> str:
    """nginx started by root runs its workers as ``nobody``; Debian's group for it is
    ``nogroup`` (nginx's default group ``nobody`` does not exist there)."""
    if os.geteuid() != 0:
        return ""  # an unprivileged master cannot switch users; nginx ignores the directive
    nobody = pwd.getpwnam("nobody")
    return f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};\n"


def nginx_conf(folder: Path, ports: Sequence[int], listen: int, temp: Path | None = None, **kwargs) -> str:
    """A complete nginx.conf running in the foreground with every file under ``folder`` (the
    buffering temp files under ``temp``, default ``folder``)."""
    temp = temp or folder
    temps = "".join(
        f"    {kind}_temp_path {temp / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    body = http_config(ports, listen, cache=temp / "static_cache", **kwargs)
    return (
        f"{_worker_user()}daemon off;\nmaster_process on;\nworker_processes 1;\n"
        f"pid {folder / 'nginx.pid'};\nerror_log {folder / 'error.log'} warn;\n"
        "events { worker_connections 4096; }\n"
        f"http {{\n    access_log off;\n{temps}"
        + "".join(f"    {line}\n" if line else "\n" for line in body.splitlines())
        + "}\n"
    )


@dataclass
class Proxy:
    """A running nginx: its process, URL (``http://127.0.0.1:PORT``) and folder (config, logs)."""

    proc: subprocess.Popen
    url: str
    folder: Path
    temp: Path | None = None  # nginx's buffering folders when apart from ``folder``: removed at stop

    def log_tail(self, n: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.folder / "error.log").read_text().splitlines()[-n:])
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.temp is not None and self.temp != self.folder:
            shutil.rmtree(self.temp, ignore_errors=True)


def start_nginx(folder: Path, ports: Sequence[int], *, listen: int | None = None,
                debug_upstream: bool = False, timeout: float = 20.0) -> Proxy:  # fmt: skip
    """Write the config into ``folder``, check it (``nginx -t``), start nginx in the
    foreground, and wait until ``/_stcore/health`` answers through it."""
    nginx = nginx_path()
    if nginx is None:
        raise FileNotFoundError("nginx is not installed (apt-get install nginx)")
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder
    if os.geteuid() == 0:
        # Workers run as nobody and must reach the folders where nginx buffers big responses
        # (Streamlit's 4.6 MB Plotly chunk) and uploads. ``folder`` may sit under a private
        # directory (pytest's /tmp/pytest-of-root is 0700): CI's browser then failed to fetch
        # that chunk through the proxy. So the temp folders get a world-reachable home.
        temp = Path(tempfile.mkdtemp(prefix="vae-nginx-temp-"))
        temp.chmod(0o755)
        folder.chmod(0o755)
    listen = listen or free_port()
    conf = folder / "nginx.conf"
    conf.write_text(nginx_conf(folder, ports, listen, temp=temp, debug_upstream=debug_upstream))
    cmd = [nginx, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf)]
    check = subprocess.run([*cmd, "-t"], capture_output=True, text=True)
    if check.returncode:
        raise RuntimeError(f"nginx -t refused {conf}:\n{check.stderr}")
    with open(folder / "nginx.out", "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    proxy = Proxy(proc=proc, url=f"http://127.0.0.1:{listen}", folder=folder, temp=temp)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{proxy.url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proxy
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proxy.stop()
            raise RuntimeError(f"nginx did not serve {proxy.url}:\n{proxy.log_tail()}")
        time.sleep(0.1)


@dataclass
class Cluster:
    """Replicas and the proxy in front of them; ``url`` is the proxy's."""

    replicas: list[Server]
    proxy: Proxy
    checkpoints: Path
    extra: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.proxy.url


@contextlib.contextmanager
def running_cluster(
    n: int,
    checkpoints: Path,
    *,
    env: Mapping[str, str | None] = {},  # noqa: B006 (read only)
    folder: Path | None = None,
    debug_upstream: bool = False,
    extra_args: Sequence[str] = (),
    listen: int | None = None,
) -> Iterator[Cluster]:
    """``n`` replicas sharing ``checkpoints`` (``VAE_CHECKPOINT_DIR``, so one ``user/`` folder
    for all) behind nginx, for the ``with`` block; everything stopped by PID at its end. Each
    replica runs with ``--server.fileWatcherType none`` as the doc says; logs in ``folder``
    (default: a temporary folder, removed afterwards)."""
    with contextlib.ExitStack() as stack:
        if folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vae-proxy-")))
        folder.mkdir(parents=True, exist_ok=True)
        full_env = {**env, "VAE_CHECKPOINT_DIR": str(checkpoints)}
        args = ["--server.fileWatcherType", "none", *extra_args]
        replicas = []
        for i in range(n):  # start all, then wait: the imports overlap
            server = launch(folder / f"replica{i}.log", env=full_env, extra_args=args)
            stack.callback(server.stop)
            replicas.append(server)
        for server in replicas:
            server.wait_healthy()
        proxy = start_nginx(folder / "nginx", [s.port for s in replicas], listen=listen,
                            debug_upstream=debug_upstream)  # fmt: skip
        stack.callback(proxy.stop)
        yield Cluster(replicas=replicas, proxy=proxy, checkpoints=checkpoints)
