"""House rule: pages stay thin. No file under pages/ (nor app.py) imports torch; the model
work lives in the ``vae`` package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FILES = sorted((REPO / "pages").rglob("*.py")) + [REPO / "app.py"]


def torch_imports(source: str) -> list[str]:
    """The torch imports in ``source``, anywhere (top level, functions, try blocks), including
    ``__import__("torch")`` and ``importlib.import_module("torch...")``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "torch"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "torch":
                found.append(node.module)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            arg = node.args[0].value
            if name in ("__import__", "import_module") and isinstance(arg, str) and arg.split(".")[0] == "torch":
                found.append(arg)
    return found


def test_the_checker_sees_every_form():
    src = "import torch\nimport torch.nn as nn\nfrom torch import nn\ndef f():\n    import torch.fft\n__import__('torch')\nimportlib.import_module('torch.nn')\n"
    assert len(torch_imports(src)) == 6
    assert torch_imports("import torchvision_like\nfrom vae import inference\nfrom .torch import x\n") == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_torch_import(path: Path):
    assert torch_imports(path.read_text(encoding="utf-8")) == [], f"{path} imports torch"


def test_the_files_are_there():
    names = {p.name for p in FILES}
    assert {"app.py", "home.py", "train.py", "latent_map.py", "reconstruct.py", "models.py"} <= names
