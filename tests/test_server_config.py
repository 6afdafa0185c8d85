"""Server hardening and hostile inputs: nobody gets in, nothing hangs, nothing runs.

1. ``.streamlit/config.toml`` holds the deliberate choices (XSRF on, static serving off, the
   upload limit one MB above ``vae.data.images.MAX_UPLOAD_BYTES``, no tracebacks for users, no
   post-run GC, the agent API off), and Streamlit itself reads them so: every key is a real
   option (a typo would be ignored with only a log line).
2. A checkpoints folder holding a truncated file, random bytes, pickles whose payload would
   create a marker file, a FIFO, a link to ``/dev/zero``, a directory and a huge file: every one
   is listed as unusable with a reason, nothing hangs, no payload runs (the payloads are shown
   to work when unpickled the unsafe way), and the app (``AppTest`` on ``app.py``) offers only
   the good model, with no exception, no server path and no advice to load unsafely.
3. Model names: the cases ``tests/test_checkpoints.py`` does not cover, and a property test:
   whatever a user types, an accepted name is a plain file inside ``checkpoints/user/``.
4. A real ``streamlit run app.py`` on 127.0.0.1 (plus a control server with static serving
   on, to show that the probes hit the right URL): health, static files not served, an upload
   without the XSRF cookie and token refused, path traversal leaks nothing, agent API off.
"""

from __future__ import annotations

import http.client
import json
import os
import pickle
import re
import secrets
import subprocess
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from bench.harness.server import app_env, running_server
from vae.core.checkpoints import (
    MAX_CHECKPOINT_BYTES,
    list_checkpoints,
    save_checkpoint,
    validate_name,
)
from vae.core.model import VAE, VAEConfig
from vae.data.images import MAX_UPLOAD_BYTES

REPO = Path(__file__).resolve().parents[1]
CONFIG_FILE = REPO / ".streamlit" / "config.toml"
SERVER_START_TIMEOUT = 90  # seconds; importing streamlit on the busy CI machine takes a while
HTTP_TIMEOUT = 15


# ------------------------------------------------------------------ 1. the config file


@pytest.fixture(scope="module")
def config() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11+")
    return tomllib.loads(CONFIG_FILE.read_text())


def test_config_holds_the_deliberate_choices(config):
    server, client, runner = config["server"], config["client"], config["runner"]
    assert server["enableXsrfProtection"] is True  # uploads need the cookie + token pair
    assert server["enableCORS"] is True
    assert server["enableStaticServing"] is False  # nothing under ./static is published
    assert server.get("enableAgentApi", False) is False  # no non-browser driving of the app
    # Streamlit counts maxUploadSize in MB of 2**20 bytes and compares the whole multipart body
    # with it: one MB above the app's limit lets a file of exactly MAX_UPLOAD_BYTES through.
    assert server["maxUploadSize"] * 1024 * 1024 == MAX_UPLOAD_BYTES + 2**20
    assert client["showErrorDetails"] == "none"  # users never see tracebacks or server paths
    assert runner["postScriptGC"] is False  # gc.collect(2) after every run cost ~200 ms
    assert server["headless"] is True


def test_streamlit_reads_every_setting_as_written(config, tmp_path):
    """Load the file with Streamlit's own config code (in a subprocess: it is process-global)."""
    flat = {f"{section}.{key}": value for section, opts in config.items() for key, value in opts.items()}
    code = (
        "import json, sys\n"
        "from streamlit import config\n"
        "keys = json.loads(sys.argv[1])\n"
        "config.get_config_options(force_reparse=True)\n"
        "known = set(config._config_options_template)\n"
        "print(json.dumps({k: config.get_option(k) if k in known else '<unknown option>' for k in keys}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(sorted(flat))],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "HOME": str(tmp_path)},  # no ~/.streamlit/config.toml to mix in
    )  # fmt: skip
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen == flat


# ---------------------------------------------------- 2. a hostile checkpoints folder


