"""The live component's browser code, one file per concern, joined into one ES module.

``st.components.v2.component`` takes the JavaScript as one string (a path is only accepted for
an installed package with an ``asset_dir`` manifest), so the files of this folder are
concatenated in dependency order into a single module scope: no file imports another and none
exports (the code element adds the entry point). A new view is one new ``view_<mode>.js`` file
ending with ``registerView("<mode>", Class)``: it is picked up here by name.

A component's code travels inside every message that mounts it, so the joined module (~100 KB)
is not the component's: it goes in the sidebar's code element (``component_js``, mounted by
``pages/_lib/navigation.py``'s ``browser_code``), an unchanging message that Streamlit's message
cache sends once per browser tab. The component itself is ``mount.js`` (``entry_js``), a few
hundred bytes per run that hand each mount to it.

Read by ``pages/_lib/live_decoder.py`` (the component), the browser tests and the bench.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from vae.app.export import FORMAT

HERE = Path(__file__).resolve().parent
# First bytes of component data that carries a model's weights (pages/_lib/live_decoder.py
# writes it, models.js reads it): ASCII, so the JS can compare char codes.
WIRE_MAGIC = b"VAEW"
# Decoder maths first (layers, conv, compile), then the model cache, the shared UI helpers,
# every view, and the entry point last.
CORE = (
    "decoder_layers.js",
    "decoder_conv.js",
    "decoder.js",
    "encoder.js",
    "draw_prep.js",
    "models.js",
    "ui.js",
)
ENTRY = "main.js"


def js_files() -> list[Path]:
    """The module's source files, in the order they are joined."""
    views = sorted(HERE.glob("view_*.js"))
    return [HERE / f for f in CORE] + views + [HERE / ENTRY]


@cache
def component_js() -> str:
    """The live views' code as one ES module; ``FORMAT``, ``WIRE_MAGIC`` and the style sheet
    (``LIVE_CSS``, which the views put in their shadow root) come from Python."""
    parts = [
        f"const FORMAT = {json.dumps(FORMAT)};\n",
        f"const WIRE_MAGIC = {json.dumps(WIRE_MAGIC.decode('ascii'))};\n",
        f"const LIVE_CSS = {json.dumps(component_css())};\n",
    ]
    for path in js_files():
        parts.append(f"// {path.name}\n")
        parts.append(_code_lines(path.read_text(encoding="utf-8")))
    return "".join(parts)


def _code_lines(js: str) -> str:
    """``js`` without whole-line comments, blank lines and indentation: the module is re-sent
    with every run of a page that shows the component, and comments are for readers (~30% of
    the bytes). Lines are never joined, and the files hold no multi-line template literals
    (``tests/test_live_decoder_browser.py`` checks), so the code means the same."""
    out = []
    in_block = False
    for line in js.splitlines():
        text = line.strip()
        if in_block or text.startswith("/*"):
            in_block = "*/" not in text
        elif text and not text.startswith("//"):
            out.append(text + "\n")
    return "".join(out)


@cache
def entry_js() -> str:
    """The component's own module (``mount.js``): the entry every run sends."""
    return _code_lines((HERE / "mount.js").read_text(encoding="utf-8"))


@cache
def component_css() -> str:
    return (HERE / "live.css").read_text(encoding="utf-8")