class _OpensMarker:
    """Unpickling this creates the file ``marker`` (via builtins.open)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _payloads_work(tmp_path: Path) -> None:
    """Control: both payload kinds really create their marker when loaded the unsafe way."""
    for kind in ("pickle2", "pickle", "torch"):
        marker = tmp_path / f"control-{kind}"
        path = tmp_path / f"control-{kind}.bin"
        if kind.startswith("pickle"):
            path.write_bytes(pickle.dumps(_OpensMarker(marker), protocol=2 if kind == "pickle2" else None))
            pickle.loads(path.read_bytes()).close()
        else:
            torch.save({"format": "vae-latent-explorer", "version": 1, "x": _OpensMarker(marker)}, path)
            torch.load(path, weights_only=False)["x"].close()
        assert marker.exists(), f"the {kind} payload does not work: the test would prove nothing"


def _good_model(path: Path) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(path, VAE(VAEConfig(image_shape=(1, 8, 8), latent_dim=2, hidden=(16,))), dataset="digits")


def _hostile_folder(folder: Path, marker: Path, *, special_files: bool) -> dict[str, str]:
    """good.pt plus hostile files; returns ``{file name: expected reason (regex)}``."""
    (folder / "user").mkdir(parents=True)
    raw = _good_model(folder / "good.pt").read_bytes()
    (folder / "truncated.pt").write_bytes(raw[: len(raw) // 2])
    (folder / "random.pt").write_bytes(os.urandom(5000))
    evil = {"format": "vae-latent-explorer", "version": 1, "x": _OpensMarker(marker)}
    torch.save(evil, folder / "evil_zip.pt")
    # A bare pickle: protocol 2 reaches the payload's GLOBAL (named in the reason); the
    # default protocol already stops at its first opcode, which the safe loader lacks.
    (folder / "user" / "evil_pickle.pt").write_bytes(pickle.dumps(_OpensMarker(marker), protocol=2))
    (folder / "user" / "evil_pickle5.pt").write_bytes(pickle.dumps(_OpensMarker(marker)))
    expected = {
        "truncated.pt": "corrupt or truncated",
        "random.pt": "corrupt|not a checkpoint",
        "evil_zip.pt": r"refused for safety.*tampered",
        # Refused before unpickling now: only torch.save's zip archive is read at all.
        "evil_pickle.pt": "not a checkpoint|refused for safety",
        "evil_pickle5.pt": "not a checkpoint|refused for safety",
    }
    if special_files:
        os.mkfifo(folder / "fifo.pt")  # opening it would block forever
        (folder / "user" / "zero.pt").symlink_to("/dev/zero")  # reading it would never end
        (folder / "dir.pt").mkdir()
        with open(folder / "huge.pt", "wb") as f:  # sparse: costs no disk
            f.truncate(MAX_CHECKPOINT_BYTES + 1)
        expected |= {
            "fifo.pt": "not a regular file",
            "zero.pt": "not a regular file",
            "dir.pt": "not a regular file",
            "huge.pt": "too large",
        }
    return expected


def test_hostile_checkpoint_files_are_listed_as_unusable_and_never_run(tmp_path):
    _payloads_work(tmp_path)
    folder, marker = tmp_path / "checkpoints", tmp_path / "PWNED"
    expected = _hostile_folder(folder, marker, special_files=True)
    result: list = []
    worker = threading.Thread(target=lambda: result.append(list_checkpoints(folder)), daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "list_checkpoints hangs on a hostile folder (every user would wait)"
    entries = {e.path.name: e for e in result[0]}
    assert set(entries) == {"good.pt", *expected}
    assert entries["good.pt"].ok
    for name, reason in expected.items():
        e = entries[name]
        assert not e.ok and re.search(reason, e.error), (name, e.error)
        assert str(tmp_path) not in e.error, f"{name}: the reason shows a server path"
        assert "weights_only" not in e.error, f"{name}: the reason suggests loading it unsafely"
    assert not marker.exists(), "a checkpoint's pickle payload ran"


def test_app_lists_hostile_checkpoints_and_never_loads_them(tmp_path, monkeypatch):
    folder, marker = tmp_path / "checkpoints", tmp_path / "PWNED"
    expected = _hostile_folder(folder, marker, special_files=False)
    monkeypatch.setenv("VAE_CHECKPOINT_DIR", str(folder))
    at = AppTest.from_file("../app.py", default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    picker = at.selectbox(key="model_name")
    assert picker.value == "good" and len(picker.options) == 1
    assert [e.label for e in at.sidebar.expander] == [f"{len(expected)} unusable checkpoint file(s)"]
    captions = [c.value for c in at.sidebar.caption]
    for name, reason in expected.items():
        (line,) = [c for c in captions if f"**{name}**" in c]
        assert re.search(reason, line), line
    shown = captions + [e.value for e in (*at.error, *at.warning, *at.markdown, *at.caption)]
    for text in shown:
        assert str(tmp_path) not in text and "Traceback" not in text and "weights_only" not in text, text
    assert not marker.exists(), "a checkpoint's pickle payload ran inside the app"


# ----------------------------------------------------------------------- 3. model names


@pytest.mark.parametrize(
    "bad",
    [
        "abc\n.pt",  # re's "$" matches before a final newline: the name would hold a "\n"
        "a\x00b",
        "/etc/passwd",
        "user/../../app",
        "C:\\x",
        "a..b",
        "-x",
        "_x",
        "DIGITS_2D",  # the bundled name in another case (case-insensitive file systems)
        "digits_2d.pt",  # the bundled name with the suffix
        " digits_2d ",
    ],
)
def test_validate_name_refuses_more_unsafe_names(bad):
    with pytest.raises(ValueError):
        validate_name(bad, reserved={"digits_2d", "frey_2d"})


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_an_accepted_name_is_always_a_plain_file_in_the_user_folder(text):
    folder = Path("/srv/app/checkpoints/user")
    try:
        stem = validate_name(text, reserved={"digits_2d"})
    except ValueError:
        return
    target = folder / f"{stem}.pt"
    assert target.parent == folder and target.name == f"{stem}.pt"
    assert os.path.normpath(target) == str(target)  # no "..", "." or "//" games
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", stem) and stem.lower() != "digits_2d"


# --------------------------------------------------------------- 4. a real server


def _http(port: int, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    """One request to 127.0.0.1, the path sent exactly as given (no normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def _xsrf_cookie(headers) -> str:
    for value in headers.get_all("set-cookie") or []:
        if m := re.match(r"_streamlit_xsrf=([^;]+)", value):
            return m.group(1)
    raise AssertionError("no XSRF cookie: XSRF protection is off")


def _multipart(content: bytes) -> tuple[dict, bytes]:
    boundary = secrets.token_hex(8)
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
        f"Content-Type: image/png\r\n\r\n"
    ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, body


TRAVERSALS = [
    "/../canary.txt", "/..%2fcanary.txt", "/%2e%2e/canary.txt", "/%2e%2e%2f%2e%2e%2fetc/passwd",
    "/app/static/../canary.txt", "/app/static/..%2fcanary.txt", "/app/static/%2e%2e/canary.txt",
    "/app/static/..%5ccanary.txt", "/app/static/....//canary.txt", "/app/static//etc/passwd",
    "/app/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/media/../canary.txt",
    "/media/..%2f..%2fcanary.txt", "/component/..%2f..%2fcanary.txt", "//etc/passwd",
    "/_stcore/../../etc/passwd", "/_stcore/upload_file/..%2f..%2fcanary.txt/x",
    "/%2e%2e/.streamlit/config.toml", "/app/static/..%2f.streamlit%2fconfig.toml",
]  # fmt: skip


def test_real_server_refuses_what_it_should(tmp_path):
    # The app from a folder of links to this repo's files, with a static/ folder holding a
    # secret and a canary beside the app: the server must publish neither.
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    for name in ("app.py", "pages", ".streamlit"):
        (app_dir / name).symlink_to(REPO / name)
    secret, canary = f"static-secret-{secrets.token_hex(8)}", f"app-canary-{secrets.token_hex(8)}"
    (app_dir / "static").mkdir()
    (app_dir / "static" / "secret.txt").write_text(secret)
    (app_dir / "canary.txt").write_text(canary)
    ckpt_dir = tmp_path / "checkpoints"
    _good_model(ckpt_dir / "tiny.pt")
    leaks = [secret.encode(), canary.encode(), b"root:x:0:0", b"postScriptGC"]

    with ExitStack() as stack:
        # Started together so the two start-ups overlap; the control serves ./static.
        def start(name: str, *flags: str):
            log = tmp_path / f"{name}.log"
            return stack.enter_context(running_server(
                log, wait=False, cwd=app_dir, env=app_env(ckpt_dir), extra_args=flags
            ))  # fmt: skip

        main = start("main")
        ctrl = start("ctrl", "--server.enableStaticServing", "true")
        main.wait_healthy(SERVER_START_TIMEOUT)
        ctrl.wait_healthy(SERVER_START_TIMEOUT)
        port, ctrl_port = main.port, ctrl.port
        status, headers, body = _http(port, "GET", "/_stcore/health")
        assert (status, body) == (200, b"ok")
        cookie = _xsrf_cookie(headers)

        # Static serving: the control server serves the secret at this URL; ours does not.
        status, _, body = _http(ctrl_port, "GET", "/app/static/secret.txt")
        assert (status, body) == (200, secret.encode()), "control: the probe URL is wrong"
        status, _, body = _http(port, "GET", "/app/static/secret.txt")
        assert secret.encode() not in body, "static files are served"

        # Uploads: refused (403) without the XSRF cookie + matching token; with both, the
        # request gets past the XSRF check (400: no such session), so the 403s are XSRF's.
        url = "/_stcore/upload_file/some-session/some-file"
        form_headers, form = _multipart(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
        other = _xsrf_cookie(_http(port, "GET", "/_stcore/health")[1])
        attempts = {
            "no cookie, no token": {},
            "token only": {"X-Xsrftoken": cookie},
            "cookie only": {"Cookie": f"_streamlit_xsrf={cookie}"},
            "token of another cookie": {"Cookie": f"_streamlit_xsrf={cookie}", "X-Xsrftoken": other},
        }
        for what, extra in attempts.items():
            status, _, body = _http(port, "PUT", url, {**form_headers, **extra}, form)
            assert status == 403 and b"XSRF" in body, (what, status, body)
        good = {**form_headers, "Cookie": f"_streamlit_xsrf={cookie}", "X-Xsrftoken": cookie}
        status, _, body = _http(port, "PUT", url, good, form)
        assert status == 400 and b"session" in body, (status, body)
        assert _http(port, "POST", url, form_headers, form)[0] == 405  # uploads are PUT only

        # Path traversal, on both servers: nothing outside what they publish comes back.
        for p in (port, ctrl_port):
            for path in TRAVERSALS:
                status, _, body = _http(p, "GET", path)
                assert not any(s in body for s in leaks), (p, path, status)

        # The agent API (a non-browser client driving the app) is off.
        status, _, body = _http(port, "POST", "/_stcore/agent/interact", {"Content-Type": "application/json"}, b"{}")
        assert status == 403 and b"not_available" in body, (status, body)
        assert main.proc.poll() is None and ctrl.proc.poll() is None
